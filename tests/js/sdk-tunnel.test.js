'use strict';
// Tunnel (README: tunnel packets, Tunnel API, SocketTask / back-off / queue):
// states and events, message order across (re)connects, dispatch and off(), close(), server
// close, reconnects with fresh handshakes, give-up limits and their precedence, heartbeat and
// `timeout:`, network / app events, several tunnels, queue overflow, hostile frames, listener
// exceptions, and the logger.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');

const {
  withSdk, plain, waitFor, recordEvents, receivedMessages, allReceivedMessages, requestsTo,
  SESSION_KEY, DIALECTS, SESSION_HEADERS, FAST,
} = require('./helpers/sdk');

const SLOW_RETRY = { reconnectBaseDelay: 60000, reconnectMaxDelay: 60000 };
const QUIET = { heartbeatInterval: 60000 };

const pings = (t) => t.frames.filter((f) => f === 'ping').length;
const errorCodes = (events) => events.filter((e) => e.name === 'error').map((e) => e.payload.code);

/** The server-side record of a client tunnel (by its socket URL). */
function serverSide(server, tunnel) {
  const id = new URL(tunnel.socketUrl).searchParams.get('tunnelId');
  return server.tunnels.get(id);
}

/** Log in, open a tunnel and wait for `connect`. */
async function connected(wafer, server, options = FAST, url = server.urls.tunnel) {
  if (!wafer.Session.get()) await wafer.login();
  const tunnel = new wafer.Tunnel(url, options);
  const events = recordEvents(tunnel);
  tunnel.open();
  await waitFor(() => events.count('connect') === 1 || events.count('error') > 0, { message: 'connect' });
  assert.deepEqual(events.names(), ['connect'], JSON.stringify(events.map((e) => e.payload)));
  return { tunnel, events, remote: serverSide(server, tunnel) };
}

/** After close(): no socket and no timer of the SDK left in the page. */
async function assertNothingLeft(sim) {
  await waitFor(() => sim.sockets.open().length === 0 && sim.timers.active().length === 0, {
    message: `left: ${sim.sockets.open().length} socket(s), ${JSON.stringify(sim.timers.active().map((t) => t.delay))} timer(s)`,
  });
}

/** Settings after which a test can wait on absence for a bounded time. */
const QUIET_MS = 300;

