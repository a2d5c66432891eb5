//! The session side of one SDK instance as a state machine: configuration, the dialect,
//! login (one at a time, shared by callers that can share it), requests with
//! re-login-and-retry-once, and the tunnel handshake's login.
//!
//! Sans-IO in the style of `quinn-proto` / `str0m`: every call page code (or a tunnel)
//! starts is an operation with an id; the runtime feeds [`Input`]s through
//! [`Flows::handle`] (a call started, a platform call answered) and performs the
//! [`Action`]s [`Flows::poll`] hands out (`wx.login`, `wx.request`, a storage write, an
//! operation's result). The platform's values (`V`: JavaScript values in the runtime,
//! `serde_json` values in tests) are read through the serde schemas of this module and
//! of [`protocol`](super::protocol), and otherwise passed on untouched.
//!
//! A call may be aborted (`Input::Cancel`): it ends at once as `ERR_REQUEST_ABORTED`, and
//! the platform call it waits on is aborted (`Action::Abort`). A login is shared, so
//! aborting the caller that leads it fails nobody else: while another caller shares its
//! outcome the login goes on for them (the aborted caller is only detached from it);
//! when nobody does, the login is abandoned (its request aborted, answers still on the way
//! ignored) and callers that waited for it to end log in themselves. A call that aborts
//! while it shares or waits for a login only leaves it.
//!
//! Storage is the single source of truth for the session: the runtime reads the stored
//! value afresh for every input and hands it to [`Flows::handle`]; the machine keeps no
//! copy beyond the input it is handling (where its own writes count at once).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::config::{ClientConfig, Options};
use super::error::{ErrorKind, SdkError};
use super::login::{self, Flight, LoginCall, LoginMode, Role};
use super::protocol::{Answer, Dialect, DialectState, Headers};
use super::request::{self, Attempt, Next};
use super::session::Session;
use super::value::{Invalid, Scalar, Value};

/// An operation's id, chosen by the runtime.
pub type OpId = u32;

/// Which platform call a session request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// `wx.request`: the body is read for session failures.
    Request,
    /// `wx.uploadFile`: the body is a string, parsed only to look for session failures.
    Upload,
    /// `wx.downloadFile`: the body is a file, so only the status tells (HTTP 401).
    Download,
}

/// What an operation is.
#[derive(Clone, Debug, PartialEq)]
pub enum Call<V> {
    /// `login()`, `loginWithCode()` or `requestLogin()` with the caller's options.
    Login { call: LoginCall, options: V },
    /// `request()`, `uploadFile()` or `downloadFile()` with the caller's options (the
    /// runtime sends them with the session headers merged into their `header`).
    Request { transfer: Transfer, options: V },
    /// The tunnel handshake, `GET serviceUrl` as a session request.
    Handshake,
}

/// Everything that can happen to the flows.
#[derive(Clone, Debug, PartialEq)]
pub enum Input<V> {
    /// A call starts as operation `op`.
    Start { op: OpId, call: Call<V> },
    /// The platform call of operation `op` answered: its success result, or its `fail`
    /// result (`wx.checkSession` answers `true`/`false`).
    Answered { op: OpId, result: Result<V, V> },
    /// The caller aborted operation `op` (nothing happens once it is over).
    Cancel { op: OpId },
}

/// The login request (`wx.request` to the login URL).
#[derive(Clone, Debug, PartialEq)]
pub struct LoginRequest<V> {
    pub url: String,
    /// The caller's method (`GET` when none).
    pub method: Option<String>,
    pub headers: Headers,
    /// The caller's `data`, when it gave some.
    pub data: Option<V>,
    pub timeout: Option<u64>,
}

