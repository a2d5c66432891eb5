'use strict';
// Tunnel faults over real loopback sockets (docs/RELIABILITY.md, "Tunnel faults"): the stack's
// tunnel server SIGKILLed and restarted in its own process while two clients chat, refusing
// connections for a while, every socket dropped mid-burst, a half-open link, the network off
// and on, the app in background and back, and the platform's 5-socket limit.
//
// Each scenario checks the suite's invariants (docs/RELIABILITY.md) and measures what docs/RELIABILITY.md
// reports: time to detect, time to recover, messages lost. Wall-clock figures are reported,
// never asserted, except the protocol's own bound (a half-open link is found within two
// heartbeat intervals).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const {
  COUNTS, FAST, figure, now, ms, stats, waitFor, delay, account, assertNothingLeft, keepTalking, timeline,
  withSdk, receivedMessages,
} = h;

describe('tunnel server process killed (SIGKILL) and restarted while two clients chat', () => {
  let world;
  before(async () => { world = await h.startStackWithTunnelProcess({ wafer2: false }); }); // Wafer 1 phones only
  after(async () => { if (world) await world.stop(); });

  test(`${COUNTS.kills} × kill -9 the tunnel server, restart it on the same port: both clients recover, nothing queued is lost`, async (t) => {
    const business = world.stack.wafer1;
    const ledger = { business: h.serverLedger(business), frames: h.frameLedger(world.tunnelProcess), pushes: h.pushLedger(world.tunnelProcess) };
    const a = h.chatClient(world.stack, '阿甲');
    const b = h.chatClient(world.stack, '阿乙');
    const rounds = [];
    const windows = [];
    let roomAt = null;
    try {
      await a.connect();
      await b.connect();
      await h.bothInRoom(business, [a, b], 'start');
      const talk = keepTalking([a, b], 20);
      try {
        for (let k = 0; k < COUNTS.kills; k += 1) {
          await delay(300);
          const killAt = now();
          await world.tunnelProcess.kill();
          await waitFor(() => a.events.after('reconnecting', killAt) && b.events.after('reconnecting', killAt), { timeout: 10000, message: 'both clients to notice the crash' });
          const detected = [a, b].map((c) => c.events.after('reconnecting', killAt).at);
          windows.push({ from: killAt, to: Math.max(...detected) });
          await delay(300); // the tunnel server stays down; the clients keep emitting and retrying
          assert.ok([a, b].every((c) => c.tunnel.isReconnecting()), 'RECONNECTING while the server is down');
          const restartAt = now();
          await world.tunnelProcess.start();
          const upAt = now();
          await waitFor(() => a.events.after('reconnect', restartAt) && b.events.after('reconnect', restartAt), { timeout: 15000, message: 'both clients to reconnect' });
          const recovered = [a, b].map((c) => c.events.after('reconnect', restartAt).at);
          rounds.push({
            detectMs: detected.map((x) => ms(x - killAt)),
            recoverAfterRestartMs: recovered.map((x) => ms(x - upAt)),
            outageMs: recovered.map((x) => ms(x - killAt)),
          });
          await h.bothInRoom(business, [a, b], `after kill ${k + 1}`);
          roomAt = now();
        }
        await delay(300);
      } finally {
        talk.stop();
      }
      await h.drained(ledger, [a, b], { serverCrashed: true });
      const delivery = h.deliveryReport(a, b, ledger, windows, { serverCrashed: true });
      // After the last recovery everything either phone says reaches the other one.
      for (const [me, other] of [[a, b], [b, a]]) {
        const tail = me.sent.filter((m) => m.ok && m.at > roomAt).map((m) => m.seq);
        assert.ok(tail.length > 0);
        await waitFor(() => tail.every((s) => other.heardFrom(me.name).includes(s)), { timeout: 10000, message: `${other.name} to hear ${me.name}'s last messages` });
      }
      figure(t, 'tunnel-kill', {
        kills: rounds.length,
        detectMs: stats(rounds.flatMap((r) => r.detectMs)),
        recoverAfterRestartMs: stats(rounds.flatMap((r) => r.recoverAfterRestartMs)),
        outageMs: stats(rounds.flatMap((r) => r.outageMs)),
        delivery,
      });
      assert.equal(world.tunnelProcess.kills, COUNTS.kills);
      await a.close();
      await b.close();
    } finally {
      for (const l of Object.values(ledger)) l.detach();
      await a.sim.close();
      await b.sim.close();
    }
  });
});

