#!/usr/bin/env node
'use strict';
/**
 * `npm run build`: Rust crate → wasm + glue → the npm package in pkg/.
 * The pipeline is described in docs/ARCHITECTURE.md ("Build pipeline").
 *
 *   1. wasm-pack build --target bundler → target/wasm-pack/{wafer_wasm_bg.js,wafer_wasm_bg.wasm}
 *      (WebAssembly 1.0 compile and link flags from .cargo/config.toml, so wasm-bindgen
 *      emits its classic heap glue, no externref)
 *   2. esbuild: glue → CommonJS (target/glue/wafer_wasm_bg.js); TextEncoder/TextDecoder
 *      injected from js-shim/utf8.js (esbuild `inject`, no text patching). Checked: no free
 *      TextEncoder/TextDecoder reference is left.
 *   3. binaryen.js removes the global exports, then wasm-opt (npm binaryen) lowers what the
 *      standard library brings beyond WebAssembly 1.0 and runs -Oz →
 *      pkg/node/wafer_wasm_bg.wasm + pkg/miniprogram_dist/wafer_wasm_bg.wasm.br; the result is
 *      instantiated once against the glue as a smoke test.
 *   4. esbuild bundles js-shim/entry/miniprogram.js → pkg/miniprogram_dist/index.js (DevTools
 *      "build npm") and pkg/bundler/index.js (webpack / Vite: same code, wasm looked for at
 *      /wafer-wasm/), js-shim/entry/node.js → pkg/node/index.js (module id `wafer-wasm-glue` =
 *      the glue); ES module wrappers bundler/index.mjs and node/index.mjs; the bundler
 *      plugins js-shim/plugins/{taro,vite,webpack}.js → pkg/{taro,vite,webpack}.js.
 *   5. pkg/package.json (entry points: docs/ARCHITECTURE.md), typings, README.md, LICENSE.
 *   6. size report.
 *
 * Options (flag or environment variable):
 *   --no-wasm-opt     WAFER_NO_WASM_OPT=1   skip wasm-opt (quick dev builds; copies the wasm as is)
 *   --dev             WAFER_PROFILE=dev     wasm-pack --dev instead of --release (also: profiling)
 *   --no-minify       WAFER_MINIFY=0        keep the mini-program bundle readable (it is minified by default)
 *   --skip-wasm-pack  WAFER_SKIP_WASM_PACK=1  reuse target/wasm-pack from the last build (JS-only changes)
 *   --out <dir>       WAFER_PKG_DIR=<dir>   output directory (default: pkg)
 *   --quiet                                 no size report
 * Programmatic: require('./scripts/build.js').build({ wasmOpt, profile, minify, skipWasmPack, outDir }).
 */

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { builtinModules } = require('node:module');
const { withCargoPath } = require('./setup.js');

const ROOT = path.resolve(__dirname, '..');
const r = (...p) => path.join(ROOT, ...p);

const OUT_NAME = 'wafer_wasm';
const WASM_FILE = `${OUT_NAME}_bg.wasm`; // the Node entry's WAFER_WASM_FILE
// The mini-program gets only the brotli file: WXWebAssembly reads `.wasm.br` from base
// library 2.14.0, and DevTools copies every file of miniprogram_dist into the code package.
const MP_WASM_FILE = `${WASM_FILE}.br`;
const WASM_PACK_DIR = 'target/wasm-pack';
const GLUE_DIR = 'target/glue';
const GLUE_FILE = `${OUT_NAME}_bg.js`;
const INJECT_FILE = 'js-shim/text-codec-inject.js';
const UTF8_FILE = 'js-shim/utf8.js';
const ENTRIES = {
  miniprogram: 'js-shim/entry/miniprogram.js',
  node: 'js-shim/entry/node.js',
};
const TYPES_FILE = 'js-shim/index.d.ts';
// Where the wasm is in the code package: DevTools "build npm" copies miniprogram_dist/ to
// miniprogram_npm/wafer-wasm/; the bundler plugins emit it to wafer-wasm/ of the output.
const MP_WASM_DIR = '/miniprogram_npm/wafer-wasm/';
const BUNDLER_WASM_DIR = '/wafer-wasm/';
// What puts the wasm at that default path: part of the error when it is not there.
const WASM_SETUP = {
  [MP_WASM_DIR]: '在开发者工具中执行「构建 npm」；其他位置请用 init({ wasmPath })',
  [BUNDLER_WASM_DIR]: '在构建配置中加入 wafer-wasm/taro、wafer-wasm/vite 或 wafer-wasm/webpack 插件；其他位置请用 init({ wasmPath })',
};
// Bundler plugins (Node, CommonJS), each beside its typings: pkg/<name>.js and <name>.d.ts.
const PLUGINS = ['taro', 'vite', 'webpack'];
const PLUGIN_DIR = 'js-shim/plugins';

