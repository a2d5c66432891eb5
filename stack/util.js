'use strict';

// Shared plumbing for the local Wafer stack: hashing, a tiny JSON HTTP client,
// and HttpService, the base class every service extends (listen / stop / start
// again on the same port, fault switches, event hooks).

const crypto = require('crypto');
const http = require('http');
const net = require('net');
const { EventEmitter } = require('events');

const sha1 = (text) => crypto.createHash('sha1').update(String(text), 'utf8').digest('hex');
const md5 = (text) => crypto.createHash('md5').update(String(text), 'utf8').digest('hex');
const randomHex = (bytes) => crypto.randomBytes(bytes).toString('hex');

function isWildcardHost(host) {
  return !host || host === '0.0.0.0' || host === '::' || host === '[::]';
}

// Host as it appears inside a URL (IPv6 literals get brackets).
function urlHost(host) {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * One HTTP request with a JSON (or raw string) body; resolves with
 * `{ status, headers, text, body }` where `body` is the parsed JSON or `undefined`.
 * Rejects on network errors and on timeout. `agent: false`, so no socket outlives it.
 */
function httpJson(method, url, payload, options = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const headers = Object.assign({}, options.headers);
    let data = null;
    if (payload !== undefined && payload !== null) {
      data = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json; charset=utf-8';
      }
      headers['Content-Length'] = data.length;
    }
    const req = http.request({
      method,
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || 80,
      path: target.pathname + target.search,
      headers,
      agent: false,
      signal: options.signal,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body;
        try { body = JSON.parse(text); } catch (e) { body = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, body });
      });
    });
    if (options.timeoutMs) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`timeout after ${options.timeoutMs} ms: ${method} ${url}`)));
    }
    req.on('error', reject);
    req.end(data);
  });
}

