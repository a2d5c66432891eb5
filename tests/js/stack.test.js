'use strict';

// End-to-end tests of the local Wafer stack (stack/), driven over real loopback
// HTTP and WebSocket exactly as a mini-program client would, with Node's http and ws.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const { once } = require('node:events');
const fs = require('node:fs');
const WebSocket = require('ws');

const { startStack, wechatBackend } = require('../../stack');
const { decryptUserData } = require('../../stack/wechat');

const MAGIC = 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
const sha1 = (s) => crypto.createHash('sha1').update(s, 'utf8').digest('hex');

// ---- helpers ---------------------------------------------------------------

function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h = Object.assign({}, headers);
    if (data) {
      if (!h['Content-Type']) h['Content-Type'] = 'application/json';
      h['Content-Length'] = data.length;
    }
    const req = http.request({
      method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers: h, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch (e) { json = undefined; }
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error(`timeout ${method} ${url}`)));
    req.on('error', reject);
    req.end(data);
  });
}

const get = (url, headers) => request('GET', url, { headers });
const post = (url, body, headers) => request('POST', url, { body, headers });

function signed(key, dataObj) {
  const data = JSON.stringify(dataObj);
  return { data, tcId: 'test', signature: sha1(data + key) };
}

function waitFor(emitter, event, predicate = () => true, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { emitter.removeListener(event, on); reject(new Error(`timeout waiting for ${event}`)); }, ms);
    function on(payload) {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      emitter.removeListener(event, on);
      resolve(payload);
    }
    emitter.on(event, on);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A tunnel client speaking the Wafer packet format over `ws`. */
