'use strict';
// wx.request, wx.uploadFile and wx.downloadFile over real loopback HTTP (node:http).
//
// Semantics kept from WeChat:
// - success for ANY HTTP status; fail only for transport problems, 'timeout'
//   (default 60 s) and 'abort' (task.abort(), also while queued);
// - at most 10 network tasks in flight, requests, uploads and downloads together; the
//   rest wait, first in first out (WeChat queues them itself since base library 1.4.0);
// - uploads report onProgressUpdate as the body is written, downloads as it arrives
//   (progress, totalBytesSent / totalBytesExpectedToSend, totalBytesWritten /
//   totalBytesExpectedToWrite); a download saves any status's body to a file under the
//   user data directory (tempFilePath http://tmp/..., or the filePath asked for);
// - GET/HEAD object data -> query string; otherwise object data is JSON when the
//   content-type is JSON (the default 'application/json'), a query string for
//   x-www-form-urlencoded; strings and ArrayBuffers are sent as they are;
// - dataType 'json' parses the body when it parses, else gives the raw string;
//   responseType 'arraybuffer' gives an ArrayBuffer; uploadFile data is never parsed;
// - only hosts in the allowed list (loopback by default) are reachable, like
//   WeChat's domain list.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const crypto = require('node:crypto');
const { toBytes } = require('./sandbox');
const { inside } = require('./loader');

function createQueue(limit, onPeak) {
  let active = 0;
  const waiting = [];
  const q = {
    get active() { return active; },
    get waiting() { return waiting.length; },
    push(job) {
      if (active < limit) { active += 1; onPeak(active); job.start(); } else waiting.push(job);
    },
    remove(job) {
      const i = waiting.indexOf(job);
      if (i >= 0) waiting.splice(i, 1);
      return i >= 0;
    },
    release() {
      active -= 1;
      const next = waiting.shift();
      if (next) { active += 1; onPeak(active); next.start(); }
    },
    clear() { waiting.length = 0; },
  };
  return q;
}

function headerLookup(header, name) {
  const lower = name.toLowerCase();
  for (const k of Object.keys(header)) if (k.toLowerCase() === lower) return k;
  return null;
}

function queryString(data) {
  return Object.keys(data).map((k) => {
    const v = data[k];
    const s = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
    return `${encodeURIComponent(k)}=${encodeURIComponent(s)}`;
  }).join('&');
}

// Response headers as the server spelled them (Node lowercases res.headers).
function responseHeaders(res) {
  const header = {};
  const cookies = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i];
    const value = res.rawHeaders[i + 1];
    if (name.toLowerCase() === 'set-cookie') cookies.push(value);
    const existing = headerLookup(header, name);
    if (existing) header[existing] += `, ${value}`; else header[name] = value;
  }
  return { header, cookies };
}

/**
 * The header an app passed, as sent: values as strings, null/undefined left out, Referer
 * dropped (WeChat does not let you set it), and `omit` (lower-case names) dropped too.
 */
function userHeader(given, omit = []) {
  const header = {};
  if (given && typeof given === 'object') {
    for (const k of Object.keys(given)) {
      const lk = k.toLowerCase();
      if (lk === 'referer' || omit.includes(lk)) continue;
      if (given[k] !== undefined && given[k] !== null) header[k] = String(given[k]);
    }
  }
  return header;
}

