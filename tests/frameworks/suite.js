'use strict';
// One example app (examples/<name>), built by its framework's own CLI for WeChat, then run in
// the strict simulator (tests/sim) against the local Wafer stack (stack/, Wafer 1 with the
// official qcloud-weapp-server-sdk): the index page logs in, makes a session request and
// opens a tunnel in which it says one line. Its TypeScript is checked by its own `tsc` against
// the packed typings. Timeouts are safety nets; nothing asserts speed.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { startStack } = require('../../stack');
const { createSim } = require('../sim');
const { waitFor } = require('../../scripts/demo.js');
const { packagedFile, packageDir } = require('../js/helpers/sdk');
const { buildExample, listFiles, run } = require('./helpers');

const WASM_ASSET = 'wafer-wasm/wafer_wasm_bg.wasm.br';
// The Node build of wafer-wasm (its platform adapter's messages, its Node built-ins); none
// of it may reach a mini-program.
const NODE_ONLY = [
  /not available outside a mini-program/,
  /install the ws package/,
  /require\(["'](?:node:)?(?:fs|path|ws|http|https|net|os|crypto|zlib|stream|events|util|url|buffer|child_process)["']\)/,
];

/**
 * @param {string} name examples/<name>
 * @param {object} opts
 * @param {string} opts.word what the page says in the tunnel
 * @param {string[]} opts.tsconfigs the example's TypeScript projects
 */
function exampleSuite(name, { word, tsconfigs }) {
  describe(`examples/${name} built by its own CLI, in the simulator`, { timeout: 20 * 60 * 1000 }, () => {
    let stack;
    let built;
    const closed = new Set();
    const messages = [];

    before(async () => {
      stack = await startStack({ wafer2: false });
      stack.wafer1.on('onClose', ({ tunnelId }) => closed.add(tunnelId));
      stack.wafer1.on('onMessage', (m) => messages.push(m));
      built = await buildExample(name, stack.wafer1.url);
      console.log(`examples/${name}: npm install ${built.timings.install}, build ${built.timings.build} ms`);
    });
    after(async () => {
      if (stack) await stack.stop();
    });

    test('the output has the wasm where the package loads it, and none of the Node build', () => {
      assert.equal(built.pkg.version, JSON.parse(fs.readFileSync(path.join(packageDir(), 'package.json'), 'utf8')).version, 'the packed package is installed');
      const files = listFiles(built.outDir);
      assert.ok(files.includes('app.js') && files.includes('pages/index/index.js'), files.join(', '));
      assert.ok(!files.some((f) => f.startsWith('miniprogram_npm/')), 'no miniprogram_npm/ (the bundler build is used)');
      assert.deepEqual(fs.readFileSync(path.join(built.outDir, WASM_ASSET)), fs.readFileSync(packagedFile('wafer_wasm_bg.wasm.br')), `${WASM_ASSET} is the packaged wasm`);
      const js = files.filter((f) => f.endsWith('.js')).map((f) => [f, fs.readFileSync(path.join(built.outDir, f), 'utf8')]);
      const withSdk = js.filter(([, src]) => src.includes(`"/${WASM_ASSET}"`));
      assert.equal(withSdk.length, 1, `exactly one chunk holds the SDK: ${withSdk.map(([f]) => f).join(', ')}`);
      assert.ok(!js.some(([, src]) => src.includes('/miniprogram_npm/wafer-wasm/')), 'the DevTools build is not bundled');
      for (const [f, src] of js) for (const re of NODE_ONLY) assert.ok(!re.test(src), `${f} matches ${re}`);
    });

    test(`its TypeScript type-checks against the packed typings (${tsconfigs.join(', ')})`, async () => {
      for (const project of tsconfigs) {
        const output = await run([path.join(built.dir, 'node_modules', '.bin', 'tsc'), '--noEmit', '-p', project], { cwd: built.dir });
        assert.equal(output.trim(), '', `${project}: ${output}`);
      }
    });

    test('the index page logs in, makes a session request and opens a tunnel', async () => {
      const sim = createSim({ root: built.outDir, wechat: stack.wechatBackend('小明') });
      try {
        const lines = () => sim.logs
          .filter((l) => l.level === 'log' && typeof l.args[0] === 'string' && l.args[0].startsWith('[wafer-example] '))
          .map((l) => l.args[0].slice('[wafer-example] '.length))
          .filter((l) => l !== 'app launched');
        sim.loadApp();
        const page = sim.openPage('pages/index/index');
        const said = `tunnel: 小明 said ${word}`;
        await waitFor(() => lines().includes(said) || lines().some((l) => /fail|error/.test(l)), 'the page to finish', 30000);
        assert.deepEqual(lines(), ['login: ok 小明', 'request: 200 小明', 'tunnel: connected', said]);
        // What the page rendered (Taro: a node tree; uni-app: template data) shows every line.
        await waitFor(() => JSON.stringify(page.data).includes(said), 'the page to render the last line');
        for (const line of lines()) assert.ok(JSON.stringify(page.data).includes(line), `rendered: ${line}`);

        assert.equal(sim.counters.wasmInstantiate, 1, 'the wasm was instantiated once');
        assert.equal(sim.counters.login, 1, 'one wx.login');
        assert.equal(stack.auth.stats.logins, 1, 'one login at the auth server');
        const userRequests = sim.requestLog.filter((r) => r.url === `${stack.wafer1.url}/user`);
        assert.equal(userRequests.length, 1, 'one /user request');
        assert.ok(Object.keys(userRequests[0].header).some((k) => k.toLowerCase() === 'x-wx-skey'), 'the request carried the session');
        assert.equal(sim.counters.sockets, 1, 'one socket');
        assert.deepEqual(messages.map((m) => [m.type, m.content && m.content.word]), [['speak', word]]);

        // Leaving the page closes the tunnel (the page's cleanup), and the server sees it.
        const [tunnelId] = stack.wafer1.chat.connectedTunnelIds;
        assert.ok(tunnelId, 'the business server has the tunnel');
        page.unload();
        await waitFor(() => closed.has(tunnelId), 'the business server to see the tunnel close');
        await sim.settle();
        sim.assertClean();
      } finally {
        await sim.close();
      }
    });
  });
}

module.exports = { exampleSuite };