class TunnelClient {
  constructor(url) {
    this.url = url;
    this.frames = [];
    this.waiters = [];
    this.closed = null;
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      const text = data.toString();
      this.frames.push(text);
      this._check();
    });
    this.ws.on('close', (code) => { this.closed = { code }; this._check(); });
    this.ws.on('error', () => {});
  }

  static async open(url) {
    const client = new TunnelClient(url);
    await once(client.ws, 'open');
    return client;
  }

  _check() {
    for (const w of this.waiters.slice()) {
      const i = this.frames.findIndex(w.match);
      if (i >= 0) {
        const [frame] = this.frames.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(frame);
      } else if (w.closeToo && this.closed) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(null);
      }
    }
  }

  /** Next frame matching `match` (raw text). */
  frame(match, ms = 3000) {
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timeout waiting for a frame on ${this.url}; got ${JSON.stringify(this.frames)}`));
      }, ms);
      this.waiters.push(w);
      this._check();
    });
  }

  /** Next `message:` packet of the given type → its content. */
  async message(type, ms) {
    const frame = await this.frame((f) => {
      if (!f.startsWith('message:')) return false;
      try { return JSON.parse(f.slice(8)).type === type; } catch (e) { return false; }
    }, ms);
    return JSON.parse(frame.slice(8)).content;
  }

  emit(type, content) { this.ws.send(`message:${JSON.stringify({ type, content })}`); }

  send(text) { this.ws.send(text); }

  /** Resolves with { code } once the socket is closed. */
  closed_(ms = 3000) {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), ms);
      this.ws.once('close', () => { clearTimeout(timer); resolve(this.closed); });
    });
  }

  terminate() { this.ws.terminate(); }
}

/** Open a raw WebSocket expecting the upgrade to fail → the HTTP status. */
function upgradeStatus(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (req, res) => { res.resume(); resolve(res.statusCode); req.destroy(); });
    ws.on('open', () => { ws.terminate(); reject(new Error('upgrade unexpectedly accepted')); });
    ws.on('error', (err) => { if (!/Unexpected server response/.test(err.message)) resolve(err.code || err.message); });
  });
}

// ---- the stack ---------------------------------------------------------------

let stack;

test.before(async () => {
  stack = await startStack({ sessionLifetimeMs: 60 * 60 * 1000 });
});

test.after(async () => {
  if (stack) await stack.stop();
});

test.afterEach(() => {
  if (stack) stack.resetFaults();
});

// Wafer 1 login as the official client does it: wx.login, wx.getUserInfo, GET loginUrl.
async function wafer1Login(user) {
  const wx = stack.wechatBackend(user);
  const { code } = await wx.login();
  const info = await wx.getUserInfo();
  const res = await get(stack.endpoints.wafer1.login, {
    'X-WX-Code': code, 'X-WX-Encrypted-Data': info.encryptedData, 'X-WX-IV': info.iv,
  });
  assert.equal(res.status, 200);
  assert.equal(res.json[MAGIC], 1, res.text);
  assert.ok(res.json.session && res.json.session.id && res.json.session.skey, res.text);
  return { id: res.json.session.id, skey: res.json.session.skey, userInfo: info.userInfo };
}

const wafer1Headers = (s) => ({ 'X-WX-Id': s.id, 'X-WX-Skey': s.skey });

async function wafer2Login(user) {
  const wx = stack.wechatBackend(user);
  const { code } = await wx.login();
  const info = await wx.getUserInfo();
  const res = await get(stack.endpoints.wafer2.login, {
    'X-WX-Code': code, 'X-WX-Encrypted-Data': info.encryptedData, 'X-WX-IV': info.iv,
  });
  assert.equal(res.json && res.json.code, 0, res.text);
  return res.json.data;
}

// ---- mock WeChat -------------------------------------------------------------

test('startStack exposes urls, endpoints and control objects', () => {
  for (const name of ['wechat', 'auth', 'tunnel', 'wafer1', 'wafer2']) {
    assert.match(stack.urls[name], /^http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(stack[name] && typeof stack[name].stop === 'function', name);
  }
  assert.match(stack.urls.auth, /\/mina_auth\/$/);
  assert.match(stack.endpoints.wafer2.login, /\/weapp\/login$/);
});

test('wechatBackend has exactly login / getUserInfo / checkSession', async () => {
  const wx = wechatBackend(stack.urls, 'shape');
  assert.deepEqual(Object.keys(wx).sort(), ['checkSession', 'getUserInfo', 'login']);
  assert.equal(await wx.checkSession(), false);
  const res = await wx.login();
  assert.deepEqual(Object.keys(res), ['code']);
  assert.equal(await wx.checkSession(), true);
  const info = await wx.getUserInfo();
  assert.deepEqual(Object.keys(info).sort(), ['encryptedData', 'iv', 'rawData', 'signature', 'userInfo']);
  assert.equal(info.userInfo.nickName, 'shape');
  stack.wechat.expireSession('shape');
  assert.equal(await wx.checkSession(), false);
});

test('mock WeChat: codes are single-use, session_key rotates, userinfo is encrypted with it', async () => {
  const wx = stack.wechatBackend('wendy');
  const q = (code, extra = {}) => new URLSearchParams(Object.assign({
    appid: stack.appId, secret: stack.appSecret, js_code: code, grant_type: 'authorization_code',
  }, extra));
  const exchange = (code, extra) => get(`${stack.urls.wechat}/sns/jscode2session?${q(code, extra)}`).then((r) => r.json);

  const { code } = await wx.login();
  const first = await exchange(code);
  assert.ok(first.openid && first.session_key, JSON.stringify(first));
  assert.equal(Buffer.from(first.session_key, 'base64').length, 16);
  assert.equal((await exchange(code)).errcode, 40163, 'a code is single-use');
  assert.equal((await exchange('nope')).errcode, 40029);
  assert.equal((await exchange((await wx.login()).code, { secret: 'wrong' })).errcode, 40125);

  const { code: code2 } = await wx.login();
  const info = await wx.getUserInfo();
  const second = await exchange(code2);
  assert.equal(second.openid, first.openid, 'openid is stable');
  assert.notEqual(second.session_key, first.session_key, 'every login rotates session_key');
  assert.equal(info.signature, sha1(info.rawData + second.session_key));
  const profile = JSON.parse(decryptUserData(second.session_key, info.encryptedData, info.iv));
  assert.equal(profile.openId, second.openid);
  assert.equal(profile.nickName, 'wendy');
  assert.equal(profile.watermark.appid, stack.appId);
  assert.ok(Math.abs(profile.watermark.timestamp - Date.now() / 1000) < 60);
  // The old key no longer opens the data: decryption fails, or (when the garbage happens
  // to end in valid padding) yields something that is not the profile.
  const plain = decryptUserData(second.session_key, info.encryptedData, info.iv);
  let stale;
  try {
    stale = decryptUserData(first.session_key, info.encryptedData, info.iv);
  } catch (e) {
    stale = null;
  }
  assert.notEqual(stale, plain);

  // codes expire
  stack.wechat.codeTtlMs = 30;
  const { code: late } = await wx.login();
  await sleep(60);
  stack.wechat.codeTtlMs = 5 * 60 * 1000;
  assert.equal((await exchange(late)).errcode, 40029);
});

// ---- auth server ---------------------------------------------------------------

test('auth server: id_skey, auth, 60012, 60011, decrypt failure', async () => {
  const call = (interfaceName, para) => post(stack.urls.auth, {
    version: 1, componentName: 'MA', interface: { interfaceName, para },
  }).then((r) => r.json);
  const wx = stack.wechatBackend('ava');

  // getUserInfo BEFORE a second wx.login: encrypted with a session_key that is gone
  await wx.login();
  const stale = await wx.getUserInfo();
  const { code } = await wx.login();
  const bad = await call('qcloud.cam.id_skey', { code, encrypt_data: stale.encryptedData, iv: stale.iv });
  assert.notEqual(bad.returnCode, 0);
  assert.match(bad.returnMessage, /decrypt/);

  const { code: code2 } = await wx.login();
  const info = await wx.getUserInfo();
  const ok = await call('qcloud.cam.id_skey', { code: code2, encrypt_data: info.encryptedData, iv: info.iv });
  assert.equal(ok.returnCode, 0, JSON.stringify(ok));
  assert.equal(ok.returnMessage, 'OK');
  const { id, skey, user_info: userInfo, duration } = ok.returnData;
  assert.ok(id && skey);
  assert.equal(userInfo.nickName, 'ava');
  assert.equal(duration, 3600);

  const check = await call('qcloud.cam.auth', { id, skey });
  assert.equal(check.returnCode, 0);
  assert.deepEqual(check.returnData.user_info, userInfo);
  assert.equal((await call('qcloud.cam.auth', { id, skey: 'wrong' })).returnCode, 60012);
  assert.equal((await call('qcloud.cam.auth', { id: 'unknown', skey })).returnCode, 60012);
  assert.equal((await call('qcloud.cam.id_skey', { code: code2, encrypt_data: info.encryptedData, iv: info.iv })).returnCode, 60020, 'used code');
  assert.notEqual((await post(stack.urls.auth, 'not json')).json.returnCode, 0);

  stack.auth.expireAll();
  assert.equal((await call('qcloud.cam.auth', { id, skey })).returnCode, 60011);
});

// ---- Wafer 1 -------------------------------------------------------------------

test('Wafer 1: login, /user, expired session → ERR_INVALID_SESSION', async () => {
  const session = await wafer1Login('alice');

  const user = await get(stack.endpoints.wafer1.user, wafer1Headers(session));
  assert.equal(user.json.code, 0, user.text);
  assert.equal(user.json.message, 'ok');
  assert.equal(user.json.data.userInfo.nickName, 'alice');
  assert.equal(user.json.data.userInfo.openId, stack.wechat.getUser('alice').openid);

  const noSession = await get(stack.endpoints.wafer1.user);
  assert.equal(noSession.json[MAGIC], 1);
  assert.equal(noSession.json.error, 'ERR_CHECK_LOGIN_FAILED');

  const wrong = await get(stack.endpoints.wafer1.user, { 'X-WX-Id': session.id, 'X-WX-Skey': 'bad' });
  assert.equal(wrong.json.error, 'ERR_INVALID_SESSION');

  stack.auth.expireAll();
  const expired = await get(stack.endpoints.wafer1.user, wafer1Headers(session));
  assert.equal(expired.json[MAGIC], 1);
  assert.equal(expired.json.error, 'ERR_INVALID_SESSION', expired.text);
  assert.ok(expired.json.message);

  // logging in again gives a working session
  const again = await wafer1Login('alice');
  assert.equal((await get(stack.endpoints.wafer1.user, wafer1Headers(again))).json.code, 0);
});

test('Wafer 1: a login whose user info predates the last wx.login fails with ERR_LOGIN_FAILED', async () => {
  const wx = stack.wechatBackend('racer');
  const a = await wx.login();
  const infoA = await wx.getUserInfo();
  await wx.login(); // a concurrent login rotates session_key
  const res = await get(stack.endpoints.wafer1.login, {
    'X-WX-Code': a.code, 'X-WX-Encrypted-Data': infoA.encryptedData, 'X-WX-IV': infoA.iv,
  });
  assert.equal(res.json[MAGIC], 1);
  assert.equal(res.json.error, 'ERR_LOGIN_FAILED');
  assert.match(res.json.message, /60021/);
});

test('Wafer 1: auth server faults surface as login failures', async () => {
  const wx = stack.wechatBackend('faulty');
  const attempt = async () => {
    const { code } = await wx.login();
    const info = await wx.getUserInfo();
    return (await get(stack.endpoints.wafer1.login, {
      'X-WX-Code': code, 'X-WX-Encrypted-Data': info.encryptedData, 'X-WX-IV': info.iv,
    })).json;
  };
  stack.auth.garbage = true;
  assert.equal((await attempt()).error, 'ERR_LOGIN_FAILED');
  stack.auth.garbage = false;
  stack.auth.down = true;
  assert.equal((await attempt()).error, 'ERR_LOGIN_FAILED');
  stack.auth.down = false;
  stack.auth.httpStatus = 500;
  assert.equal((await attempt()).error, 'ERR_LOGIN_FAILED');
  stack.auth.httpStatus = 0;
  stack.auth.slowMs = 150;
  const t0 = Date.now();
  const slow = await attempt();
  assert.ok(Date.now() - t0 >= 140);
  assert.ok(slow.session, JSON.stringify(slow));
});

test('Wafer 1: two users chat through /tunnel', async () => {
  const w1 = stack.wafer1;
  const alice = await wafer1Login('alice1');
  const bob = await wafer1Login('bob1');

  const noLogin = await get(stack.endpoints.wafer1.tunnel);
  assert.equal(noLogin.json[MAGIC], 1, 'the tunnel handshake checks the login');

  const requested = waitFor(w1, 'onRequest');
  const hsA = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(alice));
  assert.match(hsA.json.url, /^ws:\/\/127\.0\.0\.1:\d+\/ws\?tunnelId=/, hsA.text);
  const reqA = await requested;
  assert.equal(reqA.userInfo.nickName, 'alice1');
  const tunnelA = new URL(hsA.json.url).searchParams.get('tunnelId');
  assert.equal(reqA.tunnelId, tunnelA);
  assert.equal(stack.tunnel.getTunnel(tunnelA).receiveUrl, `${stack.urls.wafer1}/tunnel`,
    'the bracketed [127.0.0.1:port] receiveUrl of the SDK is un-bracketed');
  assert.match(stack.tunnel.getTunnel(tunnelA).requestedReceiveUrl, /^http:\/\/\[127\.0\.0\.1:\d+\]\/tunnel$/);

  const connected = waitFor(w1, 'onConnect', (e) => e.tunnelId === tunnelA);
  const a = await TunnelClient.open(hsA.json.url);
  await connected;
  const enterA = await a.message('people');
  assert.deepEqual({ total: enterA.total, who: enterA.enter.nickName }, { total: 1, who: 'alice1' });

  a.send('ping');
  assert.equal(await a.frame((f) => f === 'pong'), 'pong');

  const hsB = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(bob));
  const b = await TunnelClient.open(hsB.json.url);
  for (const client of [a, b]) {
    const enterB = await client.message('people');
    assert.equal(enterB.total, 2);
    assert.equal(enterB.enter.nickName, 'bob1');
  }

  const heard = waitFor(w1, 'onMessage');
  a.emit('speak', { word: 'hello bob' });
  const msg = await heard;
  assert.equal(msg.type, 'speak');
  assert.deepEqual(msg.content, { word: 'hello bob' });
  for (const client of [a, b]) {
    const speak = await client.message('speak');
    assert.equal(speak.who.nickName, 'alice1');
    assert.equal(speak.word, 'hello bob');
  }

  const tunnelB = new URL(hsB.json.url).searchParams.get('tunnelId');
  let closeReportsB = 0;
  const countB = (e) => { if (e.tunnelId === tunnelB) closeReportsB += 1; };
  w1.on('onClose', countB);
  const closedB = waitFor(w1, 'onClose');
  b.send('close');
  await b.closed_();
  await closedB;
  const leave = await a.message('people');
  assert.equal(leave.total, 1);
  assert.equal(leave.leave.nickName, 'bob1');
  assert.deepEqual(w1.chat.connectedTunnelIds, [tunnelA]);

  // the close packet and the socket close that follows it make ONE close report
  await sleep(100);
  w1.removeListener('onClose', countB);
  assert.equal(closeReportsB, 1);
  assert.equal(b.closed.code, 1000);

  // server-initiated close through the official TunnelService.closeTunnel
  const closedA = waitFor(w1, 'onClose');
  await w1.closeTunnel(tunnelA);
  assert.equal(await a.frame((f) => f === 'close'), 'close');
  await a.closed_();
  await closedA;
  assert.deepEqual(w1.chat.connectedTunnelIds, []);
});

test('Wafer 1: the SDK rejects a tunnel report with a wrong signature', async () => {
  const res = await post(`${stack.urls.wafer1}/tunnel`, {
    data: JSON.stringify({ tunnelId: 'x', type: 'connect' }), signature: 'bad',
  });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 9003);
  const good = await post(`${stack.urls.wafer1}/tunnel`, signed(stack.signatureKey, { tunnelId: 'x', type: 'message', content: '{}' }));
  assert.equal(good.json.code, 0);
});

test('Wafer 1: upload with a session', async () => {
  const s = await wafer1Login('uploader1');
  const boundary = '----stacktest';
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n`
    + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello world\r\n`
    + `--${boundary}--\r\n`;
  const res = await request('POST', stack.endpoints.wafer1.upload, {
    headers: Object.assign({ 'Content-Type': `multipart/form-data; boundary=${boundary}` }, wafer1Headers(s)), body,
  });
  assert.equal(res.json.code, 0, res.text);
  assert.equal(res.json.data.fields.note, 'hi');
  assert.equal(res.json.data.files[0].size, 11);
  const denied = await request('POST', stack.endpoints.wafer1.upload, {
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, body,
  });
  assert.equal(denied.json.error, 'ERR_CHECK_LOGIN_FAILED');
});

// ---- Wafer 2 -------------------------------------------------------------------

test('Wafer 2: full login, code-only login, /weapp/user, bad skey', async () => {
  const ep = stack.endpoints.wafer2;
  const data = await wafer2Login('carol');
  assert.ok(data.skey);
  assert.equal(data.userinfo.nickName, 'carol');
  assert.equal(typeof data.time, 'number');

  const user = await get(ep.user, { 'X-WX-Skey': data.skey });
  assert.deepEqual(user.json, { code: 0, data: data.userinfo });

  const wx = stack.wechatBackend('carol');
  const { code } = await wx.login();
  const codeOnly = await get(ep.login, { 'X-WX-Code': code });
  assert.equal(codeOnly.json.code, 0, codeOnly.text);
  assert.notEqual(codeOnly.json.data.skey, data.skey, 'a code-only login issues a new skey');
  assert.deepEqual(codeOnly.json.data.userinfo, data.userinfo);
  assert.equal((await get(ep.user, { 'X-WX-Skey': codeOnly.json.data.skey })).json.code, 0);

  const old = await get(ep.user, { 'X-WX-Skey': data.skey });
  assert.equal(old.status, 200);
  assert.equal(old.json.code, -1);
  assert.equal(old.json.error, 'ERR_SKEY_INVALID');
  assert.equal((await get(ep.user, { 'X-WX-Skey': 'garbage' })).json.code, -1);
  assert.equal((await get(ep.user)).json.code, -1);
  assert.equal((await get(ep.login)).json.error, 'ERR_HEADER_MISSED');

  const stranger = await stack.wechatBackend('stranger').login();
  const unknown = await get(ep.login, { 'X-WX-Code': stranger.code });
  assert.equal(unknown.json.code, -1);
  assert.ok(unknown.json.error);

  const reused = await get(ep.login, { 'X-WX-Code': code });
  assert.equal(reused.json.code, -1);
  assert.match(reused.json.error, /ERR_GET_SESSION_KEY/);

  await stack.wafer2.expireAll();
  const expired = await get(ep.user, { 'X-WX-Skey': codeOnly.json.data.skey });
  assert.deepEqual(expired.json, { code: -1, data: {} });
});

test('Wafer 2: two users chat through /weapp/tunnel', async () => {
  const w2 = stack.wafer2;
  const ep = stack.endpoints.wafer2;
  const dave = await wafer2Login('dave');
  const erin = await wafer2Login('erin');

  assert.equal((await get(ep.tunnel, { 'X-WX-Skey': 'bad' })).json.code, -1);

  const hsD = await get(ep.tunnel, { 'X-WX-Skey': dave.skey });
  assert.equal(hsD.json.code, 0, hsD.text);
  assert.ok(hsD.json.data.tunnelId);
  assert.match(hsD.json.data.connectUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws\?tunnelId=/);
  assert.equal(stack.tunnel.getTunnel(hsD.json.data.tunnelId).receiveUrl, `${stack.urls.wafer2}/weapp/tunnel`);

  const d = await TunnelClient.open(hsD.json.data.connectUrl);
  assert.equal((await d.message('people')).enter.nickName, 'dave');

  const hsE = await get(ep.tunnel, { 'X-WX-Skey': erin.skey });
  const e = await TunnelClient.open(hsE.json.data.connectUrl);
  for (const client of [d, e]) {
    const people = await client.message('people');
    assert.equal(people.total, 2);
    assert.equal(people.enter.nickName, 'erin');
  }

  e.emit('speak', { word: 'hi dave' });
  for (const client of [d, e]) {
    const speak = await client.message('speak');
    assert.equal(speak.who.nickName, 'erin');
    assert.equal(speak.word, 'hi dave');
  }

  const closed = waitFor(w2, 'onClose');
  e.send('close');
  await closed;
  const leave = await d.message('people');
  assert.deepEqual({ total: leave.total, who: leave.leave.nickName }, { total: 1, who: 'erin' });

  // a report with a bad signature is refused the quickstart way
  const bad = await post(`${stack.urls.wafer2}/weapp/tunnel`, { data: JSON.stringify({ tunnelId: 'x', type: 'close' }), signature: 'nope' });
  assert.equal(bad.json.code, -1);
  assert.equal(bad.json.error, 'ERR_INVALID_RESPONSE');

  d.send('close');
  await d.closed_();
});

test('Wafer 2: upload needs a valid skey', async () => {
  const s = await wafer2Login('uploader2');
  const boundary = 'xyz';
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.bin"\r\nContent-Type: application/octet-stream\r\n\r\n12345\r\n--${boundary}--\r\n`;
  const headers = { 'Content-Type': `multipart/form-data; boundary=${boundary}` };
  const ok = await request('POST', stack.endpoints.wafer2.upload, { headers: Object.assign({ 'X-WX-Skey': s.skey }, headers), body });
  assert.equal(ok.json.code, 0, ok.text);
  assert.equal(ok.json.data.files[0].size, 5);
  const denied = await request('POST', stack.endpoints.wafer2.upload, { headers, body });
  assert.equal(denied.json.code, -1);
});

