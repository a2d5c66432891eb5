//! Login rules: which login to run, whether a stored session answers it, the headers it
//! sends, how to read the answer, and single-flight (concurrent callers share one login,
//! so `wx.login` runs once and the WeChat `session_key` is rotated once).

use super::error::{ErrorType, SdkError};
use super::protocol::{
    Answer, Dialect, Headers, Protocol, HEADER_CODE, HEADER_ENCRYPTED_DATA, HEADER_IV,
};
use super::session::{header_safe, Session};

/// The two kinds of login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginMode {
    /// `wx.login` + `wx.getUserInfo`, three headers (`login()`).
    Full,
    /// `wx.login` only, `X-WX-Code` alone (Wafer 2 `loginWithCode()`).
    CodeOnly,
}

impl LoginMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMode::Full => "full",
            LoginMode::CodeOnly => "code",
        }
    }

    /// The login that renews a rejected session or serves `request({ login: true })`:
    /// Wafer 2 uses the code alone (as its official client does, and because
    /// `wx.getUserInfo` needs a user tap there); Wafer 1 and the unknown case log in fully.
    pub fn automatic(dialect: Option<Dialect>) -> LoginMode {
        match dialect {
            Some(Dialect::Wafer2) => LoginMode::CodeOnly,
            _ => LoginMode::Full,
        }
    }
}

/// Which call asked for a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginCall {
    /// `login()`.
    Login,
    /// `loginWithCode()`.
    WithCode,
    /// `requestLogin({ loginParams })`: credentials the page got itself (a profile button).
    Given,
    /// `request({ login: true })`: any valid session will do.
    OnDemand,
    /// A session was rejected, or a tunnel handshake found none: a new one is needed.
    Renew,
}

impl LoginCall {
    /// Whether a stored session that `wx.checkSession` still accepts answers this call
    /// without asking the server. Wafer 1 `login()` does, as 0.8 did; Wafer 2 `login()`
    /// never does, as 2.1 does not (apps call it from the profile button to refresh the
    /// stored profile); `request({ login: true })` does in both dialects, so a burst of
    /// requests with a valid session costs no login at all.
    pub fn reuses_stored(self, dialect: Option<Dialect>) -> bool {
        match self {
            LoginCall::Login => dialect == Some(Dialect::Wafer1),
            LoginCall::OnDemand => true,
            LoginCall::WithCode | LoginCall::Given | LoginCall::Renew => false,
        }
    }

    /// The login this call runs with `wx.login` (`None`: [`LoginCall::Given`], whose
    /// credentials decide, see [`given_mode`]).
    pub fn mode(self, dialect: Option<Dialect>) -> Option<LoginMode> {
        match self {
            LoginCall::Login => Some(LoginMode::Full),
            LoginCall::WithCode => Some(LoginMode::CodeOnly),
            LoginCall::OnDemand | LoginCall::Renew => Some(LoginMode::automatic(dialect)),
            LoginCall::Given => None,
        }
    }

    /// Whether this call may share a login already running for `running` (and its
    /// outcome) instead of running its own. Calls that only need some session share any
    /// login but one made with a page's own credentials (which may fail for reasons of
    /// their own); `login()` and `loginWithCode()` share a login of their own kind;
    /// `requestLogin()` always sends the credentials it was given.
    pub fn joins(self, running: LoginCall) -> bool {
        match self {
            LoginCall::OnDemand | LoginCall::Renew => running != LoginCall::Given,
            LoginCall::Login | LoginCall::WithCode => self == running,
            LoginCall::Given => false,
        }
    }
}

/// The login a page's own credentials make: three headers when it has the encrypted
/// profile, the code alone otherwise.
pub fn given_mode(has_user_data: bool) -> LoginMode {
    if has_user_data {
        LoginMode::Full
    } else {
        LoginMode::CodeOnly
    }
}

