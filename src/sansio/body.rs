//! A read-only view of a decoded JSON value.
//!
//! Response bodies, stored sessions and tunnel messages stay JavaScript values in the
//! runtime (no Rust JSON engine ships in the wasm); the core reads the few fields it
//! needs through this trait. Natively it is implemented for `serde_json::Value`.

/// Navigation over a JSON-like value with JavaScript's reading rules.
pub trait Body: Sized {
    /// Own member `key` of an object; `None` when this is not an object or the member
    /// is missing or `undefined`.
    fn get(&self, key: &str) -> Option<Self>;
    /// The string, when this is a string.
    fn string(&self) -> Option<String>;
    /// The number, when this is a number.
    fn number(&self) -> Option<f64>;
    /// JavaScript truthiness (`!!value`).
    fn truthy(&self) -> bool;
}

/// `body[key]` as a non-empty string.
pub fn string_field<B: Body>(body: &B, key: &str) -> Option<String> {
    body.get(key)?.string().filter(|s| !s.is_empty())
}

/// `!!body[key]`.
pub fn truthy_field<B: Body>(body: &B, key: &str) -> bool {
    body.get(key).is_some_and(|v| v.truthy())
}

/// `body[key] === n`.
pub fn number_field_is<B: Body>(body: &B, key: &str, n: f64) -> bool {
    body.get(key).and_then(|v| v.number()) == Some(n)
}
