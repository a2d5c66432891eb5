//! The session side: `configure`, `login` / `loginWithCode`, `request`, `uploadFile`,
//! the stored session, and the platform events tunnels react to.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::{Rc, Weak};

use futures::channel::oneshot;
use js_sys::{Function, JsString, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::core::config::{resolve_tunnel, ClientConfig, Options};
use crate::core::error::{ErrorKind, SdkError};
use crate::core::login::{self, Flight, LoginMode};
use crate::core::protocol::{Dialect, DialectState, Headers};
use crate::core::request::{self, Attempt, Next};

use super::js::{error_text, get, get_string, header_object, object, set, to_js_error, JsBody};
use super::log::record;
use super::options::{read_knobs, read_options};
use super::platform::Platform;
use super::session::{self, SessionStore};
use super::tunnel::{Strings, TunnelHandle, TunnelInner};

type Outcome = Result<JsValue, JsValue>;

/// A platform event callback kept alive for the life of the client.
type Hook = Closure<dyn Fn(JsValue)>;

/// Where and how to log in (from `login(options)`; empty for automatic logins).
#[derive(Default)]
struct LoginParams {
    url: Option<String>,
    method: Option<String>,
    data: JsValue,
}

pub(crate) struct Inner {
    pub(crate) platform: Platform,
    config: RefCell<ClientConfig>,
    /// Tunnel defaults set by `configure()`.
    tunnel_defaults: RefCell<Options>,
    logger: RefCell<Option<Function>>,
    dialect: Cell<DialectState>,
    session: RefCell<SessionStore>,
    flight: RefCell<Flight<oneshot::Sender<Outcome>>>,
    tunnels: RefCell<Vec<Weak<TunnelInner>>>,
    next_tunnel_id: Cell<u32>,
    /// Constant frame strings every tunnel uses, made on the first tunnel.
    tunnel_strings: OnceCell<Rc<Strings>>,
    /// Keeps the platform event callbacks alive.
    hooks: RefCell<Vec<Hook>>,
}

/// One SDK instance: the facade creates it once with its platform adapter.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Client {
    #[wasm_bindgen(constructor)]
    pub fn new(platform: Platform) -> Client {
        let inner = Rc::new(Inner {
            platform,
            config: RefCell::default(),
            tunnel_defaults: RefCell::default(),
            logger: RefCell::default(),
            dialect: Cell::default(),
            session: RefCell::default(),
            flight: RefCell::default(),
            tunnels: RefCell::default(),
            next_tunnel_id: Cell::new(1),
            tunnel_strings: OnceCell::new(),
            hooks: RefCell::default(),
        });
        inner.listen_platform_events();
        Client { inner }
    }

    /// `configure(options)`; throws a `RequestError` (`ERR_INVALID_PARAMS`) for a bad
    /// value, in which case nothing changes.
    pub fn configure(&self, options: JsValue) -> Result<(), JsValue> {
        self.inner
            .configure(&options)
            .map_err(|e| self.inner.error(&e))
    }

    /// `setLoginUrl(url)`.
    #[wasm_bindgen(js_name = setLoginUrl)]
    pub fn set_login_url(&self, url: JsValue) -> Result<(), JsValue> {
        match url.as_string().filter(|u| !u.is_empty()) {
            Some(u) => {
                self.inner.config.borrow_mut().login_url = Some(u);
                Ok(())
            }
            None => Err(self.inner.error(&SdkError::invalid_params(
                ErrorKind::Login,
                "setLoginUrl() needs a non-empty string",
            ))),
        }
    }

    /// `login(options)` (`code_only`: `loginWithCode`): resolves with the user info.
    pub fn login(&self, options: JsValue, code_only: bool) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let params = LoginParams {
                url: get_string(&options, "loginUrl").filter(|u| !u.is_empty()),
                method: get_string(&options, "method"),
                data: get(&options, "data"),
            };
            // `login()` reuses a stored session that WeChat still vouches for;
            // `loginWithCode()` is an explicit request for a fresh one.
            let (mode, reuse) = if code_only {
                (LoginMode::CodeOnly, false)
            } else {
                (LoginMode::Full, true)
            };
            inner.run_login(mode, reuse, params).await
        })
    }

    /// `request(options)`: resolves with `wx.request`'s own result.
    pub fn request(&self, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.request(options, false).await })
    }

    /// `uploadFile(options)`: resolves with `wx.uploadFile`'s own result.
    #[wasm_bindgen(js_name = uploadFile)]
    pub fn upload_file(&self, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.request(options, true).await })
    }

    /// `Session.get()`: the stored value as is, or `null`.
    #[wasm_bindgen(js_name = getSession)]
    pub fn get_session(&self) -> JsValue {
        self.inner.ensure_session_loaded();
        self.inner.session.borrow().raw()
    }

    /// `Session.set(value)`.
    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(&self, value: JsValue) {
        self.inner.store_session(value);
    }

    /// `Session.clear()` / `clearSession()`.
    #[wasm_bindgen(js_name = clearSession)]
    pub fn clear_session(&self) {
        self.inner.store_session(JsValue::NULL);
    }

    /// `buildSessionHeader()`: the session headers of the dialect in force, or `{}`.
    #[wasm_bindgen(js_name = buildSessionHeader)]
    pub fn build_session_header(&self) -> Object {
        let (headers, _) = self.inner.session_headers();
        header_object(&JsValue::UNDEFINED, &headers)
    }

    /// `new Tunnel(url, options)`: `knobs` holds the legacy static knobs.
    pub fn tunnel(
        &self,
        url: JsValue,
        options: JsValue,
        knobs: JsValue,
    ) -> Result<TunnelHandle, JsValue> {
        self.inner
            .tunnel(url, options, knobs)
            .map_err(|e| self.inner.error(&e))
    }
}

