'use strict';
// Server-side faults (docs/RELIABILITY.md, "Service faults"): the auth server down, slow past
// the request timeout, or answering garbage / HTTP 500; the business server answering 500,
// HTML, or nothing at all (down: wx.request fails) or too late (wx.request times out) — on the
// local stack with the official qcloud-weapp-server-sdk (Wafer 1) and the Wafer 2 server;
// then empty bodies and bodies without the expected fields from the loopback support server.
//
// For login(), request() and the tunnel handshake: exactly one `fail` (or `success`) then
// `complete`, a typed error, nothing thrown into page code, no unhandled rejection, nothing
// stored from a failed login, and the first call after the fault clears works. A tunnel that
// drops while the fault lasts keeps retrying and recovers with its queued messages.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const {
  FAST, MAGIC, figure, now, ms, waitFor, delay, callbacks, assertCalledOnce, assertTyped, outcome,
  account, assertDelivery, assertNothingLeft, assertPageClean, timeline, withSdk, receivedMessages,
} = h;

const TIMEOUT = 200; // configure({ requestTimeout })
const SLOW = 600; // how late a slow server answers

/**
 * The faults, with what the SDK must report. `login`: LoginError type of a login that needs the
 * server; `request`: `{ error }` (RequestError type) or `{ status }` (delivered as a result);
 * `clears`: the stored session is dropped (a Wafer 1 magic-id answer always is, as in 0.8);
 * `slow`: the server answers after the SDK gave up (so a late second callback would show).
 */
const FAULTS = [
  {
    name: 'auth server down',
    dialects: ['wafer1'],
    set: (s) => { s.auth.down = true; },
    login: 'ERR_LOGIN_MISSING_SESSION',
    request: { error: 'ERR_CHECK_LOGIN_FAILED' },
    clears: true,
  },
  {
    name: 'auth server slow past the request timeout',
    dialects: ['wafer1'],
    set: (s) => { s.auth.slowMs = SLOW; },
    login: 'ERR_LOGIN_TIMEOUT',
    request: { error: 'ERR_REQUEST_TIMEOUT' },
    slow: true,
  },
  {
    name: 'auth server answering garbage',
    dialects: ['wafer1'],
    set: (s) => { s.auth.garbage = true; },
    login: 'ERR_LOGIN_MISSING_SESSION',
    request: { error: 'ERR_CHECK_LOGIN_FAILED' },
    clears: true,
  },
  {
    name: 'auth server answering HTTP 500',
    dialects: ['wafer1'],
    set: (s) => { s.auth.httpStatus = 500; },
    login: 'ERR_LOGIN_MISSING_SESSION',
    request: { error: 'ERR_CHECK_LOGIN_FAILED' },
    clears: true,
  },
  {
    name: 'business server answering HTTP 500',
    dialects: ['wafer1', 'wafer2'],
    set: (s, d) => { s[d].httpStatus = 500; },
    login: 'ERR_LOGIN_FAILED',
    request: { status: 500 },
  },
  {
    name: 'business server answering HTML',
    dialects: ['wafer1', 'wafer2'],
    set: (s, d) => { s[d].garbage = '<html><body><h1>502 Bad Gateway</h1></body></html>'; },
    login: 'ERR_LOGIN_MISSING_SESSION',
    request: { status: 200 },
  },
  {
    name: 'business server answering a body without the expected fields',
    dialects: ['wafer1', 'wafer2'],
    set: (s, d) => { s[d].garbage = '{"code":0,"message":"ok"}'; },
    login: 'ERR_LOGIN_MISSING_SESSION',
    request: { status: 200, json: true },
  },
  {
    name: 'business server down (wx.request fails)',
    dialects: ['wafer1', 'wafer2'],
    set: (s, d) => { s[d].down = true; },
    login: 'ERR_LOGIN_FAILED',
    request: { error: 'ERR_REQUEST_FAILED' },
  },
  {
    name: 'business server slow past the request timeout (wx.request times out)',
    dialects: ['wafer1', 'wafer2'],
    set: (s, d) => { s[d].slowMs = SLOW; },
    login: 'ERR_LOGIN_TIMEOUT',
    request: { error: 'ERR_REQUEST_TIMEOUT' },
    slow: true,
  },
];


