'use strict';
// Migrating from the official clients: a session stored by wafer-client-sdk 0.8.x (Wafer 1) or
// wafer2-client-sdk 2.1.x (Wafer 2), logged in against the local stack inside the simulator,
// is picked up as is by the demo on wafer-wasm (protocol 'auto'): no second login.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const h = require('./helpers');
const { installPackage } = require('../sim');

for (const [dialect, official] of [['wafer1', 'wafer-client-sdk'], ['wafer2', 'wafer2-client-sdk']]) {
  describe(`a session stored by the official ${official}`, () => {
    let world;
    before(async () => {
      world = await h.startWorld({ dialect, protocol: 'auto' });
      // The old app: the official client installed the way "build npm" installs it.
      installPackage(world.root, path.join(h.ROOT, 'node_modules', official), official);
    });
    after(async () => {
      if (world) await world.stop();
    });

    test('is read by wafer-wasm: /user and the chat room without logging in again', async () => {
      try {
        const old = world.user('阿迁');
        const sdk = old.sim.require(official);
        sdk.setLoginUrl(world.stack.endpoints[dialect].login);
        const result = await new Promise((resolve) => {
          sdk.login({ success: (userInfo) => resolve({ userInfo }), fail: (error) => resolve({ error }) });
        });
        assert.ok(result.userInfo, `the official client logs in: ${result.error && result.error.message}`);
        assert.ok(old.sim.storage.get(h.SESSION_KEY), 'the official client stored its session');
        await old.sim.settle();
        old.sim.assertClean();
        await old.sim.close();

        const upgraded = world.relaunch(old);
        await upgraded.index.instance.bindRequest();
        assert.equal(upgraded.index.data.requestStatus, '请求成功', upgraded.index.data.error);
        assert.equal(upgraded.index.data.serverUser.nickName, '阿迁');
        await h.openChat(upgraded);
        assert.equal(upgraded.sim.counters.login, 0, 'no login: the stored session is good');
        await world.finish();
      } finally {
        await world.closeUsers();
      }
    });
  });
}
