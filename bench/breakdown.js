'use strict';
/**
 * Where the wasm's bytes go: the shipped module's sections, and the code section of a
 * names-preserving build of the same module (bench/names-build.js) by function and by
 * crate (bench/wasm-sections.js).
 */

const fs = require('node:fs');
const path = require('node:path');
const { parseWasm, cleanName, crateOf } = require('./wasm-sections');
const { buildNamed } = require('./names-build');

const OWN_CRATE = 'wafer_wasm';

/**
 * @param {{ pkgDir: string, log: (msg: string) => void, top?: number }} opts
 */
async function run(opts) {
  const shippedBytes = fs.readFileSync(path.join(opts.pkgDir, 'node', 'wafer_wasm_bg.wasm'));
  const shipped = parseWasm(shippedBytes);
  const sections = shipped.sections.map((s) => ({ name: s.kind === 'custom' ? `custom "${s.name}"` : s.kind, size: s.size }));
  sections.push({ name: 'header', size: 8 });

  let named = null;
  let namedError = null;
  let build = null;
  try {
    build = await buildNamed(opts.log);
    named = parseWasm(fs.readFileSync(build.file));
  } catch (e) {
    namedError = e.message;
  }
  if (!named) return { shipped: { size: shipped.size, code: shipped.codeSection, sections }, namedError };

  const functions = named.functions.map((f) => ({
    size: f.size,
    name: f.name ? cleanName(f.name) : `(unnamed function #${f.index})`,
    crate: crateOf(f, OWN_CRATE),
  }));
  const bodies = functions.reduce((a, f) => a + f.size, 0);
  const crates = new Map();
  for (const f of functions) {
    const c = crates.get(f.crate) || { crate: f.crate, size: 0, functions: 0 };
    c.size += f.size;
    c.functions += 1;
    crates.set(f.crate, c);
  }
  // Our own crate by module (`wafer_wasm::runtime::client`, ...). The core is largely
  // inlined into the runtime functions that drive it, so read this as "where the code
  // ended up", not "what each module costs".
  const modules = new Map();
  for (const f of functions) {
    if (f.crate !== OWN_CRATE) continue;
    const m = /^<?(wafer_wasm(?:::[A-Za-z_][A-Za-z0-9_]*){0,2})/.exec(f.name);
    const key = m ? m[1] : OWN_CRATE;
    const e = modules.get(key) || { module: key, size: 0, functions: 0 };
    e.size += f.size;
    e.functions += 1;
    modules.set(key, e);
  }
  return {
    shipped: { size: shipped.size, code: shipped.codeSection, functions: shipped.functions.length, sections },
    named: {
      code: named.codeSection,
      bodies,
      functions: functions.length,
      seconds: build.seconds,
      notes: build.notes,
      file: path.relative(path.resolve(__dirname, '..'), build.file),
    },
    top: functions.slice().sort((a, b) => b.size - a.size).slice(0, opts.top || 20),
    crates: [...crates.values()].sort((a, b) => b.size - a.size),
    modules: [...modules.values()].sort((a, b) => b.size - a.size),
  };
}

module.exports = { run };
