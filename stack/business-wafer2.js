'use strict';

// Wafer 2 business server: the UNMODIFIED official wafer-node-sdk (1.4.5) in a Koa app shaped
// like the Wafer 2 quickstart (stack/wafer2/app.js), running in its own process
// (stack/wafer2/server.js: the SDK's configuration, connection pool and tunnel receiveUrl are
// per process), on a fresh database of the process's MariaDB server (stack/mariadb.js) holding
// the quickstart's cSessionInfo table.
//
//   GET  /weapp/login   X-WX-Code + X-WX-Encrypted-Data + X-WX-IV, or X-WX-Code alone
//                       → { code: 0, data: { userinfo, skey, time } }
//   GET  /weapp/user    X-WX-Skey → { code: 0, data: userinfo }; expired → { code: -1, data: {} }
//   GET  /weapp/tunnel  X-WX-Skey → { code: 0, data: { tunnelId, connectUrl } }
//   POST /weapp/tunnel  the tunnel server's reports → { code: 0, data: {} }
//   POST /weapp/upload  X-WX-Skey + multipart → { code: 0, data: { fields, files } }
//   Every error → HTTP 200 { code: -1, error: '<message>' }; any other path → { code: 0, data: {} }.
//
// This object is the server's front (what nginx is in a real deployment): it listens on the
// public port, applies the fault switches, counts the login requests and the { code: -1 }
// answers, and forwards every request unchanged to the server process. The chat room's
// events come back from that process over IPC, each with a snapshot of the room.

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const express = require('express');
const { HttpService, whenReady } = require('./util');
const { DEFAULT_APP_ID, DEFAULT_APP_SECRET } = require('./wechat');
const { acquireMariaDb, releaseMariaDb } = require('./mariadb');
const { CHAT_EVENTS } = require('./chat-room');

const SERVER = path.join(__dirname, 'wafer2', 'server.js');
const TABLE_SQL = path.join(__dirname, 'wafer2', 'cSessionInfo.sql');
const OUTPUT_LIMIT = 16 * 1024;

// The SDK's wxLoginExpires is whole seconds, and 0 means its default (7200).
const toSeconds = (ms) => Math.trunc(ms / 1000) || Math.sign(ms);

/** This process's environment without proxy settings: the server only talks to loopback. */
function serverEnv() {
  const env = Object.assign({}, process.env);
  for (const key of Object.keys(env)) if (/^(https?|all|no)_proxy$/i.test(key)) delete env[key];
  return env;
}

class Wafer2Business extends HttpService {
  /**
   * options: host, port, publicHost, wechatUrl, tunnelUrl, signatureKey, appId, appSecret,
   *          sessionLifetimeMs (the SDK's wxLoginExpires, whole seconds; default 2 h),
   *          rootPathname (the router prefix, default '/weapp'), networkTimeoutMs (the SDK's
   *          axios timeout)
   * Hooks: the chat room's events (see chat-room.js, relayed from the server process), plus
   * 'login' { mode: 'full' | 'code', userinfo } for every successful login and
   * 'failure' { path, error } for every { code: -1 } answer, both before the answer is sent on.
   */
  constructor(options = {}) {
    super('wafer2', options);
    for (const key of ['wechatUrl', 'tunnelUrl', 'signatureKey']) {
      if (!options[key]) throw new TypeError(`Wafer2Business: ${key} is required`);
    }
    this.wechatUrl = options.wechatUrl.replace(/\/$/, '');
    this.tunnelUrl = options.tunnelUrl.replace(/\/$/, '');
    this.signatureKey = options.signatureKey;
    this.appId = options.appId || DEFAULT_APP_ID;
    this.appSecret = options.appSecret || DEFAULT_APP_SECRET;
    this._sessionLifetimeMs = options.sessionLifetimeMs || 2 * 60 * 60 * 1000;
    this.rootPathname = options.rootPathname === undefined ? '/weapp' : options.rootPathname;
    /** Login requests that reached the server, by kind, and { code: -1 } answers. */
    this.stats = { logins: 0, codeLogins: 0, failures: 0 };
    /** The chat room of the server process, as of its last event. */
    this.chat = { userMap: {}, connectedTunnelIds: [], invalidTunnelIdsSeen: [] };
    /** { 'wafer-node-sdk', mariadb } while running. */
    this.versions = null;
    /** The MariaDB server (stack/mariadb.js) and this server's database on it, while running. */
    this.mariadb = null;
    this.database = null;
    this.db = null; // connections to that database (for the controls)
    this.process = null; // the server process
    this.backendPort = 0;
    this._output = '';
    this._calls = new Map();
    this._nextCall = 1;
    this._agent = null;

    const app = express();
    app.disable('x-powered-by');
    app.use(this.faultMiddleware());
    app.use((req, res) => this._forward(req, res));
    this.app = app;
  }

