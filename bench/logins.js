'use strict';
/**
 * 20 concurrent `request({ login: true })` with no stored session, each SDK in its own
 * simulator against its own loopback Wafer 1 server (tests/support). Counted: `wx.login`
 * calls (`sim.counters.login`), logins the server performed, and requests that succeeded.
 * Not a timing: the counts are deterministic.
 */

const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CONCURRENT = 20;

async function one(kind, pkgDir) {
  const { createSim, installPackage } = require(path.join(ROOT, 'tests', 'sim'));
  const { startServer } = require(path.join(ROOT, 'tests', 'support'));
  const server = await startServer({ dialect: 'wafer1' });
  const sim = createSim();
  try {
    let requests;
    if (kind === 'ours') {
      installPackage(sim.root, pkgDir, 'wafer-wasm');
      const sdk = sim.require('wafer-wasm');
      sdk.configure({ loginUrl: server.urls.login });
      requests = Array.from({ length: CONCURRENT }, () => sdk.request({ url: server.urls.user, login: true }));
    } else {
      installPackage(sim.root, path.join(ROOT, 'node_modules', 'wafer-client-sdk'), 'wafer-client-sdk');
      const sdk = sim.require('wafer-client-sdk');
      sdk.setLoginUrl(server.urls.login);
      requests = Array.from({ length: CONCURRENT }, () => new Promise((resolve, reject) => {
        sdk.request({ url: server.urls.user, login: true, success: resolve, fail: reject });
      }));
    }
    const settled = await Promise.allSettled(requests);
    await sim.settle(20);
    const ok = settled.filter((s) => s.status === 'fulfilled' && s.value && s.value.statusCode === 200 && s.value.data && s.value.data.code === 0).length;
    const failures = settled.filter((s) => s.status === 'rejected').map((s) => String((s.reason && (s.reason.type || s.reason.message)) || s.reason));
    return {
      requests: CONCURRENT,
      succeeded: ok,
      failures,
      wxLogin: sim.counters.login,
      serverLogins: server.counters.logins.total,
      sandboxErrors: sim.errors.length + sim.unhandledRejections.length,
    };
  } finally {
    await sim.close();
    await server.stop();
  }
}

async function run(opts) {
  return { ours: await one('ours', opts.pkgDir), official: await one('official', opts.pkgDir), concurrent: CONCURRENT };
}

module.exports = { run, CONCURRENT };
