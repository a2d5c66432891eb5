'use strict';
/**
 * The fallback platform adapter for Node and browsers: HTTP through the global `fetch`,
 * sockets through the global `WebSocket` (or the `ws` package when installed), storage
 * in memory (or `localStorage`). There is no `wx.login` outside WeChat: pass your own
 * `login` / `getUserInfo` / `checkSession` with `init({ platform: { ... } })`.
 */

const { SOCKET_OPEN, SOCKET_MESSAGE, SOCKET_CLOSE, SOCKET_ERROR, SOCKET_BINARY } = require('./socket-events');

function fail(api, reason) {
  return { errMsg: api + ':fail ' + reason };
}

function unsupported(api) {
  return () => Promise.reject(fail(api, 'not available outside a mini-program; provide it with init({ platform })'));
}

function queryString(data) {
  return Object.keys(data)
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(data[k] == null ? '' : String(data[k])))
    .join('&');
}

/**
 * A `fetch` exchange as the `wx` API `api`: `options.timeout`, a failure as `{ errMsg }`,
 * and `abort()` on the promise (as the wx adapter's).
 */
function exchange(api, options, run) {
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  let why = null;
  const stop = (reason) => {
    why = reason;
    if (controller) controller.abort();
  };
  const timer = options.timeout > 0 ? setTimeout(() => stop('timeout'), options.timeout) : null;
  const promise = run(controller ? controller.signal : undefined).then(
    (result) => {
      clearTimeout(timer);
      return result;
    },
    (e) => {
      clearTimeout(timer);
      throw fail(api, why || (e && e.message) || String(e));
    },
  );
  promise.abort = () => stop('abort');
  return promise;
}

/** `wx.request` semantics over `fetch`. */
function request(options) {
  if (typeof fetch !== 'function') return Promise.reject(fail('request', 'no fetch in this runtime'));
  const method = String(options.method || 'GET').toUpperCase();
  const header = Object.assign({}, options.header);
  let url = options.url;
  let body;
  const data = options.data;
  if (data !== undefined && data !== null) {
    if (method === 'GET' || method === 'HEAD') {
      if (typeof data === 'object') {
        const q = queryString(data);
        if (q) url += (url.indexOf('?') < 0 ? '?' : '&') + q;
      }
    } else if (typeof data === 'string' || data instanceof ArrayBuffer) {
      body = data;
    } else {
      if (!Object.keys(header).some((k) => k.toLowerCase() === 'content-type')) header['content-type'] = 'application/json';
      body = JSON.stringify(data);
    }
  }
  return exchange('request', options, (signal) =>
    fetch(url, { method, headers: header, body, signal }).then((res) =>
      res.text().then((text) => {
        let parsed = text;
        if ((options.dataType || 'json') === 'json') {
          try {
            parsed = JSON.parse(text);
          } catch (e) {
            parsed = text;
          }
        }
        const headers = {};
        res.headers.forEach((v, k) => {
          headers[k] = v;
        });
        return { statusCode: res.status, data: parsed, header: headers, errMsg: 'request:ok' };
      }),
    ),
  );
}

/** `wx.uploadFile` over `fetch` + `FormData` (Node 18+ and browsers). */
function uploadFile(options) {
  if (typeof fetch !== 'function' || typeof FormData !== 'function' || typeof Blob !== 'function') {
    return Promise.reject(fail('uploadFile', 'no fetch/FormData in this runtime'));
  }
  let bytes;
  try {
    bytes = require('fs').readFileSync(options.filePath);
  } catch (e) {
    return Promise.reject(fail('uploadFile', (e && e.message) || String(e)));
  }
  const form = new FormData();
  const extra = options.formData || {};
  Object.keys(extra).forEach((k) => form.append(k, String(extra[k])));
  form.append(options.name, new Blob([bytes]), String(options.filePath).split(/[\\/]/).pop());
  return exchange('uploadFile', options, (signal) =>
    fetch(options.url, { method: 'POST', headers: Object.assign({}, options.header), body: form, signal }).then((res) =>
      res.text().then((text) => ({ statusCode: res.status, data: text, errMsg: 'uploadFile:ok' })),
    ),
  );
}