/// What the runtime must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action<V> {
    /// `wx.checkSession()`; answer `true`/`false`.
    CheckSession {
        op: OpId,
    },
    /// `wx.login()`; answer with its result (`{ code }`) or `fail` result.
    WxLogin {
        op: OpId,
    },
    /// `wx.getUserInfo({ lang })`.
    GetUserInfo {
        op: OpId,
        lang: Option<String>,
    },
    /// `wx.request` for a login.
    Login {
        op: OpId,
        request: LoginRequest<V>,
    },
    /// The operation's own request (`request()`/`uploadFile()`/`downloadFile()`: the
    /// caller's options, at `url` when the caller's was relative to `baseUrl`; the
    /// handshake: `GET` its URL) with `headers` over the caller's, and `timeout` when the
    /// call sets none.
    Send {
        op: OpId,
        url: Option<String>,
        headers: Headers,
        timeout: Option<u64>,
    },
    /// Operation `op` no longer waits on its platform call: abort it where the platform
    /// can (a request's task; `wx.login` and the like cannot be, and their answers are
    /// ignored).
    Abort {
        op: OpId,
    },
    /// Write the stored session (`None`: remove it).
    Store(Option<V>),
    /// Operation `op` is over.
    Done {
        op: OpId,
        result: Result<V, Failure<V>>,
    },
    Log(Record),
}

/// How an operation failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure<V> {
    /// The handshake's `wx.request` failed: its own `fail` result (the tunnel's `error`
    /// event carries it as the detail, as 0.8 does).
    Platform(V),
    /// A `LoginError` / `RequestError`.
    Sdk(SdkError),
}

/// Debug records of the session and request layers, for the logger (no skey, no code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Record {
    /// A caller shares the login already running.
    LoginJoined,
    /// A caller waits for the running login to end before its own.
    LoginQueued,
    CheckSession {
        valid: bool,
    },
    Login {
        mode: &'static str,
    },
    LoginFailed {
        #[serde(rename = "type")]
        ty: &'static str,
    },
    LoginOk {
        dialect: &'static str,
    },
    /// A request is sent again (`session-invalid`: after a new login; `session-renewed`:
    /// another caller renewed the session meanwhile).
    Retry {
        reason: &'static str,
    },
    /// Storage refused a session write; the value lives in memory for this run.
    StorageError {
        kept: &'static str,
    },
}

impl Record {
    /// The `scope` of the record.
    pub fn scope(&self) -> &'static str {
        match self {
            Record::Retry { .. } => "request",
            _ => "session",
        }
    }
}

// ---- the schema of what the flows read ---------------------------------------------

/// The options every login call takes.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginOptions {
    login_url: Option<String>,
    method: Option<String>,
    /// `login({ lang })`, passed to `wx.getUserInfo`.
    lang: Option<String>,
    /// `requestLogin({ loginParams })`: credentials the page got itself.
    login_params: Option<GivenParams>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GivenParams {
    code: Option<String>,
    encrypted_data: Option<String>,
    iv: Option<String>,
}

/// What the flows read in `request()` / `uploadFile()` / `downloadFile()` options.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestOptions {
    url: Option<String>,
    #[serde(default)]
    login: Scalar,
    file_path: Option<String>,
    name: Option<String>,
}

/// `value[key]` read as a [`Scalar`]: how the flows read the platform's own small
/// results (`{ statusCode }`, `{ errMsg }`, `{ code }`, `{ encryptedData, iv }`), which
/// are not part of the wire schema (one shared reader instead of a struct each keeps the
/// wasm small).
fn scalar<V: Value>(value: &V, key: &str) -> Scalar {
    value.member(key).decode().unwrap_or_default()
}

/// The text of a platform failure: `errMsg` (wx), `message` (a thrown `Error`), or the
/// value itself when it is text.
pub fn fail_text<V: Value>(fail: &V) -> Option<String> {
    let text = |s: Scalar| match s {
        Scalar::Text(t) => Some(t),
        _ => None,
    };
    text(scalar(fail, "errMsg"))
        .or_else(|| text(scalar(fail, "message")))
        .or_else(|| text(fail.decode().unwrap_or_default()))
}

