'use strict';

// Wafer 1 business server: express + the UNMODIFIED official qcloud-weapp-server-sdk.
//
//   GET  /login   LoginService.login()   → { <magic>: 1, session: { id, skey } } | { <magic>: 1, error, message }
//   GET  /user    LoginService.check()   → { code: 0, message: 'ok', data: { userInfo } } | magic error
//   ALL  /tunnel  TunnelService.handle(chatRoom, { checkLogin: true })
//                 GET → { url } (or magic error / { error }); POST ← the tunnel server's reports
//   POST /upload  LoginService.check() then multipart → { code: 0, message: 'ok', data: { fields, files } }
//
// The SDK's config is a module-level singleton, so one process hosts one running
// Wafer 1 business server at a time (start() refuses a second one).

const express = require('express');
const qcloud = require('qcloud-weapp-server-sdk');
const { HttpService, parseUpload, urlHost, bypassProxyFor } = require('./util');
const { createChatRoom } = require('./chat-room');

const { LoginService, TunnelService } = qcloud;

let activeInstance = null;

class Wafer1Business extends HttpService {
  /**
   * options: host, port, publicHost, authUrl (AuthServerUrl), tunnelUrl (TunnelServerUrl),
   *          signatureKey (TunnelSignatureKey), networkTimeoutMs (SDK NetworkTimeout, default 10 s)
   * Hooks (this object is an EventEmitter; `hooks` is itself): the chat room's 'onRequest',
   * 'onConnect', 'onMessage', 'onClose', 'broadcast', 'broadcastError', plus 'login'
   * { userInfo } | 'loginFailed' { error }, 'check' { userInfo } | 'checkFailed' { error }.
   */
  constructor(options = {}) {
    super('wafer1', options);
    for (const key of ['authUrl', 'tunnelUrl', 'signatureKey']) {
      if (!options[key]) throw new TypeError(`Wafer1Business: ${key} is required`);
    }
    this.authUrl = options.authUrl;
    this.tunnelUrl = options.tunnelUrl.replace(/\/$/, '');
    this.signatureKey = options.signatureKey;

    this.chat = createChatRoom({
      broadcast: (tunnelIds, type, content) => TunnelService.broadcast(tunnelIds, type, content),
      close: (tunnelId) => TunnelService.closeTunnel(tunnelId),
    }, this);

    const app = express();
    app.disable('x-powered-by');
    app.use(this.faultMiddleware());

    app.get('/login', (req, res) => {
      LoginService.create(req, res).login()
        .then(({ userInfo }) => this.emit('login', { userInfo }))
        .catch((error) => this.emit('loginFailed', { error }));
    });

    app.get('/user', (req, res) => {
      this._check(req, res).then((userInfo) => {
        if (userInfo) res.json({ code: 0, message: 'ok', data: { userInfo } });
      });
    });

    // Raw text body: the SDK parses a string body itself and answers 9001 when it is not JSON.
    app.all('/tunnel', express.text({ type: () => true, limit: '5mb' }), (req, res) => {
      TunnelService.create(req, res).handle(this.chat.handler, { checkLogin: true });
    });

    app.post('/upload', (req, res) => {
      this._check(req, res).then((userInfo) => {
        if (!userInfo) { req.resume(); return undefined; }
        return parseUpload(req).then(
          ({ fields, files }) => res.json({ code: 0, message: 'ok', data: { fields, files } }),
          (err) => res.status(400).json({ code: -1, message: `upload failed: ${err.message}` }),
        );
      });
    });

    app.get('/', (req, res) => res.json({ service: 'wafer1', routes: ['GET /login', 'GET /user', 'ALL /tunnel', 'POST /upload'] }));
    this.app = app;
  }

  // LoginService.check(); on failure the SDK has already written the magic error body.
  _check(req, res) {
    return LoginService.create(req, res).check().then(({ userInfo }) => {
      this.emit('check', { userInfo });
      return userInfo;
    }, (error) => {
      this.emit('checkFailed', { error });
      return null;
    });
  }

  get serverHost() { return `${urlHost(this.publicHost)}:${this.port}`; }

  /** Server-initiated broadcast / close through the official TunnelService (handy in tests). */
  broadcast(type, content) { return this.chat.broadcast(type, content); }

  emitTo(tunnelId, type, content) { return TunnelService.emit(tunnelId, type, content); }

  closeTunnel(tunnelId) { return TunnelService.closeTunnel(tunnelId); }

  async start() {
    if (activeInstance && activeInstance !== this) {
      throw new Error('a Wafer 1 business server is already running in this process (qcloud-weapp-server-sdk config is a singleton)');
    }
    activeInstance = this;
    try {
      await super.start();
    } catch (err) {
      activeInstance = null;
      throw err;
    }
    bypassProxyFor([this.url, this.authUrl, this.tunnelUrl]);
    qcloud.config({
      ServerHost: this.serverHost,
      AuthServerUrl: this.authUrl,
      TunnelServerUrl: this.tunnelUrl,
      TunnelSignatureKey: this.signatureKey,
      NetworkTimeout: this.networkTimeoutMs,
    });
    return this;
  }

  async stop(options) {
    await super.stop(options);
    if (activeInstance === this) activeInstance = null;
  }
}

module.exports = { Wafer1Business };
