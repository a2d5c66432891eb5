'use strict';
// Shared pieces of the reliability suite (docs/RELIABILITY.md): the packed SDK in the strict
// simulator (tests/sim) against the loopback Wafer servers (tests/support) or the local stack
// (stack/, with the official qcloud-weapp-server-sdk), faults injected over real sockets, and
// the invariants of docs/RELIABILITY.md checked and measured.
//
// Built on tests/js/helpers/sdk.js (withSdk, installSdk, recordEvents, ...): everything that
// file exports is re-exported here.
//
// Figures: `figure(t, key, data)` prints a diagnostic line and, when WAFER_RELIABILITY_FIGURES
// names a file, appends `{ key, ...data }` to it as one JSON line (scripts/soak.js reads it).
// Counts scale with env: WAFER_RELIABILITY_CYCLES, WAFER_RELIABILITY_FLOOD,
// WAFER_RELIABILITY_KILLS, WAFER_RELIABILITY_CHAT_MS (see COUNTS).

const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { EventEmitter } = require('node:events');
const { performance } = require('node:perf_hooks');

const sdk = require('../js/helpers/sdk');
const { probeWasm } = require('../support/wasm-probe');
const { startStack } = require('../../stack');

const { createSim, installSdk, waitFor, delay } = sdk;

// ---- counts and figures ---------------------------------------------------------------------

function envNumber(name, fallback) {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Scenario sizes: the numbers docs/RELIABILITY.md states by default; scripts/soak.js raises some of them. */
const COUNTS = {
  /** open/close cycles of the memory test (default 1 000). */
  cycles: envNumber('WAFER_RELIABILITY_CYCLES', 1000),
  /** inbound messages of the flood and memory tests (default 100 000). */
  flood: envNumber('WAFER_RELIABILITY_FLOOD', 100000),
  /** tunnel-server SIGKILL + restart rounds while two clients chat. */
  kills: envNumber('WAFER_RELIABILITY_KILLS', 2),
  /** how long the chat under random faults runs (soak). */
  chatMs: envNumber('WAFER_RELIABILITY_CHAT_MS', 60000),
};

const FIGURES_FILE = process.env.WAFER_RELIABILITY_FIGURES || null;

/** Report a measured figure: a test diagnostic line, and a JSON line in the figures file. */
function figure(t, key, data) {
  const line = JSON.stringify(data);
  if (t && typeof t.diagnostic === 'function') t.diagnostic(`${key} ${line}`);
  if (FIGURES_FILE) fs.appendFileSync(FIGURES_FILE, `${JSON.stringify({ key, ...data })}\n`);
}

/** Milliseconds, monotonic, with sub-millisecond precision. */
const now = () => performance.now();
const ms = (x) => Math.round(x * 10) / 10;

/** { n, min, median, p95, max } of a list of numbers (ms, rounded to 0.1). */
function stats(values) {
  const v = values.filter((x) => Number.isFinite(x)).slice().sort((a, b) => a - b);
  if (!v.length) return { n: 0 };
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * (v.length - 1) + 0.5))];
  return { n: v.length, min: ms(v[0]), median: ms(at(0.5)), p95: ms(at(0.95)), max: ms(v[v.length - 1]) };
}

// ---- wasm memory --------------------------------------------------------------------------

/**
 * The wasm seen from outside (tests/support/wasm-probe.js; call before the SDK loads):
 * `bytes()` is the linear memory size (`memory.buffer.byteLength`), `liveHandles()` the
 * JavaScript values the wasm holds in the glue's heap slab, `stack.paint()` /
 * `stack.deepest()` the deepest its stack went.
 */
function probeMemory(sim) {
  return probeWasm(sim);
}

const MiB = 1024 * 1024;
const KiB = 1024;
const WASM_PAGE = 64 * 1024;
/** The wasm's linear memory at rest and under load stays within this (docs/PERFORMANCE.md). */
const MEMORY_BOUND = 256 * KiB;

// ---- the invariants -------------------------------------------------------------------------

