'use strict';
// Tests of the mini-program simulator itself (tests/sim).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const http = require('node:http');
const { execFileSync } = require('node:child_process');

const { createSim, createFakeWechat, installPackage, FORBIDDEN_GLOBALS } = require('../sim');
const { startServer, waitFor } = require('../support');
const { ownerOf } = require('../sim/errors');

// ---------------------------------------------------------------------------
// helpers

// One directory per run under tests/.tmp (git-ignored), removed at the end.
const TMP = path.join(__dirname, '..', '.tmp', `sim-test-${process.pid}`);
fs.mkdirSync(TMP, { recursive: true });
const tempDir = (prefix) => fs.mkdtempSync(path.join(TMP, prefix));

// Writes { 'rel/path': content } under a fresh code package root.
function codePackage(files) {
  const root = tempDir('code-');
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return root;
}

// Calls a wx API from the host with success/fail turned into a promise.
const wxCall = (sim, name, opts = {}) => new Promise((resolve) => {
  sim.wx[name]({
    ...opts,
    success: (res) => resolve({ ok: true, res }),
    fail: (res) => resolve({ ok: false, res }),
  });
});

// Sim that is closed and checked clean after the test.
async function withSim(opts, fn) {
  const sim = createSim(opts);
  try {
    await fn(sim);
  } finally {
    await sim.close();
  }
}

// (i32, i32) -> i32 `add`, hand assembled.
const ADD_WASM = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32,i32)->i32
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, // export "add"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // local.get 0 + local.get 1
]);
// Same, but `add` also calls the imported env.cb(sum) first.
const ADD_CB_WASM = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x0b, 0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
  0x02, 0x0a, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x02, 0x63, 0x62, 0x00, 0x00, // import env.cb
  0x03, 0x02, 0x01, 0x01,
  0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x01,
  0x0a, 0x10, 0x01, 0x0e, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x10, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
]);

// ---------------------------------------------------------------------------

describe('sandbox', () => {
  test('every forbidden global is absent', async () => {
    await withSim({}, (sim) => {
      for (const name of FORBIDDEN_GLOBALS) {
        assert.equal(sim.evaluate(`typeof ${name}`), 'undefined', `${name} should not exist`);
        assert.equal(sim.evaluate(`${JSON.stringify(name)} in globalThis`), false, `${name} should not be on globalThis`);
      }
      // The list covers the brief's list exactly.
      assert.deepEqual([...FORBIDDEN_GLOBALS].sort(), [
        'Atomics', 'Buffer', 'FinalizationRegistry', 'SharedArrayBuffer', 'TextDecoder', 'TextEncoder',
        'URL', 'URLSearchParams', 'WeakRef', 'WebAssembly', 'atob', 'btoa', 'fetch', 'global', 'process',
        'queueMicrotask', 'setImmediate', 'structuredClone',
      ]);
    });
  });

  test('the mini-program globals and JS intrinsics are present', async () => {
    await withSim({}, (sim) => {
      for (const name of ['Object', 'Array', 'JSON', 'Promise', 'Math', 'Date', 'Uint8Array', 'ArrayBuffer', 'Error',
        'Map', 'Set', 'Symbol', 'Reflect', 'Proxy', 'globalThis', 'setTimeout', 'clearTimeout', 'setInterval',
        'clearInterval', 'console', 'wx', 'WXWebAssembly', 'App', 'Page', 'Component', 'Behavior', 'getApp', 'getCurrentPages']) {
        assert.notEqual(sim.evaluate(`typeof ${name}`), 'undefined', `${name} should exist`);
      }
      // require/module/exports are per module, not global.
      assert.equal(sim.evaluate('typeof require'), 'undefined');
      assert.equal(sim.evaluate('typeof module'), 'undefined');
    });
  });

  test('eval, new Function and Function("return this") throw', async () => {
    await withSim({}, (sim) => {
      const kind = (code) => sim.evaluate(`(function () { try { ${code}; return 'no throw'; } catch (e) { return e.name; } })()`);
      assert.equal(kind('eval("1 + 1")'), 'EvalError');
      assert.equal(kind('new Function("return 1")'), 'EvalError');
      assert.equal(kind('Function("return this")()'), 'EvalError');
      assert.equal(kind('setTimeout("1", 0)'), 'TypeError'); // string timers would need eval
    });
  });

  test('API functions and results belong to the sandbox realm', async () => {
    await withSim({}, (sim) => {
      assert.equal(sim.evaluate('wx.request instanceof Function && wx instanceof Object'), true);
      assert.equal(sim.evaluate('wx.getSystemInfoSync() instanceof Object'), true);
      // A bridged function does not leak the host Function constructor.
      assert.equal(sim.evaluate('(function () { try { wx.request.constructor("return 1"); return "leak"; } catch (e) { return e.name; } })()'), 'EvalError');
      assert.equal(sim.evaluate('(function () { try { wx.getStorageSync(1); } catch (e) { return e instanceof Error; } })()'), true);
    });
  });

  test('console calls are recorded', async () => {
    await withSim({}, (sim) => {
      sim.evaluate('console.log("hello", 1); console.error("bad")');
      assert.deepEqual(sim.logs.map((l) => [l.level, l.args]), [['log', ['hello', 1]], ['error', ['bad']]]);
    });
  });
});

describe('module loader', () => {
  const files = {
    'app.js': 'module.exports = { util: require("./utils/util"), data: require("./data.json"), lib: require("lib") };',
    'utils/util.js': 'exports.name = "util"; exports.dir = require("./dir").name;',
    'utils/dir/index.js': 'module.exports = { name: "dir-index" };',
    'data.json': '{ "n": 42 }',
    'miniprogram_npm/lib/index.js': 'module.exports = { lib: true, helper: require("./helper") };',
    'miniprogram_npm/lib/helper.js': 'module.exports = "helper";',
    'miniprogram_npm/single.js': 'module.exports = "single";',
    'pages/a/a.js': 'module.exports = { lib: require("lib").lib, single: require("single"), abs: require("/utils/util").name };',
    'pages/b/b.js': 'require("fs");',
    'pages/c/c.js': 'require("../../../outside");',
    'pages/d/d.js': 'exports.count = (exports.count || 0) + 1; exports.self = require("./d");',
  };

  test('resolves relative, absolute, index.js, .json and miniprogram_npm names', async () => {
    await withSim({ root: codePackage(files) }, (sim) => {
      const app = sim.require('app.js');
      assert.equal(app.util.name, 'util');
      assert.equal(app.util.dir, 'dir-index');
      assert.equal(app.data.n, 42);
      assert.deepEqual({ ...app.lib }, { lib: true, helper: 'helper' });
      const a = sim.require('/pages/a/a');
      assert.deepEqual({ ...a }, { lib: true, single: 'single', abs: 'util' });
      assert.equal(sim.require('lib'), app.lib, 'module cache is shared');
      // cycles see the partially built exports, like CommonJS
      const d = sim.require('pages/d/d.js');
      assert.equal(d.count, 1);
      assert.equal(d.self, d);
    });
  });

  test('Node built-ins and paths outside the package are not defined', async () => {
    await withSim({ root: codePackage(files) }, (sim) => {
      assert.throws(() => sim.require('pages/b/b.js'), { message: "module 'fs' is not defined" });
      assert.throws(() => sim.require('pages/c/c.js'), { message: "module '../../../outside' is not defined" });
      assert.throws(() => sim.require('missing-package'), { message: "module 'missing-package' is not defined" });
      assert.throws(() => sim.require('../x'), /is not defined/);
    });
  });

  test('every module gets the same `global` object, which is not globalThis', async () => {
    const root = codePackage({
      'app.js': 'global.fromApp = 1; module.exports = { g: global, other: require("./other") };',
      'other.js': 'module.exports = { g: global, seen: global.fromApp, isGlobalThis: global === globalThis };',
    });
    await withSim({ root }, (sim) => {
      const app = sim.require('app.js');
      assert.equal(app.g, app.other.g);
      assert.equal(app.other.seen, 1);
      assert.equal(app.other.isGlobalThis, false);
      assert.equal(sim.evaluate('typeof fromApp'), 'undefined');
      assert.equal(sim.evaluate('"global" in globalThis'), false);
    });
  });

  test('module code sees the sandbox globals and its own module object', async () => {
    const root = codePackage({
      'm.js': 'module.exports = [typeof require, typeof module, typeof exports, typeof wx, typeof process, this === exports];',
    });
    await withSim({ root }, (sim) => {
      assert.deepEqual([...sim.require('m.js')], ['function', 'object', 'object', 'object', 'undefined', true]);
    });
  });
});