// ---- Wafer 2: what the real server does (DESIGN.md §4, "The real Wafer 2 server") ------------

/** Poll `fn` (sync or async) until it returns truthy. */
async function until(fn, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const openidOf = (user) => stack.wechat.getUser(user).openid;
const rowsOf = (user) => stack.wafer2.query('SELECT * FROM cSessionInfo WHERE open_id = ?', [openidOf(user)]);

test('Wafer 2: the official wafer-node-sdk 1.4.5 on MariaDB, with the quickstart\'s cSessionInfo table', async () => {
  const { versions } = stack.wafer2;
  assert.equal(versions['wafer-node-sdk'], '1.4.5');
  assert.equal(versions['wafer-node-sdk'], require('wafer-node-sdk/package.json').version);
  assert.match(versions.mariadb, /^\d+\.\d+\.\d+-MariaDB/);
  const columns = await stack.wafer2.query(
    'SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, COLLATION_NAME AS coll FROM information_schema.COLUMNS '
    + "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cSessionInfo' ORDER BY ORDINAL_POSITION",
  );
  assert.deepEqual(columns.map((c) => `${c.name} ${c.type}`), [
    'open_id varchar(100)', 'uuid varchar(100)', 'skey varchar(100)', 'create_time timestamp',
    'last_visit_time timestamp', 'session_key varchar(100)', 'user_info varchar(2048)',
  ]);
  for (const c of columns.filter((col) => col.type.startsWith('varchar'))) assert.equal(c.coll, 'utf8mb4_unicode_ci', c.name);
  const indexes = await stack.wafer2.query(
    'SELECT INDEX_NAME AS name, COLUMN_NAME AS col FROM information_schema.STATISTICS '
    + "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cSessionInfo'",
  );
  assert.deepEqual(indexes.map((i) => `${i.name}(${i.col})`).sort(), ['PRIMARY(open_id)', 'openid(open_id)', 'skey(skey)']);

  // A login writes the row the SDK's AuthDbService writes.
  const data = await wafer2Login('hal');
  const [row] = await rowsOf('hal');
  assert.equal(row.skey, data.skey);
  assert.deepEqual(JSON.parse(row.user_info), data.userinfo);
  assert.match(row.uuid, /^[0-9a-f-]{36}$/);
  assert.ok(Math.abs(row.last_visit_time.getTime() - Date.now()) < 60000);
});

test('Wafer 2 (real server): a session dies its lifetime after login; validating it does not extend it', async () => {
  const ep = stack.endpoints.wafer2;
  const s = await wafer2Login('ike');
  const lifetime = stack.wafer2.sessionLifetimeMs / 1000; // wxLoginExpires, 1 h in this file
  const shift = (seconds) => stack.wafer2.query(
    'UPDATE cSessionInfo SET last_visit_time = last_visit_time - INTERVAL ? SECOND WHERE open_id = ?', [seconds, openidOf('ike')],
  );
  await shift(lifetime - 30);
  const [before] = await rowsOf('ike');
  assert.equal((await get(ep.user, { 'X-WX-Skey': s.skey })).json.code, 0, 'still inside the lifetime');
  const [after] = await rowsOf('ike');
  assert.equal(after.last_visit_time.getTime(), before.last_visit_time.getTime(), '/weapp/user leaves last_visit_time alone');

  await shift(60);
  assert.deepEqual((await get(ep.user, { 'X-WX-Skey': s.skey })).json, { code: -1, data: {} });
  assert.deepEqual((await get(ep.tunnel, { 'X-WX-Skey': s.skey })).json, { code: -1, error: 'ERR_UNLOGIN' });
  const wx = stack.wechatBackend('ike');
  assert.equal(await wx.checkSession(), true, 'WeChat still vouches for the session the server dropped');
});

test('Wafer 2 (real server): skey lookup ignores letter case; unknown routes answer { code: 0, data: {} }', async () => {
  const s = await wafer2Login('jay');
  const user = await get(stack.endpoints.wafer2.user, { 'X-WX-Skey': s.skey.toUpperCase() });
  assert.equal(user.json.code, 0, user.text);
  assert.equal(user.json.data.nickName, 'jay');
  for (const [method, p] of [['GET', '/weapp/nothing'], ['GET', '/weapp/users'], ['POST', '/weapp/login'], ['GET', '/']]) {
    const res = await request(method, `${stack.urls.wafer2}${p}`, { headers: { 'X-WX-Skey': s.skey } });
    assert.equal(res.status, 200, `${method} ${p}`);
    assert.deepEqual(res.json, { code: 0, data: {} }, `${method} ${p}`);
  }
});

test('Wafer 2 (real server): a user_info longer than 2048 characters fails the login', async () => {
  stack.wechat.setProfile('kim', { avatarUrl: `https://example.invalid/${'a'.repeat(2100)}` });
  const wx = stack.wechatBackend('kim');
  const { code } = await wx.login();
  const info = await wx.getUserInfo();
  const res = await get(stack.endpoints.wafer2.login, {
    'X-WX-Code': code, 'X-WX-Encrypted-Data': info.encryptedData, 'X-WX-IV': info.iv,
  });
  assert.equal(res.status, 200);
  assert.equal(res.json.code, -1);
  assert.match(res.json.error, /^ERR_WHEN_INSERT_TO_DB\n.*ER_DATA_TOO_LONG/);
  assert.deepEqual(await rowsOf('kim'), []);
});

test('Wafer 2 controls: invalidateAll() forgets the skeys, forgetUsers() the users', async () => {
  const ep = stack.endpoints.wafer2;
  const s = await wafer2Login('max');
  await stack.wafer2.invalidateAll();
  assert.deepEqual((await get(ep.user, { 'X-WX-Skey': s.skey })).json, { code: -1, error: 'ERR_SKEY_INVALID' });
  const wx = stack.wechatBackend('max');
  const again = await get(ep.login, { 'X-WX-Code': (await wx.login()).code });
  assert.equal(again.json.code, 0, 'the user is still stored: a code-only login works');
  await stack.wafer2.forgetUsers();
  const unknown = await get(ep.login, { 'X-WX-Code': (await wx.login()).code });
  assert.deepEqual(unknown.json, { code: -1, error: "Cannot read properties of undefined (reading 'user_info')" },
    'the SDK fails a code-only login of an unknown user with a TypeError');
});

test('Wafer 2 (real server): two concurrent first logins of one user: one fails with a duplicate key', async () => {
  const mysql = require('mysql');
  const ep = stack.endpoints.wafer2;
  const wx = stack.wechatBackend('lee');
  const a = await wx.login();
  const b = await wx.login();
  const info = await wx.getUserInfo(); // both codes exchange to the session_key this is encrypted with
  const conn = mysql.createConnection({ socketPath: stack.wafer2.mariadb.socket, user: 'root', database: stack.wafer2.database });
  const sql = (text) => new Promise((resolve, reject) => conn.query(text, (err, r) => (err ? reject(err) : resolve(r))));
  let logins;
  try {
    // Hold both logins at their "does this openid exist?" query, so neither sees the other's row.
    await sql('LOCK TABLES cSessionInfo WRITE');
    logins = [a, b].map(({ code }) => get(ep.login, {
      'X-WX-Code': code, 'X-WX-Encrypted-Data': info.encryptedData, 'X-WX-IV': info.iv,
    }));
    await until(async () => (await stack.wafer2.query(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND STATE = 'Waiting for table metadata lock'",
    ))[0].n === 2, 'both logins to wait for the table');
  } finally {
    await sql('UNLOCK TABLES').catch(() => {});
    conn.end();
  }
  const answers = (await Promise.all(logins)).map((r) => r.json);
  assert.deepEqual(answers.map((j) => j.code).sort(), [-1, 0], JSON.stringify(answers));
  assert.match(answers.find((j) => j.code === -1).error, /^ERR_WHEN_INSERT_TO_DB\n.*ER_DUP_ENTRY/);
  assert.equal((await rowsOf('lee')).length, 1);
});

// ---- tunnel server -----------------------------------------------------------------

/** A tiny receiver standing in for a business server's tunnel endpoint. */
async function startReceiver() {
  const reports = [];
  const events = new (require('node:events').EventEmitter)();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const report = { path: req.url, body, packet: JSON.parse(body.data) };
      reports.push(report);
      res.end('{"code":0}');
      events.emit('report', report);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: server.address().port, reports, events, close: () => new Promise((r) => { server.close(r); server.closeAllConnections(); }),
  };
}

