'use strict';
// The wasm the packed package ships is WebAssembly 1.0 + mutable globals and exports no
// global (./check.js): the mini-program's `.wasm.br` as WXWebAssembly decompresses it, and
// the Node build's `.wasm`. Every wasm file in the tarball is checked, and the two the
// loaders ask for must be among them.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const { packageDir, TARBALL } = require('../js/helpers/sdk');
const { wasmLevelProblems } = require('./check');

const EXPECTED = ['miniprogram_dist/wafer_wasm_bg.wasm.br', 'node/wafer_wasm_bg.wasm'];

function wasmFiles(dir, rel = '') {
  const out = [];
  for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...wasmFiles(dir, p));
    else if (/\.wasm(\.br)?$/.test(ent.name)) out.push(p);
  }
  return out.sort();
}

const root = packageDir();
const files = wasmFiles(root);

describe(`the wasm in ${path.basename(TARBALL)}`, () => {
  test('the package ships the mini-program .wasm.br and the Node .wasm', () => {
    for (const f of EXPECTED) assert.ok(files.includes(f), `${f} is not in the package (wasm files: ${files.join(', ') || 'none'})`);
  });

  for (const f of files) {
    test(`${f}${f.endsWith('.br') ? ', decompressed,' : ''} is WebAssembly 1.0 + mutable globals and exports no global`, () => {
      const raw = fs.readFileSync(path.join(root, f));
      const bytes = f.endsWith('.br') ? zlib.brotliDecompressSync(raw) : raw;
      assert.equal(bytes.subarray(0, 4).toString('latin1'), '\0asm', `${f} is not a wasm module`);
      assert.deepEqual(wasmLevelProblems(bytes), []);
    });
  }
});
