'use strict';
// A TCP proxy on loopback standing in for the network and the load balancer in front of
// wafer-tunnel nodes: round-robin over the backends (or pinned to one), skipping a
// backend that refuses the connection (a dead node). It reads the first request line of
// each connection, so it knows which tunnel a WebSocket belongs to (`tunnelNode`) and
// can make one phone vanish: `blackhole(tunnelId)` stops forwarding both ways and keeps
// both TCP connections open, like a phone that lost its network without a FIN.

const net = require('node:net');

class Proxy {
  /** backends: [{ name, port }] on 127.0.0.1 */
  constructor(backends) {
    this.backends = backends;
    this.next = 0;
    this.pinned = null;
    this.connections = new Set();
    /** tunnelId → backend name, for every WebSocket that went through. */
    this.tunnelNode = new Map();
    this.blackholed = new Set();
    this.server = net.createServer((client) => this._accept(client));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.wsUrl = `ws://127.0.0.1:${this.port}`;
    return this;
  }

  /**
   * Send every new connection to backend `name` (null: round-robin again). Cuts the open
   * ones (keep-alive connections would stay on the old backend) and gives the clients'
   * agents a moment to notice before the next request.
   */
  async pin(name) {
    this.pinned = name;
    for (const c of this.connections) c.destroy();
    await new Promise((r) => setTimeout(r, 200));
  }

  /** The next new connection goes to backend `name` first. */
  routeNextTo(name) {
    this.next = this.backends.findIndex((b) => b.name === name);
  }

  blackhole(tunnelId) {
    this.blackholed.add(tunnelId);
  }

  _order() {
    const n = this.backends.length;
    let first;
    if (this.pinned !== null) first = this.backends.findIndex((b) => b.name === this.pinned);
    else {
      first = this.next % n;
      this.next = (this.next + 1) % n;
    }
    return Array.from({ length: n }, (_, i) => this.backends[(first + i) % n]);
  }

  _accept(client) {
    this.connections.add(client);
    client.on('error', () => {});
    client.once('close', () => this.connections.delete(client));
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      if (!head.includes('\r\n') && head.length < 8192) return;
      client.removeListener('data', onData);
      client.pause();
      const line = head.toString('latin1').split('\r\n')[0];
      const m = /[?&]tunnelId=([^&\s]+)/.exec(line);
      this._connect(client, head, m ? decodeURIComponent(m[1]) : null, this._order());
    };
    client.on('data', onData);
  }

  _connect(client, head, tunnelId, candidates) {
    const [backend, ...rest] = candidates;
    if (!backend || client.destroyed) {
      client.destroy();
      return;
    }
    const upstream = net.connect(backend.port, '127.0.0.1');
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      this.connections.add(upstream);
      upstream.once('close', () => this.connections.delete(upstream));
      if (tunnelId) this.tunnelNode.set(tunnelId, backend.name);
      upstream.write(head);
      this._pipe(client, upstream, tunnelId);
      this._pipe(upstream, client, tunnelId);
      client.resume();
    });
    upstream.on('error', () => {
      if (!connected) this._connect(client, head, tunnelId, rest);
    });
  }

  _pipe(from, to, tunnelId) {
    from.on('data', (chunk) => {
      if (tunnelId && this.blackholed.has(tunnelId)) return;
      to.write(chunk);
    });
    from.once('close', () => {
      if (tunnelId && this.blackholed.has(tunnelId)) return;
      to.destroy();
    });
  }

  async stop() {
    for (const c of this.connections) c.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

module.exports = { Proxy };