/// The HTTP status of a `wx.request` result (`0` when it has none).
pub fn status_of<V: Value>(response: &V) -> u16 {
    match scalar(response, "statusCode") {
        Scalar::Number(n) => n as u16,
        _ => 0,
    }
}

// ---- operations ---------------------------------------------------------------------

/// The credentials a page got itself.
#[derive(Clone, Debug, PartialEq)]
struct Given<V> {
    code: String,
    /// `encryptedData` and `iv`, when the page has them.
    user: Option<(String, String)>,
    /// `loginParams.userInfo`: what a Wafer 1 session stores as the profile.
    user_info: V,
}

/// Where and how to log in (from a login call's options; empty for automatic logins).
#[derive(Clone, Debug, PartialEq)]
struct LoginParams<V> {
    url: Option<String>,
    method: Option<String>,
    data: Option<V>,
    lang: Option<String>,
    given: Option<Given<V>>,
}

impl<V> Default for LoginParams<V> {
    fn default() -> Self {
        LoginParams {
            url: None,
            method: None,
            data: None,
            lang: None,
            given: None,
        }
    }
}

/// The step a leading login waits on.
#[derive(Clone, Debug, PartialEq)]
enum Step<V> {
    /// `wx.checkSession` for a stored session that may answer the call.
    Checking,
    WxLogin {
        mode: LoginMode,
    },
    UserInfo {
        code: String,
    },
    /// The login request; `profile` is what a Wafer 1 session stores as `userInfo`.
    Request {
        mode: LoginMode,
        profile: V,
    },
}

/// Where an operation stands.
#[derive(Clone, Debug, PartialEq)]
enum Stage<V> {
    /// Waiting for the running login (`Join`: its outcome is this one's; `Wait`: log in
    /// again once it ends).
    Flight { call: LoginCall, role: Role },
    /// Leading a login for `call` to `url`.
    Leading {
        call: LoginCall,
        url: String,
        step: Step<V>,
    },
    /// A request sent with the skey `sent` (`None`: without a session).
    Sending { sent: Option<String> },
}

#[derive(Clone, Debug, PartialEq)]
enum Kind<V> {
    Login(LoginParams<V>),
    /// `url`: the caller's URL joined to `baseUrl`, when it was relative.
    Request {
        transfer: Transfer,
        attempt: Attempt,
        url: Option<String>,
    },
    Handshake {
        attempt: Attempt,
    },
}

#[derive(Clone, Debug, PartialEq)]
struct Op<V> {
    id: OpId,
    kind: Kind<V>,
    stage: Stage<V>,
    /// Aborted while it led a login others share: over for its caller, the login goes on.
    detached: bool,
}

/// The flows of one SDK instance.
#[derive(Debug)]
pub struct Flows<V> {
    config: ClientConfig,
    dialect: DialectState,
    flight: Flight<OpId>,
    ops: Vec<Op<V>>,
    out: VecDeque<Action<V>>,
    /// The stored value while an input is handled (storage's, then this machine's own
    /// writes).
    stored: V,
}

impl<V: Value> Default for Flows<V> {
    fn default() -> Self {
        Flows {
            config: ClientConfig::default(),
            dialect: DialectState::default(),
            flight: Flight::default(),
            ops: Vec::new(),
            out: VecDeque::new(),
            stored: V::undefined(),
        }
    }
}

impl<V: Value> Flows<V> {
    /// The settings merged from every `configure()`.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `configure()`: a rejected call changes nothing.
    pub fn configure(&mut self, o: &Options) -> Result<(), SdkError> {
        self.config.apply(o)?;
        self.dialect.set_protocol(self.config.protocol);
        Ok(())
    }

    /// `setLoginUrl(url)`.
    pub fn set_login_url(&mut self, url: &str) -> Result<(), SdkError> {
        if url.is_empty() {
            return Err(SdkError::invalid_params(
                ErrorKind::Login,
                "setLoginUrl() needs a non-empty string",
            ));
        }
        self.config.login_url = Some(url.to_owned());
        Ok(())
    }

