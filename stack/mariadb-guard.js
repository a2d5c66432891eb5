'use strict';

// The watchdog of one private MariaDB server (started by stack/mariadb.js, never by hand).
//
// It owns everything the database leaves on the machine: it creates the temporary directory,
// runs mariadb-install-db into it, starts mariadbd on 127.0.0.1 (a free port, its own
// socket) and, whatever way its owner goes — a `stop` message, a normal exit, a crash or
// SIGKILL (the IPC channel closes in every case) — stops mariadbd and removes the directory,
// then exits. It runs in its own process group, so a Ctrl+C or a group kill aimed at the
// owner reaches the watchdog only through that channel, after which it cleans up. mariadbd
// itself is started under `setpriv --pdeathsig KILL` where available, so it dies with the
// watchdog even if the watchdog is killed outright; a directory left that way is removed by
// the next watchdog that starts (each directory records its watchdog's pid).
//
// Protocol (IPC): the owner sends { type: 'start', options }; the watchdog answers
// { type: 'ready', dir, socket, port, pid } or { type: 'error', message }; later
// { type: 'stop' } → it cleans up and exits 0. An unexpected mariadbd exit is reported as
// { type: 'died', message } before the watchdog cleans up and exits 1.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { freePort } = require('./util');

const DIR_PREFIX = 'wafer-mariadb-';
const OWNER_FILE = 'watchdog.pid';
const LOG_LIMIT = 64 * 1024;

// Small InnoDB files: the datadir is ~40 MB instead of ~130 MB, and it is a throwaway.
const SERVER_OPTIONS = [
  '--innodb-buffer-pool-size=16M',
  '--innodb-log-file-size=8M',
  '--innodb-flush-log-at-trx-commit=2',
  '--skip-name-resolve',
];

let server = null; // the mariadbd child
let installer = null; // mariadb-install-db while it runs
let dir = null;
let cleaning = null;
let log = '';

function send(message) {
  if (process.connected) process.send(message, () => {});
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Remove directories of watchdogs that were killed before they could clean up. */
function sweep(base) {
  let names = [];
  try {
    names = fs.readdirSync(base).filter((n) => n.startsWith(DIR_PREFIX));
  } catch (_) {
    return;
  }
  for (const name of names) {
    const target = path.join(base, name);
    let pid = NaN;
    try {
      pid = Number(fs.readFileSync(path.join(target, OWNER_FILE), 'utf8'));
    } catch (_) { /* not (yet) ours to judge */ }
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) {
      try {
        fs.rmSync(target, { recursive: true, force: true });
      } catch (_) { /* another user's, or going away already: not ours to fail on */ }
    }
  }
}

function install(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    installer = child;
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      installer = null;
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(command)} exited with ${code}:\n${output.slice(-2000)}`));
    });
  });
}

/** Start mariadbd once; resolves when it accepts connections, rejects when it exits first. */
function startServer(options, port) {
  const socket = path.join(dir, 'mariadbd.sock');
  const args = [
    '--no-defaults',
    `--datadir=${path.join(dir, 'data')}`,
    `--tmpdir=${path.join(dir, 'tmp')}`,
    `--socket=${socket}`,
    `--pid-file=${path.join(dir, 'mariadbd.pid')}`,
    '--bind-address=127.0.0.1',
    `--port=${port}`,
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
    ...SERVER_OPTIONS,
  ];
  if (options.user) args.push(`--user=${options.user}`);
  const [command, commandArgs] = options.setpriv
    ? [options.setpriv, ['--pdeathsig', 'KILL', '--', options.mariadbd, ...args]]
    : [options.mariadbd, args];
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    server = child;
    let ready = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      log = (log + d).slice(-LOG_LIMIT);
      if (!ready && /ready for connections/.test(log)) {
        ready = true;
        resolve({ socket, port, pid: child.pid });
      }
    });
    child.on('error', (err) => { if (!ready) reject(err); });
    child.on('exit', (code, signal) => {
      server = null;
      const message = `mariadbd exited (${signal || code}):\n${log.slice(-2000)}`;
      if (!ready) {
        reject(Object.assign(new Error(message), { portInUse: /Address already in use|Can't start server: Bind/.test(log) }));
      } else if (!cleaning) {
        send({ type: 'died', message });
        cleanup(1);
      }
    });
  });
}

async function start(options) {
  fs.mkdirSync(options.base, { recursive: true });
  sweep(options.base);
  dir = fs.mkdtempSync(path.join(options.base, DIR_PREFIX));
  fs.writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  fs.mkdirSync(path.join(dir, 'tmp'));
  const installArgs = [
    '--no-defaults',
    `--datadir=${path.join(dir, 'data')}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...SERVER_OPTIONS,
  ];
  if (options.user) installArgs.push(`--user=${options.user}`);
  await install(options.installDb, installArgs);
  for (let attempt = 1; ; attempt += 1) {
    log = '';
    try {
      return await startServer(options, await freePort());
    } catch (err) {
      // Another process took the port between the probe and mariadbd's bind: try another.
      if (!err.portInUse || attempt >= 5) throw err;
    }
  }
}

/** Stop mariadbd (SIGTERM, SIGKILL after 10 s), remove the directory, exit. */
function cleanup(code) {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    if (installer) installer.kill('SIGKILL');
    const child = server;
    if (child) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  })();
  return cleaning;
}

process.on('message', (message) => {
  if (message && message.type === 'start') {
    start(message.options).then(
      (info) => send(Object.assign({ type: 'ready', dir }, info)),
      (err) => {
        send({ type: 'error', message: err.message });
        cleanup(1);
      },
    );
  } else if (message && message.type === 'stop') {
    cleanup(0);
  }
});
// The owner is gone (exit, crash, SIGKILL): the channel closes.
process.on('disconnect', () => cleanup(0));
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => cleanup(0));
