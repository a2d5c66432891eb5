'use strict';
/**
 * Where a tunnel message's time goes: the per-message breakdown of the inbound and
 * outbound hot paths, each side in its own simulator on the fake socket of
 * bench/throughput.js: ours; ours with its tunnel port's gate held shut by the bench, so
 * that every message goes through the wasm (the path a tunnel takes while logging); the
 * official client; the plain-JavaScript model (bench/model).
 *
 * - time: nanoseconds per message, the median of interleaved rounds of M messages, and the
 *   speed against the official client as the median of the per-round ratios (the figures
 *   the targets read are bench/throughput.js's);
 * - crossings (ours): calls from JavaScript into the wasm (its exports, the glue's
 *   closure shims included) and from the wasm into JavaScript (the glue's imports, handle
 *   drops included), counted by wrapping the instance's exports and the import object in
 *   a separate simulator, divided by M;
 * - JS heap: bytes allocated per message, the growth of V8's used heap over a round of
 *   2,000 messages in which no collection ran (checked with v8.GCProfiler; the least of
 *   such rounds);
 * - profile: V8's CPU profiler (what `node --cpu-prof` records) over rounds of each loop,
 *   self time in JavaScript (the SDK's, the built-ins it calls, the harness's), in the wasm
 *   and its transitions, and in the garbage collector. `--cpu-prof-dir DIR` also writes
 *   each profile as a .cpuprofile file (open it in Chrome DevTools).
 *
 * run(options) forks this file and resolves with the child's result.
 */

const { inChild, isChild, serveChild } = require('./child.js');
const fs = require('node:fs');
const path = require('node:path');

const M = 20000;
const HEAP_M = 2000;

/** Wrap every export and import of our wasm to count calls (crossings) by name. */
function countingProbe(sim) {
  const W = sim.global.WXWebAssembly;
  const original = W.instantiate;
  const counts = { exports: Object.create(null), imports: Object.create(null) };
  const count = (table, name, f) =>
    function counted(...args) {
      table[name] = (table[name] || 0) + 1;
      return f.apply(this, args);
    };
  W.instantiate = sim.realm.fn((wasmPath, imports) => {
    const wrapped = {};
    for (const [module, fns] of Object.entries(imports)) {
      const m = {};
      for (const [name, f] of Object.entries(fns)) m[name] = typeof f === 'function' && /^__wb/.test(name) ? count(counts.imports, name, f) : f;
      wrapped[module] = m;
    }
    return original(wasmPath, wrapped).then((r) => {
      const instance = r && r.instance ? r.instance : r;
      const exports = {};
      for (const [name, e] of Object.entries(instance.exports)) exports[name] = typeof e === 'function' ? count(counts.exports, name, e) : e;
      return { exports };
    });
  }, 'instantiate');
  return {
    counts,
    snapshot() {
      return { exports: { ...counts.exports }, imports: { ...counts.imports } };
    },
  };
}

function diff(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] || 0) > 0) out[k] = v - (before[k] || 0);
  return out;
}

const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
const median = (a) => {
  const s = a.slice().sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Self time of a CPU profile: in the wasm (its functions and the transitions into and out
 * of it), in the garbage collector, and in JavaScript (the SDK's, the engine's built-ins
 * it calls, which V8 books to their caller, and the harness's).
 */
function categorise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const cats = { wasm: 0, gc: 0, js: 0 };
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const { callFrame } = byId.get(profile.samples[i]);
    const us = profile.timeDeltas[i] || 0;
    const name = callFrame.functionName;
    if (name === '(idle)' || name === '(program)' || name === '(root)') continue;
    total += us;
    if (name === '(garbage collector)') cats.gc += us;
    else if ((callFrame.url || '').startsWith('wasm://') || /^(wasm-to-js|js-to-wasm)/.test(name)) cats.wasm += us;
    else cats.js += us;
  }
  for (const k of Object.keys(cats)) cats[k] /= total || 1;
  return cats;
}

/**
 * Hold ours' gate shut (bench instrumentation, never in the package): every frame and emit
 * then goes through the wasm, the path a tunnel takes while logging, and the one every
 * message took before the port carried the hot paths.
 */