describe('service faults on the local stack', () => {
  let stack;
  before(async () => { stack = await h.startStack(); });
  after(async () => { if (stack) await stack.stop(); });

  let n = 0;
  /** A phone of a new user on the stack (nothing stored yet), requestTimeout TIMEOUT. */
  function phone(dialect, tunnel = FAST) {
    n += 1;
    const c = h.chatClient(stack, `用户${n}`, { dialect, tunnel });
    c.wafer.configure({ requestTimeout: TIMEOUT });
    return c;
  }

  /** Run `fn` with a fault on; always reset the stack and close the phones after. */
  const withFault = (fault, dialect, fn) => async (t) => {
    const phones = [];
    try {
      await fn(t, { make: (...args) => { const p = phone(...args); phones.push(p); return p; }, on: () => fault.set(stack, dialect) });
      for (const p of phones) {
        await p.sim.settle();
        assertPageClean(p.sim, p.name);
      }
    } finally {
      stack.resetFaults();
      for (const p of phones) await p.sim.close();
    }
  };

  for (const fault of FAULTS) {
    for (const dialect of fault.dialects) {
      describe(`${fault.name} (${dialect})`, () => {
        const ep = () => stack.endpoints[dialect];

        test('login(): one typed failure per call (callbacks and promise), nothing stored; works once the fault clears', withFault(fault, dialect, async (t, { make, on }) => {
          const p = make(dialect);
          await p.wafer.init();
          on();
          const t0 = now();
          let failMs = null;
          const [cb, pr] = await Promise.all([
            callbacks(p.wafer.login, {}).then((r) => { failMs = now() - t0; return r; }),
            outcome(p.wafer.login()), // shares the login in flight
          ]);
          if (fault.slow) await delay(SLOW + 100); // the late answers arrive: no second callback
          await assertCalledOnce(p.sim, cb, 'fail');
          assertTyped(p.wafer, cb.value, fault.login, 'callback login');
          assert.ok(cb.value instanceof p.wafer.LoginError);
          assert.equal(pr.ok, false);
          assertTyped(p.wafer, pr.error, fault.login, 'promise login');
          assert.equal(p.wafer.Session.get(), null, 'nothing stored');
          stack.resetFaults();
          const okAt = now();
          const user = await p.wafer.login();
          assert.equal(user.nickName, p.name);
          assert.ok(p.wafer.Session.get(), 'stored after the fault');
          figure(t, 'service-login', { fault: fault.name, dialect, error: cb.value.type, failMs: ms(failMs), recoverMs: ms(now() - okAt) });
        }));

        test(`request(): ${fault.request.error ? `RequestError ${fault.request.error}` : `delivered as a result (HTTP ${fault.request.status})`}, once; the next request after the fault works`, withFault(fault, dialect, async (t, { make, on }) => {
          const p = make(dialect);
          await p.wafer.login();
          on();
          const t0 = now();
          let doneMs = null;
          const [cb, pr] = await Promise.all([
            callbacks(p.wafer.request, { url: ep().user }).then((r) => { doneMs = now() - t0; return r; }),
            outcome(p.wafer.request({ url: ep().user })),
          ]);
          if (fault.slow) await delay(SLOW + 100);
          if (fault.request.error) {
            await assertCalledOnce(p.sim, cb, 'fail');
            assertTyped(p.wafer, cb.value, fault.request.error, 'callback request');
            assertTyped(p.wafer, pr.error, fault.request.error, 'promise request');
          } else {
            await assertCalledOnce(p.sim, cb, 'success');
            assert.equal(cb.value.statusCode, fault.request.status);
            assert.equal(typeof cb.value.data, fault.request.json ? 'object' : 'string', 'the body as the server sent it');
            assert.equal(pr.value.statusCode, fault.request.status);
          }
          assert.equal(p.wafer.Session.get() === null, !!fault.clears, fault.clears ? 'a magic-id answer clears the session' : 'the session is kept');
          stack.resetFaults();
          const okAt = now();
          const res = await p.wafer.request({ url: ep().user, login: true });
          assert.equal(res.statusCode, 200);
          assert.equal(res.data.code, 0, JSON.stringify(res.data));
          figure(t, 'service-request', { fault: fault.name, dialect, outcome: fault.request.error || `HTTP ${fault.request.status}`, doneMs: ms(doneMs), sessionCleared: !!fault.clears, recoverMs: ms(now() - okAt) });
        }));

        test('tunnel open() during the fault: one error 1001, CLOSED, nothing left; opens once the fault clears', withFault(fault, dialect, async (t, { make, on }) => {
          const p = make(dialect);
          await p.wafer.login();
          on();
          const tunnel = new p.wafer.Tunnel(ep().tunnel, FAST);
          const events = timeline(tunnel);
          tunnel.open();
          await waitFor(() => events.count('error') === 1, { timeout: 5000 });
          if (fault.slow) await delay(SLOW + 100);
          await p.sim.settle(100);
          assert.deepEqual(events.names(), ['error']);
          assert.equal(events[0].payload.code, 1001);
          assert.equal(tunnel.status, 'CLOSED');
          await assertNothingLeft(p.sim);
          stack.resetFaults();
          if (fault.clears) await p.wafer.login(); // the failed handshake cleared the session (as 0.8 does)
          tunnel.open();
          await waitFor(() => events.count('connect') === 1, { timeout: 5000 });
          tunnel.close();
          await assertNothingLeft(p.sim);
        }));

        test('an active tunnel dropped during the fault keeps retrying, then reconnects and delivers what was queued', withFault(fault, dialect, async (t, { make, on }) => {
          const p = make(dialect);
          await p.connect();
          const frames = h.frameLedger(stack.tunnel);
          try {
            on();
            const dropAt = now();
            stack.tunnel.dropAll();
            await waitFor(() => p.events.after('reconnecting', dropAt), { message: 'the drop noticed' });
            for (let i = 0; i < 10; i += 1) p.say();
            // An attempt is a handshake, or (once a rejected handshake cleared the session)
            // the login the next handshake starts with.
            const handshakes = () => p.sim.requestLog.filter((r) => [ep().tunnel, ep().login].includes(r.url.split('?')[0])).length;
            const before = handshakes();
            await waitFor(() => handshakes() - before >= 3, { timeout: 10000, message: 'several attempts during the fault' });
            assert.equal(p.tunnel.status, 'RECONNECTING');
            assert.deepEqual(p.events.errors(), [], 'no error event while reconnecting (as 0.8)');
            const clearAt = now();
            stack.resetFaults();
            await waitFor(() => p.events.after('reconnect', dropAt), { timeout: 3000, message: 'reconnect after the fault clears' });
            await waitFor(() => frames.of(p.name).length >= 10, { message: 'the queued messages at the tunnel server' });
            const acc = account(p.sent, frames.of(p.name));
            assertDelivery(acc, `${p.name} queued during ${fault.name}`);
            figure(t, 'service-reconnect', { fault: fault.name, dialect, attemptsDuringFault: handshakes() - before, recoverAfterClearMs: ms(p.events.after('reconnect', dropAt).at - clearAt), queued: 10, lostQueued: acc.lostQueued });
            await p.close();
          } finally {
            frames.detach();
          }
        }));
      });
    }
  }
});

