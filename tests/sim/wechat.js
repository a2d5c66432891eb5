'use strict';
// WeChat account APIs (wx.login, wx.getUserInfo, wx.getUserProfile,
// wx.checkSession) delegating to a pluggable backend:
//
//   { login(): Promise<{ code }>,
//     getUserInfo(opts): Promise<{ userInfo, rawData, signature, encryptedData, iv }>,
//     checkSession(): Promise<boolean> }
//
// A rejected promise makes the wx call fail. createFakeWechat() is the default
// in-process backend; the end-to-end tests plug in a mock WeChat service instead.

const crypto = require('node:crypto');
const { ok, fail } = require('./callbacks');

// Knobs: sessionValid (checkSession result; every login makes it true again, as a
// fresh wx.login does), failLogin / failUserInfo (true = always, a number = the next
// n calls), delayMs (answer latency). codePrefix: codes are `${codePrefix}-1`,
// `${codePrefix}-2`, ... (default 'code'); loopback servers map a code back to its
// user by stripping the counter, so give each simulated user its own prefix.
function createFakeWechat(options = {}) {
  const codePrefix = options.codePrefix || 'code';
  const userInfo = options.userInfo || {
    nickName: '微信用户', // the anonymous profile WeChat returns nowadays
    avatarUrl: 'https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132',
    gender: 0,
    country: '',
    province: '',
    city: '',
    language: '',
  };
  let counter = 0;
  const delay = (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

  // true / false / a count of remaining failures
  function shouldFail(knob) {
    const v = backend[knob];
    if (typeof v === 'number') {
      if (v > 0) { backend[knob] = v - 1; return true; }
      return false;
    }
    return !!v;
  }

  const backend = {
    codePrefix,
    userInfo,
    sessionValid: true,
    failLogin: false,
    failUserInfo: false,
    delayMs: 0,
    codes: [], // every code handed out, in order

    async login() {
      await delay(backend.delayMs);
      if (shouldFail('failLogin')) throw new Error('fake wechat login failure');
      counter += 1;
      const code = `${codePrefix}-${counter}`;
      backend.codes.push(code);
      backend.sessionValid = true;
      return { code };
    },

    async getUserInfo() {
      await delay(backend.delayMs);
      if (shouldFail('failUserInfo')) throw new Error('fake wechat getUserInfo failure');
      const rawData = JSON.stringify(backend.userInfo);
      // Not real encryption: base64 of the profile plus the user's prefix, so a
      // test server can "decrypt" it; the mock WeChat service does real AES.
      const encryptedData = Buffer.from(JSON.stringify({ ...backend.userInfo, openId: codePrefix })).toString('base64');
      return {
        userInfo: { ...backend.userInfo },
        rawData,
        signature: crypto.createHash('sha1').update(rawData + codePrefix).digest('hex'),
        encryptedData,
        iv: Buffer.from(`iv-${codePrefix}`.padEnd(16, '.').slice(0, 16)).toString('base64'),
      };
    },

    async checkSession() {
      await delay(backend.delayMs);
      return backend.sessionValid;
    },
  };
  return backend;
}

function createLoginApi(sim) {
  const { api } = sim.callbacks;
  const reason = (e) => (e && e.message ? e.message : String(e));
  const offline = () => !sim.network.online;

  const wx = {
    login: api('login', async () => {
      sim.counters.login += 1;
      if (offline()) return fail('login', 'network offline');
      try {
        const r = await sim.wechat.login();
        return ok('login', { code: r.code });
      } catch (e) {
        return fail('login', reason(e));
      }
    }, { promiseStyle: true }),

    getUserInfo: api('getUserInfo', async (o) => {
      sim.counters.getUserInfo += 1;
      return userInfoResult('getUserInfo', o);
    }, { promiseStyle: true }),

    // Newer replacement for getUserInfo (needs a tap in real WeChat; not here).
    getUserProfile: api('getUserProfile', async (o) => {
      sim.counters.getUserProfile += 1;
      return userInfoResult('getUserProfile', o);
    }, { promiseStyle: true }),

    checkSession: api('checkSession', async () => {
      sim.counters.checkSession += 1;
      if (offline()) return fail('checkSession', 'network offline');
      try {
        const valid = await sim.wechat.checkSession();
        return valid ? ok('checkSession') : fail('checkSession', 'session time out, need relogin');
      } catch (e) {
        return fail('checkSession', reason(e));
      }
    }, { promiseStyle: true }),
  };

  async function userInfoResult(name, o) {
    if (offline()) return fail(name, 'network offline');
    try {
      const r = await sim.wechat.getUserInfo({ withCredentials: o.withCredentials, lang: o.lang });
      const out = { userInfo: r.userInfo };
      // withCredentials: false leaves out the signed/encrypted fields, as documented.
      if (o.withCredentials !== false) {
        out.rawData = r.rawData;
        out.signature = r.signature;
        out.encryptedData = r.encryptedData;
        out.iv = r.iv;
      }
      return ok(name, out);
    } catch (e) {
      return fail(name, reason(e));
    }
  }

  return { wx };
}

module.exports = { createFakeWechat, createLoginApi };