/** The wx event listeners the SDK registers once, at load, for all tunnels (none per tunnel). */
const SDK_LISTENERS = { networkStatus: 1, appShow: 1, appHide: 0 };

/**
 * After close(): no socket, no timer, and no wx listener beyond the SDK's one shared pair;
 * and nothing wakes up again: network off/on and background/foreground cause no request,
 * socket or timer.
 */
async function assertNothingLeft(sim, what = 'after close()') {
  await waitFor(() => sim.sockets.open().length === 0 && sim.timers.active().length === 0, {
    timeout: 5000,
    message: `${what}: ${sim.sockets.open().length} socket(s), timers ${JSON.stringify(sim.timers.active().map((t) => ({ delay: t.delay, stack: t.stack })))}`,
  });
  assert.deepEqual(sim.listenerCounts(), SDK_LISTENERS, `${what}: wx listeners`);
  const before = { requests: sim.counters.requests, sockets: sim.counters.sockets, login: sim.counters.login };
  sim.setNetwork(false);
  sim.setNetwork(true);
  sim.hideApp({ interruptSockets: true });
  sim.showApp();
  await sim.settle(30);
  assert.deepEqual({ requests: sim.counters.requests, sockets: sim.counters.sockets, login: sim.counters.login }, before, `${what}: network/app events woke something up`);
  assert.deepEqual(sim.timers.active(), [], `${what}: a timer after network/app events`);
  assert.deepEqual(sim.sockets.open().map((s) => s.url), [], `${what}: a socket after network/app events`);
}

/** Nothing thrown into page code, no unhandled rejection. */
function assertPageClean(sim, who = 'page') {
  assert.deepEqual(sim.errorDetails.map((e) => `${e.where}: ${e.error && e.error.stack ? e.error.stack : e.error}`), [], `${who}: exceptions thrown into page code`);
  assert.deepEqual(sim.unhandledRejections.map(String), [], `${who}: unhandled rejections`);
}

/**
 * Call `fn` in callback style and keep watching: resolves at `complete` with
 * `{ kind, value, calls, returned }`; `calls` keeps recording, so a late second callback shows.
 */
function callbacks(fn, options) {
  return new Promise((resolve) => {
    const calls = [];
    let settled = null;
    const ret = fn({
      ...options,
      success: (v) => { calls.push('success'); if (!settled) settled = { kind: 'success', value: v }; },
      fail: (e) => { calls.push('fail'); if (!settled) settled = { kind: 'fail', value: e }; },
      complete: (v) => { calls.push('complete'); resolve({ ...settled, complete: v, calls, returned: ret }); },
    });
  });
}

/**
 * Exactly one `success` or `fail`, then `complete` with the same value, and nothing later
 * (checked after `quietMs`, e.g. past the moment a slow server finally answers).
 */
async function assertCalledOnce(sim, result, kind, quietMs = 50) {
  await sim.settle(quietMs);
  assert.deepEqual(result.calls, [kind, 'complete'], `callbacks: ${JSON.stringify(result.calls)}`);
  assert.equal(result.complete, result.value, 'complete gets the value success/fail got');
  // No promise in callback style: nothing (logins) or the call's task (requests, as wx.request).
  const r = result.returned;
  assert.ok(r === undefined || (typeof r.abort === 'function' && typeof r.then !== 'function'), 'callback style returns no promise');
}

/** A typed SDK error of `type` (LoginError / RequestError of the sandbox realm). */
function assertTyped(wafer, e, type, what) {
  assert.ok(e && (e instanceof wafer.LoginError || e instanceof wafer.RequestError), `${what}: not a LoginError/RequestError: ${e && e.stack ? e.stack : e}`);
  assert.equal(e.type, type, `${what}: type (message: ${e.message}, detail: ${e.detail})`);
}