    /// The headers carrying the session in `stored` in the dialect in force
    /// (`buildSessionHeader()`), and the skey they carry.
    pub fn session_headers(&self, stored: &V) -> (Headers, Option<String>) {
        match Session::read(stored) {
            Some(s) => {
                let dialect = self.dialect.current(Some(s.shape())).unwrap_or(s.shape());
                let headers = s.headers(dialect);
                let sent = (!headers.is_empty()).then_some(s.skey);
                (headers, sent)
            }
            None => (Vec::new(), None),
        }
    }

    /// The one input entry point. `stored` is the stored session value as storage holds
    /// it now.
    pub fn handle(&mut self, input: Input<V>, stored: V) {
        self.stored = stored;
        match input {
            Input::Start { op, call } => self.start(op, call),
            Input::Answered { op, result } => self.answered(op, result),
            Input::Cancel { op } => self.cancel(op),
        }
        self.stored = V::undefined();
    }

    /// The next action.
    pub fn poll(&mut self) -> Option<Action<V>> {
        self.out.pop_front()
    }

    // ---- starting -----------------------------------------------------------------

    fn start(&mut self, id: OpId, call: Call<V>) {
        match call {
            Call::Login { call, options } => match login_params(call, &options) {
                Ok(params) => {
                    self.push(id, Kind::Login(params));
                    self.login(id, call);
                }
                Err(e) => self.done(id, Err(Failure::Sdk(e))),
            },
            Call::Request { transfer, options } => {
                let o = match request_options(transfer, &options) {
                    Ok(o) => o,
                    Err(e) => return self.done(id, Err(Failure::Sdk(e))),
                };
                let url = o.url.as_deref().unwrap_or_default();
                let url = request::resolve_url(self.config.base_url.as_deref(), url);
                self.push(
                    id,
                    Kind::Request {
                        transfer,
                        attempt: Attempt::default(),
                        url,
                    },
                );
                if o.login.truthy() {
                    self.login(id, LoginCall::OnDemand);
                } else {
                    self.send(id);
                }
            }
            Call::Handshake => {
                self.push(
                    id,
                    Kind::Handshake {
                        attempt: Attempt::default(),
                    },
                );
                // With no session stored (and a login URL set) log in first, as
                // `request({ login: true })` would: a reconnect after the server rejected
                // (and so cleared) the session must not stay locked out until page code
                // logs in again. Without a login URL the handshake goes out as is.
                if self.config.login_url.is_some() && Session::read(&self.stored).is_none() {
                    self.login(id, LoginCall::Renew);
                } else {
                    self.send(id);
                }
            }
        }
    }

    // ---- login --------------------------------------------------------------------

    /// Log in for operation `id`, or share the login already running.
    fn login(&mut self, id: OpId, call: LoginCall) {
        match self.flight.join(call, id) {
            Role::Lead => self.lead(id, call),
            role => {
                self.log(if role == Role::Join {
                    Record::LoginJoined
                } else {
                    Record::LoginQueued
                });
                self.set_stage(id, Stage::Flight { call, role });
            }
        }
    }

    fn params(&self, id: OpId) -> Option<&LoginParams<V>> {
        match &self.op(id)?.kind {
            Kind::Login(params) => Some(params),
            _ => None,
        }
    }

    /// Run a login for `call` (this operation leads the flight).
    fn lead(&mut self, id: OpId, call: LoginCall) {
        let url = self
            .params(id)
            .and_then(|p| p.url.clone())
            .or_else(|| self.config.login_url.clone());
        let Some(url) = url else {
            return self.finish_login(id, Err(SdkError::missing_login_url()));
        };
        let stored = Session::read(&self.stored);
        let dialect = self.dialect.current(stored.as_ref().map(Session::shape));
        let step = if stored.is_some() && call.reuses_stored(dialect) {
            self.out.push_back(Action::CheckSession { op: id });
            Step::Checking
        } else {
            return self.credentials(id, call, url);
        };
        self.set_stage(id, Stage::Leading { call, url, step });
    }