test('tunnel server: signatures, bracketed receiveUrl, reports, ping, push', async () => {
  const key = stack.signatureKey;
  const t = stack.tunnel;
  const base = stack.urls.tunnel;
  const receiver = await startReceiver();
  try {
    const receiveUrl = `http://[127.0.0.1:${receiver.port}]/hook`;

    const badWsurl = await post(`${base}/get/wsurl`, { data: JSON.stringify({ receiveUrl, protocolType: 'wss' }), tcId: 'x', signature: 'wrong' });
    assert.equal(badWsurl.json.code, 9003);
    const badPush = await post(`${base}/ws/push`, { data: JSON.stringify([{ tunnelIds: ['x'], type: 'ping' }]), tcId: 'x', signature: sha1('other') });
    assert.equal(badPush.json.code, 9003);
    assert.equal((await post(`${base}/get/wsurl`, 'nope')).json.code, 9001);
    assert.equal((await post(`${base}/get/wsurl`, { tcId: 'x' })).json.code, 9002);

    const created = await post(`${base}/get/wsurl`, signed(key, { receiveUrl, protocolType: 'wss' }));
    assert.equal(created.json.code, 0, created.text);
    assert.equal(created.json.signature, sha1(created.json.data + key), 'the answer is signed');
    const { tunnelId, connectUrl } = JSON.parse(created.json.data);
    assert.match(connectUrl, new RegExp(`^ws://127\\.0\\.0\\.1:${new URL(base).port}/ws\\?tunnelId=${tunnelId}$`));
    assert.equal(t.getTunnel(tunnelId).receiveUrl, `http://127.0.0.1:${receiver.port}/hook`);

    const connect = waitFor(receiver.events, 'report', (r) => r.packet.type === 'connect');
    const c = await TunnelClient.open(connectUrl);
    const rc = await connect;
    assert.equal(rc.path, '/hook');
    assert.deepEqual(rc.packet, { tunnelId, type: 'connect' });
    assert.equal(rc.body.signature, sha1(rc.body.data + key));

    const message = waitFor(receiver.events, 'report', (r) => r.packet.type === 'message');
    c.send('message:{"type":"speak","content":{"word":"w"}}');
    assert.deepEqual((await message).packet, { tunnelId, type: 'message', content: '{"type":"speak","content":{"word":"w"}}' });

    c.send('ping');
    await c.frame((f) => f === 'pong');
    t.stopPong(true);
    c.send('ping');
    await assert.rejects(c.frame((f) => f === 'pong', 200));
    t.stopPong(false);

    const pushed = await post(`${base}/ws/push`, signed(key, [
      { tunnelIds: [tunnelId, 'unknown-id'], type: 'message', content: '{"type":"hi","content":1}' },
      { tunnelIds: [tunnelId], type: 'timeout', content: '30' },
    ]));
    assert.deepEqual(pushed.json, { code: 0, message: 'OK', data: { invalidTunnelIds: ['unknown-id'] } });
    assert.equal(await c.frame((f) => f.startsWith('message:')), 'message:{"type":"hi","content":1}');
    assert.equal(await c.frame((f) => f.startsWith('timeout')), 'timeout:30');
    assert.ok(t.sendRaw(tunnelId, 'message:not json'));
    assert.equal(await c.frame((f) => f === 'message:not json'), 'message:not json');

    const close = waitFor(receiver.events, 'report', (r) => r.packet.type === 'close');
    c.send('close');
    await c.closed_();
    await close;
    await sleep(100);
    assert.equal(receiver.reports.filter((r) => r.packet.type === 'close').length, 1, 'close is reported once');

    // a closed tunnel is invalid for pushes and cannot be reconnected
    const after = await post(`${base}/ws/push`, signed(key, [{ tunnelIds: [tunnelId], type: 'message', content: '{}' }]));
    assert.deepEqual(after.json.data.invalidTunnelIds, [tunnelId]);
    assert.equal(await upgradeStatus(connectUrl), 410);
    assert.equal(await upgradeStatus(`ws://127.0.0.1:${new URL(base).port}/ws?tunnelId=nope`), 404);

    // refuse(on): upgrades answered 503
    const again = JSON.parse((await post(`${base}/get/wsurl`, signed(key, { receiveUrl, protocolType: 'wss' }))).json.data);
    t.refuse(true);
    assert.equal(await upgradeStatus(again.connectUrl), 503);
    t.refuse(false);
    const c2 = await TunnelClient.open(again.connectUrl);
    c2.terminate();
    await waitFor(receiver.events, 'report', (r) => r.packet.type === 'close' && r.packet.tunnelId === again.tunnelId);
  } finally {
    await receiver.close();
  }
});

