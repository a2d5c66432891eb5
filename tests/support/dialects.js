'use strict';
// The two Wafer business-server dialects (tests/support/README.md, "Routes"). Each dialect is a route
// table: path -> async handler(ctx, req, res, url). `ctx` is the server's shared
// state (see servers.js).

const crypto = require('node:crypto');
const { sendJson, parseMultipart } = require('./http');

const MAGIC = 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';

const newId = () => crypto.randomUUID();
const newSkey = () => crypto.randomBytes(20).toString('hex');

// The fake WeChat backend's encryptedData is base64 JSON of the profile; decode it
// when we can, so the user info echoed back is the one the client sent.
function decodeUserInfo(encryptedData, openId) {
  try {
    const parsed = JSON.parse(Buffer.from(String(encryptedData), 'base64').toString('utf8'));
    if (parsed && typeof parsed === 'object') return { ...parsed, openId };
  } catch (_) { /* not ours: opaque data */ }
  return { openId, nickName: `user ${openId}`, avatarUrl: '', gender: 0, language: '' };
}

// Shared login steps: counts, injected failures, delay, code reuse, user lookup.
// Returns { ok: true, openId, userInfo, kind } or { ok: false, message }.
async function loginCommon(ctx, req, { allowCodeOnly }) {
  const code = req.headers['x-wx-code'];
  const encryptedData = req.headers['x-wx-encrypted-data'];
  const iv = req.headers['x-wx-iv'];
  const kind = code && !encryptedData && !iv && allowCodeOnly ? 'code' : 'full';
  ctx.counters.logins.total += 1;
  await ctx.sleep(ctx.knobs.loginDelayMs);

  const failed = (message) => {
    ctx.counters.logins.failed += 1;
    return { ok: false, message };
  };
  if (ctx.knobs.failLogins > 0) {
    ctx.knobs.failLogins -= 1;
    return failed('injected login failure');
  }
  if (!code) return failed('missing X-WX-Code header');
  if (kind === 'full' && (!encryptedData || !iv)) return failed('missing X-WX-Encrypted-Data or X-WX-IV header');
  // A WeChat login code is single use (errcode 40163, "code been used").
  if (ctx.knobs.rejectReusedCodes && ctx.state.usedCodes.has(code)) return failed(`code been used: ${code}`);
  ctx.state.usedCodes.add(code);

  const openId = ctx.identify(code);
  let user = ctx.state.users.get(openId);
  if (kind === 'code') {
    if (!user) return failed(`user ${openId} never did a full login`);
  } else {
    user = { openId, userInfo: decodeUserInfo(encryptedData, openId) };
    ctx.state.users.set(openId, user);
  }
  ctx.counters.logins[kind] += 1;
  return { ok: true, openId, userInfo: user.userInfo, kind };
}

function addSession(ctx, session) {
  if (ctx.knobs.oneSessionPerUser) {
    // A new login replaces the user's previous session (wafer-node-sdk keeps one
    // skey per open_id), so concurrent logins invalidate each other.
    for (const [k, s] of ctx.state.sessions) if (s.openId === session.openId) ctx.state.sessions.delete(k);
  }
  ctx.state.sessions.set(session.key, session);
  return session;
}

// ---------------------------------------------------------------------------
// Wafer 1 (qcloud-weapp-server-sdk 0.8.x shape)

const wafer1 = {
  name: 'wafer1',
  paths: { login: '/login', user: '/user', tunnel: '/tunnel', upload: '/upload', download: '/download' },

  // Session check: X-WX-Id + X-WX-Skey. Returns the session or null after answering.
  checkSession(ctx, req, res) {
    const id = req.headers['x-wx-id'];
    const skey = req.headers['x-wx-skey'];
    if (!id || !skey) {
      sendJson(res, 200, { [MAGIC]: 1, error: 'ERR_CHECK_LOGIN_FAILED', message: 'missing X-WX-Id or X-WX-Skey header' });
      return null;
    }
    const s = ctx.state.sessions.get(id);
    if (!s || s.skey !== skey || s.expired) {
      sendJson(res, 200, { [MAGIC]: 1, error: 'ERR_INVALID_SESSION', message: s && s.expired ? 'session expired' : 'invalid session' });
      return null;
    }
    return s;
  },

  routes: {
    async '/login'(ctx, req, res) {
      const r = await loginCommon(ctx, req, { allowCodeOnly: false });
      if (!r.ok) {
        sendJson(res, 200, { [MAGIC]: 1, error: 'ERR_LOGIN_FAILED', message: r.message });
        return;
      }
      const s = addSession(ctx, { key: newId(), skey: newSkey(), openId: r.openId, userInfo: r.userInfo, expired: false });
      s.id = s.key;
      sendJson(res, 200, { [MAGIC]: 1, session: { id: s.id, skey: s.skey } });
    },

    async '/user'(ctx, req, res) {
      const s = wafer1.checkSession(ctx, req, res);
      if (!s) return;
      sendJson(res, 200, { code: 0, message: 'ok', data: { userInfo: s.userInfo } });
    },

    async '/tunnel'(ctx, req, res) {
      const s = wafer1.checkSession(ctx, req, res);
      if (!s) return;
      if (ctx.takeHandshakeFailure(res)) return;
      const t = ctx.tunnel.create(s.openId);
      sendJson(res, 200, { url: t.connectUrl });
    },

    async '/upload'(ctx, req, res) {
      const s = wafer1.checkSession(ctx, req, res);
      if (!s) { req.resume(); return; }
      await handleUpload(ctx, req, res, s);
    },

    async '/download'(ctx, req, res, u) {
      const s = wafer1.checkSession(ctx, req, res);
      if (s) handleDownload(ctx, res, s, u);
    },
  },

  handshakeFailureBody: () => ({ error: 'ERR_TUNNEL_HANDSHAKE_FAILED', message: 'injected tunnel handshake failure' }),
};

