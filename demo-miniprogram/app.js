// wafer-wasm 示例小程序入口 / entry of the wafer-wasm demo mini-program.
// 开发者工具里先执行「工具 → 构建 npm」，require('wafer-wasm') 才能找到 miniprogram_npm/wafer-wasm。
const config = require('./config');
const wafer = require('wafer-wasm');

// 连本地开发栈时，用本地模拟微信代替真实的 wx.login（见 utils/mock-wechat.js）
// With the local stack, wx.login & co. go to the stack's mock WeChat.
if (config.mockWechat) require('./utils/mock-wechat').install(config.mockWechat);

App({
  onLaunch() {
    // 登录地址和协议都来自 config.js / login URL and dialect come from config.js.
    // protocol 'auto'：SDK 按登录响应识别 Wafer 1 / Wafer 2 并记住。
    wafer.configure({ protocol: config.protocol, loginUrl: config.loginUrl });
  },

  globalData: {
    config: config
  }
});
