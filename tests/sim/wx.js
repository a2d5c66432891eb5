'use strict';
// Assembles the sandbox `wx` object from the per-concern parts, and holds the small
// APIs that need no module of their own: network type and status events, app
// show/hide events, system info, and recorded no-op UI calls.

const { ok } = require('./callbacks');
const { createStorage } = require('./storage');
const { createLoginApi } = require('./wechat');
const { createNetwork } = require('./request');
const { createSockets } = require('./socket');

function createListeners() {
  const list = [];
  return {
    on(cb) { if (typeof cb === 'function') list.push(cb); },
    // off(cb) removes that listener; off() with no argument removes all, as WeChat does.
    off(cb) {
      if (cb === undefined) { list.length = 0; return; }
      const i = list.indexOf(cb);
      if (i >= 0) list.splice(i, 1);
    },
    emit(sim, where, payload) {
      for (const cb of list.slice()) sim.invoke(cb, undefined, [sim.realm.clone(payload)], where);
    },
    get size() { return list.length; },
  };
}

function createWx(sim, options) {
  const { api } = sim.callbacks;
  const storage = createStorage(sim);
  const login = createLoginApi(sim);
  const network = createNetwork(sim, options);
  const sockets = createSockets(sim, options);
  const events = {
    networkStatus: createListeners(),
    appShow: createListeners(),
    appHide: createListeners(),
  };

  const networkType = () => (sim.network.online ? sim.network.type : 'none');

  // Recorded UI calls (sim.uiCalls): { api, options } with callbacks stripped.
  const ui = (name) => api(name, (o) => {
    const recorded = {};
    for (const k of Object.keys(o)) if (typeof o[k] !== 'function') recorded[k] = o[k];
    sim.uiCalls.push({ api: name, options: JSON.parse(JSON.stringify(recorded)) });
    return ok(name, name === 'showModal' ? { confirm: true, cancel: false } : {});
  }, { promiseStyle: true });

  const systemInfo = () => ({
    SDKVersion: options.sdkVersion,
    platform: options.platform,
    system: options.platform === 'ios' ? 'iOS 17.0' : options.platform === 'android' ? 'Android 14' : 'devtools',
    brand: 'sim',
    model: 'wafer-sim',
    version: '8.0.50',
    language: 'zh_CN',
    pixelRatio: 2,
    screenWidth: 375,
    screenHeight: 812,
    windowWidth: 375,
    windowHeight: 812,
  });

  const parts = {
    ...storage.wx,
    ...login.wx,
    ...network.wx,
    ...sockets.wx,

    getNetworkType: api('getNetworkType', () => ok('getNetworkType', { networkType: networkType() }), { promiseStyle: true }),
    onNetworkStatusChange: (cb) => events.networkStatus.on(cb),
    offNetworkStatusChange: (cb) => events.networkStatus.off(cb),
    onAppShow: (cb) => events.appShow.on(cb),
    offAppShow: (cb) => events.appShow.off(cb),
    onAppHide: (cb) => events.appHide.on(cb),
    offAppHide: (cb) => events.appHide.off(cb),

    getSystemInfoSync: () => sim.realm.clone(systemInfo()),
    getSystemInfo: api('getSystemInfo', () => ok('getSystemInfo', systemInfo()), { promiseStyle: true }),
    getAppBaseInfo: () => sim.realm.clone({ SDKVersion: options.sdkVersion, language: 'zh_CN', version: '8.0.50' }),
    canIUse: () => true,

    showToast: ui('showToast'),
    showModal: ui('showModal'),
    showLoading: ui('showLoading'),
    hideLoading: ui('hideLoading'),
    hideToast: ui('hideToast'),
    navigateTo: ui('navigateTo'),
    redirectTo: ui('redirectTo'),
    navigateBack: ui('navigateBack'),
    setNavigationBarTitle: ui('setNavigationBarTitle'),
  };

  const wx = sim.realm.object();
  for (const name of Object.keys(parts)) wx[name] = sim.realm.fn(parts[name], name);
  wx.env = sim.realm.clone({ USER_DATA_PATH: 'wxfile://usr' });

  return { wx, storage, network, sockets, events };
}

module.exports = { createWx };
