'use strict';
/**
 * Tunnel throughput, ours vs the official wafer-client-sdk, both inside the strict
 * mini-program simulator (tests/sim), each on an in-memory fake socket and fake handshake
 * so only SDK overhead is measured. A third side, the plain-JavaScript model of the same
 * hot paths (bench/model, never shipped), shows the limit the figures are read against.
 *
 * - The fake `wx.request` answers the tunnel handshake with `{ url }` (Wafer 1); the fake
 *   `wx.connectSocket` opens at once. Ours drives the SocketTask it returns; the official
 *   client drives the legacy global `wx.onSocket*` / `wx.sendSocketMessage` API. The fake
 *   answers `ping` with `pong`, and both tunnels get `timeout:600` after connecting, so no
 *   heartbeat or reconnect runs during the rounds.
 * - The fake, the timing loops and the frames all live in the sandbox realm (evaluated
 *   once per simulator, so each SDK's loop has its own type feedback); the clock is the
 *   host's `process.hrtime`.
 * - inbound: N distinct frames `message:{"type":"speak","content":{...,"n":i}}` handed to
 *   the socket's message handler; the `on('speak')` listener counts them and sums `n`.
 * - outbound: N `emit('speak', { word, n: i })` while ACTIVE, timed until the fake socket
 *   has seen N `message:` frames. The socket reads each frame (`startsWith('message:')`),
 *   as a real one must: a frame built by concatenation is a rope whose characters are
 *   copied only when first read, and that copy belongs to the cost of building it.
 * - outbound unread (information only): the same with a socket that only counts frames.
 * - Payloads follow the demo chat: the client sends `{ word }`, the server broadcasts
 *   `{ who: userInfo, word }`. Inbound frames are flat strings, as a socket delivers them.
 * - Rounds are interleaved (the order alternates every round), a few are warm-up, the
 *   best round of each side counts; `gc()` runs before each timed loop (the child is forked
 *   with --expose-gc).
 * - Byte identity: one outbound round of each side is recorded and compared frame by
 *   frame, plus a list of edge-case contents and types.
 *
 * run(options) forks this file and resolves with the child's result.
 */

const { inChild, isChild, serveChild } = require('./child.js');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** Sandbox-side harness: installed into one simulator, returns its control object. */
const HARNESS = `(function (wx, legacy, now, N) {
  var st = { sent: 0, messages: 0, frames: null, handlers: {}, opened: 0, read: true };
  function deliverLater(data) {
    setTimeout(function () { if (st.handlers.message) st.handlers.message({ data: data }); }, 0);
  }
  function onSend(data) {
    st.sent++;
    if (data === 'ping') {
      deliverLater('pong');
    } else if (data === 'close') {
      // nothing
    } else if (!st.read) {
      // Count only: the frame's characters are never looked at (a string built by
      // concatenation stays a rope; see the "frame not read" figure).
      st.messages++;
    } else if (typeof data === 'string' && data.startsWith('message:')) {
      // What a real socket does first: read the characters it has to send.
      st.messages++;
      if (st.frames) st.frames.push(data);
    }
  }
  wx.request = function (o) {
    setTimeout(function () {
      var res = { statusCode: 200, data: { url: 'wss://bench.invalid/tunnel' }, header: {}, errMsg: 'request:ok' };
      if (o.success) o.success(res);
      if (o.complete) o.complete(res);
    }, 0);
    return { abort: function () {} };
  };
  wx.connectSocket = function (o) {
    var h = st.handlers;
    var task = {
      onOpen: function (f) { h.open = f; },
      onMessage: function (f) { h.message = f; },
      onClose: function (f) { h.close = f; },
      onError: function (f) { h.error = f; },
      send: function (o2) { onSend(o2.data); },
      close: function () {},
    };
    setTimeout(function () { st.opened++; if (h.open) h.open({}); }, 0);
    return task;
  };
  if (legacy) {
    wx.onSocketOpen = function (f) { st.handlers.open = f; };
    wx.onSocketMessage = function (f) { st.handlers.message = f; };
    wx.onSocketClose = function (f) { st.handlers.close = f; };
    wx.onSocketError = function (f) { st.handlers.error = f; };
    wx.sendSocketMessage = function (o) { onSend(o.data); };
    wx.closeSocket = function () {};
  }

  var box = { got: 0, sum: 0 };
  function listener(c) { box.got++; box.sum += c.n; }

  // Flat strings, as a socket hands them over (join, unlike +, does not build a rope).
  var inboundMessages = [];
  for (var i = 0; i < N; i++) {
    inboundMessages.push({ data: ['message', JSON.stringify({ type: 'speak', content: {
      who: { nickName: '小明', avatarUrl: 'https://example.com/avatar/xiaoming.png' },
      word: 'hello 你好 world', n: i } })].join(':') });
  }

  return {
    st: st,
    box: box,
    listener: listener,
    status: function (t) { return t.status; },
    deliver: function (data) { st.handlers.message({ data: data }); },
    // m: how many (default N).
    inbound: function (m) {
      var deliver = st.handlers.message;
      var msgs = inboundMessages;
      var count = m || N;
      box.got = 0; box.sum = 0;
      var t0 = now();
      for (var i = 0; i < count; i++) deliver(msgs[i]);
      return now() - t0;
    },
    // Returns [t0, t1]: the caller keeps the clock running until the socket saw them all.
    outbound: function (t, record, read, m) {
      var count = m || N;
      st.messages = 0;
      st.read = read;
      st.frames = record ? [] : null;
      var t0 = now();
      for (var i = 0; i < count; i++) t.emit('speak', { word: 'hello 你好 world', n: i });
      return [t0, now()];
    },
    emitAll: function (t, list) {
      st.messages = 0;
      st.read = true;
      st.frames = [];
      for (var i = 0; i < list.length; i++) t.emit(list[i][0], list[i][1]);
      var frames = st.frames;
      st.frames = null;
      return frames;
    },
  };
})`;

