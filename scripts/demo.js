#!/usr/bin/env node
'use strict';
/**
 * `npm run demo`: the whole Wafer system on this machine, two users chatting.
 *
 *   1. builds the SDK into pkg/ when pkg/ is missing or older than the sources
 *      (scripts/setup.js installs missing tools first, scripts/build.js builds);
 *   2. starts the local Wafer stack (stack/) in this process on random loopback ports, with the
 *      Rust tunnel service (tunnel-service/, built when needed) as its tunnel server;
 *   3. copies demo-miniprogram/ to a temp dir, points its config.js at the stack and
 *      installs the package into miniprogram_npm/wafer-wasm/ the way DevTools "build npm" does;
 *   4. runs the demo in two simulated mini-programs (tests/sim), 小明 and 小红: log in on the
 *      index page, call /user, enter the chat room, talk, 小红 leaves, then 小明;
 *   5. prints what each user's pages showed, stops everything and exits 0
 *      (1 with a message on any failure or after --timeout seconds).
 *
 *   node scripts/demo.js [--wafer2] [--protocol auto|wafer1|wafer2] [--drop]
 *                        [--pkg <dir|tarball>] [--timeout <seconds>] [--quiet]
 *
 *   --wafer2     talk to the Wafer 2 business server (default: Wafer 1, the official
 *                qcloud-weapp-server-sdk)
 *   --protocol   the SDK's configure({ protocol }) (default auto)
 *   --drop       mid-chat, the tunnel server restarts (every socket dropped): both pages reconnect
 *   --pkg        use this package directory or `npm pack` tarball instead of pkg/ (no build)
 *   --timeout    hard limit for the run after the build (default 90)
 *   --quiet      no step log, only the transcript
 *
 * As a module: the helpers below are shared with tests/e2e (prepareCodePackage, openUser,
 * openChat, say, waitFor, ...).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DEMO_DIR = path.join(ROOT, 'demo-miniprogram');
const PKG_DIR = path.join(ROOT, 'pkg');
const SETTINGS_BLOCK = /\/\/ @server-settings-begin[^\n]*\n[\s\S]*?\/\/ @server-settings-end/;

// ---- the SDK package ----------------------------------------------------------------------

/** Files under `rel` (a file or a directory), recursively. */
function listFiles(rel) {
  const abs = path.join(ROOT, rel);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return [abs];
  const out = [];
  for (const ent of fs.readdirSync(abs, { withFileTypes: true })) {
    const child = path.join(rel, ent.name);
    if (ent.isDirectory()) out.push(...listFiles(child));
    else out.push(path.join(ROOT, child));
  }
  return out;
}

const SOURCES = ['src', 'js-shim', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'scripts/build.js'];
const OUTPUTS = ['package.json', 'miniprogram_dist/index.js', 'miniprogram_dist/wafer_wasm_bg.wasm.br', 'node/index.js'];

/** Is pkg/ there and newer than every source file? → { ok, reason } */
function packageStatus() {
  const outputs = OUTPUTS.map((f) => path.join(PKG_DIR, f));
  const missing = outputs.filter((f) => !fs.existsSync(f));
  if (missing.length) return { ok: false, reason: `pkg/ is missing ${missing.map((f) => path.relative(PKG_DIR, f)).join(', ')}` };
  const built = Math.min(...outputs.map((f) => fs.statSync(f).mtimeMs));
  const newer = SOURCES.flatMap(listFiles).filter((f) => fs.statSync(f).mtimeMs > built);
  if (newer.length) {
    const names = newer.slice(0, 3).map((f) => path.relative(ROOT, f)).join(', ');
    return { ok: false, reason: `sources changed since the last build (${names}${newer.length > 3 ? ', …' : ''})` };
  }
  return { ok: true, reason: 'pkg/ is up to date' };
}

const npmInstalled = () => ['express', 'ws', 'qcloud-weapp-server-sdk', 'esbuild', 'binaryen']
  .every((name) => fs.existsSync(path.join(ROOT, 'node_modules', name, 'package.json')));

/** Build pkg/ when it is missing or stale (installing missing tools first). */
async function ensurePackage(log) {
  const status = packageStatus();
  if (status.ok && npmInstalled()) {
    log(`SDK: ${status.reason}`);
    return PKG_DIR;
  }
  log(`SDK: ${status.ok ? 'npm dependencies missing' : status.reason}: running setup${status.ok ? '' : ' and build'}`);
  const { setup } = require('./setup.js');
  setup();
  if (!status.ok) {
    const { build, parseOptions } = require('./build.js');
    await build(Object.assign(parseOptions([], process.env), { quiet: true }));
  }
  return PKG_DIR;
}

