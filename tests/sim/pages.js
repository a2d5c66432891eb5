'use strict';
// Minimal App/Page framework: enough to load a demo mini-program and drive its
// pages from tests. No rendering; setData merges into `data` (with WeChat's
// 'a.b' / 'list[0]' path keys) and calls its callback asynchronously.
//
// A page is defined with Page() or, as WeChat allows, with Component() (page life cycle
// in `methods`; what uni-app emits). Component() outside a page load registers a custom
// component, which is never instantiated: nothing renders WXML here.

function parsePath(key) {
  // 'a.b[0].c' -> ['a', 'b', 0, 'c']
  const out = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(key))) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return out;
}

/** Default value of a component property of `type` (a constructor or null). */
function propertyDefault(type) {
  switch (type && type.name) {
    case 'String': return '';
    case 'Number': return 0;
    case 'Boolean': return false;
    case 'Array': return [];
    default: return null; // Object and null (any type)
  }
}

/** A page query value (always a string) as a property of `type`. */
function propertyFromQuery(type, text) {
  switch (type && type.name) {
    case 'Number': return Number(text);
    case 'Boolean': return text !== '' && text !== 'false' && text !== '0';
    default: return text;
  }
}

const LIFETIMES = ['created', 'attached', 'ready', 'moved', 'detached', 'error'];
const PAGE_LIFETIMES = ['show', 'hide', 'resize'];
// Behaviors built into the base library; none of them matters without rendering.
const BUILTIN_BEHAVIOR = /^wx:\/\//;

