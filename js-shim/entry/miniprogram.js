'use strict';
/* global wx, WXWebAssembly, WAFER_WASM_FILE, WAFER_WASM_DIR, WAFER_WASM_SETUP */
/**
 * Entry of the mini-program builds: the facade over the `wx` adapter, with the wasm loaded
 * from the code package. Built twice, differing only in where the wasm is looked for:
 * `miniprogram_dist/index.js` (DevTools "build npm") and `bundler/index.js` (webpack / Vite
 * in Taro, uni-app and the like, whose `wafer-wasm/taro` or `wafer-wasm/vite` plugin puts
 * the wasm there).
 */

const glue = require('wafer-wasm-glue');
const { createSdk } = require('../facade');
const { createWxPlatform } = require('../platform/wx');
const { instantiateInMiniProgram } = require('../loader');

/** `/miniprogram_npm/wafer-wasm/` (where "build npm" copies the package) or `/wafer-wasm/`. */
const DEFAULT_WASM_PATH = WAFER_WASM_DIR + WAFER_WASM_FILE;

module.exports = createSdk({
  platform: createWxPlatform(wx),
  load(options) {
    const loading = instantiateInMiniProgram(glue, options.wasmPath || DEFAULT_WASM_PATH, {
      WXWebAssembly: typeof WXWebAssembly === 'undefined' ? undefined : WXWebAssembly,
      WebAssembly: typeof WebAssembly === 'undefined' ? undefined : WebAssembly,
      wx,
    });
    if (options.wasmPath) return loading;
    // The default path failed: say what puts the file there (the platform's error stays as `cause`).
    return loading.catch((cause) => {
      const error = new Error(((cause && cause.message) || String(cause)) + '（' + DEFAULT_WASM_PATH + '：' + WAFER_WASM_SETUP + '）');
      error.cause = cause;
      throw error;
    });
  },
});
