import type { Compiler } from 'webpack';

/**
 * A webpack 5 plugin that emits wafer-wasm's wasm into the build output
 * (`wafer-wasm/wafer_wasm_bg.wasm.br`), where `import wafer from 'wafer-wasm'` loads it from.
 */
export class WaferWasmPlugin {
  apply(compiler: Compiler): void;
}
/** The wasm's path in the build output, relative to its root. */
export const ASSET_NAME: string;
