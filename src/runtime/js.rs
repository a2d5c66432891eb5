//! Small JavaScript helpers: plain objects, header objects, and turning core errors into
//! the facade's error classes.

use crate::sansio::error::SdkError;
use crate::sansio::protocol::Headers;
use js_sys::{JsString, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::platform::Platform;

#[wasm_bindgen]
extern "C" {
    /// A JS string seen through `String.prototype` methods the runtime needs.
    type Text;

    /// `s.startsWith(prefix)` with the prefix as a JS string (no text crosses into wasm).
    #[wasm_bindgen(method, js_name = startsWith)]
    fn starts_with(this: &Text, prefix: &JsString) -> bool;

    /// `s.concat(a, b)` in one call.
    #[wasm_bindgen(method, js_name = concat)]
    fn concat2(this: &Text, a: &JsValue, b: &JsValue) -> JsString;

    /// A parsed `message` packet, `{ type, content }` (checked to be an object first,
    /// so the plain property reads cannot throw).
    pub type Message;

    #[wasm_bindgen(method, structural, getter = type)]
    pub fn message_type(this: &Message) -> JsValue;

    #[wasm_bindgen(method, structural, getter)]
    pub fn content(this: &Message) -> JsValue;
}

/// `a + b + c`.
pub fn concat2(a: &JsString, b: &JsValue, c: &JsValue) -> JsString {
    a.unchecked_ref::<Text>().concat2(b, c)
}

/// Whether `s` begins with `prefix`.
pub fn starts_with(s: &JsString, prefix: &JsString) -> bool {
    s.unchecked_ref::<Text>().starts_with(prefix)
}

/// `value[key]`, or `undefined` for non-objects and throwing getters.
pub fn get(value: &JsValue, key: &str) -> JsValue {
    super::boundary::get(value, key).unwrap_or(JsValue::UNDEFINED)
}

/// `value[key]` as a string.
pub fn get_string(value: &JsValue, key: &str) -> Option<String> {
    get(value, key).as_string()
}

/// `target[key] = value` (ignores frozen targets).
pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// A plain object from key/value pairs.
pub fn object(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

/// A header object: a copy of the caller's headers (if an object), then `extra` on top.
/// Header names are case-insensitive, so a caller's `x-wx-skey` gives way to
/// `X-WX-Skey`. `Err` with what the caller's object threw when copied.
pub fn header_object(base: &JsValue, extra: &Headers) -> Result<Object, JsValue> {
    let o = super::boundary::copy(base)?;
    // The copy is a plain object: listing its keys runs no page code.
    if base.is_object() && !extra.is_empty() {
        for key in Object::keys(&o).iter() {
            let shadowed = key
                .as_string()
                .is_some_and(|k| extra.iter().any(|(name, _)| name.eq_ignore_ascii_case(&k)));
            if shadowed {
                let _ = Reflect::delete_property(&o, &key);
            }
        }
    }
    for (k, v) in extra {
        set(&o, k, &JsValue::from_str(v));
    }
    Ok(o)
}

/// Milliseconds since the epoch.
pub fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// An `SdkError` as the facade's `LoginError` / `RequestError`.
pub fn to_js_error(platform: &Platform, e: &SdkError) -> JsValue {
    let detail = match &e.detail {
        Some(d) => JsValue::from_str(d),
        None => JsValue::NULL,
    };
    platform.create_error(e.kind.as_str(), e.ty.as_str(), &e.message, &detail)
}
