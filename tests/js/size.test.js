'use strict';
// The size budget of what a mini-program ships: every file DevTools' "build npm" copies
// into miniprogram_npm/wafer-wasm/ must total at most 150 KB raw and 80 KB brotli
// (1 KB = 1000 bytes here). A regression fails `npm test`; figures live in `npm run bench`.

const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { installPackage } = require('../sim');
const { packageDir } = require('./helpers/sdk');

const RAW_BUDGET = 150 * 1000;
// 55 KB until JavaScript values were decoded by serde-wasm-bindgen too: the design card
// requires it, and where a budget and the card collide the card wins. Its Deserializer
// (whose type errors link float and string formatting) and the field paths of its errors
// (serde_path_to_error) took the shipped files from 54,225 to 76,146 B brotli (+21.9 KB;
// docs/COSTS.md, "What decoding with serde-wasm-bindgen cost"). Abort, downloads,
// progress, request defaults, interceptors and session events added about 2.8 KB.
const BROTLI_BUDGET = 80 * 1000;

function brotli(bytes) {
  return zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
}

test('the files DevTools copies fit the budget', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-size-'));
  try {
    installPackage(root, packageDir(), 'wafer-wasm');
    const dir = path.join(root, 'miniprogram_npm', 'wafer-wasm');
    const files = fs.readdirSync(dir);
    let raw = 0;
    let compressed = 0;
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(dir, f));
      raw += bytes.length;
      compressed += brotli(bytes);
    }
    assert.ok(files.includes('index.js') && files.some((f) => /\.wasm(\.br)?$/.test(f)), `shipped: ${files}`);
    assert.ok(raw <= RAW_BUDGET, `raw ${raw} B > ${RAW_BUDGET} B (${files.join(', ')})`);
    assert.ok(compressed <= BROTLI_BUDGET, `brotli ${compressed} B > ${BROTLI_BUDGET} B (${files.join(', ')})`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
