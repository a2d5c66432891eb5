'use strict';
// Which file of the PACKED package each consumer gets (package.json `exports`, `browser`,
// `module`, `main`, `miniprogram`), and that a bundle for the browser platform (what webpack
// in Taro and Vite in uni-app make for a mini-program) holds no Node built-in and none of the
// Node build. DevTools "build npm" (`miniprogram`) is covered by sdk-loader.test.js.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { builtinModules } = require('node:module');
const { execFile } = require('node:child_process');
const esbuild = require('esbuild');

const { packageDir, packagedFile } = require('./helpers/sdk');
const { createSim } = require('../sim');

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const NODE_BUILD_MARKERS = ['not available outside a mini-program', 'install the ws package'];

let dir;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-entry-'));
  fs.cpSync(packageDir(), path.join(dir, 'node_modules', 'wafer-wasm'), { recursive: true });
  // The same package as an old bundler sees it: no `exports`, only the legacy fields.
  const legacy = path.join(dir, 'legacy', 'node_modules', 'wafer-wasm');
  fs.cpSync(packageDir(), legacy, { recursive: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(legacy, 'package.json'), 'utf8'));
  delete pkg.exports;
  fs.writeFileSync(path.join(legacy, 'package.json'), JSON.stringify(pkg));
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Bundles `source` from `cwd`; → { inputs (package-relative), builtins imported, code }. */
async function bundle(source, { platform, cwd = dir, mainFields, format = 'cjs' }) {
  const builtins = [];
  const result = await esbuild.build({
    stdin: { contents: source, resolveDir: cwd, sourcefile: 'app.js' },
    bundle: true,
    write: false,
    metafile: true,
    platform,
    format,
    mainFields,
    logLevel: 'silent',
    plugins: [{
      name: 'record-node-builtins',
      setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => {
          if (BUILTINS.has(args.path)) {
            builtins.push(args.path);
            return { path: args.path, external: true };
          }
          return undefined;
        });
      },
    }],
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => f.includes('node_modules/wafer-wasm/'))
    .map((f) => f.slice(f.indexOf('node_modules/wafer-wasm/') + 'node_modules/wafer-wasm/'.length))
    .sort();
  return { inputs, builtins, code: result.outputFiles[0].text };
}

describe('a bundle for the browser platform (webpack 5 / Vite building a mini-program)', () => {
  const styles = {
    'import wafer from': "import wafer from 'wafer-wasm'; wafer.login();",
    'import * as wafer from': "import * as wafer from 'wafer-wasm'; wafer.login(); new wafer.Tunnel('https://x/t');",
    'import { login } from': "import { login, Tunnel } from 'wafer-wasm'; login(); new Tunnel('https://x/t');",
    'require()': "const wafer = require('wafer-wasm'); wafer.login();",
  };
  for (const [style, source] of Object.entries(styles)) {
    test(`${style} 'wafer-wasm': the mini-program build, no Node built-in, no Node build`, async () => {
      const { inputs, builtins, code } = await bundle(source, { platform: 'browser' });
      const esm = style.startsWith('import');
      assert.deepEqual(inputs, esm ? ['bundler/index.js', 'bundler/index.mjs'] : ['bundler/index.js']);
      assert.deepEqual(builtins, [], 'no Node built-in is imported');
      for (const name of ['fs', 'path', 'ws']) {
        assert.doesNotMatch(code, new RegExp(`require\\(["'](node:)?${name}["']\\)|from ["'](node:)?${name}["']`), name);
      }
      for (const marker of NODE_BUILD_MARKERS) assert.ok(!code.includes(marker), `Node build text: ${marker}`);
      assert.ok(code.includes('/wafer-wasm/wafer_wasm_bg.wasm.br'), 'loads the wasm where the bundler plugins put it');
    });
  }

  test('a bundler that knows only the legacy fields (browser, module) gets the same build', async () => {
    const cwd = path.join(dir, 'legacy');
    const cjs = await bundle("require('wafer-wasm').login();", { platform: 'browser', cwd, mainFields: ['browser', 'module', 'main'] });
    assert.deepEqual(cjs.inputs, ['bundler/index.js']);
    const esm = await bundle("import wafer from 'wafer-wasm'; wafer.login();", { platform: 'neutral', cwd, mainFields: ['module', 'main'] });
    assert.deepEqual(esm.inputs, ['bundler/index.js', 'bundler/index.mjs']);
    assert.deepEqual([...cjs.builtins, ...esm.builtins], []);
  });

  test('with no platform condition at all, the default is the mini-program build too', async () => {
    const { inputs, builtins } = await bundle("import wafer from 'wafer-wasm'; wafer.login();", { platform: 'neutral', mainFields: ['main'] });
    assert.deepEqual(inputs, ['bundler/index.js', 'bundler/index.mjs']);
    assert.deepEqual(builtins, []);
  });

  test('a bundle for Node gets the Node build', async () => {
    const { inputs } = await bundle("const wafer = require('wafer-wasm'); wafer.login();", { platform: 'node' });
    assert.deepEqual(inputs, ['node/index.js']);
  });
});

