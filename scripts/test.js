#!/usr/bin/env node
'use strict';
/**
 * `npm test`: every test layer in order, stopping at the first failure, then a summary with
 * per-layer counts and durations.
 *
 *   node scripts/test.js                      all layers (what `npm test` runs)
 *   node scripts/test.js --only js,e2e        a subset, while developing
 *   node scripts/test.js --skip wasm-test     all but some, while developing
 *   node scripts/test.js --list               the layer names
 *
 * `npm test` always builds and tests the current commit: it refuses --only/--skip, and
 * WAFER_* variables inherited from the environment (build shortcuts such as
 * WAFER_SKIP_WASM_PACK, a stale WAFER_PKG_TARBALL) are removed before any layer runs. A
 * subset that includes a layer testing the package also runs the layers it needs (build,
 * pack, and the tunnel service build where it is used: never an older build), and its
 * summary says it was partial.
 *
 * Layers are data (LAYERS below): a command layer is `command(name, argv, { counts })`, a
 * node --test layer is `nodeTests(name, dir)` (every dir/*.test.js). A layer that counts
 * tests fails when it ran none. The node --test layers get WAFER_PKG_TARBALL = the tarball
 * the pack layer wrote into tests/.tmp/ in the same run.
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { withCargoPath } = require('./setup.js');

const ROOT = path.resolve(__dirname, '..');
const TMP = path.join(ROOT, 'tests', '.tmp');
const NODE = process.execPath;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const WASM_TARGET = 'wasm32-unknown-unknown';

/** Layers every node --test layer needs from the same run: it tests the package they make. */
const PACKAGE_LAYERS = ['build', 'pack'];

// --- the layers, in order --------------------------------------------------------------
const LAYERS = [
  command('setup', [NODE, 'scripts/setup.js']),
  command('fmt', ['cargo', 'fmt', '--check']),
  command('clippy', ['cargo', 'clippy', '--workspace', '--all-targets', '--', '-D', 'warnings']),
  command('clippy-wasm', ['cargo', 'clippy', '--target', WASM_TARGET, '--all-targets', '--', '-D', 'warnings']),
  command('cargo-test', ['cargo', 'test', '--workspace'], { counts: cargoCounts }),
  command('wasm-test', ['wasm-pack', 'test', '--node', '--mode', 'no-install'], { counts: cargoCounts }),
  command('build', [NODE, 'scripts/build.js']),
  { name: 'pack', describe: 'npm pack ./pkg --pack-destination tests/.tmp', run: packLayer },
  command('tunnel-build', ['cargo', 'build', '--profile', 'service', '-p', 'wafer-tunnel', '--bins']),
  nodeTests('wasm-level', 'tests/wasm-level'),
  nodeTests('js', 'tests/js'),
  nodeTests('e2e', 'tests/e2e', { needs: ['tunnel-build'] }),
  nodeTests('frameworks', 'tests/frameworks'),
  nodeTests('reliability', 'tests/reliability'),
  nodeTests('tunnel-e2e', 'tests/tunnel-service', { needs: ['tunnel-build'] }),
];

// --- layer constructors ------------------------------------------------------------------

function command(name, argv, opts = {}) {
  return {
    name,
    describe: argv.map((a) => (a === NODE ? 'node' : a)).join(' '),
    run: async () => {
      const res = await exec(argv, opts.env);
      return { ok: res.code === 0, counts: opts.counts ? opts.counts(res.output) : null, code: res.code };
    },
  };
}

