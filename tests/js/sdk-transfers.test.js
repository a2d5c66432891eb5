'use strict';
// abort() of request / uploadFile / downloadFile, downloadFile() with the session and its
// re-login and retry, and onProgressUpdate (README: "Abort, downloads, progress"): the
// packed package in the simulator against the loopback Wafer servers.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const {
  withSdk, outcome, viaCallbacks, assertSdkError, requestsTo, wxHeaders, waitFor, SESSION_KEY, MAGIC, DIALECTS,
  SESSION_HEADERS,
} = require('./helpers/sdk');

/** Assert an aborted call's error: RequestError ERR_REQUEST_ABORTED with wx's errMsg. */
function assertAborted(wafer, e, api) {
  assertSdkError(wafer, e, 'RequestError', 'ERR_REQUEST_ABORTED');
  assert.equal(e.errMsg, `${api}:fail abort`);
  assert.equal(e.detail, `${api}:fail abort`);
}

/** Nothing left running in the sim: no network task, socket or timer. */
function assertIdle(sim) {
  const stats = sim.netStats();
  assert.deepEqual([stats.active, stats.queued], [0, 0], 'no network task');
  assert.equal(sim.sockets.open().length, 0, 'no socket');
  assert.equal(sim.timers.active().length, 0, 'no timer');
}

/** The bytes the loopback server's download route serves to `openId`. */
function served(size, openId) {
  return Buffer.concat([Buffer.from(Array.from({ length: size }, (_, i) => i % 251)), Buffer.from(openId)]);
}

