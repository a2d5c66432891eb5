'use strict';
// wx storage. Values go through JSON on the way in and out (functions and
// undefined properties vanish, every read returns a fresh copy), with WeChat's
// limits: 1 MB per key, 10 MB in total. Missing keys read as '' (sync API).
//
// Host side (sim.storage):
//   raw          Map key -> stored JSON text; plant anything, even non-JSON text
//                (a value that does not parse is returned as the raw string)
//   get(key)     host copy of the stored value (undefined when missing)
//   set(key, v)  plant a value (bypasses failWrites and the limits)
//   keys(), clear()
//   failWrites   true -> every set/remove/clear throws (sync) or fails (async),
//                like a full quota

const { ok, fail } = require('./callbacks');

const KEY_LIMIT = 1024 * 1024;
const TOTAL_LIMIT = 10 * 1024 * 1024;

function createStorage(sim) {
  const raw = new Map();
  const host = {
    raw,
    failWrites: false,
    get(key) {
      if (!raw.has(key)) return undefined;
      const text = raw.get(key);
      try { return JSON.parse(text); } catch (_) { return text; }
    },
    set(key, value) { raw.set(String(key), JSON.stringify(value === undefined ? null : value)); },
    keys() { return [...raw.keys()]; },
    clear() { raw.clear(); },
  };

  const size = () => {
    let n = 0;
    for (const [k, v] of raw) n += Buffer.byteLength(k) + Buffer.byteLength(v);
    return n;
  };

  // Each sync primitive throws a host Error with a WeChat-like message; the realm
  // bridge turns it into a sandbox Error.
  function checkKey(api, key) {
    if (typeof key !== 'string' || key === '') {
      throw new Error(`${api}:fail parameter error: parameter.key should be a non-empty String`);
    }
  }

  function read(key) {
    sim.counters.storageReads += 1;
    if (!raw.has(key)) return { found: false, value: '' };
    const text = raw.get(key);
    try {
      return { found: true, value: sim.realm.parseJSON(text) };
    } catch (_) {
      return { found: true, value: text };
    }
  }

  function write(api, key, data) {
    checkKey(api, key);
    if (host.failWrites) throw new Error(`${api}:fail exceed storage max size 10Mb`);
    // JSON.stringify(undefined) is undefined; store null so the key exists.
    const text = JSON.stringify(data) === undefined ? 'null' : JSON.stringify(data);
    if (Buffer.byteLength(key) + Buffer.byteLength(text) > KEY_LIMIT) {
      throw new Error(`${api}:fail entry size limit reached`);
    }
    const old = raw.has(key) ? Buffer.byteLength(key) + Buffer.byteLength(raw.get(key)) : 0;
    if (size() - old + Buffer.byteLength(key) + Buffer.byteLength(text) > TOTAL_LIMIT) {
      throw new Error(`${api}:fail exceed storage max size 10Mb`);
    }
    sim.counters.storageWrites += 1;
    raw.set(key, text);
  }

  function remove(api, key) {
    checkKey(api, key);
    if (host.failWrites) throw new Error(`${api}:fail exceed storage max size 10Mb`);
    sim.counters.storageWrites += 1;
    raw.delete(key);
  }

  function clearAll(api) {
    if (host.failWrites) throw new Error(`${api}:fail exceed storage max size 10Mb`);
    sim.counters.storageWrites += 1;
    raw.clear();
  }

  const info = () => ({ keys: [...raw.keys()], currentSize: Math.ceil(size() / 1024), limitSize: TOTAL_LIMIT / 1024 });

  const { api } = sim.callbacks;
  const asyncResult = (name, fn) => {
    try { return ok(name, fn()); } catch (e) { return { ok: false, result: { errMsg: e.message } }; }
  };

  const wx = {
    getStorageSync(key) { checkKey('getStorageSync', key); return read(key).value; },
    setStorageSync(key, data) { write('setStorageSync', key, data); },
    removeStorageSync(key) { remove('removeStorageSync', key); },
    clearStorageSync() { clearAll('clearStorageSync'); },
    getStorageInfoSync() { return sim.realm.clone(info()); },

    getStorage: api('getStorage', (o) => {
      if (typeof o.key !== 'string' || o.key === '') return fail('getStorage', 'parameter error: parameter.key should be a non-empty String');
      const r = read(o.key);
      // Async getStorage fails for a missing key (the sync one returns '').
      // The value is host-copied here and cloned into the sandbox on delivery.
      return r.found ? ok('getStorage', { data: host.get(o.key) }) : fail('getStorage', 'data not found');
    }, { promiseStyle: true }),
    setStorage: api('setStorage', (o) => asyncResult('setStorage', () => { write('setStorage', o.key, o.data); return {}; }), { promiseStyle: true }),
    removeStorage: api('removeStorage', (o) => asyncResult('removeStorage', () => { remove('removeStorage', o.key); return {}; }), { promiseStyle: true }),
    clearStorage: api('clearStorage', () => asyncResult('clearStorage', () => { clearAll('clearStorage'); return {}; }), { promiseStyle: true }),
    getStorageInfo: api('getStorageInfo', () => ok('getStorageInfo', info()), { promiseStyle: true }),
  };

  return { host, wx };
}

module.exports = { createStorage };
