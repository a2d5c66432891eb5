'use strict';
// The tunnel WebSocket endpoint (`ws` package) speaking the Wafer packet protocol:
// text frames `type` or `type:content`. Client -> server: message:{json}, ping,
// close. Server -> client: message:{json}, pong, timeout:<seconds>, close.
//
// A tunnel is created by the business server's handshake (GET /tunnel or
// /weapp/tunnel), which hands out ws://127.0.0.1:<port>/ws?tunnelId=<id>; each id
// may connect once (a reconnect must ask for a fresh URL, as the real client does).

const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');

function createTunnelEndpoint(ctx) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const tunnels = new Map(); // id -> tunnel record

  function create(openId = null) {
    const id = crypto.randomUUID();
    const t = {
      id,
      openId,
      connectUrl: `ws://127.0.0.1:${ctx.port}/ws?tunnelId=${id}`,
      frames: [], // every frame received, in order (strings; Buffers for binary)
      sent: [], // every frame we sent
      socket: null,
      open: false,
      closed: false,
      closedByClient: false, // the client closed (or sent `close`) before we did
      closedByServer: false,
      gotClosePacket: false,
      closeCode: null,
      closeReason: null,
      requestHeaders: null,
    };
    tunnels.set(id, t);
    ctx.counters.tunnels += 1;
    return t;
  }

  const rejectUpgrade = (socket, status, text) => {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };

  function onUpgrade(req, socket, head) {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname !== '/ws') { rejectUpgrade(socket, 404, 'Not Found'); return; }
    if (ctx.knobs.refuseConnections) {
      ctx.counters.refusedConnections += 1;
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const t = tunnels.get(u.searchParams.get('tunnelId'));
    if (!t || t.socket) {
      ctx.counters.refusedConnections += 1;
      rejectUpgrade(socket, 403, 'Forbidden');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attach(t, ws, req));
  }

  function send(t, frame, binary = false) {
    if (!t || !t.open) return false;
    t.sent.push(frame);
    ctx.counters.framesSent += 1;
    t.socket.send(frame, { binary });
    return true;
  }

  function attach(t, ws, req) {
    ctx.counters.connections += 1;
    t.socket = ws;
    t.open = true;
    t.requestHeaders = { ...req.headers };
    if (ctx.knobs.tunnelTimeout !== null && ctx.knobs.tunnelTimeout !== undefined) {
      send(t, `timeout:${ctx.knobs.tunnelTimeout}`);
    }
    ws.on('message', (data, isBinary) => {
      const frame = isBinary ? Buffer.from(data) : data.toString('utf8');
      t.frames.push(frame);
      ctx.counters.framesReceived += 1;
      if (typeof ctx.onFrame === 'function' && ctx.onFrame(t, frame) === false) return;
      if (isBinary) return;
      if (frame === 'ping') {
        if (!ctx.knobs.stopPong) send(t, 'pong');
      } else if (frame.startsWith('message:')) {
        if (ctx.knobs.echo) send(t, frame);
      } else if (frame === 'close') {
        t.gotClosePacket = true;
        if (!t.closedByServer) t.closedByClient = true;
        ws.close(1000);
      }
    });
    ws.on('error', () => { /* reported through 'close' */ });
    ws.on('close', (code, reason) => {
      t.open = false;
      t.closed = true;
      t.closeCode = code;
      t.closeReason = reason ? reason.toString('utf8') : '';
      if (!t.closedByServer) t.closedByClient = true;
    });
  }

  const api = {
    tunnels,
    create,
    onUpgrade,
    sendTo: (id, raw) => send(tunnels.get(id), raw),
    sendBinary: (id, bytes) => send(tunnels.get(id), Buffer.from(bytes), true),
    sendMessage: (id, type, content) => send(tunnels.get(id), `message:${JSON.stringify({ type, content })}`),
    // To every open tunnel; returns how many got it.
    broadcast(type, content) {
      return api.broadcastRaw(`message:${JSON.stringify({ type, content })}`);
    },
    broadcastRaw(frame) {
      let n = 0;
      for (const t of tunnels.values()) if (send(t, frame)) n += 1;
      return n;
    },
    // Abrupt drop of every socket (no close frame): the client sees 1006.
    dropAll() {
      for (const t of tunnels.values()) {
        if (t.open) { t.closedByServer = true; t.socket.terminate(); }
      }
    },
    // Server closes the tunnel: `close` packet, then a normal close.
    closeTunnel(id) {
      const t = tunnels.get(id);
      if (!t || !t.open) return false;
      t.closedByServer = true;
      send(t, 'close');
      t.socket.close(1000);
      return true;
    },
    openTunnels: () => [...tunnels.values()].filter((t) => t.open),
    latest: () => [...tunnels.values()].filter((t) => t.socket).pop() || null,
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
  return api;
}

module.exports = { createTunnelEndpoint };