/** A port that is free on `host` right now (the OS picks it; another process may take it before use). */
function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onError = (err) => { server.removeListener('listening', onListening); reject(err); };
    const onListening = () => { server.removeListener('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Base of every service. Subclasses set `this.app` (an express app or a request
 * listener) and may override `_attachServer(server)` (for WebSocket upgrades) and
 * `_beforeStop()`.
 *
 * Fault switches, read at request time (set them directly, `resetFaults()` clears them):
 *   down       true → every incoming connection is destroyed without an answer
 *   slowMs     delay before each request is handled
 *   httpStatus non-zero → every request is answered with that HTTP status (text body)
 *   garbage    true or a string → every request is answered 200 with a non-JSON body
 *
 * The object is an EventEmitter; `hooks` is the same object (`svc.hooks.on(...)`).
 */
class HttpService extends EventEmitter {
  constructor(name, options = {}) {
    super();
    this.name = name;
    this.host = options.host || '127.0.0.1';
    this.port = options.port || 0;
    this.publicHost = options.publicHost || (isWildcardHost(this.host) ? '127.0.0.1' : this.host);
    this.networkTimeoutMs = options.networkTimeoutMs || 10000;
    this.server = null;
    this.app = null;
    this._timers = new Set();
    this._outgoing = new AbortController();
    this.resetFaults();
  }

  get hooks() { return this; }

  get url() { return `http://${urlHost(this.publicHost)}:${this.port}`; }

  get running() { return !!this.server; }

  resetFaults() {
    this.down = false;
    this.slowMs = 0;
    this.httpStatus = 0;
    this.garbage = false;
  }

  // Express middleware applying the fault switches.
  faultMiddleware() {
    return (req, res, next) => {
      if (this.down) {
        req.socket.destroy();
        return;
      }
      const proceed = () => {
        if (this.httpStatus) {
          res.writeHead(this.httpStatus, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(`${this.name}: forced HTTP ${this.httpStatus}`);
          return;
        }
        if (this.garbage) {
          res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end(typeof this.garbage === 'string' ? this.garbage : '<html>this is not JSON</html>');
          return;
        }
        next();
      };
      if (this.slowMs > 0) this.delay(this.slowMs, proceed);
      else proceed();
    };
  }

  // setTimeout that stop() cancels (so a slow service never keeps the process alive).
  delay(ms, fn) {
    const timer = setTimeout(() => { this._timers.delete(timer); fn(); }, ms);
    this._timers.add(timer);
    return timer;
  }

  // Outgoing HTTP request (JSON); aborted when the service stops.
  request(method, url, payload, options = {}) {
    return httpJson(method, url, payload, Object.assign({
      timeoutMs: this.networkTimeoutMs,
      signal: this._outgoing.signal,
    }, options));
  }

  _attachServer() {}

  async _beforeStop() {}

  async start() {
    if (this.server) return this;
    const server = http.createServer(this.app);
    server.on('clientError', (err, socket) => socket.destroy());
    this._attachServer(server);
    await listen(server, this.port, this.host);
    this.port = server.address().port; // a restart reuses the same port
    this.server = server;
    if (this._outgoing.signal.aborted) this._outgoing = new AbortController();
    return this;
  }

  async stop(options) {
    const server = this.server;
    if (!server) return;
    await this._beforeStop(options || {});
    this.server = null;
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    this._outgoing.abort();
    await new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/**
 * Read a multipart/form-data request (wx.uploadFile) → { fields, files: [{ field, filename, mimeType, size, sha1 }] }.
 */
function parseUpload(req, limits = { fileSize: 10 * 1024 * 1024 }) {
  const busboy = require('busboy');
  return new Promise((resolve, reject) => {
    let bb;
    try { bb = busboy({ headers: req.headers, limits }); } catch (err) { reject(err); return; }
    const fields = {};
    const files = [];
    const pending = [];
    bb.on('field', (name, value) => { fields[name] = value; });
    bb.on('file', (field, stream, info) => {
      const hash = crypto.createHash('sha1');
      let size = 0;
      pending.push(new Promise((done) => {
        stream.on('data', (chunk) => { size += chunk.length; hash.update(chunk); });
        stream.on('close', () => {
          files.push({ field, filename: info.filename, mimeType: info.mimeType, size, sha1: hash.digest('hex'), truncated: !!stream.truncated });
          done();
        });
      }));
    });
    bb.on('error', reject);
    bb.on('close', () => Promise.all(pending).then(() => resolve({ fields, files })));
    req.pipe(bb);
  });
}

/**
 * qcloud-weapp-server-sdk talks HTTP through the `request` package, which honours
 * HTTP_PROXY / http_proxy. When a proxy is configured, add the stack's hosts to
 * NO_PROXY / no_proxy so loopback calls are not sent to the proxy. No-op otherwise.
 */
function bypassProxyFor(urls) {
  const env = process.env;
  if (!['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy'].some((k) => env[k])) return;
  const current = env.NO_PROXY || env.no_proxy || '';
  const entries = current.split(',').map((e) => e.trim()).filter(Boolean);
  for (const u of urls) {
    const host = new URL(u).hostname.replace(/^\[|\]$/g, '');
    if (!entries.includes(host) && !entries.includes('*')) entries.push(host);
  }
  env.NO_PROXY = entries.join(',');
  env.no_proxy = env.NO_PROXY;
}

/**
 * Starts a child process over its IPC channel: sends `send`, resolves with the first message
 * of type `ready`; rejects with `failedError(message)` on one of type `failed`, or with
 * `exitError(code, signal)` when the child exits first.
 */
function whenReady(child, { send, ready, failed, failedError, exitError }) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m.type === ready) { done(); resolve(m); }
      if (m.type === failed) { done(); reject(failedError(m)); }
    };
    const onExit = (code, signal) => { done(); reject(exitError(code, signal)); };
    const done = () => { child.removeListener('message', onMessage); child.removeListener('exit', onExit); };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(send);
  });
}

module.exports = { sha1, md5, randomHex, urlHost, freePort, whenReady, httpJson, parseUpload, bypassProxyFor, HttpService };
