'use strict';
/**
 * A bench measured in a process of its own (a fresh heap, its own flags such as
 * `--expose-gc`): the parent forks the bench's file with `--child` and sends the options;
 * the child runs its measurement and sends back `{ value }` or `{ error }`.
 */

const { fork } = require('node:child_process');

/**
 * Fork `file` as a child and resolve with what its measurement returned.
 * @param {string} file the bench's `__filename`
 * @param {string} name how an exit without a result is reported
 * @param {object} opts sent to the child
 * @param {string[]} [execArgv] Node flags of the child
 */
function inChild(file, name, opts, execArgv = []) {
  return new Promise((resolve, reject) => {
    const cp = fork(file, ['--child'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result = null;
    cp.on('message', (m) => {
      result = m;
    });
    cp.on('error', reject);
    cp.on('exit', (code) => {
      if (result && result.error) reject(new Error(result.error));
      else if (result && code === 0) resolve(result.value);
      else reject(new Error(`${name} child exited with ${code}`));
    });
    cp.send(opts);
  });
}

/** True in the forked child (`main` is the bench's `module`). */
function isChild(main) {
  return require.main === main && process.argv.includes('--child');
}

/** In the child: run `measure` on the parent's options and send its result back. */
function serveChild(measure) {
  process.once('message', (opts) => {
    measure(opts).then(
      (value) => process.send({ value }, () => process.exit(0)),
      (e) => process.send({ error: (e && e.stack) || String(e) }, () => process.exit(1)),
    );
  });
}

module.exports = { inChild, isChild, serveChild };
