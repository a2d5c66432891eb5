'use strict';
/**
 * A names-preserving copy of the shipped wasm, for the size breakdown. Same pipeline as
 * scripts/build.js (cargo release build for wasm32-unknown-unknown, wasm-bindgen, the global
 * exports removed, wasm-opt with the same WebAssembly 1.0 lowering and -Oz), except that the
 * symbol names are kept:
 *
 *   CARGO_PROFILE_RELEASE_STRIP=false, CARGO_TARGET_DIR=target/bench-names
 *   wasm-bindgen --keep-debug --target bundler
 *   dropGlobalExports (binaryen.js, keeping the name section)
 *   wasm-opt --strip-dwarf <build.js's WASM_OPT_ARGS> --debuginfo
 *
 * `--strip-dwarf` matters: the unstripped build carries DWARF from the standard library,
 * and binaryen leaves out the optimisations it cannot keep DWARF correct through, which
 * made the code section 1.4 KB larger than the shipped one. Without DWARF (the `name`
 * section is kept by --debuginfo) the code section comes out within ~0.2% of the shipped
 * module; the rest is what `strip = true` itself changes in the linker's output.
 *
 * The output is cached: wasm-bindgen and wasm-opt rerun only when cargo produced a newer
 * module. The caller compares its code section with the shipped one.
 */

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TARGET_DIR = path.join(ROOT, 'target', 'bench-names');
const CARGO_WASM = path.join(TARGET_DIR, 'wasm32-unknown-unknown', 'release', 'wafer_wasm.wasm');
const BINDGEN_DIR = path.join(TARGET_DIR, 'bindgen');
const BINDGEN_WASM = path.join(BINDGEN_DIR, 'wafer_wasm_bg.wasm');
const OUT = path.join(TARGET_DIR, 'wafer_wasm_named.wasm');

// The same global-export removal and wasm-opt arguments as the shipped build.
const { dropGlobalExports, WASM_OPT_ARGS } = require('../scripts/build.js');

function run(cmd, args, env) {
  const res = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: Object.assign({}, process.env, env || {}) });
  if (res.error) throw new Error(`cannot run ${cmd}: ${res.error.message}`);
  if (res.status !== 0) {
    const tail = `${res.stderr || ''}${res.stdout || ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`\`${cmd} ${args.join(' ')}\` exited with ${res.status}\n${tail}`);
  }
  return res.stdout;
}

/**
 * @param {(msg: string) => void} log
 * @returns {Promise<{ file: string, seconds: number, notes: string[] }>}
 */
async function buildNamed(log) {
  const t0 = Date.now();
  const notes = [];
  const { withCargoPath, lockedWasmBindgenVersion } = require('../scripts/setup.js');
  withCargoPath(false);
  const bindgenVersion = (run('wasm-bindgen', ['--version']).match(/([0-9]+\.[0-9]+\.[0-9]+)/) || [])[1];
  const locked = lockedWasmBindgenVersion();
  if (locked && bindgenVersion && locked !== bindgenVersion) {
    throw new Error(`wasm-bindgen CLI ${bindgenVersion} does not match the crate ${locked} in Cargo.lock (run \`npm run setup\`)`);
  }
  log('names build: cargo build --release (CARGO_PROFILE_RELEASE_STRIP=false, target/bench-names)');
  run('cargo', ['build', '--lib', '--release', '--target', 'wasm32-unknown-unknown'], {
    CARGO_PROFILE_RELEASE_STRIP: 'false',
    CARGO_TARGET_DIR: TARGET_DIR,
  });
  const inputs = [CARGO_WASM, __filename, require.resolve('../scripts/build.js')];
  const fresh = fs.existsSync(OUT) && fs.statSync(OUT).mtimeMs >= Math.max(...inputs.map((f) => fs.statSync(f).mtimeMs));
  if (fresh) {
    notes.push('names build up to date (cached)');
  } else {
    log('names build: wasm-bindgen --keep-debug, global exports removed, wasm-opt --strip-dwarf <lowering> -Oz --debuginfo');
    fs.rmSync(BINDGEN_DIR, { recursive: true, force: true });
    run('wasm-bindgen', ['--keep-debug', '--target', 'bundler', '--out-dir', BINDGEN_DIR, '--out-name', 'wafer_wasm', CARGO_WASM]);
    const wasmOpt = path.join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'wasm-opt.cmd' : 'wasm-opt');
    if (!fs.existsSync(wasmOpt)) throw new Error('node_modules/.bin/wasm-opt not found (npm package binaryen; run `npm run setup`)');
    const glue = fs.readFileSync(path.join(BINDGEN_DIR, 'wafer_wasm_bg.js'), 'utf8');
    const { wasm } = await dropGlobalExports(fs.readFileSync(BINDGEN_WASM), glue, { keepNames: true });
    const input = `${OUT}.in`;
    const tmp = `${OUT}.tmp`;
    fs.writeFileSync(input, wasm);
    run(wasmOpt, ['--strip-dwarf', ...WASM_OPT_ARGS, '--debuginfo', input, '-o', tmp]);
    fs.renameSync(tmp, OUT);
  }
  return { file: OUT, seconds: (Date.now() - t0) / 1000, notes };
}

module.exports = { buildNamed, TARGET_DIR };