/** Edge cases for the byte-identity check: [type, content] pairs, evaluated in the sandbox. */
const EDGE_CASES = `[
  ['speak', { word: 'hello' }],
  ['speak', 'a plain string with "quotes", \\\\ backslash, : colon and \\n newline'],
  ['speak', 42], ['speak', 0], ['speak', -1.5e-7], ['speak', 1e21], ['speak', NaN], ['speak', Infinity],
  ['speak', true], ['speak', false], ['speak', null], ['speak', undefined], ['speak', function () {}],
  ['speak', []], ['speak', {}], ['speak', [1, [2, [3, { deep: [null] }]]]],
  ['speak', { a: undefined, b: function () {}, c: 1 }],
  ['speak', { emoji: '😀👍🏽', cjk: '你好，世界', lone: '\\ud800x\\udc00', sep: '\\u2028\\u2029', ctl: '\\u0000\\u001f' }],
  ['speak', new Date(0)], ['speak', { toJSON: function () { return 'custom'; } }],
  ['speak', ''], ['speak', ' '],
  ['中文类型', { word: '你好' }], ['type:with:colons', 1], ['with "quote"', 2], ['', 3], ['speak', 4],
  ['message', 'reserved-looking type'], ['connect', 'reserved name'], ['*', 'star'],
  ['a', 1], ['b', 2], ['a', 3], ['a', undefined], ['b', undefined],
]`;

const OFFICIAL_DIR = path.join(ROOT, 'node_modules', 'wafer-client-sdk');
const MODEL_DIR = path.join(__dirname, 'model');
const hr = () => Number(process.hrtime.bigint());
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One SDK in its own simulator with an ACTIVE tunnel on the fake socket, one `speak`
 * listener, and the harness of N messages. `beforeLoad(sim)` runs before the SDK loads
 * (bench/hotpath.js wraps WXWebAssembly there).
 */
async function setupSide({ key, name, pkgDir, legacy, n, beforeLoad }) {
  const { createSim, installPackage } = require(path.join(ROOT, 'tests', 'sim'));
  const sim = createSim();
  installPackage(sim.root, pkgDir, name);
  // A distinct source per simulator, so V8 gives each loop its own compiled code.
  const make = sim.evaluate(`${HARNESS} // ${key}`);
  const h = make(sim.global.wx, legacy, sim.realm.fn ? sim.realm.fn(hr, 'now') : hr, n);
  const probe = beforeLoad ? beforeLoad(sim) : null;
  const sdk = sim.require(name);
  if (typeof sdk.init === 'function') await sdk.init();
  const tunnel = new sdk.Tunnel('https://bench.invalid/tunnel');
  tunnel.on('speak', h.listener);
  tunnel.open();
  for (let i = 0; i < 200 && !(h.st.opened && h.status(tunnel) === 'ACTIVE'); i++) await delay(5);
  if (h.status(tunnel) !== 'ACTIVE') throw new Error(`${name}: tunnel not ACTIVE after open (${h.status(tunnel)})`);
  h.deliver('timeout:600'); // heartbeat every 10 min: none during the rounds
  await delay(20);
  return { key, name, sim, sdk, tunnel, h, probe };
}

/** The three sides: ours, the official client, the plain-JavaScript model. */
const SIDES = (pkgDir) => [
  { key: 'ours', name: 'wafer-wasm', pkgDir, legacy: false },
  { key: 'official', name: 'wafer-client-sdk', pkgDir: OFFICIAL_DIR, legacy: true },
  { key: 'model', name: 'wafer-js-model', pkgDir: MODEL_DIR, legacy: false },
];

