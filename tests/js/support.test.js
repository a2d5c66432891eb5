'use strict';
// Tests of the loopback Wafer servers (tests/support), driven from the host with
// fetch and the `ws` client.

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');

const { startServer, waitFor, delay, MAGIC } = require('../support');

// Plain GET/POST with headers; returns { status, text, json }.
async function get(url, headers = {}, init = {}) {
  const res = await fetch(url, { headers, ...init });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch (_) { json = undefined; }
  return { status: res.status, text, json, headers: res.headers };
}

const fullLogin = (code) => ({ 'X-WX-Code': code, 'X-WX-Encrypted-Data': Buffer.from('{"nickName":"n"}').toString('base64'), 'X-WX-IV': 'aXY=' });

// Connect a ws client and collect its frames.
function connect(url) {
  const ws = new WebSocket(url);
  const frames = [];
  const state = { open: false, closed: false, code: null, error: null, unexpected: null };
  ws.on('open', () => { state.open = true; });
  ws.on('message', (d, isBinary) => frames.push(isBinary ? [...d] : d.toString()));
  ws.on('close', (code) => { state.closed = true; state.code = code; });
  ws.on('error', (e) => { state.error = e; });
  ws.on('unexpected-response', (req, res) => { state.unexpected = res.statusCode; ws.terminate(); });
  return { ws, frames, state };
}

async function multipart(url, headers, fields, file) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([file]), 'a.bin');
  return get(url, headers, { method: 'POST', body: form });
}

