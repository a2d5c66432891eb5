'use strict';
// The vm context that stands in for the mini-program's JS realm, and the small
// "realm" toolkit the rest of the simulator uses to hand values to sandbox code.
//
// Why a realm toolkit: objects created by host (Node) code belong to the host
// realm, so `x instanceof Object`, `buf instanceof ArrayBuffer` or
// `err instanceof Error` would be false inside the sandbox, and a host function's
// `.constructor` is the host `Function` (code generation allowed). A real
// mini-program has one realm, so everything we give the sandbox is rebuilt with
// the sandbox's own constructors and every API function is a sandbox function.

const vm = require('node:vm');
const util = require('node:util');

// Present in V8 or Node but absent in a mini-program (tests/sim/README.md).
const FORBIDDEN_GLOBALS = [
  'WebAssembly', 'TextEncoder', 'TextDecoder', 'fetch', 'URL', 'URLSearchParams',
  'queueMicrotask', 'FinalizationRegistry', 'WeakRef', 'process', 'Buffer', 'global',
  'setImmediate', 'structuredClone', 'atob', 'btoa', 'SharedArrayBuffer', 'Atomics',
];

function createContext(name) {
  // strings:false makes eval/new Function throw EvalError, as in WeChat;
  // wasm:false stops the context compiling wasm even if it found a way to.
  const context = vm.createContext({}, {
    name: name || 'wafer-sim',
    codeGeneration: { strings: false, wasm: false },
  });
  // Intrinsics live on the real global, not on the contextified object, so they
  // have to be deleted from inside the context.
  vm.runInContext(
    FORBIDDEN_GLOBALS.map((n) => `delete globalThis[${JSON.stringify(n)}];`).join('\n'),
    context,
  );
  return context;
}

function createRealm(context) {
  const R = vm.runInContext(
    '({ Object, Array, ArrayBuffer, Uint8Array, Error, TypeError, RangeError, SyntaxError, JSON, Promise, Reflect, globalThis })',
    context,
  );
  // A function factory compiled in the sandbox: the wrappers it returns are sandbox
  // functions whose only link to the host implementation is a closure.
  const makeFn = vm.runInContext(`(function () {
    var apply = Reflect.apply;
    var define = Object.defineProperty;
    return function (impl, name) {
      var f = function () { return apply(impl, this, arguments); };
      define(f, 'name', { value: name || '' });
      return f;
    };
  })()`, context);

  const isSandboxValue = (v, Ctor) => {
    try { return v instanceof Ctor; } catch (_) { return false; }
  };

  const realm = {
    context,
    R,
    global: R.globalThis,

    // Host Error -> sandbox Error of the same kind (keeps message, code, errMsg).
    adoptError(e) {
      if (e === null || typeof e !== 'object') return e;
      if (isSandboxValue(e, R.Error)) return e;
      if (!util.types.isNativeError(e) && !(e instanceof Error)) return realm.clone(e);
      const Ctor = R[e.name] || R.Error;
      const out = new Ctor(String(e.message));
      if (typeof e.stack === 'string') out.stack = e.stack; // keep file:line for debugging
      for (const k of ['code', 'errMsg', 'errno', 'type', 'detail']) {
        if (e[k] !== undefined) out[k] = realm.clone(e[k]);
      }
      return out;
    },

    error(message, Kind) {
      const Ctor = (Kind && R[Kind]) || R.Error;
      return new Ctor(message);
    },

    // A sandbox function that runs `impl` (host code) and turns host exceptions into
    // sandbox ones.
    fn(impl, name) {
      return makeFn(function bridged() {
        try {
          return Reflect.apply(impl, this, arguments);
        } catch (e) {
          throw realm.adoptError(e);
        }
      }, name || impl.name);
    },

    // Deep copy of plain data into the sandbox realm. Functions are kept as they
    // are (only sandbox functions should ever be passed here); ArrayBuffers and
    // views become sandbox ArrayBuffers.
    clone(v) {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return v;
      if (typeof v === 'function') return v;
      if (util.types.isArrayBuffer(v)) return realm.arrayBuffer(new Uint8Array(v));
      if (ArrayBuffer.isView(v)) return realm.arrayBuffer(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      if (util.types.isNativeError(v)) return realm.adoptError(v);
      if (Array.isArray(v)) {
        const out = new R.Array();
        for (const item of v) out.push(realm.clone(item));
        return out;
      }
      const out = new R.Object();
      for (const k of Object.keys(v)) out[k] = realm.clone(v[k]);
      return out;
    },

    // Sandbox object whose own properties are taken from `props` (shallow; values
    // must already be sandbox values or primitives).
    object(props) {
      const out = new R.Object();
      if (props) for (const k of Object.keys(props)) out[k] = props[k];
      return out;
    },

    arrayBuffer(bytes) {
      const ab = new R.ArrayBuffer(bytes.byteLength);
      new R.Uint8Array(ab).set(bytes);
      return ab;
    },

    // JSON round trip into the sandbox realm (what storage and setData do in WeChat).
    jsonCopy(v) {
      const text = JSON.stringify(v);
      return text === undefined ? undefined : R.JSON.parse(text);
    },

    parseJSON(text) {
      return R.JSON.parse(text);
    },

    promise(executor) {
      return new R.Promise(executor);
    },

    isSandboxPromise(p) {
      return isSandboxValue(p, R.Promise);
    },
  };
  return realm;
}

// Bytes of a value the sandbox handed us (string, ArrayBuffer or view, from any realm).
function toBytes(data) {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (util.types.isArrayBuffer(data)) return Buffer.from(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return null;
}

module.exports = { FORBIDDEN_GLOBALS, createContext, createRealm, toBytes };