// Globals a mini-program does not have (tests/sim/README.md, "What the sandbox has"). The glue must not use the first
// group at all; references to the second group in the bundles are reported as warnings.
const FORBIDDEN_IN_GLUE = ['TextEncoder', 'TextDecoder'];
const MISSING_IN_MINIPROGRAM = [
  'TextEncoder', 'TextDecoder', 'WebAssembly', 'fetch', 'URL', 'process', 'Buffer', 'queueMicrotask',
  'FinalizationRegistry', 'WeakRef', 'eval', 'Function', 'window', 'self', 'document', 'global',
];

// The shipped wasm is WebAssembly 1.0 + mutable globals (.cargo/config.toml compiles this
// crate for the MVP). The precompiled standard library still uses bulk memory (memory.copy /
// memory.fill), sign extension and saturating float-to-int: wasm-opt reads them (--enable-*)
// and lowers them (the passes, which also turn the features off again) before -Oz, so the
// optimizer cannot bring any back. tests/wasm-level validates the result with wabt.
const WASM_OPT_ARGS = [
  '--enable-mutable-globals', '--enable-bulk-memory', '--enable-bulk-memory-opt', '--enable-sign-ext', '--enable-nontrapping-float-to-int',
  '--llvm-memory-copy-fill-lowering', '--signext-lowering', '--llvm-nontrapping-fptoint-lowering',
  '-Oz',
];

function parseOptions(argv, env) {
  const flag = (name) => argv.includes(name);
  const on = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
  const outAt = argv.indexOf('--out');
  return {
    wasmOpt: !(flag('--no-wasm-opt') || on(env.WAFER_NO_WASM_OPT)),
    profile: flag('--dev') ? 'dev' : env.WAFER_PROFILE || 'release',
    minify: !(flag('--no-minify') || env.WAFER_MINIFY === '0' || env.WAFER_MINIFY === 'false'),
    skipWasmPack: flag('--skip-wasm-pack') || on(env.WAFER_SKIP_WASM_PACK),
    outDir: outAt >= 0 ? argv[outAt + 1] : env.WAFER_PKG_DIR || 'pkg',
    quiet: flag('--quiet'),
  };
}

// ---------------------------------------------------------------------------------------

function log(msg) {
  console.log(`build: ${msg}`);
}

