'use strict';
// The JS boundary is exception-safe: page objects that throw when read (a `Proxy` header,
// getters that throw in `data` or in the options themselves, listeners that throw) give a
// synchronous typed throw or a typed failure, never a promise that does not settle, and
// the SDK keeps working afterwards. Also the facade's own edge cases: `off()` with odd
// arguments, a resting tunnel whose wasm side cannot be made again, emits before the wasm
// is ready. The packed package in the simulator against the loopback servers.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const {
  withSdk,
  outcome,
  assertSdkError,
  recordEvents,
  receivedMessages,
  sessionFromAnotherRun,
  waitFor,
  FAST,
  SESSION_KEY,
} = require('./helpers/sdk');

/** A generous bound on "settles": far below the test runner's timeout, so a hang fails here. */
const SETTLES_WITHIN_MS = 10000;

/** `promise`'s outcome, or a failure when it has not settled in SETTLES_WITHIN_MS. */
async function settled(promise, what) {
  let timer;
  const hang = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ hung: true }), SETTLES_WITHIN_MS);
  });
  const result = await Promise.race([outcome(promise), hang]);
  clearTimeout(timer);
  assert.ok(!result.hung, `${what}: the promise never settled`);
  return result;
}

/** Objects made inside the page's realm, as page code would make them. */
function hostile(sim) {
  return sim.evaluate(`({
    proxyThrowingEverywhere() {
      const boom = () => { throw new Error('trap'); };
      return new Proxy({}, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom });
    },
    getterThrowing(key, base) {
      const o = Object.assign({}, base);
      Object.defineProperty(o, key, { enumerable: true, get() { throw new Error('getter ' + key); } });
      return o;
    },
  })`);
}

/** A normal request still works (the SDK is not left half-updated by what came before). */
async function stillWorks(wafer, server) {
  const res = await settled(wafer.request({ url: server.urls.user, login: true }), 'a normal request');
  assert.ok(res.ok, `a normal request afterwards: ${res.error && res.error.message}`);
  assert.equal(res.value.statusCode, 200);
}

