'use strict';
// Platform faults (docs/RELIABILITY.md, "Platform faults"): storage that throws on write (a full
// quota) or on read, and storage holding corrupted values left by an earlier launch — on the
// local stack with the official qcloud-weapp-server-sdk. The network going off and on, the
// app in background and the 5-socket limit are in tunnel-faults.test.js.
//
// Expected: nothing thrown into page code, every callback-style call ends in exactly one
// success/fail then complete, the SDK keeps working for the run (in memory when storage
// fails), and a tunnel that needs a re-login to reconnect still reconnects and delivers.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const {
  SESSION_KEY, figure, now, ms, waitFor, callbacks, assertCalledOnce, account, assertDelivery, assertPageClean,
} = h;

describe('storage faults on the local stack', () => {
  let stack;
  before(async () => { stack = await h.startStack({ wafer2: false }); }); // Wafer 1 phones only
  after(async () => { if (stack) await stack.stop(); });

  let n = 0;
  const user = () => { n += 1; return `存储${n}`; };

  test('storage full (every write throws): login, requests and a tunnel work for the run; a reconnect that needs a re-login works', async (t) => {
    const c = h.chatClient(stack, user());
    const frames = h.frameLedger(stack.tunnel);
    try {
      c.sim.storage.failWrites = true;
      const login = await callbacks(c.wafer.login, {});
      await assertCalledOnce(c.sim, login, 'success');
      assert.equal(c.sim.storage.get(SESSION_KEY), undefined, 'nothing could be written');
      assert.ok(c.wafer.Session.get(), 'the session lives in memory');
      const req = await callbacks(c.wafer.request, { url: stack.endpoints.wafer1.user, login: true });
      await assertCalledOnce(c.sim, req, 'success');
      assert.equal(req.value.data.code, 0);
      await c.connect();
      // Every session expires on the auth server, then the link drops: the reconnect's
      // handshake is refused, the SDK logs in again (the write fails again) and retries.
      stack.auth.expireAll();
      const dropAt = now();
      stack.tunnel.dropAll();
      await waitFor(() => c.events.after('reconnecting', dropAt));
      for (let i = 0; i < 10; i += 1) c.say();
      await waitFor(() => c.events.after('reconnect', dropAt), { timeout: 10000, message: 'reconnect with a re-login' });
      await waitFor(() => frames.of(c.name).length >= 10);
      const acc = account(c.sent, frames.of(c.name));
      assertDelivery(acc, 'queued while re-logging in with a full storage');
      assert.equal(c.sim.counters.login, 2, 'one re-login');
      // Clearing and setting the session must not throw either.
      c.wafer.clearSession();
      c.wafer.Session.set({ skey: 'x' });
      assert.ok(c.sim.logs.some((l) => l.level === 'error' && l.args.map(String).join(' ').includes('exceed storage max size')), 'the storage failure is reported on the console');
      figure(t, 'storage-full', { recoverMs: ms(c.events.after('reconnect', dropAt).at - dropAt), relogins: 1, lostQueued: acc.lostQueued });
      await c.close();
    } finally {
      frames.detach();
      stack.resetFaults();
      await c.sim.close();
    }
  });

  test('storage that throws on read: treated as no session, login and the tunnel work, nothing thrown', async () => {
    let reads = 0;
    const c = h.chatClient(stack, user(), {
      beforeRequire: (sim) => {
        sim.wx.getStorageSync = sim.realm.fn(() => { reads += 1; throw new Error('getStorageSync:fail storage is corrupted'); }, 'getStorageSync');
      },
    });
    try {
      assert.equal(c.wafer.Session.get(), null);
      const login = await callbacks(c.wafer.login, {});
      await assertCalledOnce(c.sim, login, 'success');
      assert.ok(reads > 0, 'the SDK did try to read');
      const req = await c.wafer.request({ url: stack.endpoints.wafer1.user, login: true });
      assert.equal(req.data.code, 0);
      assert.equal(c.sim.counters.login, 1);
      await c.connect();
      await c.close();
    } finally {
      await c.sim.close();
    }
  });

  const CORRUPTED = {
    'not JSON': 'not json {',
    'a JSON string': '"weapp_session"',
    'a number': '42',
    'null': 'null',
    'an array': '[1,2,3]',
    'an empty object': '{}',
    'skey not a string': '{"id":"i","skey":5}',
    'empty skey': '{"id":"i","skey":""}',
    'id only': '{"id":"i"}',
    'header injection in skey': '{"id":"i","skey":"k\\r\\nX-Injected: 1"}',
    'header injection in id': '{"id":"i\\nX-Injected: 1","skey":"k"}',
    'non-ASCII skey': '{"id":"i","skey":"钥匙"}',
    'an object as skey': '{"id":"i","skey":{"toString":"k"}}',
    '__proto__ pollution': '{"__proto__":{"skey":"p","id":"p"}}',
    'deeply nested': `${'['.repeat(5000)}${']'.repeat(5000)}`,
    '1 MB string': JSON.stringify('s'.repeat(1000 * 1000)),
    'well-formed but stale (unknown to the server)': '{"id":"stale-id","skey":"stale-skey","userInfo":{"nickName":"旧"}}',
  };

  test(`a new launch over corrupted stored sessions (${Object.keys(CORRUPTED).length} kinds): no exception, one login, a valid session stored, no header injected, the tunnel works`, async (t) => {
    const results = {};
    for (const [label, text] of Object.entries(CORRUPTED)) {
      const c = h.chatClient(stack, user(), { storage: { [SESSION_KEY]: text } });
      try {
        const read = c.wafer.Session.get();
        void read; // whatever it returns, it must not throw
        const res = await callbacks(c.wafer.request, { url: stack.endpoints.wafer1.user, login: true });
        await assertCalledOnce(c.sim, res, 'success');
        assert.equal(res.value.data.code, 0, `${label}: ${JSON.stringify(res.value.data)}`);
        assert.equal(c.sim.counters.login, 1, `${label}: exactly one login`);
        const stored = c.sim.storage.get(SESSION_KEY);
        assert.equal(typeof stored.skey, 'string', `${label}: a valid session replaced it`);
        for (const r of c.sim.requestLog) {
          for (const [k, v] of Object.entries(r.header)) {
            assert.ok(!/[\r\n]/.test(String(v)) && !/injected/i.test(k), `${label}: header ${k}: ${JSON.stringify(v)}`);
          }
        }
        await c.connect();
        results[label] = { logins: c.sim.counters.login, requests: c.sim.counters.requests };
        await c.close();
        assertPageClean(c.sim, label);
      } finally {
        await c.sim.close();
      }
    }
    figure(t, 'storage-corrupted', { kinds: Object.keys(CORRUPTED).length, results });
  });
});