/** Settle a promise into { ok, value } / { ok: false, error }. */
async function outcome(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

// ---- tunnels and messages -------------------------------------------------------------------

/** Tunnel events with timestamps: { name, at, status, payload }. */
function timeline(tunnel) {
  const events = [];
  for (const name of ['connect', 'close', 'reconnecting', 'reconnect', 'error']) {
    tunnel.on(name, (payload) => events.push({ name, at: now(), status: tunnel.status, payload }));
  }
  events.count = (name) => events.filter((e) => e.name === name).length;
  events.after = (name, t0) => events.find((e) => e.name === name && e.at >= t0) || null;
  events.names = () => events.map((e) => e.name);
  events.errors = () => events.filter((e) => e.name === 'error').map((e) => e.payload.code);
  return events;
}

/**
 * Everything `sender` emitted (`{ seq, at, status, ok }`) against what a peer received
 * (`received`: seqs in arrival order). `windows`: [{ from, to }] crash intervals: a message
 * handed to an ACTIVE socket within `slackMs` before a crash and its detection may be lost
 * with the socket (the Wafer protocol has no acknowledgements); any other loss is a defect.
 */
function account(sent, received, windows = [], slackMs = 250) {
  const seen = new Map();
  const duplicates = [];
  let outOfOrder = 0;
  let last = -1;
  for (const seq of received) {
    if (seen.has(seq)) duplicates.push(seq);
    seen.set(seq, true);
    if (seq <= last) outOfOrder += 1;
    last = Math.max(last, seq);
  }
  const accepted = sent.filter((m) => m.ok);
  const lostQueued = [];
  const lostInFlight = [];
  const lostUnexplained = [];
  for (const m of accepted) {
    if (seen.has(m.seq)) continue;
    if (m.status !== 'ACTIVE') lostQueued.push(m.seq);
    else if (windows.some((w) => m.at >= w.from - slackMs && m.at <= w.to)) lostInFlight.push(m.seq);
    else lostUnexplained.push(m.seq);
  }
  const known = new Set(sent.map((m) => m.seq));
  return {
    emitted: sent.length,
    accepted: accepted.length,
    rejected: sent.length - accepted.length,
    emittedWhileNotActive: accepted.filter((m) => m.status !== 'ACTIVE').length,
    delivered: accepted.length - lostQueued.length - lostInFlight.length - lostUnexplained.length,
    duplicates: duplicates.length,
    outOfOrder,
    phantom: received.filter((s) => !known.has(s)).length,
    lostQueued: lostQueued.length,
    lostInFlight: lostInFlight.length,
    lostUnexplained: lostUnexplained.length,
    lists: { lostQueued, lostInFlight, lostUnexplained, duplicates },
  };
}

/** The delivery invariants on an account(): nothing queued lost, no duplicate, in order. */
function assertDelivery(acc, who) {
  const brief = JSON.stringify({ ...acc, lists: undefined });
  assert.equal(acc.lostQueued, 0, `${who}: messages emitted while not ACTIVE were lost: ${acc.lists.lostQueued.slice(0, 20)} ${brief}`);
  assert.equal(acc.lostUnexplained, 0, `${who}: messages lost outside any crash window: ${acc.lists.lostUnexplained.slice(0, 20)} ${brief}`);
  assert.equal(acc.duplicates, 0, `${who}: duplicates ${acc.lists.duplicates.slice(0, 20)}`);
  assert.equal(acc.outOfOrder, 0, `${who}: out of order ${brief}`);
  assert.equal(acc.phantom, 0, `${who}: messages nobody sent ${brief}`);
}

// ---- the local stack with its tunnel server in a separate process ------------------------------

const CHILD = path.join(__dirname, 'tunnel-server-child.js');

/**
 * The stack's tunnel server in a child process on a fixed port: `start()`, `kill()` (SIGKILL,
 * waits for the exit), `stop()`. Restarts reuse the port; the new process knows no tunnel.
 * Emits `frame` `{ tunnelId, text }` for every text frame the process received and `push`
 * `{ tunnelId, frame }` for every frame it sent to a client (it writes them to its stdout
 * synchronously, so what it received and sent survives the kill). `command(line)`
 * flips a fault switch in the process (`dropAll`, `refuse on|off`, `stopPong on|off`).
 */
function tunnelProcess({ port, signatureKey, timeoutSeconds = null }) {
  let child = null;
  const proc = Object.assign(new EventEmitter(), {
    port,
    starts: 0,
    kills: 0,
    get running() { return !!child; },
    async start() {
      if (child) return;
      const args = [CHILD, '--port', String(port), '--signature-key', signatureKey];
      if (timeoutSeconds !== null) args.push('--timeout-seconds', String(timeoutSeconds));
      for (let attempt = 0; ; attempt += 1) {
        const c = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d) => { stderr += d; });
        let ready = false;
        let rest = '';
        const readyOrExit = new Promise((resolve) => {
          c.stdout.on('data', (d) => {
            const lines = (rest + d).split('\n');
            rest = lines.pop();
            for (const line of lines) {
              if (line.startsWith('F ') || line.startsWith('P ')) {
                const sp = line.indexOf(' ', 2);
                const text = line.slice(sp + 1).replace(/\\(n|\\)/g, (_, c1) => (c1 === 'n' ? '\n' : '\\'));
                if (line[0] === 'F') proc.emit('frame', { tunnelId: line.slice(2, sp), text });
                else proc.emit('push', { tunnelId: line.slice(2, sp), frame: text });
              } else if (line.startsWith('ok ')) {
                proc.emit('ack', line.slice(3));
              } else if (/^ready \d+$/.test(line)) {
                ready = true;
                resolve();
              }
            }
          });
          c.once('exit', () => resolve());
        });
        await readyOrExit;
        if (ready) {
          child = c;
          c.once('exit', () => { if (child === c) child = null; });
          proc.starts += 1;
          return;
        }
        // The port of a process killed a moment ago may not be free yet: try again briefly.
        if (attempt >= 50 || !/EADDRINUSE/.test(stderr)) throw new Error(`tunnel server process did not start: ${stderr}`);
        await delay(20);
      }
    },
    /** kill -9; resolves once the process is gone (its sockets closed by the kernel). */
    async kill() {
      const c = child;
      if (!c) return;
      const exited = new Promise((resolve) => {
        // Every line it wrote has been read once stdout ends.
        let n = 0;
        const done = () => { n += 1; if (n === 2) resolve(); };
        c.once('exit', done);
        c.stdout.once('end', done);
      });
      c.kill('SIGKILL');
      await exited;
      child = null;
      proc.kills += 1;
    },
    async stop() {
      await proc.kill();
    },
    /** A fault switch of the running process: `dropAll`, `refuse on|off`, `stopPong on|off`. */
    command(line) {
      if (!child) throw new Error('the tunnel server process is not running');
      const acked = new Promise((resolve) => {
        const onAck = (l) => { if (l === line) { proc.removeListener('ack', onAck); resolve(); } };
        proc.on('ack', onAck);
      });
      child.stdin.write(`${line}\n`);
      return acked;
    },
  });
  return proc;
}

