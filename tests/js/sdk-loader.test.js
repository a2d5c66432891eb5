'use strict';
// Loading the packed wafer-wasm inside the strict mini-program simulator (tests/sim/README.md):
// no WebAssembly/TextEncoder/TextDecoder/fetch/URL/queueMicrotask/FinalizationRegistry, no
// eval; WXWebAssembly with a code-package path; both result shapes; init({ wasmPath });
// .wasm.br from base library 2.14.0; calls made before the wasm is ready; UTF-8 round trips.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const {
  withSdk, packagedFile, outcome, plain, assertSdkError, waitFor, recordEvents, allReceivedMessages, receivedMessages,
  SESSION_KEY, MAGIC, FAST, createSim, installSdk, createFakeWechat, sessionFromAnotherRun,
} = require('./helpers/sdk');

// The mini-program build ships only the brotli file (WXWebAssembly reads it from 2.14.0).
const DEFAULT_WASM = '/miniprogram_npm/wafer-wasm/wafer_wasm_bg.wasm.br';
const MISSING = ['WebAssembly', 'TextEncoder', 'TextDecoder', 'fetch', 'URL', 'queueMicrotask', 'FinalizationRegistry', 'WeakRef', 'process', 'Buffer'];

/** Copy the packaged wasm (the mini-program's brotli file, or `plain`: the Node build's
 * uncompressed one) to `rel` inside the sim's code package. */
function copyWasm(sim, rel, { plain = false } = {}) {
  const to = path.join(sim.root, rel);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  const from = plain ? path.join(packagedFile('..'), 'node', 'wafer_wasm_bg.wasm') : packagedFile('wafer_wasm_bg.wasm.br');
  fs.copyFileSync(from, to);
  return `/${rel}`;
}

function removeDefaultWasm(sim) {
  fs.rmSync(path.join(sim.root, DEFAULT_WASM), { force: true });
}

/** A full login + session request + tunnel round trip: proof that the wasm works. */
async function exercise(wafer, server) {
  const user = await wafer.login();
  assert.equal(typeof user, 'object');
  const res = await wafer.request({ url: server.urls.user });
  assert.equal(res.statusCode, 200);
  assert.equal(res.data.code, 0);
}

describe('runtime without the missing globals', () => {
  test('loads and works with no WebAssembly/TextEncoder/TextDecoder/fetch/URL/queueMicrotask/FinalizationRegistry and eval disabled', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    for (const g of MISSING) assert.equal(sim.evaluate(`typeof ${g}`), 'undefined', `${g} must be absent in the sim`);
    assert.throws(() => sim.evaluate('eval("1")'), (e) => e && e.name === 'EvalError');
    assert.throws(() => sim.evaluate('new Function("return 1")'), (e) => e && e.name === 'EvalError');

    const wafer = sim.require('wafer-wasm');
    wafer.configure({ loginUrl: server.urls.login });
    await exercise(wafer, server);
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const events = recordEvents(tunnel);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    tunnel.emit('ping-test', { n: 1 });
    await waitFor(() => allReceivedMessages(server).length === 1);
    tunnel.close();
    assert.equal(sim.counters.wasmInstantiate, 1);
    // The SDK brought its own UTF-8 codec instead of installing globals into the page.
    for (const g of MISSING) assert.equal(sim.evaluate(`typeof ${g}`), 'undefined', `the SDK must not define global ${g}`);
  }));

  for (const wasmResult of ['instance', 'pair']) {
    test(`WXWebAssembly.instantiate resolving ${wasmResult === 'pair' ? '{ instance, module }' : 'a bare instance'}`, () => withSdk({ dialect: 'wafer2', simOptions: { wasmResult } }, async ({ sim, server, wafer }) => {
      await wafer.init();
      assert.equal(sim.counters.wasmInstantiate, 1);
      await exercise(wafer, server);
    }));
  }
});

