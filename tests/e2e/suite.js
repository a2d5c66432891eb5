'use strict';
// The end-to-end suite, run once per (business server dialect, SDK protocol) pair by the
// *.test.js files beside it: the demo pages + the packed SDK + the local Wafer stack.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

const MAGIC_HEADERS = ['X-WX-Code', 'X-WX-Encrypted-Data', 'X-WX-IV'];

function defineSuite({ dialect, protocol }) {
  const title = `${dialect === 'wafer2' ? 'Wafer 2 server (wafer-node-sdk on MariaDB)' : 'Wafer 1 server (qcloud-weapp-server-sdk)'}, protocol '${protocol}'`;

  describe(title, () => {
    let world;
    let config;

    before(async () => {
      world = await h.startWorld({ dialect, protocol });
      config = world.stack.endpoints[dialect];
    });

    after(async () => {
      if (world) await world.stop();
    });

    /** Runs `fn(world)`; always closes the simulators it opened. */
    const scenario = (name, fn) => test(name, async () => {
      try {
        await fn(world);
        await world.finish();
      } finally {
        await world.closeUsers();
      }
    });

    /** Open the chat pages of `users` one after the other; wait until everyone saw everyone. */
    async function enterRoom(users) {
      for (const u of users) await h.openChat(u);
      const last = users[users.length - 1];
      for (const u of users) {
        await h.waitFor(() => h.hasSystem(u.chat, `${last.name} 进入了聊天室`), `${u.name} to see ${last.name} enter`);
      }
    }

    async function talk(world, speaker, word) {
      h.say(speaker, word);
      const line = `${speaker.name}：${word}`;
      for (const u of world.users) {
        if (u.chat && !u.chat.unloaded) await h.waitFor(() => h.speakLines(u.chat).includes(line), `${u.name} to receive ${line}`);
      }
    }

    if (dialect === 'wafer2') {
      test('the server runs the official wafer-node-sdk on MariaDB', (t) => {
        assert.equal(world.stack.wafer2.versions['wafer-node-sdk'], '1.4.5');
        assert.match(world.stack.wafer2.versions.mariadb, /MariaDB/);
        t.diagnostic(h.wafer2Versions(world));
      });
    }

    scenario('index page: 登录, then 请求 /user with the stored session', async (w) => {
      const u = w.user('阿登');
      await u.index.instance.bindLogin();
      assert.equal(u.index.data.loginStatus, '登录成功', u.index.data.error);
      assert.equal(u.index.data.userInfo.nickName, '阿登');
      assert.equal(u.sim.counters.login, 1);
      assert.equal(u.sim.counters.getUserInfo, 1);
      const [login] = h.requestsTo(u, config.login);
      assert.ok(login, 'one login request');
      for (const name of MAGIC_HEADERS) assert.ok(h.header(login.header, name), `login carries ${name}`);
      assert.equal(u.sim.requestLog.length, 1);
      assert.ok(u.sim.storage.get(h.SESSION_KEY), 'the session is stored under the official key');

      await u.index.instance.bindRequest();
      assert.equal(u.index.data.requestStatus, '请求成功', u.index.data.error);
      assert.equal(u.index.data.serverUser.nickName, '阿登');
      assert.equal(u.index.data.serverUser.openId, w.stack.wechat.getUser('阿登').openid);
      const [userReq] = h.requestsTo(u, config.user);
      const skey = h.header(userReq.header, 'X-WX-Skey');
      assert.ok(skey, '/user carries X-WX-Skey');
      if (dialect === 'wafer1') assert.ok(h.header(userReq.header, 'X-WX-Id'), 'Wafer 1 requests carry X-WX-Id');
      else assert.equal(h.header(userReq.header, 'X-WX-Id'), undefined, 'Wafer 2 requests carry no X-WX-Id');
      assert.equal(u.sim.counters.login, 1, 'a request with a valid session does not log in');

      // 登录 again. Wafer 1: a stored session plus a valid wx.checkSession is "already logged
      // in" (as 0.8). Wafer 2: login() asks the server to refresh the profile (as 2.1).
      const loginsBefore = h.serverLogins(w);
      await u.index.instance.bindLogin();
      assert.equal(u.index.data.loginStatus, '登录成功');
      assert.equal(u.index.data.userInfo.nickName, '阿登');
      const again = dialect === 'wafer1' ? 0 : 1;
      assert.equal(u.sim.counters.login, 1 + again, 'wx.login calls');
      assert.equal(h.serverLogins(w), loginsBefore + again, 'server logins');
      assert.equal(h.requestsTo(u, config.login).length, 1 + again);
    });

    scenario('relaunched mini-program: the stored session is reused, no login', async (w) => {
      const first = w.user('阿回');
      await first.index.instance.bindLogin();
      await first.sim.close();
      const again = w.relaunch(first);
      await again.index.instance.bindRequest();
      assert.equal(again.index.data.requestStatus, '请求成功', again.index.data.error);
      assert.equal(again.index.data.serverUser.nickName, '阿回');
      await h.openChat(again);
      assert.equal(again.sim.counters.login, 0, 'no wx.login after a relaunch');
      assert.equal(h.requestsTo(again, config.login).length, 0);
      const [handshake] = h.requestsTo(again, config.tunnel);
      assert.ok(h.header(handshake.header, 'X-WX-Skey'));
      assert.equal(h.header(handshake.header, 'X-WX-Id') !== undefined, dialect === 'wafer1', 'the headers of the dialect');
    });

    scenario('session expiry: a burst of requests costs exactly one re-login', async (w) => {
      const u = w.user('阿期');
      await u.index.instance.bindLogin();
      await u.index.instance.bindRequest();
      assert.equal(u.index.data.requestStatus, '请求成功', u.index.data.error);
      assert.equal(u.sim.counters.login, 1);
      const wxLogins = u.sim.counters.login;
      const userInfos = u.sim.counters.getUserInfo;
      const serverLogins = h.serverLogins(w);
      const loginRequests = h.requestsTo(u, config.login).length;
      const userRequests = h.requestsTo(u, config.user).length;

      await h.expireSessions(w);
      const BURST = 5;
      const results = await Promise.all(Array.from({ length: BURST }, () => u.index.instance.doRequest()));

      for (const res of results) {
        assert.ok(res, 'every request of the burst succeeds');
        assert.equal(res.statusCode, 200);
        assert.equal(res.data.code, 0, JSON.stringify(res.data));
      }
      assert.equal(u.index.data.serverUser.nickName, '阿期');
      assert.equal(u.sim.counters.login - wxLogins, 1, 'one wx.login for the whole burst');
      assert.equal(h.serverLogins(w) - serverLogins, 1, 'one login on the server');
      const relogins = h.requestsTo(u, config.login).slice(loginRequests);
      assert.equal(relogins.length, 1, 'one login request');
      const sent = h.requestsTo(u, config.user).length - userRequests;
      assert.equal(sent, 2 * BURST, 'each request of the burst is retried exactly once');
      if (dialect === 'wafer2') {
        assert.equal(w.stack.wafer2.stats.codeLogins, 1, 'Wafer 2 logs in again with the code alone');
        assert.equal(h.header(relogins[0].header, 'X-WX-Encrypted-Data'), undefined);
        assert.equal(u.sim.counters.getUserInfo, userInfos, 'loginWithCode needs no wx.getUserInfo');
      } else {
        for (const name of MAGIC_HEADERS) assert.ok(h.header(relogins[0].header, name), `re-login carries ${name}`);
      }

      // The new session is good: the next request logs in no more.
      await u.index.instance.doRequest();
      assert.equal(u.sim.counters.login - wxLogins, 1);
    });

    scenario('a session the server never accepts: one re-login, then a typed error', async (w) => {
      const u = w.user('阿拒');
      await u.index.instance.bindLogin();
      const saved = (dialect === 'wafer2' ? w.stack.wafer2 : w.stack.auth).sessionLifetimeMs;
      await h.setSessionLifetime(w, -60000); // every session, even a fresh one, is already expired
      try {
        await h.expireSessions(w);
        await u.index.instance.bindRequest();
        assert.equal(u.index.data.requestStatus, '请求失败');
        const type = dialect === 'wafer2' ? 'ERR_SESSION_INVALID' : 'ERR_INVALID_SESSION';
        assert.ok(u.index.data.error.startsWith(`${type}：`), u.index.data.error);
        assert.ok(u.sim.uiCalls.some((c) => c.api === 'showModal' && c.options.title === '请求失败'));
        assert.equal(u.sim.counters.login, 2, 'one re-login, no more');
        assert.equal(h.requestsTo(u, config.user).length, 2, 'one retry, no more');
        assert.equal(u.sim.storage.get(h.SESSION_KEY), undefined, 'the rejected session is cleared');

        // The error itself, straight from the SDK the page uses.
        const wafer = u.sim.require('wafer-wasm');
        const err = await wafer.request({ url: config.user, login: true }).then(() => null, (e) => e);
        assert.ok(err instanceof wafer.RequestError, 'a RequestError');
        assert.equal(err.type, type);
        if (dialect === 'wafer1') assert.match(String(err.detail), /60011/, 'the server\'s own text in detail');
      } finally {
        await h.setSessionLifetime(w, saved);
      }
    });

    if (dialect === 'wafer1') {
      scenario('another session failure from the official server SDK: ERR_CHECK_LOGIN_FAILED, no login', async (w) => {
        const u = w.user('阿错');
        await u.index.instance.bindLogin();
        w.stack.auth.forceReturnCode = 60001; // the auth server fails, but not with "expired" / "invalid"
        try {
          await u.index.instance.bindRequest();
        } finally {
          w.stack.auth.forceReturnCode = 0;
        }
        assert.equal(u.index.data.requestStatus, '请求失败');
        assert.ok(u.index.data.error.startsWith('ERR_CHECK_LOGIN_FAILED：'), u.index.data.error);
        assert.match(u.index.data.error, /60001/);
        assert.equal(u.sim.counters.login, 1, 'no re-login');
        assert.equal(h.requestsTo(u, config.user).length, 1, 'no retry');
        assert.equal(u.sim.storage.get(h.SESSION_KEY), undefined, 'a magic-id answer clears the session');
      });
    }

    scenario('chat room: two users enter, speak and one leaves', async (w) => {
      const ming = w.user('小明');
      const hong = w.user('小红');
      await enterRoom([ming, hong]);
      await talk(w, ming, '大家好，我是小明！');
      await talk(w, hong, '你好小明 👋');

      const line = (m) => (m.type === 'speak' ? `${m.who}${m.mine ? '（我）' : ''}：${m.word}` : m.text);
      assert.deepEqual(h.messagesOf(ming.chat).map(line), [
        '正在登录…',
        '正在进入聊天室…',
        '小明 进入了聊天室，当前共 1 人',
        '小红 进入了聊天室，当前共 2 人',
        '小明（我）：大家好，我是小明！',
        '小红：你好小明 👋',
      ]);
      assert.deepEqual(h.messagesOf(hong.chat).map(line), [
        '正在登录…',
        '正在进入聊天室…',
        '小红 进入了聊天室，当前共 2 人',
        '小明：大家好，我是小明！',
        '小红（我）：你好小明 👋',
      ]);
      const speaks = [];
      const onMessage = (m) => speaks.push(m);
      w.business.on('onMessage', onMessage);

      const hongTunnel = h.tunnelIdOf(hong.chat);
      hong.chat.unload();
      await h.waitFor(() => w.closedTunnels.has(hongTunnel), 'onClose of 小红');
      await h.waitFor(() => h.hasSystem(ming.chat, '小红 离开了聊天室，当前共 1 人'), '小明 to see 小红 leave');
      assert.equal(hong.chat.instance.tunnel.status, 'CLOSED');
      assert.deepEqual(w.business.chat.connectedTunnelIds, [h.tunnelIdOf(ming.chat)]);

      await talk(w, ming, '人走了，我也走了');
      w.business.removeListener('onMessage', onMessage);
      assert.equal(speaks.length, 1);
      assert.deepEqual(JSON.parse(JSON.stringify(speaks[0].content)), { word: '人走了，我也走了' });
      for (const u of [ming, hong]) {
        assert.equal(u.sim.counters.login, 1, `${u.name}: one login`);
        assert.equal(u.sim.counters.sockets, 1, `${u.name}: one socket`);
      }
    });

    scenario('reconnect after the tunnel server drops every socket; chat works again', async (w) => {
      const gang = w.user('小刚');
      const li = w.user('小丽');
      await enterRoom([gang, li]);
      await talk(w, gang, '掉线前');
      const oldIds = [gang, li].map((u) => h.tunnelIdOf(u.chat));
      const sockets = [gang, li].map((u) => u.sim.counters.sockets);

      // Keep the server refusing while the links are down, so a message can be sent mid-outage.
      w.stack.tunnel.refuse(true);
      assert.equal(w.stack.tunnel.dropAll(), 2);
      for (const u of [gang, li]) {
        await h.waitFor(() => h.hasSystem(u.chat, '连接已断开，正在重连…'), `${u.name} to notice the drop`);
      }
      assert.equal(gang.chat.instance.tunnel.status, 'RECONNECTING');
      h.say(gang, '断线时发的消息');
      w.stack.tunnel.refuse(false);

      for (const u of [gang, li]) {
        await h.waitFor(() => h.hasSystem(u.chat, '重连成功'), `${u.name} to reconnect`, 30000);
      }
      await h.waitFor(() => [gang, li].every((u) => {
        const id = h.tunnelIdOf(u.chat);
        return id && !oldIds.includes(id) && w.business.chat.connectedTunnelIds.includes(id);
      }), 'both new tunnels in the room', 30000);
      for (const id of oldIds) assert.ok(w.closedTunnels.has(id), 'the dropped tunnels were reported closed');

      // The message queued during the outage went out after the reconnect.
      await h.waitFor(() => h.speakLines(gang.chat).includes('小刚：断线时发的消息'), '小刚 to get the queued message back');
      const texts = h.messagesOf(gang.chat).map((m) => m.text || `${m.who}：${m.word}`);
      assert.ok(texts.indexOf('小刚：断线时发的消息') > texts.indexOf('重连成功'));

      await talk(w, li, '重连之后');
      await talk(w, gang, '一切正常');
      for (const u of [gang, li]) {
        const sys = h.systemTexts(u.chat);
        assert.equal(sys.filter((t) => t === '连接已断开，正在重连…').length, 1, `${u.name}: one reconnecting notice`);
        assert.equal(sys.filter((t) => t === '重连成功').length, 1, `${u.name}: one reconnect notice`);
        assert.equal(u.sim.counters.login, 1, `${u.name}: the session survives, no re-login`);
        assert.ok(u.sim.counters.sockets > sockets[[gang, li].indexOf(u)], `${u.name}: a new socket`);
        assert.equal(u.sim.sockets.open().length, 1, `${u.name}: one socket open`);
      }
    });

    scenario('session expired while chatting: the reconnect handshake logs in once and rejoins', async (w) => {
      const u = w.user('小芳');
      await h.openChat(u);
      const oldId = h.tunnelIdOf(u.chat);
      const wxLogins = u.sim.counters.login;
      const serverLogins = h.serverLogins(w);
      const handshakes = h.requestsTo(u, config.tunnel).length;

      await h.expireSessions(w);
      w.stack.tunnel.dropAll();
      await h.waitFor(() => h.hasSystem(u.chat, '重连成功'), `${u.name} to reconnect`, 30000);
      await h.waitFor(() => {
        const id = h.tunnelIdOf(u.chat);
        return id && id !== oldId && w.business.chat.connectedTunnelIds.includes(id);
      }, 'the new tunnel in the room');
      assert.equal(u.sim.counters.login - wxLogins, 1, 'one wx.login');
      assert.equal(h.serverLogins(w) - serverLogins, 1, 'one server login');
      assert.equal(h.requestsTo(u, config.tunnel).length - handshakes, 2, 'the handshake is retried once, after the login');
      await talk(w, u, '会话过期也不怕');
      assert.equal(u.chat.instance.tunnel.status, 'ACTIVE');
    });

    scenario('client close(): the business server\'s onClose sees it', async (w) => {
      const u = w.user('小华');
      await h.openChat(u);
      const id = h.tunnelIdOf(u.chat);
      assert.ok(id);
      const frames = [];
      const onFrame = (f) => { if (f.tunnelId === id) frames.push(f.text); };
      w.stack.tunnel.on('frame', onFrame);
      const closes = [];
      const onClose = (e) => closes.push(e.tunnelId);
      w.business.on('onClose', onClose);
      try {
        u.chat.unload(); // onUnload → tunnel.close()
        await h.waitFor(() => closes.includes(id), 'onClose of the tunnel');
        assert.deepEqual(closes, [id], 'exactly one onClose');
        assert.ok(frames.includes('close'), 'the client sent a close packet');
        assert.ok(u.chat.instance.tunnel.isClosed());
        assert.equal(h.messagesOf(u.chat).pop().text, '你已离开聊天室');
        await h.waitFor(() => u.sim.sockets.open().length === 0, 'the socket to close');
        assert.ok(!w.business.chat.connectedTunnelIds.includes(id));
        assert.equal(u.sim.counters.sockets, 1);
      } finally {
        w.stack.tunnel.removeListener('frame', onFrame);
        w.business.removeListener('onClose', onClose);
      }
    });
  });
}

module.exports = { defineSuite };
