'use strict';

// Wafer 2 business server: behaves like the official wafer2 quickstart server
// (koa + wafer-node-sdk 1.4.x, which needs MySQL — its behaviour is reimplemented
// here with an in-memory user table).
//
//   GET  /weapp/login   X-WX-Code + X-WX-Encrypted-Data + X-WX-IV: jscode2session, decrypt,
//                       store the user by openid with skey = sha1(session_key)
//                       X-WX-Code alone: jscode2session, look the user up by openid, new skey
//                       → { code: 0, data: { userinfo, skey, time } }
//   GET  /weapp/user    X-WX-Skey → { code: 0, data: userinfo }; expired → { code: -1, data: {} }
//   GET  /weapp/tunnel  X-WX-Skey → { code: 0, data: { tunnelId, connectUrl } }
//   POST /weapp/tunnel  the tunnel server's reports → { code: 0, data: {} }
//   POST /weapp/upload  X-WX-Skey + multipart → { code: 0, data: { fields, files } }
//   Every error → HTTP 200 { code: -1, error: '<message>' } (the quickstart's response middleware).

const express = require('express');
const { HttpService, sha1, md5, parseUpload, urlHost } = require('./util');
const { decryptUserData, DEFAULT_APP_ID, DEFAULT_APP_SECRET } = require('./wechat');
const { createChatRoom } = require('./chat-room');

// Error strings of wafer-node-sdk 1.4.x (lib/constants.js).
const ERRORS = {
  ERR_HEADER_MISSED: 'ERR_HEADER_MISSED',
  ERR_GET_SESSION_KEY: 'ERR_GET_SESSION_KEY',
  ERR_IN_DECRYPT_DATA: 'ERR_IN_DECRYPT_DATA',
  ERR_SKEY_INVALID: 'ERR_SKEY_INVALID',
  ERR_UNLOGIN: 'ERR_UNLOGIN',
  ERR_INVALID_RESPONSE: 'ERR_INVALID_RESPONSE',
  ERR_REMOTE_TUNNEL_SERVER_ERR: 'ERR_REMOTE_TUNNEL_SERVER_ERR',
  ERR_REMOTE_TUNNEL_SERVER_RESPONSE: 'ERR_REMOTE_TUNNEL_SERVER_RESPONSE',
  ERR_UNKNOWN_TUNNEL_ERROR: 'ERR_UNKNOWN_TUNNEL_ERROR',
  ERR_USER_NOT_FOUND: 'ERR_USER_NOT_FOUND', // the real server fails with a TypeError text here
};

