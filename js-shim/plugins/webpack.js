'use strict';
/**
 * `wafer-wasm/webpack`: a webpack 5 plugin that emits the wasm into the build output at the
 * path the bundler build of wafer-wasm loads it from (`wafer-wasm/wafer_wasm_bg.wasm.br`).
 *
 *   // webpack.config.js
 *   const { WaferWasmPlugin } = require('wafer-wasm/webpack');
 *   module.exports = { plugins: [new WaferWasmPlugin()] };
 */

const { ASSET_NAME, SOURCE, readWasm } = require('./wasm-asset');

const NAME = 'WaferWasmPlugin';

class WaferWasmPlugin {
  apply(compiler) {
    const { Compilation, sources } = compiler.webpack;
    compiler.hooks.thisCompilation.tap(NAME, (compilation) => {
      compilation.hooks.processAssets.tap({ name: NAME, stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        compilation.fileDependencies.add(SOURCE);
        compilation.emitAsset(ASSET_NAME, new sources.RawSource(readWasm()));
      });
    });
  }
}

module.exports = { WaferWasmPlugin, ASSET_NAME };
