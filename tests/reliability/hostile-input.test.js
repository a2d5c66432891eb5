'use strict';
// Hostile frames from the server (docs/RELIABILITY.md, "Hostile input"): binary frames, 1 MB
// frames (under and over maxFrameSize), invalid JSON, unknown packet types, `message` without
// a usable `type`, odd listener names, and floods of them — interleaved with a numbered stream
// of valid messages, over a real WebSocket from the loopback support server.
//
// Expected: every hostile frame is dropped without an exception (the logger says why), every
// valid message arrives once and in order, the tunnel stays ACTIVE with a working heartbeat,
// wasm memory does not grow by more than 1 MiB, and close() leaves nothing behind.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const { figure, now, ms, waitFor, timeline, withSdk, probeMemory, assertNothingLeft, MiB } = h;

const pings = (remote) => remote.frames.filter((f) => f === 'ping').length;

/** Log in, open a tunnel, wait for connect; the logger counts why frames were dropped. */
async function connected({ sim, server, wafer }, options) {
  const dropped = {};
  wafer.configure({
    logger: (r) => {
      if (r.scope === 'tunnel' && r.event === 'dropped') dropped[r.reason] = (dropped[r.reason] || 0) + 1;
    },
  });
  await wafer.login();
  const tunnel = new wafer.Tunnel(server.urls.tunnel, options);
  const events = timeline(tunnel);
  tunnel.open();
  await waitFor(() => events.count('connect') === 1);
  const remote = server.latestTunnel();
  return { tunnel, events, remote, dropped };
}

const ONE_MB = 1000 * 1000;
const MAX_FRAME = 1024 * 1024; // the default maxFrameSize, in UTF-16 code units

/** `message:{"type":T,"content":"x…x"}` of exactly `len` code units. */
function messageOfLength(type, len, fill = 'x') {
  const head = `message:{"type":${JSON.stringify(type)},"content":"`;
  const tail = '"}';
  return head + fill.repeat(len - head.length - tail.length) + tail;
}

/** Frames a server should never send; each must be dropped without effect. */
const HOSTILE = [
  // invalid JSON
  'message:{', 'message:{"type":"n",}', "message:{'type':'n'}", 'message:undefined', 'message:NaN',
  'message:{"type":"n","content":}', `message:${'['.repeat(50000)}`, `message:${'{"a":'.repeat(20000)}`,
  'message:\u0000', 'message:{"type":"n"}garbage',
  // message without a usable type
  'message:{}', 'message:{"content":1}', 'message:{"type":null}', 'message:{"type":""}', 'message:{"type":5}',
  'message:{"type":{}}', 'message:{"type":["n"]}', 'message:[]', 'message:null', 'message:"n"', 'message:42', 'message:true',
  // unknown packet types and malformed control packets
  '', ':', '::', 'hello', 'hello:world', 'PING', 'ping', 'Message:{"type":"n"}', 'MESSAGE:{"type":"n"}', 'message',
  'pong:extra', 'pong:', 'timeout:abc', 'timeout:-1', 'timeout:', 'timeout:1e3', 'timeout:0x10', 'closed', 'closing:now',
  '\u0000', '\ud800', '\ufeffmessage:{"type":"n"}', ' message:{"type":"n"}', '弹幕:{"type":"n"}', 'x'.repeat(100),
];