// ---------------------------------------------------------------------------
// Wafer 2 (wafer-node-sdk 1.4.x / quickstart shape)

const wafer2 = {
  name: 'wafer2',
  paths: { login: '/weapp/login', user: '/weapp/user', tunnel: '/weapp/tunnel', upload: '/weapp/upload', download: '/weapp/download' },

  checkSession(ctx, req, res) {
    const skey = req.headers['x-wx-skey'];
    const s = skey ? ctx.state.sessions.get(skey) : null;
    if (!s || s.expired) {
      const message = !skey ? 'missing X-WX-Skey header' : s ? 'session expired' : 'invalid skey';
      if (ctx.knobs.unauthorizedStatus) sendJson(res, 401, { error: 'ERR_SKEY_INVALID', message });
      else sendJson(res, 200, { code: -1, error: 'ERR_SKEY_INVALID', message });
      return null;
    }
    return s;
  },

  routes: {
    async '/weapp/login'(ctx, req, res) {
      const r = await loginCommon(ctx, req, { allowCodeOnly: true });
      if (!r.ok) {
        sendJson(res, 200, { code: -1, error: 'ERR_LOGIN_FAILED', message: r.message });
        return;
      }
      const s = addSession(ctx, { key: newSkey(), openId: r.openId, userInfo: r.userInfo, expired: false });
      s.skey = s.key;
      sendJson(res, 200, {
        code: 0,
        data: { skey: s.skey, userinfo: { ...r.userInfo, openId: r.openId }, loginKind: r.kind },
      });
    },

    async '/weapp/user'(ctx, req, res) {
      const s = wafer2.checkSession(ctx, req, res);
      if (!s) return;
      sendJson(res, 200, { code: 0, data: { ...s.userInfo, openId: s.openId } });
    },

    async '/weapp/tunnel'(ctx, req, res) {
      const s = wafer2.checkSession(ctx, req, res);
      if (!s) return;
      if (ctx.takeHandshakeFailure(res)) return;
      const t = ctx.tunnel.create(s.openId);
      sendJson(res, 200, { code: 0, data: { tunnelId: t.id, connectUrl: t.connectUrl } });
    },

    async '/weapp/upload'(ctx, req, res) {
      const s = wafer2.checkSession(ctx, req, res);
      if (!s) { req.resume(); return; }
      await handleUpload(ctx, req, res, s);
    },

    async '/weapp/download'(ctx, req, res, u) {
      const s = wafer2.checkSession(ctx, req, res);
      if (s) handleDownload(ctx, res, s, u);
    },
  },

  // The quickstart server answers every error with code -1.
  handshakeFailureBody: () => ({ code: -1, error: 'ERR_TUNNEL_HANDSHAKE_FAILED', message: 'injected tunnel handshake failure' }),
};

async function handleUpload(ctx, req, res, session) {
  let parsed;
  try {
    parsed = await parseMultipart(req);
  } catch (e) {
    sendJson(res, 400, JSON.stringify({ code: 1, error: 'ERR_BAD_MULTIPART', message: e.message }));
    return;
  }
  ctx.counters.uploads += 1;
  ctx.uploads.push({ openId: session.openId, fields: parsed.fields, files: parsed.files });
  // A JSON *string* body: wx.uploadFile hands it to the app unparsed.
  sendJson(res, 200, JSON.stringify({
    code: 0,
    data: { fields: parsed.fields, files: parsed.files.map(({ field, filename, size }) => ({ field, filename, size })) },
  }));
}

// `?size=<n>` bytes (default 1024), byte i = i % 251, then the user's openId: a file only
// this session could have fetched.
function handleDownload(ctx, res, session, u) {
  const size = Math.max(0, Number(u.searchParams.get('size')) || 1024);
  const body = Buffer.concat([Buffer.from(Array.from({ length: size }, (_, i) => i % 251)), Buffer.from(session.openId)]);
  ctx.counters.downloads += 1;
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
  res.end(body);
}

module.exports = { wafer1, wafer2, MAGIC };