describe('Wafer 1 server', () => {
  let server;
  before(async () => { server = await startServer({ dialect: 'wafer1' }); });
  after(() => server.stop());

  test('login answers a fresh session per login; failures carry the magic id', async () => {
    const a = await get(server.urls.login, fullLogin('w1-1'));
    assert.equal(a.json[MAGIC], 1);
    assert.ok(a.json.session.id && a.json.session.skey);
    const b = await get(server.urls.login, fullLogin('w1-2'));
    assert.notEqual(a.json.session.id, b.json.session.id);
    assert.notEqual(a.json.session.skey, b.json.session.skey);

    const missing = await get(server.urls.login, { 'X-WX-Code': 'w1-3' });
    assert.deepEqual(Object.keys(missing.json).sort(), [MAGIC, 'error', 'message'].sort());
    assert.equal(missing.json.error, 'ERR_LOGIN_FAILED');

    const reused = await get(server.urls.login, fullLogin('w1-1'));
    assert.equal(reused.json.error, 'ERR_LOGIN_FAILED');
    assert.match(reused.json.message, /code been used/);

    server.failNextLogins(1);
    assert.equal((await get(server.urls.login, fullLogin('w1-4'))).json.error, 'ERR_LOGIN_FAILED');
    assert.ok((await get(server.urls.login, fullLogin('w1-5'))).json.session);
    assert.deepEqual(server.counters.logins, { total: 6, full: 3, code: 0, failed: 3 });
    assert.equal(server.headersFor('/login')[0]['x-wx-code'], 'w1-1');
  });

  test('/user: valid, invalid, expired and missing session', async () => {
    const { session } = (await get(server.urls.login, fullLogin('w1u-1'))).json;
    const ok = await get(server.urls.user, { 'X-WX-Id': session.id, 'X-WX-Skey': session.skey });
    assert.equal(ok.json.code, 0);
    assert.equal(ok.json.data.userInfo.nickName, 'n');
    assert.equal(ok.json.data.userInfo.openId, 'w1u');

    const bad = await get(server.urls.user, { 'X-WX-Id': session.id, 'X-WX-Skey': 'nope' });
    assert.equal(bad.json[MAGIC], 1);
    assert.equal(bad.json.error, 'ERR_INVALID_SESSION');

    const none = await get(server.urls.user);
    assert.equal(none.json.error, 'ERR_CHECK_LOGIN_FAILED');

    server.expireAllSessions();
    const expired = await get(server.urls.user, { 'X-WX-Id': session.id, 'X-WX-Skey': session.skey });
    assert.equal(expired.json.error, 'ERR_INVALID_SESSION');
  });

  test('respondWith: one-shot 500, HTML, empty body, garbage', async () => {
    server.respondWith('/user', { status: 500, body: { error: 'x' } });
    server.respondWith('/user', { raw: '<html>' });
    server.respondWith('/user', { status: 200 });
    server.respondWith('/user', { raw: Buffer.from([0xff, 0x00, 0x7b]), headers: { 'Content-Type': 'application/json' } });
    const r1 = await get(server.urls.user);
    assert.deepEqual([r1.status, r1.json], [500, { error: 'x' }]);
    assert.equal((await get(server.urls.user)).text, '<html>');
    assert.equal((await get(server.urls.user)).text, '');
    const r4 = await get(server.urls.user);
    assert.equal(r4.json, undefined);
    assert.equal(r4.headers.get('content-type'), 'application/json');
    assert.equal((await get(server.urls.user)).json.error, 'ERR_CHECK_LOGIN_FAILED', 'back to normal');
  });

  test('loginDelayMs delays the login answer', async () => {
    server.loginDelayMs = 80;
    const t0 = Date.now();
    await get(server.urls.login, fullLogin('w1d-1'));
    assert.ok(Date.now() - t0 >= 70);
    server.loginDelayMs = 0;
  });

  test('tunnel handshake, packets, echo, timeout, pong, close', async () => {
    server.knobs.tunnelTimeout = 7;
    const { session } = (await get(server.urls.login, fullLogin('w1t-1'))).json;
    const h = { 'X-WX-Id': session.id, 'X-WX-Skey': session.skey };
    assert.equal((await get(server.urls.tunnel)).json.error, 'ERR_CHECK_LOGIN_FAILED', 'session checked');
    const { url } = (await get(server.urls.tunnel, h)).json;
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/ws\?tunnelId=/);
    const id = new URL(url).searchParams.get('tunnelId');

    const c = connect(url);
    await waitFor(() => c.frames.length === 1);
    assert.deepEqual(c.frames, ['timeout:7']);
    c.ws.send('ping');
    c.ws.send('message:{"type":"t","content":{"a":1}}');
    await waitFor(() => c.frames.length === 3);
    assert.deepEqual(c.frames.slice(1), ['pong', 'message:{"type":"t","content":{"a":1}}']);

    server.stopPong = true;
    c.ws.send('ping');
    await delay(30);
    assert.equal(c.frames.length, 3, 'half-open: no pong');
    server.stopPong = false;

    assert.equal(server.sendTo(id, 'message:{"type":"push","content":2}'), true);
    server.sendBinary(id, [1, 2]);
    assert.equal(server.broadcast('all', 'x'), 1);
    await waitFor(() => c.frames.length === 6);
    assert.deepEqual(c.frames.slice(3), ['message:{"type":"push","content":2}', [1, 2], 'message:{"type":"all","content":"x"}']);

    c.ws.send('close');
    await waitFor(() => c.state.closed);
    const t = server.tunnels.get(id);
    assert.deepEqual(t.frames, ['ping', 'message:{"type":"t","content":{"a":1}}', 'ping', 'close']);
    assert.equal(t.closedByClient, true);
    assert.equal(t.gotClosePacket, true);
    assert.equal(server.counters.connections, 1);

    // an id connects only once
    const again = connect(url);
    await waitFor(() => again.state.unexpected);
    assert.equal(again.state.unexpected, 403);
    server.knobs.tunnelTimeout = null;
  });

  test('closeTunnel, dropAll, refuseConnections, tunnelHandshakeFails', async () => {
    const { session } = (await get(server.urls.login, fullLogin('w1c-1'))).json;
    const h = { 'X-WX-Id': session.id, 'X-WX-Skey': session.skey };
    const a = connect((await get(server.urls.tunnel, h)).json.url);
    const b = connect((await get(server.urls.tunnel, h)).json.url);
    await waitFor(() => a.state.open && b.state.open);
    const idA = new URL(a.ws.url).searchParams.get('tunnelId');
    server.closeTunnel(idA);
    await waitFor(() => a.state.closed);
    assert.deepEqual(a.frames, ['close']);
    assert.equal(a.state.code, 1000);
    assert.equal(server.tunnels.get(idA).closedByClient, false);
    server.dropAll();
    await waitFor(() => b.state.closed);
    assert.equal(b.state.code, 1006);

    server.refuseConnections = true;
    const r = connect((await get(server.urls.tunnel, h)).json.url);
    await waitFor(() => r.state.unexpected);
    assert.equal(r.state.unexpected, 503);
    server.refuseConnections = false;

    server.tunnelHandshakeFails(1);
    const f = await get(server.urls.tunnel, h);
    assert.equal(f.status, 500);
    assert.equal(f.json.error, 'ERR_TUNNEL_HANDSHAKE_FAILED');
    assert.equal(f.json[MAGIC], undefined, 'not a session failure');
    assert.ok((await get(server.urls.tunnel, h)).json.url);
  });

  test('upload is session-checked and answers a JSON string', async () => {
    const { session } = (await get(server.urls.login, fullLogin('w1p-1'))).json;
    const r = await multipart(server.urls.upload, { 'X-WX-Id': session.id, 'X-WX-Skey': session.skey }, { a: 'b' }, Buffer.from('xyz'));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.data, { fields: { a: 'b' }, files: [{ field: 'file', filename: 'a.bin', size: 3 }] });
    assert.equal(server.uploads.at(-1).files[0].content.toString(), 'xyz');
    const denied = await multipart(server.urls.upload, {}, {}, Buffer.from('x'));
    assert.equal(denied.json.error, 'ERR_CHECK_LOGIN_FAILED');
  });
});

