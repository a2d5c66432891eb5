'use strict';
/**
 * UTF-8 TextEncoder / TextDecoder for runtimes that lack them (WeChat mini-programs).
 *
 * Follows the WHATWG Encoding Standard for the UTF-8 encoding:
 * - TextEncoder: `encode(string)` and `encodeInto(string, Uint8Array)`; lone surrogates
 *   become U+FFFD; `encodeInto` never writes a partial character and reports `read` in
 *   UTF-16 code units and `written` in bytes.
 * - TextDecoder: labels of the UTF-8 encoding only (others throw RangeError); `fatal`
 *   (throws TypeError on invalid input) or replacement of each maximal subpart of an
 *   ill-formed sequence with U+FFFD; `ignoreBOM`; `decode(input, { stream: true })`.
 *
 * ES2017, CommonJS, and no globals beyond the language built-ins (no Buffer, no
 * TextEncoder / TextDecoder, no `self` / `window` / `global`). Strings are built in chunks
 * of at most CHUNK code units, so multi-megabyte inputs never exceed argument limits.
 */

const CHUNK = 4096;
const REPLACEMENT = 0xfffd;

// Labels of the UTF-8 encoding (https://encoding.spec.whatwg.org/#names-and-labels).
const UTF8_LABELS = ['unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8'];

const fromCharCode = String.fromCharCode;
// Scratch buffer for decoded code units, shared by all decoders (decoding is synchronous).
const UNITS = new Uint16Array(CHUNK);
const toStringTag = Object.prototype.toString;

function invalidData() {
  return new TypeError('The encoded data was not valid for encoding utf-8');
}