async fn settle(promise: Result<Promise, JsValue>) -> Outcome {
    JsFuture::from(promise?).await
}

fn status_of(response: &JsValue) -> u16 {
    get(response, "statusCode").as_f64().map_or(0, |s| s as u16)
}

impl Inner {
    pub(crate) fn error(&self, e: &SdkError) -> JsValue {
        to_js_error(&self.platform, e)
    }

    pub(crate) fn logging(&self) -> bool {
        self.logger.borrow().is_some() || self.config.borrow().debug
    }

    /// Hand a record to the logger (built only when someone listens).
    pub(crate) fn log(&self, build: impl FnOnce() -> Object) {
        if !self.logging() {
            return;
        }
        let rec = build();
        let logger = self.logger.borrow().clone();
        match logger {
            Some(f) => {
                if let Err(e) = f.call1(&JsValue::UNDEFINED, &rec) {
                    let _ = self.platform.report_error("logger", &e);
                }
            }
            None => {
                let _ = self.platform.log(&rec);
            }
        }
    }

    fn configure(&self, value: &JsValue) -> Result<(), SdkError> {
        if !value.is_object() {
            return Err(SdkError::invalid_params(
                ErrorKind::Request,
                "configure() needs an options object",
            ));
        }
        let o = read_options(value)?;
        let logger = get(value, "logger");
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
        self.config.borrow_mut().apply(&o)?;
        self.tunnel_defaults.borrow_mut().overlay(&o);
        if let Some(l) = logger {
            *self.logger.borrow_mut() = l;
        }
        let mut d = self.dialect.get();
        d.set_protocol(self.config.borrow().protocol);
        self.dialect.set(d);
        let logging = self.logging();
        self.each_tunnel(|t| t.set_logging(logging));
        Ok(())
    }

    // ---- session ----------------------------------------------------------------

    fn ensure_session_loaded(&self) {
        if !self.session.borrow().is_loaded() {
            let raw = session::read(&self.platform);
            let decoded = session::decode(&raw);
            self.session.borrow_mut().load(raw, decoded);
        }
    }

    fn store_session(&self, raw: JsValue) {
        self.ensure_session_loaded();
        let decoded = session::decode(&raw);
        self.session.borrow_mut().replace(raw.clone(), decoded);
        if let Err(e) = session::write(&self.platform, &raw) {
            // Keep the session for this run; the next launch logs in again.
            let _ = self.platform.report_error("storage", &e);
            self.log(|| record("session", "storage-error", &[]));
        }
    }

