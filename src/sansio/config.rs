//! Options and their precedence: the options of one call or one `Tunnel`, then
//! `configure()`, then the legacy static knobs (`Tunnel.MAX_RECONNECT_TRY_TIMES`,
//! `Tunnel.RECONNECT_TIME_INCREASE`), then built-in defaults.

use super::backoff::Backoff;
use super::error::{ErrorKind, SdkError};
use super::protocol::Protocol;
use serde::Deserialize;

/// One layer of options as page code passes it (`configure()` or `new Tunnel(url, options)`),
/// each field as given (`None`: not set, `undefined` or `null`). Types are checked when
/// the object is decoded (a string where a number belongs is an error naming the field);
/// values are validated when layers are resolved. Other fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Options {
    pub protocol: Option<String>,
    pub login_url: Option<String>,
    /// What relative `request` / `uploadFile` / `downloadFile` URLs are joined to (`''`:
    /// none).
    pub base_url: Option<String>,
    pub request_timeout: Option<f64>,
    pub reconnect_base_delay: Option<f64>,
    pub reconnect_max_delay: Option<f64>,
    pub max_reconnect_attempts: Option<f64>,
    pub heartbeat_interval: Option<f64>,
    pub queue_limit: Option<f64>,
    pub max_frame_size: Option<f64>,
    pub debug: Option<bool>,
}

impl Options {
    /// Lay `o` over `self`: the fields `o` sets win.
    pub fn overlay(&mut self, o: &Options) {
        fn pick<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        pick(&mut self.protocol, &o.protocol);
        pick(&mut self.login_url, &o.login_url);
        pick(&mut self.base_url, &o.base_url);
        pick(&mut self.request_timeout, &o.request_timeout);
        pick(&mut self.reconnect_base_delay, &o.reconnect_base_delay);
        pick(&mut self.reconnect_max_delay, &o.reconnect_max_delay);
        pick(&mut self.max_reconnect_attempts, &o.max_reconnect_attempts);
        pick(&mut self.heartbeat_interval, &o.heartbeat_interval);
        pick(&mut self.queue_limit, &o.queue_limit);
        pick(&mut self.max_frame_size, &o.max_frame_size);
        pick(&mut self.debug, &o.debug);
    }
}

/// The official clients' static knobs, read from the `Tunnel` constructor.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct LegacyKnobs {
    /// `Tunnel.MAX_RECONNECT_TRY_TIMES`.
    pub max_reconnect_try_times: Option<f64>,
    /// `Tunnel.RECONNECT_TIME_INCREASE`.
    pub reconnect_time_increase: Option<f64>,
}

impl LegacyKnobs {
    /// The knobs as an options layer.
    pub fn as_options(&self) -> Options {
        Options {
            max_reconnect_attempts: self.max_reconnect_try_times,
            reconnect_base_delay: self.reconnect_time_increase,
            ..Options::default()
        }
    }
}

pub const DEFAULT_RECONNECT_BASE_DELAY_MS: u64 = 1_000;
pub const DEFAULT_RECONNECT_MAX_DELAY_MS: u64 = 30_000;
pub const DEFAULT_HEARTBEAT_MS: u64 = 15_000;
pub const DEFAULT_QUEUE_LIMIT: usize = 1_000;
/// Inbound frames longer than this (UTF-16 code units) are dropped.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Everything one tunnel runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    pub backoff: Backoff,
    /// `None`: retry until closed.
    pub max_attempts: Option<u32>,
    pub heartbeat_ms: u64,
    pub queue_limit: usize,
    pub max_frame: usize,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            backoff: Backoff {
                base_ms: DEFAULT_RECONNECT_BASE_DELAY_MS,
                max_ms: DEFAULT_RECONNECT_MAX_DELAY_MS,
            },
            max_attempts: None,
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            queue_limit: DEFAULT_QUEUE_LIMIT,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

fn invalid(name: &str, rule: &str) -> SdkError {
    SdkError::invalid_params(ErrorKind::Request, &[name, " ", rule].concat())
}

/// The first layer that sets a field wins.
fn first<T: Copy>(layers: &[&Options], get: impl Fn(&Options) -> Option<T>) -> Option<T> {
    layers.iter().find_map(|o| get(o))
}

