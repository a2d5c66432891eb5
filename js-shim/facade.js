'use strict';
/**
 * The public API (README "API tour", index.d.ts): the names of both official clients,
 * callbacks or promises, and the `Tunnel` class (./tunnel.js). Every rule lives in the
 * wasm runtime; this file only waits for the wasm to be ready and maps promises onto
 * callbacks. The stored session is read and written by ./session.js (for the wasm too).
 */

const { LoginError, RequestError, ERRORS, createError, abortError } = require('./errors');
const { createSessionStore, headersOf } = require('./session');
const { defineTunnel } = require('./tunnel');

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
  });

  let client = null;
  let loading = null;
  /** Work asked for before the wasm was ready, run in order once it is. */
  const pending = [];
  /** Rejecters of settings waiting in `pending`, told when the wasm fails to load. */
  const waiting = [];

  const store = createSessionStore(
    platform,
    (error) => {
      // Storage refused a write: the value lives in memory for this run (session.js).
      platform.reportError('storage', error);
      whenReady((c) => c.logStorageFailure());
    },
    platform.reportError,
  );
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
   * The callbacks of `options`, read once, before anything starts: a getter that throws
   * is a typed error thrown at once (nothing has begun, so nothing is left behind).
   */
  function callbacksOf(options, ErrorClass) {
    if (options === null || typeof options !== 'object') return {};
    try {
      return {
        success: options.success,
        fail: options.fail,
        complete: options.complete,
        progress: options.onProgressUpdate,
      };
    } catch (e) {
      const text = (e && e.message) || String(e);
      throw new ErrorClass(ERRORS.ERR_INVALID_PARAMS, '参数错误：options could not be read: ' + text, e);
    }
  }

  /**
   * Callback style when `success` or `fail` is given (exactly one of them, then
   * `complete`); otherwise the promise is returned (and `complete` still runs). A call's
   * `task` (abort() & co.) is returned in callback style and added to the promise.
   */
  function settle(promise, o, task) {
    if (typeof o.success !== 'function' && typeof o.fail !== 'function') {
      if (typeof o.complete === 'function') {
        promise.then((r) => invoke(o.complete, r), (e) => invoke(o.complete, e));
      }
      return Object.assign(promise, task);
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
    return task;
  }

  /** request()'s interceptors (addInterceptor), the first added outermost, as in Taro. */
  const interceptors = [];

  /** `send(params)` inside the interceptors: each gets `{ requestParams, proceed }`. */
  function intercept(params, send) {
    const list = interceptors.slice();
    const at = (i) => (p) =>
      i < list.length ? new Promise((resolve) => resolve(list[i]({ requestParams: p, proceed: at(i + 1) }))) : send(p);
    return at(0)(params);
  }

  /**
   * `request` / `uploadFile` / `downloadFile` (the wasm method `api`): the promise, or in
   * callback style the task, with `abort()`, and for transfers `on/offProgressUpdate`.
   * An aborted call fails at once; the wasm cancels what it started (its retry, and a
   * login only it needed). `request` runs inside the interceptors, once per call.
   */
  function transfer(api, options, what) {
    requireObject(options, what);
    const callbacks = callbacksOf(options, RequestError);
    const listeners = typeof callbacks.progress === 'function' ? [callbacks.progress] : [];
    // The call's handle in the wasm: it names the call for abort() and gets its progress.
    const handle = (res) => {
      for (const listener of listeners.slice()) invoke(listener, res);
    };
    let aborted = null;
    /** The client the call went to (abort() tells it), once it went. */
    let sentTo = null;
    const send = (params) =>
      aborted
        ? Promise.reject(aborted)
        : ready().then((c) => {
            if (aborted) throw aborted;
            sentTo = c;
            return c[api](params, handle);
          });
    let fail;
    const promise = new Promise((resolve, reject) => {
      fail = reject;
      (api === 'request' ? intercept(options, send) : send(options)).then(resolve, reject);
    });
    const task = {
      abort() {
        if (aborted) return;
        aborted = abortError(api);
        fail(aborted);
        if (sentTo) sentTo.abort(handle);
      },
    };
    if (api !== 'request') {
      task.onProgressUpdate = (listener) => {
        if (typeof listener === 'function') listeners.push(listener);
      };
      task.offProgressUpdate = (listener) => {
        const i = listeners.indexOf(listener);
        if (i >= 0) listeners.splice(i, 1);
      };
    }
    return settle(promise, callbacks, task);
  }

  function requireFunction(fn, what) {
    if (typeof fn !== 'function') throw new RequestError(ERRORS.ERR_INVALID_PARAMS, '参数错误：' + what + ' needs a function');
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

  /** `login` / `loginWithCode` / `requestLogin` (the wasm method `method`), in either style. */
  function loginCall(method, options) {
    const callbacks = callbacksOf(options, LoginError);
    return settle(ready().then((c) => c[method](options), asLoginError), callbacks);
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
      return loginCall('login', options);
    },

    loginWithCode(options) {
      return loginCall('loginWithCode', options);
    },

    /** Log in with `loginParams: { code, encryptedData, iv }` the page got itself. */
    requestLogin(options) {
      return loginCall('requestLogin', options);
    },

    request(options) {
      return transfer('request', options, '请求');
    },

    uploadFile(options) {
      return transfer('uploadFile', options, '上传');
    },

    downloadFile(options) {
      return transfer('downloadFile', options, '下载');
    },

    /** Taro's `addInterceptor`: `interceptor({ requestParams, proceed })` around every request(). */
    addInterceptor(interceptor) {
      requireFunction(interceptor, 'addInterceptor()');
      interceptors.push(interceptor);
    },

    cleanInterceptors() {
      interceptors.length = 0;
    },

    /**
     * Whether a login can be skipped: a session the requests would carry is stored and
     * `wx.checkSession` still vouches for it. Resolves true/false; never rejects.
     */
    hasSession(options) {
      const callbacks = callbacksOf(options, LoginError);
      const stored = Object.keys(api.buildSessionHeader()).length > 0;
      const answer = stored
        ? new Promise((resolve) => resolve(platform.checkSession())).then((valid) => valid === true, () => false)
        : Promise.resolve(false);
      return settle(answer, callbacks);
    },

    /** `listener(session | null)` after every change of the stored session; returns the unsubscribe function. */
    onSessionChange(listener) {
      requireFunction(listener, 'onSessionChange()');
      return store.subscribe(listener);
    },

    offSessionChange(listener) {
      store.unsubscribe(listener);
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

  api.Tunnel = defineTunnel({
    current,
    later(op) {
      pending.push(op);
    },
    report: platform.reportError,
  });

  Object.assign(api, ERRORS);
  // `import wafer from 'wafer-wasm'` compiled by TypeScript without esModuleInterop reads
  // `.default`; not enumerable, so the list of names stays that of the official clients.
  Object.defineProperty(api, 'default', { value: api });
  return api;
}

module.exports = { createSdk };
