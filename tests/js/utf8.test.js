'use strict';
// js-shim/utf8.js against Node's own (WHATWG) TextEncoder / TextDecoder, for what the
// wasm-bindgen glue uses: `encode(string)`, and `new TextDecoder('utf-8', { ignoreBOM: true })`
// with `decode()` / `decode(Uint8Array)`. Hand-picked edge cases plus property-style loops
// driven by a seeded PRNG. WAFER_UTF8_SEED=<n> reproduces a run; WAFER_UTF8_ITERATIONS=<n>
// scales the loops. That the glue needs nothing more is checked by every simulator suite:
// the sandbox has no TextEncoder / TextDecoder of its own.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const shim = require('../../js-shim/utf8.js');

const NodeEncoder = globalThis.TextEncoder;
const NodeDecoder = globalThis.TextDecoder;
const SEED = Number(process.env.WAFER_UTF8_SEED || 0x5eed1234) >>> 0;
const ITERATIONS = Number(process.env.WAFER_UTF8_ITERATIONS || 2000);

// mulberry32: small, fast, good enough for test data.
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (arr) => arr[next.int(arr.length)];
  return next;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
const units = (s) => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i).toString(16)).join(' ');

/** A random string mixing ASCII, 2- and 3-byte BMP, CJK, astral pairs, lone surrogates, BOMs. */
function randomString(rand, maxLen) {
  const len = rand.int(maxLen + 1);
  let s = '';
  while (s.length < len) {
    switch (rand.int(10)) {
      case 0:
      case 1:
        s += String.fromCharCode(rand.int(0x80));
        break;
      case 2:
        s += String.fromCharCode(0x80 + rand.int(0x780));
        break;
      case 3:
        s += String.fromCharCode(0x4e00 + rand.int(0x5200)); // CJK
        break;
      case 4:
        s += String.fromCharCode(0x800 + rand.int(0xd800 - 0x800));
        break;
      case 5:
        s += String.fromCharCode(0xe000 + rand.int(0x2000)); // incl. U+FEFF .. U+FFFF
        break;
      case 6:
        s += String.fromCodePoint(0x10000 + rand.int(0x100000)); // astral
        break;
      case 7:
        s += String.fromCodePoint(0x1f600 + rand.int(0x50)); // emoji
        break;
      case 8:
        s += String.fromCharCode(0xd800 + rand.int(0x800)); // lone (or accidentally paired) surrogate
        break;
      default:
        s += rand.pick(['\ufeff', '\u0000', '\uffff', '\ud83d', '\ude00', '\u00e9', 'abc']);
    }
  }
  return s;
}

/** Random bytes: pure noise, or valid UTF-8 with mutations (truncations, flips, insertions). */
function randomBytes(rand, maxLen) {
  if (rand.int(3) === 0) {
    const out = new Uint8Array(rand.int(maxLen + 1));
    for (let i = 0; i < out.length; i++) {
      // Bias towards interesting bytes.
      out[i] = rand.int(4) === 0 ? rand.pick([0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90]) : rand.int(256);
    }
    return out;
  }
  const bytes = Array.from(new NodeEncoder().encode(randomString(rand, maxLen)));
  const mutations = rand.int(4);
  for (let m = 0; m < mutations && bytes.length > 0; m++) {
    const at = rand.int(bytes.length);
    switch (rand.int(4)) {
      case 0:
        bytes.splice(at, 1);
        break;
      case 1:
        bytes[at] = rand.int(256);
        break;
      case 2:
        bytes.splice(at, 0, rand.pick([0x80, 0xc3, 0xe2, 0xf0, 0xed, 0xf4, 0xef, 0xbb, 0xbf]));
        break;
      default:
        bytes.length = at;
    }
  }
  if (rand.int(8) === 0) bytes.unshift(0xef, 0xbb, 0xbf);
  return Uint8Array.from(bytes);
}

/** What the glue makes: `new TextDecoder('utf-8', { ignoreBOM: true })`. */
const GLUE_DECODER_OPTIONS = { ignoreBOM: true };

function checkDecode(bytes) {
  const expected = new NodeDecoder('utf-8', GLUE_DECODER_OPTIONS).decode(bytes);
  const actual = new shim.TextDecoder('utf-8', GLUE_DECODER_OPTIONS).decode(bytes);
  assert.equal(units(actual), units(expected), `decode [${hex(bytes)}]`);
}

test('module shape: the subset the glue reaches', () => {
  assert.equal(typeof new shim.TextEncoder().encode, 'function');
  assert.equal(typeof new shim.TextDecoder('utf-8', GLUE_DECODER_OPTIONS).decode, 'function');
  // No encodeInto: the glue polyfills it with encode().
  assert.equal('encodeInto' in new shim.TextEncoder(), false);
});

