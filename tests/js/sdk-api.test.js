'use strict';
// The public surface of the packed wafer-wasm (README, index.d.ts): every name of both official
// clients with the same values, the additions, the typings, configure() validation, and the
// callback / promise conventions.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const {
  withSdk, installOfficial, packageDir, outcome, viaCallbacks, waitFor, createSim,
} = require('./helpers/sdk');

/** The exports of an official client, loaded in a sim like a mini-program would. */
async function officialExports(name) {
  const sim = createSim();
  try {
    installOfficial(sim, name);
    const mod = sim.require(name);
    const tunnel = new mod.Tunnel('http://127.0.0.1:9/tunnel');
    const statics = {};
    for (const k of Object.keys(mod.Tunnel)) statics[k] = mod.Tunnel[k];
    const instance = Object.keys(tunnel);
    const keys = Object.keys(mod);
    const values = {};
    for (const k of keys) values[k] = typeof mod[k] === 'string' ? mod[k] : typeof mod[k];
    const session = mod.Session ? Object.keys(mod.Session) : null;
    return { keys, values, statics, instance, session };
  } finally {
    await sim.close();
  }
}

describe('exports', () => {
  for (const name of ['wafer-client-sdk', 'wafer2-client-sdk']) {
    test(`every export of ${name} exists with the same kind and value`, () => withSdk({ dialect: null }, async ({ wafer }) => {
      const official = await officialExports(name);
      assert.ok(official.keys.length >= 10, 'official exports were read');
      for (const k of official.keys) {
        assert.ok(k in wafer, `missing export ${k}`);
        const v = official.values[k];
        if (k.startsWith('ERR_')) assert.equal(wafer[k], v, `${k} value`);
        else assert.equal(typeof wafer[k], v, `${k} kind`);
      }
      if (official.session) {
        for (const m of official.session) assert.equal(typeof wafer.Session[m], 'function', `Session.${m}`);
      }
      // Tunnel statics: status strings and error codes, same values.
      const staticKeys = Object.keys(official.statics);
      assert.ok(staticKeys.length >= 8, 'official Tunnel statics were read');
      for (const k of staticKeys) assert.equal(wafer.Tunnel[k], official.statics[k], `Tunnel.${k}`);
      // Instance surface of an official Tunnel.
      const t = new wafer.Tunnel('http://127.0.0.1:9/tunnel');
      for (const k of official.instance) assert.ok(k in t, `Tunnel#${k}`);
      for (const k of official.instance) {
        if (typeof t[k] === 'function') continue;
        assert.ok(['serviceUrl', 'socketUrl', 'status'].includes(k), `unexpected data member ${k}`);
      }
      assert.equal(t.status, 'CLOSED');
      assert.equal(t.serviceUrl, 'http://127.0.0.1:9/tunnel');
      assert.equal(t.socketUrl, null);
    }));
  }

  test('the union of both plus the additions, with the exact values of the official clients', () => withSdk({ dialect: null }, async ({ wafer }) => {
    for (const fn of ['setLoginUrl', 'login', 'loginWithCode', 'request', 'clearSession', 'buildSessionHeader', 'uploadFile', 'configure', 'init']) {
      assert.equal(typeof wafer[fn], 'function', fn);
    }
    for (const m of ['get', 'set', 'clear']) assert.equal(typeof wafer.Session[m], 'function', `Session.${m}`);
    assert.equal(wafer.clearSession, wafer.Session.clear);
    assert.equal(wafer.ERR_LOGIN_SESSION_NOT_RECEIVED, 'ERR_LOGIN_MISSING_SESSION');
    assert.equal(wafer.ERR_INVALID_SESSION, 'ERR_INVALID_SESSION');
    assert.equal(wafer.ERR_SESSION_INVALID, 'ERR_SESSION_INVALID');
    assert.equal(wafer.ERR_INIT_FAILED, 'ERR_INIT_FAILED');
    for (const k of Object.keys(wafer).filter((k) => k.startsWith('ERR_') && k !== 'ERR_LOGIN_SESSION_NOT_RECEIVED')) {
      assert.equal(wafer[k], k, `${k} is its own name`);
    }
    const T = wafer.Tunnel;
    assert.deepEqual(
      [T.STATUS_CLOSED, T.STATUS_CONNECTING, T.STATUS_ACTIVE, T.STATUS_RECONNECTING],
      ['CLOSED', 'CONNECTING', 'ACTIVE', 'RECONNECTING'],
    );
    assert.deepEqual(
      [T.ERR_CONNECT_SERVICE, T.ERR_CONNECT_SOCKET, T.ERR_RECONNECT, T.ERR_SOCKET_ERROR, T.ERR_QUEUE_OVERFLOW],
      [1001, 1002, 2001, 3001, 4001],
    );
    const t = new T('http://127.0.0.1:9/x');
    for (const m of ['on', 'off', 'open', 'emit', 'close', 'isClosed', 'isConnecting', 'isActive', 'isReconnecting']) {
      assert.equal(typeof t[m], 'function', `Tunnel#${m}`);
    }
    assert.equal(t.isClosed(), true);
  }));

  test('the README migration tables, English and Chinese, have the same rows and name every official export', () => withSdk({ dialect: null }, async () => {
    const readme = fs.readFileSync(`${packageDir()}/README.md`, 'utf8');
    const section = (heading, next) => {
      const at = readme.indexOf(heading);
      assert.ok(at >= 0, `README has "${heading}"`);
      const end = readme.indexOf(next, at + heading.length);
      return readme.slice(at, end < 0 ? undefined : end);
    };
    const rows = (text) => text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('|---'));
    const en = section('## Migrating from the official clients', '\n## ');
    const zh = section('### 从官方 SDK 迁移', '\n### ');
    assert.ok(rows(en).length >= 30, `English table rows: ${rows(en).length}`);
    assert.equal(rows(zh).length, rows(en).length, 'the Chinese table has every row of the English one');
    for (const name of ['wafer-client-sdk', 'wafer2-client-sdk']) {
      const official = await officialExports(name);
      const names = [
        ...official.keys,
        ...Object.keys(official.statics).filter((k) => !/^(STATUS|ERR)_/.test(k)),
        'MAX_RECONNECT_TRY_TIMES', 'RECONNECT_TIME_INCREASE', 'requestLogin',
      ];
      for (const k of names) {
        const shown = k.startsWith('ERR_') ? (t) => t.includes('`ERR_*`') : (t) => t.includes(`\`${k}`);
        assert.ok(shown(en), `English migration table names ${k}`);
        assert.ok(shown(zh), `Chinese migration table names ${k}`);
      }
    }
  }));

  test('LoginError and RequestError are Error classes carrying type, message and detail', () => withSdk({ dialect: null }, async ({ sim, wafer }) => {
    for (const C of [wafer.LoginError, wafer.RequestError]) {
      const e = new C('ERR_X', 'msg', 'the detail');
      assert.ok(e instanceof C);
      assert.ok(e instanceof sim.global.Error, 'a sandbox Error');
      assert.equal(e.type, 'ERR_X');
      assert.equal(e.message, 'msg');
      assert.equal(e.detail, 'the detail');
      assert.equal(e.name, C.name);
      assert.equal(typeof e.stack, 'string');
    }
    assert.ok(!(new wafer.LoginError('a', 'b') instanceof wafer.RequestError));
  }));

  test('index.d.ts declares every runtime export', () => withSdk({ dialect: null }, async ({ wafer }) => {
    const dts = fs.readFileSync(`${packageDir()}/index.d.ts`, 'utf8');
    for (const k of Object.keys(wafer)) {
      const declared = new RegExp(`export (?:declare )?(?:function|const|class|let|var|namespace) ${k}\\b`).test(dts);
      assert.ok(declared, `index.d.ts does not declare ${k}`);
    }
    for (const k of Object.keys(wafer.Tunnel).filter((k) => /^(STATUS|ERR)_/.test(k))) {
      assert.match(dts, new RegExp(`static ${k}\\b`), `index.d.ts does not declare Tunnel.${k}`);
    }
  }));
});

