'use strict';
// The wasm's memory (docs/RELIABILITY.md, "Memory"; docs/PERFORMANCE.md, "Memory"), read
// from outside by tests/support/wasm-probe.js:
// - linear memory (`memory.buffer.byteLength`) is at most 256 KiB at rest, and does not grow
//   at all over 1 000 tunnel open/close cycles (one Tunnel, or a new one each time) and
//   100 000 inbound messages, each run twice; with a logger set too, which sends every
//   frame through the wasm;
// - the JavaScript values the wasm holds through the glue's heap slab are as many after each
//   round as after a short warm-up round (which fills the caches made once: the frame
//   strings, serialized field names): a handle leak would show there (with the classic glue
//   there is no externref table);
// - the deepest the Rust stack goes, under every API and hostile input, stays under a
//   quarter of its size (.cargo/config.toml sets it).
// Counts: WAFER_RELIABILITY_CYCLES (1000), WAFER_RELIABILITY_FLOOD (100000).

const { describe, test, before } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const {
  COUNTS, KiB, MEMORY_BOUND, figure, now, ms, waitFor, createSim, installSdk, probeMemory, startServer, timeline,
  assertNothingLeft, assertPageClean,
} = h;

/**
 * A phone on the loopback support server with the wasm probed; `run(ctx, n)` does one round
 * of `n` steps of a workload; a warm-up round of a few steps, then two full rounds, with
 * memory and held handles before and after each.
 */
async function twoRounds(name, workload, serverOptions = {}, logger = false) {
  const server = await startServer({ dialect: 'wafer1', ...serverOptions });
  const sim = createSim();
  try {
    installSdk(sim);
    const memory = probeMemory(sim);
    const wafer = sim.require('wafer-wasm');
    wafer.configure({ loginUrl: server.urls.login });
    let records = 0;
    if (logger) {
      wafer.configure({
        logger: () => {
          records += 1;
        },
      });
    }
    await wafer.login();
    const ctx = { sim, server, wafer, memory, state: {} };
    if (workload.setup) await workload.setup(ctx);
    const at = () => ({ bytes: memory.bytes(), handles: memory.liveHandles() });
    const rest = at();
    await workload.run(ctx, workload.warmup);
    const base = at();
    const t0 = now();
    await workload.run(ctx, workload.steps);
    const first = at();
    const t1 = now();
    await workload.run(ctx, workload.steps);
    const second = at();
    const t2 = now();
    if (workload.teardown) await workload.teardown(ctx);
    await assertNothingLeft(sim, `${name}: after the last close()`);
    await sim.settle();
    assertPageClean(sim, name);
    return {
      logger,
      steps: workload.steps,
      restBytes: rest.bytes,
      growth: [base.bytes - rest.bytes, first.bytes - base.bytes, second.bytes - first.bytes],
      maxBytes: Math.max(rest.bytes, base.bytes, first.bytes, second.bytes),
      handles: { rest: rest.handles, warm: base.handles, first: first.handles, second: second.handles },
      logRecords: records,
      firstRoundMs: ms(t1 - t0),
      secondRoundMs: ms(t2 - t1),
    };
  } finally {
    await sim.close();
    await server.stop();
  }
}

/** Poll `predicate` on every turn of the event loop (waitFor's 5 ms ticks would dominate a cycle). */
function soon(predicate, message, timeout = 5000) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeout) reject(new Error(`timed out: ${message}`));
      else setImmediate(tick);
    };
    tick();
  });
}

/** One open → connect → emit → echo → close → socket gone cycle. */
async function cycle(ctx, tunnel, events, i) {
  const { sim } = ctx;
  const connects = events.count('connect');
  tunnel.open();
  await soon(() => events.count('connect') === connects + 1 || events.count('error') > 0, `cycle ${i}: connect`);
  assert.equal(events.count('error'), 0, JSON.stringify(events.filter((e) => e.name === 'error').map((e) => e.payload)));
  const echoes = ctx.state.echoes;
  tunnel.emit('ping-pong', { i });
  await soon(() => ctx.state.echoes > echoes, `cycle ${i}: echo`);
  tunnel.close();
  await soon(() => sim.sockets.open().length === 0, `cycle ${i}: socket closed`);
}

