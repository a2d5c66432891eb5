'use strict';
// The strict mini-program simulator. See tests/sim/README.md for the API.
//
//   const { createSim } = require('../sim');
//   const sim = createSim({ root: codeDir });
//   const wafer = sim.require('wafer-wasm');   // miniprogram_npm/wafer-wasm/index.js
//   ...
//   await sim.settle(); sim.assertClean(); await sim.close();

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

const { FORBIDDEN_GLOBALS, createContext, createRealm } = require('./sandbox');
const { createTimers } = require('./timers');
const errors = require('./errors');
const { createLoader } = require('./loader');
const { createCallbacks } = require('./callbacks');
const { createFakeWechat } = require('./wechat');
const { createWx } = require('./wx');
const { createWXWebAssembly } = require('./wasm');
const { createPages } = require('./pages');
const { installPackage } = require('./install');
const { versionAtLeast } = require('./version');

const LOOPBACK = ['127.0.0.1', 'localhost', '::1', '[::1]'];
let simCount = 0;

function createSim(opts = {}) {
  const options = {
    root: opts.root || opts.codeRoot || null,
    userDataPath: opts.userDataPath || null,
    wechat: opts.wechat || null,
    wasmResult: opts.wasmResult === 'pair' ? 'pair' : 'instance',
    wxWebAssembly: opts.wxWebAssembly !== false,
    sdkVersion: opts.sdkVersion || '3.4.0',
    platform: opts.platform || 'ios',
    online: opts.online !== false,
    networkType: opts.networkType || 'wifi',
    allowedHosts: opts.allowedHosts || LOOPBACK,
    maxNetworkTasks: opts.maxNetworkTasks || 10,
    maxSockets: opts.maxSockets || 5,
    printConsole: !!opts.printConsole,
    printErrors: !!opts.printErrors,
  };
  simCount += 1;
  const ownedDirs = [];
  const tempDir = (prefix) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    ownedDirs.push(d);
    return d;
  };

  const sim = {
    id: simCount,
    closed: false,
    root: path.resolve(options.root || tempDir('wx-sim-code-')),
    userDataPath: path.resolve(options.userDataPath || tempDir('wx-sim-userdata-')),
    options,
    errors: [], // values thrown by sandbox callbacks
    errorDetails: [], // { where, error }
    unhandledRejections: [], // rejection reasons of sandbox promises nobody handled
    logs: [], // sandbox console calls: { level, args }
    requestLog: [], // wx.request as sent: { method, url, header, body }
    uploadLog: [], // wx.uploadFile as sent: { url, header, name, filePath, formData, size }
    downloadLog: [], // wx.downloadFile as sent: { url, header, filePath }
    networkLog: [], // network tasks in the order they left the queue: { api, started: task number }
    uiCalls: [], // showToast & co: { api, options }
    counters: {
      login: 0,
      getUserInfo: 0,
      getUserProfile: 0,
      checkSession: 0,
      requests: 0,
      maxConcurrentRequests: 0,
      maxConcurrentTasks: 0,
      uploads: 0,
      downloads: 0,
      sockets: 0,
      socketSends: 0,
      wasmInstantiate: 0,
      storageReads: 0,
      storageWrites: 0,
      modulesLoaded: 0,
    },
    network: { online: options.online, type: options.networkType },
    appVisible: true,
  };
  const rejections = []; // { promise, reason }, parallel to sim.unhandledRejections
  let pages = null; // set below; sim.invoke reports errors to App.onError through it

  const deferred = new Set();
  // Run `fn` on a later macrotask (wx callbacks are never synchronous); dropped
  // after close().
  sim.defer = (fn) => {
    if (sim.closed) return;
    const h = setImmediate(() => {
      deferred.delete(h);
      if (!sim.closed) fn();
    });
    deferred.add(h);
  };

  // Call sandbox code from the host; a throw is recorded, never propagated.
  sim.invoke = (fn, thisArg, args, where) => {
    if (sim.closed || typeof fn !== 'function') return undefined;
    try {
      return Reflect.apply(fn, thisArg, args || []);
    } catch (e) {
      sim.errors.push(e);
      sim.errorDetails.push({ where: where || 'callback', error: e });
      if (options.printErrors) console.error(`[wx-sim ${sim.id}] uncaught in ${where}:`, e);
      if (where !== 'App.onError' && pages) pages.appError(e);
      return undefined;
    }
  };

  sim.isAllowedHost = (hostname) => options.allowedHosts.includes(hostname) || /^127\./.test(hostname);

  sim._onUnhandledRejection = (reason, promise) => {
    rejections.push({ promise, reason });
    sim.unhandledRejections.push(reason);
    if (options.printErrors) console.error(`[wx-sim ${sim.id}] unhandled rejection:`, reason);
  };
  sim._onRejectionHandled = (promise) => {
    const i = rejections.findIndex((r) => r.promise === promise);
    if (i >= 0) {
      rejections.splice(i, 1);
      sim.unhandledRejections.splice(i, 1);
    }
  };

  // --- realm and globals ---------------------------------------------------
  sim.context = createContext(`wafer-sim-${sim.id}`);
  sim.realm = createRealm(sim.context);
  sim.global = sim.realm.global;
  errors.track(sim, sim.realm.R.Promise);
  sim.callbacks = createCallbacks(sim);

  const timers = createTimers(sim);
  sim.timers = timers.publicApi;

  sim.wechat = options.wechat || createFakeWechat();
  const wxParts = createWx(sim, options);
  sim.wx = wxParts.wx;
  sim.storage = wxParts.storage.host;
  sim.sockets = wxParts.sockets.host;
  sim.netStats = wxParts.network.stats;

  const loader = createLoader(sim, sim.root);
  sim.require = (request) => loader.require(request);

  pages = createPages(sim);

  const consoleObj = sim.realm.object();
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    consoleObj[level] = sim.realm.fn((...args) => {
      sim.logs.push({ level, args });
      if (options.printConsole) console[level](`[wx-sim ${sim.id}]`, ...args);
    }, level);
  }

  const g = sim.global;
  const define = (name, value) => Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  for (const name of Object.keys(timers.globals)) define(name, sim.realm.fn(timers.globals[name], name));
  define('console', consoleObj);
  define('wx', sim.wx);
  // WXWebAssembly exists from base library 2.13.0.
  if (options.wxWebAssembly && versionAtLeast(options.sdkVersion, '2.13.0')) {
    define('WXWebAssembly', createWXWebAssembly(sim, options));
  }
  for (const name of Object.keys(pages.globals)) define(name, sim.realm.fn(pages.globals[name], name));

  // --- host controls ---------------------------------------------------------

  // Evaluate code in the sandbox (host-compiled, so it works despite strings:false).
  sim.evaluate = (code) => vm.runInContext(code, sim.context);

  sim.loadApp = (launchOptions) => pages.loadApp(launchOptions);
  sim.openPage = (route, query) => pages.openPage(route, query);
  Object.defineProperty(sim, 'app', { get: () => pages.app });
  Object.defineProperty(sim, 'pages', { get: () => pages.stack.slice() });

  // Write a file the app can upload; returns its wxfile:// name.
  sim.writeUserFile = (name, content) => {
    const file = path.resolve(sim.userDataPath, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    return `wxfile://${name}`;
  };

  // Network on/off. Going offline closes every socket with 1006; new requests,
  // uploads, sockets and logins fail at once while offline.
  sim.setNetwork = (online, type) => {
    const was = sim.network.online;
    sim.network.online = !!online;
    if (type) sim.network.type = type;
    if (!online) wxParts.sockets.host.killAll(1006, 'abnormal closure');
    if (was !== sim.network.online) {
      wxParts.events.networkStatus.emit(sim, 'onNetworkStatusChange', {
        isConnected: sim.network.online,
        networkType: sim.network.online ? sim.network.type : 'none',
      });
    }
  };

  // App to background. { interruptSockets: true } also closes every socket with
  // code 1000 reason 'interrupted', as WeChat does after a while in background.
  sim.hideApp = ({ interruptSockets = false } = {}) => {
    sim.appVisible = false;
    wxParts.events.appHide.emit(sim, 'onAppHide', {});
    pages.appHidden();
    if (interruptSockets) wxParts.sockets.host.killAll(1000, 'interrupted');
  };
  sim.showApp = (showOptions = {}) => {
    sim.appVisible = true;
    const o = { path: '', query: {}, scene: 1001, referrerInfo: {}, ...showOptions };
    wxParts.events.appShow.emit(sim, 'onAppShow', o);
    pages.appShown(o);
  };
  sim.listenerCounts = () => ({
    networkStatus: wxParts.events.networkStatus.size,
    appShow: wxParts.events.appShow.size,
    appHide: wxParts.events.appHide.size,
  });

  // Let pending callbacks and rejection reports run (macrotask turns, plus `ms`).
  sim.settle = async (ms = 0) => {
    await new Promise((r) => setImmediate(r));
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };

  // Throw if sandbox code threw or left a rejection unhandled.
  sim.assertClean = () => {
    const problems = [];
    for (const { where, error } of sim.errorDetails) problems.push(`uncaught in ${where}: ${error && error.stack ? error.stack : error}`);
    for (const r of sim.unhandledRejections) problems.push(`unhandled rejection: ${r && r.stack ? r.stack : safeString(r)}`);
    if (problems.length) throw new Error(`sandbox reported ${problems.length} problem(s):\n${problems.join('\n')}`);
  };

  // Tear everything down so the process can exit: timers, callbacks, requests,
  // sockets, temp dirs created by the sim.
  sim.close = async () => {
    if (sim.closed) return;
    sim.closed = true;
    timers.clearAll();
    for (const h of deferred) clearImmediate(h);
    deferred.clear();
    wxParts.network.close();
    await wxParts.sockets.closeAll();
    for (const d of ownedDirs) fs.rmSync(d, { recursive: true, force: true });
  };

  return sim;
}

function safeString(v) {
  try { return typeof v === 'string' ? v : JSON.stringify(v); } catch (_) { return String(v); }
}

module.exports = { createSim, createFakeWechat, installPackage, FORBIDDEN_GLOBALS };
