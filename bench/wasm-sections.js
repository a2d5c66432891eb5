'use strict';
/**
 * A small WebAssembly binary reader for the size breakdown: section sizes, the body size
 * of every defined function (code section), function names (the `name` custom section)
 * and export names. No dependencies, so `npm run bench` needs nothing like `twiggy`.
 *
 * Byte accounting: a function's size is its code-section entry, i.e. the LEB128 size
 * prefix plus the body (locals + instructions), so the function sizes plus the section's
 * own count prefix add up to the code section's payload.
 */

const SECTION_NAMES = {
  0: 'custom', 1: 'type', 2: 'import', 3: 'function', 4: 'table', 5: 'memory', 6: 'global',
  7: 'export', 8: 'start', 9: 'element', 10: 'code', 11: 'data', 12: 'datacount', 13: 'tag',
};

class Reader {
  constructor(bytes, pos = 0, end = bytes.length) {
    this.b = bytes;
    this.pos = pos;
    this.end = end;
  }
  byte() {
    if (this.pos >= this.end) throw new Error('wasm: unexpected end');
    return this.b[this.pos++];
  }
  u32() {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new Error('wasm: LEB128 too long');
    }
  }
  bytes(n) {
    if (this.pos + n > this.end) throw new Error('wasm: unexpected end');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name() {
    return Buffer.from(this.bytes(this.u32())).toString('utf8');
  }
  skipLimits() {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

/**
 * @param {Uint8Array} bytes a .wasm file
 * @returns {{ size: number, sections: Array<{ id: number, kind: string, name?: string, size: number }>,
 *   importedFunctions: number, functions: Array<{ index: number, size: number, name: string|null, exportName: string|null }>,
 *   codeSection: number, dataSection: number }}
 * `size` of a section includes its id byte and size prefix (sections sum to the file minus the 8-byte header).
 */
function parseWasm(bytes) {
  const r = new Reader(bytes);
  const magic = r.bytes(4);
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d) throw new Error('not a wasm module');
  r.bytes(4); // version
  const sections = [];
  let importedFunctions = 0;
  const bodies = [];
  const names = new Map();
  const exports = new Map();
  while (r.pos < r.end) {
    const start = r.pos;
    const id = r.byte();
    const len = r.u32();
    const bodyStart = r.pos;
    const s = new Reader(bytes, bodyStart, bodyStart + len);
    const section = { id, kind: SECTION_NAMES[id] || `unknown-${id}`, size: bodyStart + len - start };
    if (id === 0) {
      section.name = s.name();
      if (section.name === 'name') readNames(s, names);
    } else if (id === 2) {
      const n = s.u32();
      for (let i = 0; i < n; i++) {
        s.name();
        s.name();
        const kind = s.byte();
        if (kind === 0) {
          s.u32();
          importedFunctions += 1;
        } else if (kind === 1) {
          s.byte();
          s.skipLimits();
        } else if (kind === 2) {
          s.skipLimits();
        } else if (kind === 3) {
          s.byte();
          s.byte();
        } else if (kind === 4) {
          s.byte();
          s.u32();
        } else {
          throw new Error(`wasm: unknown import kind ${kind}`);
        }
      }
    } else if (id === 7) {
      const n = s.u32();
      for (let i = 0; i < n; i++) {
        const name = s.name();
        const kind = s.byte();
        const index = s.u32();
        if (kind === 0 && !exports.has(index)) exports.set(index, name);
      }
    } else if (id === 10) {
      const n = s.u32();
      for (let i = 0; i < n; i++) {
        const entryStart = s.pos;
        const size = s.u32();
        s.pos += size;
        bodies.push(s.pos - entryStart);
      }
    }
    sections.push(section);
    r.pos = bodyStart + len;
  }
  const functions = bodies.map((size, i) => {
    const index = importedFunctions + i;
    return { index, size, name: names.get(index) || null, exportName: exports.get(index) || null };
  });
  const total = (kind) => sections.filter((s) => s.kind === kind).reduce((a, s) => a + s.size, 0);
  return {
    size: bytes.length,
    sections,
    importedFunctions,
    functions,
    codeSection: total('code'),
    dataSection: total('data'),
  };
}

/** The function-names subsection (id 1) of a `name` section. */
function readNames(s, names) {
  while (s.pos < s.end) {
    const sub = s.byte();
    const len = s.u32();
    const next = s.pos + len;
    if (sub === 1) {
      const n = s.u32();
      for (let i = 0; i < n; i++) {
        const index = s.u32();
        names.set(index, s.name());
      }
    }
    s.pos = next;
  }
}

// ---- names and crates ----------------------------------------------------------------

/** Drop rustc's hashes: `::h0123456789abcdef` suffixes and `[0123abcd]` crate disambiguators. */
function cleanName(name) {
  return name.replace(/::h[0-9a-f]{16}$/, '').replace(/\[[0-9a-f]{6,16}\]/g, '');
}

/** The top-level `<...>` of `<A as B>::f` (balanced), or null. */
function qualifiedSelf(name) {
  if (!name.startsWith('<')) return null;
  let depth = 0;
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '<') depth += 1;
    else if (name[i] === '>' && name[i - 1] !== '-') {
      depth -= 1;
      if (depth === 0) return name.slice(1, i);
    }
  }
  return null;
}

