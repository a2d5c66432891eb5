#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: wafer-wasm against the official `wafer-client-sdk` 0.8.4, measured on
 * this machine (figures and method: docs/PERFORMANCE.md).
 *
 *   1. builds pkg/ when it is missing or older than its sources (scripts/build.js), then
 *      measures a private copy of it (someone may rebuild pkg/ meanwhile);
 *   2. per run: shipped size (bench/size.js), 20 concurrent logins (bench/logins.js), time
 *      to ready (bench/ready.js, fresh processes), tunnel throughput (bench/throughput.js:
 *      ours, the official client and the plain-JavaScript model of bench/model in the
 *      mini-program simulator on fake sockets, interleaved rounds), the wasm's memory
 *      (bench/memory.js); once: where a message's time goes (bench/hotpath.js) and the
 *      wasm by function and crate (bench/breakdown.js, a names-preserving build);
 *   3. prints the tables (with --runs N, the last run's and the spread of every figure
 *      over the runs) and exits 1 when a target does not hold.
 *
 * Options:
 *   --runs N         measure N times (default 1) and print min / median / max of each figure;
 *                    the targets are then read on the medians
 *   --rounds N       timed throughput rounds per side (default 30, after 3 warm-up rounds)
 *   --samples N      fresh processes per time-to-ready figure (default 9)
 *   --no-build       never build; measure pkg/ as it is
 *   --force-build    rebuild pkg/ even when it looks fresh
 *   --pkg DIR        measure an already built package directory instead of pkg/ (no build)
 *   --no-breakdown   skip the names-preserving wasm build and the per-function tables
 *   --no-hotpath     skip the per-message breakdown
 *   --json FILE      also write every measurement (all samples) to FILE
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..');
const r = (...p) => path.join(ROOT, ...p);

// Throughput ratios are read on the median of the per-round ratios (each round measures
// the sides back to back, so a load spike tends to hit both); time to ready on the best of
// the fresh processes in the simulator; memory once ready with an ACTIVE tunnel.
const TARGETS = { inbound: 1.5, outbound: 1.2, readyMs: 20, memoryKiB: 256 };
const PKG_OUTPUTS = [
  'package.json',
  'miniprogram_dist/index.js',
  'miniprogram_dist/wafer_wasm_bg.wasm.br',
  'node/index.js',
  'node/wafer_wasm_bg.wasm',
];
const PKG_INPUTS = ['src', 'js-shim', 'Cargo.toml', 'Cargo.lock', '.cargo', 'build.rs', 'scripts/build.js'];

function log(msg) {
  console.log(`bench: ${msg}`);
}

