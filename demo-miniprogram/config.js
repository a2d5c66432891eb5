/**
 * 小程序的服务器配置：整个示例里只有这一处写服务器地址和协议。
 * The server configuration: the only place in the demo with the server address and dialect.
 *
 * `npm run stack`（仓库根目录）默认使用这些端口 / listens on these ports by default:
 *   8800 模拟微信 mock WeChat · 8801 鉴权服务 auth server · 8802 信道服务 tunnel server
 *   8803 Wafer 1 业务服务器（官方 qcloud-weapp-server-sdk）· 8804 Wafer 2 业务服务器
 *
 * 真机预览时把 host 改成电脑的局域网 IP，并用 `npm run stack -- --host 0.0.0.0 --public-host <IP>` 启动。
 * For a phone, set host to this computer's LAN address and start the stack with
 * `npm run stack -- --host 0.0.0.0 --public-host <IP>`.
 * A deployed server: set `https: true`, the domain as host and `null` ports.
 */

// @server-settings-begin (npm run demo and the e2e tests rewrite this block in their own copy)
var settings = {
  // 业务服务器地址 / business server host
  host: '127.0.0.1',
  // true → https://（正式环境）/ true for a deployed server
  https: false,
  // Wafer 1 业务服务器端口（null = 默认端口）/ port of the Wafer 1 business server (null: scheme default)
  wafer1Port: 8803,
  // Wafer 2 业务服务器端口 / port of the Wafer 2 business server
  wafer2Port: 8804,
  // 'wafer1'：官方 Wafer 1 服务端 SDK（/login、/user、/tunnel）
  // 'wafer2'：Wafer 2 快速启动服务端（/weapp/login、/weapp/user、/weapp/tunnel）
  dialect: 'wafer1',
  // 交给 SDK 的 configure({ protocol })：'auto'（按登录响应自动识别）| 'wafer1' | 'wafer2'
  protocol: 'auto',
  // 用本地模拟微信登录（只配合 npm run stack；连真实服务器时改成 false）。开发者工具里 wx.login
  // 拿到的是真微信的 code，本地鉴权服务换不了它，所以 wx.login / wx.getUserInfo / wx.checkSession
  // 改由模拟微信提供（utils/mock-wechat.js）。
  // Log in through the stack's mock WeChat (local stack only; false for a real server).
  mockWechat: true,
  // 模拟微信的端口 / port of the mock WeChat
  mockWechatPort: 8800,
  // 模拟微信里的用户（也是昵称），首页可以切换 / the mock WeChat user (also the nickname)
  mockUser: '小明'
};
// @server-settings-end

function origin(s, port) {
  var scheme = s.https ? 'https://' : 'http://';
  return scheme + s.host + (port === null || port === undefined || port === '' ? '' : ':' + port);
}

function build(s) {
  var wafer2 = s.dialect === 'wafer2';
  var base = wafer2 ? origin(s, s.wafer2Port) + '/weapp' : origin(s, s.wafer1Port);
  return {
    host: s.host,
    dialect: wafer2 ? 'wafer2' : 'wafer1',
    protocol: s.protocol || 'auto',
    baseUrl: base,
    // 登录地址 / login URL (wafer.configure({ loginUrl }))
    loginUrl: base + '/login',
    // 需要会话的接口 / a request that needs the session
    userUrl: base + '/user',
    // 信道服务地址 / tunnel service URL (new wafer.Tunnel(tunnelUrl))
    tunnelUrl: base + '/tunnel',
    // 本地模拟微信，null = 用真实的 wx.login / the local mock WeChat, null = the real wx.login
    mockWechat: s.mockWechat ? { url: origin(s, s.mockWechatPort), user: s.mockUser || '小明' } : null
  };
}

module.exports = build(settings);