const WORKLOADS = [
  {
    key: 'cycles-same-tunnel',
    title: `${COUNTS.cycles} open/close cycles of one Tunnel`,
    setup(ctx) {
      ctx.state.echoes = 0;
      ctx.state.tunnel = new ctx.wafer.Tunnel(ctx.server.urls.tunnel, { heartbeatInterval: 60000 });
      ctx.state.events = timeline(ctx.state.tunnel);
      ctx.state.tunnel.on('ping-pong', () => { ctx.state.echoes += 1; });
    },
    warmup: 5,
    steps: COUNTS.cycles,
    async run(ctx, n) {
      for (let i = 0; i < n; i += 1) await cycle(ctx, ctx.state.tunnel, ctx.state.events, i);
    },
  },
  {
    key: 'cycles-new-tunnel',
    title: `${COUNTS.cycles} open/close cycles, a new Tunnel each time (a chat page opened and left)`,
    setup(ctx) { ctx.state.echoes = 0; },
    warmup: 5,
    steps: COUNTS.cycles,
    async run(ctx, n) {
      for (let i = 0; i < n; i += 1) {
        const tunnel = new ctx.wafer.Tunnel(ctx.server.urls.tunnel, { heartbeatInterval: 60000 });
        const events = timeline(tunnel);
        tunnel.on('ping-pong', () => { ctx.state.echoes += 1; });
        await cycle(ctx, tunnel, events, i);
        tunnel.off();
      }
      // A closed tunnel gives its wasm side back a microtask after close().
      await ctx.sim.settle();
    },
  },
  {
    key: 'inbound-messages',
    title: `${COUNTS.flood} inbound messages, delivered once and in order`,
    serverOptions: { echo: false },
    async setup(ctx) {
      const tunnel = new ctx.wafer.Tunnel(ctx.server.urls.tunnel, { heartbeatInterval: 60000 });
      const events = timeline(tunnel);
      ctx.state.tunnel = tunnel;
      ctx.state.events = events;
      ctx.state.got = 0;
      ctx.state.bad = 0;
      ctx.state.expect = 0;
      tunnel.on('m', (p) => {
        if (p.n !== ctx.state.got) ctx.state.bad += 1;
        ctx.state.got += 1;
      });
      tunnel.open();
      await waitFor(() => events.count('connect') === 1);
      ctx.state.remote = ctx.server.latestTunnel();
    },
    warmup: 100,
    steps: COUNTS.flood,
    async run(ctx, count) {
      const { remote } = ctx.state;
      for (let i = 0; i < count; i += 1) {
        const n = ctx.state.expect;
        ctx.state.expect += 1;
        remote.socket.send(`message:{"type":"m","content":{"n":${n},"text":"你好 hello ${n}"}}`);
      }
      await waitFor(() => ctx.state.got === ctx.state.expect, { timeout: 120000, message: `${ctx.state.got} of ${ctx.state.expect} messages` });
      assert.equal(ctx.state.bad, 0, 'every message once, in order');
      assert.equal(ctx.state.tunnel.status, 'ACTIVE');
      assert.deepEqual(ctx.state.events.names(), ['connect']);
    },
    teardown(ctx) { ctx.state.tunnel.close(); },
  },
];

for (const w of WORKLOADS) {
  for (const logger of [false, true]) {
    describe(`wasm memory: ${w.title}${logger ? ', with a logger (every frame through the wasm)' : ''}`, () => {
      let result = null;
      let failure = null;
      before(async () => {
        try {
          result = await twoRounds(w.key, w, w.serverOptions, logger);
        } catch (e) {
          failure = e;
        }
      });

      test(`linear memory stays within ${MEMORY_BOUND / KiB} KiB and does not grow, round after round`, (t) => {
        if (failure) throw failure;
        figure(t, `memory-${w.key}${logger ? '-logger' : ''}`, result);
        if (logger) assert.ok(result.logRecords > 0, 'the logger heard the traffic');
        assert.ok(result.restBytes <= MEMORY_BOUND, `${result.restBytes} B at rest`);
        assert.ok(result.maxBytes <= MEMORY_BOUND, `${result.maxBytes} B at most`);
        assert.deepEqual(result.growth, [0, 0, 0], 'growth over the warm-up, the first and the second round (B)');
      });

      test('the wasm holds no more handles after each round than after the warm-up', () => {
        if (failure) throw failure;
        const { warm, first, second } = result.handles;
        assert.equal(first, warm, `after the first round: ${first} handles held, ${warm} after the warm-up`);
        assert.equal(second, warm, `after the second round: ${second} handles held, ${warm} after the warm-up`);
      });
    });
  }
}

