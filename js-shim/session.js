'use strict';
/**
 * The stored session on the JavaScript side: the one place that touches the storage key,
 * used by the facade and, through `platform.readSession` / `writeSession`, by the wasm.
 *
 * Storage is the single source of truth (apps log out with `wx.clearStorageSync()`,
 * migrate by writing the key, or load the SDK twice from a subpackage's own
 * `miniprogram_npm`): every read goes to storage, nothing is cached. Memory answers only
 * where storage cannot: after a write storage refused (quota), while storage still holds
 * what it held then (so a later write by anyone wins again), and while storage cannot be
 * read at all; then the answer is the value this run last wrote, as storage would keep it
 * (its JSON copy).
 *
 * `onSessionChange` listeners hear of every change a read or a write of this SDK sees,
 * whoever made it (this SDK, another copy of it, `wx.clearStorageSync()`, a direct write):
 * a change made elsewhere is seen on the next use (a request reads storage first).
 */

/** The storage key of both official clients. */
const SESSION_KEY = 'weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';

/** A comparable snapshot of a stored value (storage keeps JSON, so its text identifies it). */
function snapshot(value) {
  try {
    return JSON.stringify(value);
  } catch (e) {
    return null;
  }
}

/** The stored value when it holds a session some header can carry, else null. */
function sessionOf(value) {
  return headersOf(value)['X-WX-Skey'] ? value : null;
}

/**
 * What storage keeps of `value`: a copy through JSON (null when it has no JSON form, as
 * a `Proxy` that throws). The value kept in memory is this copy, so the wasm, which
 * decodes stored values directly as the JSON data storage returns, never reads a page's
 * object.
 */
function storable(value) {
  const text = snapshot(value);
  return typeof text === 'string' ? JSON.parse(text) : null;
}

/**
 * @param {object} platform `getStorage(key)`, `setStorage(key, value)`, `removeStorage(key)`
 *   (looked up on every call: `init({ platform })` may replace them)
 * @param {(error: *) => void} onWriteFailure storage refused a write (the value was kept in memory)
 * @param {(context: string, error: *) => void} report an exception of a session listener
 */
function createSessionStore(platform, onWriteFailure, report) {
  /** What this run last wrote, as storage keeps it (null: removed); undefined until it writes. */
  let written;
  /** After a refused write: the snapshot of what storage held then (`{ shadowed }`). */
  let refused = null;

  /** onSessionChange listeners, and the snapshot of the session they last heard of. */
  const listeners = [];
  let heard;

  /** `{ value }`, or null when storage throws. */
  function stored() {
    try {
      return { value: platform.getStorage(SESSION_KEY) };
    } catch (e) {
      return null;
    }
  }

  function current() {
    const now = stored();
    if (!now) return written === undefined ? '' : written;
    if (refused) {
      if (snapshot(now.value) === refused.shadowed) return written;
      refused = null; // someone wrote the key since: storage is right again
    }
    return now.value;
  }

  /** Tell the listeners if the session in `value` is not the one they last heard of. */
  function observe(value) {
    if (!listeners.length) return;
    const session = sessionOf(value);
    const now = snapshot(session);
    if (now === heard) return;
    heard = now;
    // Later, never inside the read: it may be the wasm's, and a listener may call the SDK.
    const targets = listeners.slice();
    Promise.resolve().then(() => {
      for (const listener of targets) {
        try {
          listener(session);
        } catch (e) {
          report('session listener', e);
        }
      }
    });
  }

  return {
    /** The stored value as is ('' or null when there is none). */
    read() {
      const value = current();
      observe(value);
      return value;
    },

    /** Listen to session changes; returns the function that stops it. */
    subscribe(listener) {
      if (!listeners.length) heard = snapshot(sessionOf(current()));
      listeners.push(listener);
      return () => this.unsubscribe(listener);
    },

    unsubscribe(listener) {
      const i = listeners.indexOf(listener);
      if (i >= 0) listeners.splice(i, 1);
    },

    /** Store `value`, or remove the key for null / undefined. Never throws. */
    write(value) {
      const before = stored();
      const empty = value === null || value === undefined;
      written = empty ? null : storable(value);
      try {
        if (empty) platform.removeStorage(SESSION_KEY);
        else platform.setStorage(SESSION_KEY, value);
        refused = null;
      } catch (e) {
        refused = { shadowed: before ? snapshot(before.value) : undefined };
        onWriteFailure(e);
      }
      observe(written);
    },
  };
}

// ---- before the wasm is ready ---------------------------------------------------------
// A mini-program loads wasm asynchronously, but `buildSessionHeader()` must answer
// synchronously right after require(), as the official clients do. Until the wasm is
// ready this mirrors the core's reading of a stored session (src/sansio/session.rs:
// `Session::decode` and `headers`) with the dialect of a fresh start (protocol 'auto',
// nothing learned yet: the stored shape decides). tests/js/sdk-fidelity.test.js checks that
// both give the same answer for the same stored values.

/** The core's `header_safe`: printable ASCII, 1 to 1024 characters. */
function headerSafe(s) {
  return typeof s === 'string' && s.length > 0 && s.length <= 1024 && /^[\x20-\x7e]+$/.test(s);
}

/** `value[key]`, undefined for non-objects and throwing getters (as the runtime reads). */
function field(value, key) {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    return value[key];
  } catch (e) {
    return undefined;
  }
}

/** The session headers of a stored value: `{ X-WX-Id, X-WX-Skey }`, `{ X-WX-Skey }` or `{}`. */
function headersOf(value) {
  const skey = field(value, 'skey');
  if (!headerSafe(skey)) return {};
  const id = field(value, 'id');
  if (headerSafe(id)) return { 'X-WX-Id': id, 'X-WX-Skey': skey };
  if (id !== undefined && id) return {}; // a present but unusable id: corrupt, not Wafer 2
  return { 'X-WX-Skey': skey };
}

module.exports = { createSessionStore, headersOf };
