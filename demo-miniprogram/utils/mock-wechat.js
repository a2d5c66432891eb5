// 本地模拟微信 / the local mock WeChat (only with `npm run stack`).
//
// 开发者工具和真机里，wx.login 返回的是真实微信的 code，本地鉴权服务拿它去换 session_key 会失败。
// install() 把 wx.login / wx.getUserInfo / wx.checkSession 换成调用本地模拟微信的
// /device/login、/device/userinfo、/device/checkSession（与模拟微信给测试用的接口相同），
// SDK 本身不做任何改动，照常调用 wx.login。
//
// In DevTools wx.login returns a code of the real WeChat, which the local auth server cannot
// exchange. install() points wx.login / wx.getUserInfo / wx.checkSession at the stack's mock
// WeChat device endpoints instead; the SDK is untouched and calls wx.login as usual.

const USER_KEY = 'demo_mock_wechat_user';
let installed = null;

/** 当前的模拟用户（首页可以切换）/ the current mock user (switchable on the index page) */
function currentUser(options) {
  try {
    return wx.getStorageSync(USER_KEY) || options.user;
  } catch (e) {
    return options.user;
  }
}

function setUser(user) {
  wx.setStorageSync(USER_KEY, user);
}

function device(options, action) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: options.url + '/device/' + action,
      method: 'POST',
      header: { 'content-type': 'application/json' },
      data: { user: currentUser(options) },
      success(res) {
        if (res.statusCode === 200 && res.data && typeof res.data === 'object' && !res.data.errcode) resolve(res.data);
        else reject(new Error('模拟微信 /device/' + action + ' 返回 HTTP ' + res.statusCode));
      },
      fail(err) {
        reject(new Error('连不上模拟微信（' + options.url + '，npm run stack 启动了吗？）：' + (err && err.errMsg)));
      }
    });
  });
}

/** A wx-style API (callbacks, or a promise without them) around `run`. */
function api(name, run) {
  return function (opts) {
    const o = opts || {};
    const p = run().then((res) => Object.assign(res, { errMsg: name + ':ok' }), (err) => {
      throw { errMsg: name + ':fail ' + ((err && err.message) || err) };
    });
    if (typeof o.success !== 'function' && typeof o.fail !== 'function' && typeof o.complete !== 'function') return p;
    p.then((res) => {
      if (typeof o.success === 'function') o.success(res);
      if (typeof o.complete === 'function') o.complete(res);
    }, (err) => {
      if (typeof o.fail === 'function') o.fail(err);
      if (typeof o.complete === 'function') o.complete(err);
    });
    return undefined;
  };
}

function replace(name, fn) {
  try {
    Object.defineProperty(wx, name, { value: fn, writable: true, configurable: true, enumerable: true });
  } catch (e) {
    wx[name] = fn;
  }
}

/** options: { url: 'http://127.0.0.1:8800', user: '小明' } */
function install(options) {
  if (installed) return installed;
  installed = options;
  replace('login', api('login', () => device(options, 'login').then((b) => ({ code: b.code }))));
  replace('getUserInfo', api('getUserInfo', () => device(options, 'userinfo').then((b) => ({
    userInfo: b.userInfo, rawData: b.rawData, signature: b.signature, encryptedData: b.encryptedData, iv: b.iv
  }))));
  replace('checkSession', api('checkSession', () => device(options, 'checkSession').then((b) => {
    if (b.valid !== true) throw new Error('session expired');
    return {};
  })));
  return installed;
}

module.exports = { install: install, currentUser: currentUser, setUser: setUser };
