// 首页：登录、显示用户、带会话请求 /user、进入聊天室。
// Index page: log in, show the user, call /user with the session, open the chat room.
// Every handler returns a promise that never rejects (handy for tests; WeChat ignores it).
const wafer = require('wafer-wasm');
const config = require('../../config');
const util = require('../../utils/util');
const mockWechat = require('../../utils/mock-wechat');

// 「切换模拟用户」轮流使用的名字 / the names 切换模拟用户 cycles through
const MOCK_USERS = ['小明', '小红', '小刚'];

Page({
  data: {
    dialect: '',
    baseUrl: '',
    loginStatus: '未登录',
    userInfo: null,
    requestStatus: '',
    requestResult: '',
    serverUser: null,
    mockUser: '',
    error: ''
  },

  onLoad() {
    this.setData({
      dialect: config.dialect === 'wafer2' ? 'Wafer 2' : 'Wafer 1',
      baseUrl: config.baseUrl,
      mockUser: config.mockWechat ? mockWechat.currentUser(config.mockWechat) : ''
    });
  },

  // 「切换模拟用户」（只在使用本地模拟微信时显示）：换一个微信用户并清除会话
  // switch the mock WeChat user (shown only with the mock WeChat) and forget the session
  bindSwitchUser() {
    if (!config.mockWechat) return;
    const next = MOCK_USERS[(MOCK_USERS.indexOf(this.data.mockUser) + 1) % MOCK_USERS.length];
    mockWechat.setUser(next);
    wafer.clearSession();
    this.setData({ mockUser: next, loginStatus: '未登录', userInfo: null, serverUser: null, requestResult: '', requestStatus: '' });
  },

  // 「登录」按钮 / the 登录 button
  bindLogin() {
    return this.doLogin();
  },

  doLogin() {
    this.setData({ loginStatus: '正在登录…', error: '' });
    return wafer.login().then((userInfo) => {
      this.setData({ loginStatus: '登录成功', userInfo: userInfo });
      return userInfo;
    }, (err) => {
      const text = util.errorText(err);
      this.setData({ loginStatus: '登录失败', error: text });
      wx.showModal({ title: '登录失败', content: text, showCancel: false });
      return null;
    });
  },

  // 「请求 /user」按钮：带会话的请求，没有会话时先登录 / a session request (logs in when needed)
  bindRequest() {
    return this.doRequest();
  },

  doRequest() {
    this.setData({ requestStatus: '正在请求…', error: '' });
    return wafer.request({ url: config.userUrl, login: true }).then((res) => {
      const user = util.userFromResponse(res.data);
      this.setData({
        requestStatus: user ? '请求成功' : '请求失败',
        requestResult: JSON.stringify(res.data, null, 2),
        serverUser: user
      });
      if (user && !this.data.userInfo) this.setData({ loginStatus: '登录成功', userInfo: user });
      return res;
    }, (err) => {
      const text = util.errorText(err);
      this.setData({ requestStatus: '请求失败', error: text });
      wx.showModal({ title: '请求失败', content: text, showCancel: false });
      return null;
    });
  },

  // 「清除会话」/ forget the stored session
  bindClearSession() {
    wafer.clearSession();
    this.setData({ loginStatus: '会话已清除', userInfo: null, serverUser: null, requestResult: '' });
  },

  // 「进入聊天室」
  openChat() {
    wx.navigateTo({ url: '/pages/chat/chat' });
  }
});
