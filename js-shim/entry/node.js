'use strict';
/* global WAFER_WASM_FILE */
/**
 * Entry of the Node / web build (`node/index.js`): the facade over the fallback
 * adapter, with the wasm instantiated synchronously from the bytes beside this file.
 */

const fs = require('fs');
const path = require('path');
const glue = require('wafer-wasm-glue');
const { createSdk } = require('../facade');
const { createNodePlatform } = require('../platform/node');
const { instantiateFromBytes } = require('../loader');

module.exports = createSdk({
  platform: createNodePlatform(),
  loadSync(options) {
    const file = options.wasmPath || path.join(__dirname, WAFER_WASM_FILE);
    return instantiateFromBytes(glue, fs.readFileSync(file), WebAssembly);
  },
});
