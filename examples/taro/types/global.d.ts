/// <reference types="@tarojs/taro" />

/** The Wafer business server's base URL (config/index.ts, `defineConstants`). */
declare const WAFER_EXAMPLE_SERVER: string;