for (const dialect of DIALECTS) {
  describe(`${dialect}: tunnel life cycle`, () => {
    test('open() is CONNECTING at once; connect is emitted once ACTIVE; the handshake is a session request', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      assert.equal(tunnel.status, 'CLOSED');
      tunnel.open();
      assert.equal(tunnel.status, 'CONNECTING');
      assert.equal(tunnel.isConnecting(), true);
      assert.equal(tunnel.isClosed() || tunnel.isActive() || tunnel.isReconnecting(), false);
      tunnel.open(); // a second open() while connecting does nothing
      await waitFor(() => events.count('connect') === 1);
      assert.equal(tunnel.isActive(), true);
      assert.deepEqual(events.map((e) => [e.name, e.status]), [['connect', 'ACTIVE']]);
      // One handshake carrying the session headers, one socket to the URL it returned.
      const handshakes = requestsTo(sim, server.urls.tunnel);
      assert.equal(handshakes.length, 1);
      const s = sim.storage.get(SESSION_KEY);
      for (const h of SESSION_HEADERS[dialect]) assert.equal(handshakes[0].header[h], h === 'X-WX-Id' ? s.id : s.skey);
      assert.equal(server.counters.tunnels, 1);
      const remote = server.latestTunnel();
      assert.equal(tunnel.socketUrl, remote.connectUrl);
      assert.deepEqual(sim.sockets.all().map((x) => x.url), [remote.connectUrl]);
      assert.equal(remote.frames.length, 0, 'no ping right after open');
      tunnel.close();
      await assertNothingLeft(sim);
    }));

    test('messages emitted before open and while reconnecting are delivered after (re)connect, in order, exactly once', () => withSdk({ dialect, serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      let n = 0;
      const send = (k) => { for (let i = 0; i < k; i += 1) assert.equal(tunnel.emit('seq', { n: n++ }), true); };
      send(3); // CLOSED
      tunnel.open();
      send(2); // CONNECTING
      await waitFor(() => events.count('connect') === 1);
      await waitFor(() => allReceivedMessages(server).length === 5);
      send(1); // ACTIVE
      await waitFor(() => allReceivedMessages(server).length === 6);
      // Sent from the listener: a jittered retry may reconnect before a poll would notice.
      tunnel.on('reconnecting', () => {
        assert.equal(tunnel.status, 'RECONNECTING');
        send(3); // RECONNECTING
      });
      server.dropAll();
      await waitFor(() => events.count('reconnect') === 1);
      assert.equal(n, 9, 'the three were sent while RECONNECTING');
      send(1); // ACTIVE again
      await waitFor(() => allReceivedMessages(server).length >= 10);
      await sim.settle(50);
      assert.deepEqual(allReceivedMessages(server).map((m) => m.content.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const [first, second] = [...server.tunnels.values()];
      assert.deepEqual(receivedMessages(first).map((m) => m.content.n), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(receivedMessages(second).map((m) => m.content.n), [6, 7, 8, 9]);
      tunnel.close();
      await assertNothingLeft(sim);
    }));

    test('emit() while ACTIVE sends message:{"type","content"} frames', () => withSdk({ dialect, serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const { tunnel, remote } = await connected(wafer, server);
      assert.equal(tunnel.emit('speak', { word: 'hello', n: [1, 2] }), true);
      assert.equal(tunnel.emit('bare'), true);
      assert.equal(tunnel.emit('str', 'text'), true);
      await waitFor(() => receivedMessages(remote).length === 3);
      assert.deepEqual(remote.frames.filter((f) => f.startsWith('message:')), [
        'message:{"type":"speak","content":{"word":"hello","n":[1,2]}}',
        'message:{"type":"bare"}',
        'message:{"type":"str","content":"text"}',
      ]);
      tunnel.close();
    }));

    test('server messages reach on(type) and * (type, payload); reserved names arrive as @name', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const log = [];
      tunnel.on('speak', (p) => log.push(['speak', plain(p)]));
      tunnel.on('*', (type, p) => log.push(['*', type, plain(p)]));
      tunnel.on('@connect', (p) => log.push(['@connect', plain(p)]));
      tunnel.on('@error', (p) => log.push(['@error', plain(p)]));
      const events = recordEvents(tunnel);
      tunnel.open();
      await waitFor(() => events.count('connect') === 1);
      const id = server.latestTunnel().id;
      server.sendMessage(id, 'speak', { word: '你好' });
      server.sendMessage(id, 'connect', { fake: true });
      server.sendMessage(id, 'error', 'not ours');
      server.sendMessage(id, 'other', null);
      server.sendMessage(id, 'nocontent');
      await waitFor(() => log.filter((l) => l[0] === '*').length === 6);
      assert.deepEqual(log, [
        ['*', 'connect', undefined],
        ['speak', { word: '你好' }],
        ['*', 'speak', { word: '你好' }],
        ['*', '@connect', { fake: true }],
        ['@connect', { fake: true }],
        ['*', '@error', 'not ours'],
        ['@error', 'not ours'],
        ['*', 'other', null],
        ['*', 'nocontent', undefined],
      ]);
      assert.equal(events.count('connect'), 1, 'a server "connect" message is not the connect event');
      assert.equal(events.count('error'), 0);
      tunnel.close();
    }));

    test('close(): close packet when ACTIVE, CLOSED, close event, nothing left; close() again is a no-op; open() again works', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const { tunnel, events, remote } = await connected(wafer, server);
      tunnel.close();
      assert.equal(tunnel.status, 'CLOSED');
      assert.equal(tunnel.isClosed(), true);
      await waitFor(() => events.count('close') === 1);
      assert.equal(events.find((e) => e.name === 'close').status, 'CLOSED');
      await waitFor(() => remote.closed);
      assert.equal(remote.gotClosePacket, true);
      assert.equal(remote.frames[remote.frames.length - 1], 'close');
      assert.equal(remote.closedByClient, true);
      await assertNothingLeft(sim);
      tunnel.close();
      await sim.settle(20);
      assert.equal(events.count('close'), 1);
      // Reopen: a fresh handshake and socket.
      tunnel.open();
      await waitFor(() => events.count('connect') === 2);
      assert.equal(server.counters.tunnels, 2);
      assert.notEqual(serverSide(server, tunnel), remote);
      tunnel.close();
      await assertNothingLeft(sim);
      assert.deepEqual(events.names(), ['connect', 'close', 'connect', 'close']);
    }));

    test('close() while CONNECTING: CLOSED at once, close event, never connects', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      server.respondWith(new URL(server.urls.tunnel).pathname, { body: dialect === 'wafer1' ? { url: 'ws://127.0.0.1:9/never' } : { code: 0, data: { connectUrl: 'ws://127.0.0.1:9/never' } }, delayMs: 100 });
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      tunnel.open();
      tunnel.close();
      assert.equal(tunnel.status, 'CLOSED');
      await waitFor(() => requestsTo(sim, server.urls.tunnel).length === 1);
      await sim.settle(QUIET_MS);
      assert.deepEqual(events.names(), ['close']);
      assert.equal(sim.counters.sockets, 0);
      await assertNothingLeft(sim);
    }));

    test('a server close packet closes the tunnel: no reconnect', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const { tunnel, events, remote } = await connected(wafer, server);
      server.closeTunnel(remote.id);
      await waitFor(() => events.count('close') === 1);
      assert.equal(tunnel.status, 'CLOSED');
      await sim.settle(QUIET_MS);
      assert.deepEqual(events.names(), ['connect', 'close']);
      assert.equal(server.counters.tunnels, 1);
      assert.equal(sim.counters.sockets, 1);
      await assertNothingLeft(sim);
    }));

    test('a dropped link: reconnecting, then reconnect with a NEW handshake and socket URL', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const { tunnel, events, remote } = await connected(wafer, server);
      const firstUrl = tunnel.socketUrl;
      server.dropAll();
      await waitFor(() => events.count('reconnect') === 1);
      assert.deepEqual(events.names(), ['connect', 'reconnecting', 'reconnect']);
      assert.equal(events.find((e) => e.name === 'reconnecting').status, 'RECONNECTING');
      assert.equal(events.find((e) => e.name === 'reconnect').status, 'ACTIVE');
      assert.deepEqual(errorCodes(events), [], 'a lost link is no error event (as 0.8): reconnecting says it');
      assert.equal(requestsTo(sim, server.urls.tunnel).length, 2);
      assert.equal(server.counters.tunnels, 2);
      assert.notEqual(tunnel.socketUrl, firstUrl);
      assert.equal(tunnel.socketUrl, server.latestTunnel().connectUrl);
      assert.deepEqual(sim.sockets.all().map((s) => s.url), [remote.connectUrl, tunnel.socketUrl]);
      // It works after the reconnect.
      tunnel.emit('after', 1);
      await waitFor(() => receivedMessages(server.latestTunnel()).length === 1);
      tunnel.close();
      await assertNothingLeft(sim);
    }));

    test('the session expired meanwhile: the reconnect handshake logs in again and retries', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const { tunnel, events } = await connected(wafer, server);
      server.expireAllSessions();
      server.dropAll();
      await waitFor(() => events.count('reconnect') === 1, { message: JSON.stringify(events.names()) });
      assert.equal(server.counters.logins.total, 2);
      assert.equal(server.counters.logins.code, dialect === 'wafer2' ? 1 : 0);
      assert.equal(requestsTo(sim, server.urls.tunnel).length, 3, 'handshake, rejected handshake, retried handshake');
      tunnel.close();
    }));

    test('first handshake failure: error 1001 and CLOSED, no reconnect', () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      // Wafer 2 reads the quickstart's { code: -1 } as a session failure: re-login + retry once.
      server.tunnelHandshakeFails(dialect === 'wafer2' ? 2 : 1);
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      tunnel.open();
      await waitFor(() => events.count('error') === 1);
      assert.equal(tunnel.status, 'CLOSED');
      assert.equal(events[0].status, 'CLOSED');
      const err = events[0].payload;
      assert.equal(err.code, 1001);
      assert.equal(typeof err.message, 'string');
      assert.ok(err.detail, 'the error carries a detail');
      await sim.settle(QUIET_MS);
      assert.deepEqual(events.names(), ['error']);
      assert.equal(sim.counters.sockets, 0);
      assert.equal(requestsTo(sim, server.urls.tunnel).length, dialect === 'wafer2' ? 2 : 1);
      await assertNothingLeft(sim);
      // A later open() works.
      tunnel.open();
      await waitFor(() => events.count('connect') === 1);
      tunnel.close();
    }));
  });
}

