'use strict';
/**
 * The wasm's memory, ours only, in the simulator on the fake socket and handshake of
 * bench/throughput.js (tests/support/wasm-probe.js reads it from outside):
 *
 * - linear memory (`memory.buffer.byteLength`) with an ACTIVE tunnel that has carried one
 *   message each way (at rest), after
 *   1,000 open/close cycles of that tunnel and after 100,000 inbound and 100,000 outbound
 *   messages on it;
 * - the handles the wasm holds in the glue's heap slab at the same points;
 * - the deepest the wasm's stack went over all of it (painted once ready).
 *
 * run(options) forks this file and resolves with the child's result.
 */

const { inChild, isChild, serveChild } = require('./child.js');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CYCLES = 1000;
const MESSAGES = 100000;

async function child(opts) {
  const { probeWasm } = require(path.join(ROOT, 'tests', 'support', 'wasm-probe.js'));
  const { setupSide, SIDES } = require('./throughput.js');
  const delay = (ms) => new Promise((r) => setTimeout(r, ms));
  const points = [];
  let probe = null;
  const mark = (label) => points.push({ label, bytes: probe.bytes(), handles: probe.liveHandles() });

  const side = await setupSide({
    ...SIDES(opts.pkgDir)[0],
    n: MESSAGES,
    beforeLoad: (sim) => {
      probe = probeWasm(sim);
      // Painted as soon as the wasm is ready (before the tunnel is made).
      const W = sim.global.WXWebAssembly;
      const instantiate = W.instantiate;
      W.instantiate = sim.realm.fn((p, i) => instantiate(p, i).then((r) => {
        probe.instance = r && r.instance ? r.instance : r;
        probe.stack.paint();
        return r;
      }), 'instantiate');
      return probe;
    },
  });
  const { h, tunnel } = side;
  // One message each way first: what a tunnel caches on its first message is not growth.
  h.inbound(1);
  h.outbound(tunnel, false, true, 1);
  mark('ACTIVE tunnel, one message each way (at rest)');

  for (let i = 0; i < CYCLES; i++) {
    tunnel.close();
    const opened = h.st.opened;
    tunnel.open();
    for (let k = 0; k < 400 && !(h.st.opened === opened + 1 && h.status(tunnel) === 'ACTIVE'); k++) await delay(0);
    if (h.status(tunnel) !== 'ACTIVE') throw new Error(`cycle ${i}: the tunnel is ${h.status(tunnel)}`);
  }
  await delay(10);
  mark(`after ${CYCLES.toLocaleString('en-US')} open/close cycles`);

  h.inbound(MESSAGES);
  if (h.box.got !== MESSAGES) throw new Error(`inbound: the listener saw ${h.box.got} of ${MESSAGES}`);
  h.outbound(tunnel, false, true, MESSAGES);
  if (h.st.messages !== MESSAGES) throw new Error(`outbound: the socket saw ${h.st.messages} of ${MESSAGES}`);
  await delay(10);
  mark(`after ${MESSAGES.toLocaleString('en-US')} messages in and out`);

  const deepestStack = probe.stack.deepest();
  if (side.sim.errors.length) throw new Error(`error thrown in the sandbox: ${String(side.sim.errors[0]).slice(0, 200)}`);
  await side.sim.close();
  return { points, stackSize: probe.stackSize, deepestStack, cycles: CYCLES, messages: MESSAGES };
}

/** @param {{ pkgDir: string }} opts */
function run(opts) {
  return inChild(__filename, 'memory', opts);
}

if (isChild(module)) {
  serveChild(child);
}

module.exports = { run, CYCLES, MESSAGES };
