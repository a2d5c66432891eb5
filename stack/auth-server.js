'use strict';

// The Wafer 1 auth (session) server that qcloud-weapp-server-sdk's LoginService calls.
//
//   POST <mountPath> (default /mina_auth/; POST / is accepted too)
//     { version: 1, componentName: 'MA', interface: { interfaceName, para } }
//
//   qcloud.cam.id_skey  para { code, encrypt_data, iv }
//     → { returnCode: 0, returnMessage: 'OK', returnData: { id, skey, user_info, duration } }
//   qcloud.cam.auth     para { id, skey }
//     → { returnCode: 0, returnMessage: 'OK', returnData: { user_info } }
//
// returnCode values:
//   0      OK
//   60011  session expired                 (the SDK maps it to ERR_INVALID_SESSION)
//   60012  unknown session / wrong skey    (the SDK maps it to ERR_INVALID_SESSION)
//   60001  malformed request (not JSON, no interface, unknown interfaceName)
//   60003  missing parameter
//   60020  code exchange with WeChat failed (jscode2session error or unreachable)
//   60021  encrypt_data could not be decrypted / parsed / has a foreign watermark

const crypto = require('crypto');
const express = require('express');
const { HttpService, randomHex } = require('./util');
const { decryptUserData, DEFAULT_APP_ID, DEFAULT_APP_SECRET } = require('./wechat');

const RC = {
  OK: 0,
  BAD_REQUEST: 60001,
  MISSING_PARAM: 60003,
  SKEY_EXPIRED: 60011,
  INVALID_SESSION: 60012,
  WX_EXCHANGE_FAILED: 60020,
  DECRYPT_FAILED: 60021,
};

class AuthServer extends HttpService {
  /**
   * options: host, port, wechatUrl (mock WeChat base URL), appId, appSecret,
   *          sessionLifetimeMs (default 2 h), mountPath (default '/mina_auth/'),
   *          oneSessionPerUser (default true), networkTimeoutMs
   */
  constructor(options = {}) {
    super('auth', options);
    if (!options.wechatUrl) throw new TypeError('AuthServer: wechatUrl is required');
    this.wechatUrl = options.wechatUrl.replace(/\/$/, '');
    this.appId = options.appId || DEFAULT_APP_ID;
    this.appSecret = options.appSecret || DEFAULT_APP_SECRET;
    this.sessionLifetimeMs = options.sessionLifetimeMs || 2 * 60 * 60 * 1000;
    this.mountPath = options.mountPath || '/mina_auth/';
    this.oneSessionPerUser = options.oneSessionPerUser !== false;
    this.forceReturnCode = 0; // fault switch: non-zero → every call answers this returnCode
    this.sessions = new Map(); // id → { id, skey, openid, sessionKey, userInfo, createdAt, expiresAt }
    this.stats = { logins: 0, checks: 0 };

    const app = express();
    app.disable('x-powered-by');
    app.use(this.faultMiddleware());
    const handler = [express.text({ type: () => true, limit: '1mb' }), (req, res) => {
      this._handle(req.body).then((answer) => res.json(answer), (err) => {
        res.json({ returnCode: -1, returnMessage: `internal error: ${err && err.message}` });
      });
    }];
    const mount = this.mountPath.replace(/\/+$/, '') || '/';
    app.post(mount, ...handler);
    if (mount !== '/') app.post('/', ...handler);
    this.app = app;
  }

  /** The AuthServerUrl to configure in qcloud-weapp-server-sdk. */
  get endpoint() { return this.url + this.mountPath; }

  resetFaults() {
    super.resetFaults();
    this.forceReturnCode = 0;
  }

  async _handle(rawBody) {
    let body;
    try { body = typeof rawBody === 'string' ? JSON.parse(rawBody) : rawBody; } catch (e) { body = null; }
    const iface = body && typeof body === 'object' && body.interface;
    if (!iface || typeof iface !== 'object' || typeof iface.interfaceName !== 'string') {
      return fail(RC.BAD_REQUEST, 'bad request: expected { version, componentName, interface: { interfaceName, para } }');
    }
    const para = iface.para && typeof iface.para === 'object' ? iface.para : {};
    if (this.forceReturnCode) return fail(this.forceReturnCode, 'forced by the local stack');
    let answer;
    switch (iface.interfaceName) {
      case 'qcloud.cam.id_skey':
        this.stats.logins += 1;
        answer = await this._login(para);
        break;
      case 'qcloud.cam.auth':
        this.stats.checks += 1;
        answer = this._check(para);
        break;
      default:
        answer = fail(RC.BAD_REQUEST, `unknown interfaceName ${iface.interfaceName}`);
    }
    this.emit('call', { interfaceName: iface.interfaceName, para, answer });
    return answer;
  }

