'use strict';
// The chat page through the rougher parts of real life, against the Wafer 1 server with
// protocol 'auto': a half-open link found by the heartbeat, the server closing the tunnel,
// the phone going offline and back, junk frames, and two pages logging in at once.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

describe('chat page resilience (Wafer 1 server, protocol auto)', () => {
  let world;

  before(async () => {
    world = await h.startWorld({ dialect: 'wafer1', protocol: 'auto' });
  });

  after(async () => {
    if (world) await world.stop();
  });

  const scenario = (name, fn) => test(name, async () => {
    try {
      await fn(world);
      await world.finish();
    } finally {
      world.stack.resetFaults();
      await world.closeUsers();
    }
  });

  scenario('a half-open link is found by the heartbeat (server timeout:1, no pong) and replaced', async (w) => {
    w.stack.tunnel.timeoutSeconds = 1; // `timeout:1` right after connect: ping every second
    const u = w.user('阿心');
    await h.openChat(u);
    const oldId = h.tunnelIdOf(u.chat);
    const pings = [];
    const onFrame = (f) => { if (f.tunnelId === oldId && f.text === 'ping') pings.push(f); };
    w.stack.tunnel.on('frame', onFrame);
    try {
      await h.waitFor(() => pings.length >= 1, 'a ping after timeout:1');
      w.stack.tunnel.stopPong(true);
      await h.waitFor(() => h.hasSystem(u.chat, '连接已断开，正在重连…'), 'the dead link to be noticed');
      w.stack.tunnel.stopPong(false);
      await h.waitFor(() => h.hasSystem(u.chat, '重连成功'), 'the reconnect', 30000);
    } finally {
      w.stack.tunnel.removeListener('frame', onFrame);
    }
    await h.waitFor(() => w.business.chat.connectedTunnelIds.includes(h.tunnelIdOf(u.chat)), 'the new tunnel in the room');
    assert.notEqual(h.tunnelIdOf(u.chat), oldId);
    assert.equal(u.sim.counters.login, 1);
    h.say(u, '心跳正常');
    await h.waitFor(() => h.speakLines(u.chat).includes('阿心：心跳正常'), 'the message after the reconnect');
  });

  scenario('the server closes the tunnel: 聊天室已关闭, no reconnect', async (w) => {
    const u = w.user('阿关');
    await h.openChat(u);
    const sockets = u.sim.counters.sockets;
    await w.business.closeTunnel(h.tunnelIdOf(u.chat));
    await h.waitFor(() => h.hasSystem(u.chat, '聊天室已关闭'), 'the close notice');
    assert.equal(u.chat.instance.tunnel.status, 'CLOSED');
    assert.equal(u.chat.data.connected, false);
    assert.ok(!h.hasSystem(u.chat, '连接已断开'), 'no reconnect after a server close');
    assert.equal(u.sim.counters.sockets, sockets);
    assert.equal(u.chat.instance.sendMessage(), false, 'nothing typed, nothing sent');
    u.chat.instance.bindInput({ detail: { value: '还在吗' } });
    assert.equal(u.chat.instance.sendMessage(), false, 'a closed room sends nothing');
    assert.ok(u.sim.uiCalls.some((c) => c.api === 'showToast' && c.options.title === '还没有进入聊天室'));
  });

  scenario('offline, then online again: one new socket and the chat goes on', async (w) => {
    const u = w.user('阿网');
    await h.openChat(u);
    const sockets = u.sim.counters.sockets;
    u.sim.setNetwork(false);
    await h.waitFor(() => h.hasSystem(u.chat, '连接已断开，正在重连…'), 'the drop to be noticed');
    u.sim.setNetwork(true);
    await h.waitFor(() => h.hasSystem(u.chat, '重连成功'), 'the reconnect', 30000);
    await h.waitFor(() => w.business.chat.connectedTunnelIds.includes(h.tunnelIdOf(u.chat)), 'the new tunnel in the room');
    assert.equal(u.sim.counters.sockets - sockets, 1, 'no socket was tried while offline');
    h.say(u, '网络回来了');
    await h.waitFor(() => h.speakLines(u.chat).includes('阿网：网络回来了'), 'the message after the reconnect');
  });

  scenario('leaving while the tunnel handshake is in flight: no socket is ever opened', async (w) => {
    const u = w.user('阿快');
    await u.index.instance.bindLogin();
    const requests = [];
    const onRequest = (e) => requests.push(e.tunnelId);
    w.business.on('onRequest', onRequest);
    w.business.slowMs = 200; // the handshake answer is on its way while the page goes away
    try {
      u.index.instance.openChat();
      u.chat = u.sim.openPage('pages/chat/chat');
      await u.chat.instance.entering;
      assert.equal(u.chat.instance.tunnel.status, 'CONNECTING');
      u.chat.unload();
      assert.equal(u.chat.instance.tunnel.status, 'CLOSED');
      await h.waitFor(() => requests.length === 1, 'the server to answer the handshake');
      await h.waitFor(() => u.sim.netStats().requestsActive === 0, 'the answer to arrive');
      await u.sim.settle(20);
    } finally {
      w.business.slowMs = 0;
      w.business.removeListener('onRequest', onRequest);
    }
    assert.equal(u.sim.counters.sockets, 0, 'no socket after close()');
    assert.equal(u.chat.instance.tunnel.status, 'CLOSED');
    assert.ok(!w.stack.tunnel.connectedIds().includes(requests[0]));
    assert.equal(h.messagesOf(u.chat).pop().text, '你已离开聊天室');
  });

  scenario('a message typed while still connecting is sent once connected', async (w) => {
    const u = w.user('阿早');
    await u.index.instance.bindLogin();
    w.business.slowMs = 100;
    try {
      u.index.instance.openChat();
      u.chat = u.sim.openPage('pages/chat/chat');
      await u.chat.instance.entering;
      assert.equal(u.chat.instance.tunnel.status, 'CONNECTING');
      h.say(u, '连上之前说的话');
    } finally {
      w.business.slowMs = 0;
    }
    await h.waitFor(() => h.speakLines(u.chat).includes('阿早：连上之前说的话'), 'the early message');
    assert.equal(h.speakLines(u.chat).length, 1, 'sent once');
  });

  scenario('junk frames from the server are dropped without an exception', async (w) => {
    const u = w.user('阿杂');
    await h.openChat(u);
    const id = h.tunnelIdOf(u.chat);
    for (const frame of ['message:not json', 'weird', 'message:{"type":"speak"}', 'message:{"type":"people","content":null}', 'timeout:abc']) {
      assert.ok(w.stack.tunnel.sendRaw(id, frame), frame);
    }
    h.say(u, '还能聊');
    await h.waitFor(() => h.speakLines(u.chat).includes('阿杂：还能聊'), 'the message after the junk');
    assert.equal(u.chat.instance.tunnel.status, 'ACTIVE');
    assert.deepEqual(h.messagesOf(u.chat).filter((m) => m.type === 'speak').map((m) => m.word), ['还能聊']);
  });

  scenario('登录 on the index page and the chat page at once: one wx.login; two chat pages, two tunnels', async (w) => {
    const u = w.user('阿并');
    const login = u.index.instance.bindLogin();
    u.index.instance.openChat();
    u.chat = u.sim.openPage('pages/chat/chat');
    await login;
    await u.chat.instance.entering;
    assert.equal(u.index.data.loginStatus, '登录成功');
    assert.equal(u.sim.counters.login, 1, 'concurrent logins share one wx.login');
    assert.equal(h.requestsTo(u, w.stack.endpoints.wafer1.login).length, 1);
    await h.waitFor(() => h.hasSystem(u.chat, '阿并 进入了聊天室，当前共 1 人'), 'the enter notice');

    // A second chat page on top: its own SocketTask, so both tunnels live side by side.
    const second = u.sim.openPage('pages/chat/chat');
    await second.instance.entering;
    await h.waitFor(() => h.hasSystem(u.chat, '阿并 进入了聊天室，当前共 2 人'), 'the first page to see the second enter');
    assert.equal(u.sim.sockets.open().length, 2);
    assert.equal(u.chat.instance.tunnel.status, 'ACTIVE');
    const secondId = h.tunnelIdOf(second);
    second.unload();
    await h.waitFor(() => w.closedTunnels.has(secondId), 'the second tunnel to close');
    await h.waitFor(() => h.hasSystem(u.chat, '阿并 离开了聊天室，当前共 1 人'), 'the first page to see the second leave');
    assert.equal(u.chat.instance.tunnel.status, 'ACTIVE');
  });
});