/** Split at a top-level ` as ` / ` for `. */
function splitTop(text, sep) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<' || c === '(' || c === '[') depth += 1;
    else if ((c === '>' && text[i - 1] !== '-') || c === ')' || c === ']') depth -= 1;
    else if (depth === 0 && text.startsWith(sep, i)) return [text.slice(0, i), text.slice(i + sep.length)];
  }
  return [text, null];
}

/** The crate a path begins with (`core::fmt::write` → `core`), or null for `T`, `u32`, `str`... */
function pathCrate(path) {
  const p = path.replace(/^(?:&|\*const |\*mut |mut |dyn |impl |\[|\()+/, '').trim();
  const m = /^([A-Za-z_][A-Za-z0-9_]*)::/.exec(p);
  return m ? m[1] : null;
}

const BUILTIN_SYMBOLS = /^(?:mem(?:cpy|move|set|cmp)|bcmp|__(?:u|)(?:div|mod|mul)[a-z]*[0-9]|__(?:ashl|ashr|lshr)[a-z]*[0-9]|__multi3|__[a-z]+[sdt]f[0-9]?)$/;

/**
 * The crate a function's bytes belong to: the path prefix of its (demangled) name; for
 * `<T as Trait>::f` the crate of `T`, else of `Trait` (impls on primitives: core). Names
 * without a path: wasm-bindgen intrinsics, compiler builtins, wasm-bindgen's wrappers of
 * our `#[wasm_bindgen]` exports (reported as `<own crate> (exports)`: the exported Rust
 * function is inlined into them), or code wasm-opt synthesised.
 */
function crateOf(fn, ownCrate) {
  const name = fn.name ? cleanName(fn.name) : null;
  // Every function wasm-bindgen hands to wasm-opt is named, so a nameless one after
  // wasm-opt -Oz --debuginfo is one that wasm-opt made (merged or outlined code).
  if (!name) return '(wasm-opt generated)';
  const inner = qualifiedSelf(name);
  if (inner !== null) {
    const [self, trait] = splitTop(inner, ' as ');
    // `<[u8]>::starts_with`, `<u32 as Trait>` with a std trait...: inherent impls on
    // primitives live in core.
    return pathCrate(self) || (trait && pathCrate(trait)) || 'core';
  }
  const c = pathCrate(name);
  // `__rustc::__rust_alloc` & co: the global-allocator shims std generates.
  if (c === '__rustc') return 'std';
  if (c) return c;
  if (/^(?:__wbindgen|__wbg|__externref|__wbg_)/.test(name)) return 'wasm_bindgen';
  if (BUILTIN_SYMBOLS.test(name)) return 'compiler_builtins';
  // wasm-bindgen's wrappers around #[wasm_bindgen] exports ("client_tunnel externref
  // shim"); wasm-opt inlines the exported Rust function into them, so they are this
  // crate's API code.
  if (/ (?:externref|multivalue) shim$/.test(name)) {
    return /^[a-z0-9]+_[A-Za-z0-9_]+ /.test(name) || fn.exportName ? `${ownCrate} (exports)` : 'wasm_bindgen';
  }
  if (fn.exportName === fn.name) return `${ownCrate} (exports)`;
  if (/^byn\$|^\$/.test(name)) return '(wasm-opt generated)';
  return '(other)';
}

module.exports = { parseWasm, cleanName, crateOf };
