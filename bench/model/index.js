'use strict';
/**
 * A MODEL for the bench, never shipped: the tunnel's per-message work written in plain
 * JavaScript, with the rules wafer-wasm applies on its hot paths, and nothing else (no
 * heartbeat, no reconnection, no session, no logging). It is the limit our tunnel is read
 * against in `npm run bench` (bench/throughput.js): what any JavaScript implementation of
 * the same API pays per message.
 *
 * Per inbound frame (`SocketTask.onMessage`): a text frame on the current socket, within
 * `maxFrameSize`, that starts with `message:` is parsed with `JSON.parse` (a frame that
 * is not JSON, not an object or has no usable `type` is dropped), the type becomes its
 * listener name (`@` before a reserved name), and the listeners of that name and `*` run
 * in registration order, from a snapshot of the list, each behind `try` (an exception is
 * reported, never thrown back). Control frames take a separate, slower branch.
 *
 * Per `emit(type, content)`: a string type, the content through `JSON.stringify` behind
 * `try` (`undefined` content gives the bare frame), the frame built from a cached
 * per-type prefix, sent at once while ACTIVE with nothing queued (else queued), through
 * `SocketTask.send({ data, fail })`.
 */

const RESERVED = ['connect', 'close', 'reconnecting', 'reconnect', 'error'];
const MAX_FRAME = 1024 * 1024;

function Tunnel(serviceUrl) {
  this.serviceUrl = serviceUrl;
  this.status = 'CLOSED';
  this._listeners = [];
  this._queue = [];
  this._task = null;
  this._gen = 0;
  this._openGen = -1;
  this._type = null;
  this._prefix = '';
  this._bare = '';
}

Tunnel.prototype.on = function on(type, listener) {
  if (typeof type === 'string' && typeof listener === 'function') {
    // Copy on write: a dispatch in progress keeps its snapshot. Flat: [type, fn, ...].
    this._listeners = this._listeners.concat([type, listener]);
  }
  return this;
};

Tunnel.prototype._dispatch = function dispatch(name, payload) {
  const list = this._listeners;
  for (let i = 0; i < list.length; i += 2) {
    const type = list[i];
    try {
      if (type === '*') list[i + 1](name, payload);
      else if (type === name) list[i + 1](payload);
    } catch (e) {
      console.error('tunnel listener', e);
    }
  }
};

Tunnel.prototype.open = function open() {
  if (this.status !== 'CLOSED') return;
  this.status = 'CONNECTING';
  const gen = ++this._gen;
  wx.request({
    url: this.serviceUrl,
    success: (res) => {
      const task = wx.connectSocket({ url: res.data.url });
      this._task = task;
      task.onOpen(() => {
        this._openGen = gen;
        this.status = 'ACTIVE';
        this._dispatch('connect', undefined);
        const queued = this._queue.splice(0);
        for (let i = 0; i < queued.length; i++) this._send(queued[i]);
      });
      task.onMessage((m) => this._frame(gen, m.data));
      task.onClose(() => {});
      task.onError(() => {});
    },
  });
};

Tunnel.prototype._frame = function frame(gen, data) {
  if (typeof data !== 'string' || gen !== this._openGen || data.length > MAX_FRAME) return;
  if (data.length > 8 && data.startsWith('message:')) {
    let message;
    try {
      message = JSON.parse(data.slice(8));
    } catch (e) {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const type = message.type;
    if (typeof type !== 'string' || type === '') return;
    this._dispatch(RESERVED.indexOf(type) >= 0 ? '@' + type : type, message.content);
    return;
  }
  // Control frames (pong, timeout:N, close): nothing to model here.
};

function sendFailed() {}

Tunnel.prototype._send = function send(frame) {
  this._task.send({ data: frame, fail: sendFailed });
};

Tunnel.prototype.emit = function emit(type, content) {
  if (typeof type !== 'string') return false;
  let json;
  try {
    json = JSON.stringify(content);
  } catch (e) {
    return false;
  }
  if (type !== this._type) {
    const head = 'message:{"type":' + JSON.stringify(type);
    this._type = type;
    this._prefix = head + ',"content":';
    this._bare = head + '}';
  }
  const frame = json === undefined ? this._bare : this._prefix + json + '}';
  if (this.status === 'ACTIVE' && this._queue.length === 0) this._send(frame);
  else this._queue.push(frame);
  return true;
};

Tunnel.prototype.close = function close() {
  if (this._task) this._task.close({});
  this._task = null;
  this._openGen = -1;
  this.status = 'CLOSED';
};

module.exports = { Tunnel };