test('the bundled mini-program build loads the wasm from /wafer-wasm/, and says how to put it there', async () => {
  const { code } = await bundle("module.exports = require('wafer-wasm');", { platform: 'browser' });
  const sim = createSim();
  try {
    fs.writeFileSync(path.join(sim.root, 'vendor.js'), code);
    const wafer = sim.require('/vendor.js');
    const failed = await wafer.init().then(() => null, (e) => e);
    assert.ok(failed instanceof wafer.RequestError, String(failed));
    assert.equal(failed.type, 'ERR_INIT_FAILED');
    assert.match(failed.message, /file not found: \/wafer-wasm\/wafer_wasm_bg\.wasm\.br/);
    assert.match(failed.message, /wafer-wasm\/taro、wafer-wasm\/vite 或 wafer-wasm\/webpack 插件/);
    // What the bundler plugins emit.
    fs.mkdirSync(path.join(sim.root, 'wafer-wasm'));
    fs.copyFileSync(packagedFile('wafer_wasm_bg.wasm.br'), path.join(sim.root, 'wafer-wasm', 'wafer_wasm_bg.wasm.br'));
    await wafer.init();
    assert.equal(JSON.stringify(wafer.buildSessionHeader()), '{}');
    assert.equal(sim.counters.wasmInstantiate, 2);
    await sim.settle();
    sim.assertClean();
  } finally {
    await sim.close();
  }
});

describe('Node', () => {
  function node(args) {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, args, { cwd: dir }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
    });
  }

  test('require() gets the Node build; its .default is itself', async () => {
    const r = await node(['-e', `
      const wafer = require('wafer-wasm');
      console.log(JSON.stringify({
        file: require.resolve('wafer-wasm'),
        login: typeof wafer.login,
        self: wafer.default === wafer,
        enumerable: Object.keys(wafer).includes('default'),
      }));`]);
    assert.equal(path.relative(path.join(dir, 'node_modules', 'wafer-wasm'), r.file), path.join('node', 'index.js'));
    assert.deepEqual([r.login, r.self, r.enumerable], ['function', true, false]);
  });

  test('import gets the same module instance, with named exports', async () => {
    const r = await node(['--input-type=module', '-e', `
      import wafer, { login, Tunnel, ERR_INIT_FAILED } from 'wafer-wasm';
      import * as ns from 'wafer-wasm';
      import { createRequire } from 'node:module';
      const cjs = createRequire(process.cwd() + '/')('wafer-wasm');
      console.log(JSON.stringify({
        same: wafer === cjs && login === cjs.login && Tunnel === cjs.Tunnel && ns.default === cjs,
        named: Object.keys(ns).filter((k) => k !== 'default').sort(),
        keys: Object.keys(cjs).sort(),
        err: ERR_INIT_FAILED,
      }));`]);
    assert.equal(r.same, true);
    assert.deepEqual(r.named, r.keys, 'every export is a named export of the ES module');
    assert.equal(r.err, 'ERR_INIT_FAILED');
  });

  test('the bundler plugins resolve and name the packaged wasm', async () => {
    const r = await node(['-e', `
      const fs = require('fs');
      const vite = require('wafer-wasm/vite');
      const { WaferWasmPlugin, ASSET_NAME } = require('wafer-wasm/webpack');
      const taro = require('wafer-wasm/taro');
      const emitted = [];
      const plugin = vite();
      plugin.generateBundle.call({ emitFile: (f) => emitted.push(f) });
      console.log(JSON.stringify({
        vite: [plugin.name, plugin.apply, typeof vite.default],
        emitted: emitted.map((f) => [f.type, f.fileName, f.source.length]),
        wasm: fs.statSync(require.resolve('wafer-wasm/package.json').replace('package.json', 'miniprogram_dist/wafer_wasm_bg.wasm.br')).size,
        webpack: [typeof WaferWasmPlugin, ASSET_NAME],
        taro: typeof taro,
      }));`]);
    assert.deepEqual(r.vite, ['wafer-wasm', 'build', 'function']);
    assert.deepEqual(r.emitted, [['asset', 'wafer-wasm/wafer_wasm_bg.wasm.br', r.wasm]]);
    assert.deepEqual(r.webpack, ['function', 'wafer-wasm/wafer_wasm_bg.wasm.br']);
    assert.equal(r.taro, 'function');
  });
});

test('package.json keeps the DevTools field and points every entry at a shipped file', () => {
  const root = packageDir();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.miniprogram, 'miniprogram_dist');
  assert.equal(pkg.main, 'node/index.js');
  assert.equal(pkg.browser, 'bundler/index.js');
  assert.equal(pkg.module, 'bundler/index.mjs');
  const targets = [];
  const walk = (v) => (typeof v === 'string' ? targets.push(v) : Object.values(v).forEach(walk));
  walk(pkg.exports);
  for (const f of [pkg.main, pkg.browser, pkg.module, pkg.types, ...targets]) {
    assert.ok(fs.existsSync(path.join(root, f)), `${f} is in the package`);
  }
  assert.deepEqual(Object.keys(pkg.exports['.']), ['types', 'browser', 'node', 'default'], 'types first, browser before node');
});
