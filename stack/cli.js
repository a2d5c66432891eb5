#!/usr/bin/env node
'use strict';

// Start the local Wafer stack and keep it running until SIGINT / SIGTERM.
//
//   node stack/cli.js [--host 127.0.0.1] [--public-host HOST] [--port-base 8800]
//                     [--wechat-port N] [--auth-port N] [--tunnel-port N]
//                     [--wafer1-port N] [--wafer2-port N]
//                     [--session-lifetime-ms N] [--signature-key KEY] [--app-id ID] [--app-secret S]
//                     [--tunnel-server wafer-tunnel|js]
//
// --tunnel-server: the Rust tunnel service (default, built on first use) or the JavaScript one.
// --port-base B assigns B, B+1, ... B+4 to wechat, auth, tunnel, wafer1, wafer2.
// Without ports every service gets a random free port. --public-host is the host written
// into URLs (e.g. the LAN address when listening on 0.0.0.0 for a phone).

const { startStack } = require('./index');

const SERVICES = ['wechat', 'auth', 'tunnel', 'wafer1', 'wafer2'];

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') { args.help = true; continue; }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${arg}`);
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    args[m[1]] = value;
  }
  return args;
}

function toPort(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}: invalid port ${value}`);
  return n;
}

/** How to reach the Wafer 2 server's database (MariaDB on a private socket and a loopback port). */
function mariadbLines(wafer2) {
  const db = wafer2.mariadb;
  return [
    `  MariaDB         ${db.version}, database ${wafer2.database} (table cSessionInfo)`,
    `      mariadb --socket=${db.socket} -u root ${wafer2.database}`,
    `      mariadb -h ${db.host} -P ${db.port} -u ${db.user} -p${db.password} ${wafer2.database}`,
  ];
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(require('fs').readFileSync(__filename, 'utf8').split('\n').slice(3, 16).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    return;
  }
  const ports = {};
  if (args['port-base'] !== undefined) {
    const base = toPort(args['port-base'], '--port-base');
    SERVICES.forEach((name, i) => { ports[name] = base + i; });
  }
  for (const name of SERVICES) {
    if (args[`${name}-port`] !== undefined) ports[name] = toPort(args[`${name}-port`], `--${name}-port`);
  }
  const tunnelServer = args['tunnel-server'] || 'wafer-tunnel';
  if (!['wafer-tunnel', 'js'].includes(tunnelServer)) throw new Error(`--tunnel-server: wafer-tunnel or js, not ${tunnelServer}`);
  if (tunnelServer === 'wafer-tunnel') process.stdout.write('Building wafer-tunnel if needed (cargo build --profile service -p wafer-tunnel)...\n');
  const stack = await startStack({
    host: args.host,
    publicHost: args['public-host'],
    ports,
    sessionLifetimeMs: args['session-lifetime-ms'] ? Number(args['session-lifetime-ms']) : undefined,
    signatureKey: args['signature-key'],
    appId: args['app-id'],
    appSecret: args['app-secret'],
    tunnelServer,
  });

  const { urls, endpoints } = stack;
  const lines = [
    'Local Wafer stack is running:',
    `  mock WeChat     ${urls.wechat}   (GET /sns/jscode2session, POST /device/{login,userinfo,checkSession})`,
    `  auth server     ${urls.auth}`,
    `  tunnel server   ${urls.tunnel}   (${tunnelServer === 'js' ? 'JavaScript, stack/tunnel-server.js' : 'wafer-tunnel, tunnel-service/'})`,
    `  Wafer 1 server  ${urls.wafer1}`,
    `      login  ${endpoints.wafer1.login}`,
    `      user   ${endpoints.wafer1.user}`,
    `      tunnel ${endpoints.wafer1.tunnel}`,
    `      upload ${endpoints.wafer1.upload}`,
    `  Wafer 2 server  ${urls.wafer2}   (wafer-node-sdk ${stack.wafer2.versions['wafer-node-sdk']})`,
    `      login  ${endpoints.wafer2.login}`,
    `      user   ${endpoints.wafer2.user}`,
    `      tunnel ${endpoints.wafer2.tunnel}`,
    `      upload ${endpoints.wafer2.upload}`,
    ...mariadbLines(stack.wafer2),
    `  appId ${stack.appId}   tunnel signature key ${stack.signatureKey}`,
    'Press Ctrl+C to stop (the database goes with it).',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = (signal) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the stack...\n`);
    stack.stop().then(() => process.exit(0), (err) => {
      process.stderr.write(`stop failed: ${err && err.stack}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
