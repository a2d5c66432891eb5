//! The runtime inside wasm against a scripted fake platform (`wasm-pack test --node`).

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use super::client::Client;
use super::frames::Port;
use super::platform::Platform;
use super::tunnel::TunnelHandle;

#[wasm_bindgen(inline_js = r#"
export function fakePlatform() {
  const f = {
    calls: { request: [], login: 0, getUserInfo: [], checkSession: 0, sockets: [], errors: [], logs: [], aborted: [], progress: [] },
    routes: {},          // url -> (options, n) => result | Promise (throw/reject = wx fail)
    storage: new Map(),
    sessionValid: true,
    hooks: {},
  };
  f.platform = {
    // A promise with the task's abort(), as the adapters give (a route may never answer).
    request(options) {
      f.calls.request.push(JSON.parse(JSON.stringify(options)));
      f.calls.progress.push(typeof options.onProgressUpdate);
      const route = f.routes[options.url];
      const n = f.calls.request.filter((r) => r.url === options.url).length;
      let abort;
      const p = new Promise((resolve, reject) => {
        abort = () => { f.calls.aborted.push(options.url); reject({ errMsg: 'request:fail abort' }); };
        setTimeout(() => {
          if (!route) return reject({ errMsg: 'request:fail no route ' + options.url });
          try { resolve(route(options, n)); } catch (e) { reject(e); }
        }, 0);
      });
      p.abort = abort;
      return p;
    },
    uploadFile(options) { return f.platform.request(options); },
    downloadFile(options) { return f.platform.request(options); },
    login() { f.calls.login++; return Promise.resolve({ code: 'code-' + f.calls.login }); },
    getUserInfo(options) { f.calls.getUserInfo.push(JSON.parse(JSON.stringify(options))); return Promise.resolve({ userInfo: { nickName: '小明' }, encryptedData: 'enc', iv: 'iv' }); },
    checkSession() { f.calls.checkSession++; return Promise.resolve(f.sessionValid); },
    // Storage under the session key, read on every call (js-shim/session.js in the package).
    readSession() { return f.storage.has('session') ? JSON.parse(f.storage.get('session')) : ''; },
    writeSession(v) { if (v === null || v === undefined) f.storage.delete('session'); else f.storage.set('session', JSON.stringify(v)); },
    connectSocket(url, sink, gen) {
      const s = { url, gen, sent: [], closed: false, isOpen: false };
      s.open = () => { s.isOpen = true; sink(gen, 0, null); };
      s.message = (data) => sink(gen, typeof data === 'string' ? 1 : 4, data);
      s.drop = () => { s.isOpen = false; sink(gen, 2, { code: 1006 }); };
      f.calls.sockets.push(s);
      return {
        send(data) { if (!s.isOpen) return false; s.sent.push(data); return true; },
        close() { s.closed = true; s.isOpen = false; },
      };
    },
    onNetworkChange(cb) { f.hooks.network = cb; },
    onAppShow(cb) { f.hooks.appShow = cb; },
    createError(kind, type, message, detail) { return { kind, type, message, detail }; },
    reportError(context, error) { f.calls.errors.push([context, String(error)]); },
    log(record) { f.calls.logs.push(record); },
  };
  return f;
}

// A tunnel's port (js-shim/tunnel-port.js in the package) reduced to what the runtime
// talks to: every socket event goes through the wasm (the port's own fast paths are
// tested in the simulator), the gate is recorded, message packets and events are heard.
export function fakePort() {
  const p = { gates: [], heard: [], core: null, gate: null };
  p.sink = (gen, kind, data) => p.core(gen, kind, data);
  p.attach = (core) => { p.core = core; p.gate(-1, 0, -1, null); };
  p.gate = (deliverGen, maxFrame, sendGen, socket) => {
    p.gates.push({ deliverGen, maxFrame, sendGen, socket: socket !== null });
  };
  p.deliver = (frame, at) => {
    let m;
    try { m = JSON.parse(frame.slice(at)); } catch (e) { return 1; }
    if (typeof m !== 'object' || m === null) return 1;
    if (typeof m.type !== 'string' || m.type === '') return 2;
    p.heard.push([m.type, m.content === undefined ? null : m.content]);
    return 0;
  };
  p.dispatch = (name, payload) => p.heard.push([name, payload === undefined ? null : payload]);
  return p;
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
export function json(v) { return JSON.stringify(v); }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = fakePlatform)]
    fn fake_platform() -> JsValue;
    #[wasm_bindgen(js_name = fakePort)]
    fn fake_port() -> JsValue;
    fn sleep(ms: u32) -> Promise;
    fn json(v: &JsValue) -> String;
}

const MAGIC: &str = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A";

struct Fake(JsValue);