function holdGateShut(side) {
  const port = side.tunnel._port;
  if (!port || typeof port.gate !== 'function') throw new Error('ours: no tunnel port to hold shut');
  const gate = port.gate;
  port.gate = function shut(deliverGen, maxFrame) {
    gate.call(this, -1, maxFrame, -1, null);
  };
  port.gate(-1, port.maxFrame, -1, null);
  return side;
}

async function child(opts) {
  const { setupSide, SIDES } = require('./throughput.js');
  const v8 = require('node:v8');
  const inspector = require('node:inspector');
  const gc = typeof global.gc === 'function' ? global.gc : () => {};
  const n = opts.m || M;

  const [oursSpec, officialSpec, modelSpec] = SIDES(opts.pkgDir);
  const sides = [
    await setupSide({ ...oursSpec, n }),
    holdGateShut(await setupSide({ ...oursSpec, key: 'wasm', n })),
    await setupSide({ ...officialSpec, n }),
    await setupSide({ ...modelSpec, n }),
  ];
  // Crossings: ours again, both ways, every export and import counted.
  const counted = {
    ours: await setupSide({ ...oursSpec, n, key: 'ours-counted', beforeLoad: countingProbe }),
    wasm: holdGateShut(await setupSide({ ...oursSpec, n, key: 'wasm-counted', beforeLoad: countingProbe })),
  };

  const loops = {
    inbound: (s, m = n) => s.h.inbound(m),
    outbound: (s, m = n) => {
      const [t0, t1] = s.h.outbound(s.tunnel, false, true, m);
      if (s.h.st.messages !== m) throw new Error(`${s.name}: the socket saw ${s.h.st.messages} of ${m}`);
      return t1 - t0;
    },
  };
  const check = (s, m = n) => {
    if (s.h.box.got !== m && s.h.st.messages !== m) throw new Error(`${s.name} (${s.key}): messages lost`);
  };

  const result = { m: n, paths: {} };
  for (const [pathName, loop] of Object.entries(loops)) {
    const out = {};
    for (const s of sides) out[s.key] = { ns: [], heapBytes: [], profile: null };
    // Warm-up (the profile is of optimised code), then timed rounds, interleaved.
    for (let r = 0; r < opts.warmup + opts.rounds; r++) {
      const order = r % 2 ? sides.slice().reverse() : sides;
      for (const s of order) {
        gc();
        const dt = loop(s);
        check(s);
        if (r >= opts.warmup) out[s.key].ns.push(dt / n);
      }
    }
    // JS heap allocated per message, in rounds where no collection ran.
    for (const s of sides) {
      for (let r = 0; r < 7; r++) {
        gc();
        const profiler = new v8.GCProfiler();
        profiler.start();
        const h0 = v8.getHeapStatistics().used_heap_size;
        loop(s, HEAP_M);
        const h1 = v8.getHeapStatistics().used_heap_size;
        const { statistics } = profiler.stop();
        check(s, HEAP_M);
        if (statistics.length === 0) out[s.key].heapBytes.push((h1 - h0) / HEAP_M);
      }
    }
    // CPU profile.
    const session = new inspector.Session();
    session.connect();
    const post = (m, p) => new Promise((res, rej) => session.post(m, p, (e, r) => (e ? rej(e) : res(r))));
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 50 });
    for (const s of sides) {
      gc();
      await post('Profiler.start');
      for (let r = 0; r < opts.profileRounds; r++) loop(s);
      const { profile } = await post('Profiler.stop');
      out[s.key].profile = categorise(profile);
      if (opts.cpuProfDir) {
        fs.mkdirSync(opts.cpuProfDir, { recursive: true });
        fs.writeFileSync(path.join(opts.cpuProfDir, `${pathName}-${s.key}.cpuprofile`), JSON.stringify(profile));
      }
    }
    await post('Profiler.disable');
    session.disconnect();

    const summary = {};
    for (const s of sides) {
      const o = out[s.key];
      summary[s.key] = {
        nsPerMessage: median(o.ns),
        // Steadier than a ratio of the medians: each round measures the sides back to back.
        speedVsOfficial: median(o.ns.map((t, i) => out.official.ns[i] / t)),
        heapBytesPerMessage: o.heapBytes.length ? Math.min(...o.heapBytes) : null,
        heapSamples: o.heapBytes.length,
        profile: o.profile,
      };
    }
    // Crossings per message.
    for (const [key, c] of Object.entries(counted)) {
      loop(c);
      const before = c.probe.snapshot();
      loop(c);
      check(c);
      const after = c.probe.snapshot();
      const exportsPer = diff(after.exports, before.exports);
      const importsPer = diff(after.imports, before.imports);
      for (const k of Object.keys(exportsPer)) exportsPer[k] /= n;
      for (const k of Object.keys(importsPer)) importsPer[k] /= n;
      summary[key].crossings = { intoWasm: sum(exportsPer), outOfWasm: sum(importsPer), exports: exportsPer, imports: importsPer };
    }
    result.paths[pathName] = summary;
  }
  for (const s of sides.concat(Object.values(counted))) await s.sim.close();
  return result;
}

