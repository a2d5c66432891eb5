'use strict';
// Two wafer-tunnel nodes on a private redis-server that requires a password (`--requirepass`
// for the default user, and an ACL user), behind the Wafer 1 business server
// (qcloud-weapp-server-sdk; the credentials do not depend on the dialect): node A gets its
// URL from WAFER_TUNNEL_REDIS with the default user's password, node B from --redis with the
// ACL user's. Phones on both nodes chat and a push through A reaches B. A node with a wrong
// password, a --redis that does not parse, and --help never print a password: not in their
// logs, stdout, /healthz nor /metrics. Then two nodes on a redis-server that speaks TLS only
// (rediss://, the fixture certificate for 127.0.0.1 and its CA given as --redis-ca), and a
// node that does not trust that CA.

const { describe, test: nodeTest, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');

const h = require('./helpers');

// A hang fails its test instead of stalling the layer.
const test = (name, fn) => nodeTest(name, { timeout: 120000 }, fn);

const HEARTBEAT = 2;
const NODE_TTL = 2;
const [DIALECT, { official }] = Object.entries(h.BUSINESS)[0];

/** Run the binary to its end: { code, stdout, stderr }. */
function runTunnel(args, env) {
  return new Promise((resolve) => {
    execFile(h.BIN, args, { env: { ...h.tunnelEnv(), ...env }, timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

describe(`two wafer-tunnel nodes on a Redis with AUTH, ${DIALECT} business server`, () => {
  // Characters a URL must percent-encode: the node must hide both spellings.
  const password = `pw/${h.randomKey()}@x`;
  const userPassword = `u:${h.randomKey()}?`;
  const USER = 'tunnel';
  const secrets = [password, userPassword, encodeURIComponent(password), encodeURIComponent(userPassword)];
  let key;
  let redis;
  const nodes = {};
  const others = []; // nodes started with wrong credentials
  let api;
  let edge;
  let business;
  const phones = [];
  const urlOf = (user, pass) => `redis://${user}:${encodeURIComponent(pass)}@127.0.0.1:${redis.port}/0`;

  /** Everything a node printed or serves about itself must be free of every password. */
  const assertNoSecret = async (node, what) => {
    const shown = [node.stdout, ...node.logs];
    if (!node.exited) {
      shown.push((await node.health()).text, (await h.httpJson('GET', `${node.url}/metrics`)).text);
    }
    const text = shown.join('\n');
    for (const s of secrets) assert.ok(!text.includes(s), `${what} shows a password:\n${text}`);
  };

  before(async () => {
    key = h.randomKey();
    redis = await h.startRedis(undefined, {
      password,
      args: ['--user', USER, 'on', `>${userPassword}`, '~*', '&*', '+@all'],
    });
    const ports = { A: await h.freePort(), B: await h.freePort() };
    api = await new h.Proxy([{ name: 'A', port: ports.A }, { name: 'B', port: ports.B }]).start();
    edge = await new h.Proxy([{ name: 'A', port: ports.A }, { name: 'B', port: ports.B }]).start();
    const common = { key, heartbeat: HEARTBEAT, publicUrl: edge.wsUrl };
    nodes.A = await h.startTunnel({
      ...common, port: ports.A, nodeId: 'node-A', args: ['--node-ttl', String(NODE_TTL)], env: { WAFER_TUNNEL_REDIS: urlOf('', password) },
    });
    nodes.B = await h.startTunnel({
      ...common, port: ports.B, nodeId: 'node-B', redis: urlOf(USER, userPassword), nodeTtl: NODE_TTL,
    });
    await api.pin('A');
    business = await h.startBusiness(DIALECT, { tunnelUrl: api.url, key });
  });

  after(() => h.stopCluster({ phones, nodes: [...Object.values(nodes), ...others], business, proxies: [api, edge], redis }));

  const phoneOn = (nodeName, name, client) => h.openPhoneOn({ edge, business, phones }, nodeName, name, client);

  test('both nodes authenticate (password from WAFER_TUNNEL_REDIS, ACL user from --redis) and log the URL masked', async () => {
    for (const n of Object.values(nodes)) {
      await h.waitFor(async () => (await n.health()).status === 200, `${n.name} healthy on Redis`);
      assert.equal((await n.health()).body.registry, 'redis');
      await assertNoSecret(n, `node ${n.name}`);
    }
    // The text log's fields, without its colours.
    const listening = (n) => (n.logs.find((l) => l.includes('wafer-tunnel listening')) || '').replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(listening(nodes.A), new RegExp(`registry=redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/0`));
    assert.match(listening(nodes.B), new RegExp(`registry=redis://${USER}:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/0`));
    assert.ok(!nodes.A.args.some((a) => secrets.some((s) => a.includes(s))), 'node A has no password in its argv');
    assert.equal(await redis.command('SISMEMBER', 'wafer-tunnel:nodes', 'node-A'), '1');
    assert.equal(await redis.command('SISMEMBER', 'wafer-tunnel:nodes', 'node-B'), '1');
  });

  test('phones on different nodes chat, and a push through node A reaches node B\'s phone', async () => {
    const a = await phoneOn('A', '甲', 'wafer-wasm');
    const b = await phoneOn('B', '乙', official);
    const word = '密码之后';
    a.tunnel.emit('speak', { word });
    await h.waitFor(() => phones.every((p) => p.received.some((r) => r.type === 'speak' && r.content.word === word)), `${word} on both phones`);
    await business.broadcast('tick', { n: 1 });
    const last = business.ledger.broadcasts.at(-1);
    assert.deepEqual(last && last.content, { n: 1 }, 'the push was answered');
    assert.deepEqual(last.invalidTunnelIds, []);
    await h.waitFor(() => b.received.some((r) => r.type === 'tick' && r.content.n === 1), 'the push on node B\'s phone');
    const [mA, mB] = [await nodes.A.metrics(), await nodes.B.metrics()];
    assert.equal(mB.pushes, 0, 'node B got no API call');
    assert.ok(mA.push_remote > 0, 'node A routed frames to node B through Redis');
    for (const n of Object.values(nodes)) await assertNoSecret(n, `node ${n.name}`);
  });

  test('a wrong password: the node says Redis refused it (log and /healthz), as for an unreachable Redis, and never shows it', async () => {
    const wrong = `wrong-${h.randomKey()}`;
    secrets.push(wrong);
    const cases = [
      { what: 'default user, WAFER_TUNNEL_REDIS', env: { WAFER_TUNNEL_REDIS: urlOf('', wrong) } },
      { what: `ACL user ${USER}, --redis`, redis: urlOf(USER, wrong) },
      { what: 'the ACL user\'s password for the default user', redis: urlOf('', userPassword) },
    ];
    for (const c of cases) {
      const n = await h.startTunnel({ key, redis: c.redis, env: c.env, nodeTtl: NODE_TTL, args: c.env ? ['--node-ttl', String(NODE_TTL)] : [] });
      others.push(n);
      await h.waitFor(() => n.logs.some((l) => /refused the user or password/.test(l)), `${c.what}: the refusal logged`);
      const res = await n.health();
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.status, 'degraded');
      assert.match(res.body.redis, /refused the user or password of --redis \/ WAFER_TUNNEL_REDIS/, c.what);
      // It refuses new tunnels with the registry error, like with Redis down.
      const refused = await h.callApi(n, '/get/wsurl', { receiveUrl: 'http://127.0.0.1:1/tunnel' }, key);
      assert.equal(refused.body.code, 9007, refused.text);
      assert.ok((await n.metrics()).redis_errors > 0);
      await assertNoSecret(n, c.what);
      await n.stop();
    }
    assert.equal(await redis.command('SCARD', 'wafer-tunnel:nodes'), '2', 'only nodes A and B joined');
  });

  test('a --redis that does not parse stops the node at start, naming the flag, the password masked', async () => {
    const cases = [
      // Parses as a URL, not as a Redis one: shown with the password masked.
      { url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${redis.port}/not-a-db`, shown: `redis://:***@127.0.0.1:${redis.port}/not-a-db` },
      // Not a URL at all (port out of range): not shown.
      { url: `redis://${USER}:${encodeURIComponent(userPassword)}@127.0.0.1:99999`, shown: '(not shown: it does not parse as a URL)' },
    ];
    for (const c of cases) {
      const res = await runTunnel(['--listen', '127.0.0.1:0', '--signature-key', key], { WAFER_TUNNEL_REDIS: c.url });
      assert.equal(res.code, 2, res.stderr);
      assert.ok(res.stderr.includes(`--redis ${c.shown}`), res.stderr);
      for (const s of secrets) assert.ok(!`${res.stdout}${res.stderr}`.includes(s), `the error shows a password:\n${res.stderr}`);
    }
  });

  test('--help shows neither the Redis URL nor the signature key taken from the environment', async () => {
    const res = await runTunnel(['--help'], { WAFER_TUNNEL_REDIS: urlOf(USER, userPassword), WAFER_TUNNEL_SIGNATURE_KEY: key });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /WAFER_TUNNEL_REDIS/);
    assert.match(res.stdout, /WAFER_TUNNEL_SIGNATURE_KEY/);
    for (const s of [...secrets, key]) assert.ok(!res.stdout.includes(s), `--help shows a secret:\n${res.stdout}`);
  });
});

describe(`two wafer-tunnel nodes on a Redis over TLS (rediss://), ${DIALECT} business server`, () => {
  const password = `tls-${h.randomKey()}`;
  let key;
  let redis;
  const nodes = {};
  let other;
  let api;
  let edge;
  let business;
  const phones = [];

  before(async () => {
    key = h.randomKey();
    redis = await h.startRedis(undefined, { password, tls: true });
    const url = `rediss://:${password}@127.0.0.1:${redis.port}/0`;
    const ports = { A: await h.freePort(), B: await h.freePort() };
    api = await new h.Proxy([{ name: 'A', port: ports.A }, { name: 'B', port: ports.B }]).start();
    edge = await new h.Proxy([{ name: 'A', port: ports.A }, { name: 'B', port: ports.B }]).start();
    const common = { key, heartbeat: HEARTBEAT, publicUrl: edge.wsUrl };
    nodes.A = await h.startTunnel({
      ...common, port: ports.A, nodeId: 'node-A', args: ['--node-ttl', String(NODE_TTL)], env: { WAFER_TUNNEL_REDIS: url, WAFER_TUNNEL_REDIS_CA: h.TEST_CA },
    });
    nodes.B = await h.startTunnel({
      ...common, port: ports.B, nodeId: 'node-B', redis: url, nodeTtl: NODE_TTL, args: ['--redis-ca', h.TEST_CA],
    });
    await api.pin('A');
    business = await h.startBusiness(DIALECT, { tunnelUrl: api.url, key });
  });

  after(async () => {
    for (const p of phones) await p.sim.close();
    for (const n of [...Object.values(nodes), other].filter(Boolean)) await n.stop();
    if (business) await business.stop();
    for (const p of [api, edge]) if (p) await p.stop();
    if (redis) await redis.stop();
  });

  test('phones on different nodes chat, and a push through node A reaches node B\'s phone', async () => {
    for (const n of Object.values(nodes)) {
      await h.waitFor(async () => (await n.health()).status === 200, `${n.name} healthy on Redis over TLS`);
    }
    const onNode = async (nodeName, name, client) => {
      edge.routeNextTo(nodeName);
      const p = await h.openPhone(business, name, client);
      phones.push(p);
      assert.equal(edge.tunnelNode.get(p.tunnelId()), nodeName, `${name} is on node ${nodeName}`);
      return p;
    };
    const a = await onNode('A', '加密甲', 'wafer-wasm');
    const b = await onNode('B', '加密乙', official);
    const word = 'TLS 之上';
    b.tunnel.emit('speak', { word });
    await h.waitFor(() => phones.every((p) => p.received.some((r) => r.type === 'speak' && r.content.word === word)), `${word} on both phones`);
    await business.broadcast('tick', { n: 1 });
    assert.deepEqual(business.ledger.broadcasts.at(-1).invalidTunnelIds, []);
    await h.waitFor(() => a.received.some((r) => r.type === 'tick') && b.received.some((r) => r.type === 'tick'), 'the push on both phones');
    assert.ok((await nodes.A.metrics()).push_remote > 0, 'node A routed frames to node B through Redis');
    assert.equal(await redis.command('SCARD', 'wafer-tunnel:nodes'), '2');
  });

  test('a node that does not trust the server\'s CA refuses its certificate and says so, without the password', async () => {
    other = await h.startTunnel({ key, redis: `rediss://:${password}@127.0.0.1:${redis.port}/0`, nodeTtl: NODE_TTL });
    await h.waitFor(() => other.logs.some((l) => /invalid peer certificate/.test(l)), 'the certificate refusal logged');
    const res = await other.health();
    assert.equal(res.status, 503, res.text);
    assert.match(res.body.redis, /invalid peer certificate: UnknownIssuer/);
    const text = [other.stdout, ...other.logs, res.text].join('\n');
    assert.ok(!text.includes(password), text);
    assert.equal(await redis.command('SCARD', 'wafer-tunnel:nodes'), '2', 'it did not join');
  });
});
