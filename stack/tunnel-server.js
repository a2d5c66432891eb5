'use strict';

// The Wafer tunnel (WebSocket relay) server.
//
// HTTP API (called by business servers), body { data: <JSON string>, tcId, tcKey?, signature }
// with signature = sha1(data + TunnelSignatureKey) hex:
//   POST /get/wsurl  data { receiveUrl, protocolType }
//        → { code: 0, message: 'OK', data: JSON.stringify({ tunnelId, connectUrl }), signature }
//   POST /ws/push    data [{ tunnelIds: [...], type, content? }]
//        → { code: 0, message: 'OK', data: { invalidTunnelIds: [...] } }
//   Errors (HTTP 200): 9001 body not JSON, 9002 no data/signature, 9003 bad signature,
//                      9004 data not JSON, 9005 bad parameters.
//
// WebSocket: GET /ws?tunnelId=<id> (a tunnel accepts one socket in its life; the client
// asks for a fresh URL on every reconnect). Text frames `type` or `type:content`.
// Reports to receiveUrl: POST { data: JSON.stringify({ tunnelId, type, content? }), signature }
// for 'connect', each client 'message' (content = text after 'message:') and 'close' (once).
// Reports of one tunnel are delivered in order.

const crypto = require('crypto');
const express = require('express');
const { WebSocketServer, WebSocket } = require('ws');
const { HttpService, sha1, randomHex, urlHost } = require('./util');

const CODES = { BAD_JSON: 9001, BAD_REQUEST: 9002, BAD_SIGNATURE: 9003, BAD_DATA: 9004, BAD_PARAM: 9005 };

/**
 * qcloud-weapp-server-sdk builds receiveUrl with url.format({ protocol, hostname: ServerHost, pathname });
 * a ServerHost with a port comes out as `http://[127.0.0.1:8080]/tunnel`. Un-bracket anything
 * that is not a real IPv6 literal (at most one colon inside the brackets).
 */
function normalizeReceiveUrl(receiveUrl) {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)\[([^\]]*)\](.*)$/i.exec(String(receiveUrl));
  if (m && (m[2].match(/:/g) || []).length <= 1) return m[1] + m[2] + m[3];
  return String(receiveUrl);
}

