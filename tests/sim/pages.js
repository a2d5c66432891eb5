'use strict';
// Minimal App/Page framework: enough to load a demo mini-program and drive its
// pages from tests. No rendering; setData merges into `data` (with WeChat's
// 'a.b' / 'list[0]' path keys) and calls its callback asynchronously.

function parsePath(key) {
  // 'a.b[0].c' -> ['a', 'b', 0, 'c']
  const out = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(key))) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return out;
}

function createPages(sim) {
  const realm = sim.realm;
  const defs = new Map(); // route -> Page() definition object
  const stack = []; // open page wrappers, oldest first
  let loadingRoute = null;
  let app = null;

  const normalize = (route) => String(route).replace(/^\/+/, '').replace(/\.js$/, '');

  const globals = {
    App(obj) {
      if (app) throw new Error('App() can only be called once');
      app = obj && typeof obj === 'object' ? obj : realm.object();
    },
    Page(obj) {
      if (!loadingRoute) throw new Error('Page() may only be called while a page is being loaded');
      defs.set(loadingRoute, obj && typeof obj === 'object' ? obj : realm.object());
    },
    getApp() { return app || undefined; },
    getCurrentPages() {
      const arr = new realm.R.Array(); // the live instances, in a sandbox array
      for (const p of stack) arr.push(p.instance);
      return arr;
    },
  };

  const call = (target, name, args, where) => {
    if (target && typeof target[name] === 'function') sim.invoke(target[name], target, args, where);
  };

  function loadApp(launchOptions = {}) {
    if (!app) sim.require('/app.js');
    if (!app) throw new Error('app.js did not call App()');
    const opts = { path: '', query: {}, scene: 1001, referrerInfo: {}, ...launchOptions };
    call(app, 'onLaunch', [realm.clone(opts)], 'App.onLaunch');
    call(app, 'onShow', [realm.clone(opts)], 'App.onShow');
    return app;
  }

  function setDataImpl(instance, wrapper) {
    return realm.fn(function setData(patch, cb) {
      if (!patch || typeof patch !== 'object') throw new Error('setData expects an object');
      wrapper.setDataCalls += 1;
      for (const key of Object.keys(patch)) {
        const parts = parsePath(key);
        if (!parts.length) continue;
        // setData data is serialised in WeChat (functions dropped); copy through JSON.
        const value = patch[key] === undefined ? undefined : realm.jsonCopy(patch[key]);
        let target = instance.data;
        for (let i = 0; i < parts.length - 1; i += 1) {
          const p = parts[i];
          if (target[p] === null || typeof target[p] !== 'object') {
            target[p] = typeof parts[i + 1] === 'number' ? new realm.R.Array() : realm.object();
          }
          target = target[p];
        }
        target[parts[parts.length - 1]] = value;
      }
      if (typeof cb === 'function') sim.defer(() => sim.invoke(cb, instance, [], 'setData callback'));
    }, 'setData');
  }

  function openPage(route, query = {}) {
    const r = normalize(route);
    if (!defs.has(r)) {
      loadingRoute = r;
      try { sim.require(`/${r}.js`); } finally { loadingRoute = null; }
      if (!defs.has(r)) throw new Error(`${r}.js did not call Page()`);
    }
    const def = defs.get(r);
    const instance = realm.object();
    // Properties other than data are deep-copied once per instance (functions kept),
    // as WeChat documents, so two instances never share a list.
    for (const k of Object.keys(def)) if (k !== 'data') instance[k] = realm.clone(def[k]);
    instance.data = realm.jsonCopy(def.data || {}) || realm.object();
    instance.route = r;
    const q = {};
    for (const k of Object.keys(query)) q[k] = String(query[k]);
    instance.options = realm.clone(q);

    const wrapper = {
      route: r,
      instance,
      query: q,
      setDataCalls: 0,
      unloaded: false,
      get data() { return instance.data; },
      show() { call(instance, 'onShow', [], `${r}.onShow`); },
      hide() { call(instance, 'onHide', [], `${r}.onHide`); },
      unload() {
        if (wrapper.unloaded) return;
        wrapper.unloaded = true;
        const i = stack.indexOf(wrapper);
        if (i >= 0) stack.splice(i, 1);
        call(instance, 'onUnload', [], `${r}.onUnload`);
      },
    };
    instance.setData = setDataImpl(instance, wrapper);
    stack.push(wrapper);
    call(instance, 'onLoad', [realm.clone(q)], `${r}.onLoad`);
    call(instance, 'onShow', [], `${r}.onShow`);
    return wrapper;
  }

  return {
    globals,
    loadApp,
    openPage,
    stack,
    get app() { return app; },
    // App hide/show also hides/shows the top page, as WeChat does.
    appHidden() { call(app, 'onHide', [], 'App.onHide'); if (stack.length) stack[stack.length - 1].hide(); },
    appShown(opts) { call(app, 'onShow', [realm.clone(opts)], 'App.onShow'); if (stack.length) stack[stack.length - 1].show(); },
    // WeChat reports script errors to App.onError as a string.
    appError(err) { if (app && typeof app.onError === 'function') call(app, 'onError', [String(err && err.stack ? err.stack : err)], 'App.onError'); },
  };
}

module.exports = { createPages, parsePath };