describe('hostile request options', () => {
  test('a Proxy header: a typed failure naming the header, then a normal request works', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    const r = await settled(wafer.request({ url: server.urls.user, header: h.proxyThrowingEverywhere() }), 'request with a Proxy header');
    assert.equal(r.ok, false);
    assertSdkError(wafer, r.error, 'RequestError', 'ERR_INVALID_PARAMS');
    assert.match(r.error.message, /header could not be read: trap/);
    assert.equal(server.counters.requests['/user'] || 0, 0, 'nothing was sent');
    // The same with login: true (the login runs first, then the send reads the copy).
    const again = await settled(wafer.uploadFile({ url: server.urls.upload, filePath: __filename, name: 'f', header: h.proxyThrowingEverywhere() }), 'upload with a Proxy header');
    assertSdkError(wafer, again.error, 'RequestError', 'ERR_INVALID_PARAMS');
    await stillWorks(wafer, server);
  }));

  test('a header getter that throws, and options that are a throwing Proxy: typed, at once or as a failure', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    const header = h.getterThrowing('X-Custom', { a: '1' });
    const r = await settled(wafer.request({ url: server.urls.user, header }), 'request with a throwing header getter');
    assertSdkError(wafer, r.error, 'RequestError', 'ERR_INVALID_PARAMS');
    assert.match(r.error.message, /header could not be read: getter X-Custom/);
    // Options that throw on any read: the callbacks are read first, so it throws at once,
    // before anything started (no promise left behind to reject unseen).
    assert.throws(() => wafer.request(h.proxyThrowingEverywhere()), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS' && /options could not be read: trap/.test(e.message));
    assert.throws(() => wafer.login(h.proxyThrowingEverywhere()), (e) => e instanceof wafer.LoginError && e.type === 'ERR_INVALID_PARAMS');
    await stillWorks(wafer, server);
  }));

  test('a throwing getter in the options themselves: url, data, callbacks', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    for (const key of ['url', 'data', 'method', 'login']) {
      const options = h.getterThrowing(key, { url: server.urls.user });
      const r = await settled(wafer.request(options), `a throwing ${key} getter`);
      assertSdkError(wafer, r.error, 'RequestError', 'ERR_INVALID_PARAMS', key);
      assert.match(r.error.message, new RegExp(`options could not be read: getter ${key}`), key);
    }
    for (const key of ['success', 'fail', 'complete']) {
      const options = h.getterThrowing(key, { url: server.urls.user });
      assert.throws(() => wafer.request(options), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS', key);
    }
    // login(): the options are read by the wasm; the getter's failure names the field.
    const login = await settled(wafer.login(h.getterThrowing('loginUrl', {})), 'login with a throwing loginUrl getter');
    assertSdkError(wafer, login.error, 'LoginError', 'ERR_INVALID_PARAMS');
    assert.match(login.error.message, /loginUrl could not be read: getter loginUrl/);
    assert.equal(server.counters.logins.total, 0);
    await stillWorks(wafer, server);
  }));

  test('a throwing getter inside data: wx.request cannot send it, a typed failure', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    await wafer.login();
    for (const method of ['GET', 'POST']) {
      const data = h.getterThrowing('field', { ok: 1 });
      const r = await settled(wafer.request({ url: server.urls.echo, method, data }), `${method} with a throwing data getter`);
      assert.equal(r.ok, false, method);
      assertSdkError(wafer, r.error, 'RequestError', 'ERR_REQUEST_FAILED', method);
      assert.match(String(r.error.detail), /getter field/, method);
    }
    await stillWorks(wafer, server);
  }));

  test('configure() and new Tunnel() with throwing getters: typed errors naming the field; nothing changes', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    const bad = await settled(wafer.configure(h.getterThrowing('queueLimit', { requestTimeout: 5 })), 'configure with a throwing getter');
    assertSdkError(wafer, bad.error, 'RequestError', 'ERR_INVALID_PARAMS');
    assert.match(bad.error.message, /queueLimit could not be read/);
    const logger = await settled(wafer.configure(h.getterThrowing('logger', {})), 'configure with a throwing logger getter');
    assertSdkError(wafer, logger.error, 'RequestError', 'ERR_INVALID_PARAMS');
    assert.throws(() => new wafer.Tunnel(server.urls.tunnel, h.proxyThrowingEverywhere()), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS');
    assert.throws(() => new wafer.Tunnel(server.urls.tunnel, h.getterThrowing('heartbeatInterval', {})), (e) => e instanceof wafer.RequestError && /heartbeatInterval could not be read/.test(e.message));
    // The rejected configure() changed nothing: requestTimeout 5 ms would fail this request.
    await stillWorks(wafer, server);
  }));
});

