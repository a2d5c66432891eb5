//! Test helpers: `Body` over `serde_json::Value`.

use super::body::Body;
use serde_json::Value;

impl Body for Value {
    fn get(&self, key: &str) -> Option<Self> {
        match self {
            Value::Object(m) => m.get(key).cloned(),
            _ => None,
        }
    }
    fn string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod arb {
    //! Arbitrary JSON values for property tests, biased towards the field names the
    //! classifiers look at so interesting shapes come up often.
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    const KEYS: &[&str] = &[
        "F2C224D4-2BCE-4C64-AF9F-A6D872000D1A",
        "session",
        "id",
        "skey",
        "error",
        "message",
        "code",
        "data",
        "userinfo",
        "userInfo",
        "url",
        "connectUrl",
        "tunnelId",
        "type",
        "content",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![Just(0.0), Just(-1.0), Just(1.0), any::<f64>()]
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop_oneof![
                Just(String::new()),
                Just("ERR_INVALID_SESSION".to_owned()),
                Just("ws://x".to_owned()),
                Just("k\r\nX-Injected: 1".to_owned()),
                "[\\x00-\\x1f\\x7f]{1,4}",
                ".{0,12}"
            ]
            .prop_map(Value::String),
        ]
    }

    /// Cases per property test: `WAFER_PROPTEST_CASES` when set (the soak runs 1 000 000),
    /// else `default` (small, for `cargo test` in `npm test`).
    pub fn cases(default: u32) -> u32 {
        std::env::var("WAFER_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// A proptest configuration with [`cases`].
    pub fn config(default: u32) -> ProptestConfig {
        ProptestConfig::with_cases(cases(default))
    }

    pub fn json() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop_oneof![prop::sample::select(KEYS).prop_map(str::to_owned), ".{0,6}"],
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }
}
