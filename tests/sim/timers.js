'use strict';
// setTimeout/setInterval for the sandbox, backed by host timers but tracked in a
// table so tests can assert that nothing is left running (sim.timers.active()).
// Ids are numbers, as in WeChat (Node returns Timeout objects).

function createTimers(sim) {
  const table = new Map(); // id -> { id, type, delay, createdAt, stack, handle }
  let nextId = 1;
  let created = 0;

  function schedule(type, fn, delay, args) {
    if (typeof fn !== 'function') {
      // A string callback would need eval, which a mini-program does not have.
      throw sim.realm.error(`${type === 'interval' ? 'setInterval' : 'setTimeout'} expects a function`, 'TypeError');
    }
    created += 1;
    const id = nextId++;
    let ms = Number(delay);
    if (!Number.isFinite(ms) || ms < 0) ms = 0;
    if (sim.closed) return id; // nothing runs after teardown
    const entry = {
      id,
      type,
      delay: ms,
      createdAt: Date.now(),
      // Where the timer was created, to make leak reports readable.
      stack: String(new Error().stack || '').split('\n').slice(3, 8).join('\n'),
      fired: 0,
    };
    const run = () => {
      entry.fired += 1;
      if (type === 'timeout') table.delete(id);
      sim.invoke(fn, undefined, args, `${type} callback`);
    };
    entry.handle = type === 'interval' ? setInterval(run, ms) : setTimeout(run, ms);
    table.set(id, entry);
    return id;
  }

  function clear(id) {
    const entry = table.get(id);
    if (!entry) return; // unknown ids (0, undefined, already fired) are ignored, like browsers
    table.delete(id);
    if (entry.type === 'interval') clearInterval(entry.handle);
    else clearTimeout(entry.handle);
  }

  const publicApi = {
    // Pending timeouts and live intervals created by sandbox code (host copies).
    active() {
      return [...table.values()].map(({ handle, ...rest }) => rest);
    },
    get created() { return created; },
  };

  const globals = {
    setTimeout: (fn, delay, ...args) => schedule('timeout', fn, delay, args),
    setInterval: (fn, delay, ...args) => schedule('interval', fn, delay, args),
    // clearTimeout and clearInterval are interchangeable, as on the web.
    clearTimeout: (id) => clear(id),
    clearInterval: (id) => clear(id),
  };

  function clearAll() {
    for (const id of [...table.keys()]) clear(id);
  }

  return { publicApi, globals, clearAll };
}

module.exports = { createTimers };
