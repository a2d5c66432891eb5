'use strict';
// request() and uploadFile() (README: API tour, migration table) in both dialects: session headers,
// wx.request's own result, session failures → clear + re-login + retry exactly once,
// typed errors, and non-session answers delivered as results.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const {
  withSdk: withSdkBase, outcome, plain, viaCallbacks, assertSdkError, requestsTo, wxHeaders, waitFor,
  SESSION_KEY, MAGIC, DIALECTS, SESSION_HEADERS,
} = require('./helpers/sdk');

/** The exact session headers of the stored session in `dialect`. */
function expectedHeaders(sim, dialect) {
  const s = sim.storage.get(SESSION_KEY);
  const out = {};
  for (const h of SESSION_HEADERS[dialect]) out[h] = h === 'X-WX-Id' ? s.id : s.skey;
  return out;
}

const pathOf = (url) => new URL(url).pathname;

/** A session-failure body of the dialect. */
function sessionFailure(dialect, text = 'session expired') {
  return dialect === 'wafer1'
    ? { body: { [MAGIC]: 1, error: 'ERR_INVALID_SESSION', message: text } }
    : { body: { code: -1, error: text } };
}

// Each dialect under protocol 'auto' (the default: learned from the login response) and fixed.
const MODES = DIALECTS.flatMap((d) => [[d, 'auto'], [d, d]]);