  async _login(para) {
    const { code, encrypt_data: encryptData, iv } = para;
    if (!code) return fail(RC.MISSING_PARAM, 'missing para.code');
    if (!encryptData || !iv) return fail(RC.MISSING_PARAM, 'missing para.encrypt_data or para.iv');

    const query = new URLSearchParams({
      appid: this.appId, secret: this.appSecret, js_code: String(code), grant_type: 'authorization_code',
    });
    let wx;
    try {
      wx = await this.request('GET', `${this.wechatUrl}/sns/jscode2session?${query}`);
    } catch (err) {
      return fail(RC.WX_EXCHANGE_FAILED, `jscode2session unreachable: ${err.message}`);
    }
    const wxBody = wx.body;
    if (wx.status !== 200 || !wxBody || wxBody.errcode || !wxBody.openid || !wxBody.session_key) {
      const detail = wxBody && wxBody.errcode ? `${wxBody.errcode} - ${wxBody.errmsg}` : `HTTP ${wx.status} ${wx.text.slice(0, 100)}`;
      return fail(RC.WX_EXCHANGE_FAILED, `jscode2session failed: ${detail}`);
    }

    let userInfo;
    try {
      userInfo = JSON.parse(decryptUserData(wxBody.session_key, encryptData, iv));
    } catch (err) {
      return fail(RC.DECRYPT_FAILED, `decrypt encrypt_data failed (stale session_key?): ${err.message}`);
    }
    if (!userInfo || typeof userInfo !== 'object' || !userInfo.watermark || userInfo.watermark.appid !== this.appId) {
      return fail(RC.DECRYPT_FAILED, 'decrypted user data has no watermark for this appid');
    }
    if (userInfo.openId !== wxBody.openid) {
      return fail(RC.DECRYPT_FAILED, 'decrypted user data belongs to another openid');
    }

    const now = Date.now();
    let session = null;
    if (this.oneSessionPerUser) {
      for (const s of this.sessions.values()) if (s.openid === wxBody.openid) session = s;
    }
    if (!session) {
      session = { id: crypto.randomUUID(), openid: wxBody.openid, createdAt: now };
      this.sessions.set(session.id, session);
    }
    Object.assign(session, {
      skey: randomHex(16),
      sessionKey: wxBody.session_key,
      userInfo,
      loginAt: now,
      expiresAt: now + this.sessionLifetimeMs,
    });
    return ok({
      id: session.id,
      skey: session.skey,
      user_info: userInfo,
      duration: Math.round(this.sessionLifetimeMs / 1000),
    });
  }

  _check(para) {
    const { id, skey } = para;
    if (!id || !skey) return fail(RC.MISSING_PARAM, 'missing para.id or para.skey');
    const session = this.sessions.get(String(id));
    if (!session || session.skey !== String(skey)) return fail(RC.INVALID_SESSION, 'invalid session (unknown id or wrong skey)');
    if (session.expiresAt <= Date.now()) return fail(RC.SKEY_EXPIRED, 'session expired');
    return ok({ user_info: session.userInfo });
  }

  // ---- controls ----------------------------------------------------------

  /** Every existing session answers 60011 (expired) from now on. */
  expireAll() {
    const past = Date.now() - 1;
    for (const s of this.sessions.values()) s.expiresAt = past;
  }

  /** Forget every session: they answer 60012 (invalid) from now on. */
  invalidateAll() {
    this.sessions.clear();
  }

  /** Snapshot of the sessions. */
  listSessions() {
    return [...this.sessions.values()].map((s) => Object.assign({}, s));
  }
}

function ok(returnData) {
  return { returnCode: RC.OK, returnMessage: 'OK', returnData };
}

function fail(returnCode, returnMessage) {
  return { returnCode, returnMessage, returnData: {} };
}

module.exports = { AuthServer, RETURN_CODES: RC };