    fn session_skey(&self) -> Option<String> {
        self.ensure_session_loaded();
        self.session.borrow().session().map(|s| s.skey.clone())
    }

    /// The dialect in force (the stored session's shape counts until a server spoke).
    fn dialect(&self) -> Option<Dialect> {
        self.ensure_session_loaded();
        let shape = self.session.borrow().session().map(|s| s.shape());
        self.dialect.get().current(shape)
    }

    fn learn(&self, d: Dialect) {
        let mut s = self.dialect.get();
        s.learn(d);
        self.dialect.set(s);
    }

    /// The headers carrying the stored session, and the skey they carry.
    fn session_headers(&self) -> (Headers, Option<String>) {
        let dialect = self.dialect();
        let store = self.session.borrow();
        match store.session() {
            Some(s) => {
                let headers = s.headers(dialect.unwrap_or(s.shape()));
                let sent = (!headers.is_empty()).then(|| s.skey.clone());
                (headers, sent)
            }
            None => (Vec::new(), None),
        }
    }

    // ---- login ------------------------------------------------------------------

    /// Log in, or join the login already running (single flight).
    async fn run_login(
        self: &Rc<Self>,
        mode: LoginMode,
        reuse: bool,
        params: LoginParams,
    ) -> Outcome {
        let mut waiter = None;
        let leads = self.flight.borrow_mut().join(|| {
            let (tx, rx) = oneshot::channel();
            waiter = Some(rx);
            tx
        });
        if !leads {
            self.log(|| record("session", "login-joined", &[]));
            return match waiter {
                Some(rx) => rx
                    .await
                    .unwrap_or_else(|_| Err(self.error(&login::login_request_failed(None)))),
                None => Err(self.error(&login::login_request_failed(None))),
            };
        }
        let outcome = self.login_once(mode, reuse, params).await;
        let waiters = self.flight.borrow_mut().finish();
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
        outcome
    }

    async fn login_once(
        self: &Rc<Self>,
        mode: LoginMode,
        reuse: bool,
        params: LoginParams,
    ) -> Outcome {
        let url = params
            .url
            .or_else(|| self.config.borrow().login_url.clone());
        let Some(url) = url else {
            return Err(self.error(&SdkError::missing_login_url()));
        };
        if reuse {
            self.ensure_session_loaded();
            let stored = {
                let store = self.session.borrow();
                store.session().map(|s| (store.raw(), s.user_info_field()))
            };
            if let Some((raw, field)) = stored {
                let valid = settle(self.platform.check_session())
                    .await
                    .is_ok_and(|v| v.is_truthy());
                self.log(|| record("session", "check-session", &[("valid", valid.into())]));
                if valid {
                    return Ok(get(&raw, field));
                }
                self.store_session(JsValue::NULL);
            }
        }
        self.log(|| record("session", "login", &[("mode", mode.as_str().into())]));

        let wx_login = settle(self.platform.login())
            .await
            .map_err(|e| self.error(&login::wx_login_failed(error_text(&e))))?;
        let Some(code) = get_string(&wx_login, "code").filter(|c| !c.is_empty()) else {
            return Err(self.error(&login::wx_login_failed(None)));
        };
        let user = match mode {
            LoginMode::Full => Some(
                settle(self.platform.get_user_info())
                    .await
                    .map_err(|e| self.error(&login::wx_user_info_failed(error_text(&e))))?,
            ),
            LoginMode::CodeOnly => None,
        };
        let credentials = user.as_ref().map(|u| {
            (
                get_string(u, "encryptedData").unwrap_or_default(),
                get_string(u, "iv").unwrap_or_default(),
            )
        });
        let headers = login::login_headers(
            &code,
            credentials
                .as_ref()
                .map(|(e, iv)| (e.as_str(), iv.as_str())),
        );

        let call = object(&[
            ("url", url.into()),
            (
                "method",
                params.method.unwrap_or_else(|| "GET".into()).into(),
            ),
            (
                "header",
                header_object(&JsValue::UNDEFINED, &headers).into(),
            ),
        ]);
        if !params.data.is_undefined() {
            set(&call, "data", &params.data);
        }
        self.apply_timeout(&call);
        let response = settle(self.platform.request(&call))
            .await
            .map_err(|e| self.error(&login::login_request_failed(error_text(&e))))?;

        let data = get(&response, "data");
        let protocol = self.dialect.get().protocol;
        let ok = match login::classify_login(
            protocol,
            mode,
            status_of(&response),
            &JsBody(data.clone()),
        ) {
            Ok(ok) => ok,
            Err(e) => {
                self.log(|| record("session", "login-failed", &[("type", e.ty.as_str().into())]));
                return Err(self.error(&e));
            }
        };
        self.learn(ok.dialect);
        let (stored, user_info) = match ok.dialect {
            // Wafer 1 stores the server's `session` plus the WeChat profile, as 0.8 did.
            Dialect::Wafer1 => {
                let s = get(&data, "session");
                let user_info = user
                    .as_ref()
                    .map_or(JsValue::UNDEFINED, |u| get(u, "userInfo"));
                if let Some(o) = s.dyn_ref::<Object>() {
                    set(o, "userInfo", &user_info);
                }
                (s, user_info)
            }
            // Wafer 2 stores the response's `data` as is, as 2.1 did.
            Dialect::Wafer2 => {
                let d = get(&data, "data");
                let user_info = get(&d, "userinfo");
                (d, user_info)
            }
        };
        self.store_session(stored);
        self.log(|| {
            record(
                "session",
                "login-ok",
                &[("dialect", ok.dialect.as_str().into())],
            )
        });
        Ok(user_info)
    }