describe('wasm stack', () => {
  test('the deepest it goes under every API, hostile options, answers and frames stays under a quarter of its size', (t) => h.withSdk({ dialect: 'wafer2', configure: false, require: false, clean: false }, async ({ sim, server }) => {
    const memory = probeMemory(sim);
    const wafer = sim.require('wafer-wasm');
    await wafer.init();
    memory.stack.paint();
    const deep = (n, leaf) => {
      let v = leaf;
      for (let i = 0; i < n; i += 1) v = i % 2 ? { a: v } : [v];
      return v;
    };
    const hostile = sim.evaluate(`[
      new Proxy({}, { get: function () { throw new Error('trap'); }, ownKeys: function () { throw new Error('trap'); } }),
      Object.defineProperty({}, 'url', { get: function () { throw new Error('getter'); } }),
      null, 42, 'text', [], function () {},
    ]`);
    const outcomes = [];
    const settle = async (p) => {
      try {
        outcomes.push(['ok', await p]);
      } catch (e) {
        outcomes.push(['error', e && e.type]);
      }
    };
    // Settings, good and bad.
    await settle(wafer.configure({ loginUrl: server.urls.login, debug: true, logger: () => {}, queueLimit: 10, heartbeatInterval: 15000 }));
    for (const bad of hostile) await settle(wafer.configure(bad));
    await settle(wafer.configure({ loginUrl: deep(2000, 'x') }));
    // Logins and requests, with deep data and headers, and hostile options.
    await settle(wafer.login());
    await settle(wafer.request({ url: server.urls.user, login: true, data: deep(3000, 1), header: { a: '1', deep: deep(1000, 'h') } }));
    await settle(wafer.request({ url: server.urls.echo, method: 'POST', data: deep(3000, 'body') }));
    for (const bad of hostile) await settle(Promise.resolve().then(() => wafer.request(bad)));
    await settle(wafer.requestLogin({ loginParams: deep(500, 'p') }));
    await settle(wafer.request({ url: 'http://127.0.0.1:1/unreachable' }));
    // Tunnels: bad options, traffic both ways, hostile frames, deep messages.
    for (const bad of hostile) {
      try {
        // eslint-disable-next-line no-new
        new wafer.Tunnel(server.urls.tunnel, bad);
      } catch (e) {
        outcomes.push(['thrown', e && e.type]);
      }
    }
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { heartbeatInterval: 300 });
    const events = timeline(tunnel);
    let heard = 0;
    tunnel.on('*', () => { heard += 1; });
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    const remote = server.latestTunnel();
    for (const f of ['message:{bad', `message:${'['.repeat(50000)}`, 'timeout:abc', 'timeout:1', 'pong:x', 'closing', 'message:{"type":"x"}']) remote.socket.send(f);
    server.sendMessage(remote.id, 'deep', deep(3000, 'm'));
    tunnel.emit('deep', deep(3000, 'e'));
    tunnel.emit('cyclic', sim.evaluate('(function () { var o = {}; o.o = o; return o; })()'));
    await waitFor(() => heard >= 3);
    server.dropAll();
    await waitFor(() => events.count('reconnect') === 1, { timeout: 10000 });
    tunnel.close();
    await sim.settle(50);

    const deepest = memory.stack.deepest();
    figure(t, 'wasm-stack', { stackBytes: memory.stackSize, deepestBytes: deepest, outcomes: outcomes.length });
    assert.ok(memory.stackSize > 0, 'the stack size was read from the module');
    assert.ok(deepest > 0, 'the probe saw the stack in use');
    assert.ok(deepest <= memory.stackSize / 4, `the stack went ${deepest} B deep, more than a quarter of its ${memory.stackSize} B`);
    assert.deepEqual(sim.errors, [], 'nothing thrown into page code');
    await assertNothingLeft(sim);
  }));
});
