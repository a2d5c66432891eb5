'use strict';
// End to end: what only the real Wafer 2 server shows (DESIGN.md §4, "The real Wafer 2
// server"): the demo pages + the packed SDK (protocol 'auto', the default) against the
// stack's wafer-node-sdk on MariaDB, whose database the tests read and change in SQL.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

describe('Wafer 2 server (wafer-node-sdk on MariaDB): what an emulation would not show', () => {
  let world;
  let config;

  before(async () => {
    world = await h.startWorld({ dialect: 'wafer2', protocol: 'auto' });
    config = world.stack.endpoints.wafer2;
  });

  after(async () => {
    if (world) await world.stop();
  });

  const scenario = (name, fn) => test(name, async (t) => {
    try {
      await fn(world, t);
      await world.finish();
    } finally {
      await world.closeUsers();
    }
  });

  const rowsOf = (w, name) => w.stack.wafer2.query('SELECT * FROM cSessionInfo WHERE open_id = ?', [w.stack.wechat.getUser(name).openid]);

  scenario('a session older than 2 hours is recovered with one code-only login and one retry', async (w, t) => {
    t.diagnostic(h.wafer2Versions(w));
    assert.equal(w.stack.wafer2.sessionLifetimeMs, 2 * 60 * 60 * 1000, 'the quickstart\'s wxLoginExpires, 7200 s');
    const u = w.user('阿久');
    await u.index.instance.bindLogin();
    await u.index.instance.bindRequest();
    assert.equal(u.index.data.requestStatus, '请求成功', u.index.data.error);
    const oldSkey = u.sim.storage.get(h.SESSION_KEY).skey;

    // Logged in 2 h 1 min ago: validation never extended it, and WeChat still vouches for it.
    await w.stack.wafer2.query(
      'UPDATE cSessionInfo SET last_visit_time = last_visit_time - INTERVAL 7260 SECOND WHERE open_id = ?',
      [w.stack.wechat.getUser('阿久').openid],
    );
    assert.equal(await w.stack.wechatBackend('阿久').checkSession(), true);

    const before = {
      wxLogins: u.sim.counters.login,
      userInfos: u.sim.counters.getUserInfo,
      logins: w.stack.wafer2.stats.logins,
      codeLogins: w.stack.wafer2.stats.codeLogins,
      loginRequests: h.requestsTo(u, config.login).length,
      userRequests: h.requestsTo(u, config.user).length,
    };
    const failures = [];
    const onFailure = (f) => failures.push(f);
    w.stack.wafer2.on('failure', onFailure);
    try {
      await u.index.instance.bindRequest();
    } finally {
      w.stack.wafer2.removeListener('failure', onFailure);
    }
    assert.equal(u.index.data.requestStatus, '请求成功', u.index.data.error);
    assert.equal(u.index.data.serverUser.nickName, '阿久');
    assert.deepEqual(failures, [{ path: '/weapp/user', error: undefined }], 'the server answered { code: -1, data: {} } once');
    assert.equal(u.sim.counters.login - before.wxLogins, 1, 'one wx.login');
    assert.equal(u.sim.counters.getUserInfo, before.userInfos, 'no wx.getUserInfo');
    assert.equal(w.stack.wafer2.stats.codeLogins - before.codeLogins, 1, 'one code-only login on the server');
    assert.equal(w.stack.wafer2.stats.logins, before.logins, 'no full login');
    const relogins = h.requestsTo(u, config.login).slice(before.loginRequests);
    assert.equal(relogins.length, 1);
    assert.ok(h.header(relogins[0].header, 'X-WX-Code'));
    assert.equal(h.header(relogins[0].header, 'X-WX-Encrypted-Data'), undefined);
    assert.equal(h.requestsTo(u, config.user).length - before.userRequests, 2, 'the request and one retry');
    const stored = u.sim.storage.get(h.SESSION_KEY);
    assert.notEqual(stored.skey, oldSkey, 'a new skey is stored');
    const [row] = await rowsOf(w, '阿久');
    assert.equal(row.skey, stored.skey);
    assert.ok(Math.abs(row.last_visit_time.getTime() - Date.now()) < 60000, 'the new session starts now');
  });

  scenario('a burst of 20 request({ login: true }) by a new user costs one login and no server-side error', async (w) => {
    const u = w.user('阿新');
    const wafer = u.sim.require('wafer-wasm');
    const failures = [];
    const onFailure = (f) => failures.push(f);
    const before = { logins: w.stack.wafer2.stats.logins, codeLogins: w.stack.wafer2.stats.codeLogins };
    w.stack.wafer2.on('failure', onFailure);
    let results;
    try {
      results = await Promise.all(Array.from({ length: 20 }, () => wafer.request({ url: config.user, login: true })));
    } finally {
      w.stack.wafer2.removeListener('failure', onFailure);
    }
    for (const res of results) {
      assert.equal(res.statusCode, 200);
      assert.equal(res.data.code, 0, JSON.stringify(res.data));
      assert.equal(res.data.data.nickName, '阿新');
    }
    assert.deepEqual(failures, [], 'no { code: -1 } answer (two concurrent first logins would fail one with ER_DUP_ENTRY)');
    assert.equal(u.sim.counters.login, 1, 'one wx.login');
    assert.equal(w.stack.wafer2.stats.logins - before.logins, 1, 'one (full, first) login on the server');
    assert.equal(w.stack.wafer2.stats.codeLogins, before.codeLogins, 'no code-only login');
    assert.equal(h.requestsTo(u, config.login).length, 1);
    assert.equal(h.requestsTo(u, config.user).length, 20, 'no retries');
    assert.equal((await rowsOf(w, '阿新')).length, 1);
  });

  scenario('a profile of more than 2048 characters gives a typed login failure', async (w) => {
    w.stack.wechat.setProfile('阿长', { avatarUrl: `https://example.invalid/${'a'.repeat(2100)}` });
    const u = w.user('阿长');
    await u.index.instance.bindLogin();
    assert.equal(u.index.data.loginStatus, '登录失败');
    assert.ok(u.index.data.error.startsWith('ERR_LOGIN_FAILED：'), u.index.data.error);
    assert.ok(u.sim.uiCalls.some((c) => c.api === 'showModal' && c.options.title === '登录失败'));

    // The error itself, straight from the SDK the page uses.
    const wafer = u.sim.require('wafer-wasm');
    const err = await wafer.login().then(() => null, (e) => e);
    assert.ok(err instanceof wafer.LoginError, 'a LoginError');
    assert.equal(err.type, 'ERR_LOGIN_FAILED');
    assert.match(String(err.detail), /^ERR_WHEN_INSERT_TO_DB\n.*ER_DATA_TOO_LONG/, 'the server\'s own text in detail');
    assert.equal(u.sim.storage.get(h.SESSION_KEY), undefined, 'nothing stored');
    assert.deepEqual(await rowsOf(w, '阿长'), []);
  });
});
