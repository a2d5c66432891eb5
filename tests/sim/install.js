'use strict';
// installPackage(codeRoot, tarballOrDir, name?): what WeChat DevTools "build npm"
// does for one package.
// - package.json has "miniprogram": that directory is copied whole to
//   <codeRoot>/miniprogram_npm/<name>/ (this is how wafer-wasm ships its .wasm);
// - otherwise only the JavaScript (and .json) reachable from "main" through
//   relative require() calls is copied, keeping its layout, and an index.js entry
//   is added when main is not index.js. (DevTools bundles these into one file; the
//   set of code that ends up in the package is the same.) Non-JS files such as a
//   .wasm are NOT copied in this case, which is why wafer-wasm's package.json has a "miniprogram" field.
// Bare requires of other packages are left alone: install those packages too.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

function readPackageJson(dir) {
  const file = path.join(dir, 'package.json');
  if (!fs.existsSync(file)) throw new Error(`installPackage: no package.json in ${dir}`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function resolveJs(base) {
  for (const c of [base, `${base}.js`, `${base}.json`, path.join(base, 'index.js')]) {
    try { if (fs.statSync(c).isFile()) return c; } catch (_) { /* next */ }
  }
  return null;
}

// Files reachable from `entry` via require('./...') / require('../...') string literals.
function reachableFiles(pkgDir, entry) {
  const seen = new Set();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith('.js')) continue;
    const src = fs.readFileSync(file, 'utf8');
    const re = /\brequire\s*\(\s*(['"])(\.{1,2}\/[^'"]*|\.{1,2})\1\s*\)/g;
    let m;
    while ((m = re.exec(src))) {
      const target = resolveJs(path.resolve(path.dirname(file), m[2]));
      if (!target) throw new Error(`installPackage: ${path.relative(pkgDir, file)} requires missing ${m[2]}`);
      if (path.relative(pkgDir, target).startsWith('..')) throw new Error(`installPackage: ${m[2]} escapes the package`);
      todo.push(target);
    }
  }
  return [...seen];
}

function installPackage(codeRoot, tarballOrDir, name) {
  let pkgDir = tarballOrDir;
  let tmp = null;
  try {
    if (fs.statSync(tarballOrDir).isFile()) {
      // `npm pack` tarballs hold everything under package/.
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wx-sim-pack-'));
      execFileSync('tar', ['-xzf', tarballOrDir, '-C', tmp]);
      pkgDir = path.join(tmp, 'package');
    }
    const pkg = readPackageJson(pkgDir);
    const pkgName = name || pkg.name;
    if (!pkgName) throw new Error('installPackage: no package name');
    const dest = path.join(codeRoot, 'miniprogram_npm', pkgName);
    fs.rmSync(dest, { recursive: true, force: true });

    if (pkg.miniprogram) {
      const src = path.resolve(pkgDir, pkg.miniprogram);
      if (!fs.existsSync(src) || !fs.statSync(src).isDirectory()) {
        throw new Error(`installPackage: "miniprogram" directory ${pkg.miniprogram} not found in ${pkgName}`);
      }
      fs.cpSync(src, dest, { recursive: true });
      return { name: pkgName, dir: dest, mode: 'miniprogram' };
    }

    const main = resolveJs(path.resolve(pkgDir, pkg.main || 'index.js'));
    if (!main) throw new Error(`installPackage: ${pkgName} has no "miniprogram" field and its main (${pkg.main || 'index.js'}) was not found`);
    const files = reachableFiles(pkgDir, main);
    for (const f of files) {
      const to = path.join(dest, path.relative(pkgDir, f));
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(f, to);
    }
    const mainRel = path.relative(pkgDir, main).split(path.sep).join('/');
    if (mainRel !== 'index.js') {
      fs.writeFileSync(path.join(dest, 'index.js'), `module.exports = require('./${mainRel}');\n`);
    }
    return { name: pkgName, dir: dest, mode: 'main', files: files.map((f) => path.relative(pkgDir, f)) };
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { installPackage };