/** `wx.downloadFile` over `fetch`: the body goes to `filePath`, or to a file in the temp directory. */
function downloadFile(options) {
  if (typeof fetch !== 'function') return Promise.reject(fail('downloadFile', 'no fetch in this runtime'));
  return exchange('downloadFile', options, (signal) =>
    fetch(options.url, { headers: Object.assign({}, options.header), signal }).then((res) =>
      res.arrayBuffer().then((body) => {
        const fs = require('fs');
        const path = require('path');
        const target = options.filePath || path.join(fs.mkdtempSync(path.join(require('os').tmpdir(), 'wafer-')), 'download');
        fs.writeFileSync(target, Buffer.from(body));
        const where = options.filePath ? { filePath: target } : { tempFilePath: target };
        return Object.assign(where, { statusCode: res.status, errMsg: 'downloadFile:ok' });
      }),
    ),
  );
}

function webSocketClass() {
  if (typeof WebSocket === 'function') return WebSocket;
  try {
    return require('ws');
  } catch (e) {
    return null;
  }
}

function connectSocket(url, sink, gen) {
  const Ws = webSocketClass();
  if (!Ws) throw fail('connectSocket', 'no WebSocket in this runtime (install the ws package)');
  const ws = new Ws(url);
  let done = false;
  const end = (kind, data) => {
    if (!done) {
      done = true;
      sink(gen, kind, data);
    }
  };
  ws.onopen = () => {
    if (!done) sink(gen, SOCKET_OPEN, null);
  };
  ws.onmessage = (e) => {
    if (!done) sink(gen, typeof e.data === 'string' ? SOCKET_MESSAGE : SOCKET_BINARY, e.data);
  };
  ws.onclose = (e) => end(SOCKET_CLOSE, { code: e.code, reason: e.reason });
  ws.onerror = (e) => end(SOCKET_ERROR, fail('socket', (e && e.message) || 'error'));
  return {
    send(data) {
      if (done || ws.readyState !== 1) return false;
      try {
        ws.send(data);
        return true;
      } catch (e) {
        return false;
      }
    },
    close() {
      done = true;
      try {
        ws.close(1000);
      } catch (e) {
        // Already closed.
      }
    },
  };
}

function memoryStorage() {
  if (typeof localStorage === 'object' && localStorage) {
    return {
      get: (k) => {
        const v = localStorage.getItem(k);
        return v === null ? '' : JSON.parse(v);
      },
      set: (k, v) => localStorage.setItem(k, JSON.stringify(v)),
      remove: (k) => localStorage.removeItem(k),
    };
  }
  const map = new Map();
  return {
    get: (k) => (map.has(k) ? JSON.parse(map.get(k)) : ''),
    set: (k, v) => map.set(k, JSON.stringify(v)),
    remove: (k) => map.delete(k),
  };
}

function createNodePlatform() {
  const storage = memoryStorage();
  return {
    request,
    uploadFile,
    downloadFile,
    login: unsupported('login'),
    getUserInfo: unsupported('getUserInfo'),
    checkSession: () => Promise.resolve(false),
    getStorage: storage.get,
    setStorage: storage.set,
    removeStorage: storage.remove,
    connectSocket,
    onNetworkChange(callback) {
      if (typeof addEventListener === 'function') {
        addEventListener('online', () => callback(true));
        addEventListener('offline', () => callback(false));
      }
    },
    onAppShow(callback) {
      if (typeof document === 'object' && document && typeof document.addEventListener === 'function') {
        document.addEventListener('visibilitychange', () => {
          if (document.visibilityState === 'visible') callback();
        });
      }
    },
  };
}

module.exports = { createNodePlatform };