describe('configure()', () => {
  test('rejects bad values with RequestError ERR_INVALID_PARAMS (a promise, never a throw) and keeps the previous settings', () => withSdk({ dialect: 'wafer1' }, async ({ wafer, server }) => {
    await wafer.init();
    const invalid = (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS';
    await assert.rejects(wafer.configure('wafer2'), invalid);
    await assert.rejects(wafer.configure(null), invalid);
    for (const bad of [
      { protocol: 'wafer9' },
      { loginUrl: '' },
      { requestTimeout: -1 },
      { queueLimit: -1 },
      { heartbeatInterval: 0 },
      { reconnectBaseDelay: Number.NaN },
      { maxReconnectAttempts: 1.5 },
      { logger: 'console' },
      // a bad field poisons the whole call: the loginUrl of it must not be taken
      { loginUrl: 'http://127.0.0.1:9/nowhere', protocol: 'nope' },
    ]) {
      let returned;
      assert.doesNotThrow(() => { returned = wafer.configure(bad); }, JSON.stringify(bad));
      await assert.rejects(returned, invalid, JSON.stringify(bad));
    }
    const invalidUrl = (e) => e instanceof wafer.LoginError && e.type === 'ERR_INVALID_PARAMS';
    await assert.rejects(wafer.setLoginUrl(''), invalidUrl);
    await assert.rejects(wafer.setLoginUrl(42), invalidUrl);
    assert.equal(await wafer.configure({ requestTimeout: 5000 }), undefined, 'a good value resolves');
    // The loginUrl configured by the fixture is still in force.
    await wafer.login();
    assert.equal(server.counters.logins.total, 1);
  }));

  test('setLoginUrl() and configure({ loginUrl }) both set the login URL; login({ loginUrl }) overrides for one call', () => withSdk({ dialect: 'wafer1', configure: false }, async ({ wafer, server, sim }) => {
    wafer.setLoginUrl(server.urls.login);
    await wafer.login();
    assert.equal(server.counters.logins.total, 1);
    wafer.clearSession();
    wafer.configure({ loginUrl: `${server.url}/nowhere` });
    const r = await outcome(wafer.login());
    assert.equal(r.ok, false);
    assert.equal(server.counters.requests['/nowhere'], 1);
    await wafer.login({ loginUrl: server.urls.login });
    assert.equal(server.counters.logins.total, 2);
    assert.equal(sim.counters.login, 3);
  }));
});

describe('callbacks and promises', () => {
  test('with success/fail: exactly one of them, then complete with the same value; returns the task or undefined', () => withSdk({ dialect: 'wafer2' }, async ({ wafer, server }) => {
    const ok = await viaCallbacks(wafer.request, { url: server.urls.user, login: true });
    assert.deepEqual(ok.calls, ['success', 'complete']);
    assert.deepEqual(Object.keys(ok.returned), ['abort'], "request() returns its task, as wx.request");
    assert.equal(ok.value.statusCode, 200);
    assert.equal(ok.complete, ok.value);

    const bad = await viaCallbacks(wafer.request, { url: '' });
    assert.deepEqual(bad.calls, ['fail', 'complete']);
    assert.equal(typeof bad.returned.abort, 'function');
    assert.ok(bad.value instanceof wafer.RequestError);
    assert.equal(bad.complete, bad.value);

    const login = await viaCallbacks(wafer.login, {});
    assert.deepEqual(login.calls, ['success', 'complete']);
    assert.equal(login.returned, undefined);
    assert.equal(login.value.openId, 'code');

    const lwc = await viaCallbacks(wafer.loginWithCode, {});
    assert.deepEqual(lwc.calls, ['success', 'complete']);

    const lwcFail = await viaCallbacks(wafer.loginWithCode, { loginUrl: `${server.url}/nowhere` });
    assert.deepEqual(lwcFail.calls, ['fail', 'complete']);
    assert.ok(lwcFail.value instanceof wafer.LoginError);
  }));

  test('success alone or fail alone still selects callback style', () => withSdk({ dialect: 'wafer1' }, async ({ wafer, server, sim }) => {
    const seen = [];
    const r1 = wafer.request({ url: server.urls.echo, success: (res) => seen.push(['success', res.statusCode]) });
    const r2 = wafer.request({ url: '', fail: (e) => seen.push(['fail', e.type]) });
    // A failure with only `success` given: no unhandled rejection, nothing called.
    const r3 = wafer.request({ url: '', success: () => seen.push(['wrong']) });
    for (const r of [r1, r2, r3]) assert.ok(!(r instanceof sim.global.Promise) && typeof r.abort === 'function', 'the task, not a promise');
    await waitFor(() => seen.length === 2);
    await sim.settle(20);
    assert.deepEqual(seen.sort(), [['fail', 'ERR_INVALID_PARAMS'], ['success', 200]]);
  }));

  test('without success/fail: a sandbox promise; complete still runs', () => withSdk({ dialect: 'wafer1' }, async ({ wafer, server, sim }) => {
    let completed = null;
    const p = wafer.request({ url: server.urls.echo, complete: (r) => { completed = r; } });
    assert.ok(p instanceof sim.global.Promise, 'request returns a promise of the mini-program realm');
    const res = await p;
    await waitFor(() => completed);
    assert.equal(completed, res);
    const lp = wafer.login();
    assert.ok(lp instanceof sim.global.Promise);
    await lp;
    const lwc = wafer.loginWithCode();
    assert.ok(lwc instanceof sim.global.Promise);
    await outcome(lwc); // Wafer 1 servers refuse a code-only login; only the style matters here
    let failed = null;
    const bad = wafer.request({ url: '', complete: (e) => { failed = e; } });
    const r = await outcome(bad);
    assert.equal(r.ok, false);
    await waitFor(() => failed);
    assert.equal(failed, r.error);
  }));

  test('an exception thrown by a user callback is reported, not thrown, and breaks nothing', () => withSdk({ dialect: 'wafer1' }, async ({ wafer, server, sim }) => {
    const order = [];
    wafer.request({
      url: server.urls.echo,
      success: () => { order.push('success'); throw new Error('user bug in success'); },
      complete: () => { order.push('complete'); throw new Error('user bug in complete'); },
    });
    wafer.request({
      url: '',
      fail: () => { order.push('fail'); throw new Error('user bug in fail'); },
    });
    wafer.login({ success: () => { order.push('login'); throw new Error('user bug in login success'); } });
    await waitFor(() => order.length === 4);
    await sim.settle(20);
    assert.deepEqual(order.slice().sort(), ['complete', 'fail', 'login', 'success']);
    assert.ok(order.indexOf('success') < order.indexOf('complete'), 'complete still ran after a throwing success');
    // Reported (console), never an uncaught error or unhandled rejection in the page.
    assert.deepEqual(sim.errors, []);
    assert.deepEqual(sim.unhandledRejections, []);
    const reported = sim.logs.filter((l) => l.level === 'error').map((l) => l.args.map(String).join(' '));
    for (const text of ['user bug in success', 'user bug in complete', 'user bug in fail', 'user bug in login success']) {
      assert.ok(reported.some((r) => r.includes(text)), `"${text}" was reported: ${JSON.stringify(reported)}`);
    }
    // Still works.
    const res = await wafer.request({ url: server.urls.user });
    assert.equal(res.statusCode, 200);
    assert.equal(res.data.code, 0);
  }));

  test('a failed promise-style call with nobody listening is the page\'s own unhandled rejection, a callback-style one is not', () => withSdk({ dialect: null, clean: false }, async ({ wafer, sim }) => {
    wafer.request({ url: '', fail() {} });
    wafer.login({ fail() {} }); // no login URL
    await sim.settle(30);
    assert.deepEqual(sim.unhandledRejections, []);
    wafer.request({ url: '' }); // promise style, ignored by the caller: like any rejected promise
    await waitFor(() => sim.unhandledRejections.length === 1);
    assert.equal(sim.unhandledRejections[0].type, 'ERR_INVALID_PARAMS');
    assert.deepEqual(sim.errors, []);
  }));
});

describe('init()', () => {
  test('init() resolves once and loads the wasm once, however many callers', () => withSdk({ dialect: 'wafer1', require: false }, async ({ sim }) => {
    const wafer = sim.require('wafer-wasm');
    const results = await Promise.all([wafer.init(), wafer.init(), wafer.init({})]);
    assert.deepEqual(results, [undefined, undefined, undefined]);
    await wafer.init();
    assert.equal(sim.counters.wasmInstantiate, 1);
  }));
});
