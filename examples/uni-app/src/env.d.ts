/// <reference types="@dcloudio/types" />

declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, any>;
  export default component;
}

/** The Wafer business server's base URL (vite.config.ts, `define`). */
declare const WAFER_EXAMPLE_SERVER: string;