async function child(opts) {
  const N = opts.n;
  const gc = typeof global.gc === 'function' ? global.gc : () => {};
  const sides = [];
  for (const s of SIDES(opts.pkgDir)) sides.push(await setupSide({ ...s, n: N }));

  async function inbound(s) {
    gc();
    const dt = s.h.inbound();
    const got = s.h.box.got;
    const sum = s.h.box.sum;
    if (got !== N || sum !== (N * (N - 1)) / 2) throw new Error(`${s.name}: inbound listener saw ${got} of ${N} messages (sum ${sum})`);
    return dt;
  }

  async function outbound(s, record, read) {
    gc();
    const [t0, t1] = s.h.outbound(s.tunnel, record, read);
    let end = t1;
    if (s.h.st.messages < N) {
      // Not all on the socket yet: keep the clock running until they are (or give up).
      const deadline = Date.now() + 10000;
      while (s.h.st.messages < N && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      end = hr();
    }
    if (s.h.st.messages !== N) throw new Error(`${s.name}: the socket saw ${s.h.st.messages} of ${N} emitted messages`);
    const frames = record ? s.h.st.frames : null;
    s.h.st.frames = null;
    s.h.st.read = true;
    return { dt: end - t0, frames };
  }

  const samples = {};
  for (const k of ['inbound', 'outbound', 'outboundUnread']) {
    samples[k] = {};
    for (const s of sides) samples[k][s.key] = [];
  }
  // Every order of the three sides in turn, so each pair is measured both ways round.
  const ORDERS = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [1, 0, 2], [0, 2, 1]];
  const total = opts.warmup + opts.rounds;
  for (let round = 0; round < total; round++) {
    const order = ORDERS[round % ORDERS.length].map((i) => sides[i]);
    const keep = round >= opts.warmup;
    for (const s of order) {
      const dt = await inbound(s);
      if (keep) samples.inbound[s.key].push(dt);
    }
    for (const s of order) {
      const { dt } = await outbound(s, false, true);
      if (keep) samples.outbound[s.key].push(dt);
    }
    for (const s of order) {
      const { dt } = await outbound(s, false, false);
      if (keep) samples.outboundUnread[s.key].push(dt);
    }
    await delay(1); // let pending timers (none expected) and the sims breathe
  }

  // Byte identity with the official client: a recorded round, then the edge cases (the
  // model is checked too, so it models the same frames).
  const frames = {};
  for (const s of sides) {
    const recorded = (await outbound(s, true, true)).frames;
    const edge = Array.from(s.h.emitAll(s.tunnel, s.sim.evaluate(EDGE_CASES)));
    frames[s.key] = { recorded, edge };
  }
  const mismatches = [];
  const compare = (label, key, a, b) => {
    if (a.length !== b.length) mismatches.push(`${label}: ${a.length} frames (${key}) vs ${b.length} (official)`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] !== b[i]) {
        mismatches.push(`${label} #${i}: ${key} ${JSON.stringify(a[i]).slice(0, 160)} vs official ${JSON.stringify(b[i]).slice(0, 160)}`);
        if (mismatches.length > 10) break;
      }
    }
  };
  for (const key of ['ours', 'model']) {
    compare(`bench round (${key})`, key, frames[key].recorded, frames.official.recorded);
    compare(`edge cases (${key})`, key, frames[key].edge, frames.official.edge);
  }

  const health = [];
  for (const s of sides) {
    const status = s.h.status(s.tunnel);
    if (status !== 'ACTIVE') health.push(`${s.name}: tunnel ${status} after the rounds`);
    if (s.sim.errors.length) health.push(`${s.name}: ${s.sim.errors.length} error(s) thrown in the sandbox: ${String(s.sim.errors[0]).slice(0, 200)}`);
    if (s.h.st.opened !== 1) health.push(`${s.name}: ${s.h.st.opened} sockets opened (a reconnect happened)`);
  }
  for (const s of sides) await s.sim.close();

  return {
    n: N,
    rounds: opts.rounds,
    warmup: opts.warmup,
    samples,
    frames: { compared: frames.ours.recorded.length, edgeCases: frames.official.edge.length, mismatches },
    health,
  };
}

/**
 * @param {{ pkgDir: string, n?: number, rounds?: number, warmup?: number }} opts
 */
function run(opts) {
  const o = Object.assign({ n: 100000, rounds: 15, warmup: 3 }, opts);
  return inChild(__filename, 'throughput', o, ['--expose-gc']);
}

if (isChild(module)) {
  serveChild(child);
}

module.exports = { run, setupSide, SIDES, HARNESS };
