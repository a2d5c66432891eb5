//! The SDK's error vocabulary: every failure is a `LoginError` or a `RequestError`
//! with a `type` string, as in both official clients.

/// Which JavaScript class the error becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Login,
    Request,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Login => "LoginError",
            ErrorKind::Request => "RequestError",
        }
    }
}

/// Every `ERR_*` value the SDK produces or exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    InvalidParams,
    WxLoginFailed,
    WxGetUserInfo,
    LoginTimeout,
    LoginFailed,
    /// Exported as `ERR_LOGIN_SESSION_NOT_RECEIVED`, value `ERR_LOGIN_MISSING_SESSION`.
    LoginMissingSession,
    /// Wafer 1's name for a session the server rejected.
    InvalidSession,
    /// Wafer 2's name for a session the server rejected.
    SessionInvalid,
    CheckLoginFailed,
    RequestFailed,
    RequestTimeout,
    /// The caller aborted the call (`task.abort()`).
    RequestAborted,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidParams => "ERR_INVALID_PARAMS",
            ErrorType::WxLoginFailed => "ERR_WX_LOGIN_FAILED",
            ErrorType::WxGetUserInfo => "ERR_WX_GET_USER_INFO",
            ErrorType::LoginTimeout => "ERR_LOGIN_TIMEOUT",
            ErrorType::LoginFailed => "ERR_LOGIN_FAILED",
            ErrorType::LoginMissingSession => "ERR_LOGIN_MISSING_SESSION",
            ErrorType::InvalidSession => "ERR_INVALID_SESSION",
            ErrorType::SessionInvalid => "ERR_SESSION_INVALID",
            ErrorType::CheckLoginFailed => "ERR_CHECK_LOGIN_FAILED",
            ErrorType::RequestFailed => "ERR_REQUEST_FAILED",
            ErrorType::RequestTimeout => "ERR_REQUEST_TIMEOUT",
            ErrorType::RequestAborted => "ERR_REQUEST_ABORTED",
        }
    }
}

/// An error on its way to page code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdkError {
    pub kind: ErrorKind,
    pub ty: ErrorType,
    pub message: String,
    /// The server's own error text, when there was one.
    pub detail: Option<String>,
}

impl SdkError {
    pub fn new(kind: ErrorKind, ty: ErrorType, message: impl Into<String>) -> Self {
        SdkError {
            kind,
            ty,
            message: message.into(),
            detail: None,
        }
    }

    pub fn login(ty: ErrorType, message: impl Into<String>) -> Self {
        SdkError::new(ErrorKind::Login, ty, message)
    }

    pub fn request(ty: ErrorType, message: impl Into<String>) -> Self {
        SdkError::new(ErrorKind::Request, ty, message)
    }

    pub fn with_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }

    /// `login()` without any login URL.
    pub fn missing_login_url() -> Self {
        SdkError::login(
            ErrorType::InvalidParams,
            "登录错误：缺少登录地址，请通过 setLoginUrl() 方法设置登录地址",
        )
    }

    /// An invalid argument or option, naming it.
    pub fn invalid_params(kind: ErrorKind, what: &str) -> Self {
        SdkError::new(
            kind,
            ErrorType::InvalidParams,
            ["参数错误：", what].concat(),
        )
    }

    /// `wx.request` itself failed (`fail` callback) for a business request.
    pub fn request_failed(err_msg: Option<String>) -> Self {
        let timeout = err_msg.as_deref().is_some_and(is_timeout);
        let (ty, message) = if timeout {
            (ErrorType::RequestTimeout, "请求超时")
        } else {
            (
                ErrorType::RequestFailed,
                "请求失败，可能是网络错误或者服务器发生异常",
            )
        };
        SdkError::request(ty, message).with_detail(err_msg)
    }
}

impl SdkError {
    /// The caller aborted the call. (The facade fails the call at once with its own copy
    /// of this error, which also carries wx's `errMsg`; see `js-shim/errors.js`.)
    pub fn aborted() -> Self {
        SdkError::request(ErrorType::RequestAborted, "请求已中止")
    }
}

/// Whether a platform `errMsg` reports a timeout (`request:fail timeout`).
pub fn is_timeout(err_msg: &str) -> bool {
    has(err_msg, "timeout") || has(err_msg, "超时")
}

/// Substring search without `str::contains`' two-way searcher (smaller in the wasm).
fn has(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_have_the_official_values() {
        assert_eq!(
            ErrorType::LoginMissingSession.as_str(),
            "ERR_LOGIN_MISSING_SESSION"
        );
        assert_eq!(ErrorType::InvalidSession.as_str(), "ERR_INVALID_SESSION");
        assert_eq!(ErrorType::SessionInvalid.as_str(), "ERR_SESSION_INVALID");
    }

    #[test]
    fn request_failure_detects_timeouts() {
        let e = SdkError::request_failed(Some("request:fail timeout".into()));
        assert_eq!(e.ty, ErrorType::RequestTimeout);
        assert_eq!(e.detail.as_deref(), Some("request:fail timeout"));
        let e = SdkError::request_failed(None);
        assert_eq!(e.ty, ErrorType::RequestFailed);
        assert_eq!(e.kind, ErrorKind::Request);
    }
}
