'use strict';
/**
 * Shipped size: the files WeChat DevTools' "build npm" copies into the code package,
 * found the way tests/sim/install.js (and DevTools) does it: ours has a `miniprogram`
 * field, so `miniprogram_dist/` is copied whole; the official client has none, so the
 * JavaScript its `main` reaches is copied. Raw, gzip -9 and brotli q11 per file (the
 * totals sum the per-file figures, as tests/js/size.test.js does; 1 KB = 1000 B).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..');
const RAW_BUDGET = 150 * 1000;
// 55 KB until JavaScript values were decoded by serde-wasm-bindgen too (the design card
// requires it; +21.9 KB brotli), then abort, downloads, progress, request defaults,
// interceptors and session events (+2.8 KB): tests/js/size.test.js, docs/COSTS.md.
const BROTLI_BUDGET = 80 * 1000;

function brotli(bytes) {
  return zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
}

function listFiles(dir, base = dir) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...listFiles(p, base));
    else out.push(path.relative(base, p).split(path.sep).join('/'));
  }
  return out;
}

function shipped(pkgDir, name) {
  const { installPackage } = require(path.join(ROOT, 'tests', 'sim'));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-bench-size-'));
  try {
    installPackage(root, pkgDir, name);
    const dir = path.join(root, 'miniprogram_npm', name);
    const files = listFiles(dir).map((f) => {
      const bytes = fs.readFileSync(path.join(dir, f));
      return { file: f, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length, brotli: brotli(bytes) };
    });
    const sum = (k) => files.reduce((a, f) => a + f[k], 0);
    return { files, raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli') };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function run(opts) {
  const ours = shipped(opts.pkgDir, 'wafer-wasm');
  const official = shipped(path.join(ROOT, 'node_modules', 'wafer-client-sdk'), 'wafer-client-sdk');
  // For reference: the wasm inside the .br, and the Node entry (not shipped to mini-programs).
  const wasm = fs.readFileSync(path.join(opts.pkgDir, 'node', 'wafer_wasm_bg.wasm'));
  const nodeJs = fs.readFileSync(path.join(opts.pkgDir, 'node', 'index.js'));
  return {
    ours,
    official,
    wasm: { raw: wasm.length, gzip: zlib.gzipSync(wasm, { level: 9 }).length, brotli: brotli(wasm) },
    nodeEntry: { raw: nodeJs.length },
    budget: { raw: RAW_BUDGET, brotli: BROTLI_BUDGET },
  };
}

module.exports = { run, RAW_BUDGET, BROTLI_BUDGET };