/**
 * A fresh local stack whose tunnel server runs in its own process (same port, same signature
 * key; the in-process one is stopped). `world.tunnelProcess` kills and restarts it.
 */
async function startStackWithTunnelProcess(options = {}) {
  const stack = await startStack(options);
  let proc = null;
  try {
    const port = stack.tunnel.port;
    await stack.tunnel.stop({ graceful: false });
    proc = tunnelProcess({ port, signatureKey: stack.signatureKey });
    await proc.start();
  } catch (e) {
    if (proc) await proc.stop();
    await stack.stop();
    throw e;
  }
  return {
    stack,
    tunnelProcess: proc,
    async stop() {
      await proc.stop();
      await stack.stop();
    },
  };
}

// ---- chat clients on the stack ----------------------------------------------------------------

/** Fast tunnel settings for fault tests (a real phone uses the 15 s / 1 s / 30 s defaults). */
const FAST = { heartbeatInterval: 500, reconnectBaseDelay: 100, reconnectMaxDelay: 300 };

/**
 * A simulated phone of user `name` running the SDK against the stack's business server
 * (`dialect`): `connect()` logs in and opens a tunnel; `say()` emits one numbered `speak`
 * (`word: '<name>#<seq>'`) and records `{ seq, at, status, ok }` in `sent`; `heard` collects
 * the speak broadcasts of others as `{ from, seq, at, tunnelId }`; `events` is the tunnel
 * timeline.
 * `storage`: raw storage entries (key → stored text) left by an earlier launch;
 * `beforeRequire(sim)`: runs before the SDK is loaded.
 */