class Wafer2Business extends HttpService {
  /**
   * options: host, port, publicHost, wechatUrl, tunnelUrl, signatureKey, appId, appSecret,
   *          sessionLifetimeMs (wxLoginExpires, default 2 h), rootPathname (default '/weapp'),
   *          networkTimeoutMs
   * Hooks: the chat room's events (see chat-room.js) plus 'login' { mode, userinfo },
   * 'failure' { path, error } for every { code: -1 } answer.
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
    this.sessionLifetimeMs = options.sessionLifetimeMs || 2 * 60 * 60 * 1000;
    this.rootPathname = options.rootPathname === undefined ? '/weapp' : options.rootPathname;
    this.users = new Map(); // openid → { openid, userinfo, skey, sessionKey, lastVisit }
    this.skeys = new Map(); // skey → openid
    this.stats = { logins: 0, codeLogins: 0, validations: 0 };

    this.chat = createChatRoom({
      broadcast: (tunnelIds, type, content) => this._tunnelApi('/ws/push', [{
        tunnelIds, type: 'message', content: JSON.stringify({ type, content }),
      }]),
      close: (tunnelId) => this._tunnelApi('/ws/push', [{ tunnelIds: [tunnelId], type: 'close' }]),
    }, this);

    const router = express.Router();
    const route = (method, path, ...handlers) => {
      const fn = handlers.pop();
      router[method](path, ...handlers, (req, res) => {
        Promise.resolve().then(() => fn(req)).then((state) => {
          const { code = 0, data } = state || {};
          res.json({ code, data: data === undefined ? {} : data });
        }, (error) => {
          this.emit('failure', { path: req.path, error });
          if (!req.complete) req.resume(); // an unread upload body
          res.json({ code: -1, error: error && error.message ? error.message : String(error) });
        });
      });
    };

    route('get', '/login', (req) => this._authorization(req).then((userinfo) => ({
      data: Object.assign({}, userinfo, { time: Math.floor(Date.now() / 1000) }),
    })));

    route('get', '/user', (req) => {
      const { loginState, userinfo } = this._validation(req);
      return loginState ? { data: userinfo } : { code: -1 };
    });

    route('get', '/tunnel', (req) => this._getTunnelUrl(req).then(({ tunnel, userinfo }) => {
      this.chat.handler.onRequest(tunnel.tunnelId, userinfo);
      return { data: tunnel };
    }));

    route('post', '/tunnel', express.text({ type: () => true, limit: '5mb' }), (req) => {
      const packet = this._checkTunnelReport(req.body);
      switch (packet.type) {
        case 'connect': this.chat.handler.onConnect(packet.tunnelId); break;
        case 'message': {
          const { messageType, messageContent } = decodePacketContent(packet);
          this.chat.handler.onMessage(packet.tunnelId, messageType, messageContent);
          break;
        }
        case 'close': this.chat.handler.onClose(packet.tunnelId); break;
        default: break;
      }
      return {};
    });

    route('post', '/upload', (req) => {
      const { loginState } = this._validation(req);
      if (!loginState) throw new Error(ERRORS.ERR_UNLOGIN);
      return parseUpload(req).then((data) => ({ data }));
    });

    const app = express();
    app.disable('x-powered-by');
    app.use(this.faultMiddleware());
    app.use(this.rootPathname || '/', router);
    this.app = app;
  }

  get receiveUrl() {
    return `http://${urlHost(this.publicHost)}:${this.port}${this.rootPathname}/tunnel`;
  }

  // ---- auth (wafer-node-sdk lib/auth) --------------------------------------

  async _authorization(req) {
    const code = req.get('x-wx-code');
    const encryptedData = req.get('x-wx-encrypted-data');
    const iv = req.get('x-wx-iv');
    if (!code && !encryptedData && !iv) throw new Error(ERRORS.ERR_HEADER_MISSED);

    const { openid, session_key: sessionKey } = await this._getSessionKey(code);
    const skey = sha1(sessionKey);

    if (code && !encryptedData && !iv) { // loginWithCode
      this.stats.codeLogins += 1;
      const user = this.users.get(openid);
      if (!user) throw new Error(`${ERRORS.ERR_USER_NOT_FOUND}: no stored user for this openid, log in with user info first`);
      const userinfo = this._saveUser(user.userinfo, skey, sessionKey);
      this.emit('login', { mode: 'code', userinfo: userinfo.userinfo });
      return userinfo;
    }

    this.stats.logins += 1;
    let decrypted;
    try {
      decrypted = JSON.parse(decryptUserData(sessionKey, encryptedData, iv));
    } catch (e) {
      throw new Error(`${ERRORS.ERR_IN_DECRYPT_DATA}\n${e}`);
    }
    const userinfo = this._saveUser(decrypted, skey, sessionKey);
    this.emit('login', { mode: 'full', userinfo: userinfo.userinfo });
    return userinfo;
  }

  async _getSessionKey(code) {
    const query = new URLSearchParams({
      appid: this.appId, secret: this.appSecret, js_code: String(code || ''), grant_type: 'authorization_code',
    });
    let res;
    try {
      res = await this.request('GET', `${this.wechatUrl}/sns/jscode2session?${query}`);
    } catch (err) {
      throw new Error(`${ERRORS.ERR_GET_SESSION_KEY}\n${err.message}`);
    }
    const body = res.body;
    if (res.status !== 200 || !body || body.errcode || !body.openid || !body.session_key) {
      throw new Error(`${ERRORS.ERR_GET_SESSION_KEY}\n${body ? JSON.stringify(body) : res.text.slice(0, 200)}`);
    }
    return body;
  }

  // AuthDbService.saveUserInfo: insert or update the row of this openid.
  _saveUser(userinfo, skey, sessionKey) {
    const openid = userinfo.openId;
    const previous = this.users.get(openid);
    if (previous) this.skeys.delete(previous.skey);
    this.users.set(openid, { openid, userinfo, skey, sessionKey, lastVisit: Date.now() });
    this.skeys.set(skey, openid);
    return { userinfo, skey };
  }

  _validation(req) {
    this.stats.validations += 1;
    const skey = req.get('x-wx-skey');
    if (!skey) throw new Error(ERRORS.ERR_SKEY_INVALID);
    const user = this.users.get(this.skeys.get(skey));
    if (!user) throw new Error(ERRORS.ERR_SKEY_INVALID);
    if (user.lastVisit + this.sessionLifetimeMs < Date.now()) return { loginState: 0, userinfo: {} };
    return { loginState: 1, userinfo: user.userinfo };
  }

  // ---- tunnel (wafer-node-sdk lib/tunnel) ----------------------------------

  async _getTunnelUrl(req) {
    const { loginState, userinfo } = this._validation(req);
    if (!loginState) throw new Error(ERRORS.ERR_UNLOGIN);
    const body = await this._tunnelApi('/get/wsurl', { receiveUrl: this.receiveUrl, protocolType: 'wss' }, true);
    if (typeof body.data !== 'string' || body.signature !== sha1(body.data + this.signatureKey)) {
      throw new Error(ERRORS.ERR_INVALID_RESPONSE);
    }
    return { tunnel: JSON.parse(body.data), userinfo };
  }

  async _tunnelApi(apiPath, param, withTcKey) {
    const data = JSON.stringify(param);
    const payload = { data, tcId: md5(`${this.publicHost}:${this.port}`) };
    if (withTcKey) payload.tcKey = this.signatureKey;
    payload.signature = sha1(data + this.signatureKey);
    let res;
    try {
      res = await this.request('POST', this.tunnelUrl + apiPath, payload);
    } catch (err) {
      throw new Error(`${ERRORS.ERR_REMOTE_TUNNEL_SERVER_ERR}: ${err.message}`);
    }
    if (res.status !== 200) throw new Error(ERRORS.ERR_REMOTE_TUNNEL_SERVER_ERR);
    if (!res.body || typeof res.body !== 'object' || !('code' in res.body)) throw new Error(ERRORS.ERR_REMOTE_TUNNEL_SERVER_RESPONSE);
    if (res.body.code !== 0) throw new Error(`${ERRORS.ERR_UNKNOWN_TUNNEL_ERROR}: ${res.body.code} - ${res.body.message}`);
    return res.body;
  }

  _checkTunnelReport(raw) {
    let body;
    try { body = typeof raw === 'string' ? JSON.parse(raw) : raw; } catch (e) { body = null; }
    if (!body || typeof body.data !== 'string' || !body.signature) throw new Error(ERRORS.ERR_INVALID_RESPONSE);
    if (sha1(body.data + this.signatureKey) !== body.signature) throw new Error(ERRORS.ERR_INVALID_RESPONSE);
    try {
      return JSON.parse(body.data);
    } catch (e) {
      throw new Error(ERRORS.ERR_REMOTE_TUNNEL_SERVER_RESPONSE);
    }
  }

  // ---- controls ----------------------------------------------------------

  /** Every stored login is past wxLoginExpires: /weapp/user answers { code: -1, data: {} }. */
  expireAll() {
    for (const user of this.users.values()) user.lastVisit = -Infinity;
  }

