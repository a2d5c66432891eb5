#!/usr/bin/env node
'use strict';
/**
 * Installs the build/test toolchain pieces that are missing; fast and silent-ish when
 * nothing is. Idempotent. One line per step: what was found or installed, and how long
 * it took.
 *
 *   node scripts/setup.js          (also: npm run setup)
 *
 * Steps: npm dependencies, the wasm32-unknown-unknown target, rustfmt + clippy,
 * wasm-pack, wasm-bindgen-cli at exactly the version of the `wasm-bindgen` crate
 * in Cargo.lock (wasm-pack then uses it instead of downloading anything), MariaDB
 * (Debian's mariadb-server) for the local stack's Wafer 2 server, and Debian's `wabt`
 * (wasm-validate, wat2wasm: the wasm feature-level check of `npm test`), Debian's
 * redis-server (multi-node tunnel-service tests). Debian packages
 * are installed with apt-get as root (`apt-get update` once, before the first install).
 *
 * Used as a module by build.js / test.js: `withCargoPath()` puts ~/.cargo/bin on PATH.
 */

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const WASM_TARGET = 'wasm32-unknown-unknown';
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Written into node_modules after a successful npm install/ci; its mtime is "installed at".
const NPM_STAMP = path.join('node_modules', '.wafer-setup-stamp');

function cargoBinDir() {
  return path.join(process.env.CARGO_HOME || path.join(os.homedir(), '.cargo'), 'bin');
}

/** Makes sure `~/.cargo/bin` (or $CARGO_HOME/bin) is on PATH for this process and its children. */
function withCargoPath(front) {
  const dir = cargoBinDir();
  const parts = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  const at = parts.indexOf(dir);
  if (at === 0 || (at > 0 && !front)) return dir;
  if (at > 0) parts.splice(at, 1);
  parts.unshift(dir);
  process.env.PATH = parts.join(path.delimiter);
  return dir;
}

/** Runs a command; returns { ok, status, stdout, stderr }. `inherit` streams output. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd || ROOT,
    env: process.env,
    encoding: 'utf8',
    stdio: opts.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
  return {
    ok: !r.error && r.status === 0,
    status: r.error ? r.error.code : r.status,
    stdout: r.stdout || '',
    stderr: r.stderr || '',
  };
}

function mustRun(cmd, args, opts) {
  const r = run(cmd, args, Object.assign({ inherit: true }, opts));
  if (!r.ok) throw new Error(`\`${cmd} ${args.join(' ')}\` failed (${r.status})`);
  return r;
}

function mtime(file) {
  try {
    return fs.statSync(path.join(ROOT, file)).mtimeMs;
  } catch (_) {
    return null;
  }
}

/** The exact version of the `wasm-bindgen` crate in Cargo.lock. */
function lockedWasmBindgenVersion() {
  const lockFile = path.join(ROOT, 'Cargo.lock');
  if (!fs.existsSync(lockFile)) mustRun('cargo', ['generate-lockfile']);
  const versions = new Set();
  for (const block of fs.readFileSync(lockFile, 'utf8').split('[[package]]')) {
    const name = /^name = "([^"]+)"$/m.exec(block);
    const version = /^version = "([^"]+)"$/m.exec(block);
    if (name && version && name[1] === 'wasm-bindgen') versions.add(version[1]);
  }
  if (versions.size !== 1) {
    throw new Error(`expected exactly one wasm-bindgen version in Cargo.lock, found ${versions.size ? [...versions].join(', ') : 'none'}`);
  }
  return [...versions][0];
}

/** `<tool> --version` → the first x.y.z in its output, or null when the tool is missing. */
function toolVersion(tool) {
  const r = run(tool, ['--version']);
  if (!r.ok) return null;
  const m = /(\d+\.\d+\.\d+\S*)/.exec(r.stdout + r.stderr);
  return m ? m[1] : '?';
}

// ---------------------------------------------------------------------------------------

function stepNpm() {
  const hasLock = fs.existsSync(path.join(ROOT, 'package-lock.json'));
  const installed = mtime(NPM_STAMP) || mtime('node_modules/.package-lock.json');
  let why = null;
  let args = null;
  if (mtime('node_modules') === null) {
    why = 'node_modules missing';
    args = hasLock ? ['ci'] : ['install'];
  } else if (installed === null || Math.max(mtime('package.json') || 0, mtime('package-lock.json') || 0) > installed) {
    why = 'node_modules older than package.json / package-lock.json';
    args = ['install'];
  }
  if (!args) return 'node_modules up to date';
  mustRun(NPM, args.concat(['--no-audit', '--no-fund']));
  fs.writeFileSync(path.join(ROOT, NPM_STAMP), `${new Date().toISOString()}\n`);
  return `${why}: ran npm ${args[0]}`;
}

function stepWasmTarget() {
  const r = run('rustup', ['target', 'list', '--installed']);
  if (!r.ok) {
    // No rustup: accept a toolchain that ships the target's standard library anyway.
    const sysroot = run('rustc', ['--print', 'sysroot']);
    if (sysroot.ok && fs.existsSync(path.join(sysroot.stdout.trim(), 'lib', 'rustlib', WASM_TARGET))) {
      return `${WASM_TARGET} present (no rustup)`;
    }
    throw new Error(`rustup not found and the ${WASM_TARGET} target is not installed`);
  }
  if (r.stdout.split(/\s+/).includes(WASM_TARGET)) return `${WASM_TARGET} installed`;
  mustRun('rustup', ['target', 'add', WASM_TARGET]);
  return `${WASM_TARGET}: ran rustup target add`;
}