/// A numeric option: its name and the whole numbers it accepts. The rule's text is
/// written out (a test checks it against the bounds): formatting the bounds would link
/// integer formatting into the wasm for one error message.
struct Whole {
    name: &'static str,
    min: u64,
    max: u64,
    rule: &'static str,
}

const RECONNECT_BASE_DELAY: Whole = Whole {
    name: "reconnectBaseDelay",
    min: 0,
    max: 3_600_000,
    rule: "must be a whole number from 0 to 3600000",
};
const RECONNECT_MAX_DELAY: Whole = Whole {
    name: "reconnectMaxDelay",
    min: 0,
    max: 86_400_000,
    rule: "must be a whole number from 0 to 86400000",
};
const MAX_RECONNECT_ATTEMPTS: Whole = Whole {
    name: "maxReconnectAttempts",
    min: 0,
    max: u32::MAX as u64,
    rule: "must be a whole number from 0 to 4294967295",
};
const HEARTBEAT_INTERVAL: Whole = Whole {
    name: "heartbeatInterval",
    min: 100,
    max: 600_000,
    rule: "must be a whole number from 100 to 600000",
};
const QUEUE_LIMIT: Whole = Whole {
    name: "queueLimit",
    min: 0,
    max: 1_000_000,
    rule: "must be a whole number from 0 to 1000000",
};
const MAX_FRAME_SIZE: Whole = Whole {
    name: "maxFrameSize",
    min: 1,
    max: 64 << 20,
    rule: "must be a whole number from 1 to 67108864",
};
const REQUEST_TIMEOUT: Whole = Whole {
    name: "requestTimeout",
    min: 1,
    max: 600_000,
    rule: "must be a whole number from 1 to 600000",
};

/// `v` as a whole number within `w`'s bounds.
fn whole(v: f64, w: &Whole) -> Result<u64, SdkError> {
    let ok = v.is_finite() && v.fract() == 0.0 && v >= w.min as f64 && v <= w.max as f64;
    if ok {
        Ok(v as u64)
    } else {
        Err(invalid(w.name, w.rule))
    }
}

/// Resolve a tunnel's configuration from its layers, highest precedence first.
pub fn resolve_tunnel(layers: &[&Options]) -> Result<TunnelConfig, SdkError> {
    let d = TunnelConfig::default();
    let base_ms = match first(layers, |o| o.reconnect_base_delay) {
        Some(v) => whole(v, &RECONNECT_BASE_DELAY)?,
        None => d.backoff.base_ms,
    };
    let max_ms = match first(layers, |o| o.reconnect_max_delay) {
        Some(v) => whole(v, &RECONNECT_MAX_DELAY)?,
        None => d.backoff.max_ms,
    };
    let max_attempts = match first(layers, |o| o.max_reconnect_attempts) {
        Some(v) if v == f64::INFINITY => None,
        Some(v) => Some(whole(v, &MAX_RECONNECT_ATTEMPTS)? as u32),
        None => None,
    };
    let heartbeat_ms = match first(layers, |o| o.heartbeat_interval) {
        Some(v) => whole(v, &HEARTBEAT_INTERVAL)?,
        None => d.heartbeat_ms,
    };
    let queue_limit = match first(layers, |o| o.queue_limit) {
        Some(v) => whole(v, &QUEUE_LIMIT)? as usize,
        None => d.queue_limit,
    };
    let max_frame = match first(layers, |o| o.max_frame_size) {
        Some(v) => whole(v, &MAX_FRAME_SIZE)? as usize,
        None => d.max_frame,
    };
    Ok(TunnelConfig {
        backoff: Backoff {
            base_ms,
            // A maximum below the base would make every delay the maximum; read it as the base.
            max_ms: max_ms.max(base_ms),
        },
        max_attempts,
        heartbeat_ms,
        queue_limit,
        max_frame,
    })
}