describe('timers', () => {
  test('tracks created and active timers and clears them', async () => {
    await withSim({}, async (sim) => {
      sim.evaluate(`
        globalThis.fired = [];
        globalThis.t1 = setTimeout(function (a) { fired.push(a); }, 5, 'arg');
        globalThis.t2 = setTimeout(function () { fired.push('never'); }, 50);
        globalThis.i1 = setInterval(function () { fired.push('tick'); }, 2);
      `);
      assert.equal(typeof sim.evaluate('t1'), 'number');
      assert.equal(sim.timers.created, 3);
      assert.deepEqual(sim.timers.active().map((t) => t.type).sort(), ['interval', 'timeout', 'timeout']);
      sim.evaluate('clearTimeout(t2)');
      await waitFor(() => sim.evaluate('fired.indexOf("arg") >= 0 && fired.filter(function (x) { return x === "tick"; }).length >= 2'));
      assert.deepEqual(sim.timers.active().map((t) => t.type), ['interval'], 'fired timeout left the table');
      sim.evaluate('clearInterval(i1); clearTimeout(0); clearTimeout(undefined)');
      assert.equal(sim.timers.active().length, 0);
      assert.equal(sim.evaluate('fired.indexOf("never")'), -1);
    });
  });

  test('close() clears pending timers', async () => {
    const sim = createSim();
    sim.evaluate('setTimeout(function () {}, 100000); setInterval(function () {}, 100000)');
    assert.equal(sim.timers.active().length, 2);
    await sim.close();
    assert.equal(sim.timers.active().length, 0);
  });
});

describe('error capture', () => {
  test('throws in timer and wx callbacks are recorded, not raised', async () => {
    await withSim({}, async (sim) => {
      sim.evaluate(`
        setTimeout(function () { throw new Error('from timer'); }, 0);
        wx.getNetworkType({ success: function () { throw new Error('from callback'); } });
      `);
      await waitFor(() => sim.errors.length === 2);
      assert.deepEqual(sim.errors.map((e) => e.message).sort(), ['from callback', 'from timer']);
      assert.throws(() => sim.assertClean(), /2 problem/);
    });
  });

  test('App.onError receives script errors', async () => {
    const root = codePackage({ 'app.js': 'App({ errors: [], onError: function (msg) { this.errors.push(msg); } });' });
    await withSim({ root }, async (sim) => {
      sim.loadApp();
      sim.evaluate('setTimeout(function () { throw new Error("boom"); }, 0)');
      await waitFor(() => sim.app.errors.length === 1);
      assert.match(sim.app.errors[0], /boom/);
    });
  });

  test('unhandled rejections of sandbox promises are recorded; late handling removes them', async () => {
    await withSim({}, async (sim) => {
      sim.evaluate(`
        Promise.reject(new Error('lost'));
        (async function () { throw new Error('async lost'); })();
        globalThis.late = Promise.reject(new Error('late'));
        Promise.reject(new Error('handled')).catch(function () {});
      `);
      await sim.settle();
      assert.deepEqual(sim.unhandledRejections.map((e) => e.message).sort(), ['async lost', 'late', 'lost']);
      sim.evaluate('late.catch(function () {})');
      await sim.settle(10);
      assert.deepEqual(sim.unhandledRejections.map((e) => e.message).sort(), ['async lost', 'lost']);
    });
  });

  test('only promises of the sim realm are claimed (host rejections pass through)', async () => {
    await withSim({}, async (sim) => {
      assert.equal(ownerOf(Promise.resolve()), null);
      assert.equal(ownerOf(sim.evaluate('Promise.resolve()')), sim);
      assert.equal(ownerOf(sim.evaluate('(async function () {})()')), sim);
      const other = createSim();
      assert.equal(ownerOf(other.evaluate('Promise.resolve()')), other);
      await other.close();
    });
  });
});