/// Headers of the login request.
pub fn login_headers(code: &str, user: Option<(&str, &str)>) -> Headers {
    let mut h = vec![(HEADER_CODE, code.to_owned())];
    if let Some((encrypted_data, iv)) = user {
        h.push((HEADER_ENCRYPTED_DATA, encrypted_data.to_owned()));
        h.push((HEADER_IV, iv.to_owned()));
    }
    h
}

/// What a successful login response held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginOk {
    pub dialect: Dialect,
    pub session: Session,
}

/// Read the login response (`status` is the HTTP status, `answer` what its data holds).
pub fn classify_login(
    protocol: Protocol,
    mode: LoginMode,
    status: u16,
    answer: &Answer,
) -> Result<LoginOk, SdkError> {
    // Wafer 1: `{ <magic>: 1, session: { id, skey } }` or `{ <magic>: 1, error, message }`.
    if protocol.allows(Dialect::Wafer1) && answer.wafer1() {
        let creds = answer.session.0.as_ref().and_then(|s| {
            let id = s.id.text().filter(|v| header_safe(v))?;
            let skey = s.skey.text().filter(|v| header_safe(v))?;
            Some(Session {
                id: Some(id.to_owned()),
                skey: skey.to_owned(),
            })
        });
        return match creds {
            Some(session) => Ok(LoginOk {
                dialect: Dialect::Wafer1,
                session,
            }),
            None => {
                let message = answer.message.text();
                let text = [
                    "登录失败(",
                    answer.error.text().unwrap_or("ERR_LOGIN_FAILED"),
                    ")：",
                    message.unwrap_or("未知错误"),
                ]
                .concat();
                Err(SdkError::login(ErrorType::LoginMissingSession, text)
                    .with_detail(message.map(str::to_owned)))
            }
        };
    }
    // Wafer 2: `{ code: 0, data: { skey, userinfo, ... } }`; anything else is a failure.
    if protocol.allows(Dialect::Wafer2) {
        if let Some(data) = answer.wafer2_data() {
            let skey = data.skey.text().filter(|v| header_safe(v));
            if let (Some(skey), true) = (skey, data.userinfo.truthy()) {
                return Ok(LoginOk {
                    dialect: Dialect::Wafer2,
                    session: Session {
                        id: None,
                        skey: skey.to_owned(),
                    },
                });
            }
        }
    }
    let server_error = answer.error_text();
    if protocol.allows(Dialect::Wafer2) && answer.code.is_number(-1.0) {
        let text = match mode {
            LoginMode::CodeOnly => "用户未登录过，请先使用 login() 登录",
            LoginMode::Full => "登录失败，服务器拒绝了登录请求",
        };
        return Err(SdkError::login(ErrorType::LoginFailed, text).with_detail(server_error));
    }
    if !(200..300).contains(&status) {
        return Err(SdkError::login(
            ErrorType::LoginFailed,
            "登录失败，可能是网络错误或者服务器发生异常",
        )
        .with_detail(server_error));
    }
    Err(SdkError::login(
        ErrorType::LoginMissingSession,
        "登录请求没有包含会话响应，请确保服务器处理登录地址的时候正确使用了 SDK 输出登录结果",
    )
    .with_detail(server_error))
}

/// The error for a `wx.request` failure during login.
pub fn login_request_failed(err_msg: Option<String>) -> SdkError {
    let timeout = err_msg.as_deref().is_some_and(super::error::is_timeout);
    let (ty, text) = if timeout {
        (ErrorType::LoginTimeout, "登录超时，请检查网络状态")
    } else {
        (
            ErrorType::LoginFailed,
            "登录失败，可能是网络错误或者服务器发生异常",
        )
    };
    SdkError::login(ty, text).with_detail(err_msg)
}

/// The error for a failed `wx.login`.
pub fn wx_login_failed(err_msg: Option<String>) -> SdkError {
    SdkError::login(ErrorType::WxLoginFailed, "微信登录失败，请检查网络状态").with_detail(err_msg)
}