/**
 * @param {{ pkgDir: string, warmup?: number, profileRounds?: number, m?: number, cpuProfDir?: string }} opts
 */
function run(opts) {
  const o = Object.assign({ warmup: 5, rounds: 15, profileRounds: 10, m: M }, opts);
  return inChild(__filename, 'hot-path', o, ['--expose-gc']);
}

const LABELS = {
  ours: 'ours',
  wasm: 'ours, through the wasm',
  official: 'official',
  model: 'JS model',
};

/** The breakdown as text tables (scripts/bench.js prints them). */
function format(result) {
  const lines = [];
  const cats = [['js', 'JavaScript'], ['wasm', 'wasm + transitions'], ['gc', 'GC']];
  for (const [pathName, p] of Object.entries(result.paths)) {
    lines.push(`${pathName} (per message; median of interleaved rounds of ${result.m.toLocaleString('en-US')} messages):`);
    const head = ['side', 'ns', 'speed vs official', 'JS→wasm', 'wasm→JS', 'JS heap B', ...cats.map((c) => `${c[1]} %`)];
    const rows = [];
    for (const key of Object.keys(LABELS)) {
      const s = p[key];
      if (!s) continue;
      const c = s.crossings;
      rows.push([
        LABELS[key],
        s.nsPerMessage.toFixed(0),
        `${s.speedVsOfficial.toFixed(2)}×`,
        c ? fmt(c.intoWasm) : '0',
        c ? fmt(c.outOfWasm) : '0',
        s.heapBytesPerMessage === null ? 'n/a' : s.heapBytesPerMessage.toFixed(0),
        ...cats.map(([k]) => (100 * s.profile[k]).toFixed(0)),
      ]);
    }
    lines.push(table(head, rows));
    for (const key of ['ours', 'wasm']) {
      const c = p[key] && p[key].crossings;
      if (!c) continue;
      const calls = Object.entries(c.exports).map(([k, v]) => `${k} ${fmt(v)}`).concat(Object.entries(c.imports).map(([k, v]) => `${k.replace(/_[0-9a-f]{16}$/, '')} ${fmt(v)}`));
      lines.push(`  ${LABELS[key]}, calls per message: ${calls.length ? calls.join(', ') : 'none'}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

function fmt(x) {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}

function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const f = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [f(all[0]), w.map((x) => '-'.repeat(x)).join('  '), ...all.slice(1).map(f)].join('\n');
}

if (isChild(module)) {
  serveChild(child);
} else if (require.main === module) {
  // node bench/hotpath.js [--pkg DIR] [--cpu-prof-dir DIR]
  const { parseArgs } = require('node:util');
  const { values } = parseArgs({ options: { pkg: { type: 'string' }, 'cpu-prof-dir': { type: 'string' } } });
  run({ pkgDir: path.resolve(values.pkg || path.join(__dirname, '..', 'pkg')), cpuProfDir: values['cpu-prof-dir'] }).then(
    (r) => console.log(format(r)),
    (e) => {
      console.error(e);
      process.exitCode = 2;
    },
  );
}

module.exports = { run, format };