async function timed(label, fn) {
  const t0 = Date.now();
  const result = await fn();
  log(`${label} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return result;
}

function exec(cmd, args) {
  const res = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: process.env });
  if (res.error) throw new Error(`cannot run ${cmd}: ${res.error.message} (run \`npm run setup\`)`);
  if (res.status !== 0) throw new Error(`\`${cmd} ${args.join(' ')}\` exited with ${res.status}`);
}

function need(file, hint) {
  if (!fs.existsSync(r(file))) throw new Error(`missing ${file}${hint ? ` (${hint})` : ''}`);
}

function cargoPackage() {
  // The [package] table of Cargo.toml: simple `key = "value"` lines are all we need.
  const toml = fs.readFileSync(r('Cargo.toml'), 'utf8');
  const table = /^\[package\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml);
  const out = {};
  for (const m of (table ? table[1] : '').matchAll(/^(\w[\w-]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/gm)) out[m[1]] = m[2];
  if (!out.version) throw new Error('no version in the [package] table of Cargo.toml');
  return out;
}

/**
 * Removes every global export (binaryen.js): WXWebAssembly on iOS takes no exported Global
 * ("iOS 平台暂不支持 Global"). wasm-bindgen 0.2.130 exports `__abort_handler` and
 * `__instance_terminated` for its abort detection, which the glue of a `panic = "abort"`
 * build never reads; a global export the glue does name stops the build. The globals
 * themselves stay for wasm-opt to drop once nothing uses them.
 * @param {Uint8Array} wasm  wasm-bindgen's output
 * @param {string} glue      the glue code that will be shipped with it
 * @param {{ keepNames?: boolean }} [options]  keep the `name` section (bench's names build)
 */
async function dropGlobalExports(wasm, glue, { keepNames = false } = {}) {
  const { default: binaryen } = await import('binaryen');
  const mod = binaryen.readBinary(wasm);
  try {
    const removed = [];
    for (let i = 0; i < mod.getNumExports(); i++) {
      const info = binaryen.getExportInfo(mod.getExportByIndex(i));
      if (info.kind === binaryen.ExternalGlobal) removed.push(info.name);
    }
    const used = removed.filter((name) => glue.includes(name));
    if (used.length) throw new Error(`the glue uses the exported global(s) ${used.join(', ')}, which WXWebAssembly cannot export on iOS`);
    for (const name of removed) mod.removeExport(name);
    binaryen.setDebugInfo(keepNames);
    try {
      return { wasm: mod.emitBinary(), removed };
    } finally {
      binaryen.setDebugInfo(false);
    }
  } finally {
    mod.dispose();
  }
}

function binaryenBin(name) {
  const bin = r('node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found (npm package binaryen; run \`npm run setup\`)`);
  return bin;
}

/**
 * Free (global) identifiers among `names` that `code` references, found with esbuild `define`:
 * define only replaces identifiers that are not bound in scope, so a marker substituted for
 * each name shows up in the output exactly where the global is used.
 */
async function freeGlobals(esbuild, code, names) {
  const marker = (n) => `__wafer_free_global_${n}__`;
  const define = {};
  for (const n of names) {
    define[n] = marker(n);
    for (const root of ['globalThis', 'window', 'self', 'global']) if (root !== n) define[`${root}.${n}`] = marker(n);
  }
  // `eval` and `Function` cannot be define keys for call sites reliably; they are plain identifiers here.
  const out = await esbuild.transform(code, { define, format: 'cjs', logLevel: 'silent' });
  return names.filter((n) => out.code.includes(marker(n)));
}

// ---------------------------------------------------------------------------------------

async function build(options) {
  const opts = Object.assign(parseOptions([], {}), options || {});
  const started = Date.now();
  withCargoPath(false);
  const esbuild = require('esbuild');
  const outDir = path.resolve(ROOT, opts.outDir);
  const mpDir = path.join(outDir, 'miniprogram_dist');
  const nodeDir = path.join(outDir, 'node');
  const bundlerDir = path.join(outDir, 'bundler');
  const glueOut = r(GLUE_DIR, GLUE_FILE);

  const pluginFiles = PLUGINS.flatMap((p) => [`${PLUGIN_DIR}/${p}.js`, `${PLUGIN_DIR}/${p}.d.ts`]);
  for (const file of [...Object.values(ENTRIES), TYPES_FILE, UTF8_FILE, INJECT_FILE, ...pluginFiles]) need(file, 'part of js-shim/');

  // 1. wasm-pack ------------------------------------------------------------------------
  if (opts.skipWasmPack) {
    need(path.join(WASM_PACK_DIR, WASM_FILE), 'no previous wasm-pack output; build without --skip-wasm-pack');
    log('1/6 wasm-pack skipped, reusing target/wasm-pack');
  } else {
    const overriding = ['RUSTFLAGS', 'CARGO_ENCODED_RUSTFLAGS'].filter((v) => process.env[v]);
    if (overriding.length) {
      throw new Error(`${overriding.join(' and ')} set: cargo would ignore the WebAssembly 1.0 flags of .cargo/config.toml (unset it)`);
    }
    await timed(`1/6 wasm-pack build (${opts.profile})`, () => {
      fs.rmSync(r(WASM_PACK_DIR), { recursive: true, force: true });
      exec('wasm-pack', [
        'build', '--target', 'bundler', `--${opts.profile}`, '--mode', 'no-install', '--no-pack',
        '--out-dir', WASM_PACK_DIR, '--out-name', OUT_NAME,
      ]);
    });
  }
  const rawWasm = fs.readFileSync(r(WASM_PACK_DIR, WASM_FILE));
  const wasmModule = new WebAssembly.Module(rawWasm);
  const importModules = [...new Set(WebAssembly.Module.imports(wasmModule).map((i) => i.module))];
  if (importModules.length > 1) {
    throw new Error(`the wasm imports from several modules (${importModules.join(', ')}); the loader passes only the glue. ` +
      'Avoid #[wasm_bindgen(module/inline_js)] snippets.');
  }
  const importModule = importModules[0] || `./${GLUE_FILE}`;

  // 2. glue → CommonJS with TextEncoder/TextDecoder from js-shim/utf8.js ----------------
  await timed('2/6 glue → CommonJS (target/glue)', async () => {
    fs.rmSync(r(GLUE_DIR), { recursive: true, force: true });
    const utf8Abs = r(UTF8_FILE);
    // utf8.js stays a separate module (required relative to the glue output), so the final
    // bundles contain it once even when the shim requires it too.
    const utf8External = {
      name: 'wafer-utf8-external',
      setup(b) {
        b.onResolve({ filter: /utf8(\.js)?$/ }, (args) => {
          if (path.resolve(args.resolveDir, args.path).replace(/(\.js)?$/, '.js') !== utf8Abs) return undefined;
          const rel = path.relative(path.dirname(glueOut), utf8Abs).split(path.sep).join('/');
          return { path: rel.startsWith('.') ? rel : `./${rel}`, external: true };
        });
      },
    };
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [path.join(WASM_PACK_DIR, GLUE_FILE)],
      outfile: glueOut,
      bundle: true,
      format: 'cjs',
      target: 'es2017',
      platform: 'neutral',
      inject: [INJECT_FILE],
      plugins: [utf8External],
      logLevel: 'warning',
    });
    const left = await freeGlobals(esbuild, fs.readFileSync(glueOut, 'utf8'), FORBIDDEN_IN_GLUE);
    if (left.length) throw new Error(`${GLUE_DIR}/${GLUE_FILE} still references the global(s) ${left.join(', ')}`);
  });

  // 3. wasm-opt + brotli + smoke test -----------------------------------------------------
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(mpDir, { recursive: true });
  fs.mkdirSync(nodeDir, { recursive: true });
  fs.mkdirSync(bundlerDir, { recursive: true });
  const wasmOut = path.join(nodeDir, WASM_FILE);
  let wasmSizes = '';
  let dropped = '';
  await timed(opts.wasmOpt ? '3/6 drop global exports, wasm-opt (WebAssembly 1.0) + brotli' : '3/6 wasm-opt SKIPPED (WAFER_NO_WASM_OPT) + brotli', async () => {
    if (opts.wasmOpt) {
      const { wasm, removed } = await dropGlobalExports(rawWasm, fs.readFileSync(glueOut, 'utf8'));
      const optInput = r(WASM_PACK_DIR, `${OUT_NAME}_bg.no-global-exports.wasm`);
      fs.writeFileSync(optInput, wasm);
      exec(binaryenBin('wasm-opt'), [...WASM_OPT_ARGS, optInput, '-o', wasmOut]);
      dropped = `; global exports removed: ${removed.join(', ') || 'none'}`;
    } else {
      fs.copyFileSync(r(WASM_PACK_DIR, WASM_FILE), wasmOut);
    }
    const wasm = fs.readFileSync(wasmOut);
    wasmSizes = `${rawWasm.length} B → ${wasm.length} B${dropped}`;
    fs.writeFileSync(path.join(mpDir, MP_WASM_FILE), brotli(wasm));
    smokeTest(wasm, importModule, glueOut, { noGlobalExports: opts.wasmOpt });
  });
  log(`    wasm: ${wasmSizes}`);

  // 4. bundles ----------------------------------------------------------------------------
  const lacking = await timed('4/6 esbuild bundles', async () => {
    const common = {
      absWorkingDir: ROOT,
      bundle: true,
      format: 'cjs',
      alias: { 'wafer-wasm-glue': `./${GLUE_DIR}/${GLUE_FILE}` },
      logLevel: 'warning',
      legalComments: 'inline',
    };
    const define = (wasmFile, wasmDir) => ({
      WAFER_WASM_FILE: JSON.stringify(wasmFile),
      WAFER_WASM_DIR: JSON.stringify(wasmDir || ''),
      WAFER_WASM_SETUP: JSON.stringify(WASM_SETUP[wasmDir] || ''),
      WAFER_WASM_IMPORT_MODULE: JSON.stringify(importModule),
    });
    for (const [dir, wasmDir] of [[mpDir, MP_WASM_DIR], [bundlerDir, BUNDLER_WASM_DIR]]) {
      await esbuild.build(Object.assign({}, common, {
        entryPoints: [ENTRIES.miniprogram],
        outfile: path.join(dir, 'index.js'),
        // Every byte counts against the mini-program's 2 MB package.
        minify: opts.minify,
        define: define(MP_WASM_FILE, wasmDir),
        platform: 'neutral',
        mainFields: ['main'],
        target: 'es2017',
        plugins: [noNodeBuiltins],
      }));
    }
    await esbuild.build(Object.assign({}, common, {
      entryPoints: [ENTRIES.node],
      outfile: path.join(nodeDir, 'index.js'),
      define: define(WASM_FILE),
      platform: 'node',
      target: 'node16',
      // Optional WebSocket implementation for Node < 22; resolved at run time if installed.
      external: ['ws'],
    }));
    // ES module faces of the two CommonJS builds: the same module instance, with static
    // named exports (what `import { login } from 'wafer-wasm'` needs under Node and Rollup).
    const names = exportNames();
    for (const dir of [bundlerDir, nodeDir]) fs.writeFileSync(path.join(dir, 'index.mjs'), esmWrapper(names));
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: PLUGINS.map((p) => ({ in: `${PLUGIN_DIR}/${p}.js`, out: p })),
      outdir: outDir,
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node16',
      define: { WAFER_WASM_FILE: JSON.stringify(MP_WASM_FILE), WAFER_WASM_BUNDLER_DIR: JSON.stringify(BUNDLER_WASM_DIR) },
      logLevel: 'warning',
    });
    return freeGlobals(esbuild, fs.readFileSync(path.join(mpDir, 'index.js'), 'utf8'), MISSING_IN_MINIPROGRAM);
  });
  if (lacking.length) {
    log(`    note: miniprogram_dist/index.js references globals a mini-program lacks: ${lacking.join(', ')} (fine only where guarded, e.g. typeof X)`);
  }

  // 5. package metadata ---------------------------------------------------------------------
  await timed('5/6 package.json, typings, README, LICENSE', () => {
    const cargo = cargoPackage();
    fs.copyFileSync(r(TYPES_FILE), path.join(outDir, 'index.d.ts'));
    for (const p of PLUGINS) fs.copyFileSync(r(PLUGIN_DIR, `${p}.d.ts`), path.join(outDir, `${p}.d.ts`));
    if (fs.existsSync(r('README.md'))) fs.copyFileSync(r('README.md'), path.join(outDir, 'README.md'));
    else fs.writeFileSync(path.join(outDir, 'README.md'), `# wafer-wasm\n\n${cargo.description || ''}\n`);
    const license = ['LICENSE', 'LICENSE.md', 'LICENSE-MIT'].find((f) => fs.existsSync(r(f)));
    if (license) fs.copyFileSync(r(license), path.join(outDir, 'LICENSE'));
    else fs.writeFileSync(path.join(outDir, 'LICENSE'), mitLicense());
    const pkg = {
      name: 'wafer-wasm',
      version: cargo.version,
      description: cargo.description || 'WeChat mini-program client for Wafer sessions and tunnels',
      license: 'MIT',
      // DevTools "build npm" reads `miniprogram`; bundlers read `exports` (then `browser`,
      // `module`); Node reads `exports` (then `main`); TypeScript reads `types`.
      main: 'node/index.js',
      browser: 'bundler/index.js',
      module: 'bundler/index.mjs',
      types: 'index.d.ts',
      miniprogram: 'miniprogram_dist',
      exports: packageExports(),
      files: ['miniprogram_dist/', 'node/', 'bundler/', ...PLUGINS.flatMap((p) => [`${p}.js`, `${p}.d.ts`]), 'index.d.ts', 'README.md', 'LICENSE'],
      keywords: ['wechat', 'weixin', 'miniprogram', 'mini-program', 'weapp', 'wafer', 'session', 'tunnel', 'websocket', 'wasm', 'webassembly'],
      engines: { node: '>=16' },
    };
    if (cargo.repository) pkg.repository = { type: 'git', url: `git+${cargo.repository}.git` };
    fs.writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  });

  // 6. sizes ------------------------------------------------------------------------------
  const files = listFiles(outDir);
  if (!opts.quiet) {
    log(`6/6 ${path.relative(ROOT, outDir) || '.'}/ (raw / gzip -9 / brotli q11):`);
    let total = 0;
    for (const f of files) {
      const data = fs.readFileSync(f);
      total += data.length;
      const row = [data.length, zlib.gzipSync(data, { level: 9 }).length, brotli(data).length].map(kb);
      log(`    ${path.relative(outDir, f).padEnd(40)} ${row[0].padStart(10)} ${row[1].padStart(10)} ${row[2].padStart(10)}`);
    }
    log(`    ${'total'.padEnd(40)} ${kb(total).padStart(10)}`);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s → ${path.relative(ROOT, outDir) || '.'}/`);
  return { outDir, files, importModule };
}

// ---------------------------------------------------------------------------------------

function brotli(data) {
  return zlib.brotliCompressSync(data, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
      [zlib.constants.BROTLI_PARAM_LGWIN]: zlib.constants.BROTLI_MAX_WINDOW_BITS,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
}

const kb = (n) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

function listFiles(dir) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

/**
 * The `exports` map. Conditions are tried in order: types first; a bundler building for
 * the browser platform (webpack 5, Vite: Taro, uni-app) gets the mini-program build before
 * `node` can match; Node gets the Node build; anything else the mini-program build.
 */
function packageExports() {
  const both = (dir) => ({ import: `./${dir}/index.mjs`, default: `./${dir}/index.js` });
  const out = {
    '.': { types: './index.d.ts', browser: both('bundler'), node: both('node'), default: both('bundler') },
  };
  for (const p of PLUGINS) out[`./${p}`] = { types: `./${p}.d.ts`, default: `./${p}.js` };
  out['./package.json'] = './package.json';
  return out;
}

/** The public names, read from the facade itself (so the ES module wrappers cannot drift). */
function exportNames() {
  const facade = r('js-shim', 'facade.js');
  delete require.cache[facade];
  const api = require(facade).createSdk({ platform: {}, load: () => Promise.reject(new Error('not loaded')) });
  const names = Object.keys(api).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
  if (!names.includes('login') || !names.includes('Tunnel')) throw new Error(`unexpected facade exports: ${names.join(', ')}`);
  return names;
}

function esmWrapper(names) {
  return `import wafer from './index.js';\nexport default wafer;\nexport const {\n  ${names.join(',\n  ')},\n} = wafer;\n`;
}

/** esbuild plugin: the mini-program bundle must not pull in any Node built-in. */
const noNodeBuiltins = {
  name: 'wafer-no-node-builtins',
  setup(b) {
    const builtins = new Set(builtinModules);
    b.onResolve({ filter: /^[a-z_:][\w:/.-]*$/ }, (args) => {
      const bare = args.path.replace(/^node:/, '');
      if (args.path.startsWith('node:') || builtins.has(bare) || builtins.has(bare.split('/')[0])) {
        return { errors: [{ text: `Node built-in "${args.path}" is not allowed in the mini-program bundle (imported by ${path.relative(ROOT, args.importer)})` }] };
      }
      return undefined;
    });
  },
};

/**
 * Instantiates the (optimized) wasm against the CommonJS glue, the way the loader does:
 * imports = { [importModule]: glue }, then glue.__wbg_set_wasm(exports) and
 * exports.__wbindgen_start(). Catches a wasm-opt feature mismatch or a broken glue early.
 */
function smokeTest(wasm, importModule, glueFile, { noGlobalExports }) {
  delete require.cache[require.resolve(glueFile)];
  const glue = require(glueFile);
  const compiled = new WebAssembly.Module(wasm);
  const globals = WebAssembly.Module.exports(compiled).filter((e) => e.kind === 'global').map((e) => e.name);
  if (noGlobalExports && globals.length) throw new Error(`the wasm still exports the global(s) ${globals.join(', ')}`);
  const instance = new WebAssembly.Instance(compiled, { [importModule]: glue });
  if (typeof glue.__wbg_set_wasm !== 'function') throw new Error('the glue does not export __wbg_set_wasm');
  glue.__wbg_set_wasm(instance.exports);
  if (typeof instance.exports.__wbindgen_start === 'function') instance.exports.__wbindgen_start();
  delete require.cache[require.resolve(glueFile)];
}

function mitLicense() {
  return `MIT License

Copyright (c) ${new Date().getFullYear()} wafer-wasm contributors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;
}

module.exports = { build, parseOptions, dropGlobalExports, WASM_OPT_ARGS };

if (require.main === module) {
  build(parseOptions(process.argv.slice(2), process.env)).catch((err) => {
    console.error(`build: FAILED: ${err.message}`);
    process.exit(1);
  });
}
