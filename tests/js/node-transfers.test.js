'use strict';
// The packed package's Node build (pkg/node: the fetch adapter, js-shim/platform/node.js)
// against the loopback Wafer 2 server: requests, uploads and downloads with the session,
// abort() and timeouts through AbortController.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { packageDir, startServer, waitFor } = require('./helpers/sdk');

let server;
let wafer;
before(async () => {
  server = await startServer({ dialect: 'wafer2' });
  wafer = require(path.join(packageDir(), 'node', 'index.js'));
  await wafer.configure({ loginUrl: server.urls.login });
  // No wx.login outside WeChat: a code the page got itself.
  await wafer.requestLogin({ loginParams: { code: 'node-1', encryptedData: 'e', iv: 'i' } });
});
after(() => server.stop());

test('request, uploadFile and downloadFile carry the session', async () => {
  const skey = wafer.Session.get().skey;
  const res = await wafer.request({ url: server.urls.echo });
  assert.equal(res.data.headers['x-wx-skey'], skey);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-node-'));
  try {
    const file = path.join(dir, 'a.bin');
    fs.writeFileSync(file, 'abc');
    const up = await wafer.uploadFile({ url: server.urls.upload, filePath: file, name: 'f' });
    assert.equal(JSON.parse(up.data).data.files[0].size, 3);
    const down = await wafer.downloadFile({ url: `${server.urls.download}?size=10` });
    assert.equal(down.statusCode, 200);
    assert.equal(fs.readFileSync(down.tempFilePath).length, 10 + 'node'.length);
    fs.rmSync(path.dirname(down.tempFilePath), { recursive: true, force: true });
    const target = path.join(dir, 'b.bin');
    const saved = await wafer.downloadFile({ url: server.urls.download, filePath: target });
    assert.equal(saved.filePath, target);
    assert.equal(fs.readFileSync(target).length, 1024 + 'node'.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('abort() aborts the fetch; a timeout is ERR_REQUEST_TIMEOUT', async () => {
  server.respondWith('/slow', { delayMs: 5000, body: {}, times: 2 });
  const before = server.counters.requests['/slow'] || 0;
  const p = wafer.request({ url: `${server.url}/slow` });
  await waitFor(() => (server.counters.requests['/slow'] || 0) === before + 1);
  p.abort();
  await assert.rejects(p, (e) => e.type === 'ERR_REQUEST_ABORTED' && e.errMsg === 'request:fail abort');
  await assert.rejects(wafer.request({ url: `${server.url}/slow`, timeout: 50 }), (e) => e.type === 'ERR_REQUEST_TIMEOUT');
});
