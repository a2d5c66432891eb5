'use strict';
// The check of ./check.js rejects each post-1.0 feature and an exported global, and
// accepts what 1.0 + mutable globals allows, so it cannot pass a module it should not.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { wasmLevelProblems, assemble } = require('./check');

const REJECTED = [
  ['reference types (an externref parameter)', '(module (func (export "f") (param externref)))', /rejects it/],
  ['bulk memory (memory.copy)', `(module (memory 1) (func (export "f")
     (memory.copy (i32.const 0) (i32.const 8) (i32.const 8))))`, /rejects it/],
  ['bulk memory (memory.fill)', `(module (memory 1) (func (export "f")
     (memory.fill (i32.const 0) (i32.const 0) (i32.const 8))))`, /rejects it/],
  ['sign extension (i32.extend8_s)', '(module (func (export "f") (param i32) (result i32) (i32.extend8_s (local.get 0))))', /rejects it/],
  ['saturating float-to-int (i32.trunc_sat_f32_s)', '(module (func (export "f") (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0))))', /rejects it/],
  ['multi-value (two results)', '(module (func (export "f") (result i32 i32) (i32.const 1) (i32.const 2)))', /rejects it/],
  ['SIMD (v128)', '(module (func (export "f") (drop (v128.const i32x4 0 0 0 0))))', /rejects it/],
  ['an exported mutable global (wasm-bindgen\'s __instance_terminated)', '(module (global (export "__instance_terminated") (mut i32) (i32.const 0)))', /exports global\(s\) __instance_terminated/],
  ['an exported immutable global (valid 1.0, but not on iOS)', '(module (global (export "g") i32 (i32.const 0)))', /exports global\(s\) g/],
];

for (const [what, wat, reason] of REJECTED) {
  test(`rejects a module using ${what}`, () => {
    const problems = wasmLevelProblems(assemble(wat));
    assert.ok(problems.some((p) => reason.test(p)), `expected a problem matching ${reason}, got ${JSON.stringify(problems)}`);
  });
}

test('accepts a 1.0 module with memory, a table, an imported mutable global and its own mutable global', () => {
  const wat = `(module
    (import "env" "g" (global $imported (mut i32)))
    (memory (export "memory") 1)
    (table (export "table") 1 funcref)
    (global $own (mut i32) (i32.const 0))
    (func $f (export "f") (param i32) (result i32)
      (global.set $own (i32.add (global.get $imported) (local.get 0)))
      (i32.store (i32.const 0) (global.get $own))
      (i32.load8_s (i32.const 0)))
    (elem (i32.const 0) $f))`;
  assert.deepEqual(wasmLevelProblems(assemble(wat)), []);
});