describe('tunnel handshake details', () => {
  test('Wafer 2: one { code: -1 } handshake → re-login with the code, then connect', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    server.tunnelHandshakeFails(1);
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const events = recordEvents(tunnel);
    tunnel.open();
    await waitFor(() => events.count('connect') === 1 || events.count('error') === 1);
    assert.deepEqual(events.names(), ['connect']);
    assert.equal(server.counters.logins.code, 1);
    tunnel.close();
  }));

  test('a handshake answer without a usable URL is a 1001, not an exception', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const bodies = [{ url: 'http://127.0.0.1/not-ws' }, {}, 'text', { url: 42 }];
    for (const body of bodies) {
      server.respondWith('/tunnel', { body });
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = recordEvents(tunnel);
      tunnel.open();
      await waitFor(() => events.count('error') === 1, { message: JSON.stringify(body) });
      assert.equal(events[0].payload.code, 1001, JSON.stringify(body));
      assert.equal(tunnel.status, 'CLOSED');
    }
    assert.equal(sim.counters.sockets, 0);
  }));

  test('first socket failure: error 3001 (as 0.8) with the platform result as detail, and CLOSED', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    server.refuseConnections = true;
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const events = recordEvents(tunnel);
    tunnel.open();
    await waitFor(() => events.count('error') === 1);
    assert.equal(events[0].payload.code, 3001);
    assert.equal(events[0].payload.code, wafer.Tunnel.ERR_SOCKET_ERROR);
    assert.equal(typeof events[0].payload.detail.errMsg, 'string', 'the SocketTask error result');
    assert.equal(tunnel.status, 'CLOSED');
    await sim.settle(QUIET_MS);
    assert.deepEqual(events.names(), ['error']);
    assert.equal(sim.counters.sockets, 1);
    await assertNothingLeft(sim);
  }));
});

