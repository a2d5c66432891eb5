'use strict';
// One wafer-tunnel node (in-memory registry) behind each official business server (Wafer 1:
// qcloud-weapp-server-sdk; Wafer 2: wafer-node-sdk on MariaDB), with the packed wafer-wasm and
// the official client of that dialect (wafer-client-sdk, wafer2-client-sdk) in the simulator:
// connect, chat, push, close, and a phone that vanishes (reported `close` by the heartbeat).
// The service's own edges (hostile API calls, raw sockets, a bare receiver that fails) do not
// involve a business server: they run once, with the first.

const { describe, test: nodeTest, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

// A hang fails its test instead of stalling the layer.
const test = (name, fn) => nodeTest(name, { timeout: 120000 }, fn);

const HEARTBEAT = 1; // seconds: `timeout:1`, silence > 2 s ends a tunnel
const SERVER_SDK_VERSIONS = { 'qcloud-weapp-server-sdk': /^0\.8\./, 'wafer-node-sdk': /^1\.4\.5$/ };

/** A raw WebSocket: { ws, next() → the next text frame } or { status } when refused. */
function rawSocket(url) {
  const WebSocket = require('ws');
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const frames = [];
    const waiting = [];
    ws.on('message', (d) => {
      const w = waiting.shift();
      if (w) w(String(d));
      else frames.push(String(d));
    });
    ws.on('open', () => resolve({
      ws,
      next: () => (frames.length ? Promise.resolve(frames.shift()) : new Promise((r) => waiting.push(r))),
    }));
    ws.on('unexpected-response', (req, r) => resolve({ status: r.statusCode }));
    ws.on('error', () => resolve({ error: true }));
  });
}

const FIRST_DIALECT = Object.keys(h.BUSINESS)[0];

