'use strict';

// The stack's tunnel server as the `wafer-tunnel` binary (tunnel-service/) in a child
// process: what `npm run stack` and `npm run demo` use. It has the HttpService surface the
// stack needs (start / stop / url / port / resetFaults) and one control, dropAll(); the
// test-only fault switches (refuse, stopPong, sendRaw, events...) stay with the JavaScript
// TunnelServer (tunnel-server.js), which the test suites keep using.

const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { EventEmitter } = require('events');
const { urlHost, freePort } = require('./util');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'target', 'service', process.platform === 'win32' ? 'wafer-tunnel.exe' : 'wafer-tunnel');

/** `cargo build --profile service -p wafer-tunnel` (a no-op when the binary is fresh); quiet unless it fails. */
function buildWaferTunnel() {
  require('../scripts/setup').withCargoPath(false);
  const res = spawnSync('cargo', ['build', '--profile', 'service', '-p', 'wafer-tunnel', '--bins'], { cwd: ROOT, encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error(`cannot build wafer-tunnel: ${res.error ? res.error.message : res.stderr}`);
  }
  return BIN;
}

class WaferTunnelProcess extends EventEmitter {
  /** options: host, port, publicHost, signatureKey (required), heartbeat (s), logLevel ('warn') */
  constructor(options = {}) {
    super();
    if (!options.signatureKey) throw new TypeError('WaferTunnelProcess: signatureKey is required');
    this.name = 'tunnel';
    this.host = options.host || '127.0.0.1';
    this.port = options.port || 0;
    this.publicHost = options.publicHost || (['0.0.0.0', '::', '[::]'].includes(this.host) ? '127.0.0.1' : this.host);
    this.signatureKey = options.signatureKey;
    this.heartbeat = options.heartbeat || 15;
    this.logLevel = options.logLevel || 'warn';
    this.logs = [];
    this.proc = null;
  }

  get url() { return `http://${urlHost(this.publicHost)}:${this.port}`; }

  get running() { return !!this.proc; }

  resetFaults() {}

  async start() {
    if (this.proc) return this;
    const bin = buildWaferTunnel();
    // The port goes into the connect URLs, so it is chosen before the process starts.
    if (!this.port) this.port = await freePort(this.host);
    const args = [
      '--listen', `${urlHost(this.host)}:${this.port}`,
      '--public-url', `ws://${urlHost(this.publicHost)}:${this.port}`,
      '--heartbeat', String(this.heartbeat),
      '--log-level', this.logLevel,
    ];
    // The key goes by environment, not on the command line (ps shows arguments).
    const env = Object.assign({}, process.env, { WAFER_TUNNEL_SIGNATURE_KEY: this.signatureKey });
    const proc = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stderr.on('data', (d) => this.logs.push(...String(d).split('\n').filter(Boolean)));
    this.exited = new Promise((resolve) => proc.once('exit', resolve));
    await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        if (/listening on /.test(out)) resolve();
      });
      proc.once('error', reject);
      this.exited.then((code) => reject(new Error(`wafer-tunnel exited with ${code}: ${this.logs.join('\n')}`)));
    });
    this.proc = proc;
    // The binary must not outlive the stack's process, however that ends.
    const kill = () => proc.kill('SIGKILL');
    process.once('exit', kill);
    this.exited.then(() => process.removeListener('exit', kill));
    return this;
  }

  /** graceful (default): every socket closed and reported first; false: kill -9. */
  async stop({ graceful = true } = {}) {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    proc.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    await this.exited;
  }

  /**
   * Drop every socket the way a restarted server does: a graceful stop (each close is
   * reported, the clients reconnect) and a start on the same port. Resolves when it is up.
   */
  async dropAll() {
    await this.stop();
    return this.start();
  }
}

module.exports = { WaferTunnelProcess, buildWaferTunnel, WAFER_TUNNEL_BIN: BIN };
