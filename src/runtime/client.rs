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
use crate::core::login::{self, Flight, LoginCall, LoginMode, Role};
use crate::core::protocol::{Dialect, DialectState, Headers};
use crate::core::request::{self, Attempt, Next};
use crate::core::session::Session;

use super::js::{error_text, get, get_string, header_object, object, set, to_js_error, JsBody};
use super::log::record;
use super::options::{read_knobs, read_options};
use super::platform::Platform;
use super::session;
use super::tunnel::{Strings, TunnelHandle, TunnelInner};

type Outcome = Result<JsValue, JsValue>;

/// A platform event callback kept alive for the life of the client.
type Hook = Closure<dyn Fn(JsValue)>;

/// How a session request failed.
pub(crate) enum Failure {
    /// `wx.request` / `wx.uploadFile` itself failed: its own `fail` result.
    Transport(JsValue),
    /// The SDK's `LoginError` / `RequestError` (session rejected, login failed, ...).
    Sdk(JsValue),
}

/// Credentials the page got itself (`requestLogin({ loginParams })`).
struct Given {
    code: String,
    /// `encryptedData` and `iv`, when the page has them.
    user: Option<(String, String)>,
    /// `loginParams.userInfo`: what a Wafer 1 session stores as the profile.
    user_info: JsValue,
}

/// Where and how to log in (from the caller's options; empty for automatic logins).
#[derive(Default)]
struct LoginParams {
    url: Option<String>,
    method: Option<String>,
    data: JsValue,
    /// `login({ lang })`, passed to `wx.getUserInfo`.
    lang: Option<String>,
    given: Option<Given>,
}

