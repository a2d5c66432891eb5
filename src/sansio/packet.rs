//! The tunnel packet codec: text frames `type` or `type:content`, split at the first
//! colon.
//!
//! Inbound frames are classified from a short prefix (their "head") so the runtime
//! never copies a message's content out of JavaScript: only the head crosses the wasm
//! boundary, the content stays a JS string and is parsed by `JSON.parse`.
//!
//! The `message` packets themselves (`message:` + `JSON.stringify({ type, content })`,
//! and a server message type delivered as `@type` when it is one of the tunnel's own event
//! names) are encoded, parsed and dispatched in JavaScript, by the tunnel's port
//! (`js-shim/tunnel-port.js`): see runtime/frames.rs.

/// How many leading UTF-16 code units of a frame the classifier needs: the longest
/// packet type plus colon (`timeout:` is 8) plus room for a `timeout` value.
pub const HEAD_LEN: usize = 24;

/// Client → server `ping`.
pub const PING: &str = "ping";
/// Client → server `close`.
pub const CLOSE: &str = "close";
/// Prefix of a `message` frame (both directions); the JSON `{type, content}` follows.
pub const MESSAGE_PREFIX: &str = "message:";
/// Where a message frame's content starts. A frame that begins with [`MESSAGE_PREFIX`]
/// and runs past it is a `message` packet with its content here, exactly as
/// [`parse_head`] would find, so the runtime may recognise data frames by their prefix
/// and send only control frames through the head classifier.
pub const MESSAGE_CONTENT_AT: usize = MESSAGE_PREFIX.len();

/// Shortest and longest heartbeat interval a server may set with `timeout:<seconds>`.
pub const MIN_SERVER_INTERVAL_MS: u64 = 1_000;
pub const MAX_SERVER_INTERVAL_MS: u64 = 600_000;

/// The server → client packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Message,
    Pong,
    Timeout,
    Close,
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Pong => "pong",
            Kind::Timeout => "timeout",
            Kind::Close => "close",
            Kind::Unknown => "unknown",
        }
    }

    fn from_type(t: &str) -> Kind {
        match t {
            "message" => Kind::Message,
            "pong" => Kind::Pong,
            "timeout" => Kind::Timeout,
            "close" => Kind::Close,
            _ => Kind::Unknown,
        }
    }
}

/// A classified inbound frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub kind: Kind,
    /// Offset of the content (after the colon) in UTF-16 code units, if there is one.
    pub content_at: Option<usize>,
}

/// Classify a frame from its first [`HEAD_LEN`] UTF-16 code units (`head`) and its
/// full length in UTF-16 code units (`len`).
pub fn parse_head(head: &str, len: usize) -> Head {
    let unknown = Head {
        kind: Kind::Unknown,
        content_at: None,
    };
    match head.find(':') {
        Some(i) => {
            // Packet types are ASCII, so byte and UTF-16 offsets agree up to the colon.
            let Some(t) = head.get(..i).filter(|t| t.is_ascii()) else {
                return unknown;
            };
            let kind = Kind::from_type(t);
            let content_at = (i + 1 < len).then_some(i + 1);
            Head { kind, content_at }
        }
        None => {
            // No colon in the head: a bare type, unless the frame runs on past it.
            if head.encode_utf16().count() < len {
                return unknown;
            }
            Head {
                kind: Kind::from_type(head),
                content_at: None,
            }
        }
    }
}

/// Split a whole frame at its first colon (how a server reads a client's frame; the
/// client's own head classifier is tested against it).
fn split(frame: &str) -> (&str, Option<&str>) {
    match frame.split_once(':') {
        Some((t, c)) if !c.is_empty() => (t, Some(c)),
        Some((t, _)) => (t, None),
        None => (frame, None),
    }
}

/// The heartbeat interval a `timeout:<seconds>` packet asks for, clamped to
/// [`MIN_SERVER_INTERVAL_MS`, `MAX_SERVER_INTERVAL_MS`]; `None` for anything that is not
/// a plain non-negative number (those packets are ignored).
pub fn parse_timeout(content: &str) -> Option<u64> {
    // Parsed by hand: `str::parse::<f64>` would ship its float tables in the wasm.
    let s = content.trim();
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let seconds = whole.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    let ms = seconds.saturating_mul(1000).saturating_add(millis);
    Some(ms.clamp(MIN_SERVER_INTERVAL_MS, MAX_SERVER_INTERVAL_MS))
}

