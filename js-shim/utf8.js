'use strict';
/**
 * UTF-8 `TextEncoder` / `TextDecoder` for runtimes that lack them (WeChat mini-programs),
 * reduced to what the wasm-bindgen glue reaches (read target/wasm-pack/wafer_wasm_bg.js):
 * - `new TextEncoder().encode(string)`: the glue polyfills `encodeInto` with it when it is
 *   missing, so there is none here. Lone surrogates become U+FFFD, as WHATWG says.
 * - `new TextDecoder('utf-8', { ignoreBOM: true })`, `decode()` and `decode(Uint8Array)`:
 *   never fatal, never streaming, a BOM kept (the glue's options; no other label, option
 *   or input is accepted). Ill-formed input (never made by Rust strings) becomes U+FFFD
 *   for each maximal subpart, as WHATWG says.
 * Hand-written because no maintained polyfill is this small; tests/js/utf8.test.js checks
 * this subset against Node's own encoder and decoder.
 *
 * ES2017, CommonJS, no globals beyond the language built-ins. Strings are built in chunks
 * of at most CHUNK code units, so multi-megabyte inputs never exceed argument limits.
 */

const CHUNK = 4096;
const REPLACEMENT = 0xfffd;
const fromCharCode = String.fromCharCode;

class TextEncoder {
  /** @param {string} str */
  encode(str) {
    const len = str.length;
    const out = [];
    for (let i = 0; i < len; i++) {
      let c = str.charCodeAt(i);
      if (c < 0x80) {
        out.push(c);
      } else if (c < 0x800) {
        out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const d = c <= 0xdbff && i + 1 < len ? str.charCodeAt(i + 1) : 0;
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
            continue;
          }
          c = REPLACEMENT;
        }
        out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
      }
    }
    return Uint8Array.from(out);
  }
}

class TextDecoder {
  /** @param {Uint8Array} [bytes] */
  decode(bytes) {
    if (bytes === undefined) return '';
    const end = bytes.length;
    let out = '';
    const units = [];
    let i = 0;
    while (i < end) {
      if (units.length >= CHUNK) {
        out += fromCharCode.apply(null, units);
        units.length = 0;
      }
      const b0 = bytes[i];
      if (b0 < 0x80) {
        units.push(b0);
        i++;
        continue;
      }
      let need; // continuation bytes
      let cp;
      let lo = 0x80;
      let hi = 0xbf;
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
        // 80..C1 and F5..FF never start a character.
        units.push(REPLACEMENT);
        i++;
        continue;
      }
      let j = i + 1;
      for (; j <= i + need; j++) {
        const b = j < end ? bytes[j] : -1;
        if (b < lo || b > hi) break;
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (b & 0x3f);
      }
      if (j <= i + need) {
        // The maximal subpart bytes[i..j) is one U+FFFD; bytes[j] starts over.
        units.push(REPLACEMENT);
      } else if (cp < 0x10000) {
        units.push(cp);
      } else {
        cp -= 0x10000;
        units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
      }
      i = j;
    }
    return out + fromCharCode.apply(null, units);
  }
}

module.exports = { TextEncoder, TextDecoder };
