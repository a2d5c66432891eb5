//! Request rules: reading a response for session failures, and re-login-and-retry
//! exactly once.

use super::error::{ErrorType, SdkError};
use super::protocol::{Answer, Dialect};

/// What a response says about the session it carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a session failure: hand the response to the caller as is.
    Pass,
    /// The server rejected the session; a new login may fix it.
    SessionInvalid { detail: Option<String> },
    /// Wafer 1's session check failed for another reason (no session sent, auth
    /// server down, ...): logging in again will not help.
    CheckFailed {
        detail: Option<String>,
        error: Option<String>,
    },
}

/// Read a response. `dialect` is the one in force (`None`: not known yet, both rules
/// apply). Also returns the dialect the response proved, if any.
pub fn classify_response(
    dialect: Option<Dialect>,
    status: u16,
    body: Option<&Answer>,
) -> (Verdict, Option<Dialect>) {
    let wafer1 = dialect != Some(Dialect::Wafer2);
    let wafer2 = dialect != Some(Dialect::Wafer1);
    let text = |s: &crate::sansio::value::Scalar| s.text().map(str::to_owned);
    if let Some(body) = body {
        // A Wafer 1 body with the magic id is always a session failure.
        if wafer1 && body.wafer1() {
            let error = text(&body.error);
            let detail = text(&body.message);
            let verdict = if error.as_deref() == Some(ErrorType::InvalidSession.as_str()) {
                Verdict::SessionInvalid { detail }
            } else {
                Verdict::CheckFailed { detail, error }
            };
            return (verdict, Some(Dialect::Wafer1));
        }
        if wafer2 && body.code.is_number(-1.0) {
            let detail = body.error_text();
            return (Verdict::SessionInvalid { detail }, None);
        }
    }
    if wafer2 && status == 401 {
        let detail = body.and_then(|b| text(&b.error));
        return (Verdict::SessionInvalid { detail }, None);
    }
    (Verdict::Pass, None)
}

/// What to do after a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Give the caller the response.
    Deliver,
    /// Log in again (clearing the stored session first when `clear`), then resend.
    Relogin { clear: bool },
    /// Someone else already renewed the session meanwhile: resend with it at once.
    Resend,
    /// Give up with this error, clearing the stored session first when `clear`.
    Fail { error: SdkError, clear: bool },
}

/// The retry budget of one `request()` / `uploadFile()` call: exactly one retry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    retried: bool,
}

impl Attempt {
    /// Decide after a response. `sent` is the skey the request carried, `current` the
    /// skey stored now; they differ when another caller renewed the session while this
    /// request was in flight, and then the stored session must not be cleared.
    pub fn next(
        &mut self,
        verdict: Verdict,
        dialect: Option<Dialect>,
        sent: Option<&str>,
        current: Option<&str>,
    ) -> Next {
        // A rejected session is cleared, unless it is no longer the one stored.
        let clear = current.is_some() && current == sent;
        match verdict {
            Verdict::Pass => Next::Deliver,
            Verdict::CheckFailed { detail, error } => {
                let text = [
                    "鉴权服务器检查登录态发生错误(",
                    error.as_deref().unwrap_or("OTHER"),
                    ")：",
                    detail.as_deref().unwrap_or("未知错误"),
                ]
                .concat();
                Next::Fail {
                    error: SdkError::request(ErrorType::CheckLoginFailed, text).with_detail(detail),
                    clear,
                }
            }
            Verdict::SessionInvalid { detail } => {
                if self.retried {
                    let ty = match dialect {
                        Some(Dialect::Wafer1) => ErrorType::InvalidSession,
                        _ => ErrorType::SessionInvalid,
                    };
                    return Next::Fail {
                        error: SdkError::request(ty, "登录态已过期").with_detail(detail),
                        clear,
                    };
                }
                self.retried = true;
                let renewed = current.is_some() && current != sent;
                if renewed {
                    Next::Resend
                } else {
                    Next::Relogin { clear }
                }
            }
        }
    }
}

