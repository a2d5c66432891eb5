'use strict';
// Child process of node-gc.test.js (run with --expose-gc): the packed package's Node build
// opens a tunnel whose only reference is dropped at once, as a page that keeps none does.
// The parent drives it over IPC: `gc` collects garbage (wasm-bindgen's FinalizationRegistry
// then frees the dropped handle), and the child reports what its listeners heard.

const path = require('node:path');

const wafer = require(path.join(process.env.WAFER_PKG_DIR, 'node', 'index.js'));
const send = (m) => process.send(m);

wafer.Session.set(JSON.parse(process.env.WAFER_SESSION));

let collected = null;
(function openAndForget() {
  const tunnel = new wafer.Tunnel(process.env.WAFER_TUNNEL_URL, { heartbeatInterval: 60000 });
  // No listener refers to the tunnel: only the page's variable does, and it is dropped.
  tunnel.on('connect', () => send({ event: 'connect' }));
  tunnel.on('speak', (content) => send({ event: 'speak', content }));
  tunnel.on('close', () => send({ event: 'close' }));
  tunnel.on('error', (e) => send({ event: 'error', code: e.code }));
  tunnel.open();
  collected = new WeakRef(tunnel);
})();

async function collect() {
  for (let i = 0; i < 10; i += 1) {
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

process.on('message', async (m) => {
  if (m === 'gc') {
    await collect();
    send({ event: 'gc', collected: collected.deref() === undefined });
  } else if (m === 'exit') {
    process.exit(0);
  }
});
