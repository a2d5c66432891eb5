'use strict';
// probeWasm(sim): what the packed SDK's wasm holds, seen from outside, in the simulator.
// Call it before the SDK loads: it wraps WXWebAssembly.instantiate to capture the instance,
// the glue (the import object) and the module's bytes. Nothing in the package is changed.
//
// - bytes(): the linear memory's size (`memory.buffer.byteLength`).
// - liveHandles(): JavaScript values the wasm holds through wasm-bindgen's classic heap
//   glue (the slab of handles beyond its 1028 reserved slots), read with the V8 inspector
//   from the glue's own closure scope. The glue is minified, so the slab is found by its
//   shape (an array whose slots 1024..1027 hold undefined, null, true, false) and the head
//   of its free list as the numeric variable from which the longest chain of free slots
//   runs to the end of the slab (every free slot holds the index of the next one).
// - stack: the shadow stack of the Rust code. The wasm is linked with the stack first, so
//   it is [0, size) of linear memory, with `size` the initial value of the stack pointer
//   (global 0, mutable i32, read from the module's bytes). Between calls nothing of it is
//   in use, so `stack.paint()` fills it with a pattern and `stack.deepest()` returns how
//   many bytes below the top were written since: the deepest the stack went.

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const inspector = require('node:inspector');

const RESERVED_SLOTS = 1028;
const PAINT = 0xa5;

/** Unsigned LEB128 at `at`: [value, next offset]. */
function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

/** Signed LEB128 (i32.const immediates). */
function sleb(bytes, at) {
  let value = 0;
  let shift = 0;
  let b;
  do {
    b = bytes[at++];
    value |= (b & 0x7f) << shift;
    shift += 7;
  } while (b >= 0x80);
  if (shift < 32 && b & 0x40) value |= -1 << shift;
  return [value, at];
}

/** The initial value of the module's first mutable i32 global (the stack pointer). */
function stackTop(bytes) {
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size;
    [size, at] = leb(bytes, at);
    if (id === 6) {
      let count;
      let p = at;
      [count, p] = leb(bytes, p);
      for (let i = 0; i < count; i++) {
        const type = bytes[p++];
        const mutable = bytes[p++];
        const op = bytes[p++];
        let value = null;
        if (op === 0x41) [value, p] = sleb(bytes, p);
        else if (op === 0x42) [, p] = sleb(bytes, p);
        else p += op === 0x43 ? 4 : op === 0x44 ? 8 : 0;
        p++; // end
        if (type === 0x7f && mutable === 1 && value !== null) return value;
      }
      return null;
    }
    at += size;
  }
  return null;
}

/** A synchronous V8 inspector session on this thread (its callbacks run inside post). */
function inspect() {
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => {
    let out;
    let error;
    let done = false;
    session.post(method, params, (e, r) => {
      error = e;
      out = r;
      done = true;
    });
    if (!done) throw new Error(`inspector ${method} did not answer synchronously`);
    if (error) throw error;
    return out;
  };
  return { post, close: () => session.disconnect() };
}

/** How many handles the glue's slab holds, from any function of the glue. */
function countHandles(glueFunction) {
  const { post, close } = inspect();
  const key = `__waferProbe${process.pid}`;
  globalThis[key] = glueFunction;
  try {
    const fn = post('Runtime.evaluate', { expression: `globalThis.${key}` }).result;
    const internals = post('Runtime.getProperties', { objectId: fn.objectId, ownProperties: true }).internalProperties || [];
    const scopes = internals.find((p) => p.name === '[[Scopes]]');
    if (!scopes) throw new Error('the glue function has no [[Scopes]]');
    const list = post('Runtime.getProperties', { objectId: scopes.value.objectId, ownProperties: true }).result;
    for (const scope of list) {
      if (!scope.value || scope.value.description === 'Global') continue;
      const vars = post('Runtime.getProperties', { objectId: scope.value.objectId, ownProperties: true }).result;
      const numbers = vars.filter((v) => v.value && v.value.type === 'number').map((v) => v.value.value);
      for (const v of vars) {
        if (!v.value || v.value.subtype !== 'array') continue;
        const counted = post('Runtime.callFunctionOn', {
          objectId: v.value.objectId,
          returnByValue: true,
          arguments: [{ value: numbers }],
          functionDeclaration: `function (heads) {
            const R = ${RESERVED_SLOTS};
            if (this.length < R || this[R - 4] !== undefined || this[R - 3] !== null || this[R - 2] !== true || this[R - 1] !== false) return null;
            let free = -1;
            for (const head of heads) {
              let i = head;
              let n = 0;
              while (i !== this.length && Number.isInteger(i) && i >= R && i < this.length && n <= this.length && typeof this[i] === 'number') {
                i = this[i];
                n++;
              }
              if (i === this.length && n > free) free = n;
            }
            return free < 0 ? null : { slab: this.length - R, free, live: this.length - R - free };
          }`,
        }).result.value;
        if (counted) return counted;
      }
    }
    throw new Error('no wasm-bindgen heap slab found in the glue scope');
  } finally {
    delete globalThis[key];
    close();
  }
}

function probeWasm(sim) {
  const W = sim.global.WXWebAssembly;
  const original = W.instantiate;
  const probe = {
    instance: null,
    glue: null,
    stackSize: null,
    bytes() {
      if (!probe.instance) throw new Error('the wasm is not instantiated yet');
      return probe.instance.exports.memory.buffer.byteLength;
    },
    /** `{ slab, free, live }`: slots beyond the reserved ones, free ones, live handles. */
    handles() {
      if (!probe.glue) throw new Error('the wasm is not instantiated yet');
      const fn = Object.values(probe.glue).find((f) => typeof f === 'function');
      return countHandles(fn);
    },
    liveHandles() {
      return probe.handles().live;
    },
    stack: {
      /** Fill the whole (idle) stack with the pattern. */
      paint() {
        new Uint8Array(probe.instance.exports.memory.buffer, 0, probe.stackSize).fill(PAINT);
      },
      /** Bytes below the top written since paint(). */
      deepest() {
        const mem = new Uint8Array(probe.instance.exports.memory.buffer, 0, probe.stackSize);
        let i = 0;
        while (i < mem.length && mem[i] === PAINT) i++;
        return probe.stackSize - i;
      },
    },
  };
  W.instantiate = sim.realm.fn((wasmPath, imports) => {
    const file = path.join(sim.root, wasmPath.replace(/^\//, ''));
    const raw = fs.readFileSync(file);
    const bytes = wasmPath.endsWith('.br') ? zlib.brotliDecompressSync(raw) : raw;
    probe.stackSize = stackTop(bytes);
    probe.glue = Object.values(imports)[0];
    return original(wasmPath, imports).then((r) => {
      probe.instance = r && r.instance ? r.instance : r;
      return r;
    });
  }, 'instantiate');
  return probe;
}

module.exports = { probeWasm, stackTop, countHandles };
