//! The stored session: its shape in storage (shared with the official clients) and
//! the headers it signs requests with.
//!
//! Storage holds, under [`SESSION_KEY`](super::protocol::SESSION_KEY):
//! - Wafer 1: `{ id, skey, userInfo }` (userInfo from `wx.getUserInfo`);
//! - Wafer 2: the login response's `data`, `{ skey, userinfo, ... }`.
//!
//! Anything else (missing fields, wrong types, values that could not travel in an
//! HTTP header) reads as "no session".

use super::protocol::{Dialect, Headers, HEADER_ID, HEADER_SKEY};
use super::value::{Scalar, Value};
use serde::Deserialize;

/// What the SDK reads in the stored value (either dialect's shape; the rest of it, the
/// user profile included, stays in storage untouched), and in a Wafer 1 login answer's
/// `session`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Stored {
    #[serde(default)]
    pub id: Scalar,
    #[serde(default)]
    pub skey: Scalar,
}

/// The credentials of a stored session; the user profile stays in storage untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Wafer 1 session id (absent in Wafer 2 sessions).
    pub id: Option<String>,
    pub skey: String,
}

/// Longest id or skey accepted from storage or a server; real ones are < 100 bytes.
pub const MAX_CREDENTIAL_LEN: usize = 1024;

/// Whether `s` can be sent as an HTTP header value unchanged.
pub fn header_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_CREDENTIAL_LEN && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl Session {
    /// Read a stored value: `None` when it holds no usable session (not an object,
    /// missing fields, wrong types, values that could not travel in an HTTP header).
    pub fn read<V: Value>(stored: &V) -> Option<Session> {
        Session::from_stored(&stored.lenient::<Stored>())
    }

    /// The session in a decoded stored value.
    pub fn from_stored(stored: &Stored) -> Option<Session> {
        let skey = stored.skey.text().filter(|s| header_safe(s))?.to_owned();
        let id = match stored.id.string() {
            Some(id) if header_safe(id) => Some(id.to_owned()),
            // A present but unusable id means the value is corrupt, not Wafer 2.
            _ if stored.id.truthy() => return None,
            _ => None,
        };
        Some(Session { id, skey })
    }

    /// The dialect this session was written by.
    pub fn shape(&self) -> Dialect {
        if self.id.is_some() {
            Dialect::Wafer1
        } else {
            Dialect::Wafer2
        }
    }

    /// The member of the stored value holding the user profile `login()` returns.
    pub fn user_info_field(&self) -> &'static str {
        match self.shape() {
            Dialect::Wafer1 => "userInfo",
            Dialect::Wafer2 => "userinfo",
        }
    }

    /// Headers that carry this session in `dialect` (empty when the session lacks
    /// what that dialect needs, e.g. a Wafer 2 session under a fixed Wafer 1).
    pub fn headers(&self, dialect: Dialect) -> Headers {
        match dialect {
            Dialect::Wafer1 => match &self.id {
                Some(id) => vec![(HEADER_ID, id.clone()), (HEADER_SKEY, self.skey.clone())],
                None => Vec::new(),
            },
            Dialect::Wafer2 => vec![(HEADER_SKEY, self.skey.clone())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_official_shapes() {
        let w1 = json!({ "id": "abc", "skey": "k1", "userInfo": { "nickName": "n" } });
        let s = Session::read(&w1).unwrap();
        assert_eq!(s.shape(), Dialect::Wafer1);
        assert_eq!(
            s.headers(Dialect::Wafer1),
            vec![
                (HEADER_ID, "abc".to_owned()),
                (HEADER_SKEY, "k1".to_owned())
            ]
        );
        let w2 = json!({ "skey": "k2", "userinfo": { "nickName": "n" }, "openId": "o" });
        let s = Session::read(&w2).unwrap();
        assert_eq!(s.shape(), Dialect::Wafer2);
        assert_eq!(
            s.headers(Dialect::Wafer2),
            vec![(HEADER_SKEY, "k2".to_owned())]
        );
        assert!(s.headers(Dialect::Wafer1).is_empty());
    }

    #[test]
    fn unreadable_values_are_no_session() {
        for v in [
            json!(null),
            json!(""),
            json!("weapp"),
            json!(42),
            json!([]),
            json!({}),
            json!({ "skey": "" }),
            json!({ "skey": 5 }),
            json!({ "skey": "a\nb" }),
            json!({ "skey": "k", "id": 7 }),
            json!({ "skey": "k", "id": { "x": 1 } }),
            json!({ "skey": "中文" }),
            json!({ "skey": "x".repeat(MAX_CREDENTIAL_LEN + 1) }),
        ] {
            assert_eq!(Session::read(&v), None, "{v}");
        }
    }

    #[test]
    fn falsy_id_reads_as_wafer2() {
        let s = Session::read(&json!({ "skey": "k", "id": "" })).unwrap();
        assert_eq!(s.id, None);
        let s = Session::read(&json!({ "skey": "k", "id": null })).unwrap();
        assert_eq!(s.id, None);
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use crate::sansio::testing::arb;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(arb::config(256))]

            #[test]
            fn decode_never_panics_and_yields_sendable_headers(v in arb::json()) {
                if let Some(s) = Session::read(&v) {
                    for d in [Dialect::Wafer1, Dialect::Wafer2] {
                        for (_, value) in s.headers(d) {
                            prop_assert!(header_safe(&value));
                        }
                    }
                }
            }
        }
    }
}