test('runs in a sandbox without Buffer, TextEncoder, TextDecoder or a global object alias', () => {
  const file = path.join(__dirname, '../../js-shim/utf8.js');
  const source = fs.readFileSync(file, 'utf8');
  const sandbox = vm.createContext({});
  vm.runInContext('delete globalThis.TextEncoder; delete globalThis.TextDecoder;', sandbox);
  const mod = { exports: {} };
  vm.runInContext(`(function (module, exports) {${source}\n})`, sandbox, { filename: file })(mod, mod.exports);
  const enc = new mod.exports.TextEncoder();
  const dec = new mod.exports.TextDecoder('utf-8', GLUE_DECODER_OPTIONS);
  const text = '中文 and emoji 😀 and a lone \ud800!';
  assert.equal(dec.decode(enc.encode(text)), text.replace('\ud800', '\ufffd'));
  assert.equal(dec.decode(), '');
});

test('encode: hand-picked cases', () => {
  const enc = new shim.TextEncoder();
  const node = new NodeEncoder();
  const cases = [
    '', 'a', 'hello world', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff', '\ufeff',
    '中文', '你好，世界', '😀', '👩‍👩‍👧‍👦', '\ud83d\ude00', '\ud800', '\udc00', '\udc00\ud800',
    '\ud800\ud800\udc00', 'a\ud800b', 'a\udfffb', '\udbff\udfff', 'x'.repeat(5000) + '\ud83d',
  ];
  for (const s of cases) assert.deepEqual(enc.encode(s), node.encode(s), `encode ${units(s)}`);
  assert.ok(enc.encode('abc') instanceof Uint8Array);
});

test('decode: hand-picked cases', () => {
  const cases = [
    [], [0x61], [0xef, 0xbb, 0xbf], [0xef, 0xbb, 0xbf, 0x61], [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf], [0xef, 0xbb],
    [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xef, 0xbf, 0xbf], [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf],
    // overlongs
    [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf],
    // surrogates
    [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], [0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
    // above U+10FFFF and invalid leads
    [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe], [0xff], [0x80], [0xbf],
    // truncated
    [0xc2], [0xe0, 0xa0], [0xf0, 0x90, 0x80], [0x61, 0xf0, 0x90, 0x80], [0xf0, 0x90, 0x80, 0x61], [0xe2, 0x82], [0xe2, 0x82, 0x61],
    // maximal subparts (Unicode table 3-8)
    [0x61, 0xf1, 0x80, 0x80, 0xe1, 0x80, 0xc2, 0x62, 0x80, 0x63, 0x80, 0xbf, 0x64],
    [0xc0, 0xaf, 0xe0, 0x80, 0xbf, 0xf0, 0x81, 0x82, 0x41],
    [0xed, 0xa0, 0x80, 0xed, 0xbf, 0xbf, 0xed, 0xaf, 0x41],
    [0xf4, 0x91, 0x92, 0x93, 0xff, 0x41, 0x80, 0xbf, 0x42],
    [0xe1, 0x80, 0xe2, 0xf0, 0x91, 0x92, 0xf1, 0xbf, 0x41],
  ];
  for (const c of cases) checkDecode(Uint8Array.from(c));
  // What the glue does: decode() once at start, then views of wasm memory.
  const d = new shim.TextDecoder('utf-8', GLUE_DECODER_OPTIONS);
  assert.equal(d.decode(), '');
  const memory = new Uint8Array(64);
  memory.set(new NodeEncoder().encode('\ufeff中文😀'), 7);
  assert.equal(d.decode(memory.subarray(7, 7 + 13)), '\ufeff中文😀', 'a BOM is kept, a subarray is read in place');
});

test('encode / decode: random strings (seed ' + SEED + ')', () => {
  const rand = prng(SEED);
  const enc = new shim.TextEncoder();
  const node = new NodeEncoder();
  for (let n = 0; n < ITERATIONS; n++) {
    const s = randomString(rand, n % 50 === 0 ? 6000 : 40);
    const expected = node.encode(s);
    const bytes = enc.encode(s);
    assert.deepEqual(bytes, expected, `encode ${units(s)}`);
    checkDecode(bytes);
  }
});

test('decode: random bytes match Node (seed ' + SEED + ')', () => {
  const rand = prng(SEED ^ 0xa5a5a5a5);
  for (let n = 0; n < ITERATIONS * 2; n++) checkDecode(randomBytes(rand, n % 100 === 0 ? 9000 : 24));
});

test('multi-megabyte inputs (no stack overflow, chunked strings)', () => {
  const rand = prng(SEED + 1);
  const pieces = [];
  for (let i = 0; i < 2000; i++) pieces.push(randomString(rand, 1500).replace(/[\ud800-\udfff]/g, 'x'));
  const big = pieces.join('中文😀');
  const ascii = 'The quick brown fox. '.repeat(300000); // ~6 MB
  const enc = new shim.TextEncoder();
  const dec = new shim.TextDecoder('utf-8', GLUE_DECODER_OPTIONS);
  for (const s of [big, ascii]) {
    const bytes = enc.encode(s);
    assert.ok(bytes.length > 1e6);
    assert.deepEqual(bytes, new NodeEncoder().encode(s));
    assert.equal(dec.decode(bytes), s);
  }
  const noise = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < noise.length; i++) noise[i] = rand.int(256);
  assert.equal(dec.decode(noise), new NodeDecoder('utf-8', GLUE_DECODER_OPTIONS).decode(noise));
});
