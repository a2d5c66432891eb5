//! The API the facade calls (`new Client(platform)`): each method reads its arguments at
//! the boundary, hands them to the session flows or makes a tunnel, and turns the
//! outcome into a promise, a value or a typed error.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use crate::sansio::config::{resolve_tunnel, LegacyKnobs, Options};
use crate::sansio::error::{ErrorKind, SdkError};
use crate::sansio::flows::{Call, Failure, Record, Transfer};
use crate::sansio::login::LoginCall;
use crate::sansio::tunnel::Tunnel;
use crate::sansio::value::Value;

use super::boundary::{copy, decode_options, get, invalid, merge_headers, set, unreadable, view};
use super::env::Env;
use super::flows::{Flows, Outcome};
use super::frames::{Port, Strings};
use super::log::session_record;
use super::platform::Platform;
use super::registry::Registry;
use super::tunnel::{TunnelHandle, TunnelInner};

/// One SDK instance: the facade creates it once with its platform adapter.
#[wasm_bindgen]
pub struct Client {
    env: Rc<Env>,
    flows: Rc<Flows>,
    tunnels: Rc<Registry>,
    /// Tunnel defaults set by `configure()`.
    tunnel_defaults: RefCell<Options>,
    next_tunnel: Cell<u32>,
    /// Constant frame strings every tunnel uses, made on the first tunnel.
    strings: OnceCell<Rc<Strings>>,
}

#[wasm_bindgen]
impl Client {
    #[wasm_bindgen(constructor)]
    pub fn new(platform: Platform) -> Client {
        let env = Rc::new(Env::new(platform));
        Client {
            flows: Flows::new(env.clone()),
            tunnels: Registry::new(&env),
            env,
            tunnel_defaults: RefCell::default(),
            next_tunnel: Cell::new(1),
            strings: OnceCell::new(),
        }
    }

    /// `configure(options)`; throws a `RequestError` (`ERR_INVALID_PARAMS`) for a bad
    /// value, in which case nothing changes.
    pub fn configure(&self, options: JsValue) -> Result<(), JsValue> {
        self.apply(&options).map_err(|e| self.env.error(&e))
    }

    /// `setLoginUrl(url)`.
    #[wasm_bindgen(js_name = setLoginUrl)]
    pub fn set_login_url(&self, url: JsValue) -> Result<(), JsValue> {
        let url = url.as_string().unwrap_or_default();
        self.flows
            .set_login_url(&url)
            .map_err(|e| self.env.error(&e))
    }

    /// `login(options)`: resolves with the user info.
    pub fn login(&self, options: JsValue) -> Promise {
        self.login_call(LoginCall::Login, options)
    }

    /// `loginWithCode(options)`: resolves with the user info.
    #[wasm_bindgen(js_name = loginWithCode)]
    pub fn login_with_code(&self, options: JsValue) -> Promise {
        self.login_call(LoginCall::WithCode, options)
    }

    /// `requestLogin({ loginParams: { code, encryptedData, iv }, ... })`: resolves with
    /// the user info.
    #[wasm_bindgen(js_name = requestLogin)]
    pub fn request_login(&self, options: JsValue) -> Promise {
        self.login_call(LoginCall::Given, options)
    }

    /// `request(options)`: resolves with `wx.request`'s own result. `token` is the
    /// facade's handle of the call (a function; see `abort`).
    pub fn request(&self, options: JsValue, token: JsValue) -> Promise {
        self.request_call(options, Transfer::Request, token)
    }

    /// `uploadFile(options)`: resolves with `wx.uploadFile`'s own result; its progress
    /// events go to `token`.
    #[wasm_bindgen(js_name = uploadFile)]
    pub fn upload_file(&self, options: JsValue, token: JsValue) -> Promise {
        self.request_call(options, Transfer::Upload, token)
    }

    /// `downloadFile(options)`: resolves with `wx.downloadFile`'s own result; its progress
    /// events go to `token`.
    #[wasm_bindgen(js_name = downloadFile)]
    pub fn download_file(&self, options: JsValue, token: JsValue) -> Promise {
        self.request_call(options, Transfer::Download, token)
    }

    /// Abort the calls started with `token`: each fails with `ERR_REQUEST_ABORTED`, its
    /// `wx` task is aborted, and a login only it needed is given up.
    pub fn abort(&self, token: JsValue) {
        self.flows.cancel(&token);
    }

    /// `buildSessionHeader()`: the stored session's headers in the dialect in force, or `{}`.
    #[wasm_bindgen(js_name = buildSessionHeader)]
    pub fn build_session_header(&self) -> Object {
        merge_headers(&JsValue::UNDEFINED, &self.flows.session_headers())
    }

    /// Storage refused a session write (the shim kept the value in memory and reported
    /// it): the debug log says so too.
    #[wasm_bindgen(js_name = logStorageFailure)]
    pub fn log_storage_failure(&self) {
        let record = Record::StorageError { kept: "memory" };
        self.env.log(|| session_record(&record));
    }

    /// `new Tunnel(url, options)`: `knobs` holds the legacy static knobs, `port` is the
    /// tunnel's JavaScript half (`js-shim/tunnel-port.js`: listeners, per-message paths).
    pub fn tunnel(
        &self,
        url: JsValue,
        options: JsValue,
        knobs: JsValue,
        port: Port,
    ) -> Result<TunnelHandle, JsValue> {
        self.make_tunnel(url, &options, &knobs, port)
            .map_err(|e| self.env.error(&e))
    }
}