describe('reconnecting', () => {
  test('a reconnect whose socket fails to open does not get stuck', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events } = await connected(wafer, server);
    server.refuseConnections = true;
    server.dropAll();
    await waitFor(() => server.counters.refusedConnections >= 3);
    assert.equal(tunnel.status, 'RECONNECTING');
    assert.equal(events.count('reconnect'), 0);
    server.refuseConnections = false;
    await waitFor(() => events.count('reconnect') === 1);
    assert.equal(tunnel.status, 'ACTIVE');
    assert.deepEqual(events.names(), ['connect', 'reconnecting', 'reconnect']);
    // Every failed socket was given up: only the live one holds a slot.
    assert.equal(sim.sockets.open().length, 1);
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('handshake failures while reconnecting are retried, not reported as 1001', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events } = await connected(wafer, server);
    server.tunnelHandshakeFails(3);
    server.dropAll();
    await waitFor(() => events.count('reconnect') === 1);
    assert.deepEqual(events.names(), ['connect', 'reconnecting', 'reconnect']);
    assert.equal(requestsTo(sim, server.urls.tunnel).length, 5);
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('while offline the retries wait for the network instead of spinning', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events } = await connected(wafer, server, { heartbeatInterval: 60000, reconnectBaseDelay: 100, reconnectMaxDelay: 100 });
    const before = sim.counters.requests;
    sim.setNetwork(false);
    await waitFor(() => events.count('reconnecting') === 1);
    await sim.settle(600); // six back-off ceilings
    assert.ok(sim.counters.requests - before <= 1, `${sim.counters.requests - before} handshakes attempted while offline`);
    assert.equal(tunnel.status, 'RECONNECTING');
    sim.setNetwork(true);
    await waitFor(() => events.count('reconnect') === 1);
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('retries until closed by default (more than the official 5 tries)', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events } = await connected(wafer, server, { heartbeatInterval: 60000, reconnectBaseDelay: 100, reconnectMaxDelay: 100 });
    server.refuseConnections = true;
    server.dropAll();
    await waitFor(() => server.counters.refusedConnections >= 7, { timeout: 5000 });
    assert.equal(tunnel.status, 'RECONNECTING');
    assert.ok(!events.names().includes('close'));
    tunnel.close();
    assert.equal(tunnel.status, 'CLOSED');
    await assertNothingLeft(sim);
    const refused = server.counters.refusedConnections;
    await sim.settle(QUIET_MS);
    assert.equal(server.counters.refusedConnections, refused, 'no attempt after close()');
  }));

  test('maxReconnectAttempts: exactly that many attempts, then close and error 2001', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const { tunnel, events } = await connected(wafer, server, { ...FAST, maxReconnectAttempts: 2 });
    server.refuseConnections = true;
    server.dropAll();
    await waitFor(() => errorCodes(events).includes(2001));
    assert.deepEqual(events.names(), ['connect', 'reconnecting', 'close', 'error']);
    assert.equal(events.find((e) => e.name === 'close').status, 'CLOSED');
    assert.equal(tunnel.status, 'CLOSED');
    assert.equal(server.counters.refusedConnections, 2);
    assert.equal(requestsTo(sim, server.urls.tunnel).length, 3);
    await assertNothingLeft(sim);
    await sim.settle(QUIET_MS);
    assert.equal(requestsTo(sim, server.urls.tunnel).length, 3);
  }));

  test('precedence of the attempt limit: Tunnel options > configure() > Tunnel.MAX_RECONNECT_TRY_TIMES > default', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    wafer.Tunnel.MAX_RECONNECT_TRY_TIMES = 1;
    wafer.Tunnel.RECONNECT_TIME_INCREASE = 100;
    const handshakes = (tag) => sim.requestLog.filter((r) => r.url.includes(`t=${tag}`)).length;
    async function attemptsOf(tag, options) {
      const url = `${server.urls.tunnel}?t=${tag}`;
      const { tunnel, events } = await connected(wafer, server, { heartbeatInterval: 60000, reconnectMaxDelay: 100, ...options }, url);
      server.refuseConnections = true;
      server.dropAll();
      await waitFor(() => errorCodes(events).includes(2001), { message: tag });
      server.refuseConnections = false;
      assert.equal(tunnel.status, 'CLOSED');
      return handshakes(tag) - 1;
    }
    assert.equal(await attemptsOf('static'), 1, 'Tunnel.MAX_RECONNECT_TRY_TIMES');
    wafer.configure({ maxReconnectAttempts: 2 });
    assert.equal(await attemptsOf('configure'), 2, 'configure() beats the static knob');
    assert.equal(await attemptsOf('option', { maxReconnectAttempts: 3 }), 3, 'the Tunnel option beats configure()');
    await assertNothingLeft(sim);
  }));

  test('precedence of the base delay: Tunnel.RECONNECT_TIME_INCREASE is below configure() and Tunnel options', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    wafer.Tunnel.RECONNECT_TIME_INCREASE = 60000; // a minute: a test would time out on it
    for (const [label, configure, options] of [
      ['option', null, { reconnectBaseDelay: 100 }],
      ['configure', { reconnectBaseDelay: 100 }, {}],
    ]) {
      if (configure) wafer.configure(configure);
      const { tunnel, events } = await connected(wafer, server, { heartbeatInterval: 60000, reconnectMaxDelay: 100, ...options });
      server.dropAll();
      await waitFor(() => events.count('reconnect') === 1, { message: label });
      tunnel.close();
    }
    await assertNothingLeft(sim);
  }));

  test('Tunnel.RECONNECT_TIME_INCREASE beats the 1 s default (back-off delays from the logger)', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const records = [];
    wafer.configure({ logger: (r) => records.push(plain(r)) });
    wafer.Tunnel.RECONNECT_TIME_INCREASE = 100;
    const { events } = await connected(wafer, server, { heartbeatInterval: 60000, reconnectMaxDelay: 150, maxReconnectAttempts: 5 });
    server.refuseConnections = true;
    server.dropAll();
    await waitFor(() => errorCodes(events).includes(2001), { timeout: 5000 });
    const retries = records.filter((r) => r.scope === 'tunnel' && r.event === 'retry');
    assert.equal(retries.length, 5);
    // Capped exponential with full jitter: attempt k waits 0 ..= min(cap, base * 2^(k-1)).
    for (const r of retries) {
      const ceiling = Math.min(150, 100 * 2 ** (r.attempt - 1));
      assert.ok(r.delay >= 0 && r.delay <= ceiling, `attempt ${r.attempt}: delay ${r.delay} > ${ceiling} (base 100 ms from the static knob, not the 1 s default)`);
    }
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2, 3, 4, 5]);
  }));
});