class TunnelServer extends HttpService {
  /**
   * options: host, port, publicHost (host put in connectUrl), signatureKey (required),
   *          checkSignature (default true), pendingTtlMs (how long an unused connectUrl
   *          stays valid, default 5 min), networkTimeoutMs (for reports)
   */
  constructor(options = {}) {
    super('tunnel', options);
    if (!options.signatureKey) throw new TypeError('TunnelServer: signatureKey is required');
    this.signatureKey = options.signatureKey;
    this.checkSignature = options.checkSignature !== false;
    this.pendingTtlMs = options.pendingTtlMs || 5 * 60 * 1000;
    this.tunnels = new Map(); // tunnelId → tunnel record
    this.refusing = false;
    this.pongStopped = false;
    this.timeoutSeconds = null; // non-null → send `timeout:<n>` right after a socket connects
    this._silent = false; // set while stopping without reports
    this.stats = { wsurl: 0, push: 0, reports: 0, reportErrors: 0 };
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false });

    const app = express();
    app.disable('x-powered-by');
    app.use(this.faultMiddleware());
    app.post('/get/wsurl', express.text({ type: () => true, limit: '1mb' }), (req, res) => {
      const parsed = this._parseSigned(req.body);
      if (parsed.error) return res.json(parsed.error);
      this.stats.wsurl += 1;
      return res.json(this._createTunnel(parsed.data, parsed.body));
    });
    app.post('/ws/push', express.text({ type: () => true, limit: '5mb' }), (req, res) => {
      const parsed = this._parseSigned(req.body);
      if (parsed.error) return res.json(parsed.error);
      this.stats.push += 1;
      return res.json(this._push(parsed.data));
    });
    this.app = app;
  }

  sign(text) { return sha1(text + this.signatureKey); }

  _parseSigned(raw) {
    let body;
    try { body = JSON.parse(raw); } catch (e) { body = null; }
    if (!body || typeof body !== 'object') return { error: { code: CODES.BAD_JSON, message: 'Bad request - request data is not json' } };
    if (typeof body.data !== 'string' || !body.signature) return { error: { code: CODES.BAD_REQUEST, message: 'Bad request - invalid request data' } };
    if (this.checkSignature && this.sign(body.data) !== body.signature) {
      this.emit('badSignature', { body });
      return { error: { code: CODES.BAD_SIGNATURE, message: 'Bad request - check signature failed' } };
    }
    let data;
    try { data = JSON.parse(body.data); } catch (e) { return { error: { code: CODES.BAD_DATA, message: 'Bad request - parse data failed' } }; }
    return { body, data };
  }

  _createTunnel(data, body) {
    if (!data || typeof data !== 'object' || typeof data.receiveUrl !== 'string') {
      return { code: CODES.BAD_PARAM, message: 'Bad request - data.receiveUrl is required' };
    }
    const receiveUrl = normalizeReceiveUrl(data.receiveUrl);
    let parsedUrl;
    try { parsedUrl = new URL(receiveUrl); } catch (e) { parsedUrl = null; }
    if (!parsedUrl || !/^https?:$/.test(parsedUrl.protocol)) {
      return { code: CODES.BAD_PARAM, message: `Bad request - invalid receiveUrl ${data.receiveUrl}` };
    }
    this._prune();
    const tunnelId = crypto.randomUUID();
    const connectUrl = `ws://${urlHost(this.publicHost)}:${this.port}/ws?tunnelId=${tunnelId}`;
    this.tunnels.set(tunnelId, {
      tunnelId,
      receiveUrl,
      requestedReceiveUrl: data.receiveUrl,
      protocolType: data.protocolType,
      tcId: body.tcId,
      connectUrl,
      state: 'created', // created → connecting → open → closed
      ws: null,
      createdAt: Date.now(),
      closedAt: 0,
      chain: Promise.resolve(),
    });
    this.emit('tunnel', { tunnelId, receiveUrl, connectUrl });
    const answer = JSON.stringify({ tunnelId, connectUrl });
    return { code: 0, message: 'OK', data: answer, signature: this.sign(answer) };
  }

  _prune() {
    const now = Date.now();
    for (const [id, t] of this.tunnels) {
      const stale = (t.state === 'closed' && now - t.closedAt > 10 * 60 * 1000)
        || (t.state === 'created' && now - t.createdAt > this.pendingTtlMs);
      if (stale) this.tunnels.delete(id);
    }
  }

  _push(items) {
    const list = Array.isArray(items) ? items : [items];
    const invalid = new Set();
    for (const item of list) {
      if (!item || typeof item !== 'object' || !Array.isArray(item.tunnelIds) || typeof item.type !== 'string') continue;
      let frame = item.type;
      if (item.content !== undefined && item.content !== null) {
        frame += `:${typeof item.content === 'string' ? item.content : JSON.stringify(item.content)}`;
      }
      for (const id of item.tunnelIds) {
        const t = this.tunnels.get(id);
        if (!t || t.state !== 'open' || !t.ws || t.ws.readyState !== WebSocket.OPEN) {
          invalid.add(id);
          continue;
        }
        // Reported before it goes out: an observer that logs it survives a kill between the two.
        this.emit('push', { tunnelId: id, frame });
        t.ws.send(frame);
        if (item.type === 'close') t.ws.close(1000, 'closed by server');
      }
    }
    return { code: 0, message: 'OK', data: { invalidTunnelIds: [...invalid] } };
  }

  // ---- WebSocket side ----------------------------------------------------

  _attachServer(server) {
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {});
      if (this.down) { socket.destroy(); return; }
      const reject = (status, text) => {
        socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
        this.emit('rejected', { url: req.url, status });
      };
      const u = new URL(req.url, 'http://tunnel.local');
      if (u.pathname !== '/ws') return reject(404, 'Not Found');
      if (this.refusing) return reject(503, 'Service Unavailable');
      const t = this.tunnels.get(u.searchParams.get('tunnelId'));
      if (!t) return reject(404, 'Unknown tunnel');
      if (t.state !== 'created') return reject(410, 'Tunnel already used');
      if (Date.now() - t.createdAt > this.pendingTtlMs) return reject(410, 'Tunnel expired');
      t.state = 'connecting';
      this.wss.handleUpgrade(req, socket, head, (ws) => this._attach(t, ws));
      return undefined;
    });
  }

  _attach(t, ws) {
    t.ws = ws;
    t.state = 'open';
    t.connectedAt = Date.now();
    ws.on('error', () => {});
    this.emit('connection', { tunnelId: t.tunnelId });
    this._report(t, { tunnelId: t.tunnelId, type: 'connect' });
    if (this.timeoutSeconds !== null && this.timeoutSeconds !== undefined) ws.send(`timeout:${this.timeoutSeconds}`);
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? Buffer.from(data).toString('utf8') : data.toString();
      this.emit('frame', { tunnelId: t.tunnelId, text });
      if (text === 'ping') {
        if (!this.pongStopped && ws.readyState === WebSocket.OPEN) ws.send('pong');
        return;
      }
      const colon = text.indexOf(':');
      const type = colon < 0 ? text : text.slice(0, colon);
      if (type === 'message' && colon >= 0) {
        this._report(t, { tunnelId: t.tunnelId, type: 'message', content: text.slice(colon + 1) });
      } else if (type === 'close') {
        this._closed(t);
        ws.close(1000, 'closed by client');
      }
      // anything else is dropped
    });
    ws.on('close', () => this._closed(t));
  }

  _closed(t) {
    if (t.state === 'closed') return;
    t.state = 'closed';
    t.closedAt = Date.now();
    this.emit('disconnect', { tunnelId: t.tunnelId });
    if (!this._silent) this._report(t, { tunnelId: t.tunnelId, type: 'close' });
  }

  _report(t, packet) {
    const data = JSON.stringify(packet);
    const body = { data, signature: this.sign(data) };
    t.chain = t.chain.then(() => this.request('POST', t.receiveUrl, body)).then((res) => {
      this.stats.reports += 1;
      this.emit('report', { tunnelId: t.tunnelId, packet, status: res.status, response: res.body !== undefined ? res.body : res.text });
    }, (err) => {
      this.stats.reportErrors += 1;
      this.emit('reportError', { tunnelId: t.tunnelId, packet, error: err });
    });
    return t.chain;
  }

  // ---- controls ----------------------------------------------------------

  /** Terminate every open socket abruptly (the clients see an abnormal close; reports are sent). */
  dropAll() {
    let n = 0;
    for (const t of this.tunnels.values()) {
      if (t.ws && t.state !== 'closed') { t.ws.terminate(); n += 1; }
    }
    return n;
  }

  /** While on, WebSocket upgrades are answered 503. */
  refuse(on = true) { this.refusing = !!on; }

  /** While on, `ping` frames get no `pong` (a half-open link). */
  stopPong(on = true) { this.pongStopped = !!on; }

  /** Send one raw text frame (`timeout:0`, `message:not json`, ...) to a connected tunnel. */
  sendRaw(tunnelId, text) {
    const t = this.tunnels.get(tunnelId);
    if (!t || !t.ws || t.ws.readyState !== WebSocket.OPEN) return false;
    t.ws.send(String(text));
    return true;
  }

  /** Ids of the tunnels whose socket is open now. */
  connectedIds() {
    return [...this.tunnels.values()].filter((t) => t.state === 'open').map((t) => t.tunnelId);
  }

  /** Snapshot of one tunnel (without the socket). */
  getTunnel(tunnelId) {
    const t = this.tunnels.get(tunnelId);
    if (!t) return null;
    const { ws, chain, ...rest } = t;
    void ws; void chain;
    return rest;
  }

  /** Clear every fault switch: down, slowMs, httpStatus, garbage, refuse, stopPong, timeoutSeconds. */
  resetFaults() {
    super.resetFaults();
    this.refusing = false;
    this.pongStopped = false;
    this.timeoutSeconds = null;
  }

  /**
   * Stop listening and close every socket. `graceful` (default true): the closes are
   * reported to the business servers before the port closes; `graceful: false` is a
   * crash: nothing is reported. Tunnels are forgotten either way (a restarted tunnel
   * server knows no tunnel). start() listens again on the same port.
   */
  async _beforeStop({ graceful = true } = {}) {
    this._silent = !graceful;
    const closing = [];
    for (const t of this.tunnels.values()) {
      if (t.ws && t.state !== 'closed') {
        closing.push(new Promise((resolve) => t.ws.once('close', resolve)));
        t.ws.terminate();
      }
    }
    await Promise.all(closing);
    if (graceful) await Promise.all([...this.tunnels.values()].map((t) => t.chain));
    this.tunnels.clear();
  }

  async start() {
    this._silent = false;
    return super.start();
  }
}

module.exports = { TunnelServer, normalizeReceiveUrl, TUNNEL_CODES: CODES, randomSignatureKey: () => randomHex(16) };