/** `opts.needs`: more layers (besides build and pack) whose output the tests use. */
function nodeTests(name, dir, opts = {}) {
  return {
    name,
    needs: PACKAGE_LAYERS.concat(opts.needs || []),
    describe: `node --test ${dir}/*.test.js`,
    run: async (state) => {
      const abs = path.join(ROOT, dir);
      const files = fs.existsSync(abs)
        ? fs.readdirSync(abs).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(dir, f))
        : [];
      if (files.length === 0) return { ok: false, code: `no ${dir}/*.test.js` };
      if (!state.tarball) return { ok: false, code: 'no package tarball from this run (the pack layer did not run)' };
      fs.mkdirSync(TMP, { recursive: true });
      const tap = path.join(TMP, `${name}.tap`);
      fs.rmSync(tap, { force: true });
      const env = { WAFER_PKG_TARBALL: state.tarball };
      const res = await exec([
        NODE, '--test',
        '--test-reporter=spec', '--test-reporter-destination=stdout',
        '--test-reporter=tap', `--test-reporter-destination=${tap}`,
        ...files,
      ], env);
      const counts = tapCounts(fs.existsSync(tap) ? fs.readFileSync(tap, 'utf8') : '');
      return { ok: res.code === 0 && counts.fail === 0, counts, code: res.code };
    },
  };
}

async function packLayer(state) {
  fs.mkdirSync(TMP, { recursive: true });
  for (const f of fs.readdirSync(TMP)) if (/^wafer-wasm-.*\.tgz$/.test(f)) fs.rmSync(path.join(TMP, f));
  const res = await exec([NPM, 'pack', './pkg', '--pack-destination', TMP, '--json'], {}, { echo: false });
  if (res.code !== 0) {
    process.stdout.write(res.output);
    return { ok: false, code: res.code };
  }
  let info;
  try {
    info = JSON.parse(res.stdout)[0];
  } catch (err) {
    process.stdout.write(res.output);
    return { ok: false, code: `unparsable npm pack --json output (${err.message})` };
  }
  state.tarball = path.join(TMP, info.filename);
  console.log(`${path.relative(ROOT, state.tarball)}: ${info.entryCount} files, ${info.size} B packed, ${info.unpackedSize} B unpacked`);
  for (const f of info.files) console.log(`  ${String(f.size).padStart(9)}  ${f.path}`);
  return { ok: fs.existsSync(state.tarball), counts: null };
}

// --- helpers ---------------------------------------------------------------------------

/** Runs argv in the repo root, streaming its output (unless echo: false) and capturing it. */
function exec(argv, extraEnv, { echo = true } = {}) {
  return new Promise((resolve) => {
    const env = Object.assign({}, process.env, extraEnv || {});
    if (process.stdout.isTTY && !env.CARGO_TERM_COLOR) env.CARGO_TERM_COLOR = 'always';
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['inherit', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      output += d;
      if (echo) process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      output += d;
      if (echo) process.stderr.write(d);
    });
    child.on('error', (err) => resolve({ code: `cannot run ${argv[0]}: ${err.message}`, stdout, output }));
    child.on('close', (code, signal) => resolve({ code: signal ? `killed by ${signal}` : code, stdout, output }));
  });
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** Sums cargo / wasm-bindgen-test-runner `test result: ok. N passed; N failed; N ignored` lines. */
function cargoCounts(output) {
  const counts = { pass: 0, fail: 0, skipped: 0, suites: 0 };
  for (const m of stripAnsi(output).matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)) {
    counts.pass += Number(m[1]);
    counts.fail += Number(m[2]);
    counts.skipped += Number(m[3]);
    counts.suites += 1;
  }
  counts.tests = counts.pass + counts.fail + counts.skipped;
  return counts;
}

