'use strict';
/**
 * Time to ready: from `require` to the first usable call, wasm instantiation included.
 * Every sample runs in a fresh Node process (cold module cache, no compiled code reused),
 * and the samples of the four kinds are interleaved; the best of each kind counts.
 *
 *   node-ours        require('<pkg>') (the Node entry, pkg/node) + await init() + buildSessionHeader()
 *   node-official    require('wafer-client-sdk') + buildSessionHeader() (a stub `wx` global: the
 *                    official client touches wx.onSocket* while loading)
 *   sim-ours         in the simulator: sim.require('wafer-wasm') (miniprogram_dist: minified
 *                    bundle, WXWebAssembly + .wasm.br) + await init() + buildSessionHeader()
 *   sim-official     in the simulator: sim.require('wafer-client-sdk') + buildSessionHeader()
 *
 * The simulator itself and the package installation (what DevTools' "build npm" does
 * before the app starts) are set up before the clock starts.
 */

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const KINDS = ['node-ours', 'node-official', 'sim-ours', 'sim-official'];

async function child(kind, pkgDir) {
  const ms = (a, b) => Number(b - a) / 1e6;
  const now = () => process.hrtime.bigint();
  const official = path.join(ROOT, 'node_modules', 'wafer-client-sdk');
  if (kind === 'node-ours') {
    const t0 = now();
    const sdk = require(pkgDir);
    const t1 = now();
    await sdk.init();
    sdk.buildSessionHeader();
    const t2 = now();
    return { requireMs: ms(t0, t1), readyMs: ms(t0, t2) };
  }
  if (kind === 'node-official') {
    const noop = () => {};
    global.wx = {
      onSocketOpen: noop, onSocketClose: noop, onSocketMessage: noop, onSocketError: noop,
      getStorageSync: () => '', setStorageSync: noop, removeStorageSync: noop,
    };
    const t0 = now();
    const sdk = require(official);
    const t1 = now();
    sdk.buildSessionHeader();
    const t2 = now();
    return { requireMs: ms(t0, t1), readyMs: ms(t0, t2) };
  }
  const { createSim, installPackage } = require(path.join(ROOT, 'tests', 'sim'));
  const sim = createSim();
  try {
    const name = kind === 'sim-ours' ? 'wafer-wasm' : 'wafer-client-sdk';
    installPackage(sim.root, kind === 'sim-ours' ? pkgDir : official, name);
    const t0 = now();
    const sdk = sim.require(name);
    const t1 = now();
    if (kind === 'sim-ours') await sdk.init();
    sdk.buildSessionHeader();
    const t2 = now();
    if (kind === 'sim-ours' && sim.counters.wasmInstantiate !== 1) throw new Error('the wasm was not instantiated through WXWebAssembly');
    sim.assertClean();
    return { requireMs: ms(t0, t1), readyMs: ms(t0, t2) };
  } finally {
    await sim.close();
  }
}

/**
 * @param {{ pkgDir: string, samples?: number }} opts
 * @returns {{ [kind: string]: { requireMs: number[], readyMs: number[] } }} all samples
 */
function run(opts) {
  const samples = opts.samples || 7;
  const out = {};
  for (const k of KINDS) out[k] = { requireMs: [], readyMs: [] };
  for (let i = 0; i < samples; i++) {
    for (const kind of KINDS) {
      const res = spawnSync(process.execPath, [__filename, '--child', kind, opts.pkgDir], { encoding: 'utf8', cwd: ROOT });
      const line = (res.stdout || '').trim().split('\n').pop();
      if (res.status !== 0 || !line || !line.startsWith('{')) {
        throw new Error(`time-to-ready child ${kind} failed (${res.status}): ${(res.stderr || res.stdout || '').trim().slice(-600)}`);
      }
      const r = JSON.parse(line);
      out[kind].requireMs.push(r.requireMs);
      out[kind].readyMs.push(r.readyMs);
    }
  }
  return out;
}

if (require.main === module && process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    },
    (e) => {
      console.error((e && e.stack) || e);
      process.exit(1);
    },
  );
}

module.exports = { run, KINDS };
