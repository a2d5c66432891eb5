'use strict';
// Shared fixtures of the sdk-*.test.js suites: the PACKED wafer-wasm package loaded in
// the strict mini-program simulator (tests/sim) against the loopback Wafer servers
// (tests/support).
//
//   const { withSdk } = require('./helpers/sdk');
//   test('...', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => { ... }));
//
// The tarball comes from env WAFER_PKG_TARBALL (what `npm test` sets), else the newest
// tests/.tmp/wafer-wasm-*.tgz (`npm run build && cd tests/.tmp && npm pack ../../pkg`).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');

const { createSim, installPackage, createFakeWechat } = require('../../sim');
const { startServer, waitFor, delay, MAGIC } = require('../../support');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TMP = path.join(ROOT, 'tests', '.tmp');
const SESSION_KEY = `weapp_session_${MAGIC}`;

function findTarball() {
  const fromEnv = process.env.WAFER_PKG_TARBALL;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`WAFER_PKG_TARBALL=${fromEnv} does not exist`);
    return path.resolve(fromEnv);
  }
  const tgz = fs.existsSync(TMP)
    ? fs.readdirSync(TMP).filter((f) => /^wafer-wasm-.*\.tgz$/.test(f)).map((f) => path.join(TMP, f))
    : [];
  tgz.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (!tgz[0]) {
    throw new Error('no wafer-wasm tarball: set WAFER_PKG_TARBALL or run `npm run build && cd tests/.tmp && npm pack ../../pkg`');
  }
  return tgz[0];
}

const TARBALL = findTarball();

// The tarball unpacked once per process (installPackage accepts a directory too).
let unpacked = null;
function packageDir() {
  if (unpacked) return unpacked;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-sdk-pkg-'));
  execFileSync('tar', ['-xzf', TARBALL, '-C', dir]);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  unpacked = path.join(dir, 'package');
  return unpacked;
}

/** The packed package's miniprogram_dist files (for copying the wasm elsewhere). */
function packagedFile(rel) {
  return path.join(packageDir(), 'miniprogram_dist', rel);
}

/** Like DevTools "build npm": miniprogram_npm/wafer-wasm/ in the sim's code package. */
function installSdk(sim) {
  return installPackage(sim.root, packageDir(), 'wafer-wasm');
}

/** Install an official client (node_modules/wafer-client-sdk, wafer2-client-sdk) into a sim. */
function installOfficial(sim, name) {
  return installPackage(sim.root, path.join(ROOT, 'node_modules', name), name);
}

/**
 * Start what a test needs and hand it over; on the way out: let callbacks land, assert
 * the sandbox is clean (nothing thrown, no unhandled rejection), close everything.
 *
 * @param {object} opts
 * @param {'wafer1'|'wafer2'|null} [opts.dialect] server dialect (null: no server)
 * @param {object} [opts.serverOptions] startServer options
 * @param {object} [opts.simOptions] createSim options
 * @param {object|Function|false} [opts.configure] passed to wafer.configure() after require
 *   (default `{ loginUrl: server.urls.login }`; a function gets the server); false: nothing
 * @param {boolean} [opts.require] false: install but do not require (loader tests)
 * @param {Function} [opts.beforeRequire] called with the sim after install, before require
 *   (e.g. to wrap WXWebAssembly.instantiate); what it returns is handed over as `before`
 * @param {boolean} [opts.clean] false: skip assertClean (the test checks problems itself)
 */
async function withSdk(opts, fn) {
  const o = opts || {};
  const dialect = o.dialect === undefined ? 'wafer1' : o.dialect;
  const server = dialect ? await startServer({ dialect, ...(o.serverOptions || {}) }) : null;
  let sim = null;
  let failure = null;
  try {
    sim = createSim(o.simOptions || {});
    installSdk(sim);
    const before = typeof o.beforeRequire === 'function' ? o.beforeRequire(sim) : undefined;
    let wafer = null;
    if (o.require !== false) {
      wafer = sim.require('wafer-wasm');
      let conf = o.configure === undefined ? (server ? { loginUrl: server.urls.login } : false) : o.configure;
      if (typeof conf === 'function') conf = conf(server);
      if (conf) wafer.configure(conf);
    }
    await fn({ sim, server, wafer, urls: server ? server.urls : null, before });
  } catch (e) {
    failure = e;
  }
  try {
    if (sim) {
      await sim.settle();
      if (!failure && o.clean !== false) sim.assertClean();
    }
  } catch (e) {
    failure = failure || e;
  } finally {
    if (sim) await sim.close();
    if (server) await server.stop();
  }
  if (failure) throw failure;
}