function chatClient(stack, name, { dialect = 'wafer1', tunnel = FAST, simOptions = {}, storage = null, beforeRequire = null } = {}) {
  const sim = createSim({ wechat: stack.wechatBackend(name), ...simOptions });
  installSdk(sim);
  if (storage) for (const [key, text] of Object.entries(storage)) sim.storage.raw.set(key, text);
  if (beforeRequire) beforeRequire(sim);
  const memory = probeMemory(sim);
  const wafer = sim.require('wafer-wasm');
  const endpoints = stack.endpoints[dialect];
  wafer.configure({ loginUrl: endpoints.login });
  const client = {
    name,
    sim,
    wafer,
    memory,
    tunnel: null,
    events: null,
    sent: [],
    heard: [],
    seq: 0,
    async connect() {
      await wafer.login();
      const t = new wafer.Tunnel(endpoints.tunnel, tunnel);
      client.tunnel = t;
      client.events = timeline(t);
      t.on('speak', (p) => {
        const m = /^(.*)#(\d+)$/.exec(p && typeof p.word === 'string' ? p.word : '');
        if (m && m[1] !== name) client.heard.push({ from: m[1], seq: Number(m[2]), at: now(), tunnelId: client.tunnelId() });
      });
      t.open();
      await waitFor(() => client.events.count('connect') === 1 || client.events.count('error') > 0, { timeout: 10000, message: `${name}: connect` });
      assert.deepEqual(client.events.names(), ['connect'], `${name}: ${JSON.stringify(client.events.map((e) => e.payload))}`);
      return client;
    },
    say() {
      const seq = client.seq;
      client.seq += 1;
      const status = client.tunnel.status;
      const ok = client.tunnel.emit('speak', { word: `${name}#${seq}` });
      client.sent.push({ seq, at: now(), status, ok });
      return ok;
    },
    /** Seqs of `from` this client heard, in arrival order. */
    heardFrom(from) {
      return client.heard.filter((h) => h.from === from).map((h) => h.seq);
    },
    tunnelId() {
      const m = /[?&]tunnelId=([^&]+)/.exec((client.tunnel && client.tunnel.socketUrl) || '');
      return m ? decodeURIComponent(m[1]) : null;
    },
    async close() {
      if (client.tunnel) client.tunnel.close();
      await assertNothingLeft(sim, `${name} after close()`);
      await sim.settle();
      assertPageClean(sim, name);
    },
  };
  return client;
}

/**
 * `speak` words `<name>#<seq>`, per sender, in arrival order: `of(name)` → seqs,
 * `entries(name)` → `{ seq, tunnelId }`.
 */
function speakLedger() {
  const got = new Map();
  const entries = (name) => got.get(name) || [];
  return {
    add(word, tunnelId = null) {
      const m = /^(.*)#(\d+)$/.exec(typeof word === 'string' ? word : '');
      if (!m) return;
      if (!got.has(m[1])) got.set(m[1], []);
      got.get(m[1]).push({ seq: Number(m[2]), tunnelId });
    },
    of: (name) => entries(name).map((e) => e.seq),
    entries,
  };
}

/** Seqs that arrived after a higher one from the same tunnel (per-tunnel order broken). */
function perTunnelDisorder(entries) {
  const last = new Map();
  let n = 0;
  for (const { seq, tunnelId } of entries) {
    if (last.has(tunnelId) && seq <= last.get(tunnelId)) n += 1;
    last.set(tunnelId, Math.max(seq, last.has(tunnelId) ? last.get(tunnelId) : -1));
  }
  return n;
}

/**
 * What the business server received: the chat room's `onMessage` hook (after the tunnel
 * server reported each message over HTTP).
 */