test('tunnel server: dropAll terminates every socket and the business server hears the closes', async () => {
  const w1 = stack.wafer1;
  const users = await Promise.all(['fay', 'gus'].map((u) => wafer1Login(`${u}-drop`)));
  const clients = [];
  for (const s of users) {
    const hs = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(s));
    const c = await TunnelClient.open(hs.json.url);
    await c.message('people');
    clients.push(c);
  }
  assert.equal(w1.chat.connectedTunnelIds.length, 2);
  const closes = [];
  const onClose = (e) => closes.push(e.tunnelId);
  w1.on('onClose', onClose);
  try {
    assert.equal(stack.tunnel.dropAll(), 2);
    for (const c of clients) {
      const { code } = await c.closed_();
      assert.equal(code, 1006, 'an abrupt drop, not a clean close');
    }
    const deadline = Date.now() + 3000;
    while (closes.length < 2 && Date.now() < deadline) await sleep(20);
    assert.equal(closes.length, 2);
    assert.deepEqual(w1.chat.connectedTunnelIds, []);
  } finally {
    w1.removeListener('onClose', onClose);
  }
});

test('tunnel server: stop() and start() again on the same port', async () => {
  const t = stack.tunnel;
  const port = t.port;
  const s = await wafer1Login('hank');
  const hs = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(s));
  const c = await TunnelClient.open(hs.json.url);
  await c.message('people');

  const closed = waitFor(stack.wafer1, 'onClose');
  await t.stop();
  await c.closed_();
  await closed; // a graceful stop reports the closes first
  assert.equal(t.running, false);

  const down1 = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(s));
  assert.ok(down1.json.error, `Wafer 1 answers { error } while the tunnel server is down: ${down1.text}`);
  const s2 = await wafer2Login('ivy');
  const down2 = await get(stack.endpoints.wafer2.tunnel, { 'X-WX-Skey': s2.skey });
  assert.equal(down2.json.code, -1);
  assert.match(down2.json.error, /ECONNREFUSED/, 'wafer-node-sdk passes on the axios error text');

  await t.start();
  assert.equal(t.port, port);
  const up = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(s));
  assert.ok(up.json.url, up.text);
  assert.equal(new URL(up.json.url).port, String(port));
  const c2 = await TunnelClient.open(up.json.url);
  const people = await c2.message('people');
  assert.equal(people.enter.nickName, 'hank');
  c2.send('close');
  await c2.closed_();

  // a crash (graceful: false) reports nothing
  const hs3 = await get(stack.endpoints.wafer1.tunnel, wafer1Headers(s));
  const c3 = await TunnelClient.open(hs3.json.url);
  await c3.message('people');
  let reported = false;
  const onClose = () => { reported = true; };
  stack.wafer1.on('onClose', onClose);
  await t.stop({ graceful: false });
  await c3.closed_();
  await sleep(100);
  stack.wafer1.removeListener('onClose', onClose);
  assert.equal(reported, false);
  await t.start();
});