/// Session-side settings merged from every `configure()` call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientConfig {
    pub protocol: Protocol,
    pub login_url: Option<String>,
    /// `configure({ baseUrl })` (`None`: relative URLs go out as given).
    pub base_url: Option<String>,
    /// `wx.request` timeout in ms for calls that set none (`None`: the platform's).
    pub request_timeout: Option<u64>,
    pub debug: bool,
}

impl ClientConfig {
    /// Apply one `configure()` call: fields it sets replace earlier ones. Validation
    /// happens first, so a rejected call changes nothing.
    pub fn apply(&mut self, o: &Options) -> Result<(), SdkError> {
        let protocol = match &o.protocol {
            Some(p) => Some(
                Protocol::parse(p)
                    .ok_or_else(|| invalid("protocol", "must be 'auto', 'wafer1' or 'wafer2'"))?,
            ),
            None => None,
        };
        if o.login_url.as_deref() == Some("") {
            return Err(invalid("loginUrl", "must be a non-empty string"));
        }
        let timeout = match o.request_timeout {
            Some(v) => Some(whole(v, &REQUEST_TIMEOUT)?),
            None => None,
        };
        // Tunnel defaults are validated now so a bad value is reported by configure() itself.
        resolve_tunnel(&[o])?;
        if let Some(p) = protocol {
            self.protocol = p;
        }
        if let Some(url) = &o.login_url {
            self.login_url = Some(url.clone());
        }
        if let Some(url) = &o.base_url {
            self.base_url = Some(url.clone()).filter(|u| !u.is_empty());
        }
        if timeout.is_some() {
            self.request_timeout = timeout;
        }
        if let Some(d) = o.debug {
            self.debug = d;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sansio::error::ErrorType;
    use crate::sansio::protocol::Dialect;

    fn opts(f: impl FnOnce(&mut Options)) -> Options {
        let mut o = Options::default();
        f(&mut o);
        o
    }

    #[test]
    fn options_decode_by_their_javascript_names() {
        use crate::sansio::value::Value;
        use serde_json::json;
        let o: Options = json!({
            "protocol": "wafer2",
            "loginUrl": "https://x/login",
            "requestTimeout": 3000,
            "reconnectBaseDelay": 500,
            "reconnectMaxDelay": 9000,
            "maxReconnectAttempts": 3,
            "heartbeatInterval": 2000,
            "queueLimit": 7,
            "maxFrameSize": 1024,
            "debug": true,
            "logger": "ignored: read by the runtime",
        })
        .decode()
        .unwrap();
        assert_eq!(o.login_url.as_deref(), Some("https://x/login"));
        assert_eq!(o.queue_limit, Some(7.0));
        assert_eq!(o.debug, Some(true));
        let none: Options = json!({ "queueLimit": null }).decode().unwrap();
        assert_eq!(none, Options::default());
        assert!(json!({ "queueLimit": "7" }).decode::<Options>().is_err());
        let knobs: LegacyKnobs =
            json!({ "MAX_RECONNECT_TRY_TIMES": 5, "RECONNECT_TIME_INCREASE": 1000 })
                .decode()
                .unwrap();
        assert_eq!(knobs.max_reconnect_try_times, Some(5.0));
        assert_eq!(knobs.as_options().reconnect_base_delay, Some(1000.0));
    }

    #[test]
    fn each_rule_says_its_bounds() {
        for w in [
            &RECONNECT_BASE_DELAY,
            &RECONNECT_MAX_DELAY,
            &MAX_RECONNECT_ATTEMPTS,
            &HEARTBEAT_INTERVAL,
            &QUEUE_LIMIT,
            &MAX_FRAME_SIZE,
            &REQUEST_TIMEOUT,
        ] {
            let want = format!("must be a whole number from {} to {}", w.min, w.max);
            assert_eq!(w.rule, want, "{}", w.name);
            let e = whole(w.max as f64 + 1.0, w).unwrap_err();
            assert_eq!(e.message, format!("参数错误：{} {}", w.name, want));
        }
    }

    #[test]
    fn defaults() {
        let c = resolve_tunnel(&[]).unwrap();
        assert_eq!(c, TunnelConfig::default());
        assert_eq!(c.max_attempts, None);
    }

    #[test]
    fn precedence_tunnel_then_configure_then_knobs() {
        let tunnel = opts(|o| o.queue_limit = Some(5.0));
        let global = opts(|o| {
            o.queue_limit = Some(50.0);
            o.heartbeat_interval = Some(2000.0);
        });
        let knobs = LegacyKnobs {
            max_reconnect_try_times: Some(3.0),
            reconnect_time_increase: Some(500.0),
        }
        .as_options();
        let c = resolve_tunnel(&[&tunnel, &global, &knobs]).unwrap();
        assert_eq!(c.queue_limit, 5);
        assert_eq!(c.heartbeat_ms, 2000);
        assert_eq!(c.max_attempts, Some(3));
        assert_eq!(c.backoff.base_ms, 500);
        let unlimited = opts(|o| o.max_reconnect_attempts = Some(f64::INFINITY));
        assert_eq!(
            resolve_tunnel(&[&unlimited, &knobs]).unwrap().max_attempts,
            None
        );
    }

    #[test]
    fn rejects_bad_numbers() {
        for o in [
            opts(|o| o.queue_limit = Some(-1.0)),
            opts(|o| o.queue_limit = Some(1.5)),
            opts(|o| o.heartbeat_interval = Some(0.0)),
            opts(|o| o.heartbeat_interval = Some(f64::NAN)),
            opts(|o| o.reconnect_base_delay = Some(f64::INFINITY)),
            opts(|o| o.max_reconnect_attempts = Some(-3.0)),
            opts(|o| o.max_frame_size = Some(0.0)),
        ] {
            let e = resolve_tunnel(&[&o]).unwrap_err();
            assert_eq!(e.ty, ErrorType::InvalidParams);
        }
    }

    #[test]
    fn overlay_keeps_unset_fields() {
        let mut a = opts(|o| {
            o.queue_limit = Some(5.0);
            o.heartbeat_interval = Some(1000.0);
        });
        a.overlay(&opts(|o| o.queue_limit = Some(7.0)));
        assert_eq!(a.queue_limit, Some(7.0));
        assert_eq!(a.heartbeat_interval, Some(1000.0));
    }

    #[test]
    fn max_delay_never_below_base() {
        let o = opts(|o| {
            o.reconnect_base_delay = Some(5000.0);
            o.reconnect_max_delay = Some(10.0);
        });
        assert_eq!(resolve_tunnel(&[&o]).unwrap().backoff.max_ms, 5000);
    }

    #[test]
    fn client_config_merges_and_rejects_atomically() {
        let mut c = ClientConfig::default();
        c.apply(&opts(|o| {
            o.protocol = Some("wafer2".into());
            o.login_url = Some("https://x/login".into());
        }))
        .unwrap();
        assert_eq!(c.protocol, Protocol::Fixed(Dialect::Wafer2));
        let bad = opts(|o| {
            o.login_url = Some("https://y".into());
            o.protocol = Some("wafer9".into());
        });
        assert!(c.apply(&bad).is_err());
        assert_eq!(c.login_url.as_deref(), Some("https://x/login"));
        assert!(c.apply(&opts(|o| o.queue_limit = Some(-2.0))).is_err());
        c.apply(&opts(|o| o.request_timeout = Some(3000.0)))
            .unwrap();
        assert_eq!(c.request_timeout, Some(3000));
        assert_eq!(c.protocol, Protocol::Fixed(Dialect::Wafer2));
    }

    #[test]
    fn base_url_is_set_kept_and_removed_with_an_empty_string() {
        use crate::sansio::value::Value;
        use serde_json::json;
        let mut c = ClientConfig::default();
        let o: Options = json!({ "baseUrl": "https://x/api" }).decode().unwrap();
        c.apply(&o).unwrap();
        assert_eq!(c.base_url.as_deref(), Some("https://x/api"));
        c.apply(&opts(|o| o.debug = Some(true))).unwrap();
        assert_eq!(c.base_url.as_deref(), Some("https://x/api"));
        c.apply(&opts(|o| o.base_url = Some(String::new())))
            .unwrap();
        assert_eq!(c.base_url, None);
        assert!(json!({ "baseUrl": 5 }).decode::<Options>().is_err());
    }
}