describe('wx.request', () => {
  let server;
  before(async () => { server = await startServer({ dialect: 'wafer1' }); });
  after(() => server.stop());

  test('GET with object data becomes a query string; JSON body is parsed', async () => {
    await withSim({}, async (sim) => {
      const { ok, res } = await wxCall(sim, 'request', { url: `${server.url}/echo?x=1`, data: { a: 'b c', n: 2 }, header: { 'X-Custom': 'v' } });
      assert.equal(ok, true);
      assert.equal(res.statusCode, 200);
      assert.equal(res.errMsg, 'request:ok');
      assert.deepEqual({ ...res.data.query }, { x: '1', a: 'b c', n: '2' });
      assert.equal(res.data.headers['x-custom'], 'v');
      assert.equal(res.data.headers['content-type'], 'application/json');
      assert.ok(Array.isArray(res.cookies));
      assert.equal(sim.requestLog[0].method, 'GET');
      assert.equal(sim.requestLog[0].header['X-Custom'], 'v');
      assert.equal(sim.counters.requests, 1);
    });
  });

  test('POST object data is JSON, form-urlencoded when asked, strings as is', async () => {
    await withSim({}, async (sim) => {
      let r = await wxCall(sim, 'request', { url: `${server.url}/echo`, method: 'POST', data: { a: 1, f() {}, u: undefined } });
      assert.equal(r.res.data.body, '{"a":1}');
      r = await wxCall(sim, 'request', { url: `${server.url}/echo`, method: 'POST', data: { a: 1, b: 'x y' }, header: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      assert.equal(r.res.data.body, 'a=1&b=x%20y');
      r = await wxCall(sim, 'request', { url: `${server.url}/echo`, method: 'PUT', data: 'raw text' });
      assert.equal(r.res.data.body, 'raw text');
      assert.equal(r.res.data.method, 'PUT');
    });
  });

  test('a 500 with an HTML body is a success with the raw string', async () => {
    await withSim({}, async (sim) => {
      server.respondWith('/boom', { status: 500, raw: '<html>oops</html>' });
      const { ok, res } = await wxCall(sim, 'request', { url: `${server.url}/boom` });
      assert.equal(ok, true);
      assert.equal(res.statusCode, 500);
      assert.equal(res.data, '<html>oops</html>');
      assert.equal(res.header['Content-Type'], 'text/html; charset=utf-8', 'header names keep their case');
    });
  });

  test('dataType other than json and responseType arraybuffer are not parsed', async () => {
    await withSim({}, async (sim) => {
      let r = await wxCall(sim, 'request', { url: `${server.url}/echo`, dataType: 'text' });
      assert.equal(typeof r.res.data, 'string');
      const isAb = await new Promise((resolve) => {
        sim.global.__done = resolve;
        sim.evaluate(`wx.request({ url: ${JSON.stringify(`${server.url}/echo`)}, responseType: 'arraybuffer',
          success: function (res) { __done(res.data instanceof ArrayBuffer && res.data.byteLength > 10); } })`);
      });
      assert.equal(isAb, true);
      r = await wxCall(sim, 'request', { url: `${server.url}/empty` });
      assert.equal(r.res.statusCode, 404);
    });
  });

  test('timeout fails with request:fail timeout', async () => {
    await withSim({}, async (sim) => {
      server.respondWith('/slow', { delayMs: 300, body: { late: true } });
      const { ok, res } = await wxCall(sim, 'request', { url: `${server.url}/slow`, timeout: 50 });
      assert.equal(ok, false);
      assert.equal(res.errMsg, 'request:fail timeout');
    });
  });

  test('abort, connection refused, offline and foreign hosts fail', async () => {
    await withSim({}, async (sim) => {
      server.respondWith('/slow2', { delayMs: 200, body: {} });
      const p = wxCall(sim, 'request', { url: `${server.url}/slow2` });
      sim.wx.request({ url: `${server.url}/echo` }).abort(); // abort before it even started
      const task = sim.wx.request({ url: `${server.url}/slow2`, fail: () => {} });
      task.abort();
      const aborted = await new Promise((resolve) => {
        sim.wx.request({ url: `${server.url}/slow2`, fail: resolve }).abort();
      });
      assert.equal(aborted.errMsg, 'request:fail abort');
      assert.equal((await p).ok, true);

      const closedPort = await new Promise((resolve) => {
        const s = http.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
      });
      const refused = await wxCall(sim, 'request', { url: `http://127.0.0.1:${closedPort}/` });
      assert.equal(refused.ok, false);
      assert.match(refused.res.errMsg, /^request:fail .*ECONNREFUSED/);

      const foreign = await wxCall(sim, 'request', { url: 'http://example.com/' });
      assert.match(foreign.res.errMsg, /^request:fail url not in domain list/);

      sim.setNetwork(false);
      const offline = await wxCall(sim, 'request', { url: `${server.url}/echo` });
      assert.equal(offline.res.errMsg, 'request:fail network offline');
    });
  });

  test('callbacks are asynchronous and complete comes after success', async () => {
    await withSim({}, async (sim) => {
      const order = [];
      await new Promise((resolve) => {
        sim.wx.request({
          url: `${server.url}/echo`,
          success: () => order.push('success'),
          complete: (res) => { order.push(`complete:${res.errMsg}`); resolve(); },
        });
        order.push('returned');
      });
      assert.deepEqual(order, ['returned', 'success', 'complete:request:ok']);
      // even an immediate failure is delivered later
      const order2 = [];
      sim.setNetwork(false);
      await new Promise((resolve) => {
        sim.wx.request({ url: `${server.url}/echo`, fail: () => { order2.push('fail'); resolve(); } });
        order2.push('returned');
      });
      assert.deepEqual(order2, ['returned', 'fail']);
    });
  });

  test('at most 10 requests are in flight; the rest queue', async () => {
    await withSim({}, async (sim) => {
      server.respondWith('/queued', { delayMs: 60, body: { ok: 1 }, times: 15 });
      const all = [];
      for (let i = 0; i < 15; i += 1) all.push(wxCall(sim, 'request', { url: `${server.url}/queued` }));
      await waitFor(() => sim.netStats().requestsActive === 10);
      assert.equal(sim.netStats().requestsQueued, 5);
      const results = await Promise.all(all);
      assert.ok(results.every((r) => r.ok && r.res.data.ok === 1));
      assert.equal(sim.counters.maxConcurrentRequests, 10);
      assert.equal(sim.counters.requests, 15);
    });
  });
});

describe('wx.uploadFile', () => {
  let server;
  before(async () => { server = await startServer({ dialect: 'wafer2' }); });
  after(() => server.stop());

  test('multipart POST over HTTP; data is never parsed', async () => {
    await withSim({}, async (sim) => {
      const login = await wxCall(sim, 'request', { url: server.urls.login, header: { 'X-WX-Code': 'u-1', 'X-WX-Encrypted-Data': 'e', 'X-WX-IV': 'i' } });
      const skey = login.res.data.data.skey;
      const filePath = sim.writeUserFile('tmp_photo.png', Buffer.from([1, 2, 3, 4]));
      assert.equal(filePath, 'wxfile://tmp_photo.png');
      const { ok, res } = await wxCall(sim, 'uploadFile', {
        url: server.urls.upload, filePath, name: 'file', formData: { note: 'hi' }, header: { 'X-WX-Skey': skey },
      });
      assert.equal(ok, true);
      assert.equal(res.errMsg, 'uploadFile:ok');
      assert.equal(res.statusCode, 200);
      assert.equal(typeof res.data, 'string');
      assert.deepEqual(JSON.parse(res.data).data.files, [{ field: 'file', filename: 'tmp_photo.png', size: 4 }]);
      assert.deepEqual(server.uploads[0].fields, { note: 'hi' });
      assert.deepEqual([...server.uploads[0].files[0].content], [1, 2, 3, 4]);
      // http://tmp/ names map to the same directory
      const r2 = await wxCall(sim, 'uploadFile', { url: server.urls.upload, filePath: 'http://tmp/tmp_photo.png', name: 'f', header: { 'X-WX-Skey': skey } });
      assert.equal(r2.ok, true);
      assert.equal(sim.counters.uploads, 2);
      assert.equal(sim.uploadLog.length, 2);
    });
  });

  test('missing files and paths outside user data fail', async () => {
    await withSim({}, async (sim) => {
      let r = await wxCall(sim, 'uploadFile', { url: server.urls.upload, filePath: 'wxfile://nope.png', name: 'f' });
      assert.match(r.res.errMsg, /^uploadFile:fail file not found/);
      r = await wxCall(sim, 'uploadFile', { url: server.urls.upload, filePath: 'wxfile://../../etc/passwd', name: 'f' });
      assert.match(r.res.errMsg, /^uploadFile:fail file not found/);
    });
  });
});

describe('network tasks: wx.downloadFile, progress, abort, the shared queue', () => {
  let server;
  before(async () => { server = await startServer({ dialect: 'wafer2' }); });
  after(() => server.stop());

  const bytes = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) % 256));
  const octets = { 'Content-Type': 'application/octet-stream' };
  // Calls a wx task API from the host: { task, outcome (a promise of { ok, res }) }.
  const start = (sim, name, opts) => {
    let task;
    const outcome = new Promise((resolve) => {
      task = sim.wx[name]({ ...opts, success: (res) => resolve({ ok: true, res }), fail: (res) => resolve({ ok: false, res }) });
    });
    return { task, outcome };
  };

  test('wx.downloadFile saves the body of any status to a file; filePath is honoured', async () => {
    await withSim({}, async (sim) => {
      const body = bytes(3000);
      server.respondWith('/file', { raw: body, headers: octets });
      const { ok, res } = await wxCall(sim, 'downloadFile', { url: `${server.url}/file`, header: { 'X-Mine': '1' } });
      assert.equal(ok, true);
      assert.equal(res.errMsg, 'downloadFile:ok');
      assert.equal(res.statusCode, 200);
      assert.match(res.tempFilePath, /^http:\/\/tmp\/wx-sim-download-/);
      assert.equal(res.filePath, undefined);
      assert.deepEqual(fs.readFileSync(path.join(sim.userDataPath, res.tempFilePath.slice('http://tmp/'.length))), body);
      assert.equal(sim.downloadLog[0].header['X-Mine'], '1');
      // A 404 is a success too: its body is the file.
      server.respondWith('/file', { status: 404, raw: 'nope' });
      const missing = await wxCall(sim, 'downloadFile', { url: `${server.url}/file` });
      assert.equal(missing.ok, true);
      assert.equal(missing.res.statusCode, 404);
      // filePath: the file lands there and the result names it (no tempFilePath).
      server.respondWith('/file', { raw: body, headers: octets });
      const saved = await wxCall(sim, 'downloadFile', { url: `${server.url}/file`, filePath: 'wxfile://usr/a.bin' });
      assert.equal(saved.res.filePath, 'wxfile://usr/a.bin');
      assert.equal(saved.res.tempFilePath, undefined);
      assert.deepEqual(fs.readFileSync(path.join(sim.userDataPath, 'usr', 'a.bin')), body);
      const outside = await wxCall(sim, 'downloadFile', { url: `${server.url}/file`, filePath: 'wxfile://../../x' });
      assert.match(outside.res.errMsg, /^downloadFile:fail invalid filePath/);
      assert.equal(sim.counters.downloads, 4);
    });
  });

  test('uploads and downloads report progress up to 100% to the task listeners', async () => {
    await withSim({}, async (sim) => {
      const size = 200 * 1024;
      server.respondWith('/file', { raw: bytes(size), headers: octets });
      const down = start(sim, 'downloadFile', { url: `${server.url}/file` });
      const got = [];
      const early = [];
      const stopped = (e) => early.push(e);
      down.task.onProgressUpdate((e) => got.push(e));
      down.task.onProgressUpdate(stopped);
      down.task.offProgressUpdate(stopped);
      assert.equal((await down.outcome).ok, true);
      assert.ok(got.length >= 1);
      assert.deepEqual(early, []);
      const last = got[got.length - 1];
      assert.deepEqual({ ...last }, { progress: 100, totalBytesWritten: size, totalBytesExpectedToWrite: size });
      for (let i = 1; i < got.length; i += 1) assert.ok(got[i].totalBytesWritten >= got[i - 1].totalBytesWritten);

      const filePath = sim.writeUserFile('big.bin', bytes(100 * 1024));
      const up = start(sim, 'uploadFile', { url: server.urls.echo, filePath, name: 'file' });
      const sent = [];
      up.task.onProgressUpdate((e) => sent.push(e));
      assert.equal((await up.outcome).ok, true);
      assert.ok(sent.length >= 2, `${sent.length} upload progress events`);
      const end = sent[sent.length - 1];
      assert.equal(end.progress, 100);
      assert.ok(end.totalBytesSent > 100 * 1024 && end.totalBytesSent === end.totalBytesExpectedToSend);
      // A request task has no progress methods (as wx.request's RequestTask).
      server.respondWith('/x', { body: {} });
      const req = start(sim, 'request', { url: `${server.url}/x` });
      assert.equal(req.task.onProgressUpdate, undefined);
      await req.outcome;
    });
  });

  test('task.abort() fails a task in flight or in the queue with <api>:fail abort', async () => {
    await withSim({}, async (sim) => {
      server.respondWith('/slow', { delayMs: 300, body: {}, times: 11 });
      for (const api of ['request', 'downloadFile']) {
        const t = start(sim, api, { url: `${server.url}/slow` });
        await waitFor(() => sim.netStats().active === 1);
        t.task.abort();
        const { ok, res } = await t.outcome;
        assert.equal(ok, false);
        assert.equal(res.errMsg, `${api}:fail abort`);
        assert.equal(sim.netStats().active, 0);
      }
      // Ten in flight, one waiting: aborting it removes it before it ever starts.
      const busy = Array.from({ length: 10 }, () => start(sim, 'request', { url: `${server.url}/slow` }));
      const waiting = start(sim, 'downloadFile', { url: `${server.url}/slow` });
      assert.equal(sim.netStats().queued, 1);
      waiting.task.abort();
      assert.equal((await waiting.outcome).res.errMsg, 'downloadFile:fail abort');
      assert.equal(sim.netStats().queued, 0);
      await Promise.all(busy.map((b) => b.outcome));
      assert.equal(sim.downloadLog.length, 1, 'the queued download was never sent');
      assert.equal(sim.networkLog.filter((e) => e.api === 'downloadFile').length, 1);
    });
  });

  test('requests, uploads and downloads share 10 slots; the rest start first in first out', async () => {
    await withSim({}, async (sim) => {
      server.respondWith('/slow', { delayMs: 80, body: { ok: 1 }, times: 15 });
      const filePath = sim.writeUserFile('f.bin', 'x');
      const apis = ['request', 'uploadFile', 'downloadFile'];
      const all = [];
      for (let i = 0; i < 15; i += 1) {
        const api = apis[i % 3];
        all.push(start(sim, api, { url: `${server.url}/slow`, filePath: api === 'uploadFile' ? filePath : undefined, name: 'f' }).outcome);
      }
      const stats = sim.netStats();
      assert.equal(stats.active, 10);
      assert.equal(stats.queued, 5);
      assert.equal(stats.requestsActive + stats.uploadsActive + stats.downloadsActive, 10);
      assert.deepEqual([stats.requestsQueued, stats.uploadsQueued, stats.downloadsQueued], [1, 2, 2]);
      const results = await Promise.all(all);
      assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
      const order = sim.networkLog.map((e) => e.started);
      assert.deepEqual(order, [...order].sort((a, b) => a - b), 'started in the order they were called');
      assert.equal(order.length, 15);
      assert.equal(sim.counters.maxConcurrentTasks, 10);
    });
  });
});

