'use strict';
// startServer({ dialect }): a scriptable loopback business server speaking Wafer 1
// or Wafer 2, with the tunnel WebSocket endpoint on the same port. Not the
// official stack: a precise peer for SDK tests. See tests/support/README.md.

const http = require('node:http');
const { URL } = require('node:url');
const { wafer1, wafer2, MAGIC } = require('./dialects');
const { createTunnelEndpoint } = require('./tunnel');
const { readBody, sendJson, sendRaw } = require('./http');

const DIALECTS = { wafer1, wafer2 };

// Default user identity of a login code: strip the counter ('code-3' -> 'code',
// 'alice-7' -> 'alice'), matching createFakeWechat({ codePrefix }).
const defaultIdentify = (code) => String(code).replace(/-\d+$/, '');

async function startServer(opts = {}) {
  const dialect = DIALECTS[opts.dialect || 'wafer1'];
  if (!dialect) throw new Error(`unknown dialect ${opts.dialect}`);

  const timers = new Set();
  const ctx = {
    port: 0,
    identify: opts.identify || defaultIdentify,
    onFrame: opts.onFrame || null,
    knobs: {
      loginDelayMs: opts.loginDelayMs || 0,
      failLogins: 0,
      tunnelHandshakeFails: 0,
      tunnelHandshakeFailure: null, // { status, body } override for those failures
      tunnelTimeout: opts.tunnelTimeout === undefined ? null : opts.tunnelTimeout,
      echo: opts.echo !== false,
      stopPong: false,
      refuseConnections: false,
      unauthorizedStatus: !!opts.unauthorizedStatus,
      rejectReusedCodes: opts.rejectReusedCodes !== false,
      oneSessionPerUser: opts.oneSessionPerUser === undefined ? dialect === wafer2 : !!opts.oneSessionPerUser,
    },
    counters: {
      logins: { total: 0, full: 0, code: 0, failed: 0 },
      requests: {}, // path -> count
      tunnels: 0, // handshakes that issued a tunnel
      connections: 0, // WebSocket connections accepted
      refusedConnections: 0,
      framesReceived: 0,
      framesSent: 0,
      uploads: 0,
      downloads: 0,
    },
    state: {
      sessions: new Map(), // wafer1: id -> session; wafer2: skey -> session
      users: new Map(), // openId -> { openId, userInfo } (users who did a full login)
      usedCodes: new Set(),
    },
    requestLog: [], // { method, path, query, headers }
    uploads: [], // { openId, fields, files: [{ field, filename, mimeType, size, content }] }
    overrides: new Map(), // path -> [{ status, body, raw, headers, delayMs }]
    sleep(ms) {
      if (!(ms > 0)) return Promise.resolve();
      return new Promise((resolve) => {
        const t = setTimeout(() => { timers.delete(t); resolve(); }, ms);
        timers.add(t);
      });
    },
    takeHandshakeFailure(res) {
      if (ctx.knobs.tunnelHandshakeFails <= 0) return false;
      ctx.knobs.tunnelHandshakeFails -= 1;
      const f = ctx.knobs.tunnelHandshakeFailure || { status: 500, body: dialect.handshakeFailureBody() };
      sendJson(res, f.status, f.body);
      return true;
    },
  };
  ctx.tunnel = createTunnelEndpoint(ctx);

  async function applyOverride(pathname, res) {
    const queue = ctx.overrides.get(pathname);
    if (!queue || !queue.length) return false;
    const o = queue.shift();
    await ctx.sleep(o.delayMs);
    const status = o.status || 200;
    if (o.raw !== undefined) sendRaw(res, status, o.raw, o.headers);
    else if (o.body === undefined) sendRaw(res, status, '', o.headers);
    else sendJson(res, status, o.body, o.headers);
    return true;
  }

  async function handle(req, res) {
    const u = new URL(req.url, 'http://127.0.0.1');
    const pathname = u.pathname;
    ctx.counters.requests[pathname] = (ctx.counters.requests[pathname] || 0) + 1;
    ctx.requestLog.push({ method: req.method, path: pathname, query: Object.fromEntries(u.searchParams), headers: { ...req.headers } });

    if (await applyOverride(pathname, res)) { req.resume(); return; }

    const route = dialect.routes[pathname];
    if (route) { await route(ctx, req, res, u); return; }

    if (pathname === '/echo') {
      // Describes the request back (not session checked): for wx.request tests.
      const body = await readBody(req);
      sendJson(res, 200, {
        method: req.method,
        path: pathname,
        query: Object.fromEntries(u.searchParams),
        headers: req.headers,
        body: body.toString('utf8'),
      });
      return;
    }
    req.resume();
    sendJson(res, 404, { error: 'not found', path: pathname });
  }

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'ERR_TEST_SERVER', message: e.message });
      else res.destroy();
    });
  });
  httpServer.on('upgrade', (req, socket, head) => ctx.tunnel.onUpgrade(req, socket, head));

  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(opts.port || 0, '127.0.0.1', resolve);
  });
  ctx.port = httpServer.address().port;
  const url = `http://127.0.0.1:${ctx.port}`;

  let stopped = false;
  const server = {
    dialect: dialect.name,
    url,
    port: ctx.port,
    magic: MAGIC,
    urls: {
      login: url + dialect.paths.login,
      user: url + dialect.paths.user,
      tunnel: url + dialect.paths.tunnel,
      upload: url + dialect.paths.upload,
      download: url + dialect.paths.download,
      echo: `${url}/echo`,
    },
    knobs: ctx.knobs,
    counters: ctx.counters,
    state: ctx.state,
    requestLog: ctx.requestLog,
    uploads: ctx.uploads,
    tunnels: ctx.tunnel.tunnels,

    // Headers of every request to `path` (e.g. '/user'), oldest first.
    headersFor: (path) => ctx.requestLog.filter((r) => r.path === path).map((r) => r.headers),

    expireAllSessions() { for (const s of ctx.state.sessions.values()) s.expired = true; },
    failNextLogins(n = 1) { ctx.knobs.failLogins = n; },
    // One-shot answer for the next request to `path`; `times` queues it n times.
    // { status = 200, body (JSON-encoded unless a string), raw (sent verbatim as
    // text/html unless headers say otherwise), headers, delayMs, times = 1 }.
    // With neither body nor raw the answer is an empty body.
    respondWith(path, spec = {}) {
      const q = ctx.overrides.get(path) || [];
      for (let i = 0; i < (spec.times || 1); i += 1) q.push(spec);
      ctx.overrides.set(path, q);
    },
    // The next n tunnel handshakes fail (after the session check) with HTTP 500
    // and the dialect's error body, or with { status, body } when given.
    tunnelHandshakeFails(n = 1, failure = null) {
      ctx.knobs.tunnelHandshakeFails = n;
      ctx.knobs.tunnelHandshakeFailure = failure;
    },
    // A tunnel without the HTTP handshake (for raw SocketTask tests).
    createTunnel(openId = null) {
      const t = ctx.tunnel.create(openId);
      return { tunnelId: t.id, connectUrl: t.connectUrl };
    },

    sendTo: ctx.tunnel.sendTo,
    sendBinary: ctx.tunnel.sendBinary,
    sendMessage: ctx.tunnel.sendMessage,
    broadcast: ctx.tunnel.broadcast,
    broadcastRaw: ctx.tunnel.broadcastRaw,
    dropAll: ctx.tunnel.dropAll,
    closeTunnel: ctx.tunnel.closeTunnel,
    openTunnels: ctx.tunnel.openTunnels,
    latestTunnel: ctx.tunnel.latest,

    set onFrame(fn) { ctx.onFrame = fn; },
    get onFrame() { return ctx.onFrame; },

    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      ctx.tunnel.close();
      await new Promise((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections(); // keep-alive sockets would hold close() open
      });
    },
  };
  // Knobs also readable/writable on the server itself: server.stopPong = true.
  for (const k of Object.keys(ctx.knobs)) {
    if (k in server) continue;
    Object.defineProperty(server, k, { get: () => ctx.knobs[k], set: (v) => { ctx.knobs[k] = v; }, enumerable: true });
  }
  return server;
}

module.exports = { startServer, MAGIC };