  /** Every skey becomes unknown ({ code: -1, error: 'ERR_SKEY_INVALID' }); users stay stored. */
  invalidateAll() {
    this.skeys.clear();
  }

  /** Forget the users too: loginWithCode fails until a full login. */
  forgetUsers() {
    this.skeys.clear();
    this.users.clear();
  }

  /** Server-initiated broadcast / close (handy in tests). */
  broadcast(type, content) { return this.chat.broadcast(type, content); }

  emitTo(tunnelId, type, content) {
    return this._tunnelApi('/ws/push', [{ tunnelIds: [tunnelId], type: 'message', content: JSON.stringify({ type, content }) }]);
  }

  closeTunnel(tunnelId) { return this._tunnelApi('/ws/push', [{ tunnelIds: [tunnelId], type: 'close' }]); }
}

// wafer-node-sdk lib/tunnel _decodePacketContent
function decodePacketContent(packet) {
  let packetContent = {};
  if (packet.content) {
    try { packetContent = JSON.parse(packet.content); } catch (e) { packetContent = {}; }
  }
  if (!packetContent || typeof packetContent !== 'object') packetContent = {};
  const messageType = packetContent.type || 'UnknownRaw';
  const messageContent = 'content' in packetContent ? packetContent.content : packet.content;
  return { messageType, messageContent };
}

module.exports = { Wafer2Business, WAFER2_ERRORS: ERRORS };
