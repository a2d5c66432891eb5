//! Wire constants shared by both Wafer versions, the dialect choice, and the schema of
//! a server's answer.

use super::session::Stored;
use super::value::{Lenient, Scalar};
use serde::Deserialize;

/// Header carrying the `wx.login` code.
pub const HEADER_CODE: &str = "X-WX-Code";
/// Header carrying `wx.getUserInfo`'s `encryptedData`.
pub const HEADER_ENCRYPTED_DATA: &str = "X-WX-Encrypted-Data";
/// Header carrying `wx.getUserInfo`'s `iv`.
pub const HEADER_IV: &str = "X-WX-IV";
/// Wafer 1 session id header.
pub const HEADER_ID: &str = "X-WX-Id";
/// Session key header (both versions).
pub const HEADER_SKEY: &str = "X-WX-Skey";

/// Marks every body the Wafer 1 server SDK writes for the session layer.
pub const MAGIC_ID: &str = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A";
/// Storage key of the session, identical in both official clients.
pub const SESSION_KEY: &str = "weapp_session_F2C224D4-2BCE-4C64-AF9F-A6D872000D1A";

/// The two wire dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `wafer-client-sdk` 0.8 / `qcloud-weapp-server-sdk`: magic-id bodies, `X-WX-Id` + `X-WX-Skey`.
    Wafer1,
    /// `wafer2-client-sdk` 2.1 / `wafer-node-sdk`: `{ code, data }` bodies, `X-WX-Skey` only.
    Wafer2,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Wafer1 => "wafer1",
            Dialect::Wafer2 => "wafer2",
        }
    }
}

/// What `configure({ protocol })` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Pick by the login response (or the stored session's shape) and remember it.
    #[default]
    Auto,
    Fixed(Dialect),
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "auto" => Some(Protocol::Auto),
            "wafer1" => Some(Protocol::Fixed(Dialect::Wafer1)),
            "wafer2" => Some(Protocol::Fixed(Dialect::Wafer2)),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Fixed(d) => d.as_str(),
        }
    }

    /// Whether a response of dialect `d` may be accepted under this choice.
    pub fn allows(self, d: Dialect) -> bool {
        match self {
            Protocol::Auto => true,
            Protocol::Fixed(f) => f == d,
        }
    }
}

/// The dialect in force: fixed by configuration, or learned from the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialectState {
    pub protocol: Protocol,
    learned: Option<Dialect>,
}

impl DialectState {
    pub fn new(protocol: Protocol) -> Self {
        DialectState {
            protocol,
            learned: None,
        }
    }

    /// The dialect to speak now; `hint` is the stored session's shape, used until a
    /// server response has told us for sure.
    pub fn current(&self, hint: Option<Dialect>) -> Option<Dialect> {
        match self.protocol {
            Protocol::Fixed(d) => Some(d),
            Protocol::Auto => self.learned.or(hint),
        }
    }

    /// Remember what a server response proved (ignored when the dialect is fixed).
    pub fn learn(&mut self, d: Dialect) {
        if self.protocol == Protocol::Auto {
            self.learned = Some(d);
        }
    }

    pub fn set_protocol(&mut self, p: Protocol) {
        if p != self.protocol {
            self.protocol = p;
            self.learned = None;
        }
    }
}

/// A header list: names are static, values are owned.
pub type Headers = Vec<(&'static str, String)>;

/// What the SDK reads in an answer of a Wafer server (the `data` of a login response, of
/// a session request, of the tunnel handshake). Every field is lenient: a server may
/// answer anything, and a field of the wrong type reads as absent.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Answer {
    /// Wafer 1 marks every session-layer body with the magic id.
    #[serde(default, rename = "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A")]
    pub magic: Scalar,
    /// Wafer 1 login: `{ id, skey }`, read as the stored session is.
    #[serde(default)]
    pub session: Lenient<Stored>,
    #[serde(default)]
    pub error: Scalar,
    #[serde(default)]
    pub message: Scalar,
    /// Wafer 2: `0` for success, `-1` for a rejected session.
    #[serde(default)]
    pub code: Scalar,
    /// Wafer 2: the login's session, the handshake's socket URL.
    #[serde(default)]
    pub data: Lenient<AnswerData>,
    /// Wafer 1 handshake: the socket URL.
    #[serde(default)]
    pub url: Scalar,
}

/// Wafer 2 `data`: `{ skey, userinfo, ... }` of a login, `{ tunnelId, connectUrl }` of a
/// handshake.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerData {
    #[serde(default)]
    pub skey: Scalar,
    #[serde(default)]
    pub userinfo: Scalar,
    #[serde(default)]
    pub connect_url: Scalar,
}

impl Answer {
    /// Whether this is a Wafer 1 session-layer body.
    pub fn wafer1(&self) -> bool {
        self.magic.truthy()
    }

    /// The server's error text: `error`, else `message`.
    pub fn error_text(&self) -> Option<String> {
        self.error
            .text()
            .or_else(|| self.message.text())
            .map(str::to_owned)
    }

    /// Wafer 2's `data`, when `code === 0`.
    pub fn wafer2_data(&self) -> Option<&AnswerData> {
        self.data.0.as_ref().filter(|_| self.code.is_number(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_key_is_the_official_one() {
        assert_eq!(SESSION_KEY, ["weapp_session_", MAGIC_ID].concat());
    }

    #[test]
    fn protocol_parse_round_trips() {
        for p in [
            Protocol::Auto,
            Protocol::Fixed(Dialect::Wafer1),
            Protocol::Fixed(Dialect::Wafer2),
        ] {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
        assert_eq!(Protocol::parse("wafer3"), None);
    }

    #[test]
    fn auto_learns_and_fixed_does_not() {
        let mut s = DialectState::new(Protocol::Auto);
        assert_eq!(s.current(None), None);
        assert_eq!(s.current(Some(Dialect::Wafer2)), Some(Dialect::Wafer2));
        s.learn(Dialect::Wafer1);
        assert_eq!(s.current(Some(Dialect::Wafer2)), Some(Dialect::Wafer1));
        let mut f = DialectState::new(Protocol::Fixed(Dialect::Wafer2));
        f.learn(Dialect::Wafer1);
        assert_eq!(f.current(None), Some(Dialect::Wafer2));
        s.set_protocol(Protocol::Fixed(Dialect::Wafer2));
        assert_eq!(s.current(None), Some(Dialect::Wafer2));
    }
}
