'use strict';
// The pieces of the wafer-tunnel suites: the built binary (target/service/wafer-tunnel, built
// by the tunnel-build layer of `npm test`) as child processes, a private redis-server, the
// official business servers pointed at the service, and phones (the packed wafer-wasm or the
// official client of the business server's dialect in the strict simulator). Timeouts are
// safety nets; nothing asserts speed.
//
// Business servers are entries of BUSINESS (dialect → { official: the official client of that
// dialect, sdk: the official server SDK, start }), and the suites run once per entry:
// `startBusiness(dialect, { tunnelUrl, key })` resolves to { dialect, business, sdk: { name,
// version }, endpoints: { login, tunnel }, receiveUrl (where its SDK should ask for reports),
// ledger (the handler's tunnel requests, connect / message / close calls and broadcasts, in
// order), broadcast, emitTo, closeTunnel, wechatBackend(name), stop() }.

const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFile } = require('node:child_process');

const { WechatService, wechatBackend } = require('../../stack/wechat');
const { AuthServer } = require('../../stack/auth-server');
const { Wafer1Business } = require('../../stack/business-wafer1');
const { Wafer2Business } = require('../../stack/business-wafer2');
const { randomHex, httpJson, sha1, freePort } = require('../../stack/util');
const { createSim, installPackage } = require('../sim');
const { findTarball } = require('../js/helpers/sdk');
const { Proxy } = require('./proxy');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'target', 'service', process.platform === 'win32' ? 'wafer-tunnel.exe' : 'wafer-tunnel');
const CLIENTS = {
  'wafer-wasm': () => findTarball(),
  'wafer-client-sdk': () => path.join(ROOT, 'node_modules', 'wafer-client-sdk'),
  'wafer2-client-sdk': () => path.join(ROOT, 'node_modules', 'wafer2-client-sdk'),
};

/** Poll until `predicate()` is truthy (the timeout is a safety net). */
async function waitFor(predicate, what, timeoutMs = 20000) {
  const started = Date.now();
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// Child processes (nodes, redis-server) die with the test process, whatever ends it.
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

// ---- wafer-tunnel processes ------------------------------------------------------------

/**
 * Start one wafer-tunnel node. options: key, heartbeat (s), redis (url), nodeId, publicUrl,
 * port (0), args (extra flags), env (WAFER_TUNNEL_* variables; none is inherited). Resolves
 * once it prints its address; `logs` (stderr lines) and `stdout` keep what it printed.
 */
async function startTunnel(options = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} missing: the tunnel-build layer builds it (cargo build --profile service -p wafer-tunnel)`);
  const args = ['--listen', `127.0.0.1:${options.port || 0}`, '--signature-key', options.key, '--log-level', options.logLevel || 'info'];
  if (options.heartbeat) args.push('--heartbeat', String(options.heartbeat));
  if (options.redis) args.push('--redis', options.redis, '--node-ttl', String(options.nodeTtl || 2));
  if (options.nodeId) args.push('--node-id', options.nodeId);
  if (options.publicUrl) args.push('--public-url', options.publicUrl);
  args.push(...(options.args || []));
  const env = { ...tunnelEnv(), ...options.env };
  const proc = track(spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const node = { proc, logs: [], stdout: '', args, exited: null };
  proc.stderr.on('data', (d) => node.logs.push(...String(d).split('\n').filter(Boolean)));
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
    node.exited = { code, signal };
    resolve(node.exited);
  }));
  const addr = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      node.stdout += d;
      const m = /listening on ([\d.]+:\d+) \(node (\S+)\)/.exec(node.stdout);
      if (m) resolve(m);
    });
    exited.then((e) => reject(new Error(`wafer-tunnel exited (${JSON.stringify(e)}) before listening:\n${node.logs.join('\n')}`)));
  });
  node.port = Number(addr[1].split(':')[1]);
  node.name = addr[2];
  node.url = `http://127.0.0.1:${node.port}`;
  node.kill9 = async () => {
    if (!node.exited) proc.kill('SIGKILL');
    return exited;
  };
  node.stop = async () => {
    if (!node.exited) proc.kill('SIGTERM');
    return exited;
  };
  /** Counters of GET /metrics, without the wafer_tunnel_ prefix and _total suffix. */
  node.metrics = async () => {
    const res = await httpJson('GET', `${node.url}/metrics`);
    const out = {};
    for (const m of res.text.matchAll(/^wafer_tunnel_(\w+?)(?:_total)? (\d+)$/gm)) out[m[1]] = Number(m[2]);
    return out;
  };
  node.health = () => httpJson('GET', `${node.url}/healthz`);
  return node;
}