describe('heartbeat', () => {
  test('a half-open link (no pong) is detected after one unanswered ping and reconnects', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events, remote } = await connected(wafer, server, { heartbeatInterval: 200, reconnectBaseDelay: 100, reconnectMaxDelay: 100 });
    server.stopPong = true;
    await waitFor(() => events.count('reconnecting') === 1, { timeout: 2000 });
    assert.equal(pings(remote), 1, 'declared dead within two heartbeat intervals: one ping, no pong');
    server.stopPong = false;
    await waitFor(() => events.count('reconnect') === 1);
    await waitFor(() => remote.closed);
    assert.equal(remote.closedByClient, true, 'the client gave up the dead socket');
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('answered pings keep the link', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const { tunnel, events, remote } = await connected(wafer, server, { heartbeatInterval: 100 });
    await waitFor(() => pings(remote) >= 4);
    const seen = pings(remote);
    await sim.settle(300);
    assert.ok(pings(remote) - seen <= 5, `${pings(remote) - seen} pings in 300 ms at a 100 ms interval: the next ping waits the interval after a pong`);
    assert.deepEqual(events.names(), ['connect']);
    assert.equal(sim.timers.active().length, 1, 'one timer per tunnel, however many heartbeats');
    assert.equal(server.counters.tunnels, 1);
    tunnel.close();
  }));

  test('server timeout:<n> sets the interval and pings at once', () => withSdk({ dialect: 'wafer1', serverOptions: { tunnelTimeout: 1 } }, async ({ sim, server, wafer }) => {
    const { tunnel, remote } = await connected(wafer, server, QUIET);
    await waitFor(() => pings(remote) === 1, { timeout: 500, message: 'immediate ping after timeout:' });
    await waitFor(() => pings(remote) === 2, { timeout: 2500, message: 'next ping one second later, not 60 s' });
    tunnel.close();
  }));

  test('timeout:0 is clamped (no ping loop); non-numbers are ignored', () => withSdk({ dialect: 'wafer1', serverOptions: { tunnelTimeout: 0 } }, async ({ sim, server, wafer }) => {
    const { tunnel, events, remote } = await connected(wafer, server, QUIET);
    await waitFor(() => pings(remote) === 1);
    await sim.settle(QUIET_MS);
    assert.equal(pings(remote), 1, 'timeout:0 must not become a ping loop');
    const { tunnel: t2, remote: r2 } = await (async () => {
      server.tunnelTimeout = null;
      return connected(wafer, server, QUIET);
    })();
    for (const f of ['timeout:abc', 'timeout:-5', 'timeout:', 'timeout:1e3', 'timeout:NaN', 'timeout:Infinity']) server.sendTo(r2.id, f);
    await sim.settle(QUIET_MS);
    assert.equal(pings(r2), 0, 'ignored timeout packets change nothing');
    assert.equal(t2.status, 'ACTIVE');
    assert.deepEqual(events.names(), ['connect']);
    tunnel.close();
    t2.close();
    await assertNothingLeft(sim);
  }));
});

describe('network and app events', () => {
  test('network back on: an immediate retry', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events } = await connected(wafer, server, { ...QUIET, ...SLOW_RETRY });
    sim.setNetwork(false);
    await waitFor(() => events.count('reconnecting') === 1);
    assert.equal(tunnel.status, 'RECONNECTING');
    await sim.settle(50);
    sim.setNetwork(true);
    await waitFor(() => events.count('reconnect') === 1, { message: 'reconnect right after the network came back (the back-off is a minute)' });
    assert.equal(tunnel.status, 'ACTIVE');
    tunnel.close();
    await assertNothingLeft(sim);
  }));

  test('app back in the foreground: an immediate retry; while ACTIVE: an immediate ping', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const { tunnel, events, remote } = await connected(wafer, server, { ...QUIET, ...SLOW_RETRY });
    sim.hideApp();
    sim.showApp();
    await waitFor(() => pings(remote) === 1, { message: 'a ping checks the link on app show' });
    await waitFor(() => remote.sent.includes('pong'));
    sim.hideApp({ interruptSockets: true });
    await waitFor(() => events.count('reconnecting') === 1);
    await sim.settle(50);
    assert.equal(tunnel.status, 'RECONNECTING');
    sim.showApp();
    await waitFor(() => events.count('reconnect') === 1);
    assert.deepEqual(events.names(), ['connect', 'reconnecting', 'reconnect']);
    tunnel.close();
    await assertNothingLeft(sim);
  }));
});

