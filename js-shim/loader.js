'use strict';
/**
 * Instantiates the wasm against the generated glue (wasm-bindgen `--target bundler`
 * output converted to CommonJS): the glue module is the import object, then it is handed
 * the instance's exports.
 */

/* global WAFER_WASM_IMPORT_MODULE */
/** The module name the wasm imports its glue functions from (set by the build). */
const GLUE_MODULE = WAFER_WASM_IMPORT_MODULE;

function importsFor(glue) {
  return { [GLUE_MODULE]: glue };
}

/** Connect an instantiated module to the glue and return the glue (the wasm's API). */
function attach(glue, instance) {
  glue.__wbg_set_wasm(instance.exports);
  if (typeof instance.exports.__wbindgen_start === 'function') instance.exports.__wbindgen_start();
  return glue;
}

/**
 * Inside a mini-program: `WXWebAssembly.instantiate(path)` where `path` is a file of the
 * code package. Its promise resolves with a bare instance (what the official typings
 * declare) or with `{ instance, module }`; both are accepted. Without WXWebAssembly
 * (base library < 2.13.0) an Android client may still have `WebAssembly`: the bytes are
 * read from the package with the file system manager.
 * @param {object} glue
 * @param {string} path e.g. '/miniprogram_npm/wafer-wasm/wafer_wasm_bg.wasm.br'
 * @param {object} env `{ WXWebAssembly, WebAssembly, wx }` as found in the runtime
 */
function instantiateInMiniProgram(glue, path, env) {
  const imports = importsFor(glue);
  if (env.WXWebAssembly && typeof env.WXWebAssembly.instantiate === 'function') {
    return env.WXWebAssembly.instantiate(path, imports).then((result) =>
      attach(glue, result && result.instance ? result.instance : result),
    );
  }
  if (env.WebAssembly && env.wx && typeof env.wx.getFileSystemManager === 'function') {
    if (/\.br$/.test(path)) {
      return Promise.reject(new Error('WebAssembly cannot load a brotli file; pass the .wasm path to init({ wasmPath })'));
    }
    const bytes = env.wx.getFileSystemManager().readFileSync(path.replace(/^\//, ''));
    return env.WebAssembly.instantiate(bytes, imports).then((r) => attach(glue, r.instance));
  }
  return Promise.reject(new Error('this runtime has neither WXWebAssembly (base library >= 2.13.0) nor WebAssembly'));
}

/** Node and browsers: synchronous instantiation from bytes. */
function instantiateFromBytes(glue, bytes, WebAssemblyApi) {
  const module = new WebAssemblyApi.Module(bytes);
  return attach(glue, new WebAssemblyApi.Instance(module, importsFor(glue)));
}

module.exports = { instantiateInMiniProgram, instantiateFromBytes };