// ---- the demo code package ------------------------------------------------------------------

/** The settings block of config.js for a running stack. */
/**
 * The settings block of config.js for a running stack. The simulators get their WeChat
 * accounts from `createSim({ wechat: stack.wechatBackend(name) })`, so the page-level mock
 * WeChat (what DevTools needs) is off unless `mockUser` is given.
 */
function stackSettings(stack, { dialect = 'wafer1', protocol = 'auto', mockUser = null } = {}) {
  const business = dialect === 'wafer2' ? stack.wafer2 : stack.wafer1;
  if (!business) throw new Error(`the stack runs no ${dialect} business server`);
  const url = new URL(business.url);
  return {
    host: url.hostname,
    https: false,
    wafer1Port: stack.wafer1 ? stack.wafer1.port : null,
    wafer2Port: stack.wafer2 ? stack.wafer2.port : null,
    dialect,
    protocol,
    mockWechat: !!mockUser,
    mockWechatPort: stack.wechat.port,
    mockUser: mockUser || '小明',
  };
}

/** Rewrite the `@server-settings` block of <root>/config.js. */
function writeSettings(root, settings) {
  const file = path.join(root, 'config.js');
  const source = fs.readFileSync(file, 'utf8');
  if (!SETTINGS_BLOCK.test(source)) throw new Error(`${file} has no // @server-settings-begin … // @server-settings-end block`);
  const block = `// @server-settings-begin (written by scripts/demo.js)\nvar settings = ${JSON.stringify(settings, null, 2)};\n// @server-settings-end`;
  fs.writeFileSync(file, source.replace(SETTINGS_BLOCK, () => block));
}

/**
 * A copy of demo-miniprogram/ in `dir` (default: a new temp dir) with config.js pointing at
 * `settings` and `pkg` (directory or tarball) installed as DevTools "build npm" would.
 */
