'use strict';
// Shared pieces of the framework suites: the example apps in examples/ (Taro, uni-app) get
// their dependencies from the npm registry on first run (the committed lockfile's versions,
// into examples/<name>/node_modules) and the package under test from the packed tarball,
// then are built with the framework's own CLI.
//
// The package under test: $WAFER_PKG_TARBALL (set by `npm test`), else the newest
// tests/.tmp/wafer-wasm-*.tgz.

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

const { findTarball } = require('../js/helpers/sdk');

const ROOT = path.resolve(__dirname, '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Runs a command in `cwd`; resolves with its output, rejects with it on a non-zero exit. */
function run(argv, { cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env: Object.assign({}, process.env, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`\`${argv.join(' ')}\` in ${path.relative(ROOT, cwd) || '.'} exited with ${signal || code}:\n${output.slice(-6000)}`));
    });
  });
}

/**
 * examples/<name>/node_modules: the dependencies at the versions of the committed lockfile
 * (fetched from the npm registry when missing) plus the package under test from its
 * tarball. One `npm install`: `npm ci` cannot be used, because the lockfiles lack the
 * platform packages of other systems that the registry does not have (e.g. Taro's native
 * bindings for macOS), which `npm ci` counts as "out of sync". `--no-save`: package.json
 * and the lockfile stay as committed. → the installed wafer-wasm's package.json
 */
async function installWithTarball(dir, tarball) {
  await run([NPM, 'install', '--no-save', '--no-audit', '--no-fund', tarball], { cwd: dir });
  return JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', 'wafer-wasm', 'package.json'), 'utf8'));
}

const EXAMPLES = {
  taro: {
    dir: path.join(ROOT, 'examples', 'taro'),
    build: ['node_modules/.bin/taro', 'build', '--type', 'weapp'],
    out: 'dist',
    clean: ['dist'],
  },
  'uni-app': {
    dir: path.join(ROOT, 'examples', 'uni-app'),
    build: ['node_modules/.bin/uni', 'build', '-p', 'mp-weixin'],
    out: 'dist/build/mp-weixin',
    clean: ['dist'],
  },
};

/**
 * Dependencies, the packed package and a fresh build of examples/<name> for `server` (the
 * business server's base URL, baked in at build time). → { dir, outDir, tarball, timings, pkg }
 */
async function buildExample(name, server) {
  const ex = EXAMPLES[name];
  const tarball = findTarball();
  const timings = {};
  const cold = !fs.existsSync(path.join(ex.dir, 'node_modules'));
  let t0 = Date.now();
  const pkg = await installWithTarball(ex.dir, tarball);
  timings.install = `${Date.now() - t0} ms (${cold ? 'cold: no node_modules' : 'warm'})`;
  for (const c of ex.clean) fs.rmSync(path.join(ex.dir, c), { recursive: true, force: true });
  t0 = Date.now();
  const [bin, ...args] = ex.build;
  const log = await run([path.join(ex.dir, bin), ...args], { cwd: ex.dir, env: { WAFER_EXAMPLE_SERVER: server, CI: 'true' } });
  timings.build = Date.now() - t0;
  const outDir = path.join(ex.dir, ex.out);
  if (!fs.existsSync(path.join(outDir, 'app.json'))) throw new Error(`${name}: no app.json in ${ex.out} after the build:\n${log.slice(-4000)}`);
  return { dir: ex.dir, outDir, tarball, timings, pkg, log };
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir, base = dir) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...listFiles(p, base));
    else out.push(path.relative(base, p).split(path.sep).join('/'));
  }
  return out.sort();
}

module.exports = { ROOT, EXAMPLES, run, installWithTarball, buildExample, listFiles, findTarball };