/** Number of UTF-8 bytes `str` encodes to (lone surrogates count as U+FFFD, 3 bytes). */
function utf8Length(str) {
  const len = str.length;
  let bytes = len;
  for (let i = 0; i < len; i++) {
    const c = str.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = str.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2; // 2 code units -> 4 bytes
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

class TextEncoder {
  get encoding() {
    return 'utf-8';
  }

  encode(input) {
    const str = input === undefined ? '' : String(input);
    const len = str.length;
    const out = new Uint8Array(utf8Length(str));
    if (out.length === len) {
      // ASCII only.
      for (let i = 0; i < len; i++) out[i] = str.charCodeAt(i);
      return out;
    }
    let p = 0;
    for (let i = 0; i < len; i++) {
      let c = str.charCodeAt(i);
      if (c < 0x80) {
        out[p++] = c;
      } else if (c < 0x800) {
        out[p++] = 0xc0 | (c >> 6);
        out[p++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const d = c <= 0xdbff && i + 1 < len ? str.charCodeAt(i + 1) : 0;
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            out[p++] = 0xf0 | (c >> 18);
            out[p++] = 0x80 | ((c >> 12) & 0x3f);
            out[p++] = 0x80 | ((c >> 6) & 0x3f);
            out[p++] = 0x80 | (c & 0x3f);
            continue;
          }
          c = REPLACEMENT;
        }
        out[p++] = 0xe0 | (c >> 12);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
      }
    }
    return out;
  }

  encodeInto(source, destination) {
    const str = String(source);
    if (!ArrayBuffer.isView(destination) || toStringTag.call(destination) !== '[object Uint8Array]') {
      throw new TypeError('The "dest" argument must be an instance of Uint8Array');
    }
    const len = str.length;
    const cap = destination.length;
    let i = 0;
    let p = 0;
    // ASCII fast path.
    const asciiEnd = len < cap ? len : cap;
    while (i < asciiEnd) {
      const c = str.charCodeAt(i);
      if (c >= 0x80) break;
      destination[p++] = c;
      i++;
    }
    for (; i < len; i++) {
      let c = str.charCodeAt(i);
      if (c < 0x80) {
        if (p >= cap) break;
        destination[p++] = c;
      } else if (c < 0x800) {
        if (p + 2 > cap) break;
        destination[p++] = 0xc0 | (c >> 6);
        destination[p++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const d = c <= 0xdbff && i + 1 < len ? str.charCodeAt(i + 1) : 0;
          if (d >= 0xdc00 && d <= 0xdfff) {
            if (p + 4 > cap) break;
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            destination[p++] = 0xf0 | (c >> 18);
            destination[p++] = 0x80 | ((c >> 12) & 0x3f);
            destination[p++] = 0x80 | ((c >> 6) & 0x3f);
            destination[p++] = 0x80 | (c & 0x3f);
            continue;
          }
          c = REPLACEMENT;
        }
        if (p + 3 > cap) break;
        destination[p++] = 0xe0 | (c >> 12);
        destination[p++] = 0x80 | ((c >> 6) & 0x3f);
        destination[p++] = 0x80 | (c & 0x3f);
      }
    }
    return { read: i, written: p };
  }
}

/** Turns a BufferSource (ArrayBuffer, SharedArrayBuffer or any ArrayBufferView) into bytes. */
function toBytes(input) {
  if (input === undefined) return new Uint8Array(0);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const tag = toStringTag.call(input);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return new Uint8Array(input);
  throw new TypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
}

/** Latin-1 / ASCII bytes to a string, CHUNK bytes per String.fromCharCode call. */
function bytesToString(bytes, start, end) {
  if (end - start <= CHUNK) return fromCharCode.apply(null, bytes.subarray(start, end));
  let s = '';
  for (let i = start; i < end; i += CHUNK) {
    s += fromCharCode.apply(null, bytes.subarray(i, i + CHUNK < end ? i + CHUNK : end));
  }
  return s;
}

/**
 * Decodes bytes[0..end). Returns the string; sets `state.rest` to the index where an
 * incomplete (but so far valid) trailing sequence starts when `stream` is true, else to end.
 */
function decodeUtf8(bytes, fatal, stream, state) {
  const end = bytes.length;
  let i = 0;
  // ASCII fast path: a run of ASCII bytes converts directly.
  while (i < end && bytes[i] < 0x80) i++;
  if (i === end) {
    state.rest = end;
    return bytesToString(bytes, 0, end);
  }
  let out = i > 0 ? bytesToString(bytes, 0, i) : '';
  const units = UNITS;
  let n = 0;
  while (i < end) {
    if (n > CHUNK - 2) {
      out += fromCharCode.apply(null, n === CHUNK ? units : units.subarray(0, n));
      n = 0;
    }
    const b0 = bytes[i];
    if (b0 < 0x80) {
      units[n++] = b0;
      i++;
      // Tight loop over an ASCII run while the chunk has room.
      while (i < end && n < CHUNK) {
        const b = bytes[i];
        if (b >= 0x80) break;
        units[n++] = b;
        i++;
      }
      continue;
    }
    let need; // continuation bytes needed
    let lo = 0x80;
    let hi = 0xbf;
    let cp;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) lo = 0xa0; // no overlongs
      else if (b0 === 0xed) hi = 0x9f; // no surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 === 0xf0) lo = 0x90; // no overlongs
      else if (b0 === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else {
      // 80..C1 (continuation or overlong lead) and F5..FF: never valid.
      if (fatal) throw invalidData();
      units[n++] = REPLACEMENT;
      i++;
      continue;
    }
    let j = i + 1;
    let ok = true;
    for (let k = 0; k < need; k++, j++) {
      if (j >= end) {
        // Truncated sequence: everything from i on is a valid prefix.
        if (stream) {
          state.rest = i;
          if (n > 0) out += fromCharCode.apply(null, units.subarray(0, n));
          return out;
        }
        ok = false;
        break;
      }
      const b = bytes[j];
      if (b < lo || b > hi) {
        ok = false;
        break;
      }
      lo = 0x80;
      hi = 0xbf;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (!ok) {
      // The maximal subpart bytes[i..j) becomes one U+FFFD; bytes[j] is reprocessed.
      if (fatal) throw invalidData();
      units[n++] = REPLACEMENT;
      i = j;
      continue;
    }
    i = j;
    if (cp < 0x10000) {
      units[n++] = cp;
    } else {
      cp -= 0x10000;
      units[n++] = 0xd800 | (cp >> 10);
      units[n++] = 0xdc00 | (cp & 0x3ff);
    }
  }
  if (n > 0) out += fromCharCode.apply(null, units.subarray(0, n));
  state.rest = end;
  return out;
}

class TextDecoder {
  constructor(label, options) {
    const name = label === undefined ? 'utf-8' : String(label).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '').toLowerCase();
    if (UTF8_LABELS.indexOf(name) === -1) {
      throw new RangeError('The "' + label + '" encoding is not supported');
    }
    const opts = options === undefined || options === null ? {} : options;
    this._fatal = Boolean(opts.fatal);
    this._ignoreBOM = Boolean(opts.ignoreBOM);
    this._bomSeen = false;
    this._pending = null; // bytes of an incomplete sequence kept by a streaming decode
    this._streaming = false;
  }

  get encoding() {
    return 'utf-8';
  }

  get fatal() {
    return this._fatal;
  }

  get ignoreBOM() {
    return this._ignoreBOM;
  }

  decode(input, options) {
    let bytes = toBytes(input);
    const stream = Boolean(options !== undefined && options !== null && options.stream);
    if (!this._streaming) {
      this._pending = null;
      this._bomSeen = false;
    }
    this._streaming = stream;
    const pending = this._pending;
    if (pending !== null) {
      const joined = new Uint8Array(pending.length + bytes.length);
      joined.set(pending, 0);
      joined.set(bytes, pending.length);
      bytes = joined;
      this._pending = null;
    }
    const state = { rest: 0 };
    let out;
    try {
      out = decodeUtf8(bytes, this._fatal, stream, state);
    } catch (err) {
      this._streaming = false;
      throw err;
    }
    if (state.rest < bytes.length) this._pending = bytes.slice(state.rest);
    if (!this._ignoreBOM && !this._bomSeen && out.length > 0) {
      this._bomSeen = true;
      if (out.charCodeAt(0) === 0xfeff) out = out.slice(1);
    }
    return out;
  }
}

module.exports = { TextEncoder, TextDecoder };
