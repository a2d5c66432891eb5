'use strict';
// The demo as a WeChat DevTools project: the project files, config.js as shipped (pointing at
// `npm run stack`'s ports), every wxml handler present in its page, and the DevTools path
// where wx.login goes through the stack's mock WeChat (utils/mock-wechat.js) because the
// simulator's own WeChat account knows nothing of the local stack.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const h = require('./helpers');
const { createSim } = require('../sim');

const DEMO = h.DEMO_DIR;
const readJson = (...p) => JSON.parse(fs.readFileSync(path.join(...p), 'utf8'));

describe('demo-miniprogram as a DevTools project', () => {
  test('project.config.json, package.json and app.json are complete', () => {
    const project = readJson(DEMO, 'project.config.json');
    assert.equal(project.compileType, 'miniprogram');
    assert.ok(project.appid);
    const mpRoot = path.join(DEMO, project.miniprogramRoot || '');
    assert.ok(fs.existsSync(path.join(mpRoot, 'app.json')), 'miniprogramRoot holds app.json');
    assert.equal(project.setting.urlCheck, false, 'domain check off for the local stack');
    assert.equal(project.setting.es6, true);
    assert.equal(project.setting.packNpmManually, false, '"build npm" finds package.json in miniprogramRoot');
    assert.ok(fs.existsSync(path.join(mpRoot, 'package.json')));
    assert.equal(readJson(mpRoot, 'package.json').dependencies['wafer-wasm'], 'file:../pkg');
    const [major, minor] = project.libVersion.split('.').map(Number);
    assert.ok(major > 2 || (major === 2 && minor >= 14), 'a base library with WXWebAssembly and .wasm.br');

    const app = readJson(mpRoot, 'app.json');
    assert.deepEqual(app.pages, ['pages/index/index', 'pages/chat/chat']);
    for (const page of app.pages) {
      for (const ext of ['js', 'json', 'wxml', 'wxss']) assert.ok(fs.existsSync(path.join(mpRoot, `${page}.${ext}`)), `${page}.${ext}`);
    }
    for (const f of ['app.js', 'app.wxss', 'config.js', 'README.md']) assert.ok(fs.existsSync(path.join(DEMO, f)), f);
  });

  test('config.js as shipped points at `npm run stack` (port base 8800)', async () => {
    const scripts = readJson(h.ROOT, 'package.json').scripts;
    assert.match(scripts.stack, /^node stack\/cli\.js --port-base 8800\b/);
    assert.equal(scripts.demo, 'node scripts/demo.js');
    const sim = createSim({ root: DEMO });
    try {
      const config = JSON.parse(JSON.stringify(sim.require('/config.js')));
      // stack/cli.js --port-base 8800: wechat 8800, auth 8801, tunnel 8802, wafer1 8803, wafer2 8804
      assert.deepEqual(config, {
        host: '127.0.0.1',
        dialect: 'wafer1',
        protocol: 'auto',
        baseUrl: 'http://127.0.0.1:8803',
        loginUrl: 'http://127.0.0.1:8803/login',
        userUrl: 'http://127.0.0.1:8803/user',
        tunnelUrl: 'http://127.0.0.1:8803/tunnel',
        mockWechat: { url: 'http://127.0.0.1:8800', user: '小明' },
      });
      sim.assertClean();
    } finally {
      await sim.close();
    }
  });

  test('every bind*/catch* handler in the wxml exists on its page', async () => {
    const world = await h.startWorld({});
    try {
      const u = world.user('阿查');
      await h.openChat(u);
      for (const [route, page] of [['pages/index/index', u.index], ['pages/chat/chat', u.chat]]) {
        const wxml = fs.readFileSync(path.join(DEMO, `${route}.wxml`), 'utf8');
        const handlers = [...wxml.matchAll(/\b(?:bind|catch)[:]?\w+="(\w+)"/g)].map((m) => m[1]);
        assert.ok(handlers.length > 0, route);
        for (const name of handlers) assert.equal(typeof page.instance[name], 'function', `${route}: ${name}`);
      }
      await world.finish();
    } finally {
      await world.stop();
    }
  });
});

describe('DevTools path: wx.login through the local mock WeChat (config mockWechat)', () => {
  let world;
  before(async () => {
    world = await h.startWorld({ dialect: 'wafer1', protocol: 'auto', mockUser: '小刚' });
  });
  after(async () => {
    if (world) await world.stop();
  });

  test('log in, switch the mock user, chat: all through /device/* of the mock WeChat', async () => {
    // The sim's own WeChat is the default fake one: its codes mean nothing to the stack.
    const u = world.user('devtools', { wechat: undefined });
    try {
      assert.equal(u.index.data.mockUser, '小刚');
      await u.index.instance.bindLogin();
      assert.equal(u.index.data.loginStatus, '登录成功', u.index.data.error);
      assert.equal(u.index.data.userInfo.nickName, '小刚');
      assert.equal(u.sim.counters.login, 0, 'the simulator\'s own wx.login is not used');
      assert.equal(world.stack.wechat.getUser('小刚').logins, 1, 'the mock WeChat issued the code');
      const device = u.sim.requestLog.filter((r) => r.url.startsWith(`${world.stack.urls.wechat}/device/`));
      assert.deepEqual(device.map((r) => r.url.slice(world.stack.urls.wechat.length)), ['/device/login', '/device/userinfo']);

      u.index.instance.bindSwitchUser(); // 小刚 → 小明
      assert.equal(u.index.data.mockUser, '小明');
      assert.equal(u.sim.storage.get(h.SESSION_KEY), undefined, 'switching users forgets the session');
      await u.index.instance.bindRequest();
      assert.equal(u.index.data.serverUser.nickName, '小明', u.index.data.error);

      u.name = '小明'; // the phone's WeChat user from now on
      await h.openChat(u);
      h.say(u, '从开发者工具发来的消息');
      await h.waitFor(() => h.speakLines(u.chat).includes('小明：从开发者工具发来的消息'), 'the message to come back');
      await world.finish();
    } finally {
      await world.closeUsers();
    }
  });
});