describe('init({ wasmPath })', () => {
  test('a non-default path inside the code package', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    const wasmPath = copyWasm(sim, 'assets/sdk/wafer.wasm.br');
    removeDefaultWasm(sim); // the default location must not be what made it work
    const wafer = sim.require('wafer-wasm');
    await wafer.init({ wasmPath });
    wafer.configure({ loginUrl: server.urls.login });
    await exercise(wafer, server);
    assert.equal(sim.counters.wasmInstantiate, 1);
  }));

  test('a wrong path fails with ERR_INIT_FAILED; a later init() with the right path works', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    const wasmPath = copyWasm(sim, 'lib/w.wasm.br');
    removeDefaultWasm(sim);
    const wafer = sim.require('wafer-wasm');
    const bad = await outcome(wafer.init({ wasmPath: '/lib/missing.wasm' }));
    assert.equal(bad.ok, false);
    assertSdkError(wafer, bad.error, 'RequestError', 'ERR_INIT_FAILED');
    assert.ok(bad.error.detail, 'the loader failure is kept as detail');
    // Calls without init() try the default path, which is gone: typed errors of each call's class.
    const login = await outcome(wafer.login({ loginUrl: server.urls.login }));
    assertSdkError(wafer, login.error, 'LoginError', 'ERR_INIT_FAILED');
    const req = await outcome(wafer.request({ url: server.urls.echo }));
    assertSdkError(wafer, req.error, 'RequestError', 'ERR_INIT_FAILED');
    const lwc = await viaFail(wafer.loginWithCode, { loginUrl: server.urls.login });
    assertSdkError(wafer, lwc, 'LoginError', 'ERR_INIT_FAILED');

    await wafer.init({ wasmPath });
    wafer.configure({ loginUrl: server.urls.login });
    await exercise(wafer, server);
    assert.equal(sim.counters.requests, 2, 'no request was made while the wasm was missing');
  }));

  test('a path that is not a wasm file fails with ERR_INIT_FAILED, not an exception', () => withSdk({ dialect: null, require: false }, async ({ sim }) => {
    fs.writeFileSync(path.join(sim.root, 'junk.wasm'), 'this is not wasm');
    const wafer = sim.require('wafer-wasm');
    const r = await outcome(wafer.init({ wasmPath: '/junk.wasm' }));
    assertSdkError(wafer, r.error, 'RequestError', 'ERR_INIT_FAILED');
    await wafer.init();
    assert.equal(sim.counters.wasmInstantiate, 2);
  }));

  test('the package ships only the brotli wasm, loaded by default from base library 2.14.0', () => withSdk({ dialect: 'wafer2', require: false, simOptions: { sdkVersion: '2.14.0' } }, async ({ sim, server }) => {
    const shipped = fs.readdirSync(path.join(sim.root, 'miniprogram_npm', 'wafer-wasm')).sort();
    assert.deepEqual(shipped, ['index.js', 'wafer_wasm_bg.wasm.br']);
    const wafer = sim.require('wafer-wasm');
    wafer.configure({ loginUrl: server.urls.login });
    await exercise(wafer, server);
    assert.equal(sim.counters.wasmInstantiate, 1);
  }));

  test('below 2.14.0 the default .wasm.br fails with ERR_INIT_FAILED; a plain .wasm via init({ wasmPath }) works', () => withSdk({ dialect: 'wafer2', require: false, simOptions: { sdkVersion: '2.13.0' } }, async ({ sim, server }) => {
    const wafer = sim.require('wafer-wasm');
    const r = await outcome(wafer.init());
    assertSdkError(wafer, r.error, 'RequestError', 'ERR_INIT_FAILED');
    await wafer.init({ wasmPath: copyWasm(sim, 'lib/wafer.wasm', { plain: true }) });
    wafer.configure({ loginUrl: server.urls.login });
    await exercise(wafer, server);
  }));

  test('base library below 2.13.0 (no WXWebAssembly): typed errors, no exception', () => withSdk({ dialect: 'wafer1', require: false, simOptions: { sdkVersion: '2.12.0' } }, async ({ sim, server }) => {
    assert.equal(sim.evaluate('typeof WXWebAssembly'), 'undefined');
    const wafer = sim.require('wafer-wasm');
    const login = await outcome(wafer.login({ loginUrl: server.urls.login }));
    assertSdkError(wafer, login.error, 'LoginError', 'ERR_INIT_FAILED');
    const req = await outcome(wafer.request({ url: server.urls.echo }));
    assertSdkError(wafer, req.error, 'RequestError', 'ERR_INIT_FAILED');
    assert.equal(sim.counters.requests, 0);
  }));
});

/** Resolve with the error passed to `fail` (callback style). */
function viaFail(fn, options) {
  return new Promise((resolve, reject) => fn({ ...options, success: () => reject(new Error('unexpected success')), fail: resolve }));
}