describe('Wafer 2 server', () => {
  let server;
  before(async () => { server = await startServer({ dialect: 'wafer2' }); });
  after(() => server.stop());

  test('full login and code-only login', async () => {
    const codeFirst = await get(server.urls.login, { 'X-WX-Code': 'w2-1' });
    assert.equal(codeFirst.json.code, -1);
    assert.match(codeFirst.json.error, /^ERR_/);

    const full = await get(server.urls.login, fullLogin('w2-2'));
    assert.equal(full.json.code, 0);
    assert.ok(full.json.data.skey);
    assert.equal(full.json.data.userinfo.openId, 'w2');
    assert.equal(full.json.data.userinfo.nickName, 'n');

    const codeOnly = await get(server.urls.login, { 'X-WX-Code': 'w2-3' });
    assert.equal(codeOnly.json.code, 0);
    assert.notEqual(codeOnly.json.data.skey, full.json.data.skey);
    assert.deepEqual(server.counters.logins, { total: 3, full: 1, code: 1, failed: 1 });

    // one session per user: the code-only login replaced the full login's skey
    const old = await get(server.urls.user, { 'X-WX-Skey': full.json.data.skey });
    assert.equal(old.json.code, -1);
    const cur = await get(server.urls.user, { 'X-WX-Skey': codeOnly.json.data.skey });
    assert.equal(cur.json.code, 0);
    assert.equal(cur.json.data.openId, 'w2');
  });

  test('/weapp/user: -1 for an invalid skey, or HTTP 401 with the knob', async () => {
    const { skey } = (await get(server.urls.login, fullLogin('w2u-1'))).json.data;
    assert.equal((await get(server.urls.user, { 'X-WX-Skey': 'bad' })).json.code, -1);
    assert.equal((await get(server.urls.user)).json.code, -1);
    server.unauthorizedStatus = true;
    const r = await get(server.urls.user, { 'X-WX-Skey': 'bad' });
    assert.equal(r.status, 401);
    server.unauthorizedStatus = false;
    server.expireAllSessions();
    assert.equal((await get(server.urls.user, { 'X-WX-Skey': skey })).json.code, -1);
    // the user stays registered: a code-only login works after expiry
    assert.equal((await get(server.urls.login, { 'X-WX-Code': 'w2u-2' })).json.code, 0);
  });

  test('tunnel handshake answers { tunnelId, connectUrl }; upload works', async () => {
    const { skey } = (await get(server.urls.login, fullLogin('w2t-1'))).json.data;
    const t = await get(server.urls.tunnel, { 'X-WX-Skey': skey });
    assert.equal(t.json.code, 0);
    assert.match(t.json.data.connectUrl, new RegExp(`tunnelId=${t.json.data.tunnelId}$`));
    const c = connect(t.json.data.connectUrl);
    await waitFor(() => c.state.open);
    c.ws.send('ping');
    await waitFor(() => c.frames[0] === 'pong');
    c.ws.close();
    await waitFor(() => server.tunnels.get(t.json.data.tunnelId).closed);
    assert.equal(server.tunnels.get(t.json.data.tunnelId).closedByClient, true);

    server.tunnelHandshakeFails(1);
    const f = await get(server.urls.tunnel, { 'X-WX-Skey': skey });
    assert.deepEqual([f.status, f.json.code], [500, -1]);

    const up = await multipart(server.urls.upload, { 'X-WX-Skey': skey }, {}, Buffer.from('12'));
    assert.equal(up.json.code, 0);
    assert.equal(up.json.data.files[0].size, 2);
    assert.equal(server.counters.requests['/weapp/upload'], 1);
  });
});

describe('waitFor', () => {
  test('resolves with the truthy value and times out with an error', async () => {
    let n = 0;
    assert.equal(await waitFor(() => (++n >= 3 ? 'done' : null), { interval: 1 }), 'done');
    await assert.rejects(waitFor(() => false, { timeout: 30, message: 'never' }), /timed out after 30 ms: never/);
  });
});

test('stop() closes keep-alive connections and open tunnels', async () => {
  const server = await startServer({ dialect: 'wafer1' });
  const c = connect(server.createTunnel().connectUrl);
  await waitFor(() => c.state.open);
  await get(`${server.url}/echo`);
  await server.stop();
  await waitFor(() => c.state.closed);
});
