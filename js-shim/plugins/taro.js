'use strict';
/**
 * `wafer-wasm/taro`: a Taro plugin (Taro 3.5+ / 4, webpack 5) that puts the wasm into the
 * mini-program output where `import wafer from 'wafer-wasm'` loads it from.
 *
 *   // config/index.ts
 *   plugins: ['wafer-wasm/taro'],
 */

const { WaferWasmPlugin } = require('./webpack');

module.exports = function waferWasmTaroPlugin(ctx) {
  ctx.modifyWebpackChain(({ chain }) => {
    chain.plugin('wafer-wasm').use(WaferWasmPlugin);
  });
};
