'use strict';
// waitFor(predicate, { timeout, interval, message }): poll until predicate()
// (sync or async) returns something truthy and resolve with it; reject after
// `timeout` ms. Leaves no timer behind either way.

function waitFor(predicate, { timeout = 3000, interval = 5, message = '' } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let lastError = null;
    const tick = async () => {
      try {
        const v = await predicate();
        if (v) { resolve(v); return; }
      } catch (e) {
        lastError = e; // keep polling: the state may not exist yet
      }
      if (Date.now() - started >= timeout) {
        const why = lastError ? ` (last error: ${lastError.message})` : '';
        reject(new Error(`waitFor timed out after ${timeout} ms${message ? `: ${message}` : ''}${why}`));
        return;
      }
      setTimeout(tick, interval);
    };
    tick();
  });
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { waitFor, delay };
