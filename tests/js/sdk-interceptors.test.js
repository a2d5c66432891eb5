'use strict';
// configure({ baseUrl, header }) and request interceptors (README: "Request defaults and
// interceptors"): the packed package in the simulator against the loopback Wafer servers.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const {
  withSdk, outcome, plain, viaCallbacks, assertSdkError, requestsTo, waitFor, SESSION_KEY, DIALECTS, SESSION_HEADERS,
} = require('./helpers/sdk');

describe('configure({ baseUrl, header })', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect}: relative URLs join baseUrl; caller headers win over the defaults, the session's over both`, () => withSdk({
      dialect,
      configure: (server) => ({ loginUrl: server.urls.login, baseUrl: `${server.url}/`, header: { 'X-App': 'v1', 'Content-Type': 'text/plain', 'X-WX-Skey': 'forged' } }),
    }, async ({ sim, server, wafer }) => {
      const res = await wafer.request({ url: '/echo', login: true, header: { 'content-type': 'application/json', 'X-Mine': 'm' } });
      assert.equal(res.statusCode, 200);
      const sent = requestsTo(sim, server.urls.echo)[0].header;
      const stored = sim.storage.get(SESSION_KEY);
      const expected = { 'X-App': 'v1', 'content-type': 'application/json', 'X-Mine': 'm' };
      for (const h of SESSION_HEADERS[dialect]) expected[h] = h === 'X-WX-Id' ? stored.id : stored.skey;
      assert.deepEqual(sent, expected);
      // The login request is not joined to baseUrl and carries no default header.
      const login = requestsTo(sim, server.urls.login)[0];
      assert.equal(login.header['X-App'], undefined);
      // Uploads and downloads too; an absolute URL is left as it is.
      const filePath = sim.writeUserFile('a.txt', 'a');
      const up = await wafer.uploadFile({ url: new URL(server.urls.upload).pathname.slice(1), filePath, name: 'f' });
      assert.equal(JSON.parse(up.data).code, 0);
      assert.equal(sim.uploadLog[0].header['X-App'], 'v1');
      const down = await wafer.downloadFile({ url: new URL(server.urls.download).pathname });
      assert.equal(down.statusCode, 200);
      assert.equal(sim.downloadLog[0].url, server.urls.download);
      assert.equal(sim.downloadLog[0].header['X-App'], 'v1');
      await wafer.request({ url: `${server.urls.echo}?abs=1` });
      assert.equal(requestsTo(sim, server.urls.echo)[1].url, `${server.urls.echo}?abs=1`);
    }));
  }

  test('the retry after a re-login goes to the joined URL with the defaults again', () => withSdk({
    dialect: 'wafer2',
    configure: (server) => ({ loginUrl: server.urls.login, baseUrl: `${server.url}/weapp`, header: { 'X-App': 'v1' } }),
  }, async ({ sim, server, wafer }) => {
    await wafer.login();
    server.expireAllSessions();
    const res = await wafer.request({ url: 'user' });
    assert.equal(res.data.code, 0);
    const sent = requestsTo(sim, server.urls.user);
    assert.equal(sent.length, 2);
    for (const r of sent) assert.equal(r.header['X-App'], 'v1');
  }));

  test('a bad value is a typed error and changes nothing; null and "" remove the defaults', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    await wafer.configure({ baseUrl: server.url, header: { 'X-App': 'v1' } });
    for (const bad of [{ header: 'x' }, { header: 5 }, { baseUrl: 5 }, { baseUrl: 'https://elsewhere', header: true }]) {
      await assert.rejects(wafer.configure(bad), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS', JSON.stringify(bad));
    }
    await wafer.request({ url: '/echo' });
    assert.equal(requestsTo(sim, server.urls.echo)[0].header['X-App'], 'v1');
    await wafer.configure({ baseUrl: '', header: null });
    await wafer.request({ url: server.urls.echo });
    assert.equal(requestsTo(sim, server.urls.echo)[1].header['X-App'], undefined);
    const relative = await outcome(wafer.request({ url: '/echo' }));
    assertSdkError(wafer, relative.error, 'RequestError', 'ERR_REQUEST_FAILED', 'a relative URL without baseUrl goes out as given');
  }));
});