  get receiveUrl() {
    return `${this.url}${this.rootPathname}/tunnel`;
  }

  get sessionLifetimeMs() { return this._sessionLifetimeMs; }

  set sessionLifetimeMs(_) {
    throw new TypeError('Wafer2Business: the lifetime lives in the server process: use `await setSessionLifetime(ms)`');
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /** Database, front and server process; a start after stop() begins with an empty database. */
  async start() {
    if (this.server) return this;
    try {
      this.mariadb = await acquireMariaDb();
      this.database = await this.mariadb.createDatabase('wafer2_');
      this.db = this.mariadb.connect(this.database);
      await this.db.query(fs.readFileSync(TABLE_SQL, 'utf8').replace(/^--.*$/mg, '').trim());
      await super.start(); // the public port is known from here on: the SDK needs it
      this._agent = new http.Agent({ keepAlive: true });
      const ready = await this._spawn();
      this.backendPort = ready.port;
      this.versions = Object.assign({}, ready.versions, { mariadb: this.mariadb.version });
    } catch (err) {
      await this._teardown();
      throw err;
    }
    return this;
  }

  async stop(options) {
    await super.stop(options);
    await this._teardown();
  }

  async _teardown() {
    if (this.server) await super.stop({});
    if (this._agent) this._agent.destroy();
    this._agent = null;
    const child = this.process;
    if (child) {
      const exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve)));
      if (child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (this.db) await this.db.end();
    this.db = null;
    if (this.mariadb) {
      if (this.database) await this.mariadb.dropDatabase(this.database).catch(() => {});
      await releaseMariaDb(this.mariadb);
    }
    this.mariadb = null;
    this.database = null;
    this.versions = null;
  }

  _spawn() {
    const child = spawn(process.execPath, [SERVER], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: serverEnv() });
    this.process = child;
    this._output = '';
    const keep = (d) => { this._output = (this._output + d).slice(-OUTPUT_LIMIT); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('message', (m) => this._onMessage(m));
    child.once('exit', (code, signal) => {
      if (this.process === child) this.process = null;
      for (const { reject } of this._calls.values()) reject(new Error(`the Wafer 2 server process exited (${signal || code})`));
      this._calls.clear();
      this.emit('serverExit', { code, signal, output: this._output });
    });
    return whenReady(child, {
      send: {
        type: 'start',
        config: {
          prefix: this.rootPathname,
          appId: this.appId,
          appSecret: this.appSecret,
          mysql: this.mariadb.sdkConfig(this.database),
          serverHost: this.publicHost,
          serverPort: this.port,
          tunnelServerUrl: this.tunnelUrl,
          tunnelSignatureKey: this.signatureKey,
          wxLoginExpires: toSeconds(this._sessionLifetimeMs),
          wechatUrl: this.wechatUrl,
          networkTimeoutMs: this.networkTimeoutMs,
        },
      },
      ready: 'ready',
      failed: 'failed',
      failedError: (m) => new Error(`the Wafer 2 server did not start: ${m.message}`),
      exitError: (code, signal) => new Error(`the Wafer 2 server process exited (${signal || code}) before it was ready:\n${this._output}`),
    });
  }

  _onMessage(m) {
    if (!m) return;
    if (m.type === 'event' && CHAT_EVENTS.includes(m.name)) {
      const { userMap, connectedTunnelIds, invalidTunnelIdsSeen } = this.chat;
      for (const key of Object.keys(userMap)) delete userMap[key];
      Object.assign(userMap, m.chat.userMap);
      connectedTunnelIds.splice(0, connectedTunnelIds.length, ...m.chat.connectedTunnelIds);
      invalidTunnelIdsSeen.splice(0, invalidTunnelIdsSeen.length, ...m.chat.invalidTunnelIdsSeen);
      this.emit(m.name, m.payload);
    } else if (m.type === 'result') {
      const call = this._calls.get(m.id);
      if (!call) return;
      this._calls.delete(m.id);
      if (m.error !== undefined) call.reject(new Error(m.error));
      else call.resolve(m.value);
    }
  }