describe('calls made before the wasm is ready', () => {
  for (const dialect of ['wafer1', 'wafer2']) {
    test(`${dialect}: login and request right after require() wait for the wasm and share one login`, () => withSdk({ dialect, require: false }, async ({ sim, server }) => {
      const wafer = sim.require('wafer-wasm');
      // All synchronously in the tick of require(): the wasm cannot be instantiated yet.
      wafer.setLoginUrl(server.urls.login);
      const headersBefore = wafer.buildSessionHeader();
      const login = wafer.login();
      const request = wafer.request({ url: server.urls.user, login: true });
      let cbResult = null;
      wafer.request({ url: server.urls.user, login: true, success: (r) => { cbResult = r; } });
      assert.equal(sim.counters.requests, 0, 'nothing was sent before the wasm was ready');
      assert.equal(sim.counters.login, 0);
      assert.deepEqual(plain(headersBefore), {});

      const user = await login;
      assert.equal(typeof user, 'object');
      const res = await request;
      assert.equal(res.statusCode, 200);
      assert.equal(res.data.code, 0);
      await waitFor(() => cbResult);
      assert.equal(cbResult.statusCode, 200);
      // One wasm, one wx.login and one server login for all of it.
      assert.equal(sim.counters.wasmInstantiate, 1);
      assert.equal(sim.counters.login, 1);
      assert.equal(server.counters.logins.total, 1);
      assert.equal(Object.keys(plain(wafer.buildSessionHeader())).length, dialect === 'wafer1' ? 2 : 1);
    }));

    test(`${dialect}: new Tunnel().open() and emit() right after require() (stored session)`, () => withSdk({ dialect, require: false }, async ({ sim, server }) => {
      sim.storage.set(SESSION_KEY, await sessionFromAnotherRun(server));
      const wafer = sim.require('wafer-wasm');
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      assert.equal(tunnel.status, 'CLOSED');
      assert.equal(tunnel.isClosed(), true);
      assert.equal(tunnel.emit('early', 1), true);
      tunnel.open();
      assert.equal(tunnel.status, 'CONNECTING', 'open() sets CONNECTING synchronously, even before the wasm is ready');
      assert.equal(tunnel.isConnecting(), true);
      assert.equal(tunnel.emit('early', 2), true);
      assert.equal(sim.counters.requests, 0);

      await waitFor(() => events.count('connect') === 1 || events.count('error') > 0);
      assert.deepEqual(events.names(), ['connect']);
      assert.equal(tunnel.status, 'ACTIVE');
      assert.equal(events[0].status, 'ACTIVE', 'connect is emitted once ACTIVE');
      await waitFor(() => allReceivedMessages(server).length === 2);
      assert.deepEqual(allReceivedMessages(server), [{ type: 'early', content: 1 }, { type: 'early', content: 2 }]);
      assert.equal(sim.counters.wasmInstantiate, 1);
      assert.equal(sim.counters.login, 0, 'the stored session was used');
      tunnel.close();
      assert.equal(tunnel.status, 'CLOSED');
      await waitFor(() => sim.sockets.open().length === 0 && sim.timers.active().length === 0);
    }));

    test(`${dialect}: a Tunnel closed before the wasm is ready never connects`, () => withSdk({ dialect, require: false }, async ({ sim, server }) => {
      sim.storage.set(SESSION_KEY, await sessionFromAnotherRun(server));
      const wafer = sim.require('wafer-wasm');
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      tunnel.open();
      tunnel.close();
      assert.equal(tunnel.status, 'CLOSED');
      await wafer.init();
      await sim.settle(50);
      assert.equal(tunnel.status, 'CLOSED');
      assert.ok(!events.names().includes('connect'));
      assert.equal(sim.counters.sockets, 0, 'no socket was opened');
      assert.equal(sim.timers.active().length, 0);
    }));
  }

  test('a Tunnel with invalid options created before the wasm is ready does not stay CONNECTING', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    sim.storage.set(SESSION_KEY, await sessionFromAnotherRun(server));
    const wafer = sim.require('wafer-wasm');
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { heartbeatInterval: 5 });
    tunnel.open();
    assert.equal(tunnel.status, 'CONNECTING');
    await wafer.init();
    await sim.settle(50);
    assert.equal(tunnel.status, 'CLOSED', 'the tunnel could not be created: it must not look like it is connecting');
    assert.equal(tunnel.isConnecting(), false);
    assert.equal(tunnel.emit('x', 1), false, 'nothing can be sent on it');
    assert.equal(sim.counters.requests, 0);
    assert.ok(sim.logs.some((l) => l.level === 'error' && l.args.map(String).join(' ').includes('heartbeatInterval')), 'the bad option was reported');
    // Once ready the same options throw at once.
    assert.throws(() => new wafer.Tunnel(server.urls.tunnel, { heartbeatInterval: 5 }), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS');
  }));

  test('configure() with a bad value before the wasm is ready: its promise rejects with the typed error, nothing changes', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    const wafer = sim.require('wafer-wasm');
    const good = wafer.configure({ loginUrl: server.urls.login });
    const bad = wafer.configure({ loginUrl: `${server.url}/nowhere`, protocol: 'nope' });
    assert.ok(bad instanceof sim.global.Promise);
    const login = wafer.login();
    await good;
    await assert.rejects(bad, (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS' && /protocol/.test(e.message));
    await login;
    assert.equal(server.counters.logins.total, 1);
  }));

  test('emit() beyond queueLimit before the wasm is ready: the overflow is reported by an error event once ready', () => withSdk({ dialect: 'wafer1', require: false, serverOptions: { echo: false } }, async ({ sim, server }) => {
    sim.storage.set(SESSION_KEY, await sessionFromAnotherRun(server));
    const wafer = sim.require('wafer-wasm');
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { ...FAST, queueLimit: 2 });
    const events = recordEvents(tunnel);
    for (let i = 0; i < 4; i += 1) tunnel.emit('q', i);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    await waitFor(() => allReceivedMessages(server).length === 2);
    await sim.settle(50);
    assert.deepEqual(allReceivedMessages(server).map((m) => m.content), [0, 1]);
    assert.deepEqual(events.filter((e) => e.name === 'error').map((e) => e.payload.code), [4001, 4001]);
    tunnel.close();
  }));

  test('Session.get/set and clearSession before the wasm is ready use the official storage', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    // A session obtained elsewhere (a first run of the app).
    const first = createSim({ wechat: createFakeWechat({ codePrefix: 'first' }) });
    let stored;
    try {
      installSdk(first);
      const w = first.require('wafer-wasm');
      w.configure({ loginUrl: server.urls.login });
      await w.login();
      stored = first.storage.get(SESSION_KEY);
    } finally {
      await first.close();
    }
    assert.ok(stored && stored.id && stored.skey);

    sim.storage.set(SESSION_KEY, { id: 'old', skey: 'old' });
    const wafer = sim.require('wafer-wasm');
    assert.deepEqual(plain(wafer.Session.get()), { id: 'old', skey: 'old' });
    wafer.Session.set(stored);
    assert.deepEqual(sim.storage.get(SESSION_KEY), stored);
    const res = await wafer.request({ url: server.urls.user });
    assert.equal(res.statusCode, 200);
    assert.equal(res.data.code, 0, 'the session set before init is the one used');
    assert.equal(sim.counters.login, 0);

    const again = createSim();
    try {
      installSdk(again);
      again.storage.set(SESSION_KEY, stored);
      const w = again.require('wafer-wasm');
      w.clearSession();
      assert.equal(again.storage.get(SESSION_KEY), undefined);
      assert.equal(w.Session.get(), null);
      await w.init();
      assert.equal(w.Session.get(), null);
    } finally {
      await again.close();
    }
  }));
});