function parseArgs(argv) {
  const { values } = require('node:util').parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '30' },
      samples: { type: 'string', default: '9' },
      'no-build': { type: 'boolean', default: false },
      'force-build': { type: 'boolean', default: false },
      pkg: { type: 'string' },
      'no-breakdown': { type: 'boolean', default: false },
      'no-hotpath': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  const int = (name) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a positive integer`);
    return n;
  };
  return {
    runs: int('runs'),
    rounds: int('rounds'),
    warmup: 3,
    samples: int('samples'),
    build: values['no-build'] ? 'never' : values['force-build'] ? 'always' : 'stale',
    pkg: values.pkg || null,
    breakdown: !values['no-breakdown'],
    hotpath: !values['no-hotpath'],
    json: values.json || null,
  };
}

// ---- pkg/: fresh build and private copy ------------------------------------------------

function newestMtime(p) {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const ent of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, ent)));
  return newest;
}

/** Why pkg/ needs a build, or null when it is complete and newer than its sources. */
function staleReason() {
  const missing = PKG_OUTPUTS.filter((f) => !fs.existsSync(r('pkg', f)));
  if (missing.length) return `pkg/ lacks ${missing.join(', ')}`;
  const oldestOut = Math.min(...PKG_OUTPUTS.map((f) => fs.statSync(r('pkg', f)).mtimeMs));
  const newer = PKG_INPUTS.filter((p) => newestMtime(r(p)) > oldestOut);
  return newer.length ? `sources changed since pkg/ was built (${newer.join(', ')})` : null;
}

/**
 * Copy the package to a private directory and check it is one consistent build (the
 * brotli wasm of the mini-program build is the Node build's wasm). Retries while a
 * concurrent build is rewriting it.
 */
async function snapshot(srcDir) {
  for (let attempt = 1; ; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-bench-pkg-'));
    let problem = null;
    try {
      fs.cpSync(srcDir, dir, { recursive: true });
      const missing = PKG_OUTPUTS.filter((f) => !fs.existsSync(path.join(dir, f)));
      if (missing.length) {
        problem = `missing ${missing.join(', ')}`;
      } else {
        const br = zlib.brotliDecompressSync(fs.readFileSync(path.join(dir, 'miniprogram_dist', 'wafer_wasm_bg.wasm.br')));
        if (!br.equals(fs.readFileSync(path.join(dir, 'node', 'wafer_wasm_bg.wasm')))) problem = 'the .wasm.br and the .wasm differ';
      }
    } catch (e) {
      problem = e.message;
    }
    if (!problem) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    if (attempt >= 5) throw new Error(`${srcDir} is not a complete, consistent build: ${problem}`);
    log(`${path.relative(ROOT, srcDir) || srcDir} looks half-written (${problem}); retrying in 3 s`);
    await new Promise((res) => setTimeout(res, 3000));
  }
}

// ---- formatting ----------------------------------------------------------------------------

const int = (n) => Math.round(n).toLocaleString('en-US');
const kb = (n) => (n / 1000).toFixed(2);
const ms = (n) => n.toFixed(2);
const x = (n) => `${n.toFixed(2)}×`;
const min = (a) => Math.min(...a);
const max = (a) => Math.max(...a);
const median = (a) => {
  const s = a.slice().sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function table(header, rows, align) {
  const all = [header, ...rows].map((row) => row.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const fmt = (row) => row.map((c, i) => ((align || '')[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [fmt(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(fmt)].join('\n');
}

// ---- one run -------------------------------------------------------------------------------

const KiB = 1024;

/** Measure everything once; the figures of one run. */
async function measureOnce(opts, pkgDir) {
  const load = os.loadavg()[0];
  const started = Date.now();
  log('shipped size');
  const size = require('../bench/size.js').run({ pkgDir });
  log(`${require('../bench/logins.js').CONCURRENT} concurrent request({ login: true })`);
  const logins = await require('../bench/logins.js').run({ pkgDir });
  log(`time to ready: ${opts.samples} fresh processes per figure`);
  const ready = require('../bench/ready.js').run({ pkgDir, samples: opts.samples });
  log(`throughput: ${opts.warmup} warm-up + ${opts.rounds} timed rounds of 100,000 messages per side`);
  const tp = await require('../bench/throughput.js').run({ pkgDir, n: 100000, rounds: opts.rounds, warmup: opts.warmup });
  log('wasm memory: ACTIVE tunnel, open/close cycles, messages');
  const memory = await require('../bench/memory.js').run({ pkgDir });

  const rate = (ns) => (tp.n * 1e9) / ns;
  const thr = (k) => {
    const o = tp.samples[k];
    const perRound = (a, b) => a.map((t, i) => b[i] / t); // b's time over a's: a's speed relative to b
    const rounds = perRound(o.ours, o.official);
    return {
      ours: rate(min(o.ours)),
      official: rate(min(o.official)),
      model: rate(min(o.model)),
      nsOurs: median(o.ours) / tp.n,
      nsOfficial: median(o.official) / tp.n,
      nsModel: median(o.model) / tp.n,
      // The targets' reading: the median of the per-round ratios (each round measures the
      // sides back to back, so a load spike on this shared machine tends to hit all).
      ratio: median(rounds),
      roundsMin: min(rounds),
      roundsMax: max(rounds),
      bestRatio: min(o.official) / min(o.ours),
      modelRatio: median(perRound(o.model, o.official)),
      oursOfModel: median(perRound(o.ours, o.model)),
    };
  };
  const best = (kind, k = 'readyMs') => min(ready[kind][k]);
  const med = (kind, k = 'readyMs') => median(ready[kind][k]);
  const atRest = memory.points[0];
  const last = memory.points[memory.points.length - 1];
  return {
    load,
    seconds: (Date.now() - started) / 1000,
    size,
    logins,
    ready,
    tp,
    memory,
    inbound: thr('inbound'),
    outbound: thr('outbound'),
    unread: thr('outboundUnread'),
    readyNode: { ours: best('node-ours'), official: best('node-official'), oursMedian: med('node-ours'), officialMedian: med('node-official') },
    readySim: {
      ours: best('sim-ours'),
      official: best('sim-official'),
      oursMedian: med('sim-ours'),
      officialMedian: med('sim-official'),
      requireOurs: best('sim-ours', 'requireMs'),
      requireOfficial: best('sim-official', 'requireMs'),
    },
    memoryAtRest: atRest.bytes,
    memoryGrowth: Math.max(...memory.points.map((p) => p.bytes)) - atRest.bytes,
    handlesAtRest: atRest.handles,
    handlesGrowth: last.handles - atRest.handles,
  };
}

/** What does not hold, for the figures `f` (one run, or the medians of several). */
function failuresOf(f) {
  const failures = [];
  const check = (ok, text) => {
    if (!ok) failures.push(text);
  };
  check(f.inbound >= TARGETS.inbound, `inbound ${x(f.inbound)} of the official client (target ≥ ${x(TARGETS.inbound)})`);
  check(f.outbound >= TARGETS.outbound, `outbound ${x(f.outbound)} of the official client (target ≥ ${x(TARGETS.outbound)})`);
  check(f.readySim <= TARGETS.readyMs, `time to ready in the simulator ${ms(f.readySim)} ms (target ≤ ${TARGETS.readyMs} ms)`);
  check(f.memoryKiB <= TARGETS.memoryKiB, `wasm linear memory at rest ${f.memoryKiB} KiB (target ≤ ${TARGETS.memoryKiB} KiB)`);
  check(f.memoryGrowthKiB === 0, `wasm linear memory grew by ${f.memoryGrowthKiB} KiB over the cycles and messages (target: 0)`);
  check(f.handlesGrowth <= 0, `the wasm holds ${f.handlesGrowth} more handles after the cycles and messages (target: none more)`);
  check(f.logins === 1, `ours ran ${f.logins} logins for ${require('../bench/logins.js').CONCURRENT} concurrent requests (target: 1)`);
  check(f.raw <= f.rawBudget, `shipped raw ${kb(f.raw)} KB (budget ≤ ${kb(f.rawBudget)} KB)`);
  check(f.brotli <= f.brotliBudget, `shipped brotli ${kb(f.brotli)} KB (budget ≤ ${kb(f.brotliBudget)} KB)`);
  return failures;
}

/** One run's logins meet the target: every request succeeded on one `wx.login` and one server login. */
function loginsHold(r) {
  const o = r.logins.ours;
  return o.serverLogins === 1 && o.wxLogin === 1 && o.succeeded === r.logins.concurrent;
}

/** The figures a target reads, of one run. */
function keyFigures(r) {
  return {
    inbound: r.inbound.ratio,
    outbound: r.outbound.ratio,
    readySim: r.readySim.ours,
    memoryKiB: r.memoryAtRest / KiB,
    memoryGrowthKiB: r.memoryGrowth / KiB,
    handlesGrowth: r.handlesGrowth,
    logins: r.logins.ours.serverLogins,
    raw: r.size.ours.raw,
    rawBudget: r.size.budget.raw,
    brotli: r.size.ours.brotli,
    brotliBudget: r.size.budget.brotli,
  };
}

// ---- report --------------------------------------------------------------------------------

function reportRun(r, out) {
  const thrRows = [];
  for (const [label, t, target] of [
    ['inbound: speak frames → on(\'speak\')', r.inbound, TARGETS.inbound],
    ['outbound: emit(\'speak\') → socket', r.outbound, TARGETS.outbound],
    ['(info) outbound, socket never reads the frame', r.unread, null],
  ]) {
    thrRows.push([label, int(t.ours), int(t.official), int(t.model), x(t.ratio), `${x(t.roundsMin)}–${x(t.roundsMax)}`, x(t.bestRatio),
      x(t.modelRatio), x(t.oursOfModel), target ? `≥ ${x(target)}` : '', target ? (t.ratio >= target ? 'ok' : 'FAIL') : '']);
  }
  out.push('throughput, msg/s (best round of each side); ratios of speed, > 1 is faster than the official client:');
  out.push(table(['path', 'ours', 'official', 'JS model', 'ours/official', 'rounds', 'best/best', 'model/official', 'ours/model', 'target', 'met'],
    thrRows, 'lrrrrrrrrll'));
  out.push(`ours/official: the median of the ${r.tp.rounds} per-round ratios (the target's reading), their range, and the best round of each side`);
  out.push(`  (${r.tp.warmup} warm-up rounds first; each round measures the three sides back to back, in every order in turn).`);
  out.push(`  JS model: bench/model, a plain-JavaScript implementation of the same per-message work (never shipped).`);
  out.push(`  verified every round: each listener saw ${int(r.tp.n)}/${int(r.tp.n)} messages (count and sum of n), each socket ${int(r.tp.n)}/${int(r.tp.n)} message frames;`);
  out.push(`  frames byte-identical to the official client's: ${int(r.tp.frames.compared)} bench frames + ${r.tp.frames.edgeCases} edge cases (ours and the model), ${r.tp.frames.mismatches.length} mismatches.`);
  out.push('');

  const checkMark = (ok) => (ok ? 'ok' : 'FAIL');
  const rows = [
    ['time to ready, simulator, ms (best of fresh processes)', ms(r.readySim.ours), ms(r.readySim.official), x(r.readySim.official / r.readySim.ours), 'official/ours', `≤ ${TARGETS.readyMs} ms`, checkMark(r.readySim.ours <= TARGETS.readyMs)],
    ['  median, ms', ms(r.readySim.oursMedian), ms(r.readySim.officialMedian), x(r.readySim.officialMedian / r.readySim.oursMedian), 'official/ours', '', ''],
    ['  of which require(), ms (best)', ms(r.readySim.requireOurs), ms(r.readySim.requireOfficial), x(r.readySim.requireOfficial / r.readySim.requireOurs), 'official/ours', '', ''],
    ['time to ready, Node, ms (best)', ms(r.readyNode.ours), ms(r.readyNode.official), x(r.readyNode.official / r.readyNode.ours), 'official/ours', '', ''],
    ['  median, ms', ms(r.readyNode.oursMedian), ms(r.readyNode.officialMedian), x(r.readyNode.officialMedian / r.readyNode.oursMedian), 'official/ours', '', ''],
    [`logins for ${r.logins.concurrent} concurrent request({login:true})`, r.logins.ours.serverLogins, r.logins.official.serverLogins,
      x(r.logins.official.serverLogins / Math.max(1, r.logins.ours.serverLogins)), 'official/ours', '= 1', checkMark(loginsHold(r))],
    ['shipped to the mini-program, raw KB', kb(r.size.ours.raw), kb(r.size.official.raw), x(r.size.official.raw / r.size.ours.raw), 'official/ours', `≤ ${kb(r.size.budget.raw)} KB`, checkMark(r.size.ours.raw <= r.size.budget.raw)],
    ['shipped to the mini-program, gzip KB', kb(r.size.ours.gzip), kb(r.size.official.gzip), x(r.size.official.gzip / r.size.ours.gzip), 'official/ours', '', ''],
    ['shipped to the mini-program, brotli KB', kb(r.size.ours.brotli), kb(r.size.official.brotli), x(r.size.official.brotli / r.size.ours.brotli), 'official/ours', `≤ ${kb(r.size.budget.brotli)} KB`, checkMark(r.size.ours.brotli <= r.size.budget.brotli)],
  ];
  out.push(table(['figure', 'ours', 'official', 'ratio', 'ratio is', 'target', 'met'], rows, 'lrrrlll'));
  out.push(`time to ready: ${r.ready['sim-ours'].readyMs.length} fresh processes per figure; require() and, for ours, await init() (the wasm instantiated), then buildSessionHeader().`);
  out.push(`logins: ours ${r.logins.ours.succeeded}/${r.logins.concurrent} requests succeeded with ${r.logins.ours.wxLogin} wx.login and ${r.logins.ours.serverLogins} server login; ` +
    `official ${r.logins.official.succeeded}/${r.logins.concurrent} with ${r.logins.official.wxLogin} wx.login and ${r.logins.official.serverLogins} server logins.`);
  out.push('');

  const m = r.memory;
  out.push(`wasm memory (ours; linear memory, and the JavaScript values the wasm holds through the glue):`);
  out.push(table(['when', 'linear memory KiB', 'handles held'],
    m.points.map((p) => [p.label, int(p.bytes / KiB), int(p.handles)]), 'l'));
  out.push(`at rest ${int(r.memoryAtRest / KiB)} KiB (target ≤ ${TARGETS.memoryKiB} KiB: ${checkMark(r.memoryAtRest / KiB <= TARGETS.memoryKiB)}), ` +
    `growth ${int(r.memoryGrowth / KiB)} KiB (target 0: ${checkMark(r.memoryGrowth === 0)}), handles ${r.handlesGrowth >= 0 ? '+' : ''}${r.handlesGrowth} (target: none more: ${checkMark(r.handlesGrowth <= 0)}); ` +
    `the stack is ${int(m.stackSize / KiB)} KiB, the deepest it went ${int(m.deepestStack)} B.`);
  out.push('');

  out.push('Shipped files (what DevTools copies into miniprogram_npm/<name>/; 1 KB = 1000 B):');
  const fileRows = [];
  for (const [who, s] of [['ours', r.size.ours], ['official', r.size.official]]) {
    for (const f of s.files) fileRows.push([who, f.file, int(f.raw), int(f.gzip), int(f.brotli)]);
    fileRows.push([who, 'total', int(s.raw), int(s.gzip), int(s.brotli)]);
  }
  out.push(table(['sdk', 'file', 'raw B', 'gzip -9 B', 'brotli q11 B'], fileRows, 'll'));
  out.push(`budget: raw ≤ ${int(r.size.budget.raw)} B, brotli ≤ ${int(r.size.budget.brotli)} B (ours: ${int(r.size.ours.raw)} / ${int(r.size.ours.brotli)}).`);
  out.push(`the wasm inside the .br: ${int(r.size.wasm.raw)} B raw, ${int(r.size.wasm.gzip)} B gzip, ${int(r.size.wasm.brotli)} B brotli; ` +
    `the Node entry (node/index.js, not shipped to mini-programs) ${int(r.size.nodeEntry.raw)} B.`);
}