describe('tunnel faults on the local stack (official qcloud-weapp-server-sdk business server)', () => {
  let stack;
  before(async () => { stack = await h.startStack({ wafer2: false }); }); // Wafer 1 phones only
  after(async () => { if (stack) await stack.stop(); });

  /**
   * Two phones in the chat room, ledgers on the tunnel and business servers; always cleaned
   * up. Each scenario has its own user names, so late reports of one cannot count in the next.
   */
  let n = 0;
  const scenario = (name, fn, { a: aOptions, b: bOptions } = {}) => test(name, async (t) => {
    n += 1;
    const business = stack.wafer1;
    const ledger = { business: h.serverLedger(business), frames: h.frameLedger(stack.tunnel), pushes: h.pushLedger(stack.tunnel) };
    const a = h.chatClient(stack, `阿甲${n}`, aOptions);
    const b = h.chatClient(stack, `阿乙${n}`, bOptions);
    try {
      await a.connect();
      await b.connect();
      await h.bothInRoom(business, [a, b], 'start');
      await fn(t, { a, b, ledger, business });
      await a.close();
      await b.close();
    } finally {
      stack.resetFaults();
      for (const l of Object.values(ledger)) l.detach();
      await a.sim.close();
      await b.sim.close();
    }
  });

  /** After a fault: both back in the room, the last messages through, delivery checked. */
  async function settleAndAccount(t, key, { a, b, ledger, business }, windows, extra) {
    await h.bothInRoom(business, [a, b], key);
    await h.drained(ledger, [a, b]);
    const delivery = h.deliveryReport(a, b, ledger, windows);
    figure(t, key, { ...extra, delivery });
    return delivery;
  }

  scenario('the tunnel server refuses connections for a while: retries never stop or pile up sockets, then recover', async (t, ctx) => {
    const { a, b } = ctx;
    const talk = keepTalking([a, b], 20);
    let maxSockets = 0;
    const sampler = setInterval(() => { maxSockets = Math.max(maxSockets, a.sim.sockets.open().length, b.sim.sockets.open().length); }, 5);
    let refusedFor;
    const windows = [];
    let detect;
    let recover;
    try {
      await delay(200);
      stack.tunnel.refuse(true);
      const dropAt = now();
      stack.tunnel.dropAll();
      await waitFor(() => a.events.after('reconnecting', dropAt) && b.events.after('reconnecting', dropAt), { message: 'the drop noticed' });
      detect = [a, b].map((c) => c.events.after('reconnecting', dropAt).at - dropAt);
      windows.push({ from: dropAt, to: dropAt + Math.max(...detect) });
      let rejected = 0;
      const onRejected = () => { rejected += 1; };
      stack.tunnel.on('rejected', onRejected);
      await waitFor(() => rejected >= 6, { timeout: 10000, message: 'several refused attempts' });
      stack.tunnel.removeListener('rejected', onRejected);
      assert.ok([a, b].every((c) => c.tunnel.isReconnecting()), 'still RECONNECTING, never CLOSED');
      assert.deepEqual([a, b].map((c) => c.events.count('close')), [0, 0]);
      refusedFor = rejected;
      const onAt = now();
      stack.tunnel.refuse(false);
      await waitFor(() => a.events.after('reconnect', onAt) && b.events.after('reconnect', onAt), { timeout: 10000, message: 'reconnect once accepted again' });
      recover = [a, b].map((c) => c.events.after('reconnect', onAt).at - onAt);
      await delay(200);
    } finally {
      clearInterval(sampler);
      talk.stop();
    }
    assert.ok(maxSockets <= 1, `at most one socket per client at any time, saw ${maxSockets}`);
    for (const c of [a, b]) assert.deepEqual(c.events.errors(), [], `${c.name}: no error event while reconnecting (as 0.8)`);
    await settleAndAccount(t, 'tunnel-refuse', ctx, windows, {
      refusedUpgrades: refusedFor,
      detectMs: stats(detect),
      recoverAfterAcceptMs: stats(recover),
      maxSocketsPerClient: maxSockets,
    });
  });

  scenario('every socket dropped mid-burst, the queue overflowing meanwhile: overflow reported (4001), nothing else lost', async (t, ctx) => {
    const { a, b } = ctx;
    const talkB = keepTalking([b], 20);
    const windows = [];
    let dropAt = null;
    const CHUNK = 20;
    const CHUNKS = 30;
    try {
      for (let i = 0; i < CHUNKS; i += 1) {
        for (let j = 0; j < CHUNK; j += 1) a.say();
        if (i === 5) {
          dropAt = now();
          stack.tunnel.dropAll();
        }
        await new Promise((r) => setImmediate(r));
      }
      await waitFor(() => a.events.after('reconnect', dropAt) && b.events.after('reconnect', dropAt), { timeout: 10000, message: 'both reconnect' });
      await delay(200);
    } finally {
      talkB.stop();
    }
    const detect = [a, b].map((c) => c.events.after('reconnecting', dropAt).at);
    windows.push({ from: dropAt, to: Math.max(...detect) });
    // Never silent: each emit() that returned false raised exactly one 4001, and nothing else did.
    const refused = a.sent.filter((m) => !m.ok).length;
    assert.ok(refused > 0, 'the burst overflowed the queue (queueLimit 50)');
    assert.equal(a.events.errors().filter((c) => c === 4001).length, refused, 'one error 4001 per refused emit()');
    assert.ok(a.sent.filter((m) => !m.ok).every((m) => m.status !== 'ACTIVE'), 'overflow only while not ACTIVE');
    await settleAndAccount(t, 'tunnel-drop-burst', ctx, windows, {
      burst: CHUNK * CHUNKS,
      queueLimit: 50,
      detectMs: stats(detect.map((x) => x - dropAt)),
      recoverMs: stats([a, b].map((c) => c.events.after('reconnect', dropAt).at - dropAt)),
    });
  }, { a: { tunnel: { ...FAST, queueLimit: 50 } } });

  scenario('a half-open link (the server stops answering ping) is detected within two heartbeat intervals, 3 times', async (t, ctx) => {
    const { a, b } = ctx;
    const I = FAST.heartbeatInterval;
    const pings = new Map(); // tunnelId → times of pings the server answered
    const onFrame = ({ tunnelId, text }) => {
      if (text !== 'ping' || stack.tunnel.pongStopped) return;
      if (!pings.has(tunnelId)) pings.set(tunnelId, []);
      pings.get(tunnelId).push(now());
    };
    stack.tunnel.on('frame', onFrame);
    const talk = keepTalking([a, b], 20);
    const rounds = [];
    try {
      for (let k = 0; k < 3; k += 1) {
        const ids = [a.tunnelId(), b.tunnelId()];
        await waitFor(() => ids.every((id) => (pings.get(id) || []).length >= 1), { timeout: 5000, message: 'an answered ping on both links' });
        const lastPong = ids.map((id) => pings.get(id)[pings.get(id).length - 1]);
        const stopAt = now();
        stack.tunnel.stopPong(true);
        await waitFor(() => a.events.after('reconnecting', stopAt) && b.events.after('reconnecting', stopAt), { timeout: 5000, message: 'the dead links noticed' });
        const detected = [a, b].map((c) => c.events.after('reconnecting', stopAt).at);
        const sinceLastPong = detected.map((x, i) => x - lastPong[i]);
        // The protocol's bound: the next ping goes one interval after the last pong, and the
        // link is dead when no pong came within another interval. Slack: scheduler noise.
        for (const d of sinceLastPong) assert.ok(d <= 2 * I + 250, `detected ${ms(d)} ms after the last pong; the bound is 2 × ${I} ms`);
        stack.tunnel.stopPong(false);
        await waitFor(() => [a, b].every((c, i) => c.events.after('reconnect', detected[i])), { timeout: 10000, message: 'reconnect' });
        rounds.push({
          detectAfterStopMs: detected.map((x) => ms(x - stopAt)),
          detectAfterLastPongMs: sinceLastPong.map(ms),
          recoverAfterDetectMs: [a, b].map((c, i) => ms(c.events.after('reconnect', detected[i]).at - detected[i])),
        });
        await h.bothInRoom(ctx.business, [a, b], `round ${k + 1}`);
      }
      await delay(200);
    } finally {
      talk.stop();
      stack.tunnel.removeListener('frame', onFrame);
    }
    // A half-open link loses nothing: the server still read what the client sent.
    await settleAndAccount(t, 'tunnel-half-open', ctx, [], {
      heartbeatIntervalMs: I,
      rounds: rounds.length,
      detectAfterLastPongMs: stats(rounds.flatMap((r) => r.detectAfterLastPongMs)),
      detectAfterStopMs: stats(rounds.flatMap((r) => r.detectAfterStopMs)),
      boundMs: 2 * I,
      recoverAfterDetectMs: stats(rounds.flatMap((r) => r.recoverAfterDetectMs)),
    });
  });

  scenario('the network goes off and on (once for 500 ms, then flapping): an immediate reconnect when it is back', async (t, ctx) => {
    const { a, b } = ctx;
    const talk = keepTalking([a, b], 20);
    const windows = [];
    let figures;
    try {
      await delay(200);
      const offAt = now();
      const socketsBefore = a.sim.counters.sockets;
      a.sim.setNetwork(false);
      await waitFor(() => a.events.after('reconnecting', offAt), { message: 'offline noticed' });
      const detectAt = a.events.after('reconnecting', offAt).at;
      windows.push({ from: offAt, to: detectAt });
      // A request while offline fails once, typed, at once.
      const r = await h.callbacks(a.wafer.request, { url: stack.endpoints.wafer1.user });
      await h.assertCalledOnce(a.sim, r, 'fail');
      h.assertTyped(a.wafer, r.value, 'ERR_REQUEST_FAILED', 'request while offline');
      await delay(500);
      assert.equal(a.sim.counters.sockets, socketsBefore, 'no socket attempted while offline');
      assert.ok(a.tunnel.isReconnecting());
      const onAt = now();
      a.sim.setNetwork(true);
      await waitFor(() => a.events.after('reconnect', onAt), { message: 'back online' });
      const recoverMs = a.events.after('reconnect', onAt).at - onAt;
      await h.bothInRoom(ctx.business, [a, b], 'after offline');
      // Flapping: off and on five times, 60 ms apart.
      const flapAt = now();
      for (let i = 0; i < 5; i += 1) {
        a.sim.setNetwork(false);
        windows.push({ from: now(), to: now() + 100 });
        await delay(60);
        a.sim.setNetwork(true);
        await delay(60);
      }
      await waitFor(() => a.tunnel.isActive() && a.sim.sockets.open().length === 1, { timeout: 10000, message: 'one live socket after flapping' });
      figures = { detectMs: ms(detectAt - offAt), recoverAfterOnlineMs: ms(recoverMs), flapsRecoveredMs: ms(now() - flapAt) };
      await delay(200);
    } finally {
      talk.stop();
    }
    await settleAndAccount(t, 'network-off-on', ctx, windows, figures);
  });

  scenario('the app goes to background (sockets interrupted) and back: reconnect on foreground', async (t, ctx) => {
    const { a, b } = ctx;
    const talk = keepTalking([a, b], 20);
    const windows = [];
    let figures;
    try {
      await delay(200);
      const hideAt = now();
      a.sim.hideApp({ interruptSockets: true });
      await waitFor(() => a.events.after('reconnecting', hideAt), { message: 'interruption noticed' });
      const detectAt = a.events.after('reconnecting', hideAt).at;
      windows.push({ from: hideAt, to: detectAt });
      await delay(400);
      const reconnectedInBackground = !!a.events.after('reconnect', hideAt);
      const showAt = now();
      a.sim.showApp();
      await waitFor(() => a.events.after('reconnect', hideAt), { message: 'reconnect after foreground' });
      const reconnectAt = a.events.after('reconnect', hideAt).at;
      figures = {
        detectMs: ms(detectAt - hideAt),
        recoverAfterForegroundMs: reconnectedInBackground ? 0 : ms(reconnectAt - showAt),
        reconnectedWhileInBackground: reconnectedInBackground,
      };
      // A short background without interruption: the link is checked with a ping, kept.
      const connects = a.events.count('reconnecting');
      a.sim.hideApp();
      a.sim.showApp();
      await delay(300);
      assert.equal(a.events.count('reconnecting'), connects, 'no reconnect after a short background');
      assert.ok(a.tunnel.isActive());
      await delay(100);
    } finally {
      talk.stop();
    }
    await settleAndAccount(t, 'app-background', ctx, windows, figures);
  }, { a: { tunnel: { ...FAST, reconnectBaseDelay: 5000, reconnectMaxDelay: 5000 } } });
});

