'use strict';
// onSessionChange / offSessionChange and hasSession() (README: "Session events"): the packed
// package in the simulator against the loopback Wafer servers, with changes made by the
// SDK, by a second copy of it, by wx.clearStorageSync() and by direct storage writes.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { withSdk, plain, viaCallbacks, packageDir, waitFor, SESSION_KEY, DIALECTS } = require('./helpers/sdk');
const { installPackage } = require('../sim');

/** Record what a listener hears, as host copies. */
function recorder() {
  const heard = [];
  const listener = (session) => heard.push(plain(session === undefined ? 'undefined' : session));
  return { heard, listener };
}

/** A second copy of the SDK in a subpackage's own miniprogram_npm. */
function subpackageCopy(sim, server) {
  installPackage(path.join(sim.root, 'sub'), packageDir(), 'wafer-wasm');
  const sub = sim.require('/sub/miniprogram_npm/wafer-wasm/index.js');
  sub.init({ wasmPath: '/sub/miniprogram_npm/wafer-wasm/wafer_wasm_bg.wasm.br' });
  sub.configure({ loginUrl: server.urls.login });
  return sub;
}

describe('onSessionChange', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect}: the new session after a login, null after a clear, whoever made the change`, () => withSdk({ dialect }, async ({ sim, server, wafer }) => {
      const { heard, listener } = recorder();
      const off = wafer.onSessionChange(listener);
      assert.equal(typeof off, 'function');
      // This SDK logs in.
      await wafer.login();
      await waitFor(() => heard.length === 1);
      assert.deepEqual(heard[0], sim.storage.get(SESSION_KEY));
      // This SDK clears.
      wafer.Session.clear();
      await waitFor(() => heard.length === 2);
      assert.equal(heard[1], null);
      // Another copy of the SDK logs in: seen on the next use.
      const sub = subpackageCopy(sim, server);
      await sub.login();
      const written = sim.storage.get(SESSION_KEY);
      await wafer.request({ url: server.urls.user });
      await waitFor(() => heard.length === 3);
      assert.deepEqual(heard[2], written);
      // wx.clearStorageSync() (a logout the official way): seen by Session.get().
      sim.wx.clearStorageSync();
      assert.equal(wafer.Session.get(), null);
      await waitFor(() => heard.length === 4);
      assert.equal(heard[3], null);
      // A direct write of the key, and a corrupt value (no session): seen by buildSessionHeader().
      sim.storage.set(SESSION_KEY, written);
      wafer.buildSessionHeader();
      await waitFor(() => heard.length === 5);
      assert.deepEqual(heard[4], written);
      sim.storage.set(SESSION_KEY, 42);
      wafer.buildSessionHeader();
      await waitFor(() => heard.length === 6);
      assert.equal(heard[5], null);
      // Unsubscribed: nothing more.
      off();
      await wafer.login();
      await sim.settle(20);
      assert.equal(heard.length, 6);
    }));
  }

  test('one call per change, asynchronously; an unchanged session is no change; offSessionChange removes a listener', () => withSdk({ dialect: 'wafer2' }, async ({ sim, server, wafer }) => {
    await wafer.login();
    const a = recorder();
    const b = recorder();
    wafer.onSessionChange(a.listener);
    wafer.onSessionChange(b.listener);
    // Requests read the same session many times: no change.
    await Promise.all([1, 2, 3].map(() => wafer.request({ url: server.urls.user })));
    wafer.Session.set(sim.storage.get(SESSION_KEY));
    await sim.settle(20);
    assert.deepEqual([a.heard, b.heard], [[], []]);
    // The session is rejected: cleared, then renewed by the retry's login.
    server.expireAllSessions();
    await wafer.request({ url: server.urls.user });
    await sim.settle(20);
    assert.equal(a.heard.length, 2);
    assert.equal(a.heard[0], null);
    assert.deepEqual(a.heard[1], sim.storage.get(SESSION_KEY));
    wafer.offSessionChange(b.listener);
    let during = null;
    wafer.onSessionChange(() => { during = 'later'; });
    wafer.Session.clear();
    assert.equal(during, null, 'never inside the call that changed it');
    await sim.settle();
    assert.equal(during, 'later');
    assert.equal(b.heard.length, 2, 'removed');
    assert.equal(a.heard.length, 3);
  }));

  test('a listener that throws is reported; the others still hear; a non-function is a typed error', () => withSdk({ dialect: 'wafer2' }, async ({ sim, wafer }) => {
    const { heard, listener } = recorder();
    wafer.onSessionChange(() => { throw new Error('listener bug'); });
    wafer.onSessionChange(listener);
    wafer.Session.set({ skey: 'k' });
    await waitFor(() => heard.length === 1);
    assert.deepEqual(heard[0], { skey: 'k' });
    assert.ok(sim.logs.some((l) => l.level === 'error' && String(l.args[0]).includes('session listener')));
    assert.throws(() => wafer.onSessionChange('x'), (e) => e instanceof wafer.RequestError && e.type === 'ERR_INVALID_PARAMS');
  }));

  test('works before the wasm is ready (storage only)', () => withSdk({ dialect: 'wafer2', configure: false }, async ({ sim, wafer }) => {
    const { heard, listener } = recorder();
    wafer.onSessionChange(listener);
    wafer.Session.set({ skey: 'early' });
    sim.storage.set(SESSION_KEY, { id: 'i', skey: 's' });
    assert.deepEqual(plain(wafer.Session.get()), { id: 'i', skey: 's' });
    await waitFor(() => heard.length === 2);
    assert.deepEqual(heard, [{ skey: 'early' }, { id: 'i', skey: 's' }]);
  }));
});

describe('hasSession()', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect}: false without a stored session (no wx.checkSession), else what wx.checkSession says; never rejects`, () => withSdk({ dialect }, async ({ sim, wafer }) => {
      assert.equal(await wafer.hasSession(), false);
      assert.equal(sim.counters.checkSession, 0);
      await wafer.login();
      assert.equal(await wafer.hasSession(), true);
      assert.equal(sim.counters.checkSession, 1);
      sim.wechat.sessionValid = false;
      assert.equal(await wafer.hasSession(), false);
      assert.ok(sim.storage.get(SESSION_KEY), 'asking changes nothing');
      // Callback style, and a corrupt stored value.
      sim.wechat.sessionValid = true;
      const cb = await viaCallbacks(wafer.hasSession, {});
      assert.deepEqual([cb.kind, cb.value], ['success', true]);
      sim.storage.set(SESSION_KEY, { skey: 'bad\nvalue' });
      assert.equal(await wafer.hasSession(), false);
      sim.setNetwork(false);
      sim.storage.set(SESSION_KEY, { skey: 'k' });
      assert.equal(await wafer.hasSession(), false, 'checkSession failing offline: a login is needed');
    }));
  }

  test('before the wasm is ready: from storage and wx.checkSession', () => withSdk({ dialect: 'wafer2', configure: false }, async ({ sim, wafer }) => {
    sim.storage.set(SESSION_KEY, { skey: 'k', userinfo: {} });
    assert.equal(await wafer.hasSession(), true);
  }));
});
