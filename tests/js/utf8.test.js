'use strict';
// js-shim/utf8.js against Node's own (WHATWG) TextEncoder / TextDecoder:
// hand-picked edge cases plus property-style loops driven by a seeded PRNG.
// WAFER_UTF8_SEED=<n> reproduces a run; WAFER_UTF8_ITERATIONS=<n> scales the loops.

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

function outcome(fn) {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: err.name };
  }
}

function checkDecode(bytes, options) {
  const expected = outcome(() => new NodeDecoder('utf-8', options).decode(bytes));
  const actual = outcome(() => new shim.TextDecoder('utf-8', options).decode(bytes));
  assert.deepEqual(actual, expected, `decode ${JSON.stringify(options)} of [${hex(bytes)}]`);
}

test('module shape', () => {
  assert.equal(typeof shim.TextEncoder, 'function');
  assert.equal(typeof shim.TextDecoder, 'function');
  assert.equal(new shim.TextEncoder().encoding, 'utf-8');
  const d = new shim.TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
  assert.equal(d.encoding, 'utf-8');
  assert.equal(d.fatal, true);
  assert.equal(d.ignoreBOM, true);
  assert.ok('encodeInto' in new shim.TextEncoder());
});

test('runs in a sandbox without Buffer, TextEncoder, TextDecoder or a global object alias', () => {
  const file = path.join(__dirname, '../../js-shim/utf8.js');
  const source = fs.readFileSync(file, 'utf8');
  const sandbox = vm.createContext({});
  vm.runInContext('delete globalThis.TextEncoder; delete globalThis.TextDecoder;', sandbox);
  const mod = { exports: {} };
  vm.runInContext(`(function (module, exports) {${source}\n})`, sandbox, { filename: file })(mod, mod.exports);
  const enc = new mod.exports.TextEncoder();
  const dec = new mod.exports.TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
  const text = '中文 and emoji 😀 and a lone \ud800!';
  assert.equal(dec.decode(enc.encode('中文 😀')), '中文 😀');
  assert.equal(new mod.exports.TextDecoder().decode(enc.encode(text)), text.replace('\ud800', '\ufffd'));
  assert.equal(dec.decode(), '');
});

test('encode: hand-picked cases', () => {
  const enc = new shim.TextEncoder();
  const node = new NodeEncoder();
  const cases = [
    '', 'a', 'hello world', '\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff', '\ufeff',
    '中文', '你好，世界', '😀', '👩‍👩‍👧‍👦', '\ud83d\ude00', '\ud800', '\udc00', '\udc00\ud800',
    '\ud800\ud800\udc00', 'a\ud800b', 'a\udfffb', '\ud800', '\udbff\udfff', 'x'.repeat(5000) + '\ud83d',
  ];
  for (const s of cases) assert.deepEqual(enc.encode(s), node.encode(s), `encode ${units(s)}`);
  assert.deepEqual(enc.encode(), node.encode());
  assert.deepEqual(enc.encode(undefined), node.encode(undefined));
  assert.deepEqual(enc.encode(null), node.encode(null));
  assert.deepEqual(enc.encode(12.5), node.encode(12.5));
  assert.ok(enc.encode('abc') instanceof Uint8Array);
});

test('encodeInto: stops before a character that does not fit', () => {
  const enc = new shim.TextEncoder();
  const node = new NodeEncoder();
  const cases = ['abc', 'é', '中', '😀', 'a😀b', '\ud800', 'a\udc00', '中文😀é', 'éé'];
  for (const s of cases) {
    for (let size = 0; size <= 12; size++) {
      const a = new Uint8Array(size).fill(0xaa);
      const b = new Uint8Array(size).fill(0xaa);
      assert.deepEqual(enc.encodeInto(s, a), node.encodeInto(s, b), `encodeInto ${units(s)} into ${size}`);
      assert.deepEqual(a, b);
    }
  }
  // Into a subarray at an offset (as the wasm-bindgen glue does).
  const mem = new Uint8Array(32);
  const r = enc.encodeInto('中文😀', mem.subarray(5, 15));
  assert.deepEqual(r, { read: 4, written: 10 });
  assert.equal(new NodeDecoder().decode(mem.subarray(5, 15)), '中文😀');
  assert.throws(() => enc.encodeInto('a', [0]), TypeError);
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
  for (const c of cases) {
    const bytes = Uint8Array.from(c);
    for (const fatal of [false, true]) {
      for (const ignoreBOM of [false, true]) checkDecode(bytes, { fatal, ignoreBOM });
    }
  }
});