describe('UTF-8 round trips (Chinese and emoji)', () => {
  const TEXT = '你好，世界！こんにちは 😀🎉👨‍👩‍👧 𠮷 \u00e9';

  test('request data, query, response body and error details', () => withSdk({ dialect: 'wafer1' }, async ({ wafer, server }) => {
    const res = await wafer.request({ url: `${server.urls.echo}?q=${encodeURIComponent(TEXT)}`, method: 'POST', data: { text: TEXT, list: [TEXT] } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.data.body), { text: TEXT, list: [TEXT] });
    assert.equal(res.data.query.q, TEXT);

    // A GET with data (query string built by wx.request).
    const get = await wafer.request({ url: server.urls.echo, data: { text: TEXT } });
    assert.equal(get.data.query.text, TEXT);

    // Server text travels through the wasm (error details, login URL).
    server.respondWith('/login', { body: { [MAGIC]: 1, error: 'ERR_LOGIN_FAILED', message: `登录失败：${TEXT}` } });
    const login = await outcome(wafer.login());
    assertSdkError(wafer, login.error, 'LoginError', 'ERR_LOGIN_MISSING_SESSION');
    assert.equal(login.error.detail, `登录失败：${TEXT}`);
    assert.ok(login.error.message.includes(TEXT), login.error.message);

    await wafer.login({ loginUrl: `${server.urls.login}?from=${encodeURIComponent(TEXT)}&raw=分享😀` });
    const loginReq = server.requestLog.filter((r) => r.path === '/login').pop();
    assert.equal(loginReq.query.from, TEXT);
    assert.equal(loginReq.query.raw, '分享😀');

    server.respondWith('/user', { body: { [MAGIC]: 1, error: 'ERR_CHECK_LOGIN_FAILED', message: TEXT } });
    const check = await outcome(wafer.request({ url: server.urls.user }));
    assertSdkError(wafer, check.error, 'RequestError', 'ERR_CHECK_LOGIN_FAILED');
    assert.equal(check.error.detail, TEXT);
  }));

  test('request headers reach wx.request unchanged', () => withSdk({ dialect: 'wafer2' }, async ({ sim, wafer, server }) => {
    await wafer.login();
    // Node's HTTP client (the simulator's transport) cannot put non-Latin-1 text in a header,
    // so look at what the SDK handed to wx.request, then send it on without that header.
    const original = sim.wx.request;
    const seen = [];
    sim.wx.request = sim.realm.fn((options) => {
      seen.push(plain(options.header));
      const header = {};
      for (const k of Object.keys(options.header)) if (k !== 'X-Text') header[k] = options.header[k];
      return original(Object.assign({}, options, { header }));
    }, 'request');
    try {
      const res = await wafer.request({ url: server.urls.echo, header: { 'X-Text': TEXT } });
      assert.equal(res.statusCode, 200);
    } finally {
      sim.wx.request = original;
    }
    assert.equal(seen.length, 1);
    assert.equal(seen[0]['X-Text'], TEXT);
    assert.equal(seen[0]['X-WX-Skey'], sim.storage.get(SESSION_KEY).skey);
  }));

  test('surrogate pairs and multi-byte text at every offset around the frame head the wasm classifies', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, wafer, server }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const got = [];
    tunnel.on('*', (type, payload) => { if (type !== 'connect') got.push([type, payload]); });
    const events = recordEvents(tunnel);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    const remote = server.latestTunnel();
    const sent = [];
    // 'message:{"type":"' is 17 UTF-16 units; shift emoji and CJK across units 17..40.
    for (let k = 0; k < 24; k += 1) {
      for (const piece of ['😀', '中', '𠮷x', 'é😀']) {
        const type = `${'t'.repeat(k)}${piece}${piece}`;
        const content = `${piece.repeat(k)}|${TEXT}`;
        sent.push([type, content]);
        server.sendMessage(remote.id, type, content);
        tunnel.emit(type, content);
      }
    }
    await waitFor(() => got.length === sent.length && receivedMessages(remote).length === sent.length, { timeout: 5000 });
    assert.deepEqual(plain(got), sent);
    assert.deepEqual(receivedMessages(remote).map((m) => [m.type, m.content]), sent);
    assert.equal(tunnel.status, 'ACTIVE');
    tunnel.close();
  }));

  for (const dialect of ['wafer1', 'wafer2']) {
    test(`${dialect}: tunnel messages both ways, types included, and a Chinese service URL`, () => withSdk({ dialect, serverOptions: { echo: false } }, async ({ sim, wafer, server }) => {
      const user = await wafer.login();
      assert.ok(user);
      const url = `${server.urls.tunnel}?room=${encodeURIComponent('聊天室😀')}`;
      const tunnel = new wafer.Tunnel(url, FAST);
      const got = [];
      tunnel.on('通知🔔', (payload) => got.push(['typed', payload]));
      tunnel.on('*', (type, payload) => { if (type !== 'connect') got.push(['*', type, payload]); });
      const events = recordEvents(tunnel);
      tunnel.open();
      await waitFor(() => events.count('connect') === 1);
      assert.equal(server.requestLog.filter((r) => r.path === new URL(url).pathname).pop().query.room, '聊天室😀');

      assert.equal(tunnel.emit('聊天😀', { text: TEXT, nested: [TEXT, { k: TEXT }] }), true);
      assert.equal(tunnel.emit(TEXT, TEXT), true);
      await waitFor(() => allReceivedMessages(server).length === 2);
      assert.deepEqual(allReceivedMessages(server), [
        { type: '聊天😀', content: { text: TEXT, nested: [TEXT, { k: TEXT }] } },
        { type: TEXT, content: TEXT },
      ]);

      const t = server.latestTunnel();
      server.sendMessage(t.id, '通知🔔', { text: TEXT });
      server.sendMessage(t.id, '通知🔔', TEXT);
      await waitFor(() => got.length === 4);
      assert.deepEqual(plain(got), [
        ['typed', { text: TEXT }],
        ['*', '通知🔔', { text: TEXT }],
        ['typed', TEXT],
        ['*', '通知🔔', TEXT],
      ]);
      tunnel.close();
      await waitFor(() => sim.sockets.open().length === 0);
    }));
  }
});