impl Fake {
    fn new() -> Self {
        Fake(fake_platform())
    }
    fn get(&self, path: &[&str]) -> JsValue {
        path.iter().fold(self.0.clone(), |v, k| {
            Reflect::get(&v, &(*k).into()).unwrap()
        })
    }
    fn client(&self) -> Client {
        Client::new(self.get(&["platform"]).unchecked_into::<Platform>())
    }
    /// Script `url` with a JS function body `(options, n) => result`.
    fn route(&self, url: &str, body: &str) {
        let f = js_sys::eval(&["(", body, ")"].concat()).unwrap();
        Reflect::set(&self.get(&["routes"]), &url.into(), &f).unwrap();
    }
    fn count(&self, what: &str) -> u32 {
        self.get(&["calls", what]).as_f64().unwrap() as u32
    }
    fn requests(&self) -> Array {
        self.get(&["calls", "request"]).unchecked_into()
    }
    fn socket(&self, i: u32) -> JsValue {
        Array::from(&self.get(&["calls", "sockets"])).get(i)
    }
    /// Call `method` of socket `i` (`open`, `message`, `drop`).
    fn on_socket(&self, i: u32, method: &str, args: &[JsValue]) -> JsValue {
        self.call(&self.socket(i), method, args)
    }
    /// Logins go to `url`, which answers with the JS function body `answer`.
    fn logs_in_at(&self, client: &Client, url: &str, answer: &str) {
        self.route(url, answer);
        client.set_login_url(url.into()).unwrap();
    }
    /// What the platform's `readSession()` returns.
    fn stored_session(&self) -> JsValue {
        self.call(&self.get(&["platform"]), "readSession", &[])
    }
    /// The platform's `writeSession({ skey })`: a session stored by an earlier run.
    fn store_skey(&self, skey: &str) {
        let session = opts(&[("skey", skey.into())]);
        self.call(&self.get(&["platform"]), "writeSession", &[session]);
    }
    fn call(&self, target: &JsValue, method: &str, args: &[JsValue]) -> JsValue {
        let f: Function = Reflect::get(target, &method.into())
            .unwrap()
            .unchecked_into();
        f.apply(target, &args.iter().collect::<Array>()).unwrap()
    }
}

/// A fresh fake platform and a client of it.
fn setup() -> (Fake, Client) {
    let fake = Fake::new();
    let client = fake.client();
    (fake, client)
}

/// `request(options)` with no handle (nothing to abort, no progress).
fn req(client: &Client, options: JsValue) -> Promise {
    client.request(options, JsValue::UNDEFINED)
}

async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

async fn pause(ms: u32) {
    JsFuture::from(sleep(ms)).await.unwrap();
}

fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

fn field(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

/// A string field (`None`: missing or not a string).
fn text(v: &JsValue, k: &str) -> Option<String> {
    field(v, k).as_string()
}

fn port() -> (Port, JsValue) {
    let p = fake_port();
    (p.clone().unchecked_into(), p)
}

/// Request options for `url`.
fn at(url: &str) -> JsValue {
    opts(&[("url", url.into())])
}

/// Request options for `url`, with `login: true`.
fn with_login(url: &str) -> JsValue {
    opts(&[("url", url.into()), ("login", true.into())])
}

/// The port's gate as it stands: `[deliverGen, sendGen, socket]`.
fn gate(port: &JsValue) -> String {
    let gates = Array::from(&field(port, "gates"));
    let g = gates.get(gates.length() - 1);
    json(
        &Array::of3(
            &field(&g, "deliverGen"),
            &field(&g, "sendGen"),
            &field(&g, "socket"),
        )
        .into(),
    )
}

/// Handshake answers for `https://x/tunnel`: always socket 1, or socket n for the n-th.
const ONE_SOCKET: &str = "() => ({ statusCode: 200, data: { url: 'wss://t/1' } })";
const A_SOCKET_PER_ATTEMPT: &str = "(o, n) => ({ statusCode: 200, data: { url: 'wss://t/' + n } })";

/// A tunnel at `https://x/tunnel`, whose handshake `answer`s, with its fake port.
fn tunnel(fake: &Fake, client: &Client, answer: &str, options: JsValue) -> (TunnelHandle, JsValue) {
    fake.route("https://x/tunnel", answer);
    let (p, port) = port();
    let t = client
        .tunnel("https://x/tunnel".into(), options, JsValue::UNDEFINED, p)
        .unwrap();
    (t, port)
}

/// Tunnel options: the first reconnect attempt after about `ms`.
fn reconnect_after(ms: u32) -> JsValue {
    opts(&[("reconnectBaseDelay", ms.into())])
}

/// `open()`, then the first socket opens.
async fn open_first_socket(fake: &Fake, t: &TunnelHandle) {
    t.open();
    pause(10).await;
    fake.on_socket(0, "open", &[]);
}

const WAFER1_LOGIN: &str = r#"(o, n) => ({ statusCode: 200, data: {
    'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A': 1, session: { id: 'id' + n, skey: 'skey' + n } } })"#;

/// A client that logs in at `https://x/login`, a Wafer 1 server.
fn wafer1_client() -> (Fake, Client) {
    let (fake, client) = setup();
    fake.logs_in_at(&client, "https://x/login", WAFER1_LOGIN);
    (fake, client)
}

/// `login()`, which succeeds: the user info.
async fn login(client: &Client) -> JsValue {
    settle(client.login(JsValue::UNDEFINED)).await.unwrap()
}

