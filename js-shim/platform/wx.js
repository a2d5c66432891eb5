'use strict';
/**
 * The platform adapter for a WeChat mini-program: the runtime's view of `wx`.
 * Contract (see docs/ARCHITECTURE.md): asynchronous calls return promises that reject
 * with the `fail` result (network calls: with `abort()`); socket events reach
 * `sink(gen, kind, data)` asynchronously.
 */

const { SOCKET_OPEN, SOCKET_MESSAGE, SOCKET_CLOSE, SOCKET_ERROR, SOCKET_BINARY } = require('./socket-events');

/**
 * Call a callback-style `wx` API as a promise with the task's `abort()`; an
 * `onProgressUpdate` option becomes the task's progress listener (uploads, downloads).
 */
function call(wx, name, options) {
  let task;
  const promise = new Promise((resolve, reject) => {
    const o = Object.assign({}, options, { success: resolve, fail: reject });
    delete o.onProgressUpdate;
    task = wx[name](o);
  });
  const progress = options.onProgressUpdate;
  if (task && typeof progress === 'function' && typeof task.onProgressUpdate === 'function') {
    task.onProgressUpdate(progress);
  }
  promise.abort = () => {
    if (task && typeof task.abort === 'function') task.abort();
  };
  return promise;
}

/**
 * @param {object} wx the mini-program's `wx`
 */
function createWxPlatform(wx) {
  return {
    request: (options) => call(wx, 'request', options),
    uploadFile: (options) => call(wx, 'uploadFile', options),
    downloadFile: (options) => call(wx, 'downloadFile', options),
    login: () => call(wx, 'login', {}),
    getUserInfo: (options) => call(wx, 'getUserInfo', options),
    checkSession: () =>
      new Promise((resolve) => {
        wx.checkSession({ success: () => resolve(true), fail: () => resolve(false) });
      }),

    getStorage: (key) => wx.getStorageSync(key),
    setStorage: (key, value) => wx.setStorageSync(key, value),
    removeStorage: (key) => wx.removeStorageSync(key),

    connectSocket(url, sink, gen) {
      let open = false;
      // After our own close(), or once the socket reported its end, it stays silent.
      let done = false;
      const end = (kind, data) => {
        open = false;
        if (!done) {
          done = true;
          sink(gen, kind, data);
        }
      };
      const failed = (e) => end(SOCKET_ERROR, e);
      const task = wx.connectSocket({ url, fail: failed });
      task.onOpen(() => {
        if (done) return;
        open = true;
        sink(gen, SOCKET_OPEN, null);
      });
      task.onMessage((m) => {
        if (!done) sink(gen, typeof m.data === 'string' ? SOCKET_MESSAGE : SOCKET_BINARY, m.data);
      });
      task.onClose((r) => end(SOCKET_CLOSE, r));
      task.onError((e) => end(SOCKET_ERROR, e));
      return {
        send(data) {
          if (!open) return false;
          try {
            // A late failure means the link is going down; its close event follows.
            task.send({ data, fail: failed });
            return true;
          } catch (e) {
            return false;
          }
        },
        close() {
          done = true;
          open = false;
          task.close({});
        },
      };
    },

    onNetworkChange(callback) {
      if (typeof wx.onNetworkStatusChange === 'function') {
        wx.onNetworkStatusChange((res) => callback(!!res.isConnected));
      }
    },
    onAppShow(callback) {
      if (typeof wx.onAppShow === 'function') wx.onAppShow(() => callback());
    },
  };
}

module.exports = { createWxPlatform };
