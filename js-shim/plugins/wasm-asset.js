'use strict';
/**
 * The wasm file the bundler build (`bundler/index.js`) loads, and where in the built app it
 * has to be: the one fact the webpack and Vite plugins share with that build.
 */

const fs = require('fs');
const path = require('path');

/* global WAFER_WASM_FILE, WAFER_WASM_BUNDLER_DIR */
/** Path of the wasm in the built app, relative to its root (no leading slash). */
const ASSET_NAME = WAFER_WASM_BUNDLER_DIR.replace(/^\//, '') + WAFER_WASM_FILE;

/** The packaged wasm: `miniprogram_dist/` beside this file in the installed package. */
const SOURCE = path.join(__dirname, 'miniprogram_dist', WAFER_WASM_FILE);

function readWasm() {
  try {
    return fs.readFileSync(SOURCE);
  } catch (e) {
    throw new Error(`wafer-wasm: cannot read ${SOURCE} (${e.message}); reinstall the wafer-wasm package`);
  }
}

module.exports = { ASSET_NAME, SOURCE, readWasm };
