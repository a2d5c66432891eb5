/**
 * A Taro plugin (webpack 5): `plugins: ['wafer-wasm/taro']` in config/index.ts puts
 * wafer-wasm's wasm into the mini-program output.
 */
declare function waferWasmTaroPlugin(ctx: { modifyWebpackChain(fn: (args: { chain: any }) => void): void }): void;
export = waferWasmTaroPlugin;
