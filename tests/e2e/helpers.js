'use strict';
// Shared pieces of the end-to-end suites: the demo mini-program (demo-miniprogram/) with the
// packed SDK installed as DevTools "build npm" would, in the strict simulator (tests/sim),
// against the local Wafer stack (stack/) over real loopback HTTP and WebSocket.
//
// The package under test: $WAFER_PKG_TARBALL (set by `npm test`), else the newest
// tests/.tmp/wafer-wasm-*.tgz. Timeouts below are safety nets; nothing asserts speed.

const fs = require('node:fs');
const path = require('node:path');

const demo = require('../../scripts/demo.js');
const { startStack } = require('../../stack');
// The package under test, found the way the SDK suites find it.
const { findTarball: tarball } = require('../js/helpers/sdk');

const SESSION_KEY = 'weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';


/**
 * A fresh stack (by default with the business server of `dialect` only), a code package
 * pointing at it, and cleanup.
 */
async function startWorld({ dialect = 'wafer1', protocol = 'auto', mockUser = null, stackOptions } = {}) {
  const stack = await startStack(stackOptions || { [dialect === 'wafer2' ? 'wafer1' : 'wafer2']: false });
  let root;
  try {
    root = demo.prepareCodePackage({ pkg: tarball(), settings: demo.stackSettings(stack, { dialect, protocol, mockUser }) });
  } catch (e) {
    await stack.stop();
    throw e;
  }
  const business = dialect === 'wafer2' ? stack.wafer2 : stack.wafer1;
  const closedTunnels = new Set();
  business.on('onClose', ({ tunnelId }) => closedTunnels.add(tunnelId));
  const world = {
    stack,
    root,
    dialect,
    protocol,
    business,
    closedTunnels,
    users: [],
    /** A simulated phone for `name`, its index page loaded. */
    user(name, simOptions) {
      const u = demo.openUser({ root, stack, name, simOptions });
      world.users.push(u);
      return u;
    },
    /**
     * The same person opening the mini-program again: a new runtime (new sim) with the same
     * WeChat account and a copy of `from`'s storage (WeChat keeps storage across launches).
     */
    relaunch(from, simOptions) {
      const u = demo.openUser({ root, stack, name: from.name, simOptions, storage: from.sim.storage.raw });
      world.users.push(u);
      return u;
    },
    /** Leave every open chat page, wait for the server to see each tunnel close, assert clean. */
    async finish() {
      for (const u of world.users) {
        if (u.chat && !u.chat.unloaded) {
          const id = demo.tunnelIdOf(u.chat);
          u.chat.unload();
          if (id) await demo.waitFor(() => closedTunnels.has(id), `the business server to see ${u.name}'s tunnel close`);
        }
      }
      for (const u of world.users) {
        await u.sim.settle();
        demo.assertClean(u);
      }
    },
    /** Close every simulator (always, also after a failure). */
    async closeUsers() {
      const users = world.users.splice(0);
      for (const u of users) await u.sim.close();
    },
    async stop() {
      await world.closeUsers();
      await stack.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return world;
}

/** Requests of a sim to `url` (path and query ignored), as sent. */
function requestsTo(user, url) {
  const base = url.split('?')[0];
  return user.sim.requestLog.filter((r) => r.url.split('?')[0] === base);
}

/** Case-insensitive header lookup. */
function header(h, name) {
  const key = Object.keys(h || {}).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : h[key];
}

/** Server-side login count: qcloud.cam.id_skey calls (Wafer 1) or Wafer 2 logins of any kind. */
function serverLogins(world) {
  return world.dialect === 'wafer2'
    ? world.stack.wafer2.stats.logins + world.stack.wafer2.stats.codeLogins
    : world.stack.auth.stats.logins;
}

/** Every stored session on the server side answers "expired" from now on. */
async function expireSessions(world) {
  if (world.dialect === 'wafer2') await world.stack.wafer2.expireAll();
  else world.stack.auth.expireAll();
}

/** The server-side session lifetime (Wafer 2: the SDK's wxLoginExpires, in its process). */
async function setSessionLifetime(world, ms) {
  if (world.dialect === 'wafer2') await world.stack.wafer2.setSessionLifetime(ms);
  else world.stack.auth.sessionLifetimeMs = ms;
}

/** `wafer-node-sdk 1.4.5 on MariaDB 10.11.x (…)`: what the Wafer 2 server of a world runs on. */
function wafer2Versions(world) {
  const v = world.stack.wafer2.versions;
  return `wafer-node-sdk ${v['wafer-node-sdk']} on MariaDB ${v.mariadb} (the MariaDB server took ${world.stack.wafer2.mariadb.startupMs} ms to start)`;
}

module.exports = Object.assign({}, demo, {
  SESSION_KEY,
  tarball,
  startWorld,
  requestsTo,
  header,
  serverLogins,
  expireSessions,
  setSessionLifetime,
  wafer2Versions,
});