/** The environment of a wafer-tunnel process: this one's, without any WAFER_TUNNEL_* variable. */
function tunnelEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WAFER_TUNNEL_')));
}

/**
 * A private redis-server on a free loopback port, or `port` (no persistence).
 * options: password (`--requirepass`, used by `command` too), tls (serve TLS only, with the
 * fixture certificate for 127.0.0.1 signed by TEST_CA), args (more server flags).
 * `command(...args)` runs one command with redis-cli (Debian's redis-tools, which
 * redis-server depends on) and resolves to its raw output, trimmed.
 */
async function startRedis(port, options = {}) {
  port = port || await freePort();
  const serverArgs = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const cliAuth = [];
  if (options.password) {
    serverArgs.push('--requirepass', options.password);
    cliAuth.push('-a', options.password, '--no-auth-warning');
  }
  if (options.tls) {
    serverArgs.splice(0, 2, '--port', '0', '--tls-port', String(port));
    serverArgs.push('--tls-cert-file', path.join(FIXTURES, 'receiver.pem'), '--tls-key-file', path.join(FIXTURES, 'receiver.key'),
      '--tls-ca-cert-file', TEST_CA, '--tls-auth-clients', 'no');
    cliAuth.push('--tls', '--cacert', TEST_CA);
  }
  serverArgs.push(...(options.args || []));
  const proc = track(spawn('redis-server', serverArgs, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/i.test(out)) resolve();
    });
    proc.once('error', (e) => reject(new Error(`cannot run redis-server (setup installs it): ${e.message}`)));
    exited.then((code) => reject(new Error(`redis-server exited with ${code}:\n${out}`)));
  });
  return {
    url: `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    command: (...args) => new Promise((resolve, reject) => {
      execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...cliAuth, '--raw', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
    }),
    stop: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Test-only TLS material: a CA and a certificate for 127.0.0.1 it signed (100 years). */
const FIXTURES = path.join(__dirname, 'fixtures');
const TEST_CA = path.join(FIXTURES, 'ca.pem');

/**
 * A bare receiveUrl endpoint: records every signed report it gets, answers with
 * `answer(report)` → HTTP status (200 default; 'hang' never answers). `tls`: serve https
 * with the fixture certificate (trusted through TEST_CA).
 */
async function startReceiver(key, { tls = false } = {}) {
  const http = tls ? require('node:https') : require('node:http');
  const serverOptions = tls
    ? { cert: fs.readFileSync(path.join(FIXTURES, 'receiver.pem')), key: fs.readFileSync(path.join(FIXTURES, 'receiver.key')) }
    : {};
  const rec = { reports: [], bad: 0, answer: () => 200 };
  const server = http.createServer(serverOptions, (req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let report = null;
      try {
        const env = JSON.parse(body);
        if (sha1(env.data + key) === env.signature) report = JSON.parse(env.data);
      } catch (e) { /* counted below */ }
      if (!report) rec.bad += 1;
      const status = report ? rec.answer(report) : 400;
      if (status === 'hang') return; // stop() destroys the socket
      if (report && status === 200) rec.reports.push(report);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: status === 200 ? 0 : -1 }));
    });
  });
  // Every TCP connection, TLS handshakes still going included (closeAllConnections only
  // knows the ones that reached HTTP), so stop() never waits on a client's pool.
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  rec.url = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}/tunnel`;
  rec.of = (tunnelId) => rec.reports.filter((r) => r.tunnelId === tunnelId);
  rec.stop = () => new Promise((r) => {
    server.close(r);
    for (const socket of sockets) socket.destroy();
  });
  return rec;
}

/** POST a signed envelope to a node's API. */
function callApi(node, path, data, key) {
  const text = JSON.stringify(data);
  return httpJson('POST', `${node.url}${path}`, { data: text, tcId: 'test', signature: sha1(text + key) });
}

// ---- business servers --------------------------------------------------------------------

/**
 * Per-tunnel reports as the business server's handler saw them, in order, and its tunnel
 * requests (`requests`: { tunnelId, userInfo } of every GET of the tunnel URL it answered).
 */
