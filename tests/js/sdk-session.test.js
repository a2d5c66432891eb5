'use strict';
// Sessions and login (README: API tour, migration table) in both dialects: the official storage key and
// shape, sessions of the official clients read as-is (and ours read by them), single-flight
// login, wx.checkSession reuse, loginWithCode, typed failures, protocol 'auto', corrupted and
// read-only storage.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const {
  withSdk, installOfficial, outcome, plain, assertSdkError, requestsTo, wxHeaders, waitFor,
  SESSION_KEY, MAGIC, DIALECTS, SESSION_HEADERS,
} = require('./helpers/sdk');

const OFFICIAL = { wafer1: 'wafer-client-sdk', wafer2: 'wafer2-client-sdk' };

/** The user info login() resolves with, per dialect, from the stored session. */
function userInfoOf(dialect, stored) {
  return dialect === 'wafer1' ? stored.userInfo : stored.userinfo;
}

/** Run an official client's callback API as a promise. */
function officialCall(fn, options) {
  return new Promise((resolve, reject) => fn(Object.assign({}, options, { success: resolve, fail: reject })));
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: login and the stored session`, () => {
    test('login() stores the official shape under the official key; Session.get() returns it', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      assert.equal(wafer.Session.get(), null);
      const user = await wafer.login();
      assert.deepEqual(sim.storage.keys(), [SESSION_KEY], 'one storage key, the official one');
      const stored = sim.storage.get(SESSION_KEY);
      if (dialect === 'wafer1') {
        // { id, skey, userInfo }: the server's session plus wx.getUserInfo's userInfo.
        assert.deepEqual(Object.keys(stored).sort(), ['id', 'skey', 'userInfo']);
        const [id] = server.state.sessions.keys();
        assert.equal(stored.id, id);
        assert.equal(stored.skey, server.state.sessions.get(id).skey);
        assert.deepEqual(stored.userInfo, sim.wechat.userInfo);
      } else {
        // The response's `data` as is.
        assert.deepEqual(Object.keys(stored).sort(), ['loginKind', 'skey', 'userinfo']);
        assert.ok(server.state.sessions.has(stored.skey));
        assert.equal(stored.userinfo.openId, 'code');
      }
      assert.deepEqual(plain(user), userInfoOf(dialect, stored));
      assert.deepEqual(plain(wafer.Session.get()), stored);
      assert.equal(sim.counters.login, 1);
      assert.equal(sim.counters.getUserInfo, 1);
      assert.equal(server.counters.logins.total, 1);
      assert.equal(server.counters.logins.full, 1);
      // The login request carried the three login headers and nothing else of ours.
      const [loginReq] = requestsTo(sim, server.urls.login);
      assert.deepEqual(Object.keys(wxHeaders(loginReq)).sort(), ['X-WX-Code', 'X-WX-Encrypted-Data', 'X-WX-IV']);
      assert.equal(loginReq.header['X-WX-Code'], sim.wechat.codes[0]);
      assert.equal(loginReq.method, 'GET');
    }));

    test('Session.set() / Session.clear() / clearSession() write the official key', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const stored = sim.storage.get(SESSION_KEY);
      wafer.Session.clear();
      assert.equal(sim.storage.get(SESSION_KEY), undefined);
      assert.equal(wafer.Session.get(), null);
      assert.deepEqual(plain(wafer.buildSessionHeader()), {});
      wafer.Session.set(stored);
      assert.deepEqual(sim.storage.get(SESSION_KEY), stored);
      assert.deepEqual(plain(wafer.Session.get()), stored);
      const res = await wafer.request({ url: server.urls.user });
      assert.equal(res.data.code, 0);
      wafer.clearSession();
      assert.equal(sim.storage.get(SESSION_KEY), undefined);
      assert.equal(sim.counters.login, 1);
    }));

    test('a session written by the official client is read as-is', () => withSdk({ dialect, require: false }, async ({ sim, server }) => {
      installOfficial(sim, OFFICIAL[dialect]);
      const official = sim.require(OFFICIAL[dialect]);
      official.setLoginUrl(server.urls.login);
      const officialUser = await officialCall(official.login, { loginUrl: server.urls.login });
      const written = sim.storage.get(SESSION_KEY);
      assert.ok(written && written.skey, 'the official client stored a session');
      assert.equal(server.counters.logins.total, 1);

      const wafer = sim.require('wafer-wasm');
      wafer.configure({ loginUrl: server.urls.login });
      const expected = {};
      for (const h of SESSION_HEADERS[dialect]) expected[h] = h === 'X-WX-Id' ? written.id : written.skey;
      // Synchronous answers from storage, before and after the wasm is ready.
      assert.deepEqual(plain(wafer.Session.get()), written);
      assert.deepEqual(plain(wafer.buildSessionHeader()), expected);
      await wafer.init();
      assert.deepEqual(plain(wafer.Session.get()), written);
      assert.deepEqual(plain(wafer.buildSessionHeader()), expected);
      const res = await wafer.request({ url: server.urls.user });
      assert.equal(res.statusCode, 200);
      assert.equal(res.data.code, 0);
      assert.deepEqual(wxHeaders(requestsTo(sim, server.urls.user)[0]), expected);
      // request({ login: true }) with that session and a valid WeChat session: no login at all.
      await wafer.request({ url: server.urls.user, login: true });
      assert.equal(sim.counters.login, 1, 'only the official client called wx.login');
      assert.equal(server.counters.logins.total, 1);
      assert.deepEqual(sim.storage.get(SESSION_KEY), written, 'the stored value was left as it was');
      // login(): Wafer 1 reuses it too (as 0.8); Wafer 2 always asks the server (as 2.1).
      const user = await wafer.login();
      assert.deepEqual(plain(user), plain(officialUser));
      assert.equal(server.counters.logins.total, dialect === 'wafer1' ? 1 : 2);
    }));

    test('the official client reads a session written by wafer-wasm', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      installOfficial(sim, OFFICIAL[dialect]);
      const official = sim.require(OFFICIAL[dialect]);
      const res = await officialCall(official.request, { url: server.urls.user });
      assert.equal(res.statusCode, 200);
      assert.equal(res.data.code, 0);
      assert.equal(server.counters.logins.total, 1);
    }));

    test('20 concurrent request({ login: true }) without a session: ONE wx.login, ONE server login', () => withSdk({ dialect, serverOptions: { loginDelayMs: 30 } }, async ({ sim, server, wafer }) => {
      const results = await Promise.all(Array.from({ length: 20 }, () => wafer.request({ url: server.urls.user, login: true })));
      for (const r of results) {
        assert.equal(r.statusCode, 200);
        assert.equal(r.data.code, 0);
      }
      assert.equal(sim.counters.login, 1);
      assert.equal(sim.counters.getUserInfo, 1);
      assert.equal(server.counters.logins.total, 1);
      assert.equal(server.counters.logins.failed, 0);
      assert.equal(requestsTo(sim, server.urls.login).length, 1);
      assert.equal(requestsTo(sim, server.urls.user).length, 20, 'no request was retried');
    }));

    test('login() and a burst of request({ login: true }) in parallel still log in once', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const all = [wafer.login(), ...Array.from({ length: 5 }, () => wafer.request({ url: server.urls.user, login: true })), wafer.login()];
      const out = await Promise.all(all);
      assert.deepEqual(plain(out[0]), plain(out[6]));
      assert.equal(sim.counters.login, 1);
      assert.equal(server.counters.logins.total, 1);
    }));

    test(`valid stored session + wx.checkSession success: request({ login: true })${dialect === 'wafer1' ? ' and login()' : ''} log in zero times`, () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const first = await wafer.login();
      const stored = sim.storage.get(SESSION_KEY);
      const checks = sim.counters.checkSession;
      const burst = await Promise.all(Array.from({ length: 10 }, () => wafer.request({ url: server.urls.user, login: true })));
      for (const r of burst) assert.equal(r.data.code, 0);
      assert.equal(sim.counters.login, 1);
      assert.equal(server.counters.logins.total, 1);
      assert.ok(sim.counters.checkSession > checks, 'wx.checkSession was asked');
      assert.deepEqual(sim.storage.get(SESSION_KEY), stored);
      if (dialect === 'wafer1') {
        // Wafer 1 login() reuses it as well (0.8 does); Wafer 2's always asks (sdk-fidelity).
        const again = await wafer.login();
        assert.deepEqual(plain(again), plain(first));
        await wafer.login({ success() {} });
        assert.equal(sim.counters.login, 1);
        assert.equal(server.counters.logins.total, 1);
        assert.deepEqual(sim.storage.get(SESSION_KEY), stored);
      }
    }));

    test('wx.checkSession failure: exactly one fresh login replaces the session', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const old = sim.storage.get(SESSION_KEY);
      sim.wechat.sessionValid = false;
      const results = await Promise.all([
        wafer.login(),
        ...Array.from({ length: 5 }, () => wafer.request({ url: server.urls.user, login: true })),
      ]);
      for (const r of results.slice(1)) assert.equal(r.data.code, 0);
      assert.equal(sim.counters.login, 2);
      assert.equal(server.counters.logins.total, 2);
      const fresh = sim.storage.get(SESSION_KEY);
      assert.notEqual(fresh.skey, old.skey);
      assert.deepEqual(wxHeaders(requestsTo(sim, server.urls.user).pop())['X-WX-Skey'], fresh.skey);
    }));

    test('loginWithCode() sends only X-WX-Code and never reuses the stored session', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const infoCalls = sim.counters.getUserInfo;
      const r = await outcome(wafer.loginWithCode());
      const loginReqs = requestsTo(sim, server.urls.login);
      assert.equal(loginReqs.length, 2);
      assert.deepEqual(wxHeaders(loginReqs[1]), { 'X-WX-Code': sim.wechat.codes[1] });
      assert.equal(sim.counters.getUserInfo, infoCalls, 'no wx.getUserInfo for a code login');
      assert.equal(sim.counters.login, 2);
      if (dialect === 'wafer2') {
        assert.equal(r.ok, true, r.error && r.error.message);
        assert.equal(r.value.openId, 'code');
        assert.equal(server.counters.logins.code, 1);
        const stored = sim.storage.get(SESSION_KEY);
        assert.equal(stored.loginKind, 'code');
        assert.deepEqual(plain(r.value), stored.userinfo);
      } else {
        // A Wafer 1 server needs the three headers: its refusal is a typed LoginError.
        assertSdkError(wafer, r.error, 'LoginError', 'ERR_LOGIN_MISSING_SESSION');
      }
    }));

    test('no login URL: LoginError ERR_INVALID_PARAMS, nothing called', () => withSdk({ dialect, configure: false }, async ({ sim, server, wafer }) => {
      const r = await outcome(wafer.login());
      assertSdkError(wafer, r.error, 'LoginError', 'ERR_INVALID_PARAMS');
      const w = await outcome(wafer.loginWithCode());
      assertSdkError(wafer, w.error, 'LoginError', 'ERR_INVALID_PARAMS');
      const q = await outcome(wafer.request({ url: server.urls.user, login: true }));
      assertSdkError(wafer, q.error, 'LoginError', 'ERR_INVALID_PARAMS');
      assert.equal(sim.counters.login, 0);
      assert.equal(sim.counters.requests, 0);
    }));

    test('wx.login failure: LoginError ERR_WX_LOGIN_FAILED, shared by concurrent callers; the next call retries', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      sim.wechat.failLogin = 1;
      const results = await Promise.all([
        outcome(wafer.login()),
        outcome(wafer.login()),
        outcome(wafer.request({ url: server.urls.user, login: true })),
      ]);
      for (const r of results) assertSdkError(wafer, r.error, 'LoginError', 'ERR_WX_LOGIN_FAILED');
      assert.ok(String(results[0].error.detail).includes('fake wechat login failure'), `detail: ${results[0].error.detail}`);
      assert.equal(sim.counters.login, 1);
      assert.equal(sim.counters.getUserInfo, 0);
      assert.equal(server.counters.logins.total, 0);
      await wafer.login();
      assert.equal(sim.counters.login, 2);
      assert.equal(server.counters.logins.total, 1);
    }));

    test('wx.getUserInfo failure: LoginError ERR_WX_GET_USER_INFO, no server login', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      sim.wechat.failUserInfo = true;
      const r = await outcome(wafer.login());
      assertSdkError(wafer, r.error, 'LoginError', 'ERR_WX_GET_USER_INFO');
      assert.equal(server.counters.logins.total, 0);
      assert.equal(sim.storage.get(SESSION_KEY), undefined);
    }));

    test('login request transport failure and timeout: ERR_LOGIN_FAILED / ERR_LOGIN_TIMEOUT', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const down = await outcome(wafer.login({ loginUrl: 'http://127.0.0.1:9/login' }));
      assertSdkError(wafer, down.error, 'LoginError', 'ERR_LOGIN_FAILED');
      wafer.configure({ requestTimeout: 100 });
      server.loginDelayMs = 2000;
      const slow = await outcome(wafer.login());
      assertSdkError(wafer, slow.error, 'LoginError', 'ERR_LOGIN_TIMEOUT');
      assert.equal(sim.storage.get(SESSION_KEY), undefined);
    }));

    test('server error bodies: the right error types, details kept, nothing stored', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const path = new URL(server.urls.login).pathname;
      const cases = [
        // [response, expected type]
        [{ status: 500, raw: '<html><body>Bad Gateway</body></html>' }, 'ERR_LOGIN_FAILED'],
        [{ status: 200, body: {} }, 'ERR_LOGIN_MISSING_SESSION'],
        [{ status: 200 }, 'ERR_LOGIN_MISSING_SESSION'],
        [{ status: 200, body: 'not json at all' }, 'ERR_LOGIN_MISSING_SESSION'],
      ];
      if (dialect === 'wafer1') {
        cases.push([{ body: { [MAGIC]: 1, error: 'ERR_LOGIN_FAILED', message: 'code invalid' } }, 'ERR_LOGIN_MISSING_SESSION', 'code invalid']);
        cases.push([{ body: { [MAGIC]: 1, session: { id: 'only-id' } } }, 'ERR_LOGIN_MISSING_SESSION']);
      } else {
        cases.push([{ body: { code: -1, error: 'ERR_WX_AUTH', message: 'bad code' } }, 'ERR_LOGIN_FAILED', 'ERR_WX_AUTH']);
        cases.push([{ body: { code: 0, data: { userinfo: {} } } }, 'ERR_LOGIN_MISSING_SESSION']);
        cases.push([{ status: 500, body: { code: -1, error: 'ERR_DB' } }, 'ERR_LOGIN_FAILED', 'ERR_DB']);
      }
      for (const [response, type, detail] of cases) {
        server.respondWith(path, response);
        const r = await outcome(wafer.login());
        assertSdkError(wafer, r.error, 'LoginError', type, JSON.stringify(response));
        if (detail) assert.equal(r.error.detail, detail, JSON.stringify(response));
        assert.equal(sim.storage.get(SESSION_KEY), undefined);
      }
      assert.equal(sim.counters.login, cases.length);
      // And it still works afterwards.
      await wafer.login();
      assert.ok(sim.storage.get(SESSION_KEY));
    }));

    test('corrupted storage reads as no session', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const garbage = [
        'not json {',
        '"weapp"',
        '42',
        '[]',
        '{}',
        '{"skey":5}',
        '{"skey":""}',
        '{"skey":"bad\\nline"}',
        '{"skey":"中文"}',
        '{"id":{"x":1},"skey":"k"}',
        `{"skey":"${'x'.repeat(2000)}"}`,
      ];
      for (const raw of garbage) {
        sim.storage.raw.set(SESSION_KEY, raw);
        wafer.Session.set(sim.storage.get(SESSION_KEY)); // also through the API
        assert.deepEqual(plain(wafer.buildSessionHeader()), {}, raw);
        const res = await wafer.request({ url: server.urls.echo });
        assert.deepEqual(wxHeaders(requestsTo(sim, server.urls.echo).pop()), {}, `no session headers for ${raw}`);
        assert.equal(res.statusCode, 200);
      }
      // A fresh app start with garbage in storage: login() logs in instead of trusting it.
      sim.storage.raw.set(SESSION_KEY, '{"skey":5,"id":[]}');
      wafer.Session.set(sim.storage.get(SESSION_KEY));
      const before = sim.counters.login;
      const user = await wafer.request({ url: server.urls.user, login: true });
      assert.equal(user.data.code, 0);
      assert.equal(sim.counters.login, before + 1);
      assert.equal(typeof sim.storage.get(SESSION_KEY).skey, 'string');
    }));

    test('storage that throws on write: login still works for the run, the problem is reported', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      sim.storage.failWrites = true;
      const user = await wafer.login();
      assert.ok(user);
      assert.equal(sim.storage.get(SESSION_KEY), undefined, 'nothing could be written');
      const session = plain(wafer.Session.get());
      assert.equal(typeof session.skey, 'string');
      assert.equal(Object.keys(plain(wafer.buildSessionHeader())).length, SESSION_HEADERS[dialect].length);
      const res = await wafer.request({ url: server.urls.user, login: true });
      assert.equal(res.data.code, 0);
      assert.equal(sim.counters.login, 1, 'the in-memory session was reused');
      wafer.clearSession(); // must not throw either
      assert.equal(wafer.Session.get(), null);
      assert.deepEqual(sim.errors, []);
      assert.ok(sim.logs.some((l) => l.level === 'error' && l.args.map(String).join(' ').includes('exceed storage max size')), 'the storage failure was reported on the console');
    }));
  });
}

describe("configure({ protocol: 'auto' })", () => {
  for (const dialect of DIALECTS) {
    test(`picks ${dialect} from the login response and remembers it`, () => withSdk({ dialect, configure: false }, async ({ sim, server, wafer }) => {
      wafer.configure({ protocol: 'auto', loginUrl: server.urls.login });
      await wafer.login();
      const stored = sim.storage.get(SESSION_KEY);
      const expected = {};
      for (const h of SESSION_HEADERS[dialect]) expected[h] = h === 'X-WX-Id' ? stored.id : stored.skey;
      assert.deepEqual(plain(wafer.buildSessionHeader()), expected);
      await wafer.request({ url: server.urls.echo });
      assert.deepEqual(wxHeaders(requestsTo(sim, server.urls.echo)[0]), expected);
      // Remembered: the automatic re-login is the dialect's own (Wafer 2: code only).
      server.expireAllSessions();
      const res = await wafer.request({ url: server.urls.user });
      assert.equal(res.data.code, 0);
      assert.equal(server.counters.logins.total, 2);
      assert.equal(server.counters.logins.code, dialect === 'wafer2' ? 1 : 0);
    }));
  }

  test("a fixed protocol refuses the other dialect's login response", () => withSdk({ dialect: 'wafer2', configure: false }, async ({ sim, server, wafer }) => {
    wafer.configure({ protocol: 'wafer1', loginUrl: server.urls.login });
    const r = await outcome(wafer.login());
    assert.ok(r.error instanceof wafer.LoginError);
    assert.equal(sim.storage.get(SESSION_KEY), undefined);
    wafer.configure({ protocol: 'wafer2' });
    await wafer.login();
    assert.deepEqual(Object.keys(plain(wafer.buildSessionHeader())), ['X-WX-Skey']);
  }));

  test('protocol wafer2 with a Wafer 1-shaped stored session sends no Wafer 1 headers', () => withSdk({ dialect: 'wafer1', configure: false }, async ({ sim, server, wafer }) => {
    wafer.configure({ loginUrl: server.urls.login });
    await wafer.login();
    wafer.configure({ protocol: 'wafer2' });
    assert.deepEqual(Object.keys(plain(wafer.buildSessionHeader())), ['X-WX-Skey']);
    wafer.configure({ protocol: 'wafer1' });
    assert.deepEqual(Object.keys(plain(wafer.buildSessionHeader())).sort(), ['X-WX-Id', 'X-WX-Skey']);
  }));
});

describe('Wafer 2 loginWithCode()', () => {
  test('a user who never did a full login: LoginError ERR_LOGIN_FAILED with the server text', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const r = await outcome(wafer.loginWithCode());
    assertSdkError(wafer, r.error, 'LoginError', 'ERR_LOGIN_FAILED');
    assert.equal(r.error.detail, 'ERR_LOGIN_FAILED');
    assert.equal(sim.storage.get(SESSION_KEY), undefined);
    assert.equal(server.counters.logins.failed, 1);
  }));
});

describe('configure({ debug: true })', () => {
  test('debug records go to the console, without the skey', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    wafer.configure({ debug: true });
    await wafer.login();
    const lines = sim.logs.filter((l) => String(l.args[0]).includes('wafer-wasm'));
    assert.ok(lines.length > 0, 'debug records were printed');
    const skey = sim.storage.get(SESSION_KEY).skey;
    assert.ok(!JSON.stringify(lines.map((l) => l.args)).includes(skey));
    wafer.configure({ debug: false });
    const n = sim.logs.length;
    await wafer.request({ url: server.urls.user });
    assert.equal(sim.logs.length, n);
  }));
});

describe('login({ method, data })', () => {
  test('the login request uses the given method and data', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const r = await outcome(wafer.login({ method: 'POST', data: { scene: 1001 } }));
    const [req] = requestsTo(sim, server.urls.login);
    assert.equal(req.method, 'POST');
    assert.deepEqual(JSON.parse(req.body), { scene: 1001 });
    assert.equal(r.ok, true);
    await waitFor(() => server.counters.logins.total === 1);
  }));
});
