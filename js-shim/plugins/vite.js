'use strict';
/**
 * `wafer-wasm/vite`: a Vite (Rollup) plugin that emits the wasm into the build output at the
 * path the bundler build of wafer-wasm loads it from (`wafer-wasm/wafer_wasm_bg.wasm.br`).
 *
 *   // vite.config.ts (uni-app)
 *   import uni from '@dcloudio/vite-plugin-uni';
 *   import waferWasm from 'wafer-wasm/vite';
 *   export default defineConfig({ plugins: [uni(), waferWasm()] });
 */

const { ASSET_NAME, SOURCE, readWasm } = require('./wasm-asset');

function waferWasm() {
  return {
    name: 'wafer-wasm',
    apply: 'build',
    buildStart() {
      this.addWatchFile(SOURCE);
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: ASSET_NAME, source: readWasm() });
    },
  };
}

module.exports = waferWasm;
module.exports.default = waferWasm;