/** min / median / max of each figure over the runs. */
function reportSpread(runs, out) {
  const rows = [];
  const line = (label, values, fmt, target) => {
    rows.push([label, fmt(min(values)), fmt(median(values)), fmt(max(values)), target || '']);
  };
  line('inbound ours/official (median of rounds)', runs.map((r) => r.inbound.ratio), x, `≥ ${x(TARGETS.inbound)}`);
  line('outbound ours/official (median of rounds)', runs.map((r) => r.outbound.ratio), x, `≥ ${x(TARGETS.outbound)}`);
  line('(info) outbound unread ours/official', runs.map((r) => r.unread.ratio), x);
  line('(info) inbound ours/official, best/best', runs.map((r) => r.inbound.bestRatio), x);
  line('(info) outbound ours/official, best/best', runs.map((r) => r.outbound.bestRatio), x);
  line('(info) inbound JS model/official', runs.map((r) => r.inbound.modelRatio), x);
  line('(info) outbound JS model/official', runs.map((r) => r.outbound.modelRatio), x);
  line('(info) inbound ours/JS model', runs.map((r) => r.inbound.oursOfModel), x);
  line('(info) outbound ours/JS model', runs.map((r) => r.outbound.oursOfModel), x);
  line('inbound ours, ns per message (median round)', runs.map((r) => r.inbound.nsOurs), (v) => v.toFixed(0));
  line('outbound ours, ns per message (median round)', runs.map((r) => r.outbound.nsOurs), (v) => v.toFixed(0));
  line('time to ready, simulator, best, ms', runs.map((r) => r.readySim.ours), ms, `≤ ${TARGETS.readyMs} ms`);
  line('time to ready, simulator, median, ms', runs.map((r) => r.readySim.oursMedian), ms);
  line('time to ready, Node, best, ms', runs.map((r) => r.readyNode.ours), ms);
  line('wasm linear memory at rest, KiB', runs.map((r) => r.memoryAtRest / KiB), int, `≤ ${TARGETS.memoryKiB} KiB`);
  line('wasm linear memory growth, KiB', runs.map((r) => r.memoryGrowth / KiB), int, '0');
  line('handles held, growth', runs.map((r) => r.handlesGrowth), int, '≤ 0');
  line('shipped brotli, B', runs.map((r) => r.size.ours.brotli), int, `≤ ${int(runs[0].size.budget.brotli)}`);
  line('load average (1 min) at the start of the run', runs.map((r) => r.load), (v) => v.toFixed(2));
  out.push(`spread over ${runs.length} runs (min / median / max of the per-run figures; the targets are read on the medians):`);
  out.push(table(['figure', 'min', 'median', 'max', 'target'], rows, 'lrrrl'));
  out.push(`loads at the start of each run: ${runs.map((r) => r.load.toFixed(2)).join(', ')}.`);
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();

  // 1. pkg/
  const source = opts.pkg ? path.resolve(opts.pkg) : r('pkg');
  const reason = opts.pkg ? null : opts.build === 'always' ? 'forced (--force-build)' : opts.build === 'stale' ? staleReason() : null;
  if (reason || !fs.existsSync(r('node_modules', 'wafer-client-sdk', 'package.json'))) {
    // Installs only what is missing (as npm run demo does): the toolchain, and the official
    // client, a devDependency.
    require('./setup.js').setup();
  }
  if (!opts.pkg) {
    if (reason) {
      log(`building pkg/: ${reason}`);
      // The shipped configuration whatever the environment says (release, wasm-opt, minified).
      await require('./build.js').build({ outDir: 'pkg', quiet: true });
    } else if (opts.build === 'never' && staleReason()) {
      log(`--no-build: measuring pkg/ as it is although ${staleReason()}`);
    }
  }
  const pkgDir = await snapshot(source);
  process.on('exit', () => fs.rmSync(pkgDir, { recursive: true, force: true }));
  const measureStart = Date.now();

  const pkgJson = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const officialVersion = JSON.parse(fs.readFileSync(r('node_modules', 'wafer-client-sdk', 'package.json'), 'utf8')).version;
  const wasmHash = crypto.createHash('sha256').update(fs.readFileSync(path.join(pkgDir, 'node', 'wafer_wasm_bg.wasm'))).digest('hex').slice(0, 12);
  const cpus = os.cpus();
  const env = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: `${cpus.length} × ${(cpus[0] && cpus[0].model) || 'unknown CPU'}`,
    load: os.loadavg()[0].toFixed(2),
  };

  // 2. measurements
  const runs = [];
  for (let i = 0; i < opts.runs; i++) {
    if (opts.runs > 1) log(`run ${i + 1} of ${opts.runs} (load ${os.loadavg()[0].toFixed(2)})`);
    runs.push(await measureOnce(opts, pkgDir));
  }
  let hot = null;
  if (opts.hotpath) {
    log('where a message\'s time goes (crossings, JS heap, CPU profile)');
    hot = await require('../bench/hotpath.js').run({ pkgDir });
  }
  let breakdown = null;
  if (opts.breakdown) {
    log('wasm breakdown (names-preserving build)');
    breakdown = await require('../bench/breakdown.js').run({ pkgDir, log, top: 20 });
  }
  const measureSeconds = (Date.now() - measureStart) / 1000;

  // 3. report
  const last = runs[runs.length - 1];
  const figures = runs.length === 1 ? keyFigures(last) : {};
  if (runs.length > 1) {
    const all = runs.map(keyFigures);
    for (const k of Object.keys(all[0])) figures[k] = median(all.map((f) => f[k]));
  }
  const failures = failuresOf(figures);
  for (const r of runs) {
    if (r.tp.frames.mismatches.length) failures.push(`outbound frames differ from the official client's: ${r.tp.frames.mismatches.slice(0, 3).join('; ')}`);
    for (const h of r.tp.health) failures.push(`throughput run: ${h}`);
    if (!loginsHold(r)) {
      const o = r.logins.ours;
      failures.push(`logins: ${o.succeeded}/${r.logins.concurrent} requests succeeded with ${o.wxLogin} wx.login and ${o.serverLogins} server logins (target: all with 1 and 1)`);
    }
    if (r.logins.ours.sandboxErrors) failures.push(`logins: ${r.logins.ours.sandboxErrors} error(s) or unhandled rejection(s) in our simulator`);
  }

  const out = [];
  out.push('');
  out.push(`wafer-wasm ${pkgJson.version} (wasm sha256 ${wasmHash}) vs wafer-client-sdk ${officialVersion}`);
  out.push(`node ${env.node} · ${env.platform} · ${env.cpu} · load ${env.load} at start`);
  out.push('');
  if (runs.length > 1) out.push(`the last of ${runs.length} runs (load ${last.load.toFixed(2)} at its start):`);
  reportRun(last, out);
  if (runs.length > 1) {
    out.push('');
    reportSpread(runs, out);
  }

  if (hot) {
    out.push('');
    out.push('where a message\'s time goes (bench/hotpath.js):');
    out.push(require('../bench/hotpath.js').format(hot).trimEnd());
    out.push('ours, through the wasm: ours with the tunnel port\'s gate held shut by the bench, as while logging;');
    out.push('JS→wasm / wasm→JS: calls across the boundary per message (exports incl. closure shims / imports incl. handle drops);');
    out.push('JS heap B: bytes allocated on the JavaScript heap per message; JavaScript / wasm / GC %: self time in the CPU profile.');
  }

  if (breakdown) {
    out.push('');
    out.push(`wasm sections (shipped module, ${int(breakdown.shipped.size)} B):`);
    const secRows = breakdown.shipped.sections
      .slice()
      .sort((a, b) => b.size - a.size)
      .map((s) => [s.name, int(s.size), `${((100 * s.size) / breakdown.shipped.size).toFixed(1)}%`]);
    out.push(table(['section', 'bytes', 'share'], secRows, 'l'));
    if (breakdown.named) {
      const n = breakdown.named;
      const delta = n.code - breakdown.shipped.code;
      out.push('');
      out.push(`code by function and crate, from a names-preserving build (${n.file}; ${n.notes.concat(`${n.seconds.toFixed(1)} s`).join(', ')}):`);
      out.push(`  its code section is ${int(n.code)} B vs ${int(breakdown.shipped.code)} B shipped (${delta >= 0 ? '+' : ''}${int(delta)} B, ` +
        `${n.functions} vs ${breakdown.shipped.functions} functions)${Math.abs(delta) > 0.02 * breakdown.shipped.code ? ' — differs by more than 2%: the sources changed since pkg/ was built' : ''}.`);
      out.push('');
      out.push(`top ${breakdown.top.length} functions:`);
      const clip = (s, w) => (s.length > w ? `${s.slice(0, w - 1)}…` : s);
      out.push(table(['bytes', 'share', 'crate', 'function'],
        breakdown.top.map((f) => [int(f.size), `${((100 * f.size) / n.bodies).toFixed(1)}%`, f.crate, clip(f.name, 100)]), 'rrll'));
      out.push('');
      out.push('by crate (function bodies):');
      out.push(table(['crate', 'bytes', 'share', 'functions'],
        breakdown.crates.map((c) => [c.crate, int(c.size), `${((100 * c.size) / n.bodies).toFixed(1)}%`, c.functions]), 'l'));
      out.push('');
      out.push('wafer_wasm by module (after inlining: the core mostly lives inside the runtime functions that drive it):');
      out.push(table(['module', 'bytes', 'share', 'functions'],
        breakdown.modules.filter((m) => m.size >= 100).map((m) => [m.module, int(m.size), `${((100 * m.size) / n.bodies).toFixed(1)}%`, m.functions]), 'l'));
    } else {
      out.push(`(no per-function breakdown: ${breakdown.namedError})`);
    }
  }

  out.push('');
  out.push(`measured in ${measureSeconds.toFixed(1)} s (${((Date.now() - started) / 1000).toFixed(1)} s with the build); load ${os.loadavg()[0].toFixed(2)} at the end.`);
  if (failures.length) {
    out.push('');
    out.push(`TARGETS NOT MET${runs.length > 1 ? ' (on the medians of the runs)' : ''}:`);
    for (const f of failures) out.push(`  - ${f}`);
  } else {
    out.push(`all targets hold${runs.length > 1 ? ' (on the medians of the runs)' : ''}.`);
  }
  console.log(out.join('\n'));

  if (opts.json) {
    fs.writeFileSync(path.resolve(opts.json), `${JSON.stringify({ env, pkg: { version: pkgJson.version, wasmHash }, officialVersion, runs, hotpath: hot, breakdown, figures, failures }, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
  return failures.length ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`bench: FAILED: ${(err && err.stack) || err}`);
      process.exitCode = 2;
    },
  );
}

module.exports = { main };