describe('addInterceptor / cleanInterceptors', () => {
  test('the onion: the first added is outermost; params and results pass through each', () => withSdk({ dialect: 'wafer2' }, async ({ server, wafer }) => {
    const order = [];
    wafer.addInterceptor((chain) => {
      order.push(`a> ${chain.requestParams.url}`);
      return chain.proceed(chain.requestParams).then((res) => {
        order.push('<a');
        return res.data; // response unwrapping
      });
    });
    wafer.addInterceptor((chain) => {
      order.push('b>');
      const params = { ...chain.requestParams, header: { ...chain.requestParams.header, 'X-Trace': 't1' } };
      return chain.proceed(params).then((res) => {
        order.push('<b');
        return res;
      });
    });
    const data = await wafer.request({ url: server.urls.echo });
    assert.equal(data.headers['x-trace'], 't1');
    assert.deepEqual(order, [`a> ${server.urls.echo}`, 'b>', '<b', '<a']);
    // Callback style gets what the chain resolves with.
    const cb = await viaCallbacks(wafer.request, { url: server.urls.echo });
    assert.equal(cb.value.headers['x-trace'], 't1');
    wafer.cleanInterceptors();
    const res = await wafer.request({ url: server.urls.echo });
    assert.equal(res.statusCode, 200, 'no interceptor: the wx result again');
  }));

  for (const dialect of DIALECTS) {
    test(`${dialect}: one interceptor call per request(); the re-login and its retry run inside proceed, the login request through none`, () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const seen = [];
      wafer.addInterceptor((chain) => {
        seen.push(chain.requestParams.url);
        return chain.proceed(chain.requestParams);
      });
      const res = await wafer.request({ url: server.urls.user, login: true });
      assert.equal(res.statusCode, 200);
      server.expireAllSessions();
      sim.wechat.sessionValid = false;
      const again = await wafer.request({ url: server.urls.user });
      assert.equal(again.statusCode, 200);
      assert.equal(requestsTo(sim, server.urls.user).length, 3, 'two requests, one retried');
      assert.equal(requestsTo(sim, server.urls.login).length, 2);
      assert.deepEqual(seen, [server.urls.user, server.urls.user]);
      // uploadFile / downloadFile go through none (as Taro.uploadFile).
      await wafer.downloadFile({ url: server.urls.download });
      assert.equal(seen.length, 2);
    }));
  }

  test('an interceptor that throws or rejects fails the call with its own error', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    wafer.addInterceptor(() => { throw new Error('no network today'); });
    const r = await outcome(wafer.request({ url: server.urls.echo }));
    assert.equal(r.error.message, 'no network today');
    wafer.cleanInterceptors();
    wafer.addInterceptor(() => Promise.reject(new wafer.RequestError('ERR_REQUEST_FAILED', 'offline')));
    const cb = await viaCallbacks(wafer.request, { url: server.urls.echo });
    assert.deepEqual(cb.calls, ['fail', 'complete']);
    assert.equal(cb.value.message, 'offline');
    assert.equal(sim.counters.requests, 0);
    assert.throws(() => wafer.addInterceptor('x'), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS');
  }));

  test('abort through interceptors: the call fails at once; a proceed after the abort sends nothing; one in flight is aborted', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    const proceeded = [];
    wafer.addInterceptor((chain) => gate.then(() => {
      const p = chain.proceed(chain.requestParams);
      proceeded.push(p);
      return p;
    }));
    const call = wafer.request({ url: server.urls.echo });
    call.abort();
    const r = await outcome(call);
    assertSdkError(wafer, r.error, 'RequestError', 'ERR_REQUEST_ABORTED');
    release();
    await waitFor(() => proceeded.length === 1);
    const inner = await outcome(proceeded[0]);
    assert.equal(inner.error.type, 'ERR_REQUEST_ABORTED', 'proceed() after the abort rejects');
    await sim.settle(20);
    assert.equal(sim.counters.requests, 0, 'nothing was sent');

    // In flight behind an interceptor: the wx task is aborted.
    wafer.cleanInterceptors();
    wafer.addInterceptor((chain) => chain.proceed(chain.requestParams).then((res) => res.data));
    server.respondWith('/slow', { delayMs: 5000, body: {} });
    const slow = wafer.request({ url: `${server.url}/slow` });
    await waitFor(() => sim.netStats().active === 1);
    slow.abort();
    assertSdkError(wafer, (await outcome(slow)).error, 'RequestError', 'ERR_REQUEST_ABORTED');
    await waitFor(() => sim.netStats().active === 0, { message: 'the wx task aborted' });
    assert.deepEqual(plain(sim.timers.active().length), 0);
  }));
});
