'use strict';
// Capturing unhandled promise rejections that come from sandbox code.
//
// Node reports unhandled rejections of every realm through
// process.emit('unhandledRejection', reason, promise). A plain listener cannot stop
// the other listeners (node:test installs one that fails the running test), so we
// wrap process.emit once and swallow the events whose promise was made by a sim's
// realm, recording them on that sim instead. Everything else passes through
// untouched, so host rejections behave exactly as without the simulator.

const owners = new WeakMap(); // sandbox Promise.prototype -> sim
let installed = false;

function ownerOf(promise) {
  if (promise === null || typeof promise !== 'object') return null;
  let proto = Object.getPrototypeOf(promise);
  while (proto) {
    const sim = owners.get(proto);
    if (sim) return sim;
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function install() {
  if (installed) return;
  installed = true;
  const originalEmit = process.emit;
  process.emit = function patchedEmit(event, a, b) {
    if (event === 'unhandledRejection') {
      const sim = ownerOf(b);
      if (sim) {
        sim._onUnhandledRejection(a, b);
        return true; // "handled": Node will not turn it into an uncaught exception
      }
    } else if (event === 'rejectionHandled') {
      const sim = ownerOf(a);
      if (sim) {
        sim._onRejectionHandled(a);
        return true;
      }
    }
    return originalEmit.apply(this, arguments);
  };
}

// Register a sim's realm; its promises are recognised even after sim.close(), so a
// late rejection still lands on the sim instead of failing some unrelated test.
function track(sim, sandboxPromiseCtor) {
  install();
  owners.set(sandboxPromiseCtor.prototype, sim);
}

module.exports = { track, ownerOf };