test('stop() closes everything (a second stack can start after it)', async () => {
  const other = await startStack({ wafer1: false });
  assert.equal(other.wafer1, null);
  const res = await get(`${other.urls.wafer2}/weapp/user`);
  assert.equal(res.json.code, -1);
  assert.equal(other.wafer2.mariadb, stack.wafer2.mariadb, 'one MariaDB server per process');
  assert.notEqual(other.wafer2.database, stack.wafer2.database, 'a database per stack');
  const database = other.wafer2.database;
  await other.stop();
  await assert.rejects(get(`${other.urls.wafer2}/weapp/user`));
  assert.deepEqual(await stack.wafer2.query('SHOW DATABASES LIKE ?', [database]), [], 'its database is dropped');
  await other.stop(); // idempotent
});

// ---- MariaDB (stack/mariadb.js) ------------------------------------------------------------

const alive = (pid) => {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
};

/** A Node process owning a MariaDB server → { child, info: { pid, dir, watchdog } }. */
async function mariadbOwner() {
  const { spawn } = require('node:child_process');
  const script = `require(${JSON.stringify(require.resolve('../../stack/mariadb'))}).acquireMariaDb().then((db) => {
    process.stdout.write(JSON.stringify({ pid: db.pid, dir: db.dir, watchdog: db.guard.pid }) + '\\n');
    setInterval(() => {}, 1000);
  }, (err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const info = await until(() => (out.includes('\n') ? JSON.parse(out) : null), 'the owner to start MariaDB', 30000);
  return { child, info };
}

test('MariaDB: an owner killed with SIGKILL leaves no mariadbd and no directory', async () => {
  const { child, info } = await mariadbOwner();
  assert.ok(alive(info.pid) && fs.existsSync(info.dir));
  child.kill('SIGKILL');
  await until(() => !alive(info.pid) && !fs.existsSync(info.dir) && !alive(info.watchdog), 'mariadbd, its directory and the watchdog to go');
});

test('MariaDB: a watchdog killed with SIGKILL takes mariadbd with it; the next start removes its directory', async () => {
  const { MariaDb } = require('../../stack/mariadb');
  const { child, info } = await mariadbOwner();
  try {
    process.kill(info.watchdog, 'SIGKILL');
    await until(() => !alive(info.pid), 'mariadbd to die with its watchdog');
    assert.ok(fs.existsSync(info.dir), 'nobody was left to remove the directory');
  } finally {
    child.kill('SIGKILL');
  }
  const next = await new MariaDb().start();
  try {
    assert.equal(fs.existsSync(info.dir), false, 'swept by the next watchdog');
  } finally {
    await next.stop();
  }
  assert.equal(fs.existsSync(next.dir), false);
  assert.equal(alive(next.pid), false);
});