function createNetwork(sim, options) {
  const agent = new http.Agent({ keepAlive: true });
  const inflight = new Set(); // live job objects (for close())
  // One queue for every network task, as WeChat counts them.
  const queue = createQueue(options.maxNetworkTasks, (n) => {
    if (n > sim.counters.maxConcurrentTasks) sim.counters.maxConcurrentTasks = n;
  });
  let jobCount = 0;
  const count = (api, started) => [...inflight].filter((j) => j.api === api && j.started === started && !j.settled).length;

  function checkUrl(url) {
    let u;
    try { u = new URL(String(url)); } catch (_) { return { error: `invalid url "${url}"` }; }
    if (u.protocol !== 'http:') return { error: `invalid url "${url}" (the simulator speaks plain http on loopback)` };
    if (!sim.isAllowedHost(u.hostname)) return { error: `url not in domain list "${url}"` };
    return { url: u };
  }

  // One HTTP exchange of request, uploadFile or downloadFile. Resolves exactly once with
  // { ok, result } through `finish`. `onResponse` may return a promise (a download
  // writing its file).
  function createJob(api, build, onResponse) {
    jobCount += 1;
    const job = {
      api,
      id: jobCount,
      settled: false,
      req: null,
      timer: null,
      started: false,
      headersListeners: [],
      progressListeners: [],
      finish: null,
    };
    // A progress event, delivered later to the listeners of the moment (none once over).
    job.progress = (event) => {
      sim.defer(() => {
        if (job.settled) return;
        for (const cb of job.progressListeners.slice()) sim.invoke(cb, undefined, [sim.realm.clone(event)], 'onProgressUpdate');
      });
    };
    const done = new Promise((resolve) => { job.finish = resolve; });
    const settle = (outcome) => {
      if (job.settled) return;
      job.settled = true;
      clearTimeout(job.timer);
      inflight.delete(job);
      if (job.started) queue.release(); else queue.remove(job);
      if (job.req) job.req.destroy();
      job.finish(outcome);
    };
    job.fail = (reason) => settle({ ok: false, result: { errMsg: `${api}:fail ${reason}` } });
    job.abort = () => job.fail('abort');
    job.start = () => {
      job.started = true;
      sim.networkLog.push({ api, started: job.id });
      if (api === 'request') {
        const requests = count('request', true);
        if (requests > sim.counters.maxConcurrentRequests) sim.counters.maxConcurrentRequests = requests;
      }
      if (job.settled) { queue.release(); return; }
      let spec;
      try { spec = build(); } catch (e) { job.fail(e.message); return; }
      Promise.resolve(spec).then((s) => {
        if (job.settled) return;
        job.timer = setTimeout(() => job.fail('timeout'), s.timeout);
        const req = http.request({
          agent,
          method: s.method,
          hostname: s.url.hostname,
          port: s.url.port || 80,
          path: s.url.pathname + s.url.search,
          headers: s.headers,
        });
        job.req = req;
        req.on('error', (e) => job.fail(e.message));
        req.on('response', (res) => {
          const chunks = [];
          const { header, cookies } = responseHeaders(res);
          for (const cb of job.headersListeners) {
            sim.defer(() => sim.invoke(cb, undefined, [sim.realm.clone({ header })], 'onHeadersReceived'));
          }
          const expected = Number(res.headers['content-length']) || 0;
          let received = 0;
          res.on('data', (c) => {
            chunks.push(c);
            received += c.length;
            if (s.progress === 'download') {
              const progress = expected ? Math.floor((received * 100) / expected) : 0;
              job.progress({ progress, totalBytesWritten: received, totalBytesExpectedToWrite: expected });
            }
          });
          res.on('error', (e) => job.fail(e.message));
          res.on('end', () => {
            if (job.settled) return;
            Promise.resolve(onResponse({ statusCode: res.statusCode, header, cookies, body: Buffer.concat(chunks) }))
              .then(settle, (e) => job.fail(e.message));
          });
        });
        const body = s.body && s.body.length ? s.body : null;
        if (body && s.progress === 'upload') {
          // Written in pieces, each reported once the socket took it.
          const piece = 16 * 1024;
          for (let at = 0; at < body.length; at += piece) {
            const sent = Math.min(at + piece, body.length);
            req.write(body.subarray(at, sent), () => job.progress({
              progress: Math.floor((sent * 100) / body.length), totalBytesSent: sent, totalBytesExpectedToSend: body.length,
            }));
          }
          req.end();
        } else {
          req.end(body || undefined);
        }
      }).catch((e) => job.fail(e.message)); // bad headers etc. throw synchronously in http.request
    };
    inflight.add(job);
    return { job, done };
  }

  const listen = (list, name) => sim.realm.fn((cb) => { if (typeof cb === 'function') list.push(cb); }, name);
  const unlisten = (list, name) => sim.realm.fn((cb) => {
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  }, name);

  // The task wx returns; uploads and downloads also report progress.
  function makeTask(job, progress) {
    const t = {
      abort: sim.realm.fn(() => { job.abort(); }, 'abort'),
      onHeadersReceived: listen(job.headersListeners, 'onHeadersReceived'),
      offHeadersReceived: unlisten(job.headersListeners, 'offHeadersReceived'),
    };
    if (progress) {
      t.onProgressUpdate = listen(job.progressListeners, 'onProgressUpdate');
      t.offProgressUpdate = unlisten(job.progressListeners, 'offProgressUpdate');
    }
    return sim.realm.object(t);
  }

  // Queue `job` (or fail it at once: offline, closed) and deliver its outcome to `o`.
  function launch(job, done, o) {
    if (!sim.network.online) job.fail('network offline');
    else if (sim.closed) job.fail('simulator closed');
    else queue.push(job);
    done.then(({ ok, result }) => sim.callbacks.deliver(o, ok, result));
  }

  function request(opts) {
    const o = opts && typeof opts === 'object' ? opts : {};
    sim.counters.requests += 1;
    const { job, done } = createJob('request', () => {
      const checked = checkUrl(o.url);
      if (checked.error) throw new Error(checked.error);
      const u = checked.url;
      const method = String(o.method || 'GET').toUpperCase();
      const header = userHeader(o.header);
      let ctKey = headerLookup(header, 'content-type');
      if (!ctKey) { ctKey = 'content-type'; header[ctKey] = 'application/json'; }
      const contentType = header[ctKey].toLowerCase();
      let body = null;
      const data = o.data;
      if (method === 'GET' || method === 'HEAD') {
        let qs = '';
        if (data !== undefined && data !== null) {
          if (typeof data === 'string') qs = data;
          else if (typeof data === 'object' && !toBytes(data)) qs = queryString(data);
        }
        if (qs) u.search = u.search ? `${u.search}&${qs}` : `?${qs}`;
      } else if (data !== undefined && data !== null) {
        const bytes = typeof data === 'string' ? null : toBytes(data);
        if (typeof data === 'string') body = Buffer.from(data);
        else if (bytes) body = bytes;
        else if (contentType.includes('application/x-www-form-urlencoded')) body = Buffer.from(queryString(data));
        else body = Buffer.from(JSON.stringify(data));
      }
      if (body) header['Content-Length'] = String(body.length);
      const url = u.toString();
      sim.requestLog.push({ method, url, header: { ...header }, body: body ? body.toString('utf8') : null });
      return { url: u, method, headers: header, body, timeout: o.timeout > 0 ? o.timeout : 60000 };
    }, ({ statusCode, header, cookies, body }) => {
      let data;
      if (o.responseType === 'arraybuffer') {
        data = new Uint8Array(body); // cloned into a sandbox ArrayBuffer on delivery
      } else {
        const text = body.toString('utf8');
        data = text;
        if ((o.dataType === undefined ? 'json' : o.dataType) === 'json') {
          try { data = JSON.parse(text); } catch (_) { data = text; }
        }
      }
      return { ok: true, result: { data, statusCode, header, cookies, errMsg: 'request:ok' } };
    });
    const task = makeTask(job, false);
    launch(job, done, o);
    return task;
  }

  // 'wxfile://a/b' and 'http://tmp/a/b' name files under sim.userDataPath; an
  // absolute host path must already be inside it.
  function mapFilePath(filePath) {
    if (typeof filePath !== 'string' || !filePath) return null;
    let p;
    const m = /^(?:wxfile:\/\/|http:\/\/tmp\/)(.*)$/.exec(filePath);
    if (m) p = path.resolve(sim.userDataPath, m[1]);
    else if (path.isAbsolute(filePath)) p = path.resolve(filePath);
    else return null;
    return inside(sim.userDataPath, p) ? p : null;
  }

  function uploadFile(opts) {
    const o = opts && typeof opts === 'object' ? opts : {};
    sim.counters.uploads += 1;
    const { job, done } = createJob('uploadFile', async () => {
      const checked = checkUrl(o.url);
      if (checked.error) throw new Error(checked.error);
      if (typeof o.name !== 'string' || !o.name) throw new Error('parameter error: parameter.name should be String');
      const file = mapFilePath(o.filePath);
      if (!file) throw new Error(`file not found: ${o.filePath}`);
      let content;
      try { content = await fs.promises.readFile(file); } catch (_) { throw new Error(`file not found: ${o.filePath}`); }
      const boundary = `----WxSimBoundary${crypto.randomBytes(8).toString('hex')}`;
      const parts = [];
      const formData = o.formData && typeof o.formData === 'object' ? o.formData : {};
      for (const k of Object.keys(formData)) {
        const v = formData[k];
        const s = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
        parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${s}\r\n`));
      }
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${o.name}"; filename="${path.basename(file)}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
      parts.push(content, Buffer.from(`\r\n--${boundary}--\r\n`));
      const body = Buffer.concat(parts);
      const header = userHeader(o.header, ['content-type', 'content-length']);
      header['Content-Type'] = `multipart/form-data; boundary=${boundary}`;
      header['Content-Length'] = String(body.length);
      sim.uploadLog.push({ url: checked.url.toString(), header: { ...header }, name: o.name, filePath: o.filePath, formData: { ...formData }, size: content.length });
      return {
        url: checked.url, method: 'POST', headers: header, body, timeout: o.timeout > 0 ? o.timeout : 60000, progress: 'upload',
      };
    }, ({ statusCode, header, body }) => ({
      ok: true,
      result: { data: body.toString('utf8'), statusCode, header, errMsg: 'uploadFile:ok' },
    }));
    const task = makeTask(job, true);
    launch(job, done, o);
    return task;
  }

  let downloadCount = 0;
  function downloadFile(opts) {
    const o = opts && typeof opts === 'object' ? opts : {};
    sim.counters.downloads += 1;
    let target = null;
    const { job, done } = createJob('downloadFile', () => {
      const checked = checkUrl(o.url);
      if (checked.error) throw new Error(checked.error);
      if (o.filePath !== undefined) {
        target = mapFilePath(o.filePath);
        if (!target) throw new Error(`invalid filePath: ${o.filePath}`);
      }
      const header = userHeader(o.header);
      sim.downloadLog.push({ url: checked.url.toString(), header: { ...header }, filePath: o.filePath });
      return { url: checked.url, method: 'GET', headers: header, body: null, timeout: o.timeout > 0 ? o.timeout : 60000, progress: 'download' };
    }, async ({ statusCode, body }) => {
      // Any status's body is saved, as WeChat does: the app checks statusCode.
      downloadCount += 1;
      const name = `wx-sim-download-${downloadCount}-${crypto.randomBytes(4).toString('hex')}`;
      const file = target || path.join(sim.userDataPath, name);
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(file, body);
      const where = target ? { filePath: o.filePath } : { tempFilePath: `http://tmp/${name}` };
      return { ok: true, result: { ...where, statusCode, errMsg: 'downloadFile:ok' } };
    });
    const task = makeTask(job, true);
    launch(job, done, o);
    return task;
  }

  function close() {
    queue.clear();
    for (const job of [...inflight]) job.fail('abort');
    agent.destroy();
  }

  return {
    wx: { request, uploadFile, downloadFile },
    close,
    stats: () => ({
      active: queue.active,
      queued: queue.waiting,
      requestsActive: count('request', true),
      requestsQueued: count('request', false),
      uploadsActive: count('uploadFile', true),
      uploadsQueued: count('uploadFile', false),
      downloadsActive: count('downloadFile', true),
      downloadsQueued: count('downloadFile', false),
    }),
  };
}

module.exports = { createNetwork };