describe('hostile frames', () => {
  test('binary, 1 MB, invalid JSON, unknown types, message without type, between numbered messages: dropped silently; every valid message once, in order; heartbeat alive', (t) => withSdk({ dialect: 'wafer1', serverOptions: { echo: false }, beforeRequire: probeMemory }, async (ctx) => {
    const { sim, server, before: memory } = ctx;
    const { tunnel, events, remote, dropped } = await connected(ctx, { heartbeatInterval: 300 });
    const got = [];
    const bigs = [];
    const unexpected = [];
    tunnel.on('n', (p) => got.push(p));
    tunnel.on('big', (p) => bigs.push(p.length));
    tunnel.on('*', (type) => { if (!['n', 'big'].includes(type)) unexpected.push(type); });
    const base = memory.bytes();
    const t0 = now();
    let seq = 0;
    let hostile = 0;
    const ROUNDS = 20;
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const f of HOSTILE) {
        server.sendTo(remote.id, f);
        server.sendMessage(remote.id, 'n', seq++);
        hostile += 1;
      }
      for (const bytes of [[1, 2, 3, 0xff], [], Buffer.alloc(64 * 1024, 0x41)]) {
        server.sendBinary(remote.id, bytes);
        server.sendMessage(remote.id, 'n', seq++);
        hostile += 1;
      }
    }
    // 1 MB frames: a valid 1 000 000-unit message is delivered; past maxFrameSize (1 MiB) a
    // frame is dropped, valid or not; a 1 MB binary frame is dropped.
    server.sendTo(remote.id, messageOfLength('big', ONE_MB));
    server.sendMessage(remote.id, 'n', seq++);
    server.sendTo(remote.id, messageOfLength('big', ONE_MB, '中'));
    server.sendMessage(remote.id, 'n', seq++);
    for (const f of [messageOfLength('big', MAX_FRAME + 1), `message:${'{'.repeat(MAX_FRAME)}`, 'y'.repeat(MAX_FRAME + 10), messageOfLength('big', MAX_FRAME + 1, '中')]) {
      server.sendTo(remote.id, f);
      server.sendMessage(remote.id, 'n', seq++);
      hostile += 1;
    }
    server.sendBinary(remote.id, Buffer.alloc(ONE_MB, 7));
    hostile += 1;
    server.sendMessage(remote.id, 'n', seq++);
    await waitFor(() => got.length === seq, { timeout: 20000, message: `${got.length} of ${seq} valid messages` });
    const elapsed = now() - t0;
    assert.deepEqual(got, Array.from({ length: seq }, (_, i) => i), 'every valid message once, in order');
    // Both 1 000 000-unit messages (one of them 3 MB of UTF-8 on the wire) are within the limit.
    const bigLength = ONE_MB - `message:{"type":"big","content":"`.length - 2;
    assert.deepEqual(bigs, [bigLength, bigLength], 'the 1 MB messages intact, nothing oversized');
    assert.deepEqual(unexpected, [], 'no hostile frame reached a listener');
    // The heartbeat still works: pings keep being answered, no reconnect.
    const p0 = pings(remote);
    await waitFor(() => pings(remote) >= p0 + 2, { timeout: 3000, message: 'two more pings' });
    assert.equal(tunnel.status, 'ACTIVE');
    assert.deepEqual(events.names(), ['connect']);
    assert.deepEqual(sim.errors, []);
    const growth = memory.bytes() - base;
    assert.ok(growth <= MiB, `wasm memory grew by ${growth} B`);
    figure(t, 'hostile-frames', { hostileFrames: hostile, validMessages: seq, elapsedMs: ms(elapsed), droppedByReason: dropped, memoryGrowthBytes: growth });
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('server message types that look like listener machinery (*, __proto__, constructor, @connect) reach only their own listeners', (t) => withSdk({ dialect: 'wafer2', serverOptions: { echo: false } }, async (ctx) => {
    const { sim, server } = ctx;
    const { tunnel, events, remote } = await connected(ctx, h.FAST);
    const log = [];
    for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '@connect']) tunnel.on(type, (p) => log.push([type, p]));
    tunnel.on('*', (type, p) => log.push(['*', type, p]));
    for (const type of ['*', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'connect']) server.sendMessage(remote.id, type, type.length);
    server.sendMessage(remote.id, 'end', 0);
    await waitFor(() => log.some((l) => l[1] === 'end'));
    assert.deepEqual(h.plain(log), [
      ['*', '*', 1],
      ['__proto__', 9], ['*', '__proto__', 9],
      ['constructor', 11], ['*', 'constructor', 11],
      ['toString', 8], ['*', 'toString', 8],
      ['hasOwnProperty', 14], ['*', 'hasOwnProperty', 14],
      ['@connect', 7], ['*', '@connect', 7],
      ['*', 'end', 0],
    ]);
    assert.deepEqual(events.names(), ['connect'], 'a server "connect" is not the connect event');
    assert.deepEqual(sim.errors, []);
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('a flood of 100 000 hostile frames: all dropped, memory bounded, the link still works', (t) => withSdk({ dialect: 'wafer1', serverOptions: { echo: false }, beforeRequire: probeMemory }, async (ctx) => {
    const { sim, server, before: memory } = ctx;
    const { tunnel, events, remote, dropped } = await connected(ctx, { heartbeatInterval: 60000 });
    const got = [];
    tunnel.on('*', (type, p) => got.push([type, p]));
    const base = memory.bytes();
    const N = h.COUNTS.flood;
    const kinds = ['message:{not json', 'message:{"content":1}', 'hello:world', 'message:[]', 'timeout:x'];
    const t0 = now();
    for (let i = 0; i < N; i += 1) remote.socket.send(`${kinds[i % kinds.length]}${i % 7 === 0 ? ` ${i}` : ''}`);
    server.sendMessage(remote.id, 'done', N);
    await waitFor(() => got.length === 1, { timeout: 60000, message: 'the valid message after the flood' });
    const elapsed = now() - t0;
    assert.deepEqual(h.plain(got), [['done', N]]);
    assert.equal(tunnel.status, 'ACTIVE');
    assert.deepEqual(events.names(), ['connect']);
    assert.deepEqual(sim.errors, []);
    assert.ok(tunnel.emit('after', 1));
    await waitFor(() => h.receivedMessages(remote).length === 1);
    const growth = memory.bytes() - base;
    assert.ok(growth <= MiB, `wasm memory grew by ${growth} B`);
    figure(t, 'hostile-flood', { frames: N, elapsedMs: ms(elapsed), framesPerSecond: Math.round(N / (elapsed / 1000)), droppedByReason: dropped, memoryGrowthBytes: growth });
    tunnel.close();
    await assertNothingLeft(sim);
  }));
});

// Found by this suite (docs/RELIABILITY.md, defect D3): every exception caught at the wasm
// boundary leaked a handle and ~10 B of wasm memory; fixed by commit f527311 (exception-safe
// JSON and listener calls). Since the tunnel's port parses and dispatches in JavaScript, no
// exception reaches the wasm at all; each flood runs with the port delivering (the gate
// open) and with a logger set (every frame through the wasm), and what the wasm holds (its
// linear memory and the handles in the glue's heap slab) must not change round after round.
describe('exceptions on the per-message paths do not leak', () => {
  /** Two rounds of `send(remote, n)`, each ending with a `done` message; memory after each. */
  async function twoFloods(t, { sim, server, wafer, before: memory }, { send, n, key, listen, logger }) {
    if (logger) wafer.configure({ logger: () => {} });
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { heartbeatInterval: 60000 });
    const events = timeline(tunnel);
    let done = 0;
    tunnel.on('done', () => { done += 1; });
    if (listen) listen(tunnel);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    const remote = server.latestTunnel();
    // One frame of the flood first, so what is made once per tunnel or client (the frame
    // strings, the field names of log records) is made before counting.
    send(remote, -1);
    server.sendMessage(remote.id, 'done', 0);
    await waitFor(() => done === 1);
    done = 0;
    const sizes = [[memory.bytes(), memory.liveHandles()]];
    const t0 = now();
    for (let round = 1; round <= 2; round += 1) {
      for (let i = 0; i < n; i += 1) send(remote, i);
      server.sendMessage(remote.id, 'done', round);
      await waitFor(() => done === round, { timeout: 60000 });
      sizes.push([memory.bytes(), memory.liveHandles()]);
    }
    const result = {
      perRound: n,
      logger: !!logger,
      elapsedMs: ms(now() - t0),
      memoryGrowth: [sizes[1][0] - sizes[0][0], sizes[2][0] - sizes[1][0]],
      handlesHeld: sizes.map((x) => x[1]),
    };
    figure(t, `${key}${logger ? '-logger' : ''}`, result);
    assert.equal(tunnel.status, 'ACTIVE');
    assert.deepEqual(sim.errors, []);
    tunnel.close();
    await assertNothingLeft(sim);
    return result;
  }

  for (const logger of [false, true]) {
    const way = logger ? 'through the wasm (a logger set)' : 'through the port';
    test(`invalid-JSON frames ${way}: two floods of 50 000 grow neither wasm memory nor the handles it holds`, (t) => withSdk({ dialect: 'wafer1', serverOptions: { echo: false }, beforeRequire: probeMemory }, async (ctx) => {
      const r = await twoFloods(t, ctx, { n: 50000, logger, key: 'leak-invalid-json', send: (remote, i) => remote.socket.send(`message:{not json ${i}`) });
      assert.deepEqual(r.memoryGrowth, [0, 0], 'linear memory growth per flood (B)');
      assert.deepEqual(r.handlesHeld, [r.handlesHeld[0], r.handlesHeld[0], r.handlesHeld[0]], 'handles held before and after each flood');
    }));

    test(`a listener that throws, ${way}: two runs of 20 000 messages grow neither wasm memory nor the handles it holds`, (t) => withSdk({ dialect: 'wafer1', serverOptions: { echo: false }, beforeRequire: probeMemory }, async (ctx) => {
      const r = await twoFloods(t, ctx, {
        n: 20000,
        logger,
        key: 'leak-throwing-listener',
        send: (remote, i) => remote.socket.send(`message:{"type":"boom","content":${i}}`),
        listen: (tunnel) => tunnel.on('boom', () => { throw new Error('page bug'); }),
      });
      assert.ok(ctx.sim.logs.filter((l) => l.level === 'error').length >= 40001, 'each listener exception is reported on the console');
      assert.deepEqual(r.memoryGrowth, [0, 0], 'linear memory growth per run (B)');
      assert.deepEqual(r.handlesHeld, [r.handlesHeld[0], r.handlesHeld[0], r.handlesHeld[0]], 'handles held before and after each run');
    }));
  }
});