describe('empty bodies and bodies without the expected fields (loopback support server)', () => {
  for (const dialect of ['wafer1', 'wafer2']) {
    const loginBodies = [
      { raw: '' },
      { body: {} },
      { body: null },
      { body: [] },
      { body: 'text' },
      { body: { code: 0 } },
      { body: { code: 0, data: {} } },
      { body: { code: 0, data: { skey: 'k' } } },
      { body: { code: 0, data: { skey: 'a\r\nX-Evil: 1', userinfo: { nickName: 'x' } } } },
      { body: { [MAGIC]: 1 } },
      { body: { [MAGIC]: 1, session: {} } },
      { body: { [MAGIC]: 1, session: { id: 'only-id' } } },
      { body: { [MAGIC]: 1, session: { id: 5, skey: ['x'] } } },
      { body: { session: { id: 'no-magic', skey: 'k' } } },
    ];

    test(`${dialect}: login answers without a usable session are LoginErrors (callbacks once), nothing stored`, (t) => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const path = new URL(server.urls.login).pathname;
      const types = new Set();
      for (const spec of loginBodies) {
        server.respondWith(path, spec);
        const cb = await callbacks(wafer.login, {});
        await assertCalledOnce(sim, cb, 'fail');
        assertTyped(wafer, cb.value, cb.value.type, JSON.stringify(spec));
        assert.ok(cb.value instanceof wafer.LoginError, JSON.stringify(spec));
        assert.ok(['ERR_LOGIN_MISSING_SESSION', 'ERR_LOGIN_FAILED'].includes(cb.value.type), `${JSON.stringify(spec)}: ${cb.value.type}`);
        types.add(cb.value.type);
        assert.equal(wafer.Session.get(), null, `nothing stored for ${JSON.stringify(spec)}`);
      }
      assert.deepEqual(sim.errors, []);
      await wafer.login();
      assert.ok(wafer.Session.get());
      figure(t, 'bodies-login', { dialect, bodies: loginBodies.length, errorTypes: [...types] });
    }));

    test(`${dialect}: request answers with an empty body or unexpected fields are delivered as results, not retried`, (t) => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const path = new URL(server.urls.user).pathname;
      const specs = [{ raw: '' }, { body: {} }, { body: { code: 0 } }, { body: { data: null } }, { status: 204 }, { body: [] }];
      for (const spec of specs) {
        server.respondWith(path, spec);
        const cb = await callbacks(wafer.request, { url: server.urls.user });
        await assertCalledOnce(sim, cb, 'success');
      }
      assert.equal(h.requestsTo(sim, server.urls.user).length, specs.length, 'none retried');
      assert.equal(sim.counters.login, 1, 'none logged in again');
    }));

    test(`${dialect}: handshake answers without a socket URL: 1001 on open(), retried while reconnecting, queue delivered after`, (t) => withSdk({ dialect, serverOptions: { echo: false } }, async ({ sim, server, wafer }) => {
      await wafer.login();
      const path = new URL(server.urls.tunnel).pathname;
      const bodies = [{ raw: '' }, { body: {} }, { body: { url: '' } }, { body: { code: 0 } }, { body: { code: 0, data: {} } }, { body: { code: 0, data: { connectUrl: 'http://127.0.0.1/not-ws' } } }, { body: { url: 'ftp://x' } }];
      for (const spec of bodies) {
        server.respondWith(path, spec);
        const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
        const events = timeline(tunnel);
        tunnel.open();
        await waitFor(() => events.count('error') === 1, { message: JSON.stringify(spec) });
        await sim.settle(20);
        assert.deepEqual(events.names(), ['error'], JSON.stringify(spec));
        assert.equal(events[0].payload.code, 1001);
        assert.equal(tunnel.status, 'CLOSED');
      }
      // While reconnecting the same answers are retried (with back-off), not reported.
      const tunnel = new wafer.Tunnel(server.urls.tunnel, FAST);
      const events = timeline(tunnel);
      tunnel.open();
      await waitFor(() => events.count('connect') === 1);
      for (const spec of bodies) server.respondWith(path, spec);
      const dropAt = now();
      server.dropAll();
      await waitFor(() => events.count('reconnecting') === 1);
      const sent = [];
      for (let i = 0; i < 20; i += 1) sent.push({ seq: i, at: now(), status: tunnel.status, ok: tunnel.emit('seq', i) });
      await waitFor(() => events.count('reconnect') === 1, { timeout: 10000 });
      const remote = server.latestTunnel();
      await waitFor(() => receivedMessages(remote).length === 20);
      const acc = account(sent, receivedMessages(remote).map((m) => m.content));
      assertDelivery(acc, 'queued while the handshakes were answered junk');
      assert.deepEqual(events.errors(), [], 'no error event while reconnecting (as 0.8)');
      figure(t, 'bodies-handshake', { dialect, junkAnswersRetried: bodies.length, outageMs: ms(events.after('reconnect', dropAt).at - dropAt), lostQueued: acc.lostQueued });
      tunnel.close();
      await assertNothingLeft(sim);
    }));
  }
});
