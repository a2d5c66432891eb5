'use strict';
// In Node, wasm-bindgen registers the handles it hands out with a FinalizationRegistry:
// when a page drops its `Tunnel` object, the handle is freed. A tunnel that is not CLOSED
// keeps working (it holds itself, as every tunnel does in a mini-program, where nothing is
// collected) until it closes; then nothing of it is left, its socket included.
// The packed package's Node build in a child process (--expose-gc) against the loopback
// server.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { fork } = require('node:child_process');

const { packageDir, sessionFromAnotherRun, startServer, waitFor } = require('./helpers/sdk');

const ROOT = path.resolve(__dirname, '..', '..');

test('a tunnel whose page object was collected keeps working until it closes, then leaves no socket', async () => {
  const server = await startServer({ dialect: 'wafer1', tunnelTimeout: null });
  const child = fork(path.join(__dirname, 'helpers', 'dropped-tunnel.js'), [], {
    execArgv: ['--expose-gc'],
    env: {
      ...process.env,
      NODE_PATH: path.join(ROOT, 'node_modules'), // `ws`, the Node build's WebSocket on Node < 22
      WAFER_PKG_DIR: packageDir(),
      WAFER_SESSION: JSON.stringify(await sessionFromAnotherRun(server)),
      WAFER_TUNNEL_URL: server.urls.tunnel,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const heard = [];
  child.on('message', (m) => heard.push(m));
  const saw = (event) => heard.filter((m) => m.event === event);
  try {
    await waitFor(() => saw('connect').length === 1, { timeout: 10000, message: 'connect' });
    const remote = server.latestTunnel();
    const { id } = remote;

    child.send('gc');
    await waitFor(() => saw('gc').length === 1, { timeout: 10000, message: 'gc' });
    assert.equal(saw('gc')[0].collected, true, 'the page object and its handle were collected');

    // Still open, still heard.
    assert.equal(remote.open, true);
    for (let n = 1; n <= 3; n += 1) server.sendMessage(id, 'speak', n);
    await waitFor(() => saw('speak').length === 3, { timeout: 10000, message: 'messages after gc' });
    assert.deepEqual(saw('speak').map((m) => m.content), [1, 2, 3]);

    // The server closes it: the tunnel closes, and nothing is left once collected again.
    server.closeTunnel(id);
    await waitFor(() => saw('close').length === 1, { timeout: 10000, message: 'close' });
    child.send('gc');
    await waitFor(() => saw('gc').length === 2, { timeout: 10000, message: 'second gc' });
    await waitFor(() => remote.closed, { timeout: 10000, message: 'the socket closed' });
    assert.equal(server.openTunnels().length, 0);
    assert.deepEqual(saw('error'), []);
  } finally {
    child.send('exit');
    await new Promise((resolve) => child.once('exit', resolve));
    await server.stop();
  }
});