describe('hostile values inside the options', () => {
  // A Proxy or an object that throws when read, where a number, a string or an object
  // belongs: the schema reads a plain copy made behind `catch`, never the page's object,
  // so each is a typed error naming the field (or, where the value is only tested for
  // truthiness or passed on, it works as the official client would treat it).
  test('configure(), new Tunnel(), the legacy knobs: "<field> must be a number"', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    const bad = await settled(wafer.configure({ queueLimit: h.proxyThrowingEverywhere() }), 'configure with a Proxy queueLimit');
    assertSdkError(wafer, bad.error, 'RequestError', 'ERR_INVALID_PARAMS');
    assert.match(bad.error.message, /queueLimit must be a number/);
    const nested = await settled(wafer.configure({ debug: [h.proxyThrowingEverywhere()] }), 'configure with an array of Proxies as debug');
    assert.match(nested.error.message, /debug must be a boolean/);
    assert.throws(() => new wafer.Tunnel(server.urls.tunnel, { heartbeatInterval: h.getterThrowing('x', {}) }), (e) => e instanceof wafer.RequestError && /heartbeatInterval must be a number/.test(e.message));
    const knob = wafer.Tunnel.MAX_RECONNECT_TRY_TIMES;
    wafer.Tunnel.MAX_RECONNECT_TRY_TIMES = h.proxyThrowingEverywhere();
    try {
      assert.throws(() => new wafer.Tunnel(server.urls.tunnel, FAST), (e) => e instanceof wafer.RequestError && /MAX_RECONNECT_TRY_TIMES must be a number/.test(e.message));
    } finally {
      wafer.Tunnel.MAX_RECONNECT_TRY_TIMES = knob;
    }
    await stillWorks(wafer, server);
  }));

  test('request(), login(), requestLogin(): typed errors naming the field; login and data are taken as given', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    const url = await settled(wafer.request({ url: h.proxyThrowingEverywhere() }), 'request with a Proxy url');
    assertSdkError(wafer, url.error, 'RequestError', 'ERR_INVALID_PARAMS');
    assert.match(url.error.message, /url must be a string/);
    const loginUrl = await settled(wafer.login({ loginUrl: h.proxyThrowingEverywhere() }), 'login with a Proxy loginUrl');
    assertSdkError(wafer, loginUrl.error, 'LoginError', 'ERR_INVALID_PARAMS');
    assert.match(loginUrl.error.message, /loginUrl must be a string/);
    const code = await settled(wafer.requestLogin({ loginParams: { code: h.proxyThrowingEverywhere() } }), 'requestLogin with a Proxy code');
    assertSdkError(wafer, code.error, 'LoginError', 'ERR_INVALID_PARAMS');
    assert.match(code.error.message, /loginParams\.code must be a string/);
    const params = await settled(wafer.requestLogin({ loginParams: h.proxyThrowingEverywhere() }), 'requestLogin with Proxy loginParams');
    assert.match(params.error.message, /loginParams could not be read: trap/);
    const getter = await settled(wafer.requestLogin({ loginParams: h.getterThrowing('iv', { code: 'c' }) }), 'requestLogin with a throwing iv getter');
    assert.match(getter.error.message, /loginParams\.iv could not be read: getter iv/);
    assert.equal(server.counters.logins.total, 0, 'nothing was sent');
    // `login` is only tested for truthiness: a Proxy is an object, so the request logs in.
    const res = await settled(wafer.request({ url: server.urls.user, login: h.proxyThrowingEverywhere() }), 'request with a Proxy as login');
    assert.ok(res.ok, res.error && res.error.message);
    assert.equal(server.counters.logins.total, 1);
    await stillWorks(wafer, server);
  }));

  test('Session.set() of a Proxy while storage refuses writes: no session, nothing thrown, requests work', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const h = hostile(sim);
    await wafer.login();
    sim.storage.failWrites = true;
    wafer.Session.set(h.proxyThrowingEverywhere());
    assert.equal(wafer.Session.get(), null, 'kept in memory as storage would keep it: it has no JSON form');
    assert.deepEqual(Object.keys(wafer.buildSessionHeader()), []);
    wafer.Session.set(h.getterThrowing('skey', { id: 'i' }));
    assert.deepEqual(Object.keys(wafer.buildSessionHeader()), []);
    sim.storage.failWrites = false;
    await stillWorks(wafer, server);
  }));
});