describe('several tunnels', () => {
  test('five tunnels at once work independently; a sixth socket fails cleanly with 3001', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const list = [];
    for (let i = 0; i < 5; i += 1) list.push(await connected(wafer, server, FAST, `${server.urls.tunnel}?n=${i}`));
    assert.equal(sim.sockets.open().length, 5);
    assert.equal(sim.timers.active().length, 5, 'one heartbeat timer per tunnel');
    assert.deepEqual(sim.listenerCounts(), { networkStatus: 1, appShow: 1, appHide: 0 }, 'one set of wx event listeners for the SDK, not one per tunnel');
    const got = list.map(() => []);
    list.forEach(({ tunnel }, i) => tunnel.on('note', (p) => got[i].push(p)));
    list.forEach(({ tunnel }, i) => tunnel.emit('mine', i));
    await waitFor(() => list.every(({ remote }) => receivedMessages(remote).length === 1));
    list.forEach(({ remote }, i) => assert.deepEqual(receivedMessages(remote), [{ type: 'mine', content: i }]));
    server.sendMessage(list[3].remote.id, 'note', 'for 3');
    await waitFor(() => got[3].length === 1);
    await sim.settle(20);
    assert.deepEqual(got, [[], [], [], ['for 3'], []]);

    const sixth = new wafer.Tunnel(server.urls.tunnel, FAST);
    const sixthEvents = recordEvents(sixth);
    sixth.open();
    await waitFor(() => sixthEvents.count('error') === 1);
    assert.equal(sixthEvents[0].payload.code, 3001);
    assert.equal(sixth.status, 'CLOSED');
    assert.deepEqual(sim.errors, []);
    assert.ok(list.every(({ tunnel }) => tunnel.isActive()));

    // The server closes one: the others are untouched.
    server.closeTunnel(list[1].remote.id);
    await waitFor(() => list[1].events.count('close') === 1);
    await sim.settle(50);
    assert.deepEqual(list.map(({ tunnel }) => tunnel.status), ['ACTIVE', 'CLOSED', 'ACTIVE', 'ACTIVE', 'ACTIVE']);
    // A slot is free again.
    sixth.open();
    await waitFor(() => sixthEvents.count('connect') === 1);
    assert.equal(sim.sockets.open().length, 5);
    for (const { tunnel } of list) tunnel.close();
    sixth.close();
    await assertNothingLeft(sim);
  }));
});

describe('send queue', () => {
  test('queue overflow: emit() returns false and error 4001 at once; queued messages still go out in order', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, { ...FAST, queueLimit: 3 });
    const events = recordEvents(tunnel);
    assert.equal(tunnel.emit('q', 1), true);
    assert.equal(tunnel.emit('q', 2), true);
    assert.equal(tunnel.emit('q', 3), true);
    assert.equal(tunnel.emit('q', 4), false);
    assert.deepEqual(errorCodes(events), [4001], 'the error event is emitted before emit() returns');
    tunnel.open();
    assert.equal(tunnel.emit('q', 5), false);
    assert.deepEqual(errorCodes(events), [4001, 4001]);
    await waitFor(() => events.count('connect') === 1);
    await waitFor(() => allReceivedMessages(server).length === 3);
    // While ACTIVE nothing waits in the queue.
    for (let i = 6; i < 16; i += 1) assert.equal(tunnel.emit('q', i), true);
    await waitFor(() => allReceivedMessages(server).length === 13);
    assert.deepEqual(allReceivedMessages(server).map((m) => m.content), [1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    assert.equal(tunnel.status, 'ACTIVE');
    tunnel.close();
  }));

  test('queueLimit 0 rejects every emit while not ACTIVE; configure({ queueLimit }) applies to new tunnels', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.init();
    const a = new wafer.Tunnel(server.urls.tunnel, { queueLimit: 0 });
    const ea = recordEvents(a);
    assert.equal(a.emit('x', 1), false);
    assert.deepEqual(errorCodes(ea), [4001]);
    wafer.configure({ queueLimit: 1 });
    const b = new wafer.Tunnel(server.urls.tunnel);
    const eb = recordEvents(b);
    assert.equal(b.emit('x', 1), true);
    assert.equal(b.emit('x', 2), false);
    assert.deepEqual(errorCodes(eb), [4001]);
  }));

  test('content JSON cannot encode: emit() returns false with error 4002, nothing queued', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
    const { tunnel, events, remote } = await connected(wafer, server);
    const circular = sim.evaluate('(() => { const o = {}; o.self = o; return o; })()');
    assert.equal(tunnel.emit('bad', circular), false);
    assert.deepEqual(errorCodes(events), [4002]);
    assert.equal(tunnel.emit(42, 'not a string type'), false);
    assert.equal(tunnel.emit('good', 1), true);
    await waitFor(() => receivedMessages(remote).length === 1);
    await sim.settle(20);
    assert.deepEqual(receivedMessages(remote), [{ type: 'good', content: 1 }]);
    assert.equal(tunnel.status, 'ACTIVE');
    tunnel.close();
  }));
});