    /// Get the credentials: the page's own, or `wx.login` (and `wx.getUserInfo`).
    fn credentials(&mut self, id: OpId, call: LoginCall, url: String) {
        let dialect = self.dialect_now();
        let given = self.params(id).and_then(|p| p.given.clone());
        let mode = call
            .mode(dialect)
            .unwrap_or_else(|| login::given_mode(given.as_ref().is_some_and(|g| g.user.is_some())));
        self.log(Record::Login {
            mode: mode.as_str(),
        });
        match given {
            Some(g) => self.send_login(id, call, url, mode, &g.code, g.user, g.user_info),
            None => {
                self.out.push_back(Action::WxLogin { op: id });
                self.set_stage(
                    id,
                    Stage::Leading {
                        call,
                        url,
                        step: Step::WxLogin { mode },
                    },
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_login(
        &mut self,
        id: OpId,
        call: LoginCall,
        url: String,
        mode: LoginMode,
        code: &str,
        user: Option<(String, String)>,
        profile: V,
    ) {
        let headers =
            login::login_headers(code, user.as_ref().map(|(e, iv)| (e.as_str(), iv.as_str())));
        let (method, data) = match self.params(id) {
            Some(p) => (p.method.clone(), p.data.clone()),
            None => (None, None),
        };
        self.out.push_back(Action::Login {
            op: id,
            request: LoginRequest {
                url: url.clone(),
                method,
                headers,
                data,
                timeout: self.config.request_timeout,
            },
        });
        self.set_stage(
            id,
            Stage::Leading {
                call,
                url,
                step: Step::Request { mode, profile },
            },
        );
    }

    /// A leading login's platform call answered.
    fn login_step(
        &mut self,
        id: OpId,
        call: LoginCall,
        url: String,
        step: Step<V>,
        result: Result<V, V>,
    ) {
        match step {
            Step::Checking => {
                let valid = result.is_ok_and(|v| v.decode::<Scalar>().unwrap_or_default().truthy());
                self.log(Record::CheckSession { valid });
                // The stored value as it is now (it may have changed meanwhile).
                let stored = Session::read(&self.stored);
                match stored {
                    Some(s) if valid => {
                        let user_info = self.stored.member(s.user_info_field());
                        self.finish_login(id, Ok(user_info));
                    }
                    _ => {
                        if stored.is_some() {
                            self.store(None);
                        }
                        self.credentials(id, call, url);
                    }
                }
            }
            Step::WxLogin { mode } => {
                let code = match &result {
                    Ok(v) => scalar(v, "code"),
                    Err(_) => Scalar::Absent,
                };
                let Some(code) = code.text() else {
                    let text = result.err().as_ref().and_then(fail_text);
                    return self.finish_login(id, Err(login::wx_login_failed(text)));
                };
                if mode == LoginMode::CodeOnly {
                    return self.send_login(id, call, url, mode, code, None, V::undefined());
                }
                let lang = self.params(id).and_then(|p| p.lang.clone());
                self.out.push_back(Action::GetUserInfo { op: id, lang });
                let code = code.to_owned();
                self.set_stage(
                    id,
                    Stage::Leading {
                        call,
                        url,
                        step: Step::UserInfo { code },
                    },
                );
            }
            Step::UserInfo { code } => match result {
                Ok(user) => {
                    let text = |key| scalar(&user, key).string().unwrap_or_default().to_owned();
                    let credentials = (text("encryptedData"), text("iv"));
                    let profile = user.member("userInfo");
                    self.send_login(
                        id,
                        call,
                        url,
                        LoginMode::Full,
                        &code,
                        Some(credentials),
                        profile,
                    );
                }
                Err(fail) => {
                    let e = login::wx_user_info_failed(fail_text(&fail));
                    self.finish_login(id, Err(e));
                }
            },
            Step::Request { mode, profile } => {
                let outcome = match result {
                    Ok(response) => self.login_answer(mode, &response, profile),
                    Err(fail) => Err(login::login_request_failed(fail_text(&fail))),
                };
                self.finish_login(id, outcome);
            }
        }
    }

    /// Read a login answer: store the session and give the user info, or the error.
    fn login_answer(&mut self, mode: LoginMode, response: &V, profile: V) -> Result<V, SdkError> {
        let data = response.member("data");
        let answer: Answer = data.lenient();
        let ok = match login::classify_login(
            self.dialect.protocol,
            mode,
            status_of(response),
            &answer,
        ) {
            Ok(ok) => ok,
            Err(e) => {
                self.log(Record::LoginFailed { ty: e.ty.as_str() });
                return Err(e);
            }
        };
        self.dialect.learn(ok.dialect);
        let user_info = match ok.dialect {
            // Wafer 1 stores the server's `session` plus the WeChat profile, as 0.8 did.
            Dialect::Wafer1 => {
                let session = data
                    .member("session")
                    .with_member("userInfo", profile.clone());
                self.store(Some(session));
                profile
            }
            // Wafer 2 stores the response's `data` as is, as 2.1 did.
            Dialect::Wafer2 => {
                let stored = data.member("data");
                let user_info = stored.member("userinfo");
                self.store(Some(stored));
                user_info
            }
        };
        self.log(Record::LoginOk {
            dialect: ok.dialect.as_str(),
        });
        Ok(user_info)
    }

    /// The login led by `id` is over: its outcome goes to `id` and to every operation
    /// that joined; those that waited log in again.
    fn finish_login(&mut self, id: OpId, outcome: Result<V, SdkError>) {
        let waiters = self.flight.finish();
        self.logged_in(id, outcome.clone());
        for (waiter, role) in waiters {
            match (role, self.op(waiter).map(|o| o.stage.clone())) {
                (Role::Join, Some(_)) => self.logged_in(waiter, outcome.clone()),
                (_, Some(Stage::Flight { call, .. })) => self.login(waiter, call),
                _ => {}
            }
        }
    }

    /// The login operation `id` took part in is over.
    fn logged_in(&mut self, id: OpId, outcome: Result<V, SdkError>) {
        let Some(op) = self.op(id) else { return };
        if op.detached {
            // Its caller heard at once; the login was for the others.
            return self.ops.retain(|o| o.id != id);
        }
        match (&op.kind, outcome) {
            (Kind::Login(_), result) => self.done(id, result.map_err(Failure::Sdk)),
            (_, Ok(_)) => self.send(id),
            (_, Err(e)) => self.done(id, Err(Failure::Sdk(e))),
        }
    }

    // ---- requests -----------------------------------------------------------------

    /// Send the operation's request with the stored session.
    fn send(&mut self, id: OpId) {
        let (headers, sent) = self.session_headers(&self.stored);
        let url = match self.op(id).map(|o| &o.kind) {
            Some(Kind::Request { url, .. }) => url.clone(),
            _ => None,
        };
        self.out.push_back(Action::Send {
            op: id,
            url,
            headers,
            timeout: self.config.request_timeout,
        });
        self.set_stage(id, Stage::Sending { sent });
    }

    /// A request's answer: deliver it, or renew the session and send it again (once).
    fn sent(&mut self, id: OpId, sent: Option<String>, result: Result<V, V>) {
        let Some(op) = self.op(id) else { return };
        let (transfer, handshake, mut attempt) = match op.kind {
            Kind::Request {
                transfer, attempt, ..
            } => (transfer, false, attempt),
            Kind::Handshake { attempt } => (Transfer::Request, true, attempt),
            Kind::Login(_) => return,
        };
        let response = match result {
            Ok(r) => r,
            Err(fail) if handshake => return self.done(id, Err(Failure::Platform(fail))),
            Err(fail) => {
                let e = SdkError::request_failed(fail_text(&fail));
                return self.done(id, Err(Failure::Sdk(e)));
            }
        };
        let data = response.member("data");
        let body = match transfer {
            Transfer::Request => Some(data),
            // uploadFile's data is a string: parsed only to look for a session failure.
            Transfer::Upload => data.parse_json(),
            // downloadFile's body is in a file: the status is all there is.
            Transfer::Download => None,
        };
        let answer = body.map(|b| b.lenient::<Answer>());
        // The stored session is read once: nothing below changes storage before `next`.
        let current = Session::read(&self.stored);
        let shape = current.as_ref().map(Session::shape);
        let (verdict, learned) = request::classify_response(
            self.dialect.current(shape),
            status_of(&response),
            answer.as_ref(),
        );
        if let Some(d) = learned {
            self.dialect.learn(d);
        }
        let dialect = self.dialect.current(shape);
        let current = current.map(|s| s.skey);
        let next = attempt.next(verdict, dialect, sent.as_deref(), current.as_deref());
        if let Some(op) = self.op_mut(id) {
            match &mut op.kind {
                Kind::Request { attempt: a, .. } | Kind::Handshake { attempt: a } => *a = attempt,
                Kind::Login(_) => {}
            }
        }
        match next {
            Next::Deliver => self.done(id, Ok(response)),
            Next::Resend => {
                self.log(Record::Retry {
                    reason: "session-renewed",
                });
                self.send(id);
            }
            Next::Relogin { clear } => {
                // The server rejected a session of this dialect by that dialect's rule:
                // it speaks it (so a Wafer 2 session is renewed with the code alone even
                // before a login answer of this run proved the dialect).
                if let Some(d) = dialect {
                    self.dialect.learn(d);
                }
                if clear {
                    self.store(None);
                }
                self.log(Record::Retry {
                    reason: "session-invalid",
                });
                self.login(id, LoginCall::Renew);
            }
            Next::Fail { error, clear } => {
                if clear {
                    self.store(None);
                }
                self.done(id, Err(Failure::Sdk(error)));
            }
        }
    }

    // ---- aborting -----------------------------------------------------------------

    /// The caller aborted operation `id` (see the module's documentation).
    fn cancel(&mut self, id: OpId) {
        let Some(op) = self.op(id) else { return };
        if op.detached {
            return;
        }
        let leading = matches!(op.stage, Stage::Leading { .. });
        let shared = self.flight.joined();
        match op.stage {
            Stage::Flight { .. } => self.flight.leave(&id),
            // A login others share goes on for them.
            Stage::Leading { .. } if shared => {}
            _ => self.out.push_back(Action::Abort { op: id }),
        }
        self.out.push_back(Action::Done {
            op: id,
            result: Err(Failure::Sdk(SdkError::aborted())),
        });
        if let Some(op) = self.op_mut(id) {
            op.detached = true;
        }
        if leading && shared {
            return;
        }
        self.ops.retain(|o| o.id != id);
        // A login led by an aborted caller goes on only while someone shares it.
        let leader = self.ops.iter().find(|o| o.detached).map(|o| o.id);
        if let Some(leader) = leader.filter(|_| !self.flight.joined()) {
            self.out.push_back(Action::Abort { op: leader });
            self.ops.retain(|o| o.id != leader);
            self.abandon_login();
        } else if leading {
            self.abandon_login();
        }
    }

    /// The running login is given up: nobody shares its outcome, so those that waited
    /// for it to end log in now.
    fn abandon_login(&mut self) {
        for (waiter, _) in self.flight.finish() {
            if let Some(Stage::Flight { call, .. }) = self.op(waiter).map(|o| o.stage.clone()) {
                self.login(waiter, call);
            }
        }
    }

    // ---- plumbing -----------------------------------------------------------------

    /// A new operation (its stage is set by what it does first).
    fn push(&mut self, id: OpId, kind: Kind<V>) {
        self.ops.push(Op {
            id,
            kind,
            stage: Stage::Sending { sent: None },
            detached: false,
        });
    }

    fn answered(&mut self, id: OpId, result: Result<V, V>) {
        let Some(op) = self.op(id) else { return };
        match op.stage.clone() {
            Stage::Leading { call, url, step } => self.login_step(id, call, url, step, result),
            Stage::Sending { sent } => self.sent(id, sent, result),
            // Not waiting on the platform: a stray answer changes nothing.
            Stage::Flight { .. } => {}
        }
    }

    /// The dialect in force for what storage holds now.
    fn dialect_now(&self) -> Option<Dialect> {
        let stored = Session::read(&self.stored);
        self.dialect.current(stored.as_ref().map(Session::shape))
    }

    fn store(&mut self, value: Option<V>) {
        self.stored = value.clone().unwrap_or_else(V::undefined);
        self.out.push_back(Action::Store(value));
    }

    fn done(&mut self, id: OpId, result: Result<V, Failure<V>>) {
        self.ops.retain(|o| o.id != id);
        self.out.push_back(Action::Done { op: id, result });
    }

    fn log(&mut self, record: Record) {
        self.out.push_back(Action::Log(record));
    }

    fn op(&self, id: OpId) -> Option<&Op<V>> {
        self.ops.iter().find(|o| o.id == id)
    }

    fn op_mut(&mut self, id: OpId) -> Option<&mut Op<V>> {
        self.ops.iter_mut().find(|o| o.id == id)
    }

    fn set_stage(&mut self, id: OpId, stage: Stage<V>) {
        if let Some(op) = self.op_mut(id) {
            op.stage = stage;
        }
    }
}

/// A login call's options.
fn login_params<V: Value>(call: LoginCall, options: &V) -> Result<LoginParams<V>, SdkError> {
    let invalid = |e: Invalid| SdkError::invalid_params(ErrorKind::Login, &e.describe("options"));
    // `undefined` and `null` are no options.
    let o: LoginOptions = options
        .decode::<Option<LoginOptions>>()
        .map_err(invalid)?
        .unwrap_or_default();
    let nonempty = |s: Option<String>| s.filter(|v| !v.is_empty());
    let data = options.member("data");
    let given = if call == LoginCall::Given {
        let p = o.login_params.unwrap_or_default();
        let Some(code) = nonempty(p.code) else {
            return Err(SdkError::invalid_params(
                ErrorKind::Login,
                "requestLogin() needs loginParams.code (a wx.login code)",
            ));
        };
        Some(Given {
            code,
            user: nonempty(p.encrypted_data).zip(nonempty(p.iv)),
            user_info: options.member("loginParams").member("userInfo"),
        })
    } else {
        None
    };
    Ok(LoginParams {
        url: nonempty(o.login_url),
        method: o.method,
        data: match data.decode::<Scalar>() {
            Ok(Scalar::Absent) => None,
            _ => Some(data),
        },
        lang: nonempty(o.lang),
        given,
    })
}

/// `request()` / `uploadFile()` / `downloadFile()` options, checked.
fn request_options<V: Value>(transfer: Transfer, options: &V) -> Result<RequestOptions, SdkError> {
    let invalid = |what: &str| SdkError::invalid_params(ErrorKind::Request, what);
    let o: RequestOptions = options
        .decode()
        .map_err(|e| invalid(&e.describe("request options")))?;
    let filled = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if !filled(&o.url) {
        return Err(invalid("url must be a non-empty string"));
    }
    if transfer == Transfer::Upload {
        for (key, value) in [("filePath", &o.file_path), ("name", &o.name)] {
            if !filled(value) {
                return Err(invalid(&[key, " must be a non-empty string"].concat()));
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests;
