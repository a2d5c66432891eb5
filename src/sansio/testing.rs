//! Test helpers: `Value` over `serde_json::Value` (what the wasm runtime does over
//! JavaScript values), and arbitrary JSON for property tests.

use super::protocol::Answer;
use super::value::{Invalid, Value};
use serde::de::DeserializeOwned;

/// A JSON value read as a server's answer, as the runtime reads one (anything that is not
/// an object reads as an empty answer).
pub(crate) fn answer(v: &serde_json::Value) -> Answer {
    v.lenient()
}

impl Value for serde_json::Value {
    fn undefined() -> Self {
        serde_json::Value::Null
    }
    fn decode<T: DeserializeOwned>(&self) -> Result<T, Invalid> {
        // As the wasm runtime reads JavaScript values: the path of the field that did not
        // fit, and what its type expects.
        serde_path_to_error::deserialize(self.clone())
            .map_err(|e| Invalid::from_serde(&e.path().to_string(), &e.inner().to_string()))
    }
    fn member(&self, key: &str) -> Self {
        self.get(key).cloned().unwrap_or(serde_json::Value::Null)
    }
    fn with_member(mut self, key: &str, value: Self) -> Self {
        if let Some(m) = self.as_object_mut() {
            m.insert(key.to_owned(), value);
        }
        self
    }
    fn parse_json(&self) -> Option<Self> {
        serde_json::from_str(self.as_str()?).ok()
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
