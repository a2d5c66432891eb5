'use strict';

// The local Wafer stack: mock WeChat, auth server, tunnel server, Wafer 1 and
// Wafer 2 business servers on loopback ports. Everything runs in this process except the
// Wafer 2 server (the official wafer-node-sdk, in a process of its own) and its MariaDB
// server (one per process, shared by the stacks; a database per stack).
//
//   const { startStack, wechatBackend } = require('./stack');
//   const stack = await startStack({ ports: { wafer1: 0 }, sessionLifetimeMs: 60000 });
//   stack.urls       → { wechat, auth, tunnel, wafer1, wafer2 }
//   stack.endpoints  → { wafer1: { login, user, tunnel, upload }, wafer2: { ...same } }
//   stack.wechat / auth / tunnel / wafer1 / wafer2   control objects
//   stack.wechatBackend('alice')                     the simulator's wx login backend
//   await stack.stop()

const { WechatService, wechatBackend, DEFAULT_APP_ID, DEFAULT_APP_SECRET } = require('./wechat');
const { AuthServer } = require('./auth-server');
const { TunnelServer } = require('./tunnel-server');
const { WaferTunnelProcess } = require('./wafer-tunnel');
const { Wafer1Business } = require('./business-wafer1');
const { Wafer2Business } = require('./business-wafer2');
const { randomHex } = require('./util');

/**
 * options:
 *   host               listen address (default '127.0.0.1')
 *   publicHost         host written into URLs (default: host, or 127.0.0.1 for a wildcard host)
 *   ports              { wechat, auth, tunnel, wafer1, wafer2 } (0 / missing = random)
 *   sessionLifetimeMs  auth server and Wafer 2 session lifetime (default 2 h; Wafer 2: whole seconds)
 *   codeTtlMs          lifetime of a wx.login code (default 5 min)
 *   appId, appSecret   the mini-program's credentials known to the mock WeChat
 *   signatureKey       TunnelSignatureKey (default: random)
 *   networkTimeoutMs   timeout of every server-to-server call (default 10 s)
 *   tunnelServer       'js' (default: the JavaScript tunnel server with the test fault controls)
 *                      or 'wafer-tunnel' (the Rust tunnel service, tunnel-service/, in a child process)
 *   wafer1             false → do not start the Wafer 1 business server
 *   wafer2             false → do not start the Wafer 2 business server
 */
async function startStack(options = {}) {
  const host = options.host || '127.0.0.1';
  const ports = options.ports || {};
  const common = { host, publicHost: options.publicHost, networkTimeoutMs: options.networkTimeoutMs };
  const appId = options.appId || DEFAULT_APP_ID;
  const appSecret = options.appSecret || DEFAULT_APP_SECRET;
  const signatureKey = options.signatureKey || randomHex(16);
  const started = [];

  const startService = async (service) => {
    await service.start();
    started.push(service);
    return service;
  };

  try {
    const wechat = await startService(new WechatService(Object.assign({}, common, {
      port: ports.wechat, appId, appSecret, codeTtlMs: options.codeTtlMs,
    })));
    const auth = await startService(new AuthServer(Object.assign({}, common, {
      port: ports.auth, wechatUrl: wechat.url, appId, appSecret, sessionLifetimeMs: options.sessionLifetimeMs,
    })));
    const Tunnel = options.tunnelServer === 'wafer-tunnel' ? WaferTunnelProcess : TunnelServer;
    const tunnel = await startService(new Tunnel(Object.assign({}, common, {
      port: ports.tunnel, signatureKey,
    })));
    const wafer1 = options.wafer1 === false ? null : await startService(new Wafer1Business(Object.assign({}, common, {
      port: ports.wafer1, authUrl: auth.endpoint, tunnelUrl: tunnel.url, signatureKey,
    })));
    const wafer2 = options.wafer2 === false ? null : await startService(new Wafer2Business(Object.assign({}, common, {
      port: ports.wafer2, wechatUrl: wechat.url, tunnelUrl: tunnel.url, signatureKey, appId, appSecret,
      sessionLifetimeMs: options.sessionLifetimeMs,
    })));

    const urls = {
      wechat: wechat.url,
      auth: auth.endpoint,
      tunnel: tunnel.url,
      wafer1: wafer1 ? wafer1.url : null,
      wafer2: wafer2 ? wafer2.url : null,
    };
    const endpoints = {
      wafer1: wafer1 ? {
        login: `${wafer1.url}/login`, user: `${wafer1.url}/user`, tunnel: `${wafer1.url}/tunnel`, upload: `${wafer1.url}/upload`,
      } : null,
      wafer2: wafer2 ? {
        login: `${wafer2.url}${wafer2.rootPathname}/login`,
        user: `${wafer2.url}${wafer2.rootPathname}/user`,
        tunnel: `${wafer2.url}${wafer2.rootPathname}/tunnel`,
        upload: `${wafer2.url}${wafer2.rootPathname}/upload`,
      } : null,
    };

    let stopping = null;
    const stack = {
      urls,
      endpoints,
      appId,
      appSecret,
      signatureKey,
      wechat,
      auth,
      tunnel,
      wafer1,
      wafer2,
      wechatBackend: (userName) => wechatBackend(urls, userName),
      /** Clear the fault switches of every service. */
      resetFaults() {
        for (const service of started) service.resetFaults();
      },
      /** Close every server and socket (idempotent). The tunnel server stops without reports. */
      stop() {
        if (!stopping) {
          stopping = (async () => {
            await tunnel.stop({ graceful: false });
            await Promise.allSettled(started.filter((s) => s !== tunnel).reverse().map((s) => s.stop()));
          })();
        }
        return stopping;
      },
    };
    return stack;
  } catch (err) {
    await Promise.allSettled(started.reverse().map((s) => s.stop({ graceful: false })));
    throw err;
  }
}

module.exports = {
  startStack,
  wechatBackend,
  WechatService,
  AuthServer,
  TunnelServer,
  Wafer1Business,
  Wafer2Business,
};