describe("the platform's 5-socket limit (loopback support server)", () => {
  test('every slot taken by the page: open() fails once with 3001, CLOSED, nothing left', (t) => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const page = [];
    for (let i = 0; i < 5; i += 1) page.push(sim.wx.connectSocket({ url: server.createTunnel().connectUrl }));
    await waitFor(() => sim.sockets.open().every((s) => s.state === 'open') && sim.sockets.open().length === 5);
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const events = timeline(tunnel);
    tunnel.open();
    await waitFor(() => events.count('error') === 1);
    await sim.settle(300);
    assert.deepEqual(events.names(), ['error']);
    assert.equal(events[0].payload.code, 3001);
    assert.equal(tunnel.status, 'CLOSED');
    for (const task of page) task.close({});
    await assertNothingLeft(sim);
  }));

  test('the limit reached while reconnecting: retries until a slot frees, then the queue is delivered in order', (t) => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const events = timeline(tunnel);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1);
    const page = [];
    for (let i = 0; i < 4; i += 1) page.push(sim.wx.connectSocket({ url: server.createTunnel().connectUrl }));
    await waitFor(() => sim.sockets.open().length === 5 && sim.sockets.open().every((s) => s.state === 'open'));
    // The moment the tunnel's socket dies, the page takes the slot it frees.
    tunnel.on('reconnecting', () => page.push(sim.wx.connectSocket({ url: server.createTunnel().connectUrl })));
    const mine = [...server.tunnels.values()].find((r) => r.connectUrl === tunnel.socketUrl);
    const dropAt = now();
    mine.socket.terminate();
    await waitFor(() => events.count('reconnecting') === 1);
    const sent = [];
    for (let i = 0; i < 30; i += 1) sent.push({ seq: i, at: now(), status: tunnel.status, ok: tunnel.emit('seq', i) });
    const handshakes = () => sim.requestLog.filter((r) => r.url.startsWith(server.urls.tunnel)).length;
    await waitFor(() => handshakes() >= 4, { timeout: 5000, message: 'several attempts against the full table' });
    assert.equal(tunnel.status, 'RECONNECTING', 'still trying, not CLOSED');
    assert.equal(sim.sockets.open().length, 5);
    const freeAt = now();
    page.shift().close({});
    await waitFor(() => events.count('reconnect') === 1, { timeout: 5000 });
    const remote = server.latestTunnel();
    await waitFor(() => receivedMessages(remote).length === 30);
    const acc = account(sent, receivedMessages(remote).map((m) => m.content));
    h.assertDelivery(acc, 'queued while the socket table was full');
    assert.equal(acc.delivered, 30);
    assert.deepEqual(events.errors(), [], 'no error event while reconnecting (as 0.8)');
    h.figure(t, 'socket-limit', {
      attemptsWhileFull: handshakes() - 2,
      recoverAfterSlotFreedMs: ms(events.after('reconnect', freeAt).at - freeAt),
      outageMs: ms(events.after('reconnect', dropAt).at - dropAt),
      lostQueued: acc.lostQueued,
    });
    tunnel.close();
    for (const task of page) task.close({});
    await assertNothingLeft(sim);
  }));
});
