'use strict';

// Mock WeChat: the `jscode2session` API a server calls, plus a "device" side the
// mini-program simulator calls instead of the real wx.login / wx.getUserInfo /
// wx.checkSession.
//
//   GET  /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
//        → { openid, session_key } | { errcode, errmsg }
//   POST /device/login        { user } → { code }   (rotates the user's session_key)
//   POST /device/userinfo     { user } → { userInfo, rawData, signature, encryptedData, iv }
//   POST /device/checkSession { user } → { valid }

const crypto = require('crypto');
const express = require('express');
const { HttpService, sha1, httpJson } = require('./util');

const DEFAULT_APP_ID = 'wx0000000000localstack';
const DEFAULT_APP_SECRET = 'local-stack-app-secret';

function openidFor(appId, user) {
  // Stable per (appid, user), shaped like a real openid (28 characters, starts with 'o').
  const digest = crypto.createHash('sha256').update(`${appId}\n${user}`).digest('base64')
    .replace(/[^A-Za-z0-9]/g, '');
  return `o${digest.slice(0, 27)}`;
}

function newSessionKey() {
  return crypto.randomBytes(16).toString('base64');
}

// AES-128-CBC, base64 key / iv / output, PKCS#7 — as WeChat documents for encryptedData.
function encryptUserData(sessionKey, plaintext) {
  const key = Buffer.from(sessionKey, 'base64');
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-128-cbc', key, iv);
  const encrypted = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') };
}

function decryptUserData(sessionKey, encryptedData, iv) {
  const key = Buffer.from(String(sessionKey), 'base64');
  const ivBuf = Buffer.from(String(iv), 'base64');
  const decipher = crypto.createDecipheriv('aes-128-cbc', key, ivBuf);
  const plain = Buffer.concat([decipher.update(Buffer.from(String(encryptedData), 'base64')), decipher.final()]);
  return plain.toString('utf8');
}

class WechatService extends HttpService {
  /**
   * options: host, port, appId, appSecret, codeTtlMs (default 5 min, like WeChat),
   *          profiles ({ [user]: partial profile })
   */
  constructor(options = {}) {
    super('wechat', options);
    this.appId = options.appId || DEFAULT_APP_ID;
    this.appSecret = options.appSecret || DEFAULT_APP_SECRET;
    this.codeTtlMs = options.codeTtlMs || 5 * 60 * 1000;
    this.users = new Map(); // user name → record
    this.codes = new Map(); // code → { user, expiresAt }
    this.stats = { logins: 0, exchanges: 0, userInfos: 0, checkSessions: 0 };
    for (const [user, profile] of Object.entries(options.profiles || {})) this.setProfile(user, profile);

    const app = express();
    app.disable('x-powered-by');
    app.use(this.faultMiddleware());
    app.get('/sns/jscode2session', (req, res) => res.json(this.exchangeCode(req.query)));
    app.post('/device/:action', express.json({ type: () => true }), (req, res) => {
      const user = req.body && req.body.user;
      if (typeof user !== 'string' || !user) {
        res.status(400).json({ errcode: -1, errmsg: 'body must be { user: "<name>" }' });
        return;
      }
      switch (req.params.action) {
        case 'login': res.json(this.login(user)); break;
        case 'userinfo': res.json(this.getUserInfo(user)); break;
        case 'checkSession': res.json({ valid: this.checkSession(user) }); break;
        default: res.status(404).json({ errcode: -1, errmsg: `unknown device action ${req.params.action}` });
      }
    });
    app.use((err, req, res, next) => { // malformed JSON on /device/*
      void next;
      res.status(400).json({ errcode: -1, errmsg: String(err && err.message) });
    });
    this.app = app;
  }

  _user(name) {
    let record = this.users.get(name);
    if (!record) {
      record = {
        name,
        openid: openidFor(this.appId, name),
        sessionKey: null,
        sessionValid: false,
        logins: 0,
        profile: {
          nickName: name,
          gender: 0,
          language: 'zh_CN',
          city: 'Shenzhen',
          province: 'Guangdong',
          country: 'China',
          avatarUrl: `https://example.invalid/avatar/${encodeURIComponent(name)}.png`,
        },
      };
      this.users.set(name, record);
    }
    return record;
  }

  // ---- device side -------------------------------------------------------

  /** wx.login: a fresh single-use code bound to `user`; rotates the user's session_key. */
  login(user) {
    const record = this._user(user);
    const now = Date.now();
    for (const [code, entry] of this.codes) if (entry.expiresAt <= now) this.codes.delete(code);
    record.sessionKey = newSessionKey();
    record.sessionValid = true;
    record.logins += 1;
    this.stats.logins += 1;
    const code = crypto.randomBytes(16).toString('hex');
    this.codes.set(code, { user, expiresAt: now + this.codeTtlMs });
    this.emit('login', { user, code });
    return { code };
  }

