'use strict';
/**
 * The public API (README "API tour", index.d.ts): the names of both official clients,
 * callbacks or promises, and a `Tunnel` class. Every rule lives in the wasm runtime; this
 * file only waits for the wasm to be ready, maps promises onto callbacks and wraps handles.
 * The stored session is read and written by ./session.js (for the wasm too).
 */

const { LoginError, RequestError, ERRORS, TUNNEL, createError } = require('./errors');
const { createSessionStore, headersOf } = require('./session');

function noop() {}

/**
 * @param {object} env
 * @param {object} env.platform the platform adapter (platform/wx.js or platform/node.js)
 * @param {(options: object) => Promise<object>} [env.load] resolves with the ready glue module
 * @param {(options: object) => object} [env.loadSync] returns the ready glue module
 * @param {Console} [env.console]
 */
function createSdk(env) {
  const out = env.console || console;
  const platform = Object.assign({}, env.platform, {
    createError,
    reportError(context, error) {
      out.error('[wafer-wasm] ' + context + ':', error);
    },
    log(record) {
      out.log('[wafer-wasm]', record);
    },
    // Exception-safe primitives for the runtime's per-message paths: catching here is
    // cheaper than wasm-bindgen's generic exception wrapper on every frame.
    /** JSON.parse, or undefined when the text is not JSON. */
    parseJson(text) {
      try {
        return JSON.parse(text);
      } catch (e) {
        return undefined;
      }
    },
    /** JSON.stringify (undefined when the value encodes to nothing), or null when it throws. */
    stringifyJson(value) {
      try {
        return JSON.stringify(value);
      } catch (e) {
        return null;
      }
    },
    /** Call a listener; its exception is reported, never thrown into the runtime. */
    invoke(listener, payload) {
      try {
        listener(payload);
      } catch (e) {
        platform.reportError('tunnel listener', e);
      }
    },
    /** Call a `*` listener with the event type first. */
    invokeAll(listener, type, payload) {
      try {
        listener(type, payload);
      } catch (e) {
        platform.reportError('tunnel listener', e);
      }
    },
  });

  let client = null;
  let loading = null;
  /** Work asked for before the wasm was ready, run in order once it is. */
  const pending = [];
  /** Rejecters of settings waiting in `pending`, told when the wasm fails to load. */
  const waiting = [];

  const store = createSessionStore(platform, (error) => {
    // Storage refused a write: the value lives in memory for this run (session.js).
    platform.reportError('storage', error);
    whenReady((c) => c.logStorageFailure());
  });
  platform.readSession = store.read;
  platform.writeSession = store.write;

  function boot(glue) {
    if (client) return client;
    client = new glue.Client(platform);
    waiting.length = 0;
    for (const op of pending.splice(0)) {
      try {
        op(client);
      } catch (e) {
        platform.reportError('before init', e);
      }
    }
    return client;
  }

  function start(options) {
    if (options.platform) Object.assign(platform, options.platform);
    const load = env.loadSync ? Promise.resolve().then(() => env.loadSync(options)) : env.load(options);
    return load.then(boot, (cause) => {
      loading = null; // a later init() may try again, e.g. with another wasmPath
      const message = 'wafer-wasm 加载失败：' + ((cause && cause.message) || String(cause));
      const error = new RequestError(ERRORS.ERR_INIT_FAILED, message, cause);
      for (const reject of waiting.splice(0)) reject(error);
      throw error;
    });
  }

  /** The ready client, loading it on first use. */
  function ready() {
    if (client) return Promise.resolve(client);
    if (!loading) loading = start({});
    return loading;
  }

  /** The client if it can be had synchronously; otherwise start loading and return null. */
  function current() {
    if (!client && !loading && env.loadSync) {
      try {
        boot(env.loadSync({}));
      } catch (e) {
        // Reported by the next asynchronous call, which retries the load.
      }
    }
    if (!client) ready().catch(noop);
    return client;
  }

  /** Run `op` now if ready, else once ready. */
  function whenReady(op) {
    const c = current();
    if (c) return op(c);
    pending.push(op);
    return undefined;
  }

  /**
   * A setting (`configure`, `setLoginUrl`): applied now if ready, else once ready, in
   * order and before any call made after it. The promise settles when it was applied:
   * rejected with the core's typed error when a value is bad (nothing changed), or with
   * ERR_INIT_FAILED when the wasm could not load (the setting still waits for a later
   * init()). Its errors thus reach the caller whenever the wasm loads.
   */
  function applySetting(op) {
    const c = current();
    if (c) {
      try {
        op(c);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      waiting.push(reject);
      pending.push((ready) => {
        try {
          op(ready);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  function invoke(fn, arg) {
    if (typeof fn !== 'function') return;
    try {
      fn(arg);
    } catch (e) {
      platform.reportError('callback', e);
    }
  }

  /**
   * Callback style when `success` or `fail` is given (exactly one of them, then
   * `complete`); otherwise the promise is returned (and `complete` still runs).
   */
  function settle(promise, options) {
    const o = options && typeof options === 'object' ? options : {};
    if (typeof o.success !== 'function' && typeof o.fail !== 'function') {
      if (typeof o.complete === 'function') {
        promise.then((r) => invoke(o.complete, r), (e) => invoke(o.complete, e));
      }
      return promise;
    }
    promise.then(
      (r) => {
        invoke(o.success, r);
        invoke(o.complete, r);
      },
      (e) => {
        invoke(o.fail, e);
        invoke(o.complete, e);
      },
    );
    return undefined;
  }

  function requireObject(options, what) {
    if (typeof options !== 'object' || options === null) {
      const got = options === null ? 'null' : typeof options;
      throw new RequestError(ERRORS.ERR_INVALID_PARAMS, what + '传参应为 object 类型，但实际传了 ' + got + ' 类型');
    }
  }

  /** `Session.get()`: the stored value as is, or null (as both official clients answer). */
  function storedSession() {
    return store.read() || null;
  }

  /** Retag an init failure with the caller's error class. */
  function asLoginError(e) {
    if (e instanceof RequestError && e.type === ERRORS.ERR_INIT_FAILED) {
      throw new LoginError(e.type, e.message, e.detail);
    }
    throw e;
  }

  const api = {
    /** Load the wasm now (optional: every call loads it on first use). */
    init(options) {
      if (client) return Promise.resolve();
      if (!loading) loading = start(options || {});
      return loading.then(noop);
    },

    /** Resolves once applied; rejects with RequestError ERR_INVALID_PARAMS for a bad value. */
    configure(options) {
      return applySetting((c) => c.configure(options));
    },

    /** Resolves once applied; rejects with LoginError ERR_INVALID_PARAMS for a bad URL. */
    setLoginUrl(url) {
      return applySetting((c) => c.setLoginUrl(url));
    },

    login(options) {
      return settle(ready().then((c) => c.login(options), asLoginError), options);
    },

    loginWithCode(options) {
      return settle(ready().then((c) => c.loginWithCode(options), asLoginError), options);
    },

    /** Log in with `loginParams: { code, encryptedData, iv }` the page got itself. */
    requestLogin(options) {
      return settle(ready().then((c) => c.requestLogin(options), asLoginError), options);
    },

    request(options) {
      requireObject(options, '请求');
      return settle(ready().then((c) => c.request(options)), options);
    },

    uploadFile(options) {
      requireObject(options, '上传');
      return settle(ready().then((c) => c.uploadFile(options)), options);
    },

    // Storage only, before and after the wasm is ready.
    Session: {
      get: storedSession,
      set(session) {
        store.write(session);
      },
      clear() {
        store.write(null);
      },
    },

    /** `{ 'X-WX-Id', 'X-WX-Skey' }` (Wafer 1), `{ 'X-WX-Skey' }` (Wafer 2) or `{}`. */
    buildSessionHeader() {
      const c = current();
      return c ? c.buildSessionHeader() : headersOf(storedSession());
    },

    LoginError,
    RequestError,
  };
  api.clearSession = api.Session.clear;

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
      this._ops = [];
      // A closed tunnel with nothing queued gives its wasm side back (mini-programs have no
      // FinalizationRegistry to do it when a page drops the object); its listeners wait
      // here, `[type, listener, ...]`, and return with a fresh wasm side on the next use.
      this._resting = null;
      this._socketUrl = null;
      this._status = TUNNEL.STATUS_CLOSED;
      this._restPending = false;
      const c = current();
      if (c) {
        this._handle = this._create(c);
        this._rest();
      } else {
        pending.push((ready) => {
          try {
            this._handle = this._create(ready);
          } catch (e) {
            // Bad options (the constructor throws them once ready): the tunnel is unusable.
            this._failed = true;
            this._status = TUNNEL.STATUS_CLOSED;
            this._ops.length = 0;
            throw e; // reported by boot()
          }
          for (const op of this._ops.splice(0)) op(this._handle);
        });
      }
    }

    _create(c) {
      const knobs = {
        MAX_RECONNECT_TRY_TIMES: Tunnel.MAX_RECONNECT_TRY_TIMES,
        RECONNECT_TIME_INCREASE: Tunnel.RECONNECT_TIME_INCREASE,
      };
      return c.tunnel(this.serviceUrl, this._options, knobs);
    }

    /** The wasm side, made again (with the listeners) for a resting tunnel. */
    _live() {
      if (!this._handle && this._resting) {
        const listeners = this._resting;
        this._resting = null;
        this._handle = this._create(client);
        for (let i = 0; i < listeners.length; i += 2) this._handle.on(listeners[i], listeners[i + 1]);
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

    /** Remove `listener` from `type`; all listeners of `type` without one; everything without arguments. */
    off(type, listener) {
      this._do((h) => h.off(type, listener));
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

    /** Send `{ type, content }`; false when rejected (an `error` event tells why). */
    emit(type, content) {
      const h = this._live();
      if (h) return h.emit(type, content);
      if (this._failed) return false;
      this._ops.push((ready) => ready.emit(type, content));
      return true;
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
  api.Tunnel = Tunnel;

  Object.assign(api, ERRORS);
  // `import wafer from 'wafer-wasm'` compiled by TypeScript without esModuleInterop reads
  // `.default`; not enumerable, so the list of names stays that of the official clients.
  Object.defineProperty(api, 'default', { value: api });
  return api;
}

module.exports = { createSdk };
