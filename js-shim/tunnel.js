'use strict';
/**
 * The `Tunnel` class of both official clients, over the wasm's tunnel handles. Every rule
 * lives in the wasm; this file bridges the time before the wasm is ready and gives a
 * closed tunnel's wasm side back while it rests.
 */

const { TUNNEL } = require('./errors');

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
      // Calls made before the wasm was ready, replayed in order once it is; `_early`
      // counts the emits among them, at most `_earlyLimit`.
      this._ops = [];
      this._early = 0;
      this._earlyLimit = earlyLimit(options);
      // A closed tunnel with nothing queued gives its wasm side back (mini-programs have no
      // FinalizationRegistry to do it when a page drops the object); its listeners wait
      // here, `[type, listener, ...]`, and return with a fresh wasm side on the next use.
      this._resting = null;
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
      return c.tunnel(this.serviceUrl, this._options, knobs);
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

    /** The wasm side, made again (with the listeners) for a resting tunnel. Throws what
     * making it throws (a bad static knob), keeping the listeners for a later try. */
    _live() {
      if (!this._handle && this._resting) {
        const handle = this._create(host.current());
        const listeners = this._resting;
        for (let i = 0; i < listeners.length; i += 2) handle.on(listeners[i], listeners[i + 1]);
        this._resting = null;
        this._handle = handle;
      }
      return this._handle;
    }

    /** Give the wasm side back if, once the current call is over, the tunnel is closed
     * with nothing queued. A microtask: on/off/close may be called from a listener, inside
     * a call into the wasm, and a burst of calls shares one check. */
    _rest() {
      if (this._restPending || !this._handle) return;
      this._restPending = true;
      Promise.resolve().then(() => {
        this._restPending = false;
        const h = this._handle;
        if (!h || !h.dormant()) return;
        this._socketUrl = h.socketUrl() || this._socketUrl;
        this._resting = h.listenerList();
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

    /** Listen to `connect`, `close`, `reconnecting`, `reconnect`, `error`, a message type, or `*`. */
    on(type, listener) {
      this._do((h) => h.on(type, listener));
      this._rest();
      return this;
    }

    /** Like `on`, for the next `type` event only; `off(type, listener)` removes it before. */
    once(type, listener) {
      if (typeof listener !== 'function') return this.on(type, listener);
      const tunnel = this;
      function once() {
        tunnel.off(type, once);
        return listener.apply(this, arguments);
      }
      once.listener = listener;
      return this.on(type, once);
    }

    /** Remove `listener` from `type`; all listeners of `type` without one; everything without
     * arguments. A type that is not a string (or a listener that is not a function) removes nothing. */
    off(type, listener) {
      this._do((h) => {
        // A `once` listener is removed by the listener it wraps (listenerList() finds it).
        if (typeof listener === 'function') {
          const list = h.listenerList();
          for (let i = 1; i < list.length; i += 2) if (list[i].listener === listener) h.off(type, list[i]);
        }
        h.off(type, listener);
      });
      this._rest();
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
      if (h) return h.emit(type, content);
      if (this._failed) return false;
      if (this._early < this._earlyLimit) {
        this._early += 1;
        this._ops.push((ready) => ready.emit(type, content));
        return true;
      }
      // Refused: only counted (a run of refusals is one op), reported once ready.
      const last = this._ops[this._ops.length - 1];
      if (last && last.refusals) {
        last.refusals += 1;
      } else {
        const report = (ready) => ready.refused(report.refusals);
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