describe('SocketTask', () => {
  let server;
  before(async () => { server = await startServer({ dialect: 'wafer1' }); });
  after(() => server.stop());

  // Opens a SocketTask from sandbox code and collects its events in globalThis.ev.
  function openSocket(sim, url) {
    sim.evaluate(`
      globalThis.ev = globalThis.ev || [];
      globalThis.sockets = globalThis.sockets || [];
      (function () {
        var t = wx.connectSocket({ url: ${JSON.stringify(url)} });
        var n = sockets.push(t) - 1;
        t.onOpen(function () { ev.push([n, 'open']); });
        t.onMessage(function (m) { ev.push([n, 'message', typeof m.data === 'string' ? m.data : (m.data instanceof ArrayBuffer ? 'ab:' + new Uint8Array(m.data).join(',') : 'other')]); });
        t.onClose(function (c) { ev.push([n, 'close', c.code, c.reason]); });
        t.onError(function (e) { ev.push([n, 'error', e.errMsg]); });
      })();
    `);
    return sim.evaluate('sockets.length - 1');
  }
  const events = (sim) => JSON.parse(sim.evaluate('JSON.stringify(ev)'));
  const has = (sim, pred) => events(sim).some(pred);

  test('open, send, echo, binary, close', async () => {
    await withSim({}, async (sim) => {
      const { tunnelId, connectUrl } = server.createTunnel();
      const n = openSocket(sim, connectUrl);
      assert.equal(sim.sockets.open().length, 1);
      await waitFor(() => has(sim, (e) => e[1] === 'open'));
      sim.evaluate(`sockets[${n}].send({ data: 'message:{"type":"t","content":1}' })`);
      await waitFor(() => has(sim, (e) => e[1] === 'message'));
      assert.deepEqual(server.tunnels.get(tunnelId).frames, ['message:{"type":"t","content":1}']);
      server.sendBinary(tunnelId, [7, 8, 9]);
      await waitFor(() => has(sim, (e) => e[2] === 'ab:7,8,9'));
      sim.evaluate(`sockets[${n}].close({ code: 1000, reason: 'bye' })`);
      await waitFor(() => has(sim, (e) => e[1] === 'close'));
      assert.deepEqual(events(sim).find((e) => e[1] === 'close'), [0, 'close', 1000, 'bye']);
      assert.equal(sim.sockets.open().length, 0);
      await waitFor(() => server.tunnels.get(tunnelId).closed);
      assert.equal(server.tunnels.get(tunnelId).closedByClient, true);
      assert.equal(sim.counters.sockets, 1);
    });
  });

  test('send on a socket that is not open calls fail', async () => {
    await withSim({}, async (sim) => {
      const n = openSocket(sim, server.createTunnel().connectUrl);
      const res = await new Promise((resolve) => {
        sim.global.__done = resolve;
        sim.evaluate(`sockets[${n}].send({ data: 'ping', fail: function (r) { __done(r.errMsg); } })`);
      });
      assert.equal(res, 'sendSocketMessage:fail WebSocket is not connected');
    });
  });

  test('at most 5 sockets: the 6th fails and reports onError', async () => {
    await withSim({}, async (sim) => {
      for (let i = 0; i < 5; i += 1) openSocket(sim, server.createTunnel().connectUrl);
      assert.equal(sim.sockets.open().length, 5);
      const failMsg = await new Promise((resolve) => {
        sim.global.__done = resolve;
        sim.evaluate(`globalThis.sixth = wx.connectSocket({ url: ${JSON.stringify(server.createTunnel().connectUrl)}, fail: function (r) { __done(r.errMsg); } });
          sixth.onError(function (e) { ev.push([5, 'error', e.errMsg]); });`);
      });
      assert.equal(failMsg, 'connectSocket:fail exceed max task count');
      await waitFor(() => has(sim, (e) => e[0] === 5 && e[1] === 'error'));
      assert.equal(sim.sockets.open().length, 5);
      // closing one frees a slot
      await waitFor(() => events(sim).filter((e) => e[1] === 'open').length === 5);
      sim.evaluate('sockets[0].close({})');
      await waitFor(() => sim.sockets.open().length === 4);
      openSocket(sim, server.createTunnel().connectUrl);
      await waitFor(() => events(sim).filter((e) => e[1] === 'open').length === 6);
      assert.equal(sim.counters.sockets, 7);
    });
  });

  test('server drop, offline and refused connections close with 1006', async () => {
    await withSim({}, async (sim) => {
      openSocket(sim, server.createTunnel().connectUrl);
      await waitFor(() => has(sim, (e) => e[0] === 0 && e[1] === 'open'));
      server.dropAll();
      await waitFor(() => has(sim, (e) => e[0] === 0 && e[1] === 'close'));
      assert.deepEqual(events(sim).find((e) => e[0] === 0 && e[1] === 'close'), [0, 'close', 1006, 'abnormal closure']);

      openSocket(sim, server.createTunnel().connectUrl);
      await waitFor(() => has(sim, (e) => e[0] === 1 && e[1] === 'open'));
      const changes = [];
      sim.wx.onNetworkStatusChange((r) => changes.push(r.isConnected));
      sim.setNetwork(false);
      await waitFor(() => has(sim, (e) => e[0] === 1 && e[1] === 'close'));
      assert.deepEqual(events(sim).find((e) => e[0] === 1 && e[1] === 'close'), [1, 'close', 1006, 'abnormal closure']);
      openSocket(sim, server.createTunnel().connectUrl);
      await waitFor(() => has(sim, (e) => e[0] === 2 && e[1] === 'error'));
      assert.match(events(sim).find((e) => e[0] === 2)[2], /network offline/);
      sim.setNetwork(true);
      assert.deepEqual(changes, [false, true]);

      server.refuseConnections = true;
      openSocket(sim, server.createTunnel().connectUrl);
      await waitFor(() => has(sim, (e) => e[0] === 3 && e[1] === 'close'));
      const ev3 = events(sim).filter((e) => e[0] === 3);
      assert.equal(ev3[0][1], 'error');
      assert.match(ev3[0][2], /^connectSocket:fail .*503/);
      assert.deepEqual(ev3[1], [3, 'close', 1006, 'abnormal closure']);
      server.refuseConnections = false;
      assert.equal(sim.sockets.open().length, 0);
    });
  });

  test('hideApp({ interruptSockets }) closes sockets with 1000 interrupted', async () => {
    await withSim({}, async (sim) => {
      const seen = [];
      sim.wx.onAppHide(() => seen.push('hide'));
      sim.wx.onAppShow((r) => seen.push(`show:${r.scene}`));
      openSocket(sim, server.createTunnel().connectUrl);
      await waitFor(() => has(sim, (e) => e[1] === 'open'));
      sim.hideApp({ interruptSockets: true });
      await waitFor(() => has(sim, (e) => e[1] === 'close'));
      assert.deepEqual(events(sim).find((e) => e[1] === 'close'), [0, 'close', 1000, 'interrupted']);
      sim.showApp();
      assert.deepEqual(seen, ['hide', 'show:1001']);
    });
  });

  test('legacy global API drives the most recent socket', async () => {
    await withSim({}, async (sim) => {
      const { tunnelId, connectUrl } = server.createTunnel();
      sim.evaluate(`
        globalThis.lev = [];
        wx.onSocketOpen(function () { lev.push('open'); wx.sendSocketMessage({ data: 'ping' }); });
        wx.onSocketMessage(function (m) { lev.push('msg:' + m.data); wx.closeSocket(); });
        wx.onSocketClose(function (c) { lev.push('close:' + c.code); });
        wx.onSocketError(function () { lev.push('error'); });
        wx.connectSocket({ url: ${JSON.stringify(connectUrl)} });
      `);
      await waitFor(() => sim.evaluate('lev.length') === 3);
      assert.deepEqual(JSON.parse(sim.evaluate('JSON.stringify(lev)')), ['open', 'msg:pong', 'close:1000']);
      assert.deepEqual(server.tunnels.get(tunnelId).frames, ['ping']);
      const r = await new Promise((resolve) => {
        sim.wx.sendSocketMessage({ data: 'x', fail: resolve });
      });
      assert.equal(r.errMsg, 'sendSocketMessage:fail WebSocket is not connected');
    });
  });
});

