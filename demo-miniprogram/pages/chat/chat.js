// 聊天室：官方 Wafer 示例里的经典聊天室，跑在 wafer-wasm 的 Tunnel 上。
// The classic Wafer chat room on a wafer-wasm Tunnel:
//   people { total, enter | leave }  →  「xxx 进入了聊天室」/「xxx 离开了聊天室」
//   speak  { who, word }             →  a chat bubble
//   reconnecting / reconnect         →  「连接已断开，正在重连…」/「重连成功」
// data.messages: { id, type: 'system', text } | { id, type: 'speak', who, word, mine, avatarUrl }
const wafer = require('wafer-wasm');
const config = require('../../config');
const util = require('../../utils/util');

let messageSeq = 0;

function systemMessage(text) {
  messageSeq += 1;
  return { id: 'msg-' + messageSeq, type: 'system', text: text };
}

function speakMessage(who, word, mine) {
  messageSeq += 1;
  return {
    id: 'msg-' + messageSeq,
    type: 'speak',
    who: util.nickName(who),
    avatarUrl: (who && who.avatarUrl) || '',
    word: String(word),
    mine: !!mine
  };
}

function sameUser(a, b) {
  if (!a || !b) return false;
  if (a.openId && b.openId) return a.openId === b.openId;
  return util.nickName(a) === util.nickName(b);
}

Page({
  data: {
    messages: [],
    inputContent: '',
    connected: false,
    lastMessageId: 'none'
  },

  onLoad() {
    this.me = null;
    this.tunnel = null;
    this.unloaded = false;
    // 保存起来，测试可以等它 / kept so a test can wait for it
    this.entering = this.enter();
  },

  onUnload() {
    this.quit();
  },

  pushMessage(message) {
    const messages = this.data.messages.concat([message]);
    this.setData({ messages: messages, lastMessageId: message.id });
  },

  // 没有本地会话时先 login()（Wafer 2 的 request({ login: true }) 只会用 code 登录，新用户必须先 login()；
  // Wafer 2 的 login() 每次都会请求服务器），再从 /user 取得自己的资料（已有会话且 wx.checkSession 通过时
  // 不会登录），然后连上信道。
  // Without a stored session, login() first (with Wafer 2, request({ login: true }) logs in with
  // the code alone, which only works for a user who has logged in before, and login() always asks
  // the server); then learn who we are from /user (free when a stored session passes
  // wx.checkSession) and open the tunnel.
  enter() {
    this.pushMessage(systemMessage('正在登录…'));
    const loggedIn = wafer.Session.get() ? Promise.resolve() : wafer.login();
    return loggedIn.then(() => wafer.request({ url: config.userUrl, login: true })).then((res) => {
      const me = util.userFromResponse(res.data);
      if (!me) throw new Error('服务器没有返回用户信息：' + JSON.stringify(res.data));
      this.me = me;
      if (!this.unloaded) this.connect();
    }).catch((err) => {
      if (!this.unloaded) this.pushMessage(systemMessage('登录失败：' + util.errorText(err)));
    });
  },

  connect() {
    this.pushMessage(systemMessage('正在进入聊天室…'));
    const tunnel = this.tunnel = new wafer.Tunnel(config.tunnelUrl);

    tunnel.on('connect', () => {
      this.setData({ connected: true });
    });

    tunnel.on('people', (people) => {
      if (!people) return;
      if (people.enter) {
        this.pushMessage(systemMessage(util.nickName(people.enter) + ' 进入了聊天室，当前共 ' + people.total + ' 人'));
      } else if (people.leave) {
        this.pushMessage(systemMessage(util.nickName(people.leave) + ' 离开了聊天室，当前共 ' + people.total + ' 人'));
      }
    });

    tunnel.on('speak', (speak) => {
      if (!speak) return;
      this.pushMessage(speakMessage(speak.who, speak.word, sameUser(speak.who, this.me)));
    });

    tunnel.on('reconnecting', () => {
      this.setData({ connected: false });
      this.pushMessage(systemMessage('连接已断开，正在重连…'));
    });

    tunnel.on('reconnect', () => {
      this.setData({ connected: true });
      this.pushMessage(systemMessage('重连成功'));
    });

    tunnel.on('error', (error) => {
      if (this.unloaded) return;
      this.pushMessage(systemMessage('信道出错（' + error.code + '）：' + error.message));
    });

    tunnel.on('close', () => {
      if (this.unloaded) return;
      this.setData({ connected: false });
      this.pushMessage(systemMessage('聊天室已关闭'));
    });

    tunnel.open();
  },

  // 离开页面时关闭信道 / close the tunnel when the page goes away
  quit() {
    if (this.unloaded) return;
    this.unloaded = true;
    if (this.tunnel) {
      this.pushMessage(systemMessage('你已离开聊天室'));
      this.tunnel.close();
    }
  },

  bindInput(e) {
    this.setData({ inputContent: e.detail.value });
  },

  // 「发送」：断线重连期间 SDK 会先排队，连上后按顺序发出
  // 发送; while reconnecting the SDK queues the message and sends it, in order, once back
  sendMessage() {
    const word = String(this.data.inputContent || '').trim();
    if (!word) return false;
    if (!this.tunnel || this.tunnel.isClosed()) {
      wx.showToast({ title: '还没有进入聊天室', icon: 'none' });
      return false;
    }
    const sent = this.tunnel.emit('speak', { word: word });
    if (sent) this.setData({ inputContent: '' });
    return sent;
  }
});