/** The final `# tests N`, `# pass N`, ... summary of a node --test TAP report. */
function tapCounts(tap) {
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
  for (const m of tap.matchAll(/^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  counts.fail += counts.cancelled;
  return counts;
}

function describeCounts(c) {
  if (!c) return '';
  const parts = [`${c.pass} passed`];
  if (c.fail) parts.push(`${c.fail} failed`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  if (c.todo) parts.push(`${c.todo} todo`);
  return `${c.tests} tests: ${parts.join(', ')}`;
}

function parseList(argv, flag) {
  const at = argv.indexOf(flag);
  const raw = at >= 0 ? argv[at + 1] : null;
  if (!raw) return null;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

// --- main --------------------------------------------------------------------------------

async function main(argv) {
  const names = LAYERS.map((l) => l.name);
  if (argv.includes('--list')) {
    for (const l of LAYERS) console.log(`${l.name.padEnd(12)} ${l.describe || ''}`);
    return 0;
  }
  let only = parseList(argv, '--only');
  const skip = parseList(argv, '--skip') || [];
  if ((only || skip.length) && process.env.npm_lifecycle_event === 'test') {
    console.error('test: `npm test` runs every layer; for a subset run `node scripts/test.js --only <layers>`');
    return 2;
  }
  for (const n of [...(only || []), ...skip]) {
    if (!names.includes(n)) {
      console.error(`test: unknown layer "${n}"; layers: ${names.join(', ')}`);
      return 2;
    }
  }
  // A test layer never runs on an older build: the layers it needs run too.
  const needs = (n) => LAYERS.find((l) => l.name === n).needs || [];
  if (only) only = [...new Set(only.concat(...only.map(needs)))];
  for (const n of names) {
    const missing = needs(n).filter((d) => skip.includes(d));
    if (missing.length && !skip.includes(n) && (!only || only.includes(n))) {
      console.error(`test: layer ${n} needs ${missing.join(' and ')} from the same run; skip ${n} too`);
      return 2;
    }
  }
  for (const key of Object.keys(process.env)) if (key.startsWith('WAFER_')) delete process.env[key];
  withCargoPath(false);
  const state = { tarball: null };
  const results = [];
  const started = Date.now();
  let failed = null;
  for (const layer of LAYERS) {
    if ((only && !only.includes(layer.name)) || skip.includes(layer.name)) {
      results.push({ name: layer.name, status: 'skipped', note: only ? 'not selected' : 'skipped by request' });
      continue;
    }
    if (failed) {
      results.push({ name: layer.name, status: 'not run' });
      continue;
    }
    console.log(`\n=== test: ${layer.name}${layer.describe ? ` (${layer.describe})` : ''}`);
    const t0 = Date.now();
    let res;
    try {
      res = await layer.run(state);
    } catch (err) {
      console.error(err && err.stack ? err.stack : err);
      res = { ok: false, code: err.message };
    }
    const ms = Date.now() - t0;
    if (res.ok && res.counts && res.counts.pass === 0) res = Object.assign({}, res, { ok: false, code: 'ran zero tests' });
    const status = res.ok ? 'ok' : 'FAILED';
    results.push({ name: layer.name, status, ms, counts: res.counts, note: res.ok ? '' : `exit ${res.code}` });
    console.log(`=== test: ${layer.name} ${status} in ${secs(ms)}`);
    if (!res.ok) failed = layer.name;
  }

  console.log('\n=== test summary');
  for (const r of results) {
    const time = r.ms === undefined ? '' : secs(r.ms);
    console.log(`  ${r.name.padEnd(12)} ${r.status.padEnd(8)} ${time.padStart(8)}  ${[describeCounts(r.counts), r.note].filter(Boolean).join('; ')}`);
  }
  const total = results.reduce((acc, r) => {
    if (r.counts) {
      acc.tests += r.counts.tests;
      acc.pass += r.counts.pass;
      acc.fail += r.counts.fail;
    }
    return acc;
  }, { tests: 0, pass: 0, fail: 0 });
  console.log(`  ${'total'.padEnd(12)} ${(failed ? 'FAILED' : 'ok').padEnd(8)} ${secs(Date.now() - started).padStart(8)}  ${total.tests} tests: ${total.pass} passed, ${total.fail} failed`);
  if (failed) console.log(`test: FAILED at layer "${failed}"`);
  const notRun = results.filter((r) => r.status === 'skipped').map((r) => r.name);
  if (!failed && notRun.length) console.log(`test: PARTIAL run, not a full \`npm test\`: ${notRun.join(', ')} not run`);
  return failed ? 1 : 0;
}

module.exports = { LAYERS, cargoCounts, tapCounts };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