/// The error for a failed `wx.getUserInfo`.
pub fn wx_user_info_failed(err_msg: Option<String>) -> SdkError {
    SdkError::login(
        ErrorType::WxGetUserInfo,
        "获取微信用户信息失败，请检查网络状态",
    )
    .with_detail(err_msg)
}

/// A caller's part in the login already running (see [`Flight::join`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// No login was running: the caller runs one now and hands its outcome to the others.
    Lead,
    /// The caller shares the running login's outcome.
    Join,
    /// The running login cannot serve the caller: it waits for it to end, then tries again.
    Wait,
}

/// One login at a time: the first caller leads, later callers share its outcome or wait
/// for it to end ([`LoginCall::joins`]).
#[derive(Debug)]
pub struct Flight<W> {
    running: Option<LoginCall>,
    waiters: Vec<(W, Role)>,
}

impl<W> Default for Flight<W> {
    fn default() -> Self {
        Flight {
            running: None,
            waiters: Vec::new(),
        }
    }
}

impl<W> Flight<W> {
    /// Join for `call`. Unless the caller leads, `waiter` is kept with its role and
    /// handed back by [`Flight::finish`] once the running login ends.
    pub fn join(&mut self, call: LoginCall, waiter: W) -> Role {
        match self.running {
            None => {
                self.running = Some(call);
                Role::Lead
            }
            Some(running) => {
                let role = if call.joins(running) {
                    Role::Join
                } else {
                    Role::Wait
                };
                self.waiters.push((waiter, role));
                role
            }
        }
    }

    /// The leader finished: everyone who joined or waited meanwhile, in order.
    pub fn finish(&mut self) -> Vec<(W, Role)> {
        self.running = None;
        std::mem::take(&mut self.waiters)
    }

    /// Whether a caller shares the running login's outcome.
    pub fn joined(&self) -> bool {
        self.waiters.iter().any(|(_, r)| *r == Role::Join)
    }
}

