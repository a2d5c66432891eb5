'use strict';
/* global wx, WXWebAssembly, WAFER_WASM_FILE */
/**
 * Entry of the mini-program build (`miniprogram_dist/index.js`): the facade over the
 * `wx` adapter, with the wasm loaded from the code package.
 */

const glue = require('wafer-wasm-glue');
const { createSdk } = require('../facade');
const { createWxPlatform } = require('../platform/wx');
const { instantiateInMiniProgram } = require('../loader');

/** Where DevTools' "build npm" puts this package's files. */
const DEFAULT_WASM_PATH = '/miniprogram_npm/wafer-wasm/' + WAFER_WASM_FILE;

module.exports = createSdk({
  platform: createWxPlatform(wx),
  load(options) {
    return instantiateInMiniProgram(glue, options.wasmPath || DEFAULT_WASM_PATH, {
      WXWebAssembly: typeof WXWebAssembly === 'undefined' ? undefined : WXWebAssembly,
      WebAssembly: typeof WebAssembly === 'undefined' ? undefined : WebAssembly,
      wx,
    });
  },
});
