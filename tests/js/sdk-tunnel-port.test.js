'use strict';
// The tunnel's per-message paths (js-shim/tunnel-port.js, docs/ARCHITECTURE.md "The
// tunnel's hot paths"): while the core lets it, the port delivers data frames and sends
// emits itself; with a logger set, the gate is shut and every frame and emit goes through
// the wasm. Each scenario runs both ways and must give the same result: ordering, listener
// snapshots, `*` listeners, `@type` names, malformed frames dropped, listener exceptions
// reported, frames byte-identical to `'message:' + JSON.stringify({ type, content })`,
// a failed send queued again, a toJSON that closes the tunnel.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const { withSdk, plain, waitFor, recordEvents, receivedMessages, FAST } = require('./helpers/sdk');

const MODES = [
  { name: 'the port (gate open)', logger: false },
  { name: 'the wasm (a logger set: gate shut)', logger: true },
];

/** Log in, (maybe) set a logger, open a tunnel and wait for `connect`. */
async function connected(wafer, server, mode, options = FAST) {
  const records = [];
  if (mode.logger) wafer.configure({ logger: (r) => records.push(r) });
  await wafer.login();
  const tunnel = new wafer.Tunnel(server.urls.tunnel, options);
  const events = recordEvents(tunnel);
  tunnel.open();
  await waitFor(() => events.count('connect') === 1 || events.count('error') > 0, { message: 'connect' });
  assert.deepEqual(events.names(), ['connect']);
  const remote = server.latestTunnel();
  return { tunnel, events, remote, records };
}

/** Push `frames` from the server, then a `sync` message, and wait until it is heard. */
async function push(server, remote, tunnel, frames) {
  let synced = false;
  const sync = () => {
    synced = true;
  };
  tunnel.on('sync', sync);
  for (const f of frames) server.sendTo(remote.id, f);
  server.sendMessage(remote.id, 'sync');
  await waitFor(() => synced, { message: 'sync' });
  tunnel.off('sync', sync);
}

const frame = (type, content) => `message:${JSON.stringify({ type, content })}`;

const results = {};