impl<W: PartialEq> Flight<W> {
    /// `waiter` no longer waits (its call was aborted).
    pub fn leave(&mut self, waiter: &W) {
        self.waiters.retain(|(w, _)| w != waiter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sansio::protocol::MAGIC_ID;
    use crate::sansio::testing::answer;
    use serde_json::json;

    const W1: Protocol = Protocol::Fixed(Dialect::Wafer1);
    const W2: Protocol = Protocol::Fixed(Dialect::Wafer2);

    #[test]
    fn wafer1_success() {
        let body = json!({ MAGIC_ID: 1, "session": { "id": "i", "skey": "s" } });
        let ok = classify_login(Protocol::Auto, LoginMode::Full, 200, &answer(&body)).unwrap();
        assert_eq!(ok.dialect, Dialect::Wafer1);
        assert_eq!(ok.session.id.as_deref(), Some("i"));
        assert!(classify_login(W2, LoginMode::Full, 200, &answer(&body)).is_err());
    }

    #[test]
    fn wafer1_failure_is_missing_session_with_server_text() {
        let body = json!({ MAGIC_ID: 1, "error": "ERR_LOGIN_FAILED", "message": "bad code" });
        let e = classify_login(W1, LoginMode::Full, 200, &answer(&body)).unwrap_err();
        assert_eq!(e.ty, ErrorType::LoginMissingSession);
        assert_eq!(e.message, "登录失败(ERR_LOGIN_FAILED)：bad code");
        assert_eq!(e.detail.as_deref(), Some("bad code"));
    }

    #[test]
    fn wafer2_success_and_failures() {
        let body = json!({ "code": 0, "data": { "skey": "s", "userinfo": { "n": 1 } } });
        let ok = classify_login(Protocol::Auto, LoginMode::CodeOnly, 200, &answer(&body)).unwrap();
        assert_eq!(ok.dialect, Dialect::Wafer2);
        assert_eq!(
            ok.session,
            Session {
                id: None,
                skey: "s".into()
            }
        );
        assert!(classify_login(W1, LoginMode::Full, 200, &answer(&body)).is_err());

        let no_user = json!({ "code": 0, "data": { "skey": "s" } });
        assert!(classify_login(W2, LoginMode::Full, 200, &answer(&no_user)).is_err());

        let rejected = json!({ "code": -1, "error": "ERR_USER_NOT_FOUND" });
        let e = classify_login(W2, LoginMode::CodeOnly, 200, &answer(&rejected)).unwrap_err();
        assert_eq!(e.ty, ErrorType::LoginFailed);
        assert_eq!(e.detail.as_deref(), Some("ERR_USER_NOT_FOUND"));
    }

    #[test]
    fn garbage_and_http_errors() {
        let e = classify_login(
            Protocol::Auto,
            LoginMode::Full,
            500,
            &answer(&json!("<html>")),
        )
        .unwrap_err();
        assert_eq!(e.ty, ErrorType::LoginFailed);
        let e =
            classify_login(Protocol::Auto, LoginMode::Full, 200, &answer(&json!({}))).unwrap_err();
        assert_eq!(e.ty, ErrorType::LoginMissingSession);
    }

    #[test]
    fn headers_per_mode() {
        assert_eq!(
            login_headers("c", None),
            vec![(HEADER_CODE, "c".to_owned())]
        );
        assert_eq!(login_headers("c", Some(("e", "v"))).len(), 3);
    }

    #[test]
    fn automatic_mode_follows_the_dialect() {
        assert_eq!(
            LoginMode::automatic(Some(Dialect::Wafer2)),
            LoginMode::CodeOnly
        );
        assert_eq!(LoginMode::automatic(Some(Dialect::Wafer1)), LoginMode::Full);
        assert_eq!(LoginMode::automatic(None), LoginMode::Full);
    }

    #[test]
    fn flight_shares_one_login() {
        use Role::{Join, Lead};
        let mut f: Flight<u32> = Flight::default();
        assert_eq!(f.join(LoginCall::OnDemand, 0), Lead);
        assert_eq!(f.join(LoginCall::OnDemand, 1), Join);
        assert_eq!(f.join(LoginCall::Renew, 2), Join);
        assert_eq!(f.finish(), vec![(1, Join), (2, Join)]);
        assert_eq!(f.join(LoginCall::Login, 3), Lead);
        assert_eq!(f.finish(), vec![]);
    }

    #[test]
    fn flight_callers_may_leave() {
        use Role::{Join, Lead, Wait};
        let mut f: Flight<u32> = Flight::default();
        assert_eq!(f.join(LoginCall::OnDemand, 0), Lead);
        assert!(!f.joined());
        assert_eq!(f.join(LoginCall::Login, 1), Wait);
        assert!(!f.joined());
        assert_eq!(f.join(LoginCall::Renew, 2), Join);
        assert!(f.joined());
        f.leave(&2);
        assert!(!f.joined());
        assert_eq!(f.finish(), vec![(1, Wait)]);
    }

    #[test]
    fn flight_makes_incompatible_callers_wait() {
        use Role::{Join, Lead, Wait};
        let mut f: Flight<u32> = Flight::default();
        assert_eq!(f.join(LoginCall::OnDemand, 0), Lead);
        // A reused session must not answer a Wafer 2 login() or loginWithCode().
        assert_eq!(f.join(LoginCall::Login, 1), Wait);
        assert_eq!(f.join(LoginCall::WithCode, 2), Wait);
        assert_eq!(f.join(LoginCall::Given, 3), Wait);
        assert_eq!(f.finish(), vec![(1, Wait), (2, Wait), (3, Wait)]);
        assert_eq!(f.join(LoginCall::Login, 4), Lead);
        assert_eq!(f.join(LoginCall::Login, 5), Join);
        assert_eq!(f.join(LoginCall::OnDemand, 6), Join);
        assert_eq!(f.join(LoginCall::WithCode, 7), Wait);
        f.finish();
        // A page's own credentials are never shared, nor replaced by another login.
        assert_eq!(f.join(LoginCall::Given, 8), Lead);
        assert_eq!(f.join(LoginCall::OnDemand, 9), Wait);
        assert_eq!(f.join(LoginCall::Given, 10), Wait);
    }

    #[test]
    fn reuse_of_the_stored_session_per_call_and_dialect() {
        use Dialect::{Wafer1, Wafer2};
        // login(): Wafer 1 reuses a session WeChat still vouches for; Wafer 2 always asks.
        assert!(LoginCall::Login.reuses_stored(Some(Wafer1)));
        assert!(!LoginCall::Login.reuses_stored(Some(Wafer2)));
        assert!(!LoginCall::Login.reuses_stored(None));
        // request({ login: true }) reuses in both dialects.
        for d in [Some(Wafer1), Some(Wafer2), None] {
            assert!(LoginCall::OnDemand.reuses_stored(d));
            for call in [LoginCall::WithCode, LoginCall::Given, LoginCall::Renew] {
                assert!(!call.reuses_stored(d), "{call:?} {d:?}");
            }
        }
    }

    #[test]
    fn login_mode_per_call() {
        use Dialect::{Wafer1, Wafer2};
        assert_eq!(LoginCall::Login.mode(Some(Wafer2)), Some(LoginMode::Full));
        assert_eq!(
            LoginCall::WithCode.mode(Some(Wafer1)),
            Some(LoginMode::CodeOnly)
        );
        assert_eq!(
            LoginCall::OnDemand.mode(Some(Wafer2)),
            Some(LoginMode::CodeOnly)
        );
        assert_eq!(LoginCall::Renew.mode(Some(Wafer1)), Some(LoginMode::Full));
        assert_eq!(LoginCall::Renew.mode(None), Some(LoginMode::Full));
        assert_eq!(LoginCall::Given.mode(Some(Wafer2)), None);
        assert_eq!(given_mode(true), LoginMode::Full);
        assert_eq!(given_mode(false), LoginMode::CodeOnly);
    }

    #[test]
    fn wafer2_answer_without_skey_is_a_failure() {
        // The quickstart answers an unknown route with { code: 0, data: {} }.
        for body in [
            json!({ "code": 0, "data": {} }),
            json!({ "code": 0 }),
            json!({ "code": 0, "data": { "userinfo": { "n": 1 } } }),
            json!({ "code": 0, "data": { "skey": "", "userinfo": { "n": 1 } } }),
        ] {
            for p in [Protocol::Auto, W2] {
                for mode in [LoginMode::Full, LoginMode::CodeOnly] {
                    let e = classify_login(p, mode, 200, &answer(&body)).unwrap_err();
                    assert_eq!(e.ty, ErrorType::LoginMissingSession, "{body}");
                }
            }
        }
    }

    #[test]
    fn timeouts_are_login_timeouts() {
        assert_eq!(
            login_request_failed(Some("request:fail timeout".into())).ty,
            ErrorType::LoginTimeout
        );
        assert_eq!(login_request_failed(None).ty, ErrorType::LoginFailed);
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use crate::sansio::testing::arb;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(arb::config(256))]

            #[test]
            fn classify_never_panics(
                v in arb::json(),
                status in prop_oneof![0u16..600, any::<u16>()],
                p in prop::sample::select(vec![Protocol::Auto, W1, W2]),
                code_only in any::<bool>(),
            ) {
                let mode = if code_only { LoginMode::CodeOnly } else { LoginMode::Full };
                match classify_login(p, mode, status, &answer(&v)) {
                    Ok(ok) => {
                        prop_assert!(header_safe(&ok.session.skey));
                        if let Some(id) = &ok.session.id {
                            prop_assert!(header_safe(id));
                        }
                        prop_assert!(p.allows(ok.dialect));
                    }
                    Err(e) => prop_assert!(!e.message.is_empty()),
                }
            }
        }
    }
}