function prepareCodePackage({ pkg = PKG_DIR, settings, dir } = {}) {
  const { installPackage } = require('../tests/sim');
  const root = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-demo-'));
  const skip = new Set(['node_modules', 'miniprogram_npm', 'package-lock.json']);
  try {
    fs.cpSync(DEMO_DIR, root, {
      recursive: true,
      filter: (src) => !skip.has(path.basename(src)) || path.dirname(src) !== DEMO_DIR,
    });
    if (settings) writeSettings(root, settings);
    installPackage(root, pkg, 'wafer-wasm');
  } catch (e) {
    if (!dir) fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return root;
}

// ---- driving the pages ----------------------------------------------------------------------

/** Poll `predicate` until truthy (the timeout is a safety net, not a speed requirement). */
function waitFor(predicate, what, timeoutMs = 15000) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      let value;
      try {
        value = predicate();
      } catch (e) {
        reject(e);
        return;
      }
      if (value) resolve(value);
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * A simulated phone: its own mini-program instance, storage and WeChat account (`name`).
 * `storage`: raw storage entries (key → JSON text) to start with, as left by an earlier launch.
 */
function openUser({ root, stack, name, simOptions, storage }) {
  const { createSim } = require('../tests/sim');
  const sim = createSim(Object.assign({ root, wechat: stack.wechatBackend(name) }, simOptions));
  if (storage) for (const [key, text] of storage) sim.storage.raw.set(key, text);
  sim.loadApp();
  const index = sim.openPage('pages/index/index');
  return { name, sim, index, chat: null, notes: [] };
}

/** Host copies of a page's messages. */
function messagesOf(page) {
  return page ? JSON.parse(JSON.stringify(page.data.messages || [])) : [];
}

/** One line per message, as the chat page shows it. */
function messageLine(m) {
  return m.type === 'speak' ? `${m.who}${m.mine ? '（我）' : ''}：${m.word}` : `—— ${m.text} ——`;
}

const systemTexts = (page) => messagesOf(page).filter((m) => m.type === 'system').map((m) => m.text);
const speakLines = (page) => messagesOf(page).filter((m) => m.type === 'speak').map((m) => `${m.who}：${m.word}`);
const hasSystem = (page, text) => systemTexts(page).some((t) => t === text || t.startsWith(text));

/** Tap 进入聊天室 on the index page, open the page it navigates to, wait until in the room. */
async function openChat(user, { waitEnter = true } = {}) {
  const before = user.sim.uiCalls.length;
  user.index.instance.openChat();
  const nav = user.sim.uiCalls.slice(before).find((c) => c.api === 'navigateTo');
  if (!nav) throw new Error(`${user.name}: 进入聊天室 did not navigate`);
  user.chat = user.sim.openPage(String(nav.options.url).replace(/^\//, ''));
  await user.chat.instance.entering;
  if (waitEnter) {
    await waitFor(() => hasSystem(user.chat, `${user.name} 进入了聊天室`), `${user.name} to see their own enter notice`);
  }
  return user.chat;
}

/** Type `word` into the send box and tap 发送. */
function say(user, word) {
  const page = user.chat.instance;
  page.bindInput({ type: 'input', detail: { value: word } });
  const sent = page.sendMessage({ type: 'tap', detail: {} });
  if (!sent) throw new Error(`${user.name}: 发送 did not send ${JSON.stringify(word)}`);
  if (page.data.inputContent !== '') throw new Error(`${user.name}: the send box was not cleared`);
}

/** The tunnel id of a chat page's current socket. */
function tunnelIdOf(page) {
  const url = page && page.instance.tunnel && page.instance.tunnel.socketUrl;
  const m = /[?&]tunnelId=([^&]+)/.exec(url || '');
  return m ? decodeURIComponent(m[1]) : null;
}

/** Throws with every problem the sandbox of `user` reported. */
function assertClean(user) {
  try {
    user.sim.assertClean();
  } catch (e) {
    throw new Error(`${user.name}: ${e.message}`);
  }
}

// ---- the demo -------------------------------------------------------------------------------

const CONVERSATION = [
  ['小明', '大家好，我是小明！'],
  ['小红', '小明你好，我是小红 👋'],
  ['小明', '这些消息走的是 wafer-wasm 的信道（Tunnel）。'],
  ['小红', '整套 Wafer 服务都在本机跑，不用先部署到云上。'],
  ['小明', '要不要晚点再聊？'],
  ['小红', '好呀，我先下线啦，再见！'],
];

function parseArgs(argv) {
  const args = { dialect: 'wafer1', protocol: 'auto', drop: false, pkg: null, timeoutS: 90, quiet: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const value = () => {
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${a} needs a value`);
      i += 1;
      return v;
    };
    if (a === '--wafer2') args.dialect = 'wafer2';
    else if (a === '--wafer1') args.dialect = 'wafer1';
    else if (a === '--drop') args.drop = true;
    else if (a === '--quiet') args.quiet = true;
    else if (a === '--protocol') args.protocol = value();
    else if (a === '--pkg') args.pkg = path.resolve(value());
    else if (a === '--timeout') args.timeoutS = Number(value());
    else if (a === '-h' || a === '--help') args.help = true;
    else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!['auto', 'wafer1', 'wafer2'].includes(args.protocol)) throw new Error(`--protocol must be auto, wafer1 or wafer2, not ${args.protocol}`);
  if (!(args.timeoutS > 0)) throw new Error('--timeout must be a positive number of seconds');
  if (args.pkg && !fs.existsSync(args.pkg)) throw new Error(`--pkg ${args.pkg} does not exist`);
  return args;
}

/**
 * Runs the two-user chat against a fresh stack; resolves with the transcript text.
 * `state` collects what needs cleaning up (stack, users, root) so a caller can stop it on timeout.
 */
async function runDemo({ dialect = 'wafer1', protocol = 'auto', drop = false, pkg = PKG_DIR, log = () => {}, state = {} } = {}) {
  const { startStack } = require('../stack');
  // Only the business server the pages talk to (the Wafer 2 one brings a MariaDB server along).
  const stack = state.stack = await startStack({ tunnelServer: 'wafer-tunnel', [dialect === 'wafer2' ? 'wafer1' : 'wafer2']: false });
  const business = dialect === 'wafer2' ? stack.wafer2 : stack.wafer1;
  const closedTunnels = new Set();
  business.on('onClose', ({ tunnelId }) => closedTunnels.add(tunnelId));
  const settings = stackSettings(stack, { dialect, protocol });
  log(`本地 Wafer 服务已启动 / local stack: WeChat ${stack.urls.wechat}, auth ${stack.urls.auth}, tunnel ${stack.urls.tunnel}`);
  log(`  业务服务器 / business server (${dialect === 'wafer2' ? `Wafer 2, ${wafer2Versions(stack)}` : 'Wafer 1, qcloud-weapp-server-sdk'}): ${business.url}`);

  const root = state.root = prepareCodePackage({ pkg, settings });
  const pkgName = pkg.startsWith(ROOT + path.sep) ? path.relative(ROOT, pkg) : pkg;
  log(`示例小程序 / demo code package: ${root} (wafer-wasm from ${pkgName})`);

  const users = state.users = [];
  const ming = openUser({ root, stack, name: '小明' });
  users.push(ming);
  const hong = openUser({ root, stack, name: '小红' });
  users.push(hong);
  const byName = { 小明: ming, 小红: hong };

  for (const user of users) {
    log(`${user.name} 点击「登录」`);
    await user.index.instance.bindLogin();
    const d = user.index.data;
    if (d.loginStatus !== '登录成功') throw new Error(`${user.name}: login failed: ${d.error || d.loginStatus}`);
    user.notes.push(`[首页] 点击「登录」→ ${d.loginStatus}，昵称：${d.userInfo.nickName}`);
    log(`${user.name} 点击「请求 /user」`);
    await user.index.instance.bindRequest();
    const r = user.index.data;
    if (!r.serverUser) throw new Error(`${user.name}: /user failed: ${r.error || r.requestStatus}`);
    user.notes.push(`[首页] 点击「请求 /user」→ ${r.requestStatus}：服务器认出了 ${r.serverUser.nickName}（openId ${r.serverUser.openId}）`);
  }

  log('小明 点击「进入聊天室」');
  await openChat(ming);
  log('小红 点击「进入聊天室」');
  await openChat(hong);
  await waitFor(() => hasSystem(ming.chat, '小红 进入了聊天室'), '小明 to see 小红 enter');

  let spoken = 0;
  const talk = async (speaker, word) => {
    log(`${speaker.name} 发送：${word}`);
    say(speaker, word);
    spoken += 1;
    const line = `${speaker.name}：${word}`;
    for (const user of users) {
      if (!user.chat || user.chat.unloaded) continue;
      await waitFor(() => speakLines(user.chat).includes(line), `${user.name} to receive ${JSON.stringify(line)}`);
    }
  };

  const half = drop ? CONVERSATION.length / 2 : CONVERSATION.length;
  for (const [who, word] of CONVERSATION.slice(0, half)) await talk(byName[who], word);

  if (drop) {
    log('信道服务器断开了所有连接 / the tunnel server drops every socket');
    const before = users.map((u) => tunnelIdOf(u.chat));
    await stack.tunnel.dropAll();
    for (const user of users) {
      await waitFor(() => hasSystem(user.chat, '重连成功'), `${user.name} to reconnect`);
    }
    // Both new tunnels are in the room again before anyone speaks.
    await waitFor(() => users.every((u) => {
      const id = tunnelIdOf(u.chat);
      return id && !before.includes(id) && business.chat.connectedTunnelIds.includes(id);
    }), 'both reconnected tunnels to be in the chat room');
    for (const [who, word] of CONVERSATION.slice(half)) await talk(byName[who], word);
  }

  const hongTunnel = tunnelIdOf(hong.chat);
  log('小红 返回首页（关闭聊天页，信道随之关闭）');
  hong.chat.unload();
  await waitFor(() => closedTunnels.has(hongTunnel), 'the business server to see 小红 close her tunnel');
  await waitFor(() => hasSystem(ming.chat, '小红 离开了聊天室'), '小明 to see 小红 leave');

  const mingTunnel = tunnelIdOf(ming.chat);
  log('小明 返回首页');
  ming.chat.unload();
  await waitFor(() => closedTunnels.has(mingTunnel), 'the business server to see 小明 close his tunnel');
  await waitFor(() => business.chat.connectedTunnelIds.length === 0, 'the chat room to be empty');

  for (const user of users) {
    await user.sim.settle();
    assertClean(user);
  }
  if (spoken !== CONVERSATION.length) throw new Error(`only ${spoken} of ${CONVERSATION.length} lines were said`);
  return transcript({ users, dialect, protocol, drop, stack });
}

/** What the stack's Wafer 2 server runs on: `wafer-node-sdk 1.4.5, MariaDB 10.11.x`. */
function wafer2Versions(stack) {
  const v = stack.wafer2.versions;
  return `wafer-node-sdk ${v['wafer-node-sdk']}, MariaDB ${v.mariadb}`;
}

function transcript({ users, dialect, protocol, stack }) {
  const out = [];
  const server = dialect === 'wafer2'
    ? `Wafer 2 业务服务器（官方 ${wafer2Versions(stack)}）`
    : 'Wafer 1 业务服务器（官方 qcloud-weapp-server-sdk）';
  out.push(`===== 聊天记录 / transcript · ${server} · protocol: ${protocol} =====`);
  for (const user of users) {
    out.push('');
    out.push(`【${user.name} 的手机】`);
    for (const note of user.notes) out.push(`  ${note}`);
    out.push('  [聊天室]');
    for (const m of messagesOf(user.chat)) out.push(`    ${messageLine(m)}`);
    const c = user.sim.counters;
    out.push(`  （wx.login ${c.login} 次，wx.request ${c.requests} 次，WebSocket ${c.sockets} 个）`);
  }
  return out.join('\n');
}

async function cleanup(state) {
  for (const user of state.users || []) {
    try {
      for (const page of user.sim.pages.slice().reverse()) page.unload();
    } catch (_) { /* the sim reports it */ }
    await user.sim.close().catch(() => {});
  }
  if (state.stack) await state.stack.stop().catch(() => {});
  if (state.root) fs.rmSync(state.root, { recursive: true, force: true });
}

/** What each user's pages showed so far, for a failure report. */
function diagnostics(state) {
  const out = [];
  for (const user of state.users || []) {
    out.push(`  ${user.name}: index ${JSON.stringify({ loginStatus: user.index.data.loginStatus, requestStatus: user.index.data.requestStatus, error: user.index.data.error })}`);
    if (user.chat) for (const m of messagesOf(user.chat)) out.push(`    ${messageLine(m)}`);
    for (const { where, error } of user.sim.errorDetails) out.push(`    uncaught in ${where}: ${error && error.stack ? error.stack : error}`);
    for (const r of user.sim.unhandledRejections) out.push(`    unhandled rejection: ${r && r.stack ? r.stack : r}`);
  }
  return out.join('\n');
}

async function main(argv) {
  let args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`demo: ${e.message}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${fs.readFileSync(__filename, 'utf8').split('\n').slice(3, 26).map((l) => l.replace(/^ \*\/?\s?/, '')).join('\n')}\n`);
    return 0;
  }
  const log = args.quiet ? () => {} : (msg) => console.log(`  › ${msg}`);

  let pkg = args.pkg;
  if (!pkg) {
    try {
      pkg = await ensurePackage(log);
    } catch (e) {
      console.error(`demo: FAILED: cannot build the SDK: ${e.message}`);
      return 1;
    }
  }
  // The tunnel service is built before the run's timeout starts (minutes on a fresh clone).
  try {
    log('cargo build --profile service -p wafer-tunnel');
    require('../stack/wafer-tunnel').buildWaferTunnel();
  } catch (e) {
    console.error(`demo: FAILED: ${e.message}`);
    return 1;
  }

  const state = {};
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const e = new Error(`timed out after ${args.timeoutS} s (the step after the last › line never finished)`);
      e.timeout = true;
      reject(e);
    }, args.timeoutS * 1000);
  });
  try {
    const text = await Promise.race([
      runDemo({ dialect: args.dialect, protocol: args.protocol, drop: args.drop, pkg, log, state }),
      timeout,
    ]);
    console.log(`\n${text}\n`);
    console.log('demo: ok');
    return 0;
  } catch (e) {
    console.error(`\ndemo: FAILED: ${e && e.timeout ? e.message : e && e.stack ? e.stack : e}`);
    const diag = diagnostics(state);
    if (diag) console.error(`what the pages showed:\n${diag}`);
    return 1;
  } finally {
    clearTimeout(timer);
    await Promise.race([cleanup(state), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

module.exports = {
  ROOT,
  DEMO_DIR,
  PKG_DIR,
  CONVERSATION,
  packageStatus,
  ensurePackage,
  stackSettings,
  writeSettings,
  prepareCodePackage,
  waitFor,
  openUser,
  openChat,
  say,
  messagesOf,
  messageLine,
  systemTexts,
  speakLines,
  hasSystem,
  tunnelIdOf,
  assertClean,
  runDemo,
  main,
};

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    // Everything is stopped by now; exit explicitly so a stray handle cannot keep a
    // finished demo alive.
    process.exit(code);
  });
}