#[wasm_bindgen_test]
async fn wafer1_login_stores_the_official_shape() {
    let (fake, client) = wafer1_client();
    let user = login(&client).await;
    assert_eq!(text(&user, "nickName").as_deref(), Some("小明"));
    let stored = fake.stored_session();
    assert_eq!(
        json(&stored),
        r#"{"id":"id1","skey":"skey1","userInfo":{"nickName":"小明"}}"#
    );
    let login_request = fake.requests().get(0);
    let header = field(&login_request, "header");
    assert_eq!(
        json(&header),
        r#"{"X-WX-Code":"code-1","X-WX-Encrypted-Data":"enc","X-WX-IV":"iv"}"#
    );
    assert_eq!(
        json(&client.build_session_header().into()),
        r#"{"X-WX-Id":"id1","X-WX-Skey":"skey1"}"#
    );
}

#[wasm_bindgen_test]
async fn concurrent_logins_share_one_wx_login() {
    let (fake, client) = wafer1_client();
    let all: Array = (0..8).map(|_| client.login(JsValue::UNDEFINED)).collect();
    let users = settle(Promise::all(&all)).await.unwrap();
    assert_eq!(Array::from(&users).length(), 8);
    assert_eq!(fake.count("login"), 1);
    assert_eq!(fake.requests().length(), 1);
    // A valid stored session costs no login at all.
    login(&client).await;
    assert_eq!(fake.count("login"), 1);
    assert_eq!(fake.count("checkSession"), 1);
}