impl LoginParams {
    /// The options every public login call takes (`loginUrl`, `method`, `data`, `lang`).
    fn read(options: &JsValue) -> Self {
        LoginParams {
            url: get_string(options, "loginUrl").filter(|u| !u.is_empty()),
            method: get_string(options, "method"),
            data: get(options, "data"),
            lang: get_string(options, "lang").filter(|l| !l.is_empty()),
            given: None,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) platform: Platform,
    config: RefCell<ClientConfig>,
    /// Tunnel defaults set by `configure()`.
    tunnel_defaults: RefCell<Options>,
    logger: RefCell<Option<Function>>,
    dialect: Cell<DialectState>,
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

    /// `login(options)`: resolves with the user info.
    pub fn login(&self, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let params = LoginParams::read(&options);
            inner.run_login(LoginCall::Login, params).await
        })
    }

    /// `loginWithCode(options)`: resolves with the user info.
    #[wasm_bindgen(js_name = loginWithCode)]
    pub fn login_with_code(&self, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let params = LoginParams::read(&options);
            inner.run_login(LoginCall::WithCode, params).await
        })
    }

    /// `requestLogin({ loginParams: { code, encryptedData, iv }, ... })`: resolves with
    /// the user info.
    #[wasm_bindgen(js_name = requestLogin)]
    pub fn request_login(&self, options: JsValue) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let mut params = LoginParams::read(&options);
            let given = get(&options, "loginParams");
            let Some(code) = get_string(&given, "code").filter(|c| !c.is_empty()) else {
                return Err(inner.error(&SdkError::invalid_params(
                    ErrorKind::Login,
                    "requestLogin() needs loginParams.code (a wx.login code)",
                )));
            };
            let encrypted_data = get_string(&given, "encryptedData").filter(|v| !v.is_empty());
            let iv = get_string(&given, "iv").filter(|v| !v.is_empty());
            params.given = Some(Given {
                code,
                user: encrypted_data.zip(iv),
                user_info: get(&given, "userInfo"),
            });
            inner.run_login(LoginCall::Given, params).await
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

    /// `buildSessionHeader()`: the stored session's headers in the dialect in force, or `{}`.
    #[wasm_bindgen(js_name = buildSessionHeader)]
    pub fn build_session_header(&self) -> Object {
        let (headers, _) = self.inner.session_headers();
        header_object(&JsValue::UNDEFINED, &headers)
    }

    /// Storage refused a session write (the shim kept the value in memory and reported
    /// it): the debug log says so too.
    #[wasm_bindgen(js_name = logStorageFailure)]
    pub fn log_storage_failure(&self) {
        self.inner
            .log(|| record("session", "storage-error", &[("kept", "memory".into())]));
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

    /// The stored session, read now.
    fn stored(&self) -> session::Stored {
        session::read(&self.platform)
    }

    /// Store `raw` (`null`: clear).
    fn store_session(&self, raw: &JsValue) {
        session::write(&self.platform, raw);
    }

    /// The dialect in force for a stored session (its shape counts until a server spoke).
    fn dialect_for(&self, stored: Option<&Session>) -> Option<Dialect> {
        self.dialect.get().current(stored.map(Session::shape))
    }

    /// The dialect in force now.
    fn dialect(&self) -> Option<Dialect> {
        self.dialect_for(self.stored().session.as_ref())
    }

    fn learn(&self, d: Dialect) {
        let mut s = self.dialect.get();
        s.learn(d);
        self.dialect.set(s);
    }

    /// The headers carrying the stored session, and the skey they carry.
    fn session_headers(&self) -> (Headers, Option<String>) {
        let stored = self.stored().session;
        let dialect = self.dialect_for(stored.as_ref());
        match stored {
            Some(s) => {
                let headers = s.headers(dialect.unwrap_or(s.shape()));
                let sent = (!headers.is_empty()).then_some(s.skey);
                (headers, sent)
            }
            None => (Vec::new(), None),
        }
    }

    // ---- login ------------------------------------------------------------------

    /// Log in for `call`, or share the login already running (single flight).
    async fn run_login(self: &Rc<Self>, call: LoginCall, params: LoginParams) -> Outcome {
        loop {
            let mut waiter = None;
            let role = self.flight.borrow_mut().join(call, || {
                let (tx, rx) = oneshot::channel();
                waiter = Some(rx);
                tx
            });
            let Some(rx) = waiter else { break };
            if role == Role::Join {
                self.log(|| record("session", "login-joined", &[]));
                return rx
                    .await
                    .unwrap_or_else(|_| Err(self.error(&login::login_request_failed(None))));
            }
            // The running login cannot answer this call: wait for it, then try again.
            self.log(|| record("session", "login-queued", &[]));
            let _ = rx.await;
        }
        let outcome = self.login_once(call, params).await;
        let waiters = self.flight.borrow_mut().finish();
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
        outcome
    }

    async fn login_once(self: &Rc<Self>, call: LoginCall, params: LoginParams) -> Outcome {
        let url = params
            .url
            .or_else(|| self.config.borrow().login_url.clone());
        let Some(url) = url else {
            return Err(self.error(&SdkError::missing_login_url()));
        };
        let stored = self.stored();
        let dialect = self.dialect_for(stored.session.as_ref());
        if call.reuses_stored(dialect) {
            if let Some(s) = &stored.session {
                let field = s.user_info_field();
                let valid = settle(self.platform.check_session())
                    .await
                    .is_ok_and(|v| v.is_truthy());
                self.log(|| record("session", "check-session", &[("valid", valid.into())]));
                if valid {
                    return Ok(get(&stored.raw, field));
                }
                self.store_session(&JsValue::NULL);
            }
        }
        let mode = match (call.mode(dialect), &params.given) {
            (Some(mode), _) => mode,
            (None, given) => login::given_mode(given.as_ref().is_some_and(|g| g.user.is_some())),
        };
        self.log(|| record("session", "login", &[("mode", mode.as_str().into())]));

        let (code, credentials, profile) = match params.given {
            Some(g) => (g.code, g.user, g.user_info),
            None => self.wx_credentials(mode, params.lang.as_deref()).await?,
        };
        let headers = login::login_headers(
            &code,
            credentials
                .as_ref()
                .map(|(e, iv)| (e.as_str(), iv.as_str())),
        );

        let req = object(&[
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
            set(&req, "data", &params.data);
        }
        self.apply_timeout(&req);
        let response = settle(self.platform.request(&req))
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
                if let Some(o) = s.dyn_ref::<Object>() {
                    set(o, "userInfo", &profile);
                }
                (s, profile)
            }
            // Wafer 2 stores the response's `data` as is, as 2.1 did.
            Dialect::Wafer2 => {
                let d = get(&data, "data");
                let user_info = get(&d, "userinfo");
                (d, user_info)
            }
        };
        self.store_session(&stored);
        self.log(|| {
            record(
                "session",
                "login-ok",
                &[("dialect", ok.dialect.as_str().into())],
            )
        });
        Ok(user_info)
    }

    /// `wx.login`, and `wx.getUserInfo({ lang })` for a full login: the code, the
    /// encrypted profile and the profile.
    async fn wx_credentials(
        &self,
        mode: LoginMode,
        lang: Option<&str>,
    ) -> Result<(String, Option<(String, String)>, JsValue), JsValue> {
        let wx_login = settle(self.platform.login())
            .await
            .map_err(|e| self.error(&login::wx_login_failed(error_text(&e))))?;
        let Some(code) = get_string(&wx_login, "code").filter(|c| !c.is_empty()) else {
            return Err(self.error(&login::wx_login_failed(None)));
        };
        if mode == LoginMode::CodeOnly {
            return Ok((code, None, JsValue::UNDEFINED));
        }
        let options = Object::new();
        if let Some(lang) = lang {
            set(&options, "lang", &lang.into());
        }
        let user = settle(self.platform.get_user_info(&options))
            .await
            .map_err(|e| self.error(&login::wx_user_info_failed(error_text(&e))))?;
        let credentials = (
            get_string(&user, "encryptedData").unwrap_or_default(),
            get_string(&user, "iv").unwrap_or_default(),
        );
        Ok((code, Some(credentials), get(&user, "userInfo")))
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
            self.run_login(LoginCall::OnDemand, LoginParams::default())
                .await?;
        }
        self.send_with_session(&options, upload)
            .await
            .map_err(|f| match f {
                Failure::Transport(e) => self.error(&SdkError::request_failed(error_text(&e))),
                Failure::Sdk(e) => e,
            })
    }

    /// `GET serviceUrl` for a tunnel. With no session stored (and a login URL set) it
    /// logs in first, as `request({ login: true })` would: a reconnect after the server
    /// rejected (and so cleared) the session must not stay locked out until page code
    /// logs in again. Without a login URL the handshake goes out as is (anonymous tunnels).
    pub(crate) async fn tunnel_handshake(self: &Rc<Self>, url: &str) -> Result<JsValue, Failure> {
        let can_login = self.config.borrow().login_url.is_some();
        if can_login && self.stored().session.is_none() {
            self.run_login(LoginCall::Renew, LoginParams::default())
                .await
                .map_err(Failure::Sdk)?;
        }
        let call = object(&[("url", url.into()), ("method", "GET".into())]);
        self.send_with_session(&call, false).await
    }

    /// Send with the stored session; on a session failure clear it, log in again
    /// and resend, once.
    async fn send_with_session(
        self: &Rc<Self>,
        options: &JsValue,
        upload: bool,
    ) -> Result<JsValue, Failure> {
        let mut attempt = Attempt::default();
        loop {
            let (headers, sent) = self.session_headers();
            let call = self.call_options(options, &headers);
            let pending = if upload {
                self.platform.upload_file(&call)
            } else {
                self.platform.request(&call)
            };
            let response = settle(pending).await.map_err(Failure::Transport)?;
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
            let now = self.stored().session;
            let dialect = self.dialect_for(now.as_ref());
            let current = now.map(|s| s.skey);
            match attempt.next(verdict, dialect, sent.as_deref(), current.as_deref()) {
                Next::Deliver => return Ok(response),
                Next::Resend => {
                    self.log(|| {
                        record("request", "retry", &[("reason", "session-renewed".into())])
                    });
                }
                Next::Relogin { clear } => {
                    if clear {
                        self.store_session(&JsValue::NULL);
                    }
                    self.log(|| {
                        record("request", "retry", &[("reason", "session-invalid".into())])
                    });
                    self.run_login(LoginCall::Renew, LoginParams::default())
                        .await
                        .map_err(Failure::Sdk)?;
                }
                Next::Fail { error, clear } => {
                    if clear {
                        self.store_session(&JsValue::NULL);
                    }
                    return Err(Failure::Sdk(self.error(&error)));
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
