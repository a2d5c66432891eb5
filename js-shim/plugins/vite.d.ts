import type { Plugin } from 'vite';

/**
 * Emits wafer-wasm's wasm into the build output (`wafer-wasm/wafer_wasm_bg.wasm.br`), where
 * `import wafer from 'wafer-wasm'` loads it from in the built mini-program.
 */
declare function waferWasm(): Plugin;
export default waferWasm;
