#!/usr/bin/env node
'use strict';
/**
 * `npm run soak`: the long reliability runs (docs/RELIABILITY.md), bounded, then a summary of
 * the figures. Steps, in order:
 *
 *   props    the property tests of the packet codec, response classifiers, session decoder
 *            and tunnel state machine, 1 000 000 cases each (cargo, optimised, target/soak)
 *   kills    the tunnel server process killed (kill -9) and restarted 25 times while two
 *            phones chat (tests/reliability/tunnel-faults.test.js)
 *   memory   wasm memory: 1 000 open/close cycles and 100 000 inbound messages, twice each
 *            (tests/reliability/memory.test.js)
 *   chat     two phones chat for 120 s under random faults (tests/reliability/long-chat.soak.js)
 *
 *   node scripts/soak.js [--only props,chat] [--skip props] [--cases N] [--kills N]
 *                        [--chat-seconds N] [--seed N]
 *
 * The SDK under test is $WAFER_PKG_TARBALL, else the newest tests/.tmp/wafer-wasm-*.tgz
 * (`npm run build && (cd tests/.tmp && npm pack ../../pkg)`). Figures: one JSON line per
 * measurement in tests/.tmp/soak-figures.jsonl; the summary also lands in
 * tests/.tmp/soak-report.json. Exit code 0 when every step passed (tests marked todo, the
 * known SDK defects, are listed but do not fail the run).
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { withCargoPath } = require('./setup.js');
const { tapCounts } = require('./test.js');

const ROOT = path.resolve(__dirname, '..');
const TMP = path.join(ROOT, 'tests', '.tmp');
const NODE = process.execPath;
const FIGURES = path.join(TMP, 'soak-figures.jsonl');
const REPORT = path.join(TMP, 'soak-report.json');

/** The property tests run at full count: module paths inside the crate's lib test binary. */
const PROPERTY_TESTS = [
  'sansio::packet::tests::props::head_agrees_with_split',
  'sansio::packet::tests::props::message_prefix_agrees_with_parse_head',
  'sansio::packet::tests::props::parse_head_never_panics',
  'sansio::packet::tests::props::arbitrary_utf16_frames_never_panic',
  'sansio::packet::tests::props::split_and_event_name_never_panic',
  'sansio::packet::tests::props::timeout_is_always_clamped',
  'sansio::request::tests::props::classify_response_never_panics',
  'sansio::request::tests::props::never_more_than_one_retry',
  'sansio::login::tests::props::classify_never_panics',
  'sansio::session::tests::props::decode_never_panics_and_yields_sendable_headers',
  'sansio::tunnel::tests::fuzz::handshake_url_never_panics_and_only_yields_socket_urls',
  'sansio::tunnel::tests::props::queued_messages_leave_in_order_exactly_once',
  'sansio::flows::tests::props::every_call_ends_once_with_one_login_at_a_time_and_one_retry_at_most',
];

// An optimised test build without LTO (the release profile's LTO makes it slow to build),
// in its own target directory so it never disturbs `npm run build` or `npm test`.
const CARGO_ENV = {
  CARGO_PROFILE_RELEASE_LTO: 'false',
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS: '16',
  CARGO_PROFILE_RELEASE_OPT_LEVEL: '3',
  CARGO_PROFILE_RELEASE_STRIP: 'false',
  CARGO_PROFILE_RELEASE_DEBUG: 'false',
};

function parseArgs(argv) {
  const args = { only: null, skip: [], cases: 1000000, kills: 25, chatSeconds: 120, seed: null };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const value = () => {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      i += 1;
      return argv[i];
    };
    const num = () => {
      const n = Number(value());
      if (!(n > 0)) throw new Error(`${a} must be a positive number`);
      return n;
    };
    if (a === '--only') args.only = value().split(',');
    else if (a === '--skip') args.skip = value().split(',');
    else if (a === '--cases') args.cases = num();
    else if (a === '--kills') args.kills = num();
    else if (a === '--chat-seconds') args.chatSeconds = num();
    else if (a === '--seed') args.seed = num();
    else if (a === '-h' || a === '--help') args.help = true;
    else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return args;
}

