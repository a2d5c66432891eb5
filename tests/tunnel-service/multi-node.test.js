'use strict';
// Two wafer-tunnel nodes on one private redis-server, behind two proxies standing in for
// the load balancers (one for the business server's API calls, one for the phones), once
// per official business server (Wafer 1: qcloud-weapp-server-sdk; Wafer 2: wafer-node-sdk):
// phones on different nodes chat, a push sent to either node reaches both, and a
// `kill -9` of one node loses nothing sent to a live tunnel except the frames in flight at
// the kill, which are counted; the business server gets `close` for the dead node's
// tunnels and `connect` for the phones that reconnected through the other node.

const { describe, test: nodeTest, before, after } = require('node:test');
const assert = require('node:assert/strict');

const h = require('./helpers');

// A hang fails its test instead of stalling the layer.
const test = (name, fn) => nodeTest(name, { timeout: 120000 }, fn);

const HEARTBEAT = 2;
const NODE_TTL = 2;

for (const [dialect, { official }] of Object.entries(h.BUSINESS)) {
  describe(`two wafer-tunnel nodes on Redis, ${dialect} business server`, () => {
    let key;
    let redis;
    const nodes = {};
    let api;
    let edge;
    let business;
    const phones = [];
    const ports = {};
    const startNode = async (name) => {
      nodes[name] = await h.startTunnel({
        key, port: ports[name], heartbeat: HEARTBEAT, redis: redis.url, nodeTtl: NODE_TTL, nodeId: `node-${name}`, publicUrl: edge.wsUrl,
      });
      return nodes[name];
    };

    before(async () => {
      key = h.randomKey();
      redis = await h.startRedis();
      Object.assign(ports, { A: await h.freePort(), B: await h.freePort() });
      api = await new h.Proxy([{ name: 'A', port: ports.A }, { name: 'B', port: ports.B }]).start();
      edge = await new h.Proxy([{ name: 'A', port: ports.A }, { name: 'B', port: ports.B }]).start();
      for (const name of ['A', 'B']) await startNode(name);
      await api.pin('A');
      business = await h.startBusiness(dialect, { tunnelUrl: api.url, key });
    });

    after(() => h.stopCluster({ phones, nodes: Object.values(nodes), business, proxies: [api, edge], redis }));

    const phoneOn = (nodeName, name, client) => h.openPhoneOn({ edge, business, phones }, nodeName, name, client);
    const nodeOf = (p) => edge.tunnelNode.get(p.tunnelId());

    test('both nodes report healthy on Redis', async () => {
      for (const n of Object.values(nodes)) {
        const res = await n.health();
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.registry, 'redis');
      }
    });

    test('phones on different nodes chat; the API calls go to node A only', async () => {
      const a1 = await phoneOn('A', '甲一', 'wafer-wasm');
      const b1 = await phoneOn('B', '乙一', official);
      const b2 = await phoneOn('B', '乙二', 'wafer-wasm');
      const words = [];
      for (const [i, p] of [a1, b1, b2, a1].entries()) {
        const word = `${p.name} 第${i}句`;
        words.push(word);
        p.tunnel.emit('speak', { word });
        await h.waitFor(() => phones.every((q) => q.received.some((r) => r.type === 'speak' && r.content.word === word)), `${word} everywhere`);
      }
      for (const p of phones) assert.deepEqual(p.received.filter((r) => r.type === 'speak').map((r) => r.content.word), words, p.name);
      const mA = await nodes.A.metrics();
      const mB = await nodes.B.metrics();
      assert.equal(mB.pushes, 0, 'node B got no API call');
      assert.ok(mA.push_remote > 0, 'node A routed frames to node B through Redis');
      assert.equal(mB.frames_dropped_routing, 0);
    });

    test('each tunnel on Redis reports to the receiveUrl the business server\'s SDK built from its configuration', async () => {
      assert.equal(phones.length, 3);
      for (const p of phones) {
        const stored = await redis.command('HGET', `wafer-tunnel:tunnel:${p.tunnelId()}`, 'u');
        assert.equal(stored, business.receiveUrl, `${p.name} (${business.sdk.name})`);
      }
    });

    test('a push sent to either node reaches the phones of both', async () => {
      for (const via of ['A', 'B']) {
        await api.pin(via);
        await business.broadcast('tick', { via });
        const last = business.ledger.broadcasts.at(-1);
        assert.deepEqual(last && last.content, { via }, 'the push was answered');
        assert.deepEqual(last.invalidTunnelIds, []);
        await h.waitFor(() => phones.every((p) => p.received.some((r) => r.type === 'tick' && r.content.via === via)), `the push via ${via} on every phone`);
      }
      assert.ok((await nodes.B.metrics()).pushes > 0, 'node B answered pushes');
      await api.pin(null); // round-robin from now on, skipping a dead node
    });

    test('kill -9 of node B: its phones reconnect through A, close then connect reported, only in-flight frames lost', async () => {
      const onB = phones.filter((p) => nodeOf(p) === 'B');
      const onA = phones.filter((p) => nodeOf(p) === 'A');
      assert.equal(onB.length, 2);
      const oldIds = new Map(onB.map((p) => [p, p.tunnelId()]));
      const { ledger } = business;

      // Traffic both ways during the kill: phones speak, the server ticks.
      const sent = new Map(phones.map((p) => [p, []])); // words each phone emitted
      let tick = 0;
      let running = true;
      const speaking = (async () => {
        let i = 0;
        while (running) {
          for (const p of phones) {
            // The official client queues while reconnecting too; emit only while it is up
            // so the ledger measures the service, not the client.
            if (p.client === official && !p.tunnel.isActive()) continue;
            const word = `${p.name}#${i}`;
            sent.get(p).push({ word, reconnects: p.events.filter((e) => e.ev === 'reconnecting').length });
            p.tunnel.emit('speak', { word });
          }
          i += 1;
          await h.delay(25);
        }
      })();
      const ticking = (async () => {
        while (running) {
          tick += 1;
          await business.broadcast('tick', { n: tick }).catch(() => {});
          await h.delay(25);
        }
      })();

      await h.delay(300);
      const killedAt = Date.now();
      await nodes.B.kill9();
      for (const p of onB) {
        await h.waitFor(() => p.tunnelId() !== oldIds.get(p) && p.events.some((e) => e.ev === 'reconnect'), `${p.name} to reconnect`, 30000);
        await h.waitFor(() => ledger.connected(p.tunnelId()), `connect of ${p.name}'s new tunnel`, 30000);
        assert.equal(nodeOf(p), 'A', `${p.name} reconnected through node A`);
      }
      for (const [p, id] of oldIds) await h.waitFor(() => ledger.closed(id), `close of ${p.name}'s tunnel on the dead node`, 30000);
      await h.delay(500);
      running = false;
      await Promise.all([speaking, ticking]);
      // Let the last frames land.
      await h.delay(1000);

      // The business server: per old tunnel connect then close; per new tunnel connect.
      for (const [p, id] of oldIds) {
        assert.deepEqual(ledger.of(id).filter((t) => t !== 'message'), ['connect', 'close'], `${p.name}'s old tunnel`);
        const closeAt = ledger.events.find((e) => e.tunnelId === id && e.type === 'close').at;
        assert.ok(closeAt >= killedAt, 'close reported after the kill');
        assert.deepEqual(ledger.of(p.tunnelId()).filter((t) => t !== 'message'), ['connect'], `${p.name}'s new tunnel`);
      }
      const mA = await nodes.A.metrics();
      assert.equal(mA.nodes_reaped, 1, 'node A reported the dead node\'s tunnels');

      // Phone → server: every word once, in order; missing only words emitted on B before
      // the phone noticed the kill (in flight).
      let lostUp = 0;
      for (const p of phones) {
        const got = ledger.messages.filter((m) => m.type === 'speak' && m.content.word.startsWith(`${p.name}#`)).map((m) => m.content.word);
        assert.equal(new Set(got).size, got.length, `${p.name}: no duplicates`);
        const words = sent.get(p).map((s) => s.word);
        const order = got.map((w) => words.indexOf(w));
        assert.deepEqual(order, [...order].sort((x, y) => x - y), `${p.name}: in order`);
        for (const s of sent.get(p)) {
          if (got.includes(s.word)) continue;
          const inFlight = onB.includes(p) && s.reconnects === 0;
          assert.ok(inFlight, `${p.name}: ${s.word} lost although it was not in flight at the kill`);
          lostUp += 1;
        }
      }

      // Server → phone: every tick accepted for a live tunnel arrived; ticks accepted for a
      // tunnel of B and not delivered are the frames in flight at the kill.
      let lostDown = 0;
      let delivered = 0;
      for (const b of ledger.broadcasts.filter((x) => x.type === 'tick' && typeof x.content.n === 'number')) {
        for (const id of b.tunnelIds) {
          if (b.invalidTunnelIds.includes(id)) continue;
          const p = phones.find((q) => q.received.some((r) => r.tunnelId === id) || q.events.some((e) => e.tunnelId === id) || q.tunnelId() === id);
          const got = p && p.received.some((r) => r.type === 'tick' && r.content.n === b.content.n && r.tunnelId === id);
          if (got) { delivered += 1; continue; }
          assert.equal(edge.tunnelNode.get(id), 'B', `tick ${b.content.n} to a tunnel of node A was lost`);
          lostDown += 1;
        }
      }
      assert.ok(delivered > 0);
      console.log(`# kill -9 of node B: in flight and lost: ${lostUp} phone→server, ${lostDown} server→phone; ${delivered} ticks delivered; phones on A: ${onA.length}`);

      // And the room works afterwards: everyone hears a new message.
      const word = '重连之后';
      onB[0].tunnel.emit('speak', { word });
      await h.waitFor(() => phones.every((p) => p.received.some((r) => r.type === 'speak' && r.content.word === word)), 'the message after the reconnect everywhere');
    });


    test('a node restarted under its name reports close for what its previous process held, once', async () => {
      const { ledger } = business;
      await startNode('B');
      await h.waitFor(async () => (await nodes.B.health()).status === 200, 'node B back on Redis');
      const p = await phoneOn('B', '丙', 'wafer-wasm');
      const old = p.tunnelId();
      await nodes.B.kill9();
      await startNode('B'); // at once, before its liveness key expires
      edge.routeNextTo('B'); // the phone comes back to the restarted node
      await h.waitFor(() => ledger.closed(old), 'close of the tunnel the killed process held', 30000);
      await h.waitFor(() => p.tunnelId() !== old && ledger.connected(p.tunnelId()), `${p.name} to reconnect`, 30000);
      assert.equal(nodeOf(p), 'B', `${p.name} is on the restarted node`);
      await h.delay(NODE_TTL * 1500); // past the old liveness key: nobody reports it again
      assert.deepEqual(ledger.of(old).filter((t) => t !== 'message'), ['connect', 'close'], 'one close');
    });

    test('Redis goes away: each node keeps serving its own sockets and says so in /healthz; an emptied Redis is filled again', async () => {
      const { port } = redis;
      await redis.stop();
      for (const n of Object.values(nodes)) {
        await h.waitFor(async () => (await n.health()).status === 503, '/healthz to report the outage', 20000);
        const res = await n.health();
        assert.equal(res.body.status, 'degraded');
        assert.match(res.body.redis, /unreachable/);
      }
      // The phones on node A still talk among themselves (the push reaches A's own sockets).
      await api.pin('A');
      const onA = phones.filter((p) => nodeOf(p) === 'A');
      assert.ok(onA.length >= 2, 'phones on node A');
      const word = '没有 Redis 也能聊';
      onA[0].tunnel.emit('speak', { word });
      await h.waitFor(() => onA.every((p) => p.received.some((r) => r.type === 'speak' && r.content.word === word)), 'the message on node A without Redis');
      // A new tunnel needs the registry: a clear error, nothing crashes.
      const refused = await h.callApi(nodes.A, '/get/wsurl', { receiveUrl: 'http://127.0.0.1:1/tunnel' }, key);
      assert.equal(refused.body.code, 9007, refused.text);

      redis = await h.startRedis(port); // empty: every record is gone
      for (const n of Object.values(nodes)) {
        await h.waitFor(async () => (await n.health()).status === 200, '/healthz to recover', 20000);
      }
      const again = await h.callApi(nodes.A, '/get/wsurl', { receiveUrl: 'http://127.0.0.1:1/tunnel' }, key);
      assert.equal(again.body.code, 0, again.text);
      assert.ok(phones.some((p) => nodeOf(p) === 'B'), 'a phone on node B, reached from A through Redis');
      // The nodes write their sockets' records again; until every node has had the time to
      // (--node-ttl), a push to a tunnel not found answers 9007, not `invalid` (which would
      // make the business server forget live tunnels). Then a push through A reaches every phone.
      const invalidSeen = () => business.ledger.broadcasts.filter((b) => b.content.after === 'redis' && b.invalidTunnelIds.length > 0);
      await h.waitFor(async () => {
        await business.broadcast('tick', { after: 'redis' });
        const last = business.ledger.broadcasts.at(-1);
        return last && last.content.after === 'redis';
      }, 'a push through A answered', 20000);
      assert.deepEqual(invalidSeen(), [], 'no live tunnel answered invalid after the outage');
      await h.waitFor(() => phones.every((p) => p.received.some((r) => r.type === 'tick' && r.content.after === 'redis')), 'the push on every phone');
    });
  });
}