impl Client {
    fn apply(&self, value: &JsValue) -> Result<(), SdkError> {
        if !value.is_object() {
            return Err(SdkError::invalid_params(
                ErrorKind::Request,
                "configure() needs an options object",
            ));
        }
        // Read once, into a view that keeps the logger as it is.
        let plain = view(value, &["logger"], &[])
            .map_err(|e| invalid(ErrorKind::Request, "options", &e))?;
        let o: Options = plain
            .decode()
            .map_err(|e| invalid(ErrorKind::Request, "options", &e))?;
        let logger = get(&plain, "logger").unwrap_or_default();
        let logger = if logger.is_undefined() {
            None
        } else if logger.is_null() {
            Some(None)
        } else if logger.is_function() {
            Some(Some(logger.unchecked_into::<Function>()))
        } else {
            return Err(SdkError::invalid_params(
                ErrorKind::Request,
                "logger must be a function",
            ));
        };
        // `header`: an object (copied now), `null` (none), or not given.
        let header = get(value, "header")
            .and_then(|h| {
                if h.is_object() {
                    copy(&h).map(JsValue::from)
                } else {
                    Ok(h)
                }
            })
            .map_err(|thrown| unreadable(ErrorKind::Request, "header", &thrown))?;
        if !(header.is_undefined() || header.is_null() || header.is_object()) {
            return Err(SdkError::invalid_params(
                ErrorKind::Request,
                "header must be an object",
            ));
        }
        // Everything is checked before anything changes.
        self.flows.configure(&o)?;
        if !header.is_undefined() {
            self.flows.set_header(header);
        }
        self.tunnel_defaults.borrow_mut().overlay(&o);
        if let Some(l) = logger {
            self.env.set_logger(l);
        }
        self.env.set_debug(self.flows.debug());
        let logging = self.env.logging();
        self.tunnels.each(|t| t.set_logging(logging));
        Ok(())
    }

    fn login_call(&self, call: LoginCall, options: JsValue) -> Promise {
        let env = self.env.clone();
        // The flows read a view: `data` and `loginParams.userInfo` are passed on as given.
        let options = match view(&options, &["data", "userInfo"], &["loginParams"]) {
            Ok(o) => o,
            Err(e) => {
                return Promise::reject(&env.error(&invalid(ErrorKind::Login, "options", &e)))
            }
        };
        let running = self
            .flows
            .run(Call::Login { call, options }, None, JsValue::UNDEFINED);
        future_to_promise(async move { settled(&env, running.await) })
    }

    fn request_call(&self, options: JsValue, transfer: Transfer, token: JsValue) -> Promise {
        let env = self.env.clone();
        let request = match plain_request(&options) {
            Ok(r) => r,
            Err(e) => return Promise::reject(&env.error(&e)),
        };
        // The flows read a view of the copy; the copy itself is what is sent.
        let options = match view(&request, &[], &[]) {
            Ok(o) => o,
            Err(e) => {
                return Promise::reject(&env.error(&invalid(ErrorKind::Request, "options", &e)))
            }
        };
        let call = Call::Request { transfer, options };
        let running = self.flows.run(call, Some(request), token);
        future_to_promise(async move { settled(&env, running.await) })
    }

    fn make_tunnel(
        &self,
        url: JsValue,
        options: &JsValue,
        knobs: &JsValue,
        port: Port,
    ) -> Result<TunnelHandle, SdkError> {
        let Some(url) = url.as_string().filter(|u| !u.is_empty()) else {
            return Err(SdkError::invalid_params(
                ErrorKind::Request,
                "Tunnel needs a service URL",
            ));
        };
        let own: Options = decode_options(options, ErrorKind::Request, "options")?;
        let legacy: LegacyKnobs = decode_options(knobs, ErrorKind::Request, "Tunnel")?;
        let cfg = {
            let defaults = self.tunnel_defaults.borrow();
            resolve_tunnel(&[&own, &defaults, &legacy.as_options()])?
        };
        let id = self.next_tunnel.get();
        self.next_tunnel.set(id.wrapping_add(1));
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let strings = Rc::clone(self.strings.get_or_init(|| Rc::new(Strings::new())));
        let t = TunnelInner::new(
            self.env.clone(),
            self.flows.clone(),
            id,
            url,
            Tunnel::new(cfg, seed),
            strings,
            port,
        );
        self.tunnels.add(&t);
        Ok(TunnelHandle::new(t))
    }
}

/// The caller's `request()` / `uploadFile()` options as a plain copy, its `header` copied
/// too: read once, here, behind `catch`, so a getter or `Proxy` that throws is a typed
/// error at once and every later read is of plain data.
fn plain_request(options: &JsValue) -> Result<Object, SdkError> {
    let request =
        copy(options).map_err(|thrown| unreadable(ErrorKind::Request, "options", &thrown))?;
    let header = get(&request, "header").unwrap_or_default();
    if header.is_object() {
        let header =
            copy(&header).map_err(|thrown| unreadable(ErrorKind::Request, "header", &thrown))?;
        set(&request, "header", &header);
    }
    Ok(request)
}

/// An operation's outcome as a promise's.
fn settled(env: &Env, outcome: Outcome) -> Result<JsValue, JsValue> {
    outcome.map_err(|f| match f {
        Failure::Platform(fail) => fail,
        Failure::Sdk(e) => env.error(&e),
    })
}