/** A downloaded file's bytes (tempFilePath http://tmp/x or filePath wxfile://x). */
function fileOf(sim, res) {
  const name = (res.tempFilePath || res.filePath).replace(/^(?:http:\/\/tmp|wxfile:\/)\//, '');
  return fs.readFileSync(path.join(sim.userDataPath, name));
}

describe('abort()', () => {
  test('the promise of request(), uploadFile() and downloadFile() has abort(): it fails at once and aborts the wx task', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const filePath = sim.writeUserFile('a.bin', 'abc');
    const calls = {
      request: () => wafer.request({ url: `${server.url}/slow` }),
      uploadFile: () => wafer.uploadFile({ url: `${server.url}/slow`, filePath, name: 'f' }),
      downloadFile: () => wafer.downloadFile({ url: `${server.url}/slow` }),
    };
    for (const [api, call] of Object.entries(calls)) {
      server.respondWith('/slow', { delayMs: 5000, body: {} });
      const p = call();
      assert.equal(typeof p.abort, 'function');
      await waitFor(() => sim.netStats().active === 1, { message: `${api} in flight` });
      p.abort();
      const r = await outcome(p);
      assert.equal(r.ok, false);
      assertAborted(wafer, r.error, api);
      await waitFor(() => sim.netStats().active === 0, { message: `the ${api} task aborted` });
      p.abort(); // again: nothing
    }
    assertIdle(sim);
  }));

  test('callback style returns the task: fail then complete with the aborted error; abort() after the end does nothing', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    server.respondWith('/slow', { delayMs: 5000, body: {} });
    const seen = [];
    const task = wafer.request({
      url: `${server.url}/slow`,
      success: () => seen.push('success'),
      fail: (e) => seen.push(['fail', e.type]),
      complete: (e) => seen.push(['complete', e.type]),
    });
    await waitFor(() => sim.netStats().active === 1);
    task.abort();
    await waitFor(() => seen.length === 2);
    assert.deepEqual(seen, [['fail', 'ERR_REQUEST_ABORTED'], ['complete', 'ERR_REQUEST_ABORTED']]);
    const done = await viaCallbacks(wafer.request, { url: server.urls.echo });
    assert.equal(done.kind, 'success');
    done.returned.abort();
    await sim.settle();
    assert.deepEqual(done.calls, ['success', 'complete']);
    assertIdle(sim);
  }));

  test('an abort before the wasm is ready: nothing is ever sent', () => withSdk({ dialect: 'wafer2', configure: false }, async ({ sim, server, wafer }) => {
    const p = wafer.request({ url: server.urls.echo });
    p.abort();
    assertAborted(wafer, (await outcome(p)).error, 'request');
    await wafer.init();
    await sim.settle();
    assert.equal(sim.counters.requests, 0);
  }));

  for (const dialect of DIALECTS) {
    test(`${dialect}: an abort during the automatic re-login cancels the login and the retry, and leaves nothing behind`, () => withSdk({ dialect, serverOptions: { loginDelayMs: 5000 } }, async ({ sim, server, wafer }) => {
      server.loginDelayMs = 0;
      await wafer.login();
      server.loginDelayMs = 5000;
      server.expireAllSessions();
      const p = wafer.request({ url: server.urls.user });
      // The request was rejected; the login request is on its way.
      await waitFor(() => requestsTo(sim, server.urls.login).length === 2, { message: 'the re-login request' });
      p.abort();
      assertAborted(wafer, (await outcome(p)).error, 'request');
      await waitFor(() => sim.netStats().active === 0, { message: 'the login request aborted' });
      await sim.settle(20);
      assert.equal(requestsTo(sim, server.urls.user).length, 1, 'no retry');
      assertIdle(sim);
      // No login is left running: the next caller logs in at once (quickly this time).
      server.loginDelayMs = 0;
      const res = await wafer.request({ url: server.urls.user, login: true });
      assert.equal(res.statusCode, 200);
      assert.equal(requestsTo(sim, server.urls.login).length, 3);
    }));
  }

  test('aborting one caller of a shared login fails nobody else: the login goes on for the others', () => withSdk({ dialect: 'wafer2', serverOptions: { loginDelayMs: 100 } }, async ({ sim, server, wafer }) => {
    const first = wafer.request({ url: server.urls.user, login: true });
    const second = wafer.request({ url: server.urls.user, login: true });
    await waitFor(() => requestsTo(sim, server.urls.login).length === 1, { message: 'the shared login' });
    first.abort();
    assertAborted(wafer, (await outcome(first)).error, 'request');
    const res = await second;
    assert.equal(res.statusCode, 200);
    assert.equal(res.data.code, 0);
    assert.equal(server.counters.logins.total, 1, 'one login, not aborted');
    assert.equal(requestsTo(sim, server.urls.user).length, 1, 'the aborted caller never sent');
    assert.ok(sim.storage.get(SESSION_KEY).skey, 'the login stored its session');
    assertIdle(sim);
  }));
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: downloadFile()`, () => {
    test('sends the session headers and resolves with wx.downloadFile\'s own result', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const res = await wafer.downloadFile({ url: `${server.urls.download}?size=3000`, header: { 'X-Mine': '1' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.errMsg, 'downloadFile:ok');
      assert.deepEqual(fileOf(sim, res), served(3000, 'code'));
      const sent = sim.downloadLog[0].header;
      assert.equal(sent['X-Mine'], '1');
      assert.deepEqual(Object.keys(wxHeaders({ header: sent })).sort(), SESSION_HEADERS[dialect].slice().sort());
      // filePath and callback style.
      const saved = await viaCallbacks(wafer.downloadFile, { url: server.urls.download, filePath: 'wxfile://usr/f.bin' });
      assert.equal(saved.kind, 'success');
      assert.equal(saved.value.filePath, 'wxfile://usr/f.bin');
      assert.deepEqual(fileOf(sim, saved.value), served(1024, 'code'));
      assert.equal(typeof saved.returned.onProgressUpdate, 'function');
    }));

    test('login: true logs in first; bad options are a typed error', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const res = await wafer.downloadFile({ url: server.urls.download, login: true });
      assert.deepEqual(fileOf(sim, res), served(1024, 'code'));
      assert.equal(server.counters.logins.total, 1);
      const bad = await outcome(wafer.downloadFile({ url: '' }));
      assertSdkError(wafer, bad.error, 'RequestError', 'ERR_INVALID_PARAMS');
      assert.throws(() => wafer.downloadFile('x'), (e) => e.type === 'ERR_INVALID_PARAMS');
    }));
  });
}

describe('downloadFile(): what is detected as a session failure', () => {
  test('HTTP 401 (a Wafer 2 server with unauthorizedStatus): clear, log in with the code, retry once', () => withSdk({ dialect: 'wafer2', serverOptions: { unauthorizedStatus: true } }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const before = sim.storage.get(SESSION_KEY).skey;
    server.expireAllSessions();
    const res = await wafer.downloadFile({ url: server.urls.download });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(fileOf(sim, res), served(1024, 'code'));
    assert.equal(server.counters.logins.code, 1, 'renewed with the code alone');
    assert.notEqual(sim.storage.get(SESSION_KEY).skey, before);
    assert.equal(sim.downloadLog.length, 2, 'one retry');
    // Rejected again: the typed error.
    server.expireAllSessions();
    server.respondWith('/weapp/download', { status: 401, body: { error: 'ERR_SKEY_INVALID' }, times: 2 });
    const again = await outcome(wafer.downloadFile({ url: server.urls.download }));
    assertSdkError(wafer, again.error, 'RequestError', 'ERR_SESSION_INVALID');
    assert.equal(sim.downloadLog.length, 4);
  }));

  test('a failure body with status 200 (Wafer 1, or Wafer 2 without 401) is only a file: delivered as it is', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    server.expireAllSessions();
    const res = await wafer.downloadFile({ url: server.urls.download });
    assert.equal(res.statusCode, 200);
    assert.equal(JSON.parse(fileOf(sim, res).toString('utf8'))[MAGIC], 1, 'the failure body, as a file');
    assert.equal(server.counters.logins.total, 1, 'no re-login');
    assert.ok(sim.storage.get(SESSION_KEY), 'the session is not cleared');
  }));
});

describe('onProgressUpdate', () => {
  test('uploads and downloads: the option and the task method, in both styles, across the retry', () => withSdk({ dialect: 'wafer2', serverOptions: { unauthorizedStatus: true } }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const size = 150 * 1024;
    // Promise style: the option and the promise's method.
    server.expireAllSessions();
    const byOption = [];
    const byMethod = [];
    const down = wafer.downloadFile({ url: `${server.urls.download}?size=${size}`, onProgressUpdate: (e) => byOption.push(e) });
    down.onProgressUpdate((e) => byMethod.push(e));
    const removed = [];
    const remove = (e) => removed.push(e);
    down.onProgressUpdate(remove);
    down.offProgressUpdate(remove);
    const res = await down;
    assert.equal(sim.downloadLog.length, 2, 'retried after the 401');
    assert.deepEqual(fileOf(sim, res), served(size, 'code'));
    assert.ok(byOption.length >= 1);
    assert.deepEqual(byMethod.map((e) => e.progress), byOption.map((e) => e.progress));
    const last = byOption[byOption.length - 1];
    assert.deepEqual([last.progress, last.totalBytesWritten], [100, size + 'code'.length]);
    assert.deepEqual(removed, []);

    // Callback style: the task's method, for an upload.
    const filePath = sim.writeUserFile('big.bin', Buffer.alloc(100 * 1024, 1));
    const sent = [];
    await new Promise((resolve, reject) => {
      const task = wafer.uploadFile({ url: server.urls.upload, filePath, name: 'file', success: resolve, fail: reject });
      task.onProgressUpdate((e) => sent.push(e));
    });
    assert.ok(sent.length >= 2, `${sent.length} upload progress events`);
    assert.equal(sent[sent.length - 1].progress, 100);
    assert.equal(server.uploads.length, 1);
    // request() has no progress (as wx.request's task).
    assert.equal(wafer.request({ url: server.urls.echo }).onProgressUpdate, undefined);
    await sim.settle(20);
  }));

  test('a listener that throws is reported, and the transfer goes on', () => withSdk({ dialect: 'wafer2', clean: false }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const res = await wafer.downloadFile({ url: server.urls.download, onProgressUpdate: () => { throw new Error('boom'); } });
    assert.equal(res.statusCode, 200);
    await sim.settle();
    assert.deepEqual(sim.errors, []);
    assert.ok(sim.logs.some((l) => l.level === 'error' && String(l.args[0]).includes('callback')), 'reported on the console');
  }));
});
