//! The Wafer signature: `sha1(data + TunnelSignatureKey)` as lowercase hex, on every call
//! in both directions.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

pub fn sign(data: &str, key: &str) -> String {
    let mut h = Sha1::new();
    h.update(data.as_bytes());
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Whether `signature` signs `data`, compared in constant time (letter case is ignored:
/// some SDKs write upper-case hex).
pub fn verify(data: &str, signature: &str, key: &str) -> bool {
    let expected = sign(data, key);
    let given = signature.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// A random 128-bit token as hex (tunnel tickets, node names).
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// sha1 of a ticket: what the registry stores, so reading Redis does not give away
/// connect URLs.
pub fn ticket_hash(ticket: &str) -> String {
    sign(ticket, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_node_sdks() {
        assert_eq!(sign("", ""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sign("abc", ""), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sign("ab", "c"), sign("abc", ""));
        assert!(verify(
            "abc",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            ""
        ));
        assert!(verify(
            "abc",
            "A9993E364706816ABA3E25717850C26C9CD0D89D",
            ""
        ));
        assert!(!verify(
            "abc",
            "a9993e364706816aba3e25717850c26c9cd0d89e",
            ""
        ));
        assert!(!verify("abc", "", ""));
        assert!(!verify("abc", "a9993e", ""));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 32);
    }
}