describe('robustness', () => {
  test('hostile frames are dropped: no exception in page code, still ACTIVE', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, events, remote } = await connected(wafer, server);
    const seen = [];
    tunnel.on('*', (type, payload) => seen.push(type));
    const big = `message:${JSON.stringify({ type: 'big', content: 'x'.repeat(1 << 20) })}`;
    const frames = [
      '', ':', 'message', 'message:', 'message:{not json', 'message:null', 'message:"text"', 'message:42',
      'message:[]', 'message:{"content":1}', 'message:{"type":5,"content":1}', 'message:{"type":""}',
      'hello', 'hello:world', 'PONG', 'pong:extra:stuff', '弹幕:x', 'x'.repeat(100), big,
      `message:${'['.repeat(100000)}`,
    ];
    server.sendBinary(remote.id, [1, 2, 3, 0xff]);
    for (const f of frames) server.sendTo(remote.id, f);
    server.sendMessage(remote.id, 'valid', { ok: true });
    await waitFor(() => seen.includes('valid'), { timeout: 5000 });
    await sim.settle(20);
    assert.deepEqual(seen, ['valid'], 'only the valid message reached listeners');
    assert.equal(tunnel.status, 'ACTIVE');
    assert.deepEqual(events.names(), ['connect']);
    assert.deepEqual(sim.errors, []);
    assert.equal(server.counters.tunnels, 1);
    tunnel.close();
  }));

  test('a large valid message (900 KB) is delivered intact', () => withSdk({ dialect: 'wafer1', serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
    const { tunnel, remote } = await connected(wafer, server);
    const big = `${'数据'.repeat(200000)}${'z'.repeat(500000)}`;
    let got = null;
    tunnel.on('big', (p) => { got = p; });
    server.sendMessage(remote.id, 'big', { big });
    await waitFor(() => got, { timeout: 5000 });
    assert.equal(got.big.length, big.length);
    assert.equal(got.big === big, true);
    assert.equal(tunnel.emit('back', { big }), true);
    await waitFor(() => receivedMessages(remote).length === 1, { timeout: 5000 });
    assert.equal(receivedMessages(remote)[0].content.big, big);
    tunnel.close();
  }));

  test('maxFrameSize drops longer inbound frames', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    const { tunnel, remote } = await connected(wafer, server, { ...FAST, maxFrameSize: 1000 });
    const seen = [];
    tunnel.on('m', (p) => seen.push(p.length));
    server.sendMessage(remote.id, 'm', 'y'.repeat(2000));
    server.sendMessage(remote.id, 'm', 'y'.repeat(500));
    await waitFor(() => seen.length === 1);
    await sim.settle(20);
    assert.deepEqual(seen, [500]);
    assert.equal(tunnel.status, 'ACTIVE');
    tunnel.close();
  }));

  test('an exception thrown by a listener is reported and breaks nothing', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
    const order = [];
    tunnel.on('connect', () => { order.push('connect-1'); throw new Error('listener bug on connect'); });
    tunnel.on('connect', () => order.push('connect-2'));
    tunnel.on('speak', (p) => { order.push(`a:${p}`); throw new Error('listener bug on speak'); });
    tunnel.on('speak', (p) => order.push(`b:${p}`));
    tunnel.on('*', (t) => { if (t === 'speak') throw new Error('wildcard bug'); });
    tunnel.open();
    await waitFor(() => order.includes('connect-2'));
    const remote = serverSide(server, tunnel);
    server.sendMessage(remote.id, 'speak', 1);
    server.sendMessage(remote.id, 'speak', 2);
    await waitFor(() => order.includes('b:2'));
    assert.deepEqual(order, ['connect-1', 'connect-2', 'a:1', 'b:1', 'a:2', 'b:2']);
    assert.equal(tunnel.status, 'ACTIVE');
    assert.deepEqual(sim.errors, [], 'nothing reached the page as an uncaught error');
    const reported = sim.logs.filter((l) => l.level === 'error').map((l) => l.args.map(String).join(' '));
    for (const text of ['listener bug on connect', 'listener bug on speak', 'wildcard bug']) {
      assert.ok(reported.some((r) => r.includes(text)), `${text} reported`);
    }
    // Re-entrancy: a listener may close the tunnel or emit.
    tunnel.on('bye', () => tunnel.close());
    tunnel.on('ask', () => tunnel.emit('answer', 42));
    server.sendMessage(remote.id, 'ask');
    await waitFor(() => receivedMessages(remote).some((m) => m.type === 'answer'));
    server.sendMessage(remote.id, 'bye');
    await waitFor(() => tunnel.isClosed());
    await assertNothingLeft(sim);
  }));

  test('off(type, fn), off(type), off()', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    const { tunnel, remote } = await connected(wafer, server);
    const log = [];
    const a = (p) => log.push(`a${p}`);
    const b = (p) => log.push(`b${p}`);
    const c = (p) => log.push(`c${p}`);
    const w = (t, p) => { if (t !== 'close') log.push(`*${p}`); };
    const closed = () => log.push('close');
    assert.equal(tunnel.on('speak', a).on('speak', b).on('other', c).on('*', w).on('close', closed), tunnel, 'on() chains');
    const round = async (p) => {
      const before = log.length;
      server.sendMessage(remote.id, 'speak', p);
      server.sendMessage(remote.id, 'other', p);
      server.sendMessage(remote.id, 'sync', p);
      await waitFor(() => syncs === p);
      return log.slice(before);
    };
    let syncs = 0;
    tunnel.on('sync', (p) => { syncs = p; });
    assert.deepEqual(await round(1), ['a1', 'b1', '*1', 'c1', '*1', '*1']);
    assert.equal(tunnel.off('speak', a), tunnel, 'off() chains');
    assert.deepEqual(await round(2), ['b2', '*2', 'c2', '*2', '*2']);
    tunnel.off('speak');
    assert.deepEqual(await round(3), ['*3', 'c3', '*3', '*3']);
    tunnel.off('*', w);
    assert.deepEqual(await round(4), ['c4']);
    tunnel.off('other', b); // not registered there: nothing happens
    assert.deepEqual(await round(5), ['c5']);
    tunnel.off();
    const before = log.length;
    server.sendMessage(remote.id, 'other', 6);
    server.sendMessage(remote.id, 'sync', 6);
    await sim.settle(100);
    tunnel.close();
    await sim.settle(20);
    assert.equal(log.length, before, `off() removed everything, the close listener too: ${JSON.stringify(log.slice(before))}`);
    assert.equal(syncs, 5);
  }));
});