function ledgerOf(business) {
  const ledger = { events: [], messages: [], broadcasts: [], requests: [] };
  business.on('onRequest', ({ tunnelId, userInfo }) => ledger.requests.push({ tunnelId, userInfo: JSON.parse(JSON.stringify(userInfo || null)) }));
  business.on('onConnect', ({ tunnelId }) => ledger.events.push({ type: 'connect', tunnelId, at: Date.now() }));
  business.on('onClose', ({ tunnelId }) => ledger.events.push({ type: 'close', tunnelId, at: Date.now() }));
  business.on('onMessage', ({ tunnelId, type, content }) => {
    ledger.events.push({ type: 'message', tunnelId, at: Date.now() });
    ledger.messages.push({ tunnelId, type, content: JSON.parse(JSON.stringify(content === undefined ? null : content)) });
  });
  business.on('broadcast', (b) => ledger.broadcasts.push(JSON.parse(JSON.stringify(b))));
  ledger.of = (tunnelId) => ledger.events.filter((e) => e.tunnelId === tunnelId).map((e) => e.type);
  ledger.closed = (tunnelId) => ledger.of(tunnelId).includes('close');
  ledger.connected = (tunnelId) => ledger.of(tunnelId).includes('connect');
  return ledger;
}

const BUSINESS = {
  /** qcloud-weapp-server-sdk 0.8 (unmodified) behind express, with the mock WeChat and auth server. */
  wafer1: { official: 'wafer-client-sdk', sdk: 'qcloud-weapp-server-sdk', start: startWafer1 },
  /**
   * wafer-node-sdk 1.4.5 (unmodified) in the quickstart-shaped Koa app on MariaDB, in its own
   * process (the SDK computes its receiveUrl once per process), with the mock WeChat.
   */
  wafer2: { official: 'wafer2-client-sdk', sdk: 'wafer-node-sdk', start: startWafer2 },
};

/** Starts services in order; stop() stops the started ones in reverse order. */
function serviceGroup() {
  const started = [];
  return {
    start: async (s) => { await s.start(); started.push(s); return s; },
    stop: async () => { for (const s of started.splice(0).reverse()) await s.stop(); },
  };
}

/** The test-facing face of a business server of the stack (see startBusiness). */
function businessFace(dialect, business, root, wechat, group, receiveUrl) {
  const sdk = BUSINESS[dialect].sdk;
  // The Wafer 2 server reports the version its process loaded; Wafer 1 runs in this process.
  const version = (business.versions && business.versions[sdk]) || require(`${sdk}/package.json`).version;
  return {
    dialect,
    business,
    /** The official server SDK it runs: { name, version }. */
    sdk: { name: sdk, version },
    endpoints: { login: `${root}/login`, tunnel: `${root}/tunnel` },
    /** Where its SDK should ask the service to report, built from its configuration. */
    receiveUrl,
    ledger: ledgerOf(business),
    wechatBackend: (name) => wechatBackend({ wechat: wechat.url }, name),
    broadcast: (type, content) => business.broadcast(type, content),
    emitTo: (tunnelId, type, content) => business.emitTo(tunnelId, type, content),
    closeTunnel: (tunnelId) => business.closeTunnel(tunnelId),
    stop: group.stop,
  };
}

async function startWafer1({ tunnelUrl, key }) {
  const group = serviceGroup();
  try {
    const wechat = await group.start(new WechatService({}));
    const auth = await group.start(new AuthServer({ wechatUrl: wechat.url }));
    const business = await group.start(new Wafer1Business({ authUrl: auth.endpoint, tunnelUrl, signatureKey: key }));
    // ServerHost '127.0.0.1:<port>': the SDK writes http://[127.0.0.1:<port>]/tunnel, read as this.
    return businessFace('wafer1', business, business.url, wechat, group, `${business.url}/tunnel`);
  } catch (e) {
    await group.stop();
    throw e;
  }
}

/**
 * The stack's Wafer 2 server configures the SDK with `tunnelServerUrl: tunnelUrl`,
 * `tunnelSignatureKey: key`, and `serverHost` / `serverPort` = its own address, from which
 * the SDK builds receiveUrl (stack/wafer2/server.js).
 */