#[wasm_bindgen_test]
async fn the_stored_session_is_read_on_every_use() {
    let (fake, client) = wafer1_client();
    login(&client).await;
    let storage = fake.get(&["storage"]);
    let plant = |text: &str| {
        fake.call(&storage, "set", &["session".into(), text.into()]);
    };
    // Written by other code: used at once.
    plant(r#"{"id":"other","skey":"k2"}"#);
    assert_eq!(
        json(&client.build_session_header().into()),
        r#"{"X-WX-Id":"other","X-WX-Skey":"k2"}"#
    );
    // Corrupt values and a cleared storage: no session.
    for corrupt in ["42", r#""not a session""#, "{}"] {
        plant(corrupt);
        assert_eq!(
            json(&client.build_session_header().into()),
            "{}",
            "{corrupt}"
        );
    }
    fake.call(&storage, "clear", &[]);
    assert_eq!(json(&client.build_session_header().into()), "{}");
    // ...so request({ login: true }) logs in again.
    fake.route(
        "https://x/user",
        "(o) => ({ statusCode: 200, data: { code: 0, id: o.header['X-WX-Id'] } })",
    );
    let res = settle(req(&client, with_login("https://x/user")))
        .await
        .unwrap();
    assert_eq!(json(&field(&res, "data")), r#"{"code":0,"id":"id2"}"#);
    assert_eq!(fake.count("login"), 2);
}

const WAFER2_LOGIN: &str =
    "(o, n) => ({ statusCode: 200, data: { code: 0, data: { skey: 'k' + n, userinfo: { n } } } })";

/// A client that logs in at `https://x/weapp/login`, a Wafer 2 server.
fn wafer2_client() -> (Fake, Client) {
    let (fake, client) = setup();
    fake.logs_in_at(&client, "https://x/weapp/login", WAFER2_LOGIN);
    (fake, client)
}

#[wasm_bindgen_test]
async fn wafer2_login_always_asks_the_server_and_request_login_reuses() {
    let (fake, client) = wafer2_client();
    fake.route(
        "https://x/weapp/user",
        "(o) => ({ statusCode: 200, data: { code: 0, data: o.header['X-WX-Skey'] } })",
    );
    let first = login(&client).await;
    let second = settle(client.login(opts(&[("lang", "zh_CN".into())])))
        .await
        .unwrap();
    assert_eq!(json(&first), r#"{"n":1}"#);
    assert_eq!(
        json(&second),
        r#"{"n":2}"#,
        "the fresh profile, not the stored one"
    );
    assert_eq!(fake.count("login"), 2);
    assert_eq!(fake.count("checkSession"), 0);
    assert_eq!(
        json(&fake.get(&["calls", "getUserInfo"])),
        r#"[{},{"lang":"zh_CN"}]"#
    );
    // request({ login: true }) is answered by the stored session WeChat vouches for.
    let res = settle(req(&client, with_login("https://x/weapp/user")))
        .await
        .unwrap();
    assert_eq!(json(&field(&res, "data")), r#"{"code":0,"data":"k2"}"#);
    assert_eq!(fake.count("login"), 2);
    assert_eq!(fake.count("checkSession"), 1);
}

#[wasm_bindgen_test]
async fn request_login_sends_the_page_credentials() {
    let (fake, client) = wafer2_client();
    let params = opts(&[
        ("code", "button-code".into()),
        ("encryptedData", "e".into()),
        ("iv", "v".into()),
    ]);
    let user = settle(client.request_login(opts(&[("loginParams", params)])))
        .await
        .unwrap();
    assert_eq!(json(&user), r#"{"n":1}"#);
    assert_eq!(
        fake.count("login"),
        0,
        "no wx.login: the page brought its code"
    );
    assert_eq!(
        json(&field(&fake.requests().get(0), "header")),
        r#"{"X-WX-Code":"button-code","X-WX-Encrypted-Data":"e","X-WX-IV":"v"}"#
    );
    let e = settle(client.request_login(opts(&[("loginParams", opts(&[]))])))
        .await
        .unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_INVALID_PARAMS"));
    assert_eq!(text(&e, "kind").as_deref(), Some("LoginError"));
}

#[wasm_bindgen_test]
async fn wafer2_invalid_session_relogins_with_code_and_retries_once() {
    let (fake, client) = wafer2_client();
    fake.route(
        "https://x/weapp/user",
        "(o, n) => n === 1 ? { statusCode: 200, data: { code: -1, error: 'expired' } } : { statusCode: 200, data: { code: 0, data: o.header['X-WX-Skey'] } }",
    );
    login(&client).await;
    let res = settle(req(&client, at("https://x/weapp/user")))
        .await
        .unwrap();
    assert_eq!(json(&field(&res, "data")), r#"{"code":0,"data":"k2"}"#);
    let second_login = fake.requests().get(2);
    assert_eq!(
        json(&field(&second_login, "header")),
        r#"{"X-WX-Code":"code-2"}"#
    );
    assert_eq!(
        fake.get(&["calls", "getUserInfo"])
            .unchecked_into::<Array>()
            .length(),
        1,
        "the retry logs in with the code alone"
    );
}

#[wasm_bindgen_test]
async fn wafer1_second_rejection_fails_with_invalid_session() {
    let (fake, client) = wafer1_client();
    fake.route(
        "https://x/user",
        "() => ({ statusCode: 200, data: { 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A': 1, error: 'ERR_INVALID_SESSION', message: 'gone' } })",
    );
    let err = settle(req(&client, with_login("https://x/user")))
        .await
        .unwrap_err();
    assert_eq!(text(&err, "type").as_deref(), Some("ERR_INVALID_SESSION"));
    assert_eq!(text(&err, "kind").as_deref(), Some("RequestError"));
    assert_eq!(text(&err, "detail").as_deref(), Some("gone"));
    assert_eq!(fake.count("login"), 2, "one login, one re-login, no more");
    let stored = fake.stored_session();
    assert_eq!(
        stored.as_string().as_deref(),
        Some(""),
        "the rejected session is cleared"
    );
    let _ = MAGIC;
}

#[wasm_bindgen_test]
async fn bad_input_is_a_typed_error() {
    let (_fake, client) = setup();
    let e = client
        .configure(opts(&[("queueLimit", (-1.0).into())]))
        .unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_INVALID_PARAMS"));
    let e = client
        .configure(opts(&[("protocol", "wafer3".into())]))
        .unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_INVALID_PARAMS"));
    let e = client.configure(opts(&[("logger", 5.into())])).unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_INVALID_PARAMS"));
    let e = settle(client.login(JsValue::UNDEFINED)).await.unwrap_err();
    assert_eq!(text(&e, "kind").as_deref(), Some("LoginError"));
    let e = settle(req(&client, opts(&[]))).await.unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_INVALID_PARAMS"));
    let e = settle(req(&client, at("https://nowhere")))
        .await
        .unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_REQUEST_FAILED"));
    assert!(client
        .tunnel("".into(), JsValue::UNDEFINED, JsValue::UNDEFINED, port().0)
        .is_err());
    assert!(client
        .tunnel(
            "https://x/t".into(),
            opts(&[("heartbeatInterval", "fast".into())]),
            JsValue::UNDEFINED,
            port().0,
        )
        .is_err());
}

fn message(e: &JsValue) -> String {
    field(e, "message").as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn errors_name_the_field_that_did_not_fit() {
    let (_fake, client) = setup();
    let e = client
        .configure(opts(&[("queueLimit", "7".into())]))
        .unwrap_err();
    assert_eq!(message(&e), "参数错误：queueLimit must be a number");
    let e = client.configure(opts(&[("debug", 1.into())])).unwrap_err();
    assert_eq!(message(&e), "参数错误：debug must be a boolean");
    let given = opts(&[("loginParams", opts(&[("code", 5.into())]))]);
    let e = settle(client.request_login(given)).await.unwrap_err();
    assert_eq!(text(&e, "kind").as_deref(), Some("LoginError"));
    assert_eq!(message(&e), "参数错误：loginParams.code must be a string");
    let e = client
        .tunnel(
            "https://x/t".into(),
            JsValue::UNDEFINED,
            opts(&[("MAX_RECONNECT_TRY_TIMES", "3".into())]),
            port().0,
        )
        .err()
        .unwrap();
    assert_eq!(
        message(&e),
        "参数错误：MAX_RECONNECT_TRY_TIMES must be a number"
    );
}

#[wasm_bindgen_test]
async fn hostile_objects_are_typed_failures_and_the_client_keeps_working() {
    let (fake, client) = setup();
    fake.route(
        "https://x/echo",
        "(o) => ({ statusCode: 200, data: { header: o.header } })",
    );
    let proxy = js_sys::eval(
        "new Proxy({}, { ownKeys() { throw new Error('trap'); }, get() { throw new Error('trap'); } })",
    )
    .unwrap();
    let e = settle(req(
        &client,
        opts(&[("url", "https://x/echo".into()), ("header", proxy.clone())]),
    ))
    .await
    .unwrap_err();
    assert_eq!(message(&e), "参数错误：header could not be read: trap");
    let e = settle(req(&client, proxy.clone())).await.unwrap_err();
    assert_eq!(message(&e), "参数错误：options could not be read: trap");
    let e = client.configure(proxy.clone()).unwrap_err();
    assert!(
        message(&e).contains("could not be read: trap"),
        "{}",
        message(&e)
    );
    let e = settle(client.login(proxy.clone())).await.unwrap_err();
    assert_eq!(text(&e, "kind").as_deref(), Some("LoginError"));
    assert!(client
        .tunnel("https://x/t".into(), proxy, JsValue::UNDEFINED, port().0)
        .is_err());
    // Nothing was left half-done: a normal request goes through.
    let res = settle(req(
        &client,
        opts(&[
            ("url", "https://x/echo".into()),
            ("header", opts(&[("a", "1".into())])),
        ]),
    ))
    .await
    .unwrap();
    assert_eq!(json(&field(&field(&res, "data"), "header")), r#"{"a":"1"}"#);
}

/// A `Proxy` whose every trap throws, a revoked one (`Array.isArray` throws on it), and
/// an array holding the first: where a number, a string or an object belongs.
#[wasm_bindgen_test]
async fn hostile_values_in_fields_are_errors_naming_the_field() {
    let (fake, client) = setup();
    fake.route("https://x/echo", "(o) => ({ statusCode: 200, data: {} })");
    fake.route("https://x/login", WAFER1_LOGIN);
    client
        .configure(opts(&[("loginUrl", "https://x/login".into())]))
        .unwrap();
    let proxy = js_sys::eval(
        "(() => { const boom = () => { throw new Error('trap'); }; return new Proxy({}, \
         { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, \
           getPrototypeOf: boom }); })()",
    )
    .unwrap();
    let revoked = js_sys::eval(
        "(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; })()",
    )
    .unwrap();
    let in_array: JsValue = Array::of1(&proxy).into();
    for (value, what) in [
        (&proxy, "proxy"),
        (&revoked, "revoked"),
        (&in_array, "array"),
    ] {
        let e = client
            .configure(opts(&[("queueLimit", value.clone())]))
            .unwrap_err();
        assert_eq!(
            message(&e),
            "参数错误：queueLimit must be a number",
            "{what}"
        );
        let e = client
            .configure(opts(&[("debug", value.clone())]))
            .unwrap_err();
        assert_eq!(message(&e), "参数错误：debug must be a boolean", "{what}");
        let e = client
            .tunnel(
                "https://x/t".into(),
                opts(&[("heartbeatInterval", value.clone())]),
                opts(&[("MAX_RECONNECT_TRY_TIMES", value.clone())]),
                port().0,
            )
            .err()
            .unwrap();
        assert_eq!(
            message(&e),
            "参数错误：heartbeatInterval must be a number",
            "{what}"
        );
        let e = settle(req(&client, opts(&[("url", value.clone())])))
            .await
            .unwrap_err();
        assert_eq!(message(&e), "参数错误：url must be a string", "{what}");
        let e = settle(client.login(opts(&[("loginUrl", value.clone())])))
            .await
            .unwrap_err();
        assert_eq!(message(&e), "参数错误：loginUrl must be a string", "{what}");
        let given = opts(&[("loginParams", opts(&[("code", value.clone())]))]);
        let e = settle(client.request_login(given)).await.unwrap_err();
        assert_eq!(
            message(&e),
            "参数错误：loginParams.code must be a string",
            "{what}"
        );
    }
    let e = settle(client.request_login(opts(&[("loginParams", proxy.clone())])))
        .await
        .unwrap_err();
    assert_eq!(message(&e), "参数错误：loginParams could not be read: trap");
    // A function is an object too: its members are read the same way.
    let function = js_sys::eval(
        "new Proxy(function f() {}, { get() { throw new Error('trap'); }, \
         ownKeys() { throw new Error('trap'); } })",
    )
    .unwrap();
    let e = settle(client.request_login(function)).await.unwrap_err();
    assert_eq!(message(&e), "参数错误：options could not be read: trap");
    assert_eq!(fake.count("login"), 0);
    assert_eq!(fake.requests().length(), 0);
    // Only tested for truthiness, or passed on: a Proxy as `login` logs in first; as a
    // login's `data` it is handed to the platform as it is (whose copy of the options
    // cannot serialize it: a failed login, not an exception).
    let res = settle(req(
        &client,
        opts(&[("url", "https://x/echo".into()), ("login", proxy.clone())]),
    ))
    .await
    .unwrap();
    assert_eq!(field(&res, "statusCode").as_f64(), Some(200.0));
    assert_eq!(fake.count("login"), 1);
    Reflect::set(&fake.0, &"sessionValid".into(), &false.into()).unwrap();
    let e = settle(client.login(opts(&[("data", proxy)])))
        .await
        .unwrap_err();
    assert_eq!(text(&e, "kind").as_deref(), Some("LoginError"));
    let res = settle(req(&client, at("https://x/echo"))).await.unwrap();
    assert_eq!(field(&res, "statusCode").as_f64(), Some(200.0));
}

/// Reading answers and storage makes no JavaScript `Error` (serde-wasm-bindgen's errors
/// are `Error`s: a megabyte of text formatted into one took 20 ms a request).
#[wasm_bindgen_test]
async fn answers_of_any_shape_are_read_without_making_errors() {
    let (fake, client) = setup();
    let big = "'x'.repeat(100000)";
    for (url, data) in [
        ("https://x/text", big),
        ("https://x/number", "5"),
        ("https://x/array", "[1, 2]"),
        (
            "https://x/object",
            "{ code: 0, data: 'ok', session: 7, message: {} }",
        ),
        ("https://x/empty", "''"),
    ] {
        fake.route(
            url,
            &["() => ({ statusCode: 200, data: ", data, " })"].concat(),
        );
    }
    let made = js_sys::eval(
        "(() => { const Real = globalThis.Error; const made = { count: 0, restore() { globalThis.Error = Real; } }; \
         globalThis.Error = new Proxy(Real, { construct(t, a) { made.count++; return Reflect.construct(t, a); }, \
         apply(t, self, a) { made.count++; return Reflect.apply(t, self, a); } }); return made; })()",
    )
    .unwrap();
    let mut ok = 0;
    for url in ["text", "number", "array", "object", "empty"] {
        let url = ["https://x/", url].concat();
        let res = settle(req(&client, opts(&[("url", url.into())]))).await;
        ok += u32::from(res.is_ok());
    }
    let count = field(&made, "count").as_f64();
    let restore: Function = field(&made, "restore").unchecked_into();
    restore.call0(&made).unwrap();
    assert_eq!(ok, 5);
    assert_eq!(count, Some(0.0), "Errors made while reading answers");
}

#[wasm_bindgen_test]
async fn storage_garbage_reads_as_no_session() {
    let fake = Fake::new();
    for planted in [
        r#""weapp""#,
        "42",
        r#"{"skey":5}"#,
        r#"{"id":{},"skey":"k"}"#,
    ] {
        let storage = fake.get(&["storage"]);
        fake.call(&storage, "set", &["session".into(), planted.into()]);
        let client = fake.client();
        assert_eq!(
            json(&client.build_session_header().into()),
            "{}",
            "{planted}"
        );
    }
}

#[wasm_bindgen_test]
async fn tunnel_connects_dispatches_and_closes() {
    let (fake, client) = setup();
    let (t, port) = tunnel(
        &fake,
        &client,
        ONE_SOCKET,
        opts(&[("heartbeatInterval", 100.into())]),
    );
    assert_eq!(gate(&port), "[-1,-1,false]", "shut until ACTIVE");
    assert!(t.emit(r#"message:{"type":"early","content":1}"#.into()));
    t.open();
    assert_eq!(t.status(), "CONNECTING");
    pause(10).await;
    let socket = fake.socket(0);
    assert_eq!(text(&socket, "url").as_deref(), Some("wss://t/1"));
    fake.call(&socket, "open", &[]);
    assert_eq!(t.status(), "ACTIVE");
    assert_eq!(
        json(&field(&socket, "sent")),
        r#"["message:{\"type\":\"early\",\"content\":1}"]"#
    );
    // ACTIVE with nothing queued: the port delivers socket 1's data frames and sends emits
    // on it itself.
    assert_eq!(gate(&port), "[1,1,true]");
    let frames = [
        r#"message:{"type":"speak","content":{"w":"你好😀"}}"#,
        r#"message:{"type":"connect"}"#,
    ];
    for f in frames {
        fake.call(&socket, "message", &[f.into()]);
    }
    for junk in [
        "message:{oops",
        "message:[]",
        "pong:",
        "xyz",
        "message:{\"content\":1}",
    ] {
        fake.call(&socket, "message", &[junk.into()]);
    }
    fake.call(&socket, "message", &[Object::new().into()]);
    assert_eq!(t.status(), "ACTIVE");
    assert_eq!(
        json(&field(&port, "heard")),
        r#"[["connect",null],["speak",{"w":"你好😀"}],["connect",null]]"#,
        "the port hears the event and the message packets (it names them: @connect)"
    );
    // The heartbeat pings after an interval.
    pause(180).await;
    assert!(json(&field(&socket, "sent")).contains("\"ping\""));
    t.close();
    assert_eq!(t.status(), "CLOSED");
    assert_eq!(gate(&port), "[-1,-1,false]", "shut once CLOSED");
    assert!(json(&field(&socket, "sent")).ends_with(r#""close"]"#));
    assert!(field(&socket, "closed").is_truthy());
    assert_eq!(
        Array::from(&field(&port, "heard")).length(),
        4,
        "close event"
    );
    // Content the port could not encode.
    assert!(!t.emit(JsValue::UNDEFINED));
    assert_eq!(
        json(&Array::from(&field(&port, "heard")).get(4)),
        r#"["error",{"code":4002,"message":"消息内容无法序列化为 JSON，消息未发送","detail":null}]"#
    );
}

#[wasm_bindgen_test]
async fn tunnel_reconnects_with_a_fresh_handshake_after_a_drop() {
    let (fake, client) = setup();
    let (t, port) = tunnel(&fake, &client, A_SOCKET_PER_ATTEMPT, reconnect_after(20));
    open_first_socket(&fake, &t).await;
    assert_eq!(gate(&port), "[1,1,true]");
    fake.on_socket(0, "drop", &[]);
    assert_eq!(t.status(), "RECONNECTING");
    assert_eq!(gate(&port), "[-1,-1,false]", "shut while reconnecting");
    assert!(t.emit(r#"message:{"type":"queued","content":null}"#.into()));
    pause(60).await;
    let second = fake.socket(1);
    assert_eq!(text(&second, "url").as_deref(), Some("wss://t/2"));
    fake.call(&second, "open", &[]);
    assert_eq!(t.status(), "ACTIVE");
    assert_eq!(
        gate(&port),
        "[2,2,true]",
        "open again once the queue is drained"
    );
    assert_eq!(
        json(&field(&second, "sent")),
        r#"["message:{\"type\":\"queued\",\"content\":null}"]"#
    );
    // The network coming back skips the back-off.
    fake.call(&second, "drop", &[]);
    let network: Function = fake.get(&["hooks", "network"]).unchecked_into();
    network.call1(&JsValue::NULL, &true.into()).unwrap();
    pause(10).await;
    assert_eq!(fake.requests().length(), 3);
    t.close();
}

#[wasm_bindgen_test]
async fn a_failed_send_of_the_port_is_queued_again_in_order() {
    let (fake, client) = setup();
    let (t, port) = tunnel(&fake, &client, A_SOCKET_PER_ATTEMPT, reconnect_after(10));
    open_first_socket(&fake, &t).await;
    assert!(t.send_failed(1, "message:{\"type\":\"a\"}".into()));
    assert_eq!(t.status(), "RECONNECTING");
    assert_eq!(gate(&port), "[-1,-1,false]");
    assert!(t.emit("message:{\"type\":\"b\"}".into()));
    pause(40).await;
    fake.on_socket(1, "open", &[]);
    assert_eq!(
        json(&field(&fake.socket(1), "sent")),
        r#"["message:{\"type\":\"a\"}","message:{\"type\":\"b\"}"]"#
    );
    t.close();
}

#[wasm_bindgen_test]
async fn the_gate_is_shut_while_logging() {
    let (fake, client) = setup();
    let (t, port) = tunnel(&fake, &client, ONE_SOCKET, JsValue::UNDEFINED);
    open_first_socket(&fake, &t).await;
    assert_eq!(gate(&port), "[1,1,true]");
    client.configure(opts(&[("debug", true.into())])).unwrap();
    assert_eq!(
        gate(&port),
        "[-1,-1,false]",
        "every frame and send is logged"
    );
    fake.on_socket(
        0,
        "message",
        &[r#"message:{"type":"m","content":2}"#.into()],
    );
    assert!(t.emit(r#"message:{"type":"x","content":1}"#.into()));
    let logs = json(&fake.get(&["calls", "logs"]));
    assert!(
        logs.contains(r#""event":"packet-in","kind":"message""#),
        "{logs}"
    );
    assert!(
        logs.contains(r#""event":"packet-out","kind":"message""#),
        "{logs}"
    );
    assert!(json(&field(&port, "heard")).ends_with(r#"["m",2]]"#));
    client.configure(opts(&[("debug", false.into())])).unwrap();
    assert_eq!(gate(&port), "[1,1,true]");
    t.close();
}

#[wasm_bindgen_test]
async fn logger_gets_records_without_secrets() {
    let (fake, client) = setup();
    client.configure(opts(&[("debug", true.into())])).unwrap();
    fake.logs_in_at(&client, "https://x/login", WAFER1_LOGIN);
    login(&client).await;
    let (t, _port) = tunnel(&fake, &client, ONE_SOCKET, JsValue::UNDEFINED);
    open_first_socket(&fake, &t).await;
    t.emit(r#"message:{"type":"secret-type","content":"top secret content"}"#.into());
    t.close();
    let logs = json(&fake.get(&["calls", "logs"]));
    assert!(logs.contains(r#""event":"state""#), "{logs}");
    assert!(logs.contains(r#""event":"packet-out""#), "{logs}");
    assert!(logs.contains(r#""event":"login-ok""#), "{logs}");
    for secret in ["skey1", "code-1", "top secret", "secret-type"] {
        assert!(!logs.contains(secret), "{secret} leaked: {logs}");
    }
}

/// A function, as the facade's handle of a call.
fn token() -> JsValue {
    js_sys::Function::new_no_args("").into()
}

/// Wait (a few turns) until `ready` holds.
async fn until(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..200 {
        if ready() {
            return;
        }
        pause(1).await;
    }
    panic!("never: {what}");
}

#[wasm_bindgen_test]
async fn an_abort_during_the_relogin_cancels_login_and_retry_and_fails_at_once() {
    let (fake, client) = setup();
    fake.route(
        "https://x/weapp/user",
        "(o) => ({ statusCode: 200, data: { code: -1, error: 'expired' } })",
    );
    // The login request never answers on its own.
    fake.logs_in_at(
        &client,
        "https://x/weapp/login",
        "() => new Promise(() => {})",
    );
    fake.store_skey("k0");
    let handle = token();
    let call = client.request(at("https://x/weapp/user"), handle.clone());
    until("the login request", || fake.requests().length() == 2).await;
    client.abort(handle);
    let e = settle(call).await.unwrap_err();
    assert_eq!(text(&e, "type").as_deref(), Some("ERR_REQUEST_ABORTED"));
    assert_eq!(
        json(&fake.get(&["calls", "aborted"])),
        r#"["https://x/weapp/login"]"#
    );
    pause(5).await;
    assert_eq!(fake.requests().length(), 2, "no retry");
    // No login is left running: the next one leads at once (and answers this time).
    fake.route("https://x/weapp/login", WAFER2_LOGIN);
    fake.route(
        "https://x/weapp/user",
        "(o) => ({ statusCode: 200, data: { code: 0 } })",
    );
    let res = settle(req(&client, with_login("https://x/weapp/user")))
        .await
        .unwrap();
    assert_eq!(status(&res), 200);
    assert_eq!(fake.count("login"), 2);
    // Aborting what is over, or with no handle, changes nothing.
    client.abort(JsValue::UNDEFINED);
    client.abort(token());
}

fn status(res: &JsValue) -> u32 {
    field(res, "statusCode").as_f64().unwrap_or_default() as u32
}

#[wasm_bindgen_test]
async fn aborting_one_caller_of_a_shared_login_fails_nobody_else() {
    let (fake, client) = setup();
    // The login answers only after the first caller aborted.
    fake.logs_in_at(
        &client,
        "https://x/weapp/login",
        "(o, n) => new Promise((r) => setTimeout(() => r({ statusCode: 200, data: { code: 0, data: { skey: 'k' + n, userinfo: {} } } }), 20))",
    );
    fake.route(
        "https://x/weapp/user",
        "(o) => ({ statusCode: 200, data: { code: 0, skey: o.header['X-WX-Skey'] } })",
    );
    let (a, b) = (token(), token());
    let with_login = |t: &JsValue| client.request(with_login("https://x/weapp/user"), t.clone());
    let first = with_login(&a);
    let second = with_login(&b);
    until("the login request", || fake.requests().length() == 1).await;
    client.abort(a);
    assert_eq!(
        text(&settle(first).await.unwrap_err(), "type").as_deref(),
        Some("ERR_REQUEST_ABORTED")
    );
    let res = settle(second).await.unwrap();
    assert_eq!(json(&field(&res, "data")), r#"{"code":0,"skey":"k1"}"#);
    assert_eq!(json(&fake.get(&["calls", "aborted"])), "[]");
    assert_eq!(fake.requests().length(), 2, "one login, one request");
}

#[wasm_bindgen_test]
async fn base_url_and_default_headers_under_the_caller_and_the_session() {
    let (fake, client) = setup();
    fake.route(
        "https://x/api/user",
        "() => ({ statusCode: 200, data: {} })",
    );
    fake.route("https://y/raw", "() => ({ statusCode: 200, data: {} })");
    let defaults = opts(&[
        ("baseUrl", "https://x/api/".into()),
        (
            "header",
            opts(&[("X-App", "a".into()), ("content-type", "text/plain".into())]),
        ),
    ]);
    client.configure(defaults).unwrap();
    fake.store_skey("k0");
    let header = opts(&[
        ("Content-Type", "application/json".into()),
        ("x-wx-skey", "mine".into()),
    ]);
    settle(req(
        &client,
        opts(&[("url", "/user".into()), ("header", header)]),
    ))
    .await
    .unwrap();
    settle(req(&client, at("https://y/raw"))).await.unwrap();
    let sent = fake.requests();
    assert_eq!(json(&field(&sent.get(0), "url")), r#""https://x/api/user""#);
    assert_eq!(
        json(&field(&sent.get(0), "header")),
        r#"{"X-App":"a","Content-Type":"application/json","X-WX-Skey":"k0"}"#
    );
    assert_eq!(json(&field(&sent.get(1), "url")), r#""https://y/raw""#);
    assert_eq!(
        json(&field(&sent.get(1), "header")),
        r#"{"X-App":"a","content-type":"text/plain","X-WX-Skey":"k0"}"#
    );
    // A bad value changes nothing; null removes the defaults.
    let bad = opts(&[("header", 5.into()), ("baseUrl", "https://z".into())]);
    assert!(client.configure(bad).is_err());
    client
        .configure(opts(&[("header", JsValue::NULL), ("baseUrl", "".into())]))
        .unwrap();
    let e = settle(req(&client, at("/user"))).await.unwrap_err();
    assert_eq!(
        error_text(&e),
        "request:fail no route /user",
        "a relative URL without baseUrl goes out as given"
    );
    assert_eq!(
        json(&field(&fake.requests().get(2), "header")),
        r#"{"X-WX-Skey":"k0"}"#
    );
}

fn error_text(e: &JsValue) -> String {
    field(e, "detail")
        .as_string()
        .or_else(|| field(e, "errMsg").as_string())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn downloads_relogin_on_401_and_hand_progress_to_the_handle() {
    let (fake, client) = wafer2_client();
    fake.route(
        "https://x/file",
        "(o, n) => ({ statusCode: n === 1 ? 401 : 200, tempFilePath: 'http://tmp/' + o.header['X-WX-Skey'] })",
    );
    fake.store_skey("k0");
    let res = settle(client.download_file(at("https://x/file"), token()))
        .await
        .unwrap();
    assert_eq!(json(&field(&res, "tempFilePath")), r#""http://tmp/k1""#);
    assert_eq!(fake.count("login"), 1);
    // Progress goes to the handle for transfers; a request gets none.
    settle(req(&client, at("https://x/file"))).await.unwrap();
    assert_eq!(
        json(&fake.get(&["calls", "progress"])),
        r#"["function","undefined","function","undefined"]"#
    );
}