describe('storage', () => {
  test('values are JSON deep copies; missing keys read as an empty string', async () => {
    await withSim({}, (sim) => {
      sim.evaluate(`
        globalThis.orig = { a: 1, nested: { b: [1, 2] }, fn: function () {}, u: undefined };
        wx.setStorageSync('k', orig);
        orig.nested.b.push(3);
        globalThis.copy1 = wx.getStorageSync('k');
        copy1.a = 99;
      `);
      assert.equal(sim.evaluate('JSON.stringify(wx.getStorageSync("k"))'), '{"a":1,"nested":{"b":[1,2]}}');
      assert.equal(sim.evaluate('wx.getStorageSync("k") !== wx.getStorageSync("k")'), true);
      assert.equal(sim.evaluate('wx.getStorageSync("k") instanceof Object'), true);
      assert.equal(sim.evaluate('wx.getStorageSync("missing")'), '');
      assert.deepEqual(sim.storage.get('k'), { a: 1, nested: { b: [1, 2] } });
      sim.evaluate('wx.removeStorageSync("k")');
      assert.equal(sim.storage.get('k'), undefined);
      assert.ok(sim.counters.storageWrites >= 2);
    });
  });

  test('failWrites makes writes throw like a full quota', async () => {
    await withSim({}, (sim) => {
      sim.storage.failWrites = true;
      const r = sim.evaluate(`(function () {
        try { wx.setStorageSync('k', 1); return 'no throw'; } catch (e) { return [e instanceof Error, e.message]; }
      })()`);
      assert.deepEqual([...r], [true, 'setStorageSync:fail exceed storage max size 10Mb']);
      assert.throws(() => sim.wx.removeStorageSync('k'), /removeStorageSync:fail/);
      sim.storage.failWrites = false;
      sim.wx.setStorageSync('k', 1);
      assert.equal(sim.storage.get('k'), 1);
    });
  });

  test('raw gives direct access to plant corrupted values', async () => {
    await withSim({}, (sim) => {
      sim.storage.raw.set('session', '{not json');
      assert.equal(sim.wx.getStorageSync('session'), '{not json');
      sim.storage.set('session', { skey: 5 });
      assert.equal(sim.evaluate('wx.getStorageSync("session").skey'), 5);
      const info = sim.wx.getStorageInfoSync();
      assert.deepEqual([...info.keys], ['session']);
      assert.equal(info.limitSize, 10240);
    });
  });

  test('async storage: callbacks and promise style', async () => {
    await withSim({}, async (sim) => {
      let r = await wxCall(sim, 'setStorage', { key: 'a', data: { x: 1 } });
      assert.equal(r.res.errMsg, 'setStorage:ok');
      r = await wxCall(sim, 'getStorage', { key: 'a' });
      assert.deepEqual({ ...r.res.data }, { x: 1 });
      r = await wxCall(sim, 'getStorage', { key: 'nope' });
      assert.equal(r.ok, false);
      assert.equal(r.res.errMsg, 'getStorage:fail data not found');
      const v = await sim.evaluate('wx.getStorage({ key: "a" })');
      assert.equal(v.data.x, 1);
      await assert.rejects(sim.evaluate('wx.getStorage({ key: "nope" })'), (e) => e.errMsg === 'getStorage:fail data not found');
    });
  });
});

