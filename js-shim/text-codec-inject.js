// esbuild `inject` file for the wasm-bindgen glue (see scripts/build.js): every free
// reference to TextEncoder / TextDecoder in the generated glue becomes an import of these,
// so the glue never touches the globals a mini-program lacks.
export { TextEncoder, TextDecoder } from './utf8.js';