test('decode: accepted inputs and labels', () => {
  const bytes = new NodeEncoder().encode('xx中文😀yy');
  const d = new shim.TextDecoder();
  assert.equal(d.decode(bytes.buffer), 'xx中文😀yy');
  assert.equal(d.decode(bytes.subarray(2, 12)), '中文😀');
  assert.equal(d.decode(new DataView(bytes.buffer, 2, 6)), '中文');
  const u16 = new Uint16Array(bytes.buffer, 0, 3); // 6 bytes: 'xx', 中, 1/3 of 文
  assert.equal(d.decode(u16), new NodeDecoder().decode(u16));
  assert.equal(d.decode(u16), 'xx中\ufffd');
  assert.equal(d.decode(), '');
  assert.equal(d.decode(undefined), '');
  assert.throws(() => d.decode('abc'), TypeError);
  assert.throws(() => d.decode(12), TypeError);
  assert.throws(() => d.decode(null), TypeError);
  assert.throws(() => new NodeDecoder().decode(null), TypeError);
  for (const label of ['utf-8', 'UTF-8', 'utf8', 'Utf8', 'unicode-1-1-utf-8', ' utf-8\n', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8']) {
    assert.equal(new shim.TextDecoder(label).encoding, new NodeDecoder(label).encoding, label);
  }
  for (const label of ['utf-16le', 'latin1', 'ascii', 'utf-9', '', 'utf_8', 'utf-8\u00a0']) {
    assert.throws(() => new shim.TextDecoder(label), RangeError, label);
  }
  // What the wasm-bindgen glue does.
  const glue = new shim.TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
  assert.equal(glue.decode(), '');
  assert.equal(glue.decode(new NodeEncoder().encode('\ufeff中文')), '\ufeff中文');
  assert.throws(() => glue.decode(Uint8Array.from([0xff])), TypeError);
  assert.equal(glue.decode(Uint8Array.from([0x61])), 'a', 'usable after a fatal error');
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
    const size = rand.int(expected.length + 8);
    const a = new Uint8Array(size);
    const b = new Uint8Array(size);
    assert.deepEqual(enc.encodeInto(s, a), node.encodeInto(s, b), `encodeInto ${units(s)} into ${size}`);
    assert.deepEqual(a, b);
    for (const ignoreBOM of [false, true]) {
      assert.equal(new shim.TextDecoder('utf-8', { ignoreBOM }).decode(bytes), new NodeDecoder('utf-8', { ignoreBOM }).decode(bytes));
    }
  }
});

test('decode: random bytes, fatal throws exactly when Node throws (seed ' + SEED + ')', () => {
  const rand = prng(SEED ^ 0xa5a5a5a5);
  for (let n = 0; n < ITERATIONS * 2; n++) {
    const bytes = randomBytes(rand, n % 100 === 0 ? 9000 : 24);
    checkDecode(bytes, { fatal: false, ignoreBOM: n % 2 === 0 });
    checkDecode(bytes, { fatal: true, ignoreBOM: n % 3 === 0 });
  }
});

test('decode: streaming in random pieces matches Node (seed ' + SEED + ')', () => {
  const rand = prng(SEED ^ 0x0f0f0f0f);
  for (let n = 0; n < ITERATIONS; n++) {
    const bytes = randomBytes(rand, 40);
    const options = { fatal: rand.int(4) === 0, ignoreBOM: rand.int(2) === 0 };
    const cuts = [0];
    while (cuts[cuts.length - 1] < bytes.length) cuts.push(cuts[cuts.length - 1] + 1 + rand.int(5));
    const run = (Decoder) => outcome(() => {
      const d = new Decoder('utf-8', options);
      const parts = [];
      // Two rounds on the same decoder: state must reset after a non-streaming call.
      for (let round = 0; round < 2; round++) {
        for (let k = 1; k < cuts.length; k++) parts.push(d.decode(bytes.subarray(cuts[k - 1], cuts[k]), { stream: true }));
        parts.push(d.decode());
      }
      return parts.join('|');
    });
    assert.deepEqual(run(shim.TextDecoder), run(NodeDecoder), `stream ${JSON.stringify(options)} [${hex(bytes)}] cuts ${cuts}`);
  }
});

test('multi-megabyte inputs (no stack overflow, chunked strings)', () => {
  const rand = prng(SEED + 1);
  const pieces = [];
  for (let i = 0; i < 2000; i++) pieces.push(randomString(rand, 1500).replace(/[\ud800-\udfff]/g, 'x'));
  const big = pieces.join('中文😀');
  const ascii = 'The quick brown fox. '.repeat(300000); // ~6 MB
  const enc = new shim.TextEncoder();
  const dec = new shim.TextDecoder('utf-8', { ignoreBOM: true, fatal: true });
  for (const s of [big, ascii]) {
    const bytes = enc.encode(s);
    assert.ok(bytes.length > 1e6);
    assert.deepEqual(bytes, new NodeEncoder().encode(s));
    assert.equal(dec.decode(bytes), s);
    const into = new Uint8Array(bytes.length);
    assert.deepEqual(enc.encodeInto(s, into), { read: s.length, written: bytes.length });
  }
  const noise = new Uint8Array(3 * 1024 * 1024);
  for (let i = 0; i < noise.length; i++) noise[i] = rand.int(256);
  assert.equal(new shim.TextDecoder().decode(noise), new NodeDecoder().decode(noise));
});