describe('logger', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect}: structured records (states, retries, delays, packet kinds and sizes), never the skey or message content`, () => withSdk({ dialect, serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      const records = [];
      wafer.configure({ logger: (r) => records.push(r) });
      const SECRET_OUT = 'TOP-SECRET-OUTBOUND-7731';
      const SECRET_IN = 'TOP-SECRET-INBOUND-9902';
      await wafer.request({ url: server.urls.user, login: true });
      const { tunnel, events, remote } = await connected(wafer, server);
      tunnel.emit('msg', { text: SECRET_OUT });
      server.sendMessage(remote.id, 'news', { text: SECRET_IN });
      await waitFor(() => receivedMessages(remote).length === 1 && records.some((r) => r.event === 'packet-in' && r.kind === 'message'));
      server.expireAllSessions();
      server.dropAll();
      await waitFor(() => events.count('reconnect') === 1);
      const second = serverSide(server, tunnel);
      tunnel.emit('msg', { text: SECRET_OUT });
      await waitFor(() => receivedMessages(second).length === 1);
      tunnel.close();
      await assertNothingLeft(sim);

      const recs = plain(records);
      for (const r of recs) {
        assert.equal(typeof r.scope, 'string', JSON.stringify(r));
        assert.equal(typeof r.event, 'string', JSON.stringify(r));
      }
      const tunnelRecs = recs.filter((r) => r.scope === 'tunnel');
      const states = tunnelRecs.filter((r) => r.event === 'state').map((r) => `${r.from}>${r.to}`);
      assert.deepEqual(states, ['CLOSED>CONNECTING', 'CONNECTING>ACTIVE', 'ACTIVE>RECONNECTING', 'RECONNECTING>ACTIVE', 'ACTIVE>CLOSED']);
      const retries = tunnelRecs.filter((r) => r.event === 'retry');
      assert.ok(retries.length >= 1);
      for (const r of retries) {
        assert.equal(typeof r.attempt, 'number');
        assert.equal(typeof r.delay, 'number');
        assert.ok(r.delay >= 0 && r.delay <= FAST.reconnectMaxDelay, `back-off delay ${r.delay}`);
      }
      const out = tunnelRecs.filter((r) => r.event === 'packet-out' && r.kind === 'message');
      const outFrame = `message:${JSON.stringify({ type: 'msg', content: { text: SECRET_OUT } })}`;
      assert.deepEqual(out.map((r) => r.size), [outFrame.length, outFrame.length]);
      const inbound = tunnelRecs.filter((r) => r.event === 'packet-in' && r.kind === 'message');
      assert.deepEqual(inbound.map((r) => r.size), [`message:${JSON.stringify({ type: 'news', content: { text: SECRET_IN } })}`.length]);
      assert.ok(tunnelRecs.some((r) => r.event === 'packet-out' && r.kind === 'close'));
      assert.ok(recs.some((r) => r.scope === 'session'), 'session records too');
      assert.ok(recs.some((r) => r.scope === 'request' && r.event === 'retry'), 'the handshake retry after the session expired');

      // Never a credential, a code or message content.
      const text = JSON.stringify(recs);
      const secrets = [SECRET_OUT, SECRET_IN, ...sim.wechat.codes];
      for (const s of server.state.sessions.values()) secrets.push(s.skey);
      for (const r of sim.requestLog) for (const [k, v] of Object.entries(r.header)) if (/^x-wx-(skey|id|code|encrypted-data|iv)$/i.test(k)) secrets.push(v);
      assert.ok(secrets.length >= 6);
      for (const s of secrets) assert.ok(!text.includes(s), `a log record contains ${s}`);
    }));
  }

  test('a throwing logger is reported and breaks nothing; logger: null removes it', () => withSdk({ dialect: 'wafer1' }, async ({ sim, server, wafer }) => {
    let calls = 0;
    wafer.configure({ logger: () => { calls += 1; throw new Error('logger bug'); } });
    const { tunnel } = await connected(wafer, server);
    assert.ok(calls > 0);
    assert.deepEqual(sim.errors, []);
    assert.ok(sim.logs.some((l) => l.level === 'error' && l.args.map(String).join(' ').includes('logger bug')));
    wafer.configure({ logger: null });
    const before = calls;
    tunnel.close();
    await wafer.request({ url: server.urls.user });
    assert.equal(calls, before);
  }));
});
