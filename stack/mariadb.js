'use strict';

// A private MariaDB server for the local stack (Debian's `mariadb-server`, installed by
// scripts/setup.js): a fresh datadir from mariadb-install-db in a temporary directory (on
// tmpfs when there is room, where it starts in about a second), mariadbd on 127.0.0.1 with a
// free port and its own socket. A watchdog process (mariadb-guard.js) owns mariadbd and the
// directory and removes both when the server is stopped or this process dies in any way.
//
//   const db = await acquireMariaDb();      // one server per process, shared by the stacks
//   const database = await db.createDatabase('wafer2_');   // a fresh database per user
//   await db.query('SELECT 1');
//   await db.dropDatabase(database);
//   await releaseMariaDb(db);               // the last release stops the server
//
// Administration goes over the socket as root@localhost (the socket lives in the private
// directory); TCP clients such as wafer-node-sdk log in as root@127.0.0.1 with `password`.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const mysql = require('mysql');
const { whenReady } = require('./util');

const GUARD = path.join(__dirname, 'mariadb-guard.js');
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const TMPFS = '/dev/shm';
const TMPFS_MIN_FREE = 256 * 1024 * 1024;

/** Absolute path of the first of `names` on PATH or in the sbin directories, or null. */
function findBinary(names) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean).concat(SBIN);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch (_) { /* keep looking */ }
    }
  }
  return null;
}

/** The server and installer binaries, or an error saying how to get them. */
function binaries() {
  const mariadbd = findBinary(['mariadbd', 'mysqld']);
  const installDb = findBinary(['mariadb-install-db', 'mysql_install_db']);
  if (!mariadbd || !installDb) {
    throw new Error(`MariaDB is not installed (${mariadbd ? '' : 'mariadbd '}${installDb ? '' : 'mariadb-install-db '}not found): `
      + 'run `npm run setup`, which installs the Debian package mariadb-server');
  }
  return { mariadbd, installDb, setpriv: findBinary(['setpriv']) };
}

/** Where the temporary directory goes: tmpfs when it has room (no disk syncs), else the temp dir. */
function baseDir() {
  try {
    fs.accessSync(TMPFS, fs.constants.W_OK);
    const s = fs.statfsSync(TMPFS);
    if (s.bavail * s.bsize >= TMPFS_MIN_FREE) return TMPFS;
  } catch (_) { /* no usable tmpfs */ }
  return os.tmpdir();
}

/** One statement on a `mysql` pool → a promise of the rows / OK packet. */
const poolQuery = (pool, sql, values) => new Promise((resolve, reject) => {
  pool.query(sql, values, (err, result) => (err ? reject(err) : resolve(result)));
});

const quoteId = (name) => `\`${String(name).replace(/`/g, '``')}\``;

class MariaDb {
  constructor() {
    this.guard = null;
    this.pool = null;
    this.host = '127.0.0.1';
    this.port = 0;
    this.socket = null;
    this.dir = null;
    this.pid = 0;
    this.user = 'root';
    this.password = crypto.randomBytes(12).toString('hex');
    this.version = null;
    /** How long start() took (watchdog, mariadb-install-db, mariadbd, first queries). */
    this.startupMs = 0;
    /** Set when mariadbd exited on its own: what it said. */
    this.died = null;
    this._exited = null;
  }

  /** Start the watchdog and the server; resolves when the server accepts connections. */
  async start() {
    const started = Date.now();
    const bins = binaries();
    const guard = spawn(process.execPath, [GUARD], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    this.guard = guard;
    this._exited = new Promise((resolve) => guard.once('exit', resolve));
    const ready = await whenReady(guard, {
      send: {
        type: 'start',
        options: Object.assign({ base: baseDir(), user: process.getuid && process.getuid() === 0 ? 'root' : null }, bins),
      },
      ready: 'ready',
      failed: 'error',
      failedError: (m) => new Error(`MariaDB did not start: ${m.message}`),
      exitError: (code, signal) => new Error(`the MariaDB watchdog exited (${signal || code}) before the server was ready`),
    });
    Object.assign(this, { dir: ready.dir, socket: ready.socket, port: ready.port, pid: ready.pid });
    guard.on('message', (m) => { if (m.type === 'died') this.died = m.message; });
    // The watchdog must not keep this process alive: when this process ends it cleans up.
    guard.unref();
    guard.channel.unref();

    this.pool = mysql.createPool({ socketPath: this.socket, user: 'root', connectionLimit: 4, charset: 'utf8mb4_unicode_ci' });
    await this.query("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ?", [this.password]);
    this.version = (await this.query('SELECT VERSION() AS v'))[0].v;
    this.startupMs = Date.now() - started;
    return this;
  }

  /** A TCP connection config in wafer-node-sdk's `mysql` shape (host, port, user, pass, db, char). */
  sdkConfig(database) {
    return { host: this.host, port: this.port, user: this.user, pass: this.password, db: database, char: 'utf8mb4' };
  }

  /** One statement as root (`values` fill the `?` placeholders) → the rows / OK packet. */
  query(sql, values) {
    if (this.died) return Promise.reject(new Error(this.died));
    if (!this.pool) return Promise.reject(new Error('the MariaDB server is not running'));
    return poolQuery(this.pool, sql, values);
  }

  /** A new empty database named `<prefix><random>` (utf8mb4_unicode_ci) → its name. */
  async createDatabase(prefix) {
    const name = `${prefix}${crypto.randomBytes(6).toString('hex')}`;
    await this.query(`CREATE DATABASE ${quoteId(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    return name;
  }

  async dropDatabase(name) {
    await this.query(`DROP DATABASE IF EXISTS ${quoteId(name)}`);
  }

  /** Connections (as root, over the socket) with `database` selected → { query(sql, values), end() }. */
  connect(database) {
    const pool = mysql.createPool({
      socketPath: this.socket, user: 'root', database, connectionLimit: 2, charset: 'utf8mb4_unicode_ci',
    });
    return {
      query: (sql, values) => poolQuery(pool, sql, values),
      end: () => new Promise((resolve) => pool.end(() => resolve())),
    };
  }

  /** Stop the server; the watchdog removes the directory and exits. Idempotent. */
  async stop() {
    if (!this.guard) return;
    const guard = this.guard;
    this.guard = null;
    const pool = this.pool;
    this.pool = null;
    if (pool) await new Promise((resolve) => pool.end(() => resolve()));
    guard.ref();
    if (guard.connected) guard.send({ type: 'stop' });
    await this._exited;
  }
}

// ---- one server per process ---------------------------------------------------------------

let shared = null; // { db: Promise<MariaDb>, users }
let stopping = Promise.resolve();

/** The process's MariaDB server, started on first use; pair every call with releaseMariaDb. */
async function acquireMariaDb() {
  await stopping;
  if (!shared) {
    const db = new MariaDb();
    shared = { db: db.start().catch(async (err) => { shared = null; await db.stop(); throw err; }), users: 0 };
  }
  shared.users += 1;
  try {
    return await shared.db;
  } catch (err) {
    if (shared) shared.users -= 1;
    throw err;
  }
}

/** Give back a server from acquireMariaDb; the last user to give it back stops it. */
async function releaseMariaDb(db) {
  if (!shared || (await shared.db) !== db) return;
  shared.users -= 1;
  if (shared.users > 0) return;
  shared = null;
  stopping = db.stop();
  await stopping;
}

module.exports = { MariaDb, acquireMariaDb, releaseMariaDb, findBinary, binaries };