/// `url` joined to `configure({ baseUrl })` when it is relative (has no `scheme://`), as
/// axios joins `baseURL`: one `/` between them, whatever slashes each side brings
/// (`https://x/api/` + `/user` → `https://x/api/user`). `None`: `url` goes out as given.
pub fn resolve_url(base: Option<&str>, url: &str) -> Option<String> {
    let base = base?;
    // Byte by byte, with no slicing that could panic: `str::find` and `trim_*_matches`
    // would link a string searcher and panic formatting into the wasm.
    let b = url.as_bytes();
    let scheme_end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')));
    let absolute = b.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme_end.is_some_and(|i| b.get(i..i + 3) == Some(b"://"));
    if absolute {
        return None;
    }
    let base_end = base.bytes().rposition(|c| c != b'/').map_or(0, |i| i + 1);
    let url_start = b.iter().position(|&c| c != b'/').unwrap_or(b.len());
    let mut joined = String::with_capacity(base_end + 1 + b.len() - url_start);
    joined.push_str(base.get(..base_end).unwrap_or_default());
    joined.push('/');
    joined.push_str(url.get(url_start..).unwrap_or_default());
    Some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sansio::protocol::MAGIC_ID;
    use crate::sansio::testing::answer;
    use serde_json::{json, Value};

    fn classify(d: Option<Dialect>, status: u16, body: Value) -> (Verdict, Option<Dialect>) {
        classify_response(d, status, Some(&answer(&body)))
    }

    #[test]
    fn wafer1_magic_bodies() {
        let (v, learned) = classify(
            None,
            200,
            json!({ MAGIC_ID: 1, "error": "ERR_INVALID_SESSION", "message": "expired" }),
        );
        assert_eq!(
            v,
            Verdict::SessionInvalid {
                detail: Some("expired".into())
            }
        );
        assert_eq!(learned, Some(Dialect::Wafer1));
        let (v, _) = classify(
            Some(Dialect::Wafer1),
            200,
            json!({ MAGIC_ID: 1, "error": "ERR_CHECK_LOGIN_FAILED", "message": "no header" }),
        );
        assert!(matches!(v, Verdict::CheckFailed { .. }));
        // Under Wafer 2 the magic id means nothing.
        let (v, _) = classify(Some(Dialect::Wafer2), 200, json!({ MAGIC_ID: 1 }));
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn wafer2_minus_one_and_401() {
        let (v, _) = classify(
            Some(Dialect::Wafer2),
            200,
            json!({ "code": -1, "error": "bad skey" }),
        );
        assert_eq!(
            v,
            Verdict::SessionInvalid {
                detail: Some("bad skey".into())
            }
        );
        let (v, _) = classify_response(Some(Dialect::Wafer2), 401, None);
        assert!(matches!(v, Verdict::SessionInvalid { .. }));
        // A Wafer 1 business server may use -1 and 401 for its own errors.
        let (v, _) = classify(Some(Dialect::Wafer1), 401, json!({ "code": -1 }));
        assert_eq!(v, Verdict::Pass);
        let (v, _) = classify(None, 200, json!({ "code": 0, "data": {} }));
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn retries_exactly_once() {
        let mut a = Attempt::default();
        let invalid = Verdict::SessionInvalid {
            detail: Some("x".into()),
        };
        assert_eq!(
            a.next(invalid.clone(), Some(Dialect::Wafer1), Some("k"), Some("k")),
            Next::Relogin { clear: true }
        );
        match a.next(invalid, Some(Dialect::Wafer1), Some("k2"), Some("k2")) {
            Next::Fail { error: e, clear } => {
                assert_eq!(e.ty, ErrorType::InvalidSession);
                assert_eq!(e.detail.as_deref(), Some("x"));
                assert!(clear);
            }
            other => panic!("{other:?}"),
        }
        let mut b = Attempt::default();
        let invalid = Verdict::SessionInvalid { detail: None };
        b.next(invalid.clone(), Some(Dialect::Wafer2), None, None);
        match b.next(invalid, Some(Dialect::Wafer2), None, None) {
            Next::Fail { error: e, clear } => {
                assert_eq!(e.ty, ErrorType::SessionInvalid);
                assert!(!clear, "nothing stored, nothing to clear");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn renewed_session_is_reused_not_cleared() {
        let mut a = Attempt::default();
        let invalid = Verdict::SessionInvalid { detail: None };
        assert_eq!(
            a.next(invalid, None, Some("old"), Some("new")),
            Next::Resend
        );
        let mut b = Attempt::default();
        assert_eq!(
            b.next(Verdict::SessionInvalid { detail: None }, None, None, None),
            Next::Relogin { clear: false }
        );
    }

    #[test]
    fn check_failed_is_final() {
        let mut a = Attempt::default();
        let v = Verdict::CheckFailed {
            detail: Some("m".into()),
            error: Some("E".into()),
        };
        match a.next(v, Some(Dialect::Wafer1), None, None) {
            Next::Fail { error: e, .. } => {
                assert_eq!(e.ty, ErrorType::CheckLoginFailed);
                assert_eq!(e.message, "鉴权服务器检查登录态发生错误(E)：m");
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use crate::sansio::testing::arb;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(arb::config(256))]

            #[test]
            fn classify_response_never_panics(
                body in prop::option::of(arb::json()),
                status in any::<u16>(),
                d in prop::sample::select(vec![None, Some(Dialect::Wafer1), Some(Dialect::Wafer2)]),
            ) {
                let body = body.as_ref().map(answer);
                let (v, learned) = classify_response(d, status, body.as_ref());
                if d == Some(Dialect::Wafer2) {
                    prop_assert!(!matches!(v, Verdict::CheckFailed { .. }), "a Wafer 1 verdict under Wafer 2");
                    prop_assert_eq!(learned, None);
                }
                if learned.is_some() {
                    prop_assert_eq!(learned, Some(Dialect::Wafer1));
                }
            }

            #[test]
            fn never_more_than_one_retry(
                bodies in prop::collection::vec(arb::json(), 1..6),
                status in prop::sample::select(vec![200u16, 401, 500]),
                d in prop::sample::select(vec![None, Some(Dialect::Wafer1), Some(Dialect::Wafer2)]),
            ) {
                let mut a = Attempt::default();
                let mut retries = 0;
                for b in &bodies {
                    let (v, _) = classify_response(d, status, Some(&answer(b)));
                    match a.next(v, d, Some("k"), Some("k")) {
                        Next::Relogin { .. } | Next::Resend => retries += 1,
                        Next::Deliver | Next::Fail { .. } => break,
                    }
                }
                prop_assert!(retries <= 1);
            }
        }
    }

    #[test]
    fn relative_urls_join_the_base_url_with_one_slash() {
        let base = Some("https://x/api/");
        assert_eq!(
            resolve_url(base, "/user").as_deref(),
            Some("https://x/api/user")
        );
        assert_eq!(
            resolve_url(base, "user?a=1").as_deref(),
            Some("https://x/api/user?a=1")
        );
        assert_eq!(
            resolve_url(Some("https://x"), "u").as_deref(),
            Some("https://x/u")
        );
        for absolute in ["https://y/user", "http://127.0.0.1:80/a", "wss+x.y-z://h"] {
            assert_eq!(resolve_url(base, absolute), None, "{absolute}");
        }
        // Not a scheme before `://`: still relative.
        assert_eq!(
            resolve_url(base, "a/b?next=https://y").as_deref(),
            Some("https://x/api/a/b?next=https://y")
        );
        assert_eq!(
            resolve_url(base, "://h").as_deref(),
            Some("https://x/api/://h")
        );
        assert_eq!(resolve_url(None, "/user"), None);
    }
}