for (const mode of MODES) {
  describe(`per-message paths through ${mode.name}`, () => {
    test('order, listener snapshots, * listeners and reserved names', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const { tunnel, remote, records } = await connected(wafer, server, mode);
      const log = [];
      const b = (p) => log.push(['b', plain(p)]);
      const c = (p) => log.push(['c', plain(p)]);
      let first = true;
      tunnel.on('*', (type, p) => {
        if (type !== 'sync') log.push(['*', type, plain(p)]);
      });
      tunnel.on('m', (p) => {
        log.push(['a', plain(p)]);
        if (first) {
          // Added and removed during a dispatch: from the next message on.
          first = false;
          tunnel.on('m', c);
          tunnel.off('m', b);
        }
      });
      tunnel.on('m', b);
      for (const name of ['connect', 'close', 'reconnecting', 'reconnect', 'error', '@connect', '__proto__', 'constructor', 'toString']) {
        tunnel.on(name, (p) => log.push([name, plain(p)]));
      }
      await push(server, remote, tunnel, [
        frame('m', 1),
        frame('m', 2),
        frame('connect', 'c'),
        frame('close', 'c'),
        frame('reconnecting', 'r'),
        frame('reconnect', 'r'),
        frame('error', 'e'),
        frame('@connect', 'literal'),
        frame('__proto__', { p: 1 }),
        frame('constructor', 'k'),
        frame('toString', 't'),
        frame('*', 'star'),
        frame('none-listening', [1, 2]),
        frame('m'),
      ]);
      assert.deepEqual(log, [
        ['*', 'm', 1], ['a', 1], ['b', 1],
        ['*', 'm', 2], ['a', 2], ['c', 2],
        ['*', '@connect', 'c'], ['@connect', 'c'],
        ['*', '@close', 'c'],
        ['*', '@reconnecting', 'r'],
        ['*', '@reconnect', 'r'],
        ['*', '@error', 'e'],
        ['*', '@connect', 'literal'], ['@connect', 'literal'],
        ['*', '__proto__', { p: 1 }], ['__proto__', { p: 1 }],
        ['*', 'constructor', 'k'], ['constructor', 'k'],
        ['*', 'toString', 't'], ['toString', 't'],
        ['*', '*', 'star'],
        ['*', 'none-listening', [1, 2]],
        ['*', 'm', undefined], ['a', undefined], ['c', undefined],
      ]);
      assert.equal(tunnel.status, 'ACTIVE', 'a server "close" message is not the close packet');

      // 2 000 numbered messages: each once, in order.
      const got = [];
      tunnel.on('n', (p) => got.push(p));
      await push(server, remote, tunnel, Array.from({ length: 2000 }, (_, i) => frame('n', i)));
      assert.equal(got.length, 2000);
      assert.ok(got.every((v, i) => v === i), 'in order');

      const packetsIn = records.filter((r) => r.event === 'packet-in' && r.kind === 'message').length;
      if (mode.logger) assert.ok(packetsIn >= 2016, `every message frame logged (${packetsIn})`);
      else assert.equal(records.length, 0);
      results[`order:${mode.logger}`] = log;
      tunnel.close();
    }));

    test('once listeners run for the next event of their type only; off(type, listener) removes one before it runs', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ server, wafer }) => {
      const { tunnel, remote } = await connected(wafer, server, mode);
      const log = [];
      const gone = (p) => log.push(['gone', p]);
      tunnel.once('m', (p) => log.push(['once', p]));
      tunnel.once('*', (type, p) => log.push(['* once', type, p]));
      tunnel.once('m', gone).off('m', gone);
      tunnel.on('m', (p) => {
        log.push(['on', p]);
        // Added during a dispatch: from the next message on.
        if (p === 1) tunnel.once('m', (q) => log.push(['added', q]));
      });
      await push(server, remote, tunnel, [frame('m', 1), frame('m', 2), frame('m', 3)]);
      assert.deepEqual(log, [['once', 1], ['* once', 'm', 1], ['on', 1], ['on', 2], ['added', 2], ['on', 3]]);
      tunnel.close();
    }));

    test('malformed frames are dropped; a listener exception is reported and the next listener runs', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const { tunnel, remote, records } = await connected(wafer, server, mode, { ...FAST, maxFrameSize: 4000 });
      const seen = [];
      tunnel.on('*', (type, p) => {
        if (type !== 'sync') seen.push([type, plain(p)]);
      });
      tunnel.on('boom', () => {
        throw new Error('listener bug on boom');
      });
      tunnel.on('boom', (p) => seen.push(['after the throw', p]));
      await push(server, remote, tunnel, [
        'message:{bad json', 'message:null', 'message:"text"', 'message:42', 'message:[]', 'message:[{"type":"m"}]',
        'message:{"content":1}', 'message:{"type":""}', 'message:{"type":7}', 'message:{"type":null}', 'message:{"type":{"a":1}}',
        'message:', 'message', `message:${'['.repeat(3990)}`, `message:${'['.repeat(100000)}`, frame('big', 'x'.repeat(5000)),
        frame('ok', 1), frame('boom', 2), frame('ok', 3),
      ]);
      assert.deepEqual(seen, [['ok', 1], ['boom', 2], ['after the throw', 2], ['ok', 3]]);
      assert.equal(tunnel.status, 'ACTIVE');
      assert.deepEqual(sim.errors, [], 'nothing thrown into page code');
      const reported = sim.logs.filter((l) => l.level === 'error').map((l) => l.args.map(String).join(' '));
      assert.equal(reported.filter((r) => r.includes('tunnel listener') && r.includes('listener bug on boom')).length, 1);
      if (mode.logger) {
        const dropped = records.filter((r) => r.event === 'dropped').map((r) => r.reason);
        assert.deepEqual(dropped.sort(), [
          'message-without-type', 'message-without-type', 'message-without-type', 'message-without-type', 'message-without-type',
          'message-without-type', 'message-without-type', 'not-a-json-object', 'not-a-json-object', 'not-a-json-object',
          'not-a-json-object', 'not-a-json-object', 'oversized', 'oversized', 'unknown-packet', 'unknown-packet',
        ].sort());
      }
      results[`malformed:${mode.logger}`] = seen;
      tunnel.close();
    }));

    test('emit: frames byte-identical to message:JSON.stringify({ type, content }), in order, also from listeners', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const { tunnel, remote, events } = await connected(wafer, server, mode);
      const cases = sim.evaluate(`[
        ['speak', { word: 'hello 你好', n: 1 }], ['speak', 'a "quoted" \\\\ string: with\\ncontrol'], ['speak', 42],
        ['speak', null], ['speak', undefined], ['speak', function () {}], ['speak', [1, [2, { d: [null] }]]],
        ['speak', { a: undefined, b: function () {}, c: NaN, d: Infinity }], ['speak', new Date(0)],
        ['speak', { toJSON: function () { return 'custom'; } }], ['中文', '😀\\ud800'], ['with "quote"', 1], ['', 2],
        ['speak', { toJSON: function () { return undefined; } }], ['other', 3], ['speak', 4],
      ]`);
      const expected = sim.evaluate(`(function (cases) {
        return cases.map(function (c) { return 'message:' + JSON.stringify({ type: c[0], content: c[1] }); });
      })`)(cases);
      for (const [type, content] of cases) assert.equal(tunnel.emit(type, content), true);
      // From a listener, in the middle of a dispatch.
      tunnel.on('ask', (n) => tunnel.emit('answer', n));
      server.sendMessage(remote.id, 'ask', 1);
      server.sendMessage(remote.id, 'ask', 2);
      await waitFor(() => remote.frames.length === cases.length + 2, { message: `${remote.frames.length} frames` });
      assert.deepEqual(remote.frames.slice(0, cases.length), Array.from(expected));
      assert.deepEqual(receivedMessages(remote).slice(cases.length), [{ type: 'answer', content: 1 }, { type: 'answer', content: 2 }]);

      // What cannot be encoded: false, an error event each, nothing sent.
      const cyclic = sim.evaluate('(function () { var o = {}; o.self = o; return o; })()');
      const throwing = sim.evaluate('({ toJSON: function () { throw new Error("no"); } })');
      assert.equal(tunnel.emit('speak', cyclic), false);
      assert.equal(tunnel.emit('speak', throwing), false);
      assert.equal(tunnel.emit(5, 'not a string type'), false);
      assert.equal(tunnel.emit(undefined, 1), false);
      await waitFor(() => events.count('error') === 4);
      assert.deepEqual(events.filter((e) => e.name === 'error').map((e) => e.payload.code), [4002, 4002, 4002, 4002]);
      assert.equal(tunnel.emit('after', 1), true);
      await waitFor(() => remote.frames.length === cases.length + 3);
      assert.equal(remote.frames[cases.length + 2], frame('after', 1));
      results[`emit:${mode.logger}`] = remote.frames.slice();
      tunnel.close();
    }));

    test('a send the socket refuses is queued again and goes out first after the reconnect', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const { tunnel, remote, events } = await connected(wafer, server, mode);
      assert.equal(tunnel.emit('m', 1), true);
      await waitFor(() => receivedMessages(remote).length === 1);
      // The socket throws from send(): the adapter reports it as not sent.
      const task = sim.sockets.current().task;
      task.send = () => {
        throw new Error('send refused');
      };
      assert.equal(tunnel.emit('m', 2), true, 'taken: queued again');
      assert.equal(tunnel.status, 'RECONNECTING');
      assert.equal(tunnel.emit('m', 3), true);
      await waitFor(() => events.count('reconnect') === 1, { message: 'reconnect' });
      const second = server.latestTunnel();
      assert.notEqual(second.id, remote.id);
      await waitFor(() => receivedMessages(second).length === 2);
      assert.deepEqual(receivedMessages(second).map((m) => m.content), [2, 3]);
      assert.deepEqual(receivedMessages(remote).map((m) => m.content), [1]);
      assert.equal(tunnel.emit('m', 4), true);
      await waitFor(() => receivedMessages(second).length === 3);
      tunnel.close();
    }));

    test('a toJSON that closes the tunnel: the message waits for the next open()', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const { tunnel, remote, events } = await connected(wafer, server, mode);
      const content = { toJSON: () => { tunnel.close(); return 'late'; } };
      assert.equal(tunnel.emit('m', content), true);
      assert.equal(tunnel.status, 'CLOSED');
      await waitFor(() => remote.closed);
      assert.deepEqual(receivedMessages(remote), []);
      tunnel.open();
      await waitFor(() => events.count('connect') === 2);
      const second = server.latestTunnel();
      await waitFor(() => receivedMessages(second).length === 1);
      assert.deepEqual(receivedMessages(second), [{ type: 'm', content: 'late' }]);
      tunnel.close();
    }));
  });
}

describe('both ways give the same result', () => {
  test('listener logs, dropped frames and emitted frames are identical', () => {
    for (const key of ['order', 'malformed', 'emit']) {
      assert.ok(results[`${key}:false`] && results[`${key}:true`], `${key}: both runs finished`);
      assert.deepEqual(results[`${key}:true`], results[`${key}:false`], key);
    }
  });
});
