'use strict';
// The shipped wasm's feature level: WebAssembly 1.0 plus mutable globals, and no exported
// global (docs/ARCHITECTURE.md, "Build pipeline"; README, "Compatibility").
//
// - wabt's `wasm-validate` with every post-1.0 feature it enables by default turned off:
//   a module that uses reference types, bulk memory, sign extension, saturating
//   float-to-int, multi-value or SIMD does not validate. (Threads, exceptions, tail calls,
//   GC, memory64 ... are off in wasm-validate unless enabled.) Mutable globals stay allowed.
// - No export of kind global: WXWebAssembly on iOS takes functions, memories and tables
//   only ("iOS 平台暂不支持 Global"), even though an exported global is valid 1.0.
//
// scripts/setup.js installs wabt (Debian package `wabt`) when wasm-validate is missing.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const VALIDATE = 'wasm-validate';
const VALIDATE_FLAGS = [
  '--disable-reference-types',
  '--disable-bulk-memory',
  '--disable-sign-extension',
  '--disable-saturating-float-to-int',
  '--disable-multi-value',
  '--disable-simd',
];

/** Runs a wabt tool; throws when it cannot run at all (missing tool), not when it fails. */
function wabt(tool, args) {
  const res = spawnSync(tool, args, { encoding: 'utf8' });
  if (res.error) throw new Error(`cannot run ${tool} (Debian package wabt; run \`npm run setup\`): ${res.error.message}`);
  return { status: res.status, output: `${res.stdout}${res.stderr}`.trim() };
}

/**
 * Every way `bytes` falls short of the shipped level, as readable strings; [] when it is
 * WebAssembly 1.0 + mutable globals with no exported global.
 * @param {Uint8Array} bytes a wasm module (already decompressed)
 * @returns {string[]}
 */
function wasmLevelProblems(bytes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-wasm-level-'));
  try {
    const file = path.join(dir, 'module.wasm');
    fs.writeFileSync(file, bytes);
    const problems = [];
    const validate = wabt(VALIDATE, [...VALIDATE_FLAGS, file]);
    if (validate.status !== 0) {
      problems.push(`${VALIDATE} ${VALIDATE_FLAGS.join(' ')} rejects it: ${validate.output.split(file).join('<module>') || `exit ${validate.status}`}`);
    }
    let exports = null;
    try {
      exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes));
    } catch (e) {
      problems.push(`it does not compile: ${e.message}`);
    }
    const globals = (exports || []).filter((e) => e.kind === 'global').map((e) => e.name);
    if (globals.length) problems.push(`it exports global(s) ${globals.join(', ')}, which WXWebAssembly cannot export on iOS`);
    return problems;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `wat2wasm` (wabt) with every feature it knows enabled: the negative tests' modules. */
function assemble(wat) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-wasm-level-'));
  try {
    const src = path.join(dir, 'module.wat');
    const out = path.join(dir, 'module.wasm');
    fs.writeFileSync(src, wat);
    const res = wabt('wat2wasm', ['--enable-all', src, '-o', out]);
    if (res.status !== 0) throw new Error(`wat2wasm failed: ${res.output}`);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { wasmLevelProblems, assemble, VALIDATE, VALIDATE_FLAGS };
