'use strict';
// CommonJS loader for the code package, with WeChat's resolution rules:
// - './x', '../x' relative to the requiring file, '/x' from the package root;
//   '.js' or '/index.js' appended when the exact file does not exist;
// - a bare name 'x' or 'x/sub' is looked up in miniprogram_npm/ from the requiring
//   file's directory upward to the package root (what "build npm" produces);
// - '.json' files load as data;
// - Node built-ins and anything outside the package root are
//   Error("module 'fs' is not defined").
// Each module runs with `require`, `module`, `exports` and `global`: WeChat's module wrapper
// hands every module of the app the same plain `global` object, which is not globalThis
// (frameworks keep their registries there, e.g. uni-app's `global.createApp`).

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

function isFile(p) {
  try { return fs.statSync(p).isFile(); } catch (_) { return false; }
}

function inside(root, p) {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function createLoader(sim, root) {
  const cache = new Map(); // absolute file -> module object
  const realm = sim.realm;
  const appGlobal = realm.object();
  const notDefined = (request) => realm.error(`module '${request}' is not defined`);

  function fileCandidates(base) {
    return [base, `${base}.js`, path.join(base, 'index.js')];
  }

  function firstFile(candidates) {
    for (const c of candidates) if (inside(root, c) && isFile(c)) return c;
    return null;
  }

  function resolve(request, fromDir) {
    if (typeof request !== 'string' || request === '') throw notDefined(String(request));
    let found = null;
    if (request.startsWith('./') || request.startsWith('../') || request === '.' || request === '..') {
      const base = path.resolve(fromDir, request);
      if (inside(root, base)) found = firstFile(fileCandidates(base));
    } else if (request.startsWith('/')) {
      const base = path.resolve(root, `.${request}`);
      if (inside(root, base)) found = firstFile(fileCandidates(base));
    } else if (!request.startsWith('node:')) {
      // Bare name: miniprogram_npm/<name>[/sub] searched upward to the root.
      let dir = fromDir;
      for (;;) {
        const base = path.join(dir, 'miniprogram_npm', request);
        if (inside(root, base)) {
          found = firstFile(fileCandidates(base));
          if (found) break;
        }
        if (path.resolve(dir) === path.resolve(root) || !inside(root, dir)) break;
        dir = path.dirname(dir);
      }
    }
    if (!found) throw notDefined(request);
    return found;
  }

  function load(file) {
    const cached = cache.get(file);
    if (cached) return cached.exports;

    const module = realm.object({ exports: realm.object(), id: path.relative(root, file) });
    cache.set(file, module);
    try {
      const source = fs.readFileSync(file, 'utf8');
      if (file.endsWith('.json')) {
        module.exports = realm.parseJSON(source);
      } else {
        sim.counters.modulesLoaded += 1;
        const compiled = vm.compileFunction(source, ['require', 'module', 'exports', 'global'], {
          parsingContext: sim.context,
          filename: file,
        });
        const localRequire = realm.fn((request) => load(resolve(request, path.dirname(file))), 'require');
        compiled.call(module.exports, localRequire, module, module.exports, appGlobal);
      }
    } catch (e) {
      cache.delete(file); // a failed module can be required again, like Node
      throw e;
    }
    return module.exports;
  }

  // Host entry point: 'app.js', '/app.js', './app' are package-root relative; a
  // bare name that is not a file at the root goes through miniprogram_npm.
  function requireFromRoot(request) {
    if (!request.startsWith('/') && !request.startsWith('.')) {
      const direct = firstFile(fileCandidates(path.resolve(root, request)));
      if (direct) return load(direct);
      return load(resolve(request, root));
    }
    return load(resolve(request.startsWith('/') ? request : `/${path.normalize(request)}`, root));
  }

  return { require: requireFromRoot, resolve, load, cache };
}

module.exports = { createLoader, inside };
