'use strict';
// wx.connectSocket / SocketTask over real WebSockets (the `ws` package), plus the
// legacy global API (wx.onSocketOpen/Message/Close/Error, wx.sendSocketMessage,
// wx.closeSocket) which drives the most recently created socket.
//
// Rules kept from WeChat:
// - at most 5 sockets connecting or open at once; the 6th connectSocket calls fail
//   and the task's onError ('connectSocket:fail exceed max task count');
// - connectSocket's success only means "task created"; onOpen means open;
// - a socket that fails to connect reports onError then onClose (1006);
// - send on a socket that is not open calls fail;
// - text frames arrive as strings, binary frames as ArrayBuffers;
// - legacy on* registrations replace the previous handler (one handler each).

const WebSocket = require('ws');
const { toBytes } = require('./sandbox');

const KINDS = { open: 'Open', close: 'Close', message: 'Message', error: 'Error' };

function createSockets(sim, options) {
  const all = [];
  const live = new Set(); // connecting, open or closing: these occupy one of the 5 slots
  const legacy = { open: null, close: null, message: null, error: null };
  let current = null;
  let nextId = 1;
  const { deliver } = sim.callbacks;

  function describe(info) {
    if (!info) return null;
    return {
      id: info.id,
      url: info.url,
      state: info.state,
      sent: info.sent,
      received: info.received,
      closeReport: info.closeReport,
      task: info.task,
    };
  }

  // Deliver one event to the task's listeners and, for the current socket, to the
  // legacy global handler. `payload` is host data, cloned into the sandbox once.
  function emit(info, kind, payload) {
    const listeners = info.listeners[kind].slice();
    const legacyCb = current === info ? legacy[kind] : null;
    if (!listeners.length && !legacyCb) return;
    const res = sim.realm.clone(payload);
    for (const cb of listeners) sim.invoke(cb, undefined, [res], `SocketTask.on${KINDS[kind]}`);
    if (legacyCb) sim.invoke(legacyCb, undefined, [res], `wx.onSocket${KINDS[kind]}`);
  }

  function send(info, o) {
    const opts = o && typeof o === 'object' ? o : {};
    if (!info || info.state !== 'open') {
      deliver(opts, false, { errMsg: 'sendSocketMessage:fail WebSocket is not connected' });
      return;
    }
    const isText = typeof opts.data === 'string';
    const bytes = isText ? null : toBytes(opts.data);
    if (!isText && !bytes) {
      deliver(opts, false, { errMsg: 'sendSocketMessage:fail parameter error: parameter.data should be String or ArrayBuffer' });
      return;
    }
    info.sent += 1;
    sim.counters.socketSends += 1;
    info.ws.send(isText ? opts.data : bytes, { binary: !isText }, (err) => {
      if (err) deliver(opts, false, { errMsg: `sendSocketMessage:fail ${err.message}` });
      else deliver(opts, true, { errMsg: 'sendSocketMessage:ok' });
    });
  }

  function close(info, o) {
    const opts = o && typeof o === 'object' ? o : {};
    if (!info || !info.ws || info.state === 'closing' || info.state === 'closed') {
      deliver(opts, false, { errMsg: 'closeSocket:fail WebSocket is not connected' });
      return;
    }
    const code = opts.code === undefined ? 1000 : Number(opts.code);
    const reason = opts.reason === undefined ? '' : String(opts.reason);
    if (!(code === 1000 || (code >= 3000 && code <= 4999))) {
      deliver(opts, false, { errMsg: 'closeSocket:fail The code must be either 1000, or between 3000 and 4999' });
      return;
    }
    if (Buffer.byteLength(reason) > 123) {
      deliver(opts, false, { errMsg: 'closeSocket:fail The reason must not be greater than 123 bytes' });
      return;
    }
    info.closeReport = { code, reason };
    info.quietError = true; // closing a connecting socket is not an error for the app
    if (info.state === 'connecting') info.ws.terminate(); else info.ws.close(code, reason);
    info.state = 'closing';
    deliver(opts, true, { errMsg: 'closeSocket:ok' });
  }

  // Host-side: drop a socket abruptly and report `code`/`reason` to onClose.
  function kill(info, code, reason) {
    if (!info.ws || info.state === 'closed') return;
    info.closeReport = { code, reason };
    info.quietError = true;
    info.state = 'closing';
    info.ws.terminate();
  }

  function connectSocket(o) {
    const opts = o && typeof o === 'object' ? o : {};
    sim.counters.sockets += 1;
    const info = {
      id: nextId++,
      url: opts.url,
      state: 'connecting',
      listeners: { open: [], close: [], message: [], error: [] },
      ws: null,
      sent: 0,
      received: 0,
      closeReport: null,
      quietError: false,
      closed: null,
    };
    info.closed = new Promise((resolve) => { info.resolveClosed = resolve; });
    const on = (kind) => sim.realm.fn((cb) => { if (typeof cb === 'function') info.listeners[kind].push(cb); }, `on${KINDS[kind]}`);
    info.task = sim.realm.object({
      send: sim.realm.fn((so) => send(info, so), 'send'),
      close: sim.realm.fn((co) => close(info, co), 'close'),
      onOpen: on('open'),
      onClose: on('close'),
      onError: on('error'),
      onMessage: on('message'),
    });
    all.push(info);
    current = info; // the legacy API always talks to the newest socket

    const reject = (reason) => {
      info.state = 'closed';
      info.resolveClosed();
      const errMsg = `connectSocket:fail ${reason}`;
      deliver(opts, false, { errMsg });
      sim.defer(() => emit(info, 'error', { errMsg })); // after the caller registered onError
    };

    let url;
    try { url = new URL(String(opts.url)); } catch (_) { url = null; }
    if (!sim.network.online) reject('network offline');
    else if (sim.closed) reject('simulator closed');
    else if (live.size >= options.maxSockets) reject('exceed max task count');
    else if (!url || (url.protocol !== 'ws:' && url.protocol !== 'wss:')) reject(`invalid url "${opts.url}"`);
    else if (url.protocol !== 'ws:') reject(`invalid url "${opts.url}" (the simulator speaks plain ws on loopback)`);
    else if (!sim.isAllowedHost(url.hostname)) reject(`url not in domain list "${opts.url}"`);
    else {
      const headers = {};
      if (opts.header && typeof opts.header === 'object') {
        for (const k of Object.keys(opts.header)) if (opts.header[k] != null) headers[k] = String(opts.header[k]);
      }
      let ws;
      try {
        const protocols = Array.isArray(opts.protocols) && opts.protocols.length ? [...opts.protocols] : undefined;
        ws = new WebSocket(url.toString(), protocols, {
          headers,
          handshakeTimeout: opts.timeout > 0 ? opts.timeout : 60000,
          perMessageDeflate: false,
        });
      } catch (e) {
        reject(e.message);
        return info.task;
      }
      info.ws = ws;
      live.add(info);
      deliver(opts, true, { socketTaskId: info.id, errMsg: 'connectSocket:ok' });
      let responseHeader = {};
      ws.on('upgrade', (res) => {
        responseHeader = {};
        for (let i = 0; i < res.rawHeaders.length; i += 2) responseHeader[res.rawHeaders[i]] = res.rawHeaders[i + 1];
      });
      ws.on('open', () => {
        if (info.state !== 'connecting') return;
        info.state = 'open';
        emit(info, 'open', { header: responseHeader, profile: {} });
      });
      ws.on('message', (data, isBinary) => {
        info.received += 1;
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
        emit(info, 'message', { data: isBinary ? new Uint8Array(buf) : buf.toString('utf8') });
      });
      ws.on('error', (err) => {
        if (info.quietError) return;
        const errMsg = info.state === 'connecting' ? `connectSocket:fail ${err.message}` : err.message;
        emit(info, 'error', { errMsg });
      });
      ws.on('close', (code, reasonBuf) => {
        live.delete(info);
        info.state = 'closed';
        let report = info.closeReport;
        if (!report) {
          const reason = reasonBuf ? reasonBuf.toString('utf8') : '';
          report = { code, reason: code === 1006 && !reason ? 'abnormal closure' : reason };
          info.closeReport = report;
        }
        emit(info, 'close', report);
        info.resolveClosed();
      });
    }
    return info.task;
  }

  const setLegacy = (kind) => (cb) => { legacy[kind] = typeof cb === 'function' ? cb : null; };

  const wx = {
    connectSocket,
    onSocketOpen: setLegacy('open'),
    onSocketClose: setLegacy('close'),
    onSocketMessage: setLegacy('message'),
    onSocketError: setLegacy('error'),
    sendSocketMessage: (o) => send(current, o),
    closeSocket: (o) => close(current, o),
  };

  const host = {
    // Sockets that hold one of the 5 slots (connecting, open or closing).
    open: () => [...live].map(describe),
    all: () => all.map(describe),
    current: () => describe(current),
    // Drop every live socket as the network would (onClose gets code/reason).
    killAll(code = 1006, reason = 'abnormal closure') {
      for (const info of [...live]) kill(info, code, reason);
    },
  };

  async function closeAll() {
    const waits = [];
    for (const info of [...live]) {
      waits.push(info.closed);
      kill(info, 1006, 'abnormal closure');
    }
    let t;
    await Promise.race([
      Promise.all(waits),
      new Promise((r) => { t = setTimeout(r, 2000); }),
    ]);
    clearTimeout(t);
  }

  return { wx, host, closeAll };
}

module.exports = { createSockets };
