'use strict';
// Soak (scripts/soak.js, not part of `npm test`): two phones chat on the local stack for
// WAFER_RELIABILITY_CHAT_MS (default 60 s) while random faults hit every 1–3 s: the tunnel
// server process killed (SIGKILL) and restarted on the same port, every socket dropped, the
// tunnel server refusing connections for a while, a half-open link (no pong), one phone
// offline, one phone in background with its sockets interrupted. Seeded
// (WAFER_RELIABILITY_SEED, default 4), so a failing run can be replayed.
//
//   WAFER_RELIABILITY_CHAT_MS=120000 node --test tests/reliability/long-chat.soak.js
//
// Checked at the end, as in tunnel-faults.test.js: nothing emitted while not ACTIVE lost,
// no duplicate, order kept (at the tunnel server), the half-open bound, nothing left after
// close(), nothing thrown into page code. Figures per fault kind go to the figures file.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const { COUNTS, FAST, figure, now, ms, stats, waitFor, delay, keepTalking } = h;

/** A small seeded PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.WAFER_RELIABILITY_SEED || 4);

test(`two phones chat for ${Math.round(COUNTS.chatMs / 1000)} s under random faults (seed ${SEED})`, { timeout: COUNTS.chatMs + 180000 }, async (t) => {
  const random = rng(SEED);
  const between = (lo, hi) => lo + Math.floor(random() * (hi - lo));
  const world = await h.startStackWithTunnelProcess({ wafer2: false }); // Wafer 1 phones only
  const proc = world.tunnelProcess;
  const business = world.stack.wafer1;
  const ledger = { business: h.serverLedger(business), frames: h.frameLedger(proc), pushes: h.pushLedger(proc) };
  const a = h.chatClient(world.stack, '长聊甲');
  const b = h.chatClient(world.stack, '长聊乙');
  const clients = [a, b];
  const windows = { [a.name]: [], [b.name]: [] };
  const byKind = {};
  const record = (kind, data) => { (byKind[kind] = byKind[kind] || []).push(data); };
  const I = FAST.heartbeatInterval;
  const log = [];
  try {
    await a.connect();
    await b.connect();
    await h.bothInRoom(business, clients, 'start');
    const talk = keepTalking(clients, 40);
    const started = now();
    try {
      while (now() - started < COUNTS.chatMs) {
        await delay(between(1000, 3000));
        const kind = ['kill', 'dropAll', 'refuse', 'halfOpen', 'offline', 'background'][Math.floor(random() * 6)];
        const t0 = now();
        log.push(`${ms(t0 - started)} ${kind}`);
        const detected = (who, since) => waitFor(() => who.every((c) => c.events.after('reconnecting', since)), { timeout: 15000, message: `${kind}: detection` })
          .then(() => who.map((c) => c.events.after('reconnecting', since).at));
        const reconnected = (who, since) => waitFor(() => who.every((c, i) => c.events.after('reconnect', Array.isArray(since) ? since[i] : since)), { timeout: 20000, message: `${kind}: reconnect` })
          .then(() => who.map((c, i) => c.events.after('reconnect', Array.isArray(since) ? since[i] : since).at));
        if (kind === 'kill' || kind === 'dropAll' || kind === 'refuse') {
          if (kind === 'kill') await proc.kill();
          else if (kind === 'dropAll') await proc.command('dropAll');
          else {
            await proc.command('refuse on');
            await proc.command('dropAll');
          }
          const det = await detected(clients, t0);
          for (const c of clients) windows[c.name].push({ from: t0, to: Math.max(...det) });
          let backAt = t0;
          if (kind !== 'dropAll') {
            await delay(between(200, 1500));
            backAt = now();
            if (kind === 'kill') await proc.start();
            else await proc.command('refuse off');
          }
          const rec = await reconnected(clients, t0);
          record(kind, { detectMs: det.map((x) => x - t0), recoverMs: rec.map((x) => x - backAt), outageMs: rec.map((x) => x - t0) });
        } else if (kind === 'halfOpen') {
          await proc.command('stopPong on');
          const stoppedAt = now(); // acknowledged: no pong from here on
          const det = await detected(clients, t0);
          for (const d of det) assert.ok(d - stoppedAt <= 2 * I + 250, `half-open detected ${ms(d - stoppedAt)} ms after pongs stopped (bound 2 × ${I} ms)`);
          await proc.command('stopPong off');
          const rec = await reconnected(clients, det);
          record(kind, { detectMs: det.map((x) => x - stoppedAt), recoverMs: rec.map((x, i) => x - det[i]) });
        } else {
          const c = clients[Math.floor(random() * 2)];
          if (kind === 'offline') c.sim.setNetwork(false);
          else c.sim.hideApp({ interruptSockets: true });
          const [det] = await detected([c], t0);
          windows[c.name].push({ from: t0, to: det });
          await delay(between(200, 1500));
          const backAt = now();
          if (kind === 'offline') c.sim.setNetwork(true);
          else c.sim.showApp();
          const [rec] = await reconnected([c], t0);
          // In background the SDK keeps retrying (it does not listen to onAppHide), so it may be
          // back before the foreground: recovery after "back" is then 0.
          record(kind, { detectMs: [det - t0], recoverMs: [Math.max(0, rec - backAt)], outageMs: [rec - t0], backBeforeForeground: rec < backAt ? 1 : 0 });
        }
        await h.bothInRoom(business, clients, `after ${kind}`);
      }
      await delay(500);
    } finally {
      talk.stop();
    }
    await h.drained(ledger, clients, { serverCrashed: true });
    const delivery = h.deliveryReport(a, b, ledger, windows, { serverCrashed: true });
    const faults = {};
    for (const [kind, list] of Object.entries(byKind)) {
      faults[kind] = {
        count: list.length,
        detectMs: stats(list.flatMap((x) => x.detectMs)),
        recoverMs: stats(list.flatMap((x) => x.recoverMs)),
      };
      if (list[0].outageMs) faults[kind].outageMs = stats(list.flatMap((x) => x.outageMs));
      if (kind === 'background') faults[kind].reconnectedBeforeForeground = list.reduce((n, x) => n + x.backBeforeForeground, 0);
    }
    figure(t, 'long-chat', {
      seconds: Math.round(COUNTS.chatMs / 1000),
      seed: SEED,
      faults,
      totalFaults: log.length,
      tunnelServerProcesses: proc.starts,
      delivery,
    });
    for (const c of clients) await c.close();
  } catch (e) {
    e.message += `\nfault log: ${log.join(', ')}`;
    throw e;
  } finally {
    for (const l of Object.values(ledger)) l.detach();
    for (const c of clients) await c.sim.close();
    await world.stop();
  }
});
