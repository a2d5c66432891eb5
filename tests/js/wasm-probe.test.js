'use strict';
// tests/support/wasm-probe.js, which the memory tests and the bench read the packed wasm
// with, reads what it claims: handles made and dropped through the glue show in
// liveHandles(); the stack painted and used shows in stack.deepest(); the stack size is the
// 64 KiB .cargo/config.toml links with, and the memory at rest is within 256 KiB.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { createSim, installSdk } = require('./helpers/sdk');
const { probeWasm } = require('../support/wasm-probe');

test('the wasm probe counts handles, sees the stack in use, and reads the stack size', async () => {
  const sim = createSim();
  try {
    installSdk(sim);
    const probe = probeWasm(sim);
    const wafer = sim.require('wafer-wasm');
    await wafer.init();

    assert.equal(probe.stackSize, 64 * 1024, 'the stack the module was linked with');
    assert.ok(probe.bytes() <= 256 * 1024, `${probe.bytes()} B of linear memory once ready`);

    // A leak as the wasm would make one: handles made through the glue and never dropped.
    const before = probe.handles();
    const made = [];
    for (let i = 0; i < 5; i += 1) made.push(probe.glue.__wbindgen_object_clone_ref(1026));
    assert.equal(probe.liveHandles(), before.live + 5);
    for (const idx of made) probe.glue.__wbindgen_object_drop_ref(idx);
    assert.equal(probe.liveHandles(), before.live, 'dropped again');
    assert.equal(probe.handles().slab, Math.max(before.slab, before.live + 5), 'the slab keeps its high-water mark');

    probe.stack.paint();
    assert.equal(probe.stack.deepest(), 0, 'nothing ran since the paint');
    wafer.buildSessionHeader();
    const used = probe.stack.deepest();
    assert.ok(used > 0 && used < probe.stackSize, `a call used ${used} B of stack`);
  } finally {
    await sim.close();
  }
});
