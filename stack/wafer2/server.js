'use strict';

// The process of one Wafer 2 business server (spawned by stack/business-wafer2.js with an IPC
// channel). wafer-node-sdk keeps its configuration, its knex connection pool and its tunnel
// receiveUrl in module-level state, once per process, so every stack runs its own server
// process.
//
// The SDK is configured, not modified: its config (the quickstart's config.js fields), and
// the axios instance it requires, whose requests to api.weixin.qq.com are sent to the
// stack's mock WeChat instead (an axios request interceptor), with the stack's network
// timeout.
//
// IPC: the parent sends { type: 'start', config }; this process answers { type: 'ready', port,
// versions } once it listens, relays the chat room's events as { type: 'event', name,
// payload, chat } (chat: a snapshot of the room after the handler ran), and answers
// { type: 'call', id, op, args } with { type: 'result', id, value | error }.
// It exits when the parent sends { type: 'stop' } or goes away.

const http = require('node:http');
const path = require('node:path');
const { EventEmitter } = require('node:events');
const { CHAT_EVENTS } = require('../chat-room');

const WECHAT_API = 'https://api.weixin.qq.com';
const SDK_DIR = path.dirname(require.resolve('wafer-node-sdk/package.json'));

let server = null;
let qcloud = null;
let chat = null;

function send(message) {
  if (process.connected) process.send(message, () => {});
}

// A plain-data copy of the chat room's state, sent with every event.
const snapshot = () => JSON.parse(JSON.stringify({
  userMap: chat.userMap,
  connectedTunnelIds: chat.connectedTunnelIds,
  invalidTunnelIdsSeen: chat.invalidTunnelIdsSeen,
}));

const plain = (value) => (value instanceof Error ? { message: value.message } : value);

/** The SDK's own axios (the instance its lib/auth and lib/tunnel require). */
function sdkAxios() {
  return require(require.resolve('axios', { paths: [SDK_DIR] }));
}

function configureAxios({ wechatUrl, networkTimeoutMs }) {
  const axios = sdkAxios();
  axios.defaults.timeout = networkTimeoutMs;
  axios.interceptors.request.use((config) => {
    if (typeof config.url === 'string' && config.url.startsWith(`${WECHAT_API}/`)) {
      config.url = wechatUrl + config.url.slice(WECHAT_API.length);
    }
    return config;
  });
}

async function start(config) {
  configureAxios(config);
  // server/qcloud.js of the quickstart: the SDK initialised with server/config.js, whose
  // rootPathname is '' (the SDK prepends it to req.url, which already holds the router prefix).
  qcloud = require('wafer-node-sdk')({
    rootPathname: '',
    appId: config.appId,
    appSecret: config.appSecret,
    useQcloudLogin: false,
    mysql: config.mysql,
    cos: { region: 'ap-guangzhou', fileBucket: 'local', uploadFolder: '' },
    serverHost: config.serverHost,
    serverPort: config.serverPort,
    tunnelServerUrl: config.tunnelServerUrl,
    tunnelSignatureKey: config.tunnelSignatureKey,
    qcloudAppId: '',
    qcloudSecretId: '',
    qcloudSecretKey: '',
    wxMessageToken: '',
    wxLoginExpires: config.wxLoginExpires,
  });

  const hooks = new EventEmitter();
  const { createApp } = require('./app');
  const built = createApp(qcloud, { prefix: config.prefix, hooks });
  chat = built.chat;
  for (const name of CHAT_EVENTS) {
    hooks.on(name, (payload) => {
      const data = Object.assign({}, payload);
      if (data.error) data.error = plain(data.error);
      send({ type: 'event', name, payload: data, chat: snapshot() });
    });
  }

  server = http.createServer(built.app.callback());
  server.on('clientError', (err, socket) => socket.destroy());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    versions: { 'wafer-node-sdk': require('wafer-node-sdk/package.json').version },
  };
}

const OPS = {
  // Server-initiated pushes through the SDK's tunnel service.
  broadcast: (type, content) => chat.broadcast(type, content),
  emitTo: (tunnelId, type, content) => qcloud.tunnel.broadcast([tunnelId], type, content),
  closeTunnel: (tunnelId) => qcloud.tunnel.closeTunnel(tunnelId),
  // The quickstart's wxLoginExpires (seconds), read by the SDK on every validation.
  setLoginExpires: (seconds) => { qcloud.config.wxLoginExpires = seconds; },
};

async function stop() {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (qcloud) await qcloud.mysql.destroy();
  process.exit(0);
}

process.on('message', (m) => {
  if (!m) return;
  if (m.type === 'start') {
    start(m.config).then(
      (info) => send(Object.assign({ type: 'ready' }, info)),
      (err) => { send({ type: 'failed', message: err.stack || err.message }); process.exit(1); },
    );
  } else if (m.type === 'call') {
    Promise.resolve()
      .then(() => OPS[m.op](...m.args))
      .then(
        (value) => send({ type: 'result', id: m.id, value: value === undefined ? null : value }),
        (err) => send({ type: 'result', id: m.id, error: err && err.message ? err.message : String(err) }),
      );
  } else if (m.type === 'stop') {
    stop();
  }
});
process.on('disconnect', () => process.exit(0));
