/**
 * A webpack 5 plugin that emits wafer-wasm's wasm into the build output
 * (`wafer-wasm/wafer_wasm_bg.wasm.br`), where `import wafer from 'wafer-wasm'` loads it from.
 */
export class WaferWasmPlugin {
  /** `compiler`: webpack's Compiler (typed loosely, so that these typings need no webpack). */
  apply(compiler: any): void;
}
/** The wasm's path in the build output, relative to its root. */
export const ASSET_NAME: string;