function createPages(sim) {
  const realm = sim.realm;
  const defs = new Map(); // route -> { kind: 'page' | 'component', def }
  const components = []; // Component() definitions registered outside a page load
  const behaviors = new Set(); // Behavior() results
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
      defs.set(loadingRoute, { kind: 'page', def: obj && typeof obj === 'object' ? obj : realm.object() });
    },
    Component(obj) {
      const def = obj && typeof obj === 'object' ? obj : realm.object();
      if (loadingRoute) defs.set(loadingRoute, { kind: 'component', def });
      else components.push(def);
    },
    Behavior(obj) {
      const def = obj && typeof obj === 'object' ? obj : realm.object();
      behaviors.add(def);
      return def;
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
      if (!defs.has(r)) throw new Error(`${r}.js did not call Page() or Component()`);
    }
    const { kind, def } = defs.get(r);
    return kind === 'component' ? openComponentPage(r, def, query) : openPlainPage(r, def, query);
  }

  /** A page's query as WeChat hands it over: every value a string. */
  function stringQuery(query) {
    const q = {};
    for (const k of Object.keys(query)) q[k] = String(query[k]);
    return q;
  }

  /**
   * What a test holds of an open page (plain or component): show / hide / unload call the
   * page's handler, then `then`'s (a component page's lifetimes).
   */
  function pageWrapper(r, instance, q, then = {}) {
    const wrapper = {
      route: r,
      instance,
      query: q,
      setDataCalls: 0,
      unloaded: false,
      get data() { return instance.data; },
      show() { call(instance, 'onShow', [], `${r}.onShow`); if (then.show) then.show(); },
      hide() { call(instance, 'onHide', [], `${r}.onHide`); if (then.hide) then.hide(); },
      unload() {
        if (wrapper.unloaded) return;
        wrapper.unloaded = true;
        const i = stack.indexOf(wrapper);
        if (i >= 0) stack.splice(i, 1);
        call(instance, 'onUnload', [], `${r}.onUnload`);
        if (then.unload) then.unload();
      },
    };
    instance.setData = setDataImpl(instance, wrapper);
    return wrapper;
  }

  function openPlainPage(r, def, query) {
    const instance = realm.object();
    // Properties other than data are deep-copied once per instance (functions kept),
    // as WeChat documents, so two instances never share a list.
    for (const k of Object.keys(def)) if (k !== 'data') instance[k] = realm.clone(def[k]);
    instance.data = realm.jsonCopy(def.data || {}) || realm.object();
    instance.route = r;
    const q = stringQuery(query);
    instance.options = realm.clone(q);

    const wrapper = pageWrapper(r, instance, q);
    stack.push(wrapper);
    call(instance, 'onLoad', [realm.clone(q)], `${r}.onLoad`);
    call(instance, 'onShow', [], `${r}.onShow`);
    // After the first render, which happens on a later turn.
    sim.defer(() => { if (!wrapper.unloaded) call(instance, 'onReady', [], `${r}.onReady`); });
    return wrapper;
  }

  /**
   * A definition with its behaviors applied, as WeChat merges them: behaviors first (depth
   * first), the component's own fields override; life-cycle functions of all of them run,
   * behaviors' first.
   */
  function flatten(def, seen = new Set()) {
    const out = { properties: {}, data: {}, methods: {}, observers: {}, lifetimes: {}, pageLifetimes: {} };
    const add = (table, name, fn) => {
      if (typeof fn === 'function') (table[name] = table[name] || []).push(fn);
    };
    const list = def.behaviors;
    for (const b of list && typeof list.length === 'number' ? Array.from(list) : []) {
      if (typeof b === 'string' && BUILTIN_BEHAVIOR.test(b)) continue;
      if (!behaviors.has(b)) throw new Error(`Component(): ${String(b)} is not a Behavior()`);
      if (seen.has(b)) continue;
      seen.add(b);
      const inner = flatten(b, seen);
      for (const k of ['properties', 'data', 'methods', 'observers']) Object.assign(out[k], inner[k]);
      for (const k of ['lifetimes', 'pageLifetimes']) for (const n of Object.keys(inner[k])) for (const fn of inner[k][n]) add(out[k], n, fn);
    }
    for (const k of ['properties', 'methods', 'observers']) if (def[k]) Object.assign(out[k], def[k]);
    if (def.data) Object.assign(out.data, def.data);
    // `lifetimes` wins over the old top-level `created`/`attached`/... of the same definition.
    for (const n of LIFETIMES) add(out.lifetimes, n, def.lifetimes && typeof def.lifetimes[n] === 'function' ? def.lifetimes[n] : def[n]);
    for (const n of PAGE_LIFETIMES) add(out.pageLifetimes, n, def.pageLifetimes && def.pageLifetimes[n]);
    return out;
  }

  function openComponentPage(r, def, query) {
    const flat = flatten(def);
    const instance = realm.object();
    // this.data and this.properties are one object; properties come first, then data.
    const data = realm.object();
    const types = {};
    for (const name of Object.keys(flat.properties)) {
      const p = flat.properties[name];
      const full = p && typeof p === 'object';
      types[name] = full ? p.type : p;
      const value = full && p.value !== undefined ? p.value : propertyDefault(types[name]);
      data[name] = realm.jsonCopy(value);
    }
    const own = realm.jsonCopy(flat.data);
    if (own) for (const k of Object.keys(own)) data[k] = own[k];
    const q = stringQuery(query);
    // A page's query fills the properties of the same name.
    for (const k of Object.keys(q)) if (k in types) data[k] = propertyFromQuery(types[k], q[k]);
    instance.data = data;
    instance.properties = data;
    for (const name of Object.keys(flat.methods)) instance[name] = flat.methods[name];
    instance.is = r;
    instance.route = r;
    instance.id = '';
    instance.dataset = realm.object();
    instance.options = realm.clone(q);

    const lifetime = (name, where) => { for (const fn of flat.lifetimes[name] || []) sim.invoke(fn, instance, [], where); };
    const pageLifetime = (name, where) => { for (const fn of flat.pageLifetimes[name] || []) sim.invoke(fn, instance, [], where); };
    const wrapper = pageWrapper(r, instance, q, {
      show: () => pageLifetime('show', `${r}.pageLifetimes.show`),
      hide: () => pageLifetime('hide', `${r}.pageLifetimes.hide`),
      unload: () => lifetime('detached', `${r}.lifetimes.detached`),
    });
    // Events of a page reach no parent component; selectors find nothing (nothing renders).
    instance.triggerEvent = realm.fn(() => undefined, 'triggerEvent');
    instance.selectComponent = realm.fn(() => null, 'selectComponent');
    instance.selectAllComponents = realm.fn(() => new realm.R.Array(), 'selectAllComponents');
    stack.push(wrapper);
    lifetime('created', `${r}.lifetimes.created`);
    lifetime('attached', `${r}.lifetimes.attached`);
    call(instance, 'onLoad', [realm.clone(q)], `${r}.onLoad`);
    wrapper.show();
    sim.defer(() => {
      if (wrapper.unloaded) return;
      lifetime('ready', `${r}.lifetimes.ready`);
      call(instance, 'onReady', [], `${r}.onReady`);
    });
    return wrapper;
  }

  return {
    globals,
    loadApp,
    openPage,
    stack,
    components,
    get app() { return app; },
    // App hide/show also hides/shows the top page, as WeChat does.
    appHidden() { call(app, 'onHide', [], 'App.onHide'); if (stack.length) stack[stack.length - 1].hide(); },
    appShown(opts) { call(app, 'onShow', [realm.clone(opts)], 'App.onShow'); if (stack.length) stack[stack.length - 1].show(); },
    // WeChat reports script errors to App.onError as a string.
    appError(err) { if (app && typeof app.onError === 'function') call(app, 'onError', [String(err && err.stack ? err.stack : err)], 'App.onError'); },
  };
}

module.exports = { createPages, parsePath };