async function startWafer2({ tunnelUrl, key }) {
  const group = serviceGroup();
  try {
    const wechat = await group.start(new WechatService({}));
    const business = await group.start(new Wafer2Business({ wechatUrl: wechat.url, tunnelUrl, signatureKey: key }));
    // serverHost + serverPort + the path of the tunnel route.
    const root = `${business.url}${business.rootPathname}`;
    return businessFace('wafer2', business, root, wechat, group, `${root}/tunnel`);
  } catch (e) {
    await group.stop();
    throw e;
  }
}

function startBusiness(dialect, options) {
  return BUSINESS[dialect].start(options);
}

function tunnelIdOfUrl(url) {
  const m = /[?&]tunnelId=([^&]+)/.exec(url || '');
  return m ? decodeURIComponent(m[1]) : null;
}

// ---- phones ----------------------------------------------------------------------------

/**
 * A simulated phone running `client` ('wafer-wasm' packed, or the official
 * 'wafer-client-sdk' / 'wafer2-client-sdk'): logs in through the business server, opens a
 * Tunnel to it, and records what it receives. Resolves when the tunnel is connected.
 */
async function openPhone(business, name, client) {
  const sim = createSim({ wechat: business.wechatBackend(name) });
  const phone = { name, client, sim, events: [], received: [], tunnel: null };
  /** The tunnel id of the phone's current socket URL. */
  phone.tunnelId = () => tunnelIdOfUrl(phone.tunnel && phone.tunnel.socketUrl);
  try {
    installPackage(sim.root, CLIENTS[client](), client);
    const sdk = sim.require(client);
    await sdk.setLoginUrl(business.endpoints.login); // a promise in wafer-wasm, undefined in the official clients
    const login = await new Promise((resolve) => {
      sdk.login({ success: (userInfo) => resolve({ userInfo }), fail: (error) => resolve({ error }) });
    });
    if (!login.userInfo) throw new Error(`${name} (${client}) cannot log in: ${login.error && login.error.message}`);
    const tunnel = new sdk.Tunnel(business.endpoints.tunnel);
    phone.tunnel = tunnel;
    for (const ev of ['connect', 'close', 'reconnecting', 'reconnect', 'error']) {
      tunnel.on(ev, () => phone.events.push({ ev, at: Date.now(), tunnelId: phone.tunnelId() }));
    }
    for (const type of ['speak', 'people', 'tick', 'notice']) {
      tunnel.on(type, (content) => phone.received.push({
        type,
        content: JSON.parse(JSON.stringify(content === undefined ? null : content)),
        tunnelId: phone.tunnelId(),
      }));
    }
    tunnel.open();
    await waitFor(() => phone.events.some((e) => e.ev === 'connect') || phone.events.find((e) => e.ev === 'error'), `${name} to connect`);
    if (!phone.events.some((e) => e.ev === 'connect')) throw new Error(`${name} (${client}) failed to connect: ${JSON.stringify(phone.events)}`);
  } catch (e) {
    await sim.close();
    throw e;
  }
  return phone;
}

/**
 * Open a phone through `edge` (the phones' proxy in front of several nodes) on node
 * `nodeName`, add it to `phones`, and check that its tunnel landed there.
 */
async function openPhoneOn({ edge, business, phones }, nodeName, name, client) {
  edge.routeNextTo(nodeName);
  const p = await openPhone(business, name, client);
  phones.push(p);
  if (edge.tunnelNode.get(p.tunnelId()) !== nodeName) throw new Error(`${name} is not on node ${nodeName}`);
  return p;
}

/**
 * Stop what a cluster suite started. The nodes go before the business server: a graceful
 * stop delivers the last close reports, which a stopped business server would leave to be
 * retried until the stop gives up.
 */
async function stopCluster({ phones = [], nodes = [], business, proxies = [], redis }) {
  for (const p of phones) await p.sim.close();
  for (const n of nodes) await n.stop();
  if (business) await business.stop();
  for (const p of proxies) if (p) await p.stop();
  if (redis) await redis.stop();
}

Object.assign(module.exports, {
  ROOT,
  BIN,
  CLIENTS,
  tunnelEnv,
  waitFor,
  delay,
  freePort,
  startTunnel,
  startRedis,
  startReceiver,
  TEST_CA,
  callApi,
  startBusiness,
  BUSINESS,
  openPhone,
  openPhoneOn,
  stopCluster,
  Proxy,
  randomKey: () => randomHex(16),
  tunnelIdOfUrl,
  sha1,
  httpJson,
});

