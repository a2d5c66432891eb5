//! The platform object (`js-shim/platform/*.js`): the only way the runtime reaches
//! the outside world. Every import that runs page-visible JavaScript is `catch`, so a
//! JS exception never unwinds through Rust frames.

use js_sys::{Function, JsString, Object, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The contract is in docs/ARCHITECTURE.md ("Platform contract").
    pub type Platform;

    /// `wx.request(options)` as a promise of its success result; rejects with the
    /// `fail` result (`{ errMsg }`).
    #[wasm_bindgen(method, catch)]
    pub fn request(this: &Platform, options: &Object) -> Result<Promise, JsValue>;

    /// `wx.uploadFile(options)`, like `request`.
    #[wasm_bindgen(method, catch, js_name = uploadFile)]
    pub fn upload_file(this: &Platform, options: &Object) -> Result<Promise, JsValue>;

    /// `wx.downloadFile(options)`, like `request`.
    #[wasm_bindgen(method, catch, js_name = downloadFile)]
    pub fn download_file(this: &Platform, options: &Object) -> Result<Promise, JsValue>;

    /// What `request` & co. return: a promise with the `wx` task's `abort()`.
    pub type Task;

    /// Abort the `wx` task (a promise without `abort`, e.g. `wx.login`'s, throws: ignored).
    #[wasm_bindgen(method, catch)]
    pub fn abort(this: &Task) -> Result<(), JsValue>;

    /// `wx.login()` → `{ code }`.
    #[wasm_bindgen(method, catch)]
    pub fn login(this: &Platform) -> Result<Promise, JsValue>;

    /// `wx.getUserInfo(options)` → `{ userInfo, encryptedData, iv }` (`options`: `{ lang }`).
    #[wasm_bindgen(method, catch, js_name = getUserInfo)]
    pub fn get_user_info(this: &Platform, options: &Object) -> Result<Promise, JsValue>;

    /// `wx.checkSession()` → `true` / `false`.
    #[wasm_bindgen(method, catch, js_name = checkSession)]
    pub fn check_session(this: &Platform) -> Result<Promise, JsValue>;

    /// The stored session value as is, read from storage on every call
    /// (`js-shim/session.js`).
    #[wasm_bindgen(method, catch, js_name = readSession)]
    pub fn read_session(this: &Platform) -> Result<JsValue, JsValue>;

    /// Store the session value (`null`: remove it). A write storage refuses is kept in
    /// memory for this run and reported by the shim.
    #[wasm_bindgen(method, catch, js_name = writeSession)]
    pub fn write_session(this: &Platform, value: &JsValue) -> Result<(), JsValue>;

    /// Open a socket; its events arrive as `sink(gen, kind, data)` with the `SOCKET_*`
    /// kinds below, never synchronously inside this call.
    #[wasm_bindgen(method, catch, js_name = connectSocket)]
    pub fn connect_socket(
        this: &Platform,
        url: &str,
        sink: &Function,
        gen: u32,
    ) -> Result<Socket, JsValue>;

    /// Register `callback(online: boolean)` for network changes (called once).
    #[wasm_bindgen(method, catch, js_name = onNetworkChange)]
    pub fn on_network_change(this: &Platform, callback: &Function) -> Result<(), JsValue>;

    /// Register `callback()` for the app returning to the foreground (called once).
    #[wasm_bindgen(method, catch, js_name = onAppShow)]
    pub fn on_app_show(this: &Platform, callback: &Function) -> Result<(), JsValue>;

    /// Build a `LoginError` / `RequestError` (the facade owns the classes).
    #[wasm_bindgen(method, js_name = createError)]
    pub fn create_error(
        this: &Platform,
        kind: &str,
        ty: &str,
        message: &str,
        detail: &JsValue,
    ) -> JsValue;

    /// Report an exception thrown by page code we called (a listener, the logger).
    #[wasm_bindgen(method, catch, js_name = reportError)]
    pub fn report_error(this: &Platform, context: &str, error: &JsValue) -> Result<(), JsValue>;

    /// The console sink for `configure({ debug: true })`.
    #[wasm_bindgen(method, catch)]
    pub fn log(this: &Platform, record: &JsValue) -> Result<(), JsValue>;

    /// A socket handle from `connectSocket`.
    pub type Socket;

    /// Send a text frame; `false` when the socket cannot take it (not open). Never
    /// throws (the adapter catches), so the hot path skips the exception wrapper.
    #[wasm_bindgen(method)]
    pub fn send(this: &Socket, data: &JsString) -> bool;

    #[wasm_bindgen(method, catch)]
    pub fn close(this: &Socket) -> Result<(), JsValue>;
}

/// Socket event kinds passed to the sink.
pub const SOCKET_OPEN: u32 = 0;
/// A text frame (`data` is a string).
pub const SOCKET_MESSAGE: u32 = 1;
pub const SOCKET_CLOSE: u32 = 2;
pub const SOCKET_ERROR: u32 = 3;
/// A frame that is not text (`data` is an ArrayBuffer or the like).
pub const SOCKET_BINARY: u32 = 4;