    // ---- requests ---------------------------------------------------------------

    async fn request(self: &Rc<Self>, options: JsValue, upload: bool) -> Outcome {
        let invalid =
            |what: &str| Err(self.error(&SdkError::invalid_params(ErrorKind::Request, what)));
        if !options.is_object() {
            return invalid("request options must be an object");
        }
        if get_string(&options, "url").is_none_or(|u| u.is_empty()) {
            return invalid("url must be a non-empty string");
        }
        if upload {
            for key in ["filePath", "name"] {
                if get_string(&options, key).is_none_or(|v| v.is_empty()) {
                    return invalid(&[key, " must be a non-empty string"].concat());
                }
            }
        }
        if get(&options, "login").is_truthy() {
            let mode = LoginMode::automatic(self.dialect());
            self.run_login(mode, true, LoginParams::default()).await?;
        }
        self.send_with_session(&options, upload).await
    }

    /// `GET serviceUrl` for a tunnel. With no session stored (and a login URL set) it
    /// logs in first, as `request({ login: true })` would: a reconnect after the server
    /// rejected (and so cleared) the session must not stay locked out until page code
    /// logs in again. Without a login URL the handshake goes out as is (anonymous tunnels).
    pub(crate) async fn tunnel_handshake(self: &Rc<Self>, url: &str) -> Outcome {
        let can_login = self.config.borrow().login_url.is_some();
        if can_login && self.session_skey().is_none() {
            let mode = LoginMode::automatic(self.dialect());
            self.run_login(mode, false, LoginParams::default()).await?;
        }
        let call = object(&[("url", url.into()), ("method", "GET".into())]);
        self.send_with_session(&call, false).await
    }

