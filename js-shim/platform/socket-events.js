'use strict';
/** Socket event kinds a platform adapter passes to the runtime's `sink(gen, kind, data)`
 * (the same values as `SOCKET_*` in src/runtime/platform.rs). */
module.exports = {
  SOCKET_OPEN: 0,
  /** A text frame (`data` is a string). */
  SOCKET_MESSAGE: 1,
  SOCKET_CLOSE: 2,
  SOCKET_ERROR: 3,
  /** A frame that is not text. */
  SOCKET_BINARY: 4,
};