for (const [dialect, { official }] of Object.entries(h.BUSINESS)) {
  describe(`one wafer-tunnel node, ${dialect} business server`, () => {
    let key;
    let node;
    let proxy;
    let business;
    const phones = [];

    before(async () => {
      key = h.randomKey();
      // Phones reach the node through a proxy that can make one of them vanish.
      const port = await h.freePort();
      proxy = await new h.Proxy([{ name: 'node', port }]).start();
      node = await h.startTunnel({ key, port, heartbeat: HEARTBEAT, publicUrl: proxy.wsUrl, args: ['--report-timeout', '1', '--callback-ca', h.TEST_CA] });
      business = await h.startBusiness(dialect, { tunnelUrl: node.url, key });
    });

    after(async () => {
      for (const p of phones) await p.sim.close();
      // The node first: a graceful stop delivers the last close reports, which a stopped
      // business server would leave to be retried until the stop gives up.
      if (node) await node.stop();
      if (business) await business.stop();
      if (proxy) await proxy.stop();
    });

    const phone = async (name, client) => {
      const p = await h.openPhone(business, name, client);
      phones.push(p);
      return p;
    };

    test('both clients connect; connect is reported with the tunnel id the client got', async (t) => {
      t.diagnostic(`${business.sdk.name} ${business.sdk.version}`);
      assert.match(business.sdk.version, SERVER_SDK_VERSIONS[business.sdk.name]);
      const a = await phone('阿维', 'wafer-wasm');
      const b = await phone('阿官', official);
      for (const p of [a, b]) {
        const id = p.tunnelId();
        assert.match(id, /^[0-9a-f-]{36}$/, `${p.name}: a tunnel id in the connect URL`);
        assert.match(p.tunnel.socketUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws\?tunnelId=[0-9a-f-]+&ticket=[0-9a-f]{32}$/);
        // The business server checked the phone's session before asking the service for the URL.
        const requests = business.ledger.requests.filter((r) => r.tunnelId === id);
        assert.equal(requests.length, 1, `${p.name}: one tunnel request`);
        assert.equal(requests[0].userInfo.nickName, p.name, `${p.name}: the session's user`);
        await h.waitFor(() => business.ledger.connected(id), `connect of ${p.name}`);
      }
      const m = await node.metrics();
      assert.equal(m.connections_accepted, 2);
      assert.equal(m.tunnels_open, 2);
      const health = await node.health();
      assert.equal(health.status, 200);
      assert.equal(health.body.registry, 'memory');
    });

    test('chat between the two phones: every message reaches both, in order', async () => {
      const [a, b] = phones;
      const words = [];
      for (let i = 0; i < 10; i += 1) {
        const speaker = i % 2 ? b : a;
        const word = `第${i}句 from ${speaker.name}`;
        words.push(word);
        speaker.tunnel.emit('speak', { word });
        // One at a time, so the order across phones is defined.
        await h.waitFor(() => [a, b].every((p) => p.received.some((r) => r.type === 'speak' && r.content.word === word)), `${word} on both`);
      }
      for (const p of [a, b]) {
        assert.deepEqual(p.received.filter((r) => r.type === 'speak').map((r) => r.content.word), words, p.name);
      }
      const said = business.ledger.messages.filter((m) => m.type === 'speak').map((m) => m.content.word);
      assert.deepEqual(said, words, 'the business server got each message once, in order');
    });

    test('push from the server: to one tunnel and to everyone; unknown ids come back invalid', async () => {
      const [a, b] = phones;
      await business.emitTo(a.tunnelId(), 'notice', { only: a.name });
      await business.broadcast('tick', { n: 1 });
      await h.waitFor(() => a.received.some((r) => r.type === 'notice') && [a, b].every((p) => p.received.some((r) => r.type === 'tick')), 'the pushes');
      assert.deepEqual(a.received.filter((r) => r.type === 'notice').map((r) => r.content), [{ only: a.name }]);
      assert.equal(b.received.filter((r) => r.type === 'notice').length, 0, 'a push to one tunnel reaches only it');

      const res = await business.emitTo('00000000-0000-4000-8000-000000000000', 'notice', {});
      assert.deepEqual(res.data.invalidTunnelIds, ['00000000-0000-4000-8000-000000000000']);
    });

    test('close by the client is reported; close pushed by the server ends the tunnel without a reconnect', async () => {
      const [a, b] = phones;
      const idA = a.tunnelId();
      a.tunnel.close();
      await h.waitFor(() => business.ledger.closed(idA), 'close of the wafer-wasm phone');
      assert.deepEqual(business.ledger.of(idA).filter((t) => t !== 'message'), ['connect', 'close'], 'one connect, then one close');
      assert.equal(business.ledger.of(idA).at(-1), 'close', 'nothing after the close');

      const idB = b.tunnelId();
      await business.closeTunnel(idB);
      await h.waitFor(() => b.events.some((e) => e.ev === 'close'), 'the official client to see the close');
      await h.waitFor(() => business.ledger.closed(idB), 'close reported for the closed tunnel');
      await h.delay(300);
      assert.equal(b.events.filter((e) => e.ev === 'reconnecting').length, 0, 'a pushed close is final');
      const m = await node.metrics();
      assert.equal(m.connections_closed_client, 1);
      assert.equal(m.connections_closed_server, 1);
      assert.equal(m.tunnels_open, 0);
    });

    for (const client of ['wafer-wasm', official]) {
      test(`a vanished ${client} phone is reported closed after two heartbeat intervals of silence`, async () => {
        const p = await phone(`消失-${client}`, client);
        const id = p.tunnelId();
        const before = await node.metrics();
        const vanished = Date.now();
        proxy.blackhole(id); // the phone's packets no longer arrive; no FIN, no RST
        await h.waitFor(() => business.ledger.closed(id), `close of the vanished ${client} tunnel`, 20000);
        const closedAt = business.ledger.events.find((e) => e.tunnelId === id && e.type === 'close').at;
        assert.ok(closedAt - vanished >= HEARTBEAT * 1000, 'not before a heartbeat interval of silence');
        const m = await node.metrics();
        assert.equal(m.connections_closed_timeout - before.connections_closed_timeout, 1, 'closed by the heartbeat check');
        assert.deepEqual(business.ledger.of(id), ['connect', 'close']);
        await p.sim.close();
        phones.splice(phones.indexOf(p), 1);
      });
    }

    // The service's own edges: no business server involved, so once.
    if (dialect === FIRST_DIALECT) {
      test('hostile API calls: each answered with a clear error code, nothing changes', async () => {
        const post = (path, body) => h.httpJson('POST', `${node.url}${path}`, body);
        const signed = (data, k = key) => ({ data, tcId: 't', signature: h.sha1(data + k) });
        const before = await node.metrics();
        const cases = [
          ['/get/wsurl', 'not json', 9001],
          ['/get/wsurl', { data: { receiveUrl: 'http://x/t' }, signature: 'x' }, 9002],
          ['/get/wsurl', signed(JSON.stringify({ receiveUrl: 'http://x/t' }), 'wrong key'), 9003],
          ['/get/wsurl', signed('not json'), 9004],
          ['/get/wsurl', signed(JSON.stringify({ receiveUrl: 'ftp://x/t' })), 9005],
          ['/get/wsurl', signed(JSON.stringify({ receiveUrl: 42 })), 9005],
          ['/ws/push', signed(JSON.stringify([{ tunnelIds: 'x', type: 'message' }])), 9005],
          ['/ws/push', { data: JSON.stringify([{ tunnelIds: ['x'], type: 'close' }]), signature: h.sha1('tampered') }, 9003],
        ];
        for (const [path, body, code] of cases) {
          const res = await post(path, body);
          assert.equal(res.status, 200, `${path} ${JSON.stringify(body)}`);
          assert.equal(res.body.code, code, `${path} ${JSON.stringify(body)}: ${res.text}`);
          assert.equal(typeof res.body.message, 'string');
        }
        const after = await node.metrics();
        assert.equal(after.tunnels_created, before.tunnels_created, 'no tunnel was created');
        assert.equal(after.pushes, before.pushes, 'nothing was pushed');
        assert.equal(after.bad_signatures - before.bad_signatures, 2);

      });

      test('connect URLs are single use; wrong tickets, unknown tunnels and oversized frames are refused', async () => {
        const receiver = await h.startReceiver(key);
        try {
          const res = await h.callApi(node, '/get/wsurl', { receiveUrl: receiver.url, protocolType: 'wss' }, key);
          assert.equal(res.body.code, 0, res.text);
          assert.equal(res.body.signature, h.sha1(res.body.data + key), 'the answer is signed');
          const { tunnelId, connectUrl } = JSON.parse(res.body.data);
          const direct = connectUrl.replace(proxy.wsUrl, `ws://127.0.0.1:${node.port}`);
          assert.equal((await rawSocket(direct.replace(/ticket=\w+/, 'ticket=0'))).status, 403);
          assert.equal((await rawSocket(direct.replace(/tunnelId=[\w-]+/, 'tunnelId=nope'))).status, 404);
          const first = await rawSocket(direct);
          assert.ok(first.ws, 'the connect URL works once');
          assert.equal((await rawSocket(direct)).status, 410, 'and only once');
          assert.equal(await first.next(), `timeout:${HEARTBEAT}`, 'timeout:<s> right after connecting');
          first.ws.send('ping');
          assert.equal(await first.next(), 'pong');
          first.ws.send('unknown:packet');
          first.ws.send('message:{"type":"a","content":1}');
          await h.waitFor(() => receiver.of(tunnelId).length === 2, 'connect and message reports');
          assert.deepEqual(receiver.of(tunnelId), [
            { tunnelId, type: 'connect' },
            { tunnelId, type: 'message', content: '{"type":"a","content":1}' },
          ]);
          // An oversized frame closes that tunnel (1009); close is reported.
          const closed = new Promise((resolve) => first.ws.on('close', (code) => resolve(code)));
          first.ws.send(`message:${'x'.repeat(70 * 1024)}`);
          assert.equal(await closed, 1009);
          await h.waitFor(() => receiver.of(tunnelId).length === 3, 'the close report');
          assert.equal(receiver.of(tunnelId)[2].type, 'close');
          assert.equal(receiver.bad, 0);
        } finally {
          await receiver.stop();
        }
      });

      test('a flooding client: frames over the rate are dropped and counted, the tunnel stays up', async () => {
        const receiver = await h.startReceiver(key);
        try {
          const before = await node.metrics();
          const res = await h.callApi(node, '/get/wsurl', { receiveUrl: receiver.url }, key);
          const { tunnelId, connectUrl } = JSON.parse(res.body.data);
          const s = await rawSocket(connectUrl.replace(proxy.wsUrl, `ws://127.0.0.1:${node.port}`));
          assert.equal(await s.next(), `timeout:${HEARTBEAT}`);
          const FLOOD = 1000; // the default burst is 200 frames, then 50 per second
          for (let i = 0; i < FLOOD; i += 1) s.ws.send(`message:${i}`);
          await h.waitFor(async () => (await node.metrics()).frames_in - before.frames_in === FLOOD, 'every frame read');
          const after = await node.metrics();
          const dropped = after.frames_dropped_rate - before.frames_dropped_rate;
          assert.ok(dropped > 0 && dropped < FLOOD, `some frames dropped (${dropped})`);
          await h.waitFor(() => receiver.of(tunnelId).length === 1 + FLOOD - dropped, 'a report for each frame let through');
          const contents = receiver.of(tunnelId).slice(1).map((r) => Number(r.content));
          assert.deepEqual(contents, [...contents].sort((a, b) => a - b), 'in order');
          s.ws.send('ping');
          assert.equal(await s.next(), 'pong', 'the tunnel is still up');
          s.ws.close();
          await h.waitFor(() => receiver.of(tunnelId).at(-1).type === 'close', 'the close report');
        } finally {
          await receiver.stop();
        }
      });

      test('reports to an https receiveUrl (the business server behind TLS, its CA given with --callback-ca)', async () => {
        const receiver = await h.startReceiver(key, { tls: true });
        try {
          const res = await h.callApi(node, '/get/wsurl', { receiveUrl: receiver.url, protocolType: 'wss' }, key);
          assert.equal(res.body.code, 0, res.text);
          const { tunnelId, connectUrl } = JSON.parse(res.body.data);
          const s = await rawSocket(connectUrl.replace(proxy.wsUrl, `ws://127.0.0.1:${node.port}`));
          s.ws.send('message:{"type":"tls"}');
          s.ws.close();
          await h.waitFor(() => receiver.of(tunnelId).length === 3, 'connect, message and close over https');
          assert.deepEqual(receiver.of(tunnelId).map((r) => r.type), ['connect', 'message', 'close']);
        } finally {
          await receiver.stop();
        }
      });

      test('a business server that fails or hangs: reports are retried in order, nothing lost', async () => {
        const receiver = await h.startReceiver(key);
        try {
          let failures = 0;
          receiver.answer = () => {
            failures += 1;
            if (failures <= 2) return 500;
            if (failures === 3) return 'hang'; // past --report-timeout: retried
            return 200;
          };
          const before = await node.metrics();
          const res = await h.callApi(node, '/get/wsurl', { receiveUrl: receiver.url, protocolType: 'wss' }, key);
          const { tunnelId, connectUrl } = JSON.parse(res.body.data);
          const s = await rawSocket(connectUrl.replace(proxy.wsUrl, `ws://127.0.0.1:${node.port}`));
          for (let i = 0; i < 5; i += 1) s.ws.send(`message:${i}`);
          s.ws.close();
          await h.waitFor(() => receiver.of(tunnelId).length === 7, 'every report despite the failures', 30000);
          assert.deepEqual(receiver.of(tunnelId).map((r) => r.content === undefined ? r.type : r.content),
            ['connect', '0', '1', '2', '3', '4', 'close']);
          const after = await node.metrics();
          assert.equal(after.reports_retried - before.reports_retried, 3);
          assert.equal(after.reports_failed, before.reports_failed);
        } finally {
          await receiver.stop();
        }
      });
    }
  });
}
