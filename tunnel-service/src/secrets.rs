//! Keeping credentials out of what the node prints: logs, error messages, `/healthz`.
//!
//! The Redis URL may carry a password (`redis://user:secret@host`, or `?pass=` in a
//! `redis+unix://` URL); it is shown only through [`redact_url`], and the text of every
//! Redis error goes through [`Scrubber`] in case a driver ever quotes its URL.

use std::borrow::Cow;

/// What stands in for a password.
const MASK: &str = "***";

/// `raw` with its password (userinfo, or the `pass` query parameter of a Unix-socket URL)
/// replaced by `***`, parsed with the `url` crate the Redis driver parses it with. A string
/// that does not parse is not shown at all: nothing tells where a password would be in it.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "(not shown: it does not parse as a URL)".into();
    };
    if url.password().is_some() {
        // Fails only for URLs without a host, which have no userinfo to hide.
        let _ = url.set_password(Some(MASK));
    }
    if url.query_pairs().any(|(k, _)| k == "pass") {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "pass" {
                    MASK.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.into()
}

/// Replaces the secrets of one URL (its password, raw and percent-decoded) in any text.
#[derive(Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// The secrets of `raw` (a URL); none when it does not parse.
    pub fn for_url(raw: &str) -> Scrubber {
        let mut secrets = Vec::new();
        if let Ok(url) = url::Url::parse(raw) {
            if let Some(p) = url.password() {
                secrets.push(p.to_owned());
                // The `url` crate keeps userinfo percent-encoded; the driver sends it decoded.
                if let Ok(decoded) = percent_encoding::percent_decode_str(p).decode_utf8() {
                    secrets.push(decoded.into_owned());
                }
            }
            for (k, v) in url.query_pairs() {
                if k == "pass" {
                    secrets.push(v.into_owned());
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber { secrets }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        for (raw, shown) in [
            (
                "redis://user:s3cret@10.0.0.9:6379/0",
                "redis://user:***@10.0.0.9:6379/0",
            ),
            ("redis://:s3cret@host", "redis://:***@host"),
            (
                "rediss://u:p%40ss@host:6380/2",
                "rediss://u:***@host:6380/2",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            // A user without a password is no secret (the driver sends no AUTH for it).
            ("redis://user@host", "redis://user@host"),
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret&user=u",
                "redis+unix:///run/redis.sock?db=1&pass=***&user=u",
            ),
            (
                "redis://:s3cret@host:99999",
                "(not shown: it does not parse as a URL)",
            ),
            ("s3cret", "(not shown: it does not parse as a URL)"),
        ] {
            let got = redact_url(raw);
            assert_eq!(got, shown, "{raw}");
            assert!(!got.contains("s3cret") && !got.contains("p%40ss"), "{got}");
        }
    }

    #[test]
    fn scrubber_removes_the_password_in_any_spelling() {
        let s = Scrubber::for_url("redis://user:p%40ss%21word@host");
        assert_eq!(
            s.scrub("AUTH user p@ss!word failed; url redis://user:p%40ss%21word@host"),
            "AUTH user *** failed; url redis://user:***@host"
        );
        assert_eq!(s.scrub("no secret here"), "no secret here");
        let unix = Scrubber::for_url("redis+unix:///tmp/r.sock?pass=hunter2");
        assert_eq!(unix.scrub("x hunter2 y"), "x *** y");
        assert_eq!(Scrubber::for_url("redis://host").scrub("host"), "host");
    }
}
