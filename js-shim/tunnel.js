'use strict';
/**
 * The `Tunnel` class of both official clients, over the wasm's tunnel handles and the
 * tunnel's port (./tunnel-port.js: its listeners and per-message paths). Every rule lives
 * in the wasm; this file bridges the time before the wasm is ready and gives a closed
 * tunnel's wasm side back while it rests.
 */

const { TUNNEL } = require('./errors');
const { TunnelPort } = require('./tunnel-port');

/** The send queue's bound when neither the tunnel nor configure() sets one (src/sansio/config.rs). */
const DEFAULT_QUEUE_LIMIT = 1000;

/**
 * How many `emit`s a tunnel holds before the wasm is ready: its own `queueLimit` when that
 * is a plain number, else the default. A bound on memory only: once ready, the wasm
 * checks the options and applies the limit in force (reporting overflow as `error`
 * events); a getter that throws is reported by the constructor then.
 */
function earlyLimit(options) {
  let limit;
  try {
    limit = options !== null && typeof options === 'object' ? options.queueLimit : undefined;
  } catch (e) {
    limit = undefined;
  }
  return typeof limit === 'number' && limit >= 0 ? Math.min(limit, 1e6) : DEFAULT_QUEUE_LIMIT;
}

/**
 * @param {object} host what the facade shares with its tunnels
 * @param {() => object|null} host.current the ready wasm client, or null (loading starts)
 * @param {(op: (client: object) => void) => void} host.later run `op` once the wasm is ready, in call order
 * @param {(context: string, error: *) => void} host.report report a problem on the console
 */
function defineTunnel(host) {
  class Tunnel {
    /**
     * @param {string} serviceUrl the business server's tunnel URL
     * @param {object} [options] reconnectBaseDelay, reconnectMaxDelay, maxReconnectAttempts,
     *   heartbeatInterval, queueLimit, maxFrameSize
     */
    constructor(serviceUrl, options) {
      this.serviceUrl = serviceUrl;
      this._options = options;
      this._handle = null;
      this._failed = false;
      // Listeners and the per-message paths: here from the start, kept while resting.
      this._port = new TunnelPort(host.report);
      // Calls made before the wasm was ready, replayed in order on the wasm side once it
      // is made; `_early` counts the emits among them, at most `_earlyLimit`.
      this._ops = [];
      this._early = 0;
      this._earlyLimit = earlyLimit(options);
      // A closed tunnel with nothing queued gives its wasm side back (mini-programs have no
      // FinalizationRegistry to do it when a page drops the object), and gets a fresh one
      // (with the same port) on its next use.
      this._resting = false;
      this._socketUrl = null;
      this._status = TUNNEL.STATUS_CLOSED;
      this._restPending = false;
      const c = host.current();
      if (c) {
        this._handle = this._create(c);
        this._rest();
      } else {
        host.later((ready) => this._ready(ready));
      }
    }

    _create(c) {
      const knobs = {
        MAX_RECONNECT_TRY_TIMES: Tunnel.MAX_RECONNECT_TRY_TIMES,
        RECONNECT_TIME_INCREASE: Tunnel.RECONNECT_TIME_INCREASE,
      };
      return c.tunnel(this.serviceUrl, this._options, knobs, this._port);
    }

    /** The wasm is ready: make the wasm side and replay what was asked meanwhile. */
    _ready(client) {
      const ops = this._ops.splice(0);
      const early = this._early;
      this._early = 0;
      try {
        this._handle = this._create(client);
      } catch (e) {
        // Bad options (the constructor throws them once ready): the tunnel is unusable,
        // and what it was asked to send is said to be lost.
        this._failed = true;
        this._status = TUNNEL.STATUS_CLOSED;
        const lost = early ? ' (' + early + ' message(s) emitted before init not sent)' : '';
        host.report('new Tunnel()' + lost, e);
        return;
      }
      for (const op of ops) op(this._handle);
    }

    /** The wasm side, made again for a resting tunnel. Throws what making it throws (a bad
     * static knob), still resting. */
    _live() {
      if (!this._handle && this._resting) {
        this._handle = this._create(host.current());
        this._resting = false;
      }
      return this._handle;
    }

    /** Give the wasm side back if, once the current call is over, the tunnel is closed
     * with nothing queued. A microtask: close may be called from a listener, inside a call
     * into the wasm, and a burst of calls shares one check. */
    _rest() {
      if (this._restPending || !this._handle) return;
      this._restPending = true;
      Promise.resolve().then(() => {
        this._restPending = false;
        const h = this._handle;
        if (!h || !h.dormant()) return;
        this._socketUrl = h.socketUrl() || this._socketUrl;
        this._resting = true;
        this._status = TUNNEL.STATUS_CLOSED;
        this._handle = null;
        h.free();
      });
    }

    _do(op) {
      const h = this._live();
      if (h) return op(h);
      if (!this._failed) this._ops.push(op);
      return undefined;
    }

    /** Listen to `connect`, `close`, `reconnecting`, `reconnect`, `error`, a message type, or
     * `*`; a type that is not a string or a listener that is not a function is ignored. */
    on(type, listener) {
      this._port.listeners.on(type, listener);
      return this;
    }

    /** Like `on`, for the next `type` event only; `off(type, listener)` removes it before. */
    once(type, listener) {
      this._port.listeners.once(type, listener);
      return this;
    }

    /** Remove `listener` from `type`; all listeners of `type` without one; everything without
     * arguments. A type that is not a string (or a listener that is not a function) removes nothing. */
    off(type, listener) {
      this._port.listeners.off(type, listener);
      return this;
    }

    open() {
      if (!this._handle && !this._resting && !this._failed && this._status === TUNNEL.STATUS_CLOSED) {
        this._status = TUNNEL.STATUS_CONNECTING;
      }
      this._do((h) => h.open());
    }

    close() {
      if (this._resting) return; // already closed
      if (!this._handle) this._status = TUNNEL.STATUS_CLOSED;
      this._do((h) => h.close());
      this._rest();
    }

    /** Send `{ type, content }`; false when rejected (an `error` event tells why; before
     * the wasm is ready, a message beyond the queue limit is refused at once, and its
     * `error` event follows once ready). */
    emit(type, content) {
      const h = this._live();
      if (h) return this._port.emit(h, type, content);
      if (this._failed) return false;
      if (this._early < this._earlyLimit) {
        this._early += 1;
        this._ops.push((h) => this._port.emit(h, type, content));
        return true;
      }
      // Refused: only counted (a run of refusals is one op), reported once ready.
      const last = this._ops[this._ops.length - 1];
      if (last && last.refusals) {
        last.refusals += 1;
      } else {
        const report = (h) => h.refused(report.refusals);
        report.refusals = 1;
        this._ops.push(report);
      }
      return false;
    }

    get status() {
      return this._handle ? this._handle.status() : this._status;
    }

    get socketUrl() {
      return (this._handle && this._handle.socketUrl()) || this._socketUrl;
    }

    isClosed() {
      return this.status === TUNNEL.STATUS_CLOSED;
    }

    isConnecting() {
      return this.status === TUNNEL.STATUS_CONNECTING;
    }

    isActive() {
      return this.status === TUNNEL.STATUS_ACTIVE;
    }

    isReconnecting() {
      return this.status === TUNNEL.STATUS_RECONNECTING;
    }
  }
  Object.assign(Tunnel, TUNNEL);
  return Tunnel;
}

module.exports = { defineTunnel };