  /** Run one of the server process's operations (server.js OPS). */
  _call(op, ...args) {
    const child = this.process;
    if (!child || !child.connected) return Promise.reject(new Error('the Wafer 2 server is not running'));
    const id = this._nextCall++;
    return new Promise((resolve, reject) => {
      this._calls.set(id, { resolve, reject });
      child.send({ type: 'call', id, op, args });
    });
  }

  // ---- the front -------------------------------------------------------------------------

  _forward(req, res) {
    const pathname = req.url.split('?')[0];
    let login = null;
    if (req.method === 'GET' && pathname === `${this.rootPathname}/login`) {
      // lib/auth authorization(): the code alone is a code-only login, anything more a full one.
      const [code, data, iv] = ['x-wx-code', 'x-wx-encrypted-data', 'x-wx-iv'].map((h) => req.headers[h]);
      if (code && !data && !iv) login = 'code';
      else if (code || data || iv) login = 'full';
      if (login === 'code') this.stats.codeLogins += 1;
      if (login === 'full') this.stats.logins += 1;
    }
    const headers = Object.assign({}, req.headers);
    delete headers.connection;
    delete headers['keep-alive'];
    const upstream = http.request({
      host: '127.0.0.1', port: this.backendPort, method: req.method, path: req.url, headers, agent: this._agent,
    }, (upRes) => {
      const chunks = [];
      upRes.on('data', (c) => chunks.push(c));
      upRes.on('error', () => res.destroy());
      upRes.on('end', () => {
        const body = Buffer.concat(chunks);
        this._observe(pathname, login, body);
        const out = Object.assign({}, upRes.headers);
        for (const h of ['connection', 'keep-alive', 'transfer-encoding']) delete out[h];
        out['content-length'] = body.length;
        res.writeHead(upRes.statusCode, out);
        res.end(body);
      });
    });
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`wafer2: the server process did not answer: ${err.message}`);
    });
    req.pipe(upstream);
  }

  _observe(pathname, login, body) {
    let json;
    try { json = JSON.parse(body.toString('utf8')); } catch (_) { return; }
    if (!json || typeof json !== 'object') return;
    if (json.code === -1) {
      this.stats.failures += 1;
      this.emit('failure', { path: pathname, error: json.error });
    } else if (login && json.code === 0 && json.data && json.data.skey) {
      this.emit('login', { mode: login, userinfo: json.data.userinfo });
    }
  }

  // ---- controls ----------------------------------------------------------------------------

  /** One SQL statement on this server's database (`?` placeholders filled from `values`). */
  query(sql, values) {
    if (!this.db) return Promise.reject(new Error('the Wafer 2 server is not running'));
    return this.db.query(sql, values);
  }

  /** The SDK's wxLoginExpires (whole seconds), read on every validation. */
  async setSessionLifetime(ms) {
    await this._call('setLoginExpires', toSeconds(ms));
    this._sessionLifetimeMs = ms;
  }

  /** Every stored login is older than the session lifetime: /weapp/user answers { code: -1, data: {} }. */
  async expireAll() {
    const seconds = Math.max(toSeconds(this._sessionLifetimeMs), 0) + 60;
    await this.query('UPDATE cSessionInfo SET last_visit_time = last_visit_time - INTERVAL ? SECOND', [seconds]);
  }

  /** Every skey becomes unknown ({ code: -1, error: 'ERR_SKEY_INVALID' }); the users stay stored. */
  async invalidateAll() {
    await this.query("UPDATE cSessionInfo SET skey = CONCAT('invalidated-', uuid)");
  }

  /** Forget the users too: a code-only login fails until a full one. */
  async forgetUsers() {
    await this.query('DELETE FROM cSessionInfo');
  }

  /** Server-initiated broadcast / push / close, through the SDK's tunnel service. */
  broadcast(type, content) { return this._call('broadcast', type, content); }

  emitTo(tunnelId, type, content) { return this._call('emitTo', tunnelId, type, content); }

  closeTunnel(tunnelId) { return this._call('closeTunnel', tunnelId); }
}

module.exports = { Wafer2Business };