describe('login APIs', () => {
  test('default fake backend: codes, user info, checkSession, failure knobs, counters', async () => {
    await withSim({}, async (sim) => {
      assert.equal((await wxCall(sim, 'login')).res.code, 'code-1');
      const l2 = await wxCall(sim, 'login');
      assert.deepEqual({ ...l2.res }, { code: 'code-2', errMsg: 'login:ok' });
      const u = await wxCall(sim, 'getUserInfo', {});
      assert.equal(u.res.errMsg, 'getUserInfo:ok');
      for (const k of ['userInfo', 'rawData', 'signature', 'encryptedData', 'iv']) assert.ok(u.res[k], k);
      const noCred = await wxCall(sim, 'getUserInfo', { withCredentials: false });
      assert.equal(noCred.res.encryptedData, undefined);
      assert.equal((await wxCall(sim, 'checkSession')).ok, true);
      sim.wechat.sessionValid = false;
      const cs = await wxCall(sim, 'checkSession');
      assert.equal(cs.ok, false);
      assert.match(cs.res.errMsg, /^checkSession:fail/);
      sim.wechat.failLogin = 1;
      assert.equal((await wxCall(sim, 'login')).ok, false);
      assert.equal((await wxCall(sim, 'login')).res.code, 'code-3');
      assert.equal(sim.wechat.sessionValid, true, 'a login renews the WeChat session');
      sim.wechat.failUserInfo = true;
      assert.match((await wxCall(sim, 'getUserInfo')).res.errMsg, /^getUserInfo:fail/);
      assert.deepEqual(
        [sim.counters.login, sim.counters.getUserInfo, sim.counters.checkSession],
        [4, 3, 2],
      );
      // promise style from sandbox code
      const code = await sim.evaluate('wx.login().then(function (r) { return r.code; })');
      assert.equal(code, 'code-4');
    });
  });

  test('counters move when the API is called, before any callback', async () => {
    await withSim({}, async (sim) => {
      const done = new Promise((resolve) => sim.wx.checkSession({ complete: resolve }));
      sim.wx.login({ success() {} });
      sim.wx.request({ url: 'http://127.0.0.1:1/', fail() {} });
      assert.deepEqual([sim.counters.checkSession, sim.counters.login, sim.counters.requests], [1, 1, 1]);
      await done;
    });
  });

  test('a pluggable backend is used, and its rejection fails the call', async () => {
    const backend = {
      login: async () => ({ code: 'mock-code' }),
      getUserInfo: async () => { throw new Error('denied'); },
      checkSession: async () => true,
    };
    await withSim({ wechat: backend }, async (sim) => {
      assert.equal((await wxCall(sim, 'login')).res.code, 'mock-code');
      assert.equal((await wxCall(sim, 'getUserInfo')).res.errMsg, 'getUserInfo:fail denied');
    });
    const alice = createFakeWechat({ codePrefix: 'alice' });
    await withSim({ wechat: alice }, async (sim) => {
      assert.equal((await wxCall(sim, 'login')).res.code, 'alice-1');
    });
  });
});