    /// Send with the stored session; on a session failure clear it, log in again
    /// and resend, once.
    async fn send_with_session(self: &Rc<Self>, options: &JsValue, upload: bool) -> Outcome {
        let mut attempt = Attempt::default();
        loop {
            let (headers, sent) = self.session_headers();
            let call = self.call_options(options, &headers);
            let pending = if upload {
                self.platform.upload_file(&call)
            } else {
                self.platform.request(&call)
            };
            let response = settle(pending)
                .await
                .map_err(|e| self.error(&SdkError::request_failed(error_text(&e))))?;
            let data = get(&response, "data");
            // uploadFile's data is a string: parse it only to look for a session failure.
            let body = if upload {
                data.dyn_ref::<JsString>()
                    .map(|s| self.platform.parse_json(s))
                    .filter(|v| !v.is_undefined())
            } else {
                Some(data)
            }
            .map(JsBody);
            let (verdict, learned) =
                request::classify_response(self.dialect(), status_of(&response), body.as_ref());
            if let Some(d) = learned {
                self.learn(d);
            }
            let current = self.session_skey();
            match attempt.next(verdict, self.dialect(), sent.as_deref(), current.as_deref()) {
                Next::Deliver => return Ok(response),
                Next::Resend => {
                    self.log(|| {
                        record("request", "retry", &[("reason", "session-renewed".into())])
                    });
                }
                Next::Relogin { clear } => {
                    if clear {
                        self.store_session(JsValue::NULL);
                    }
                    self.log(|| {
                        record("request", "retry", &[("reason", "session-invalid".into())])
                    });
                    let mode = LoginMode::automatic(self.dialect());
                    self.run_login(mode, false, LoginParams::default()).await?;
                }
                Next::Fail { error, clear } => {
                    if clear {
                        self.store_session(JsValue::NULL);
                    }
                    return Err(self.error(&error));
                }
            }
        }
    }

    /// The caller's options for `wx.request` / `wx.uploadFile`: our own fields and the
    /// callbacks removed, the session headers merged over the caller's.
    fn call_options(&self, options: &JsValue, headers: &Headers) -> Object {
        let call = Object::new();
        Object::assign(&call, options.unchecked_ref());
        for key in ["success", "fail", "complete", "login"] {
            let _ = Reflect::delete_property(&call, &JsValue::from_str(key));
        }
        set(
            &call,
            "header",
            &header_object(&get(options, "header"), headers),
        );
        self.apply_timeout(&call);
        call
    }

    fn apply_timeout(&self, call: &Object) {
        if let Some(ms) = self.config.borrow().request_timeout {
            if get(call, "timeout").is_undefined() {
                set(call, "timeout", &JsValue::from(ms as f64));
            }
        }
    }

    // ---- tunnels ----------------------------------------------------------------

    fn tunnel(
        self: &Rc<Self>,
        url: JsValue,
        options: JsValue,
        knobs: JsValue,
    ) -> Result<TunnelHandle, SdkError> {
        let Some(url) = url.as_string().filter(|u| !u.is_empty()) else {
            return Err(SdkError::invalid_params(
                ErrorKind::Request,
                "Tunnel needs a service URL",
            ));
        };
        let own = read_options(&options)?;
        let legacy = read_knobs(&knobs)?;
        let cfg = {
            let defaults = self.tunnel_defaults.borrow();
            resolve_tunnel(&[&own, &defaults, &legacy.as_options()])?
        };
        let id = self.next_tunnel_id.get();
        self.next_tunnel_id.set(id.wrapping_add(1));
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let strings = Rc::clone(self.tunnel_strings.get_or_init(|| Rc::new(Strings::new())));
        let t = TunnelInner::new(self.clone(), id, url, cfg, seed, strings);
        let mut list = self.tunnels.borrow_mut();
        list.retain(|w| w.strong_count() > 0);
        list.push(Rc::downgrade(&t));
        Ok(TunnelHandle::new(t))
    }

    fn each_tunnel(&self, f: impl Fn(&Rc<TunnelInner>)) {
        let live: Vec<Rc<TunnelInner>> = self
            .tunnels
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for t in &live {
            f(t);
        }
    }

    fn listen_platform_events(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let network = Hook::new(move |online: JsValue| {
            if let Some(inner) = weak.upgrade() {
                let online = online.is_truthy();
                inner.each_tunnel(|t| t.network_changed(online));
            }
        });
        let weak = Rc::downgrade(self);
        let shown = Hook::new(move |_: JsValue| {
            if let Some(inner) = weak.upgrade() {
                inner.each_tunnel(|t| t.app_shown());
            }
        });
        let _ = self
            .platform
            .on_network_change(network.as_ref().unchecked_ref());
        let _ = self.platform.on_app_show(shown.as_ref().unchecked_ref());
        self.hooks.borrow_mut().extend([network, shown]);
    }
}