describe('listeners and the tunnel facade', () => {
  test('a throwing listener: reported, the tunnel and requests keep working', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const got = [];
    for (const type of ['connect', 'speak', '*']) tunnel.on(type, () => { throw new Error(`listener ${type}`); });
    tunnel.on('speak', (p) => got.push(p));
    tunnel.open();
    await waitFor(() => tunnel.isActive());
    const remote = server.tunnels.get(new URL(tunnel.socketUrl).searchParams.get('tunnelId'));
    for (let i = 0; i < 3; i += 1) server.sendMessage(remote.id, 'speak', i);
    await waitFor(() => got.length === 3);
    assert.deepEqual(got, [0, 1, 2]);
    assert.deepEqual(sim.errors, []);
    const reported = sim.logs.filter((l) => l.level === 'error').map((l) => l.args.map(String).join(' '));
    for (const type of ['connect', 'speak', '*']) assert.ok(reported.some((r) => r.includes(`listener ${type}`)), type);
    assert.equal(tunnel.emit('reply', 1), true);
    await waitFor(() => receivedMessages(remote).some((m) => m.type === 'reply'));
    await stillWorks(wafer, server);
    tunnel.close();
  }));

  test('off() with a type that is not a string, or a listener that is not a function, removes nothing', () => withSdk({ dialect: 'wafer1' }, async ({ server, wafer }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const log = [];
    const speak = (p) => log.push(`speak:${p}`);
    tunnel.on('speak', speak).on('other', (p) => log.push(`other:${p}`)).on('connect', () => log.push('connect'));
    for (const args of [[123], [{}], [true], [['speak']], ['speak', 'not a function'], ['speak', 42], [undefined, {}]]) tunnel.off(...args);
    tunnel.open();
    await waitFor(() => log.includes('connect'));
    const remote = server.tunnels.get(new URL(tunnel.socketUrl).searchParams.get('tunnelId'));
    server.sendMessage(remote.id, 'speak', 1);
    server.sendMessage(remote.id, 'other', 2);
    await waitFor(() => log.length === 3);
    assert.deepEqual(log, ['connect', 'speak:1', 'other:2'], 'every listener is still there');
    // null / undefined still mean "any": off(null, fn) removes fn from every type.
    tunnel.off(null, speak);
    tunnel.off('other');
    server.sendMessage(remote.id, 'speak', 3);
    server.sendMessage(remote.id, 'other', 4);
    server.sendMessage(remote.id, 'ping-me', 5);
    tunnel.on('ping-me', (p) => log.push(`ping-me:${p}`));
    await waitFor(() => log.includes('ping-me:5'));
    assert.deepEqual(log, ['connect', 'speak:1', 'other:2', 'ping-me:5']);
    tunnel.close();
  }));

  test('a resting tunnel whose wasm side cannot be made again throws a typed error and keeps its listeners', () => withSdk({ dialect: 'wafer1' }, async ({ server, wafer }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const events = recordEvents(tunnel);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    tunnel.close();
    await waitFor(() => events.count('close') === 1);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the closed tunnel rests
    const knob = wafer.Tunnel.MAX_RECONNECT_TRY_TIMES;
    wafer.Tunnel.MAX_RECONNECT_TRY_TIMES = 'many';
    try {
      assert.throws(() => tunnel.open(), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS' && /MAX_RECONNECT_TRY_TIMES/.test(e.message));
      assert.equal(tunnel.status, 'CLOSED');
    } finally {
      wafer.Tunnel.MAX_RECONNECT_TRY_TIMES = knob;
    }
    tunnel.open();
    await waitFor(() => events.count('connect') === 2, { message: 'the listeners registered before came back' });
    tunnel.close();
  }));

  test('emits before the wasm is ready are bounded by the queue limit, then sent in order', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    sim.storage.set(SESSION_KEY, await sessionFromAnotherRun(server));
    const wafer = sim.require('wafer-wasm');
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { ...FAST, queueLimit: 3 });
    const events = recordEvents(tunnel);
    tunnel.open();
    const accepted = [1, 2, 3, 4, 5].map((n) => tunnel.emit('early', n));
    assert.deepEqual(accepted, [true, true, true, false, false], 'refused at once beyond the limit');
    // A flood is refused too (only counted while waiting), each refusal reported once ready.
    let refused = 0;
    for (let n = 0; n < 20000; n += 1) if (!tunnel.emit('flood', n)) refused += 1;
    assert.equal(refused, 20000);
    await wafer.init();
    await waitFor(() => tunnel.isActive());
    const overflows = events.filter((e) => e.name === 'error').map((e) => e.payload.code);
    assert.equal(overflows.length, 20002);
    assert.ok(overflows.every((code) => code === wafer.Tunnel.ERR_QUEUE_OVERFLOW));
    const remote = server.tunnels.get(new URL(tunnel.socketUrl).searchParams.get('tunnelId'));
    await waitFor(() => receivedMessages(remote).length === 3);
    assert.deepEqual(receivedMessages(remote).map((m) => m.content), [1, 2, 3]);
    tunnel.close();
  }));

  test('emits before the wasm is ready on a tunnel that cannot be made: reported as not sent, never lost silently', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim, server }) => {
    const wafer = sim.require('wafer-wasm');
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { heartbeatInterval: 5 });
    assert.equal(tunnel.emit('a', 1), true);
    assert.equal(tunnel.emit('a', 2), true);
    await wafer.init();
    await sim.settle(20);
    const reported = sim.logs.filter((l) => l.level === 'error').map((l) => l.args.map(String).join(' '));
    assert.ok(reported.some((r) => r.includes('2 message(s) emitted before init not sent') && r.includes('heartbeatInterval')), reported.join('\n'));
    assert.equal(tunnel.emit('a', 3), false);
  }));
});