function stepRustComponents() {
  const missing = [];
  if (!run('cargo', ['fmt', '--version']).ok) missing.push('rustfmt');
  if (!run('cargo', ['clippy', '--version']).ok) missing.push('clippy');
  if (missing.length === 0) return 'rustfmt and clippy installed';
  mustRun('rustup', ['component', 'add'].concat(missing));
  return `ran rustup component add ${missing.join(' ')}`;
}

function stepWasmPack() {
  const found = toolVersion('wasm-pack');
  if (found) return `wasm-pack ${found} found`;
  mustRun('cargo', ['install', '--locked', 'wasm-pack']);
  const now = toolVersion('wasm-pack');
  if (!now) throw new Error(`wasm-pack installed but not runnable from PATH (${cargoBinDir()})`);
  return `wasm-pack ${now}: installed with cargo install --locked wasm-pack`;
}

function stepWasmBindgen() {
  const want = lockedWasmBindgenVersion();
  const found = toolVersion('wasm-bindgen');
  const runner = run('wasm-bindgen-test-runner', ['--version']).ok;
  if (found === want && runner) return `wasm-bindgen ${found} found (matches Cargo.lock)`;
  // No --locked: one of wasm-bindgen-cli's locked dependencies is missing from the mirror.
  mustRun('cargo', ['install', 'wasm-bindgen-cli', '--version', want]);
  let now = toolVersion('wasm-bindgen');
  if (now !== want) {
    // Another wasm-bindgen shadows the one cargo just installed: put cargo's bin dir first.
    withCargoPath(true);
    now = toolVersion('wasm-bindgen');
  }
  if (now !== want) throw new Error(`installed wasm-bindgen-cli ${want} but \`wasm-bindgen --version\` says ${now}`);
  return `wasm-bindgen ${want}: installed with cargo install wasm-bindgen-cli --version ${want}` +
    (found ? ` (was ${found}${runner ? '' : ', no test runner'})` : '');
}

// `apt-get update` runs at most once per setup, before the first Debian install.
let aptUpdated = false;

/** Installs Debian packages with apt-get; `missing` says what is missing, for the error. */
function aptInstall(packages, missing) {
  const list = packages.join(' ');
  if (!run('apt-get', ['--version']).ok) throw new Error(`${missing}: install the ${list} package(s)`);
  // apt-get needs root: as another user, only a sudo that asks for no password will do.
  const root = !process.getuid || process.getuid() === 0;
  if (!root && !run('sudo', ['--version']).ok) throw new Error(`${missing}: run \`apt-get install -y ${list}\` as root`);
  const aptGet = (args) => (root ? mustRun('apt-get', args) : mustRun('sudo', ['-n', 'apt-get', ...args]));
  process.env.DEBIAN_FRONTEND = 'noninteractive';
  if (!aptUpdated) {
    aptGet(['update']);
    aptUpdated = true;
  }
  aptGet(['install', '-y', '--no-install-recommends', ...packages]);
}

/** MariaDB (mariadbd + mariadb-install-db) for stack/mariadb.js: Debian's mariadb-server. */
function stepMariaDb() {
  const { findBinary, binaries } = require('../stack/mariadb.js');
  const version = () => {
    const r = run(findBinary(['mariadbd', 'mysqld']), ['--version']);
    const m = /Ver (\S+)/.exec(r.stdout);
    return m ? m[1] : '?';
  };
  try {
    binaries();
    return `MariaDB ${version()} found`;
  } catch (_) { /* missing: install it */ }
  aptInstall(['mariadb-server'], 'MariaDB is missing (mariadbd, mariadb-install-db)');
  binaries();
  return `MariaDB ${version()}: installed with apt-get install mariadb-server`;
}

function stepWabt() {
  const tools = ['wasm-validate', 'wat2wasm'];
  const missing = () => tools.filter((t) => !run(t, ['--version']).ok);
  if (missing().length === 0) return `wabt ${toolVersion('wasm-validate')} found`;
  aptInstall(['wabt'], `${missing().join(' and ')} not found`);
  if (missing().length) throw new Error(`installed wabt but ${missing().join(' and ')} still not runnable`);
  return `wabt ${toolVersion('wasm-validate')}: installed with apt-get install wabt`;
}

/** Debian's redis-server, for the multi-node tunnel-service tests (they start their own instance). */
function stepRedis() {
  const found = toolVersion('redis-server');
  if (found) return `redis-server ${found} found`;
  aptInstall(['redis-server'], 'redis-server is missing');
  const now = toolVersion('redis-server');
  if (!now) throw new Error('apt-get installed redis-server but it is not runnable from PATH');
  return `redis-server ${now}: installed with apt-get install redis-server`;
}

const STEPS = [
  ['npm', stepNpm],
  ['rust-target', stepWasmTarget],
  ['rust-components', stepRustComponents],
  ['wasm-pack', stepWasmPack],
  ['wasm-bindgen', stepWasmBindgen],
  ['mariadb', stepMariaDb],
  ['wabt', stepWabt],
  ['redis-server', stepRedis],
];

function setup() {
  const started = Date.now();
  withCargoPath(false);
  for (const [name, fn] of STEPS) {
    const t0 = Date.now();
    const what = fn();
    console.log(`setup: ${name.padEnd(16)} ${what} (${Date.now() - t0} ms)`);
  }
  console.log(`setup: done in ${Date.now() - started} ms`);
}

module.exports = { setup, withCargoPath, cargoBinDir, lockedWasmBindgenVersion, ROOT };

if (require.main === module) {
  try {
    setup();
  } catch (err) {
    console.error(`setup: FAILED: ${err.message}`);
    process.exit(1);
  }
}
