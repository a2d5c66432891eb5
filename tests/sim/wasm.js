'use strict';
// WXWebAssembly: instantiate(path, imports) where path is a string path inside the
// code package ('/x.wasm' or 'x.wasm', both from the package root), ending in
// '.wasm' or '.wasm.br' (brotli, from base library 2.14.0). Anything else rejects.
// Instantiation uses the HOST WebAssembly (the sandbox has none); the result is a
// bare WebAssembly.Instance, as the official typings declare, or
// { instance, module } with createSim({ wasmResult: 'pair' }).

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { inside } = require('./loader');
const { versionAtLeast } = require('./version');

function createWXWebAssembly(sim, options) {
  const realm = sim.realm;

  function instantiate(wasmPath, imports) {
    sim.counters.wasmInstantiate += 1;
    return realm.promise((resolve, reject) => {
      const rejectWith = (message, Kind) => reject(realm.error(`WXWebAssembly.instantiate: ${message}`, Kind));
      if (typeof wasmPath !== 'string') {
        rejectWith(`path must be a string path inside the code package, got ${Object.prototype.toString.call(wasmPath)}`, 'TypeError');
        return;
      }
      const brotli = wasmPath.endsWith('.wasm.br');
      if (!brotli && !wasmPath.endsWith('.wasm')) {
        rejectWith(`path must end in .wasm or .wasm.br: ${wasmPath}`);
        return;
      }
      if (brotli && !versionAtLeast(options.sdkVersion, '2.14.0')) {
        rejectWith(`.wasm.br needs base library 2.14.0 (simulating ${options.sdkVersion}): ${wasmPath}`);
        return;
      }
      const file = path.resolve(sim.root, `.${wasmPath.startsWith('/') ? '' : '/'}${wasmPath}`);
      if (!inside(sim.root, file)) {
        rejectWith(`path is outside the code package: ${wasmPath}`);
        return;
      }
      fs.promises.readFile(file).then((bytes) => {
        const code = brotli ? zlib.brotliDecompressSync(bytes) : bytes;
        return WebAssembly.instantiate(code, imports);
      }).then(({ instance, module }) => {
        if (sim.closed) return;
        resolve(options.wasmResult === 'pair' ? realm.object({ instance, module }) : instance);
      }, (e) => {
        if (sim.closed) return;
        const message = e && e.code === 'ENOENT' ? `file not found: ${wasmPath}` : `${e && e.name}: ${e && e.message}`;
        rejectWith(message);
      });
    });
  }

  // Memory/Table/Global are documented on WXWebAssembly too; they are the host's.
  return realm.object({
    instantiate: realm.fn(instantiate, 'instantiate'),
    Memory: WebAssembly.Memory,
    Table: WebAssembly.Table,
    Global: WebAssembly.Global,
  });
}

module.exports = { createWXWebAssembly };