describe('WXWebAssembly', () => {
  function wasmPackage() {
    const root = codePackage({});
    fs.mkdirSync(path.join(root, 'lib'));
    fs.writeFileSync(path.join(root, 'lib', 'add.wasm'), ADD_WASM);
    fs.writeFileSync(path.join(root, 'lib', 'add.wasm.br'), zlib.brotliCompressSync(ADD_WASM));
    fs.writeFileSync(path.join(root, 'lib', 'cb.wasm'), ADD_CB_WASM);
    fs.writeFileSync(path.join(root, 'lib', 'add.txt'), ADD_WASM);
    return root;
  }

  test('instantiates .wasm and .wasm.br to a bare Instance', async () => {
    await withSim({ root: wasmPackage() }, async (sim) => {
      const r = await sim.evaluate(`WXWebAssembly.instantiate('/lib/add.wasm', {}).then(function (inst) {
        return [inst.exports.add(2, 3), 'instance' in inst];
      })`);
      assert.deepEqual([...r], [5, false]);
      const br = await sim.evaluate("WXWebAssembly.instantiate('lib/add.wasm.br').then(function (i) { return i.exports.add(40, 2); })");
      assert.equal(br, 42);
      const calls = await sim.evaluate(`(function () {
        var seen = [];
        return WXWebAssembly.instantiate('/lib/cb.wasm', { env: { cb: function (x) { seen.push(x); } } })
          .then(function (i) { i.exports.add(1, 2); return seen; });
      })()`);
      assert.deepEqual([...calls], [3]);
      assert.equal(sim.counters.wasmInstantiate, 3);
    });
  });

  test("wasmResult: 'pair' resolves { instance, module }", async () => {
    await withSim({ root: wasmPackage(), wasmResult: 'pair' }, async (sim) => {
      const r = await sim.evaluate("WXWebAssembly.instantiate('/lib/add.wasm', {}).then(function (p) { return [typeof p.module, p.instance.exports.add(1, 1)]; })");
      assert.deepEqual([...r], ['object', 2]);
    });
  });

  test('rejects bytes, escaping paths, wrong extensions and missing files', async () => {
    await withSim({ root: wasmPackage() }, async (sim) => {
      sim.global.__bytes = sim.realm.arrayBuffer(ADD_WASM);
      const reason = (expr) => sim.evaluate(`WXWebAssembly.instantiate(${expr}, {}).then(function () { return 'resolved'; }, function (e) { return (e instanceof Error) + ':' + e.message; })`);
      assert.match(await reason('__bytes'), /^true:.*must be a string/);
      assert.match(await reason('new Uint8Array(__bytes)'), /must be a string/);
      assert.match(await reason("'/../outside.wasm'"), /outside the code package/);
      assert.match(await reason("'/lib/add.txt'"), /must end in \.wasm or \.wasm\.br/);
      assert.match(await reason("'https://example.com/a.wasm'"), /./);
      assert.match(await reason("'/lib/none.wasm'"), /file not found/);
      assert.equal(sim.unhandledRejections.length, 0);
    });
  });

  test('wxWebAssembly: false removes the global; old base libraries lack .br', async () => {
    await withSim({ wxWebAssembly: false }, (sim) => {
      assert.equal(sim.evaluate('typeof WXWebAssembly'), 'undefined');
    });
    await withSim({ root: wasmPackage(), sdkVersion: '2.13.0' }, async (sim) => {
      const r = await sim.evaluate("WXWebAssembly.instantiate('/lib/add.wasm.br').then(function () { return 'ok'; }, function (e) { return e.message; })");
      assert.match(r, /2\.14\.0/);
    });
  });
});

describe('pages', () => {
  const files = {
    'app.js': 'App({ globalData: { n: 1 }, launched: 0, onLaunch: function () { this.launched += 1; } });',
    'pages/index/index.js': `
      var app = getApp();
      Page({
        data: { a: { b: 1 }, list: [{ x: 1 }], text: '' },
        log: [],
        onLoad: function (q) { this.log.push('load:' + q.room); },
        onShow: function () { this.log.push('show'); },
        onHide: function () { this.log.push('hide'); },
        onUnload: function () { this.log.push('unload'); },
        sendMessage: function (t) { this.setData({ text: t, 'a.b': 2, 'list[0].x': 5, 'list[2]': 'z', 'c.d[1]': true }); return app.globalData.n; },
      });`,
  };

  test('App, Page, setData paths, lifecycle and getCurrentPages', async () => {
    await withSim({ root: codePackage(files) }, async (sim) => {
      const app = sim.loadApp();
      assert.equal(app.launched, 1);
      assert.equal(sim.evaluate('getApp().globalData.n'), 1);
      const page = sim.openPage('pages/index/index', { room: 'r1' });
      assert.equal(page.instance.route, 'pages/index/index');
      assert.equal(page.instance.sendMessage('hi'), 1);
      const data = JSON.parse(JSON.stringify(page.instance.data));
      assert.deepEqual(data, { a: { b: 2 }, list: [{ x: 5 }, null, 'z'], text: 'hi', c: { d: [null, true] } });
      assert.equal(page.setDataCalls, 1);
      // setData callback is asynchronous
      const order = [];
      await new Promise((resolve) => {
        page.instance.setData({ text: 'x' }, () => { order.push('cb'); resolve(); });
        order.push('returned');
      });
      assert.deepEqual(order, ['returned', 'cb']);
      // a second instance of the same page gets fresh data
      const page2 = sim.openPage('/pages/index/index.js', { room: 'r2' });
      assert.equal(page2.instance.data.text, '');
      assert.equal(sim.evaluate('getCurrentPages().length'), 2);
      sim.hideApp();
      page.unload();
      assert.equal(sim.evaluate('getCurrentPages().length'), 1);
      assert.deepEqual([...page.instance.log], ['load:r1', 'show', 'unload']);
      assert.ok([...page2.instance.log].includes('hide'));
    });
  });
});

describe('pages built with Component()', () => {
  const files = {
    'app.js': 'App({});',
    'behaviors/log.js': `
      module.exports = Behavior({
        properties: { fromBehavior: { type: String, value: 'b' } },
        data: { shared: 'behavior', log: [] },
        methods: { note: function (x) { this.data.log.push(x); }, who: function () { return 'behavior'; } },
        lifetimes: { created: function () { this.note('behavior.created'); } },
      });`,
    'pages/comp/comp.js': `
      Component({
        behaviors: [require('../../behaviors/log'), 'wx://form-field'],
        properties: { room: String, count: Number, flag: { type: Boolean, value: true }, list: Array, any: null },
        data: { shared: 'page', text: '' },
        lifetimes: {
          created: function () { this.note('created:' + (typeof this.setData)); },
          attached: function () { this.note('attached:' + this.route); },
          ready: function () { this.note('ready'); },
          detached: function () { this.note('detached'); },
        },
        created: function () { this.note('ignored: lifetimes wins'); },
        pageLifetimes: { show: function () { this.note('pageLifetimes.show'); }, hide: function () { this.note('pageLifetimes.hide'); } },
        methods: {
          onLoad: function (q) { this.note('onLoad:' + q.room + ':' + this.data.room + ':' + this.properties.count); },
          onShow: function () { this.note('onShow'); },
          onReady: function () { this.note('onReady'); },
          onHide: function () { this.note('onHide'); },
          onUnload: function () { this.note('onUnload'); },
          who: function () { return 'page'; },
          same: function () { return this.data === this.properties; },
          set: function (t) { this.setData({ text: t }); },
        },
      });`,
    'pages/plain/plain.js': `
      Page({ log: [], onLoad: function () { this.log.push('onLoad'); }, onShow: function () { this.log.push('onShow'); }, onReady: function () { this.log.push('onReady'); } });`,
    'components/widget/widget.js': 'Component({ lifetimes: { created: function () { throw new Error("never instantiated"); } } });',
  };

  test('properties (from the query), behaviors, lifetimes, page life cycle in methods, setData', async () => {
    await withSim({ root: codePackage(files) }, async (sim) => {
      sim.loadApp();
      const page = sim.openPage('pages/comp/comp', { room: 'r1', count: '3', flag: 'false' });
      const log = () => [...page.instance.data.log];
      assert.deepEqual(log(), ['behavior.created', 'created:function', 'attached:pages/comp/comp', 'onLoad:r1:r1:3', 'onShow', 'pageLifetimes.show']);
      await sim.settle();
      assert.deepEqual(log().slice(6), ['ready', 'onReady'], 'ready and onReady after the first render');
      const data = JSON.parse(JSON.stringify(page.instance.data));
      assert.deepEqual(
        [data.room, data.count, data.flag, data.list, data.any, data.fromBehavior, data.shared, data.text],
        ['r1', 3, false, [], null, 'b', 'page', ''],
      );
      assert.equal(page.instance.who(), 'page', 'the component\'s own method wins over the behavior\'s');
      assert.equal(page.instance.same(), true, 'this.data is this.properties');
      page.instance.set('hi');
      assert.equal(page.instance.data.text, 'hi');
      assert.equal(page.setDataCalls, 1);
      assert.equal(page.instance.selectComponent('.x'), null);
      assert.equal(sim.evaluate('getCurrentPages()[0].is'), 'pages/comp/comp');
      sim.hideApp();
      page.unload();
      assert.deepEqual(log().slice(8), ['onHide', 'pageLifetimes.hide', 'onUnload', 'detached']);

      // A plain Page() gets onReady after the first render too.
      const plain = sim.openPage('pages/plain/plain');
      assert.deepEqual([...plain.instance.log], ['onLoad', 'onShow']);
      await sim.settle();
      assert.deepEqual([...plain.instance.log], ['onLoad', 'onShow', 'onReady']);

      // Component() outside a page load registers a custom component; nothing instantiates it.
      sim.require('/components/widget/widget.js');
    });
  });

  test('a behaviors entry that is not a Behavior() fails the page load', async () => {
    await withSim({ root: codePackage({ 'app.js': 'App({});', 'pages/bad/bad.js': 'Component({ behaviors: [{}] });' }) }, async (sim) => {
      sim.loadApp();
      assert.throws(() => sim.openPage('pages/bad/bad'), /is not a Behavior\(\)/);
    });
  });
});