/// Server → client `pong`.
pub const PONG: &str = "pong";
/// Prefix of the server → client `timeout:<seconds>` packet.
pub const TIMEOUT_PREFIX: &str = "timeout:";

/// A client → server frame as a tunnel server reads it (the server half of the codec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// `message:<content>`: the content is reported to the business server as it is.
    Message(&'a str),
    Ping,
    Close,
    /// Anything else, `message` without content included: dropped by the server.
    Unknown,
}

/// Classify a client → server frame.
pub fn parse_client_frame(frame: &str) -> ClientFrame<'_> {
    match split(frame) {
        ("message", Some(content)) => ClientFrame::Message(content),
        ("ping", None) => ClientFrame::Ping,
        ("close", _) => ClientFrame::Close,
        _ => ClientFrame::Unknown,
    }
}

/// The frame a server sends for a pushed packet: `type`, or `type:content`.
pub fn server_frame(packet_type: &str, content: Option<&str>) -> String {
    match content {
        Some(c) => [packet_type, ":", c].concat(),
        None => packet_type.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn head_of(frame: &str) -> Head {
        let units: Vec<u16> = frame.encode_utf16().collect();
        let head = String::from_utf16_lossy(&units[..units.len().min(HEAD_LEN)]);
        parse_head(&head, units.len())
    }

    #[test]
    fn classifies_every_server_packet() {
        assert_eq!(
            head_of("pong"),
            Head {
                kind: Kind::Pong,
                content_at: None
            }
        );
        assert_eq!(
            head_of("close"),
            Head {
                kind: Kind::Close,
                content_at: None
            }
        );
        assert_eq!(
            head_of("timeout:30"),
            Head {
                kind: Kind::Timeout,
                content_at: Some(8)
            }
        );
        let m = head_of(r#"message:{"type":"speak","content":{"word":"你好"}}"#);
        assert_eq!(
            m,
            Head {
                kind: Kind::Message,
                content_at: Some(8)
            }
        );
        assert_eq!(head_of("message:").content_at, None);
        assert_eq!(head_of("message").kind, Kind::Message);
    }

    #[test]
    fn unknown_and_hostile_heads() {
        for f in [
            "",
            ":",
            "ping",
            "pongpongpongpongpongpongpong",
            "PONG",
            "弹:x",
            "unknown:1",
        ] {
            assert_eq!(head_of(f).kind, Kind::Unknown, "{f}");
        }
        // A long type with no colon in the head is unknown even if it starts like one.
        assert_eq!(head_of(&"message".repeat(10)).kind, Kind::Unknown);
    }

    #[test]
    fn split_at_first_colon() {
        assert_eq!(split("message:a:b"), ("message", Some("a:b")));
        assert_eq!(split("pong"), ("pong", None));
        assert_eq!(split("pong:"), ("pong", None));
    }

    #[test]
    fn timeout_values() {
        assert_eq!(parse_timeout("30"), Some(30_000));
        assert_eq!(parse_timeout("0"), Some(MIN_SERVER_INTERVAL_MS));
        assert_eq!(parse_timeout("0.5"), Some(MIN_SERVER_INTERVAL_MS));
        assert_eq!(parse_timeout("99999999"), Some(MAX_SERVER_INTERVAL_MS));
        assert_eq!(parse_timeout("1.5"), Some(1_500));
        assert_eq!(parse_timeout(" 2.0251 "), Some(2_025));
        assert_eq!(
            parse_timeout("99999999999999999999999"),
            Some(MAX_SERVER_INTERVAL_MS)
        );
        for bad in [
            "", ".", "abc", "-5", "1e3", "NaN", "Infinity", "1..2", "  ", "1.2.3", "+3",
        ] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_frames_as_a_server_reads_them() {
        assert_eq!(parse_client_frame("ping"), ClientFrame::Ping);
        assert_eq!(parse_client_frame("close"), ClientFrame::Close);
        assert_eq!(parse_client_frame("close:bye"), ClientFrame::Close);
        assert_eq!(
            parse_client_frame(r#"message:{"type":"a","content":"b:c"}"#),
            ClientFrame::Message(r#"{"type":"a","content":"b:c"}"#)
        );
        for f in [
            "", "message", "message:", "ping:1", "PING", "pong", "x:y", ":",
        ] {
            assert_eq!(parse_client_frame(f), ClientFrame::Unknown, "{f}");
        }
        assert_eq!(server_frame(PONG, None), "pong");
        assert_eq!(server_frame("message", Some("{}")), "message:{}");
        let timeout = [TIMEOUT_PREFIX, "15"].concat();
        let (t, c) = split(&timeout);
        assert_eq!((t, c.and_then(parse_timeout)), ("timeout", Some(15_000)));
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use crate::sansio::testing::arb;
        use proptest::prelude::*;

        fn frame_units(frame: &str) -> (String, usize) {
            let units: Vec<u16> = frame.encode_utf16().collect();
            (
                String::from_utf16_lossy(&units[..units.len().min(HEAD_LEN)]),
                units.len(),
            )
        }

        proptest! {
            #![proptest_config(arb::config(256))]

            #[test]
            fn head_agrees_with_split(frame in "\\PC{0,40}|(message|pong|timeout|close)(:\\PC{0,30})?") {
                let (head, len) = frame_units(&frame);
                let h = parse_head(&head, len);
                let (t, content) = split(&frame);
                if h.kind != Kind::Unknown {
                    prop_assert_eq!(h.kind.as_str(), t);
                    prop_assert_eq!(h.content_at.is_some(), content.is_some());
                    if let Some(at) = h.content_at {
                        let units: Vec<u16> = frame.encode_utf16().collect();
                        prop_assert_eq!(String::from_utf16_lossy(&units[at..]), content.unwrap());
                    }
                }
            }

            #[test]
            fn message_prefix_agrees_with_parse_head(content in "\\PC{1,40}") {
                let frame = [MESSAGE_PREFIX, &content].concat();
                let (head, len) = frame_units(&frame);
                let h = parse_head(&head, len);
                prop_assert_eq!(h, Head { kind: Kind::Message, content_at: Some(MESSAGE_CONTENT_AT) });
            }

            #[test]
            fn parse_head_never_panics(head in "\\PC{0,30}", extra in 0usize..100) {
                let len = head.encode_utf16().count() + extra;
                let _ = parse_head(&head, len);
            }

            #[test]
            fn timeout_is_always_clamped(s in "\\PC{0,20}|[0-9. ]{0,30}|.{0,30}") {
                if let Some(ms) = parse_timeout(&s) {
                    prop_assert!((MIN_SERVER_INTERVAL_MS..=MAX_SERVER_INTERVAL_MS).contains(&ms));
                }
            }

            /// What the runtime does with an arbitrary inbound frame (any UTF-16, lone
            /// surrogates included, as a JS string may hold): read the head lossily, classify
            /// it, and for a `timeout` read the value. Never a panic; offsets stay in the frame.
            #[test]
            fn arbitrary_utf16_frames_never_panic(units in prop::collection::vec(prop_oneof![
                8 => 0u16..0x80,
                2 => any::<u16>(),
                1 => 0xd800u16..0xe000,
            ], 0..64)) {
                let head = String::from_utf16_lossy(&units[..units.len().min(HEAD_LEN)]);
                let h = parse_head(&head, units.len());
                if let Some(at) = h.content_at {
                    prop_assert!(at > 0 && at < units.len().max(1));
                    if h.kind == Kind::Timeout {
                        let _ = head.get(at..).and_then(parse_timeout);
                    }
                }
            }

            #[test]
            fn split_never_panics(frame in "\\PC{0,64}|.{0,64}") {
                let (t, content) = split(&frame);
                prop_assert!(frame.starts_with(t));
                if let Some(c) = content {
                    prop_assert!(!c.is_empty() && frame.ends_with(c));
                }
            }
        }
    }
}