  /** wx.getUserInfo: the profile, signed and encrypted with the CURRENT session_key. */
  getUserInfo(user) {
    const record = this._user(user);
    if (!record.sessionKey) record.sessionKey = newSessionKey();
    this.stats.userInfos += 1;
    const userInfo = Object.assign({}, record.profile);
    const rawData = JSON.stringify(userInfo);
    const signature = sha1(rawData + record.sessionKey);
    const plaintext = JSON.stringify(Object.assign({ openId: record.openid }, record.profile, {
      watermark: { appid: this.appId, timestamp: Math.floor(Date.now() / 1000) },
    }));
    const { encryptedData, iv } = encryptUserData(record.sessionKey, plaintext);
    return { userInfo, rawData, signature, encryptedData, iv };
  }

  /** wx.checkSession */
  checkSession(user) {
    this.stats.checkSessions += 1;
    const record = this.users.get(user);
    return !!(record && record.sessionKey && record.sessionValid);
  }

  // ---- server side -------------------------------------------------------

  exchangeCode(query = {}) {
    this.stats.exchanges += 1;
    if (query.appid !== this.appId) return { errcode: 40013, errmsg: 'invalid appid' };
    if (query.secret !== this.appSecret) return { errcode: 40125, errmsg: 'invalid appsecret' };
    if (query.grant_type !== 'authorization_code') return { errcode: 40002, errmsg: 'invalid grant_type' };
    const code = query.js_code;
    const entry = typeof code === 'string' && this.codes.get(code);
    if (!entry) return { errcode: 40029, errmsg: 'invalid code' };
    if (entry.used) return { errcode: 40163, errmsg: 'code been used' };
    if (entry.expiresAt <= Date.now()) {
      this.codes.delete(code);
      return { errcode: 40029, errmsg: 'invalid code (expired)' };
    }
    entry.used = true;
    const record = this._user(entry.user);
    this.emit('exchange', { user: entry.user, openid: record.openid });
    return { openid: record.openid, session_key: record.sessionKey };
  }

  // ---- controls ----------------------------------------------------------

  /** Merge fields into the profile `user` will have from now on (nickName, gender, city, ...). */
  setProfile(user, partial) {
    Object.assign(this._user(user).profile, partial);
  }

  /** Snapshot: { name, openid, sessionKey, sessionValid, logins, profile }. */
  getUser(user) {
    const record = this.users.get(user);
    return record ? JSON.parse(JSON.stringify(record)) : null;
  }

  /** wx.checkSession answers false for `user` (every user when omitted) until the next login. */
  expireSession(user) {
    for (const record of this.users.values()) {
      if (user === undefined || record.name === user) record.sessionValid = false;
    }
  }

  /** WeChat rotates the session_key on its own (data encrypted before no longer decrypts). */
  rotateSessionKey(user) {
    this._user(user).sessionKey = newSessionKey();
  }
}

/**
 * The `wx` login backend for the mini-program simulator, over the device endpoints.
 * `stackUrls`: the `urls` of startStack(), the stack itself, or the mock WeChat base URL.
 */
function wechatBackend(stackUrls, userName) {
  const base = typeof stackUrls === 'string'
    ? stackUrls
    : (stackUrls && stackUrls.urls ? stackUrls.urls.wechat : stackUrls && stackUrls.wechat);
  if (!base) throw new TypeError('wechatBackend(stackUrls, userName): no mock WeChat URL');
  if (typeof userName !== 'string' || !userName) throw new TypeError('wechatBackend: userName must be a non-empty string');
  const call = (action) => httpJson('POST', `${base.replace(/\/$/, '')}/device/${action}`, { user: userName }, { timeoutMs: 10000 })
    .then((res) => {
      if (res.status !== 200 || !res.body || typeof res.body !== 'object' || res.body.errcode) {
        throw new Error(`mock WeChat /device/${action} failed: HTTP ${res.status} ${res.text}`);
      }
      return res.body;
    });
  return {
    login() {
      return call('login').then((body) => ({ code: body.code }));
    },
    getUserInfo() {
      return call('userinfo').then((b) => ({
        userInfo: b.userInfo, rawData: b.rawData, signature: b.signature, encryptedData: b.encryptedData, iv: b.iv,
      }));
    },
    checkSession() {
      return call('checkSession').then((body) => body.valid === true);
    },
  };
}

module.exports = {
  WechatService,
  wechatBackend,
  encryptUserData,
  decryptUserData,
  openidFor,
  DEFAULT_APP_ID,
  DEFAULT_APP_SECRET,
};