/**
 * A stored session obtained by a previous run of the app (another sim logging in with its
 * own WeChat user `prefix`), as the SDK left it in storage.
 */
async function sessionFromAnotherRun(server, prefix = 'previous') {
  const sim = createSim({ wechat: createFakeWechat({ codePrefix: prefix }) });
  try {
    installSdk(sim);
    const wafer = sim.require('wafer-wasm');
    wafer.configure({ loginUrl: server.urls.login });
    await wafer.login();
    await sim.settle();
    sim.assertClean();
    return sim.storage.get(SESSION_KEY);
  } finally {
    await sim.close();
  }
}

/** Both dialects, for `for (const dialect of DIALECTS)` loops. */
const DIALECTS = ['wafer1', 'wafer2'];

/** The session headers a dialect sends. */
const SESSION_HEADERS = { wafer1: ['X-WX-Id', 'X-WX-Skey'], wafer2: ['X-WX-Skey'] };

/** wx.request calls the sim made to `url` (exact path match, query ignored). */
function requestsTo(sim, url) {
  const want = new URL(url);
  return sim.requestLog.filter((r) => {
    const u = new URL(r.url);
    return u.host === want.host && u.pathname === want.pathname;
  });
}

/** Header names (as sent) matching X-WX-* in a logged request. */
function wxHeaders(entry) {
  const out = {};
  for (const [k, v] of Object.entries(entry.header)) if (/^x-wx-/i.test(k)) out[k] = v;
  return out;
}

/** A host copy of a sandbox value (strict deepEqual compares prototypes across realms). */
function plain(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** Settle a sandbox promise into { ok, value } / { ok: false, error } (never throws). */
async function outcome(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Call an SDK function in callback style; resolves { kind: 'success'|'fail', value, calls }. */
function viaCallbacks(fn, options) {
  return new Promise((resolve) => {
    const calls = [];
    let settled = null;
    const ret = fn({
      ...options,
      success: (v) => { calls.push('success'); settled = { kind: 'success', value: v }; },
      fail: (e) => { calls.push('fail'); settled = { kind: 'fail', value: e }; },
      complete: (v) => { calls.push('complete'); resolve({ ...settled, complete: v, calls, returned: ret }); },
    });
  });
}

/** Assert a typed SDK error. */
function assertSdkError(wafer, e, Class, type, msg) {
  assert.ok(e, `${msg || 'expected an error'}: got nothing`);
  assert.ok(e instanceof wafer[Class], `${msg || ''} expected ${Class}, got ${e && e.constructor && e.constructor.name}: ${e && e.message} (${e && e.type})`);
  assert.equal(e.type, type, `${msg || ''} error type (message: ${e.message})`);
}

/** Record tunnel events in order: { name, payload }; `names` defaults to the five built-ins. */
function recordEvents(tunnel, names = ['connect', 'close', 'reconnecting', 'reconnect', 'error']) {
  const events = [];
  for (const name of names) tunnel.on(name, (payload) => events.push({ name, payload, status: tunnel.status }));
  events.names = () => events.map((e) => e.name);
  events.count = (name) => events.filter((e) => e.name === name).length;
  return events;
}

/** Message frames the server received on a tunnel, decoded as { type, content }. */
function receivedMessages(t) {
  return t.frames.filter((f) => typeof f === 'string' && f.startsWith('message:')).map((f) => JSON.parse(f.slice(8)));
}

/** Every message the server received on all tunnels, oldest tunnel first. */
function allReceivedMessages(server) {
  const out = [];
  for (const t of server.tunnels.values()) out.push(...receivedMessages(t));
  return out;
}

/** Fast tunnel options for tests. */
const FAST = { heartbeatInterval: 200, reconnectBaseDelay: 100, reconnectMaxDelay: 200 };

module.exports = {
  TARBALL,
  findTarball,
  SESSION_KEY,
  MAGIC,
  DIALECTS,
  SESSION_HEADERS,
  FAST,
  withSdk,
  installSdk,
  sessionFromAnotherRun,
  installOfficial,
  packagedFile,
  packageDir,
  requestsTo,
  wxHeaders,
  outcome,
  plain,
  viaCallbacks,
  assertSdkError,
  recordEvents,
  receivedMessages,
  allReceivedMessages,
  createSim,
  createFakeWechat,
  startServer,
  waitFor,
  delay,
};