function serverLedger(business) {
  const ledger = speakLedger();
  const onMessage = ({ tunnelId, type, content }) => {
    if (type === 'speak' && content) ledger.add(content.word, tunnelId);
  };
  business.on('onMessage', onMessage);
  ledger.detach = () => business.removeListener('onMessage', onMessage);
  return ledger;
}

/**
 * What a tunnel server received on its sockets: its `frame` events (stack.tunnel, or a
 * tunnelProcess()), `message:{"type":"speak",...}` frames only.
 */
function frameLedger(source) {
  const ledger = speakLedger();
  const onFrame = ({ tunnelId, text }) => {
    if (typeof text !== 'string' || !text.startsWith('message:')) return;
    try {
      const m = JSON.parse(text.slice(8));
      if (m && m.type === 'speak' && m.content) ledger.add(m.content.word, tunnelId);
    } catch (_) { /* not ours */ }
  };
  source.on('frame', onFrame);
  ledger.detach = () => source.removeListener('frame', onFrame);
  return ledger;
}

/**
 * What a tunnel server pushed to each tunnel: its `push` events (stack.tunnel, or a
 * tunnelProcess()), `speak` broadcasts only, as `<name>#<seq>` words per tunnel id.
 */
function pushLedger(source) {
  const pushed = new Map();
  const onPush = ({ tunnelId, frame }) => {
    if (typeof frame !== 'string' || !frame.startsWith('message:')) return;
    try {
      const m = JSON.parse(frame.slice(8));
      if (m && m.type === 'speak' && m.content && typeof m.content.word === 'string') {
        if (!pushed.has(tunnelId)) pushed.set(tunnelId, []);
        pushed.get(tunnelId).push(m.content.word);
      }
    } catch (_) { /* not ours */ }
  };
  source.on('push', onPush);
  return {
    of: (tunnelId) => pushed.get(tunnelId) || [],
    detach: () => source.removeListener('push', onPush),
  };
}

/**
 * The receiving side: on each tunnel, the speak messages a phone's listeners got must be
 * exactly what the tunnel server sent on that socket, in the same order, up to the point
 * the socket died (a prefix). Returns how many sent frames died with their socket.
 */
function assertHeardAsPushed(client, pushes) {
  const byTunnel = new Map();
  for (const h of client.heard) {
    if (!byTunnel.has(h.tunnelId)) byTunnel.set(h.tunnelId, []);
    byTunnel.get(h.tunnelId).push(`${h.from}#${h.seq}`);
  }
  let diedWithSocket = 0;
  for (const [tunnelId, heard] of byTunnel) {
    // The chat room broadcasts to the sender too; `heard` keeps only the others' messages.
    const sent = pushes.of(tunnelId).filter((w) => w.slice(0, w.lastIndexOf('#')) !== client.name);
    assert.deepEqual(heard, sent.slice(0, heard.length), `${client.name}: what the listeners got on tunnel ${tunnelId} is not what the server sent, in order`);
    diedWithSocket += sent.length - heard.length;
  }
  return diedWithSocket;
}

/**
 * Delivery of both clients.
 *
 * Sending (the SDK's promise), against what the tunnel server received on its sockets
 * (`frames`): nothing emitted while not ACTIVE lost, no duplicate, order kept; a message
 * handed to an ACTIVE socket may die with that socket only inside a crash window
 * (`windows`: a list, or a map from client name to its own list).
 *
 * End to end (`business`, the business server's chat room): no duplicate, the order of each
 * tunnel kept (the tunnel server reports each tunnel on its own HTTP chain, so the last
 * reports of a dropped tunnel may interleave with the first of its successor: counted, not a
 * client matter), and everything the tunnel server received unless it crashed with reports
 * still queued (`serverCrashed`).
 *
 * Receiving, against what the tunnel server pushed (`pushes`): on every socket the other
 * phone's listeners got exactly the frames sent to it, in order (assertHeardAsPushed). The
 * business server broadcasts with concurrent HTTP calls, so the order the other phone hears
 * may differ from the order of sending: counted, not asserted.
 */