describe('installPackage', () => {
  function makePackage(extra = {}) {
    const dir = tempDir('pkg-');
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'tiny', main: 'node/index.js', miniprogram: 'miniprogram_dist', ...extra }));
    fs.mkdirSync(path.join(dir, 'miniprogram_dist'));
    fs.mkdirSync(path.join(dir, 'node'));
    fs.writeFileSync(path.join(dir, 'node', 'index.js'), 'module.exports = "node entry";');
    fs.writeFileSync(path.join(dir, 'miniprogram_dist', 'index.js'), `
      module.exports = function () {
        return WXWebAssembly.instantiate('/miniprogram_npm/tiny/add.wasm', {}).then(function (i) { return i.exports.add(20, 22); });
      };`);
    fs.writeFileSync(path.join(dir, 'miniprogram_dist', 'add.wasm'), ADD_WASM);
    return dir;
  }

  test('a "miniprogram" directory is copied whole (wasm included)', async () => {
    const root = codePackage({});
    const pkg = makePackage();
    const r = installPackage(root, pkg, 'tiny');
    assert.equal(r.mode, 'miniprogram');
    assert.ok(fs.existsSync(path.join(root, 'miniprogram_npm', 'tiny', 'add.wasm')));
    await withSim({ root }, async (sim) => {
      assert.equal(await sim.require('tiny')(), 42);
    });
  });

  test('npm pack tarballs are extracted', async () => {
    const pkg = makePackage();
    const tarball = path.join(tempDir('tgz-'), 'tiny.tgz');
    const staging = tempDir('stage-');
    fs.cpSync(pkg, path.join(staging, 'package'), { recursive: true });
    execFileSync('tar', ['-czf', tarball, '-C', staging, 'package']);
    const root = codePackage({});
    installPackage(root, tarball);
    await withSim({ root }, async (sim) => {
      assert.equal(await sim.require('tiny')(), 42);
    });
  });

  test('without "miniprogram" only JS reachable from main is copied', async () => {
    const pkg = makePackage({ miniprogram: undefined });
    fs.writeFileSync(path.join(pkg, 'node', 'index.js'), 'module.exports = require("./dep") + "!";');
    fs.writeFileSync(path.join(pkg, 'node', 'dep.js'), 'module.exports = "dep";');
    fs.writeFileSync(path.join(pkg, 'node', 'unused.js'), '');
    const root = codePackage({});
    const r = installPackage(root, pkg);
    assert.equal(r.mode, 'main');
    assert.deepEqual(r.files.sort(), ['node/dep.js', 'node/index.js']);
    assert.ok(!fs.existsSync(path.join(root, 'miniprogram_npm', 'tiny', 'miniprogram_dist')));
    await withSim({ root }, (sim) => assert.equal(sim.require('tiny'), 'dep!'));
    assert.throws(() => installPackage(root, tempDir('empty-')), /no package\.json/);
  });
});

describe('the official clients run in the simulator', () => {
  for (const [dialect, pkgName] of [['wafer1', 'wafer-client-sdk'], ['wafer2', 'wafer2-client-sdk']]) {
    test(`${pkgName}: login, request, tunnel over the legacy socket API`, async () => {
      const server = await startServer({ dialect });
      const root = codePackage({});
      installPackage(root, path.dirname(require.resolve(`${pkgName}/package.json`)));
      try {
        await withSim({ root }, async (sim) => {
          const sdk = sim.require(pkgName);
          sdk.setLoginUrl(server.urls.login);
          if (dialect === 'wafer2') {
            // Wafer 2's request({ login: true }) logs in with the code only, which the
            // server refuses for a user who never did a full login.
            await new Promise((resolve, reject) => sdk.login({ success: resolve, fail: reject }));
          }
          const res = await new Promise((resolve, reject) => sdk.request({ url: server.urls.user, login: true, success: resolve, fail: reject }));
          assert.equal(res.data.code, 0);
          const seen = [];
          const tunnel = new sdk.Tunnel(server.urls.tunnel);
          tunnel.on('connect', () => seen.push('connect'));
          tunnel.on('chat', (p) => seen.push(`chat:${p.text}`));
          tunnel.on('close', () => seen.push('close'));
          tunnel.open();
          await waitFor(() => seen.includes('connect'));
          tunnel.emit('chat', { text: 'hi' });
          await waitFor(() => seen.includes('chat:hi'));
          tunnel.close();
          await waitFor(() => sim.sockets.open().length === 0);
          assert.deepEqual(seen, ['connect', 'chat:hi', 'close']);
          assert.equal(sim.timers.active().length, 0, 'the client left no timer running');
          assert.equal(sim.counters.login, dialect === 'wafer2' ? 2 : 1);
          await sim.settle();
          sim.assertClean();
        });
      } finally {
        await server.stop();
      }
    });
  }
});

describe('close()', () => {
  test('tears down sockets, requests and timers', async () => {
    const server = await startServer({ dialect: 'wafer1' });
    const sim = createSim();
    server.respondWith('/hang', { delayMs: 5000, body: {} });
    let called = false;
    sim.wx.request({ url: `${server.url}/hang`, complete: () => { called = true; } });
    const t = sim.wx.connectSocket({ url: server.createTunnel().connectUrl });
    t.onOpen(() => {});
    await waitFor(() => server.counters.connections === 1);
    sim.evaluate('setInterval(function () {}, 1000)');
    await sim.close();
    assert.equal(sim.sockets.open().length, 0);
    assert.equal(sim.timers.active().length, 0);
    assert.equal(sim.netStats().requestsActive, 0);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(called, false, 'no callbacks run after close');
    await server.stop();
  });
});

after(() => fs.rmSync(TMP, { recursive: true, force: true }));