for (const [dialect, protocol] of MODES) {
  /** withSdk with the mode's protocol configured. */
  const withSdk = (opts, fn) => withSdkBase({
    configure: (server) => ({ loginUrl: server.urls.login, protocol }),
    ...opts,
  }, fn);

  describe(`${dialect} (protocol ${protocol}): request()`, () => {
    test('session headers per dialect; buildSessionHeader() returns exactly those keys or {}', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.init();
      assert.deepEqual(plain(wafer.buildSessionHeader()), {});
      await wafer.request({ url: server.urls.echo });
      assert.deepEqual(wxHeaders(requestsTo(sim, server.urls.echo)[0]), {}, 'no session, no session headers');
      await wafer.login();
      const expected = expectedHeaders(sim, dialect);
      assert.deepEqual(Object.keys(expected).sort(), SESSION_HEADERS[dialect].slice().sort());
      assert.deepEqual(plain(wafer.buildSessionHeader()), expected);
      const res = await wafer.request({ url: server.urls.echo });
      assert.deepEqual(wxHeaders(requestsTo(sim, server.urls.echo)[1]), expected);
      // As the server saw them.
      for (const [k, v] of Object.entries(expected)) assert.equal(res.data.headers[k.toLowerCase()], v);
      assert.equal(res.data.headers['x-wx-code'], undefined);
      wafer.clearSession();
      assert.deepEqual(plain(wafer.buildSessionHeader()), {});
    }));

    test('user headers are kept; the session headers win', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const header = { 'X-Custom': 'kept', 'content-type': 'application/json; charset=utf-8', 'X-WX-Skey': 'forged' };
      if (dialect === 'wafer1') header['X-WX-Id'] = 'forged';
      const original = { ...header };
      const res = await wafer.request({ url: server.urls.echo, method: 'POST', header, data: { a: 1 } });
      const sent = requestsTo(sim, server.urls.echo)[0].header;
      assert.equal(sent['X-Custom'], 'kept');
      assert.equal(sent['content-type'], 'application/json; charset=utf-8');
      for (const [k, v] of Object.entries(expectedHeaders(sim, dialect))) assert.equal(sent[k], v, k);
      assert.equal(res.data.headers['x-custom'], 'kept');
      assert.deepEqual({ ...header }, original, "the caller's header object is not modified");
    }));

    test('session headers win over user headers of any letter case', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const original = sim.wx.request;
      let seen = null;
      sim.wx.request = sim.realm.fn((options) => { seen = plain(options.header); return original(options); }, 'request');
      try {
        await wafer.request({ url: server.urls.echo, header: { 'x-wx-skey': 'forged', 'x-wx-id': 'forged', 'X-Other': 'kept' } });
      } finally {
        sim.wx.request = original;
      }
      const expected = expectedHeaders(sim, dialect);
      for (const [k, v] of Object.entries(expected)) {
        const variants = Object.keys(seen).filter((h) => h.toLowerCase() === k.toLowerCase());
        assert.deepEqual(variants.map((h) => seen[h]), [v], `exactly one ${k} header, the session's: ${JSON.stringify(seen)}`);
      }
      assert.equal(seen['X-Other'], 'kept');
    }));

    test('the result is the very object wx.request handed to success', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const original = sim.wx.request;
      let delivered = null;
      sim.wx.request = sim.realm.fn((options) => {
        const success = options.success;
        return original(Object.assign({}, options, { success: sim.realm.fn((r) => { delivered = r; return success(r); }, 'success') }));
      }, 'request');
      try {
        const res = await wafer.request({ url: server.urls.echo });
        assert.ok(delivered);
        assert.equal(res, delivered);
      } finally {
        sim.wx.request = original;
      }
    }));

    test("resolves with wx.request's own result; wx.request options pass through", () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const direct = await new Promise((resolve) => sim.wx.request({ url: server.urls.echo, success: resolve }));
      const res = await wafer.request({ url: `${server.urls.echo}?x=1`, method: 'PUT', data: { n: 1 } });
      assert.deepEqual(Object.keys(res).sort(), Object.keys(direct).sort());
      assert.equal(res.statusCode, 200);
      assert.equal(res.errMsg, 'request:ok');
      assert.equal(typeof res.header, 'object');
      assert.equal(res.data.method, 'PUT');
      assert.deepEqual(plain(res.data.query), { x: '1' });
      assert.deepEqual(JSON.parse(res.data.body), { n: 1 });
      const text = await wafer.request({ url: server.urls.echo, dataType: 'text' });
      assert.equal(typeof text.data, 'string');
      assert.equal(JSON.parse(text.data).path, '/echo');
      const bin = await wafer.request({ url: server.urls.echo, responseType: 'arraybuffer' });
      assert.ok(bin.data instanceof sim.global.ArrayBuffer);
      // Other wx.request options reach wx.request; ours (login, the callbacks) do not.
      const original = sim.wx.request;
      let seen = null;
      sim.wx.request = sim.realm.fn((options) => { seen = options; return original(options); }, 'request');
      const complete = () => {};
      try {
        await wafer.request({ url: server.urls.echo, login: false, enableHttp2: true, enableCache: true, complete });
      } finally {
        sim.wx.request = original;
      }
      assert.equal(seen.enableHttp2, true);
      assert.equal(seen.enableCache, true);
      assert.equal('login' in seen, false);
      assert.notEqual(seen.complete, complete);
      assert.equal(requestsTo(sim, server.urls.echo).length, 5);
    }));

    test('HTTP 500, HTML and empty bodies are delivered as results (not session failures)', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const p = pathOf(server.urls.user);
      server.respondWith(p, { status: 500, body: { error: 'boom' } });
      const a = await wafer.request({ url: server.urls.user });
      assert.equal(a.statusCode, 500);
      assert.deepEqual(plain(a.data), { error: 'boom' });
      server.respondWith(p, { status: 502, raw: '<html><body>Bad Gateway</body></html>' });
      const b = await wafer.request({ url: server.urls.user });
      assert.equal(b.statusCode, 502);
      assert.equal(b.data, '<html><body>Bad Gateway</body></html>');
      server.respondWith(p, { status: 200 });
      const c = await wafer.request({ url: server.urls.user });
      assert.equal(c.statusCode, 200);
      assert.equal(c.data, '');
      server.respondWith(p, { status: 204 });
      const d = await wafer.request({ url: server.urls.user });
      assert.equal(d.statusCode, 204);
      server.respondWith(p, { body: { code: 1, error: 'business error' } });
      const e = await wafer.request({ url: server.urls.user });
      assert.equal(e.data.code, 1);
      assert.equal(requestsTo(sim, server.urls.user).length, 5, 'none of them was retried');
      assert.equal(sim.counters.login, 1, 'none of them caused a login');
      assert.ok(sim.storage.get(SESSION_KEY), 'the session was kept');
    }));

    test('session failure: clear, log in again, retry exactly once', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const old = sim.storage.get(SESSION_KEY);
      server.expireAllSessions();
      const res = await wafer.request({ url: server.urls.user });
      assert.equal(res.statusCode, 200);
      assert.equal(res.data.code, 0);
      const fresh = sim.storage.get(SESSION_KEY);
      assert.notEqual(fresh.skey, old.skey);
      const calls = requestsTo(sim, server.urls.user);
      assert.equal(calls.length, 2);
      assert.equal(calls[0].header['X-WX-Skey'], old.skey);
      assert.equal(calls[1].header['X-WX-Skey'], fresh.skey);
      assert.equal(sim.counters.login, 2);
      assert.equal(server.counters.logins.total, 2);
      // Wafer 2 renews with the code alone, Wafer 1 with a full login.
      const relogin = requestsTo(sim, server.urls.login)[1];
      if (dialect === 'wafer2') {
        assert.deepEqual(Object.keys(wxHeaders(relogin)), ['X-WX-Code']);
        assert.equal(server.counters.logins.code, 1);
      } else {
        assert.deepEqual(Object.keys(wxHeaders(relogin)).sort(), ['X-WX-Code', 'X-WX-Encrypted-Data', 'X-WX-IV']);
      }
    }));

    test(`second session failure: RequestError ${dialect === 'wafer1' ? 'ERR_INVALID_SESSION' : 'ERR_SESSION_INVALID'} with the server's text in detail`, () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      server.respondWith(pathOf(server.urls.user), { ...sessionFailure(dialect, '会话已失效 E42'), times: 2 });
      const r = await outcome(wafer.request({ url: server.urls.user }));
      assertSdkError(wafer, r.error, 'RequestError', dialect === 'wafer1' ? 'ERR_INVALID_SESSION' : 'ERR_SESSION_INVALID');
      assert.equal(r.error.detail, '会话已失效 E42');
      assert.equal(requestsTo(sim, server.urls.user).length, 2, 'one retry, not more');
      assert.equal(sim.counters.login, 2, 'one re-login, not more');
      assert.equal(sim.storage.get(SESSION_KEY), undefined, 'the rejected session was cleared');
      // Callback style gets the same error in `fail`.
      server.respondWith(pathOf(server.urls.user), { ...sessionFailure(dialect), times: 2 });
      const cb = await viaCallbacks(wafer.request, { url: server.urls.user });
      assert.equal(cb.kind, 'fail');
      assert.equal(cb.value.type, r.error.type);
    }));

    test('session expiry with 10 concurrent requests: exactly one re-login, each request retried once', () => withSdk({ dialect, serverOptions: { loginDelayMs: 20 } }, async ({ sim, server, wafer }) => {
      await wafer.login();
      server.expireAllSessions();
      const results = await Promise.all(Array.from({ length: 10 }, () => wafer.request({ url: server.urls.user })));
      for (const r of results) assert.equal(r.data.code, 0);
      assert.equal(sim.counters.login, 2);
      assert.equal(server.counters.logins.total, 2);
      assert.equal(requestsTo(sim, server.urls.user).length, 20);
    }));

    test('a request started with an old session after a re-login resends with the new one, no extra login', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      server.expireAllSessions();
      // The slow request carries the old session; the fast one re-logs in meanwhile.
      server.respondWith(pathOf(server.urls.user), { ...sessionFailure(dialect), delayMs: 300 });
      const slow = wafer.request({ url: server.urls.user });
      await waitFor(() => requestsTo(sim, server.urls.user).length === 1);
      const fast = await wafer.request({ url: server.urls.user });
      assert.equal(fast.data.code, 0);
      const r = await slow;
      assert.equal(r.data.code, 0);
      assert.equal(sim.counters.login, 2);
      assert.ok(sim.storage.get(SESSION_KEY), 'the renewed session was not cleared by the late failure');
    }));

    test('non-object options throw RequestError ERR_INVALID_PARAMS synchronously', () => withSdk({ dialect }, async ({ sim, wafer }) => {
      for (const bad of ['http://x', undefined, null, 42, true]) {
        assert.throws(() => wafer.request(bad), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS', String(bad));
        assert.throws(() => wafer.uploadFile(bad), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS', String(bad));
      }
      assert.equal(sim.counters.requests, 0);
    }));

    test('missing url: fails with ERR_INVALID_PARAMS without calling wx.request', () => withSdk({ dialect }, async ({ sim, wafer }) => {
      for (const options of [{}, { url: '' }, { url: 42 }, { login: true }]) {
        const r = await outcome(wafer.request(options));
        assertSdkError(wafer, r.error, 'RequestError', 'ERR_INVALID_PARAMS', JSON.stringify(options));
      }
      const cb = await viaCallbacks(wafer.request, {});
      assert.deepEqual(cb.calls, ['fail', 'complete']);
      assert.equal(sim.counters.requests, 0);
      assert.equal(sim.counters.login, 0);
    }));

    test('wx.request failures: network off → ERR_REQUEST_FAILED, timeout → ERR_REQUEST_TIMEOUT, both with detail', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      sim.setNetwork(false);
      const off = await outcome(wafer.request({ url: server.urls.echo }));
      assertSdkError(wafer, off.error, 'RequestError', 'ERR_REQUEST_FAILED');
      assert.match(String(off.error.detail), /network offline/);
      sim.setNetwork(true);
      const refused = await outcome(wafer.request({ url: 'http://127.0.0.1:9/x' }));
      assertSdkError(wafer, refused.error, 'RequestError', 'ERR_REQUEST_FAILED');

      wafer.configure({ requestTimeout: 100 });
      server.respondWith('/echo', { body: { late: true }, delayMs: 1500 });
      const slow = await outcome(wafer.request({ url: server.urls.echo }));
      assertSdkError(wafer, slow.error, 'RequestError', 'ERR_REQUEST_TIMEOUT');
      assert.match(String(slow.error.detail), /timeout/);
      // A per-call timeout beats configure({ requestTimeout }).
      server.respondWith('/echo', { body: { late: true }, delayMs: 300 });
      const ok = await wafer.request({ url: server.urls.echo, timeout: 5000 });
      assert.deepEqual(plain(ok.data), { late: true });
      assert.equal(sim.counters.login, 0);
    }));

    if (dialect === 'wafer1') {
      test('ERR_CHECK_LOGIN_FAILED fails at once without a login; with a session it clears it', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
        const none = await outcome(wafer.request({ url: server.urls.user }));
        assertSdkError(wafer, none.error, 'RequestError', 'ERR_CHECK_LOGIN_FAILED');
        assert.equal(sim.counters.login, 0);
        assert.equal(requestsTo(sim, server.urls.user).length, 1);
        await wafer.login();
        server.respondWith('/user', { body: { [MAGIC]: 1, error: 'ERR_CHECK_LOGIN_FAILED', message: 'auth server down' } });
        const withSession = await outcome(wafer.request({ url: server.urls.user }));
        assertSdkError(wafer, withSession.error, 'RequestError', 'ERR_CHECK_LOGIN_FAILED');
        assert.equal(withSession.error.detail, 'auth server down');
        assert.equal(sim.counters.login, 1, 'no login for a check failure');
        assert.equal(requestsTo(sim, server.urls.user).length, 2);
        assert.equal(sim.storage.get(SESSION_KEY), undefined, 'a magic-id body always clears the session');
      }));

      test('HTTP 401 and { code: -1 } are not Wafer 1 session failures', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
        await wafer.login();
        server.respondWith('/user', { status: 401, body: { error: 'nope' } });
        const a = await wafer.request({ url: server.urls.user });
        assert.equal(a.statusCode, 401);
        server.respondWith('/user', { body: { code: -1, error: 'business' } });
        const b = await wafer.request({ url: server.urls.user });
        assert.equal(b.data.code, -1);
        assert.equal(sim.counters.login, 1);
        assert.equal(requestsTo(sim, server.urls.user).length, 2);
      }));
    } else {
      test('HTTP 401: re-login with the code and retry once; twice → ERR_SESSION_INVALID', () => withSdk({ dialect, serverOptions: { unauthorizedStatus: true } }, async ({ sim, server, wafer }) => {
        await wafer.login();
        server.expireAllSessions();
        const res = await wafer.request({ url: server.urls.user });
        assert.equal(res.statusCode, 200);
        assert.equal(server.counters.logins.code, 1);
        assert.equal(requestsTo(sim, server.urls.user).length, 2);
        server.respondWith('/weapp/user', { status: 401, body: { error: 'ERR_SKEY_INVALID' }, times: 2 });
        const r = await outcome(wafer.request({ url: server.urls.user }));
        assertSdkError(wafer, r.error, 'RequestError', 'ERR_SESSION_INVALID');
        assert.equal(r.error.detail, 'ERR_SKEY_INVALID');
        assert.equal(server.counters.logins.code, 2);
        assert.equal(requestsTo(sim, server.urls.user).length, 4);
      }));

      test('a Wafer 1 magic-id body is not a Wafer 2 session failure', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
        await wafer.login();
        server.respondWith('/weapp/user', { body: { [MAGIC]: 1, error: 'ERR_INVALID_SESSION' } });
        const r = await wafer.request({ url: server.urls.user });
        assert.equal(r.data.error, 'ERR_INVALID_SESSION');
        assert.equal(sim.counters.login, 1);
        assert.ok(sim.storage.get(SESSION_KEY));
      }));

      test('request({ login: true }) with protocol wafer2 and no session logs in with the code only', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
        await wafer.login(); // the user exists on the server
        wafer.clearSession();
        wafer.configure({ protocol: 'wafer2' });
        const r = await wafer.request({ url: server.urls.user, login: true });
        assert.equal(r.data.code, 0);
        assert.deepEqual(Object.keys(wxHeaders(requestsTo(sim, server.urls.login)[1])), ['X-WX-Code']);
      }));
    }
  });

  describe(`${dialect} (protocol ${protocol}): uploadFile()`, () => {
    test('sends the session headers and hands back the original result (data stays a string)', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const filePath = sim.writeUserFile('photo.png', Buffer.from([1, 2, 3, 4, 5]));
      const res = await wafer.uploadFile({ url: server.urls.upload, filePath, name: 'file', formData: { album: '旅行' }, header: { 'X-Custom': 'kept' } });
      assert.equal(res.statusCode, 200);
      assert.equal(typeof res.data, 'string');
      assert.equal(res.errMsg, 'uploadFile:ok');
      const body = JSON.parse(res.data);
      assert.deepEqual(body.data.files, [{ field: 'file', filename: 'photo.png', size: 5 }]);
      assert.deepEqual(body.data.fields, { album: '旅行' });
      const sent = sim.uploadLog[0].header;
      for (const [k, v] of Object.entries(expectedHeaders(sim, dialect))) assert.equal(sent[k], v, k);
      assert.equal(sent['X-Custom'], 'kept');
      assert.equal(server.counters.uploads, 1);
    }));

    test('a session failure in the string body: re-login and retry once', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const old = sim.storage.get(SESSION_KEY);
      server.expireAllSessions();
      const filePath = sim.writeUserFile('a.txt', 'hello');
      const res = await wafer.uploadFile({ url: server.urls.upload, filePath, name: 'file' });
      assert.equal(typeof res.data, 'string');
      assert.equal(JSON.parse(res.data).code, 0);
      assert.equal(sim.counters.uploads, 2);
      assert.equal(server.counters.uploads, 1);
      assert.equal(sim.counters.login, 2);
      assert.notEqual(sim.uploadLog[1].header['X-WX-Skey'], old.skey);
    }));

    test('two session failures: typed error; non-JSON and error bodies are results', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const filePath = sim.writeUserFile('a.txt', 'hello');
      const p = pathOf(server.urls.upload);
      server.respondWith(p, { ...sessionFailure(dialect, 'upload session gone'), times: 2 });
      const r = await outcome(wafer.uploadFile({ url: server.urls.upload, filePath, name: 'file' }));
      assertSdkError(wafer, r.error, 'RequestError', dialect === 'wafer1' ? 'ERR_INVALID_SESSION' : 'ERR_SESSION_INVALID');
      assert.equal(r.error.detail, 'upload session gone');
      assert.equal(sim.counters.uploads, 2);
      await wafer.login();
      server.respondWith(p, { status: 500, raw: 'Internal <b>Error</b>' });
      const html = await wafer.uploadFile({ url: server.urls.upload, filePath, name: 'file' });
      assert.equal(html.statusCode, 500);
      assert.equal(html.data, 'Internal <b>Error</b>');
      server.respondWith(p, { body: 'just text' });
      const text = await wafer.uploadFile({ url: server.urls.upload, filePath, name: 'file' });
      assert.equal(text.data, 'just text');
      assert.equal(sim.counters.uploads, 4);
    }));

    test('bad options: ERR_INVALID_PARAMS; callback style works', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      for (const o of [{ url: server.urls.upload, name: 'f' }, { url: server.urls.upload, filePath: 'wxfile://x' }, { filePath: 'wxfile://x', name: 'f' }]) {
        const r = await outcome(wafer.uploadFile(o));
        assertSdkError(wafer, r.error, 'RequestError', 'ERR_INVALID_PARAMS', JSON.stringify(o));
      }
      assert.equal(sim.counters.uploads, 0);
      await wafer.login();
      const filePath = sim.writeUserFile('b.txt', 'x');
      const cb = await viaCallbacks(wafer.uploadFile, { url: server.urls.upload, filePath, name: 'file' });
      assert.deepEqual(cb.calls, ['success', 'complete']);
      assert.equal(typeof cb.value.data, 'string');
      const missing = await outcome(wafer.uploadFile({ url: server.urls.upload, filePath: 'wxfile://nope.txt', name: 'file' }));
      assertSdkError(wafer, missing.error, 'RequestError', 'ERR_REQUEST_FAILED');
    }));
  });
}