function deliveryReport(a, b, { frames, business, pushes }, windows, { serverCrashed = false } = {}) {
  const out = {};
  for (const [me, other] of [[a, b], [b, a]]) {
    const win = Array.isArray(windows) ? windows : (windows[me.name] || []);
    const atTunnel = account(me.sent, frames.of(me.name), win);
    assertDelivery(atTunnel, `${me.name} → tunnel server`);
    const endToEnd = account(me.sent, business.of(me.name), win);
    assert.equal(endToEnd.duplicates, 0, `${me.name} → business server: duplicates`);
    assert.equal(perTunnelDisorder(business.entries(me.name)), 0, `${me.name} → business server: out of order within a tunnel`);
    const reportedNot = frames.of(me.name).filter((s) => !business.of(me.name).includes(s));
    if (!serverCrashed) assert.deepEqual(reportedNot, [], `${me.name}: received by the tunnel server, never reported to the business server`);
    const heard = account(me.sent, other.heardFrom(me.name), win);
    assert.equal(heard.duplicates, 0, `${other.name} heard duplicates of ${me.name}`);
    assert.equal(heard.phantom, 0);
    const pushedButNotHeard = pushes ? assertHeardAsPushed(other, pushes) : null;
    out[me.name] = {
      emitted: atTunnel.emitted,
      emittedWhileNotActive: atTunnel.emittedWhileNotActive,
      overflowReported: atTunnel.rejected,
      lostQueued: atTunnel.lostQueued,
      lostInFlight: atTunnel.lostInFlight,
      duplicates: atTunnel.duplicates,
      outOfOrder: atTunnel.outOfOrder,
      atBusinessServer: endToEnd.delivered,
      reorderedAcrossTunnelsAtBusiness: endToEnd.outOfOrder,
      lostInCrashedServer: reportedNot.length,
      heardByOther: heard.delivered,
      heardOutOfSendOrder: heard.outOfOrder,
      pushedToOtherButDiedWithSocket: pushedButNotHeard,
    };
  }
  return out;
}

/** Wait until both clients' current tunnels are in the business server's chat room. */
async function bothInRoom(business, clients, what) {
  await waitFor(() => clients.every((c) => c.tunnel.isActive() && business.chat.connectedTunnelIds.includes(c.tunnelId())), {
    timeout: 15000,
    message: `${what}: both tunnels in the chat room`,
  });
}

/**
 * Wait until the business server has every message the tunnel server received (after a crash
 * of the tunnel server: every message each client emitted last).
 */
async function drained(ledger, clients, { serverCrashed = false } = {}) {
  await waitFor(() => clients.every((c) => {
    const got = new Set(ledger.business.of(c.name));
    if (serverCrashed) {
      const last = c.sent.filter((m) => m.ok).pop();
      return !last || got.has(last.seq);
    }
    const last = c.sent.filter((m) => m.ok).pop();
    return (!last || ledger.frames.of(c.name).includes(last.seq)) && ledger.frames.of(c.name).every((s) => got.has(s));
  }), { timeout: 15000, message: 'the business server to receive the last messages' });
}

/** Emit from every client every `everyMs` until `stop()` (like people typing). */
function keepTalking(clients, everyMs = 20) {
  let timer = null;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    for (const c of clients) c.say();
    timer = setTimeout(tick, everyMs);
  };
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

module.exports = {
  ...sdk,
  COUNTS,
  FAST,
  MiB,
  WASM_PAGE,
  SDK_LISTENERS,
  figure,
  now,
  ms,
  stats,
  probeMemory,
  MEMORY_BOUND,
  KiB,
  assertNothingLeft,
  assertPageClean,
  callbacks,
  assertCalledOnce,
  assertTyped,
  outcome,
  timeline,
  account,
  assertDelivery,
  tunnelProcess,
  startStack,
  startStackWithTunnelProcess,
  chatClient,
  speakLedger,
  perTunnelDisorder,
  pushLedger,
  assertHeardAsPushed,
  serverLedger,
  frameLedger,
  keepTalking,
  deliveryReport,
  bothInRoom,
  drained,
};
