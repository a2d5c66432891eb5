'use strict';
// The wx calling convention: { success, fail, complete } called asynchronously
// (never inside the API call), complete after success/fail, results carrying
// errMsg 'api:ok' / 'api:fail reason'. APIs that WeChat lets you call "in promise
// style" return a sandbox promise when no callback is given.

function hasCallbacks(opts) {
  return !!opts && (typeof opts.success === 'function' || typeof opts.fail === 'function'
    || typeof opts.complete === 'function');
}

function createCallbacks(sim) {
  // Deliver one outcome. `result` is host plain data; it is cloned into the sandbox
  // once and the same object is passed to success/fail and complete, as WeChat does.
  function deliver(opts, ok, result) {
    sim.defer(() => {
      const res = sim.realm.clone(result);
      const cb = ok ? opts && opts.success : opts && opts.fail;
      if (typeof cb === 'function') sim.invoke(cb, undefined, [res], `${res.errMsg} callback`);
      if (opts && typeof opts.complete === 'function') sim.invoke(opts.complete, undefined, [res], 'complete callback');
    });
  }

  // Wrap an async API implementation `run(opts) -> Promise<{ ok, result }>` (host
  // promise). With callbacks: deliver them, return `returnValue(opts)` (e.g. a task)
  // or undefined. Without callbacks and promiseStyle: return a sandbox promise.
  function api(name, run, { promiseStyle = false } = {}) {
    return (opts) => {
      const options = opts && typeof opts === 'object' ? opts : {};
      const usePromise = promiseStyle && !hasCallbacks(options);
      const failed = (e) => ({ ok: false, result: { errMsg: `${name}:fail ${e && e.message ? e.message : e}` } });
      // run() starts synchronously (so counters move at call time); its outcome is
      // only ever delivered later.
      let outcome;
      try {
        outcome = Promise.resolve(run(options)).then((o) => o, failed);
      } catch (e) {
        outcome = Promise.resolve(failed(e));
      }
      if (usePromise) {
        return sim.realm.promise((resolve, reject) => {
          outcome.then(({ ok, result }) => sim.defer(() => {
            const res = sim.realm.clone(result);
            if (ok) resolve(res); else reject(res);
          }));
        });
      }
      outcome.then(({ ok, result }) => deliver(options, ok, result));
      return undefined;
    };
  }

  return { deliver, api, hasCallbacks };
}

const ok = (name, extra) => ({ ok: true, result: { ...extra, errMsg: `${name}:ok` } });
const fail = (name, reason, extra) => ({ ok: false, result: { ...extra, errMsg: `${name}:fail ${reason}` } });

module.exports = { createCallbacks, hasCallbacks, ok, fail };