function newestTarball() {
  if (process.env.WAFER_PKG_TARBALL) return path.resolve(process.env.WAFER_PKG_TARBALL);
  if (!fs.existsSync(TMP)) return null;
  const tgz = fs.readdirSync(TMP).filter((f) => /^wafer-wasm-.*\.tgz$/.test(f)).map((f) => path.join(TMP, f));
  tgz.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return tgz[0] || null;
}

/**
 * Run argv (in its own process group, killed on timeout), streaming its output unless quiet;
 * resolves { code, output, ms }.
 */
function run(argv, { env = {}, timeoutMs, quiet = false, prefix = '' } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env: Object.assign({}, process.env, env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const onData = (stream) => (d) => {
      output += d;
      if (!quiet) stream.write(prefix ? String(d).replace(/^(?=.)/gm, prefix) : d);
    };
    child.stdout.on('data', onData(process.stdout));
    child.stderr.on('data', onData(process.stderr));
    let timedOut = false;
    const timer = timeoutMs ? setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    }, timeoutMs) : null;
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: `cannot run ${argv[0]}: ${err.message}`, output, ms: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : signal ? `killed by ${signal}` : code, output, ms: Date.now() - started });
    });
  });
}

/** A node --test step over `files`; counts from its TAP report. */
async function nodeTestStep(name, files, { env, timeoutMs, pattern }) {
  const tap = path.join(TMP, `soak-${name}.tap`);
  const argv = [NODE, '--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`];
  if (pattern) argv.push(`--test-name-pattern=${pattern}`);
  argv.push(...files);
  const res = await run(argv, { env, timeoutMs });
  const counts = tapCounts(fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '');
  const text = fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '';
  const todo = [...text.matchAll(/^\s*not ok \d+ - (.*) # TODO (.*)$/gm)].map((m) => `${m[1]} (${m[2]})`);
  const todoPassing = [...text.matchAll(/^\s*ok \d+ - (.*) # TODO (.*)$/gm)].map((m) => m[1]);
  return { ok: res.code === 0 && counts.fail === 0 && counts.tests > 0, code: res.code, ms: res.ms, counts, todo, todoPassing };
}

/** The lib test binary of an optimised build (built if needed). */
async function propertyTestBinary() {
  const res = await run(['cargo', 'test', '--release', '--lib', '--target-dir', 'target/soak', '--no-run', '--message-format=json'], { env: CARGO_ENV, quiet: true, timeoutMs: 30 * 60 * 1000 });
  if (res.code !== 0) {
    process.stdout.write(res.output.split('\n').filter((l) => !l.startsWith('{')).join('\n'));
    throw new Error(`cargo test --no-run failed (${res.code})`);
  }
  for (const line of res.output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const m = JSON.parse(line);
      if (m.reason === 'compiler-artifact' && m.executable && m.profile && m.profile.test && m.target && m.target.src_path.endsWith(path.join('src', 'lib.rs'))) return m.executable;
    } catch (_) { /* not a message */ }
  }
  throw new Error('no lib test executable in cargo output');
}

async function propsStep(args) {
  const bin = await propertyTestBinary();
  console.log(`property tests: ${path.relative(ROOT, bin)}, ${args.cases.toLocaleString('en')} cases each, ${PROPERTY_TESTS.length} tests`);
  const queue = PROPERTY_TESTS.slice();
  const results = [];
  const workers = Math.max(1, Math.min(os.cpus().length, 4));
  await Promise.all(Array.from({ length: workers }, async () => {
    while (queue.length) {
      const name = queue.shift();
      const res = await run([bin, '--exact', name, '--test-threads', '1'], {
        env: { WAFER_PROPTEST_CASES: String(args.cases), PROPTEST_CASES: String(args.cases) },
        quiet: true,
        timeoutMs: 60 * 60 * 1000,
      });
      const passed = res.code === 0 && /test result: ok\. 1 passed/.test(res.output);
      const r = { test: name, cases: args.cases, seconds: Math.round(res.ms / 100) / 10, ok: passed };
      results.push(r);
      fs.appendFileSync(FIGURES, `${JSON.stringify({ key: 'proptest', ...r })}\n`);
      console.log(`  ${passed ? 'ok    ' : 'FAILED'} ${String(r.seconds).padStart(7)} s  ${name}`);
      if (!passed) process.stdout.write(res.output);
    }
  }));
  const failed = results.filter((r) => !r.ok).length;
  return { ok: failed === 0, counts: { tests: results.length, pass: results.length - failed, fail: failed, todo: 0 } };
}

const STEPS = [
  { name: 'props', describe: 'property tests, 1 000 000 cases each', run: (args) => propsStep(args) },
  {
    name: 'kills',
    describe: 'tunnel server kill -9 and restart while two phones chat',
    run: (args, env) => nodeTestStep('kills', ['tests/reliability/tunnel-faults.test.js'], {
      env: { ...env, WAFER_RELIABILITY_KILLS: String(args.kills) },
      pattern: 'kill -9',
      timeoutMs: (60 + args.kills * 10) * 1000,
    }),
  },
  {
    name: 'memory',
    describe: 'wasm memory at full counts (1 000 cycles, 100 000 messages)',
    run: (args, env) => nodeTestStep('memory', ['tests/reliability/memory.test.js'], {
      env: { ...env, WAFER_RELIABILITY_CYCLES: '1000', WAFER_RELIABILITY_FLOOD: '100000' },
      timeoutMs: 10 * 60 * 1000,
    }),
  },
  {
    name: 'chat',
    describe: 'a long chat under random faults',
    run: (args, env) => nodeTestStep('chat', ['tests/reliability/long-chat.soak.js'], {
      env: { ...env, WAFER_RELIABILITY_CHAT_MS: String(args.chatSeconds * 1000), ...(args.seed ? { WAFER_RELIABILITY_SEED: String(args.seed) } : {}) },
      timeoutMs: (args.chatSeconds + 300) * 1000,
    }),
  },
];

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** The figures worth a line each in the summary. */
function summarize(figures) {
  const lines = [];
  const j = (v) => JSON.stringify(v);
  const brief = (s) => (s && s.n ? `median ${s.median} ms, p95 ${s.p95} ms, max ${s.max} ms (n=${s.n})` : 'n/a');
  for (const f of figures) {
    if (f.key === 'proptest') continue;
    if (f.key === 'tunnel-kill') {
      lines.push(`tunnel server kill -9 ×${f.kills}: detect ${brief(f.detectMs)}; recover after restart ${brief(f.recoverAfterRestartMs)}`);
      for (const [who, d] of Object.entries(f.delivery)) lines.push(`  ${who}: emitted ${d.emitted} (${d.emittedWhileNotActive} while not ACTIVE), lost queued ${d.lostQueued}, lost in flight ${d.lostInFlight}, duplicates ${d.duplicates}, out of order ${d.outOfOrder}; reports lost with the killed server ${d.lostInCrashedServer}`);
    } else if (f.key === 'long-chat') {
      lines.push(`long chat ${f.seconds} s, ${f.totalFaults} faults (seed ${f.seed}), ${f.tunnelServerProcesses} tunnel server processes:`);
      for (const [kind, s] of Object.entries(f.faults)) lines.push(`  ${kind.padEnd(10)} ×${String(s.count).padEnd(3)} detect ${brief(s.detectMs)}; recover ${brief(s.recoverMs)}`);
      for (const [who, d] of Object.entries(f.delivery)) lines.push(`  ${who}: emitted ${d.emitted} (${d.emittedWhileNotActive} while not ACTIVE), lost queued ${d.lostQueued}, lost in flight ${d.lostInFlight}, duplicates ${d.duplicates}, out of order ${d.outOfOrder}; heard by the other phone ${d.heardByOther}`);
    } else if (f.key.startsWith('memory-')) {
      lines.push(`${f.key}: first round +${f.firstRoundGrowth} B (${secs(f.firstRoundMs)}), second round +${f.secondRoundGrowth} B (${secs(f.secondRoundMs)})`);
    } else {
      lines.push(`${f.key}: ${j(f)}`);
    }
  }
  return lines;
}

async function main(argv) {
  let args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`soak: ${e.message}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${fs.readFileSync(__filename, 'utf8').split('\n').slice(3, 23).map((l) => l.replace(/^ \*\/?\s?/, '')).join('\n')}\n`);
    return 0;
  }
  for (const n of [...(args.only || []), ...args.skip]) {
    if (!STEPS.some((s) => s.name === n)) {
      console.error(`soak: unknown step "${n}"; steps: ${STEPS.map((s) => s.name).join(', ')}`);
      return 2;
    }
  }
  withCargoPath(false);
  fs.mkdirSync(TMP, { recursive: true });
  fs.writeFileSync(FIGURES, '');
  const env = { WAFER_RELIABILITY_FIGURES: FIGURES };
  const tarball = newestTarball();
  const selected = STEPS.filter((s) => (!args.only || args.only.includes(s.name)) && !args.skip.includes(s.name));
  if (selected.some((s) => s.name !== 'props')) {
    if (!tarball || !fs.existsSync(tarball)) {
      console.error('soak: no wafer-wasm tarball: set WAFER_PKG_TARBALL or run `npm run build && (cd tests/.tmp && npm pack ../../pkg)`');
      return 1;
    }
    // A private copy: a rebuild meanwhile must not change the package under test.
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-soak-')), path.basename(tarball));
    fs.copyFileSync(tarball, copy);
    env.WAFER_PKG_TARBALL = copy;
    const shown = tarball.startsWith(ROOT + path.sep) ? path.relative(ROOT, tarball) : tarball;
    console.log(`soak: package ${shown} (${fs.statSync(tarball).size} B, ${fs.statSync(tarball).mtime.toISOString()}), tested from a private copy`);
  }
  const started = Date.now();
  const results = [];
  for (const step of selected) {
    console.log(`\n=== soak: ${step.name} (${step.describe})`);
    const t0 = Date.now();
    let res;
    try {
      res = await step.run(args, env);
    } catch (e) {
      console.error(e && e.stack ? e.stack : e);
      res = { ok: false, code: e.message };
    }
    res.ms = Date.now() - t0;
    results.push({ name: step.name, ...res });
    console.log(`=== soak: ${step.name} ${res.ok ? 'ok' : 'FAILED'} in ${secs(res.ms)}`);
  }

  const figures = fs.readFileSync(FIGURES, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const total = Date.now() - started;
  console.log('\n=== soak summary');
  for (const r of results) {
    const c = r.counts;
    const counts = c ? `${c.tests} tests: ${c.pass} passed${c.fail ? `, ${c.fail} failed` : ''}${c.todo ? `, ${c.todo} todo` : ''}${c.skipped ? `, ${c.skipped} not selected` : ''}` : '';
    console.log(`  ${r.name.padEnd(8)} ${(r.ok ? 'ok' : 'FAILED').padEnd(7)} ${secs(r.ms).padStart(8)}  ${counts}${r.ok ? '' : ` (${r.code})`}`);
    for (const t of r.todo || []) console.log(`           known defect (todo): ${t}`);
    for (const t of r.todoPassing || []) console.log(`           todo test now passes (drop its todo): ${t}`);
  }
  const props = figures.filter((f) => f.key === 'proptest');
  if (props.length) {
    console.log(`\n  property tests, ${props[0].cases.toLocaleString('en')} cases each:`);
    for (const p of props) console.log(`    ${p.ok ? 'ok    ' : 'FAILED'} ${String(p.seconds).padStart(7)} s  ${p.test}`);
  }
  const lines = summarize(figures);
  if (lines.length) console.log(`\n  figures:\n${lines.map((l) => `    ${l}`).join('\n')}`);
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  console.log(`\n  total ${failed.length ? 'FAILED' : 'ok'} in ${secs(total)}${failed.length ? ` (failed: ${failed.join(', ')})` : ''}`);
  fs.writeFileSync(REPORT, JSON.stringify({ finishedAt: new Date().toISOString(), seconds: Math.round(total / 1000), args, results, figures }, null, 2));
  console.log(`  report: ${path.relative(ROOT, REPORT)}, figures: ${path.relative(ROOT, FIGURES)}`);
  return failed.length ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

module.exports = { PROPERTY_TESTS, STEPS };
