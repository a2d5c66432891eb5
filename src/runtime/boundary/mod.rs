//! The JS boundary: every value page code, storage or a server hands over is read here,
//! and every value the runtime hands out is built here.
//!
//! - In: [`Value`] for `JsValue` decodes through the typed schema with [`de`]'s
//!   exception-safe `Deserializer`; members are read and objects copied behind `catch`
//!   (a throwing getter or a `Proxy` becomes an error, never an exception unwinding
//!   through wasm, which would leave the runtime's state half-updated).
//! - Out: [`to_js`] serializes with `serde-wasm-bindgen` (plain objects, `null` for
//!   `None`); [`Js`] passes a JavaScript value through a serialized struct untouched.

pub mod de;

use js_sys::{Object, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::sansio::error::{ErrorKind, SdkError};
use crate::sansio::protocol::Headers;
use crate::sansio::value::{Invalid, Problem, Value};

#[wasm_bindgen]
extern "C" {
    /// `Object.assign(target, source)`, which runs the source's getters and `Proxy` traps.
    #[wasm_bindgen(js_namespace = Object, js_name = assign, catch)]
    fn assign(target: &Object, source: &JsValue) -> Result<Object, JsValue>;
}

impl Value for JsValue {
    fn undefined() -> Self {
        JsValue::UNDEFINED
    }

    fn decode<T: DeserializeOwned>(&self) -> Result<T, Invalid> {
        T::deserialize(de::JsDeserializer(self.clone())).map_err(Invalid::from)
    }

    fn member(&self, key: &str) -> Self {
        get(self, key).unwrap_or(JsValue::UNDEFINED)
    }

    fn with_member(self, key: &str, value: Self) -> Self {
        if self.is_object() {
            let _ = Reflect::set(&self, &JsValue::from_str(key), &value);
        }
        self
    }

    fn parse_json(&self) -> Option<Self> {
        js_sys::JSON::parse(&self.as_string()?).ok()
    }
}

/// `value[key]` (`undefined` for non-objects); `Err` with what it threw.
pub fn get(value: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    if !value.is_object() {
        return Ok(JsValue::UNDEFINED);
    }
    Reflect::get(value, &JsValue::from_str(key))
}

/// `target[key] = value` (ignores frozen targets).
pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// A header object: `base` (a plain object made by [`copy`], or anything else for none)
/// copied, then `extra` on top (built by hand: a serde map costs more in the wasm). Header names are case-insensitive, so a caller's
/// `x-wx-skey` gives way to `X-WX-Skey`.
pub fn merge_headers(base: &JsValue, extra: &Headers) -> Object {
    // A plain copy: reading and listing its keys runs no page code.
    let o = copy(base).unwrap_or_default();
    for (k, v) in extra {
        drop_header(&o, k);
        set(&o, k, &JsValue::from_str(v));
    }
    o
}

/// The headers of `over` on top of those of `base` (plain objects made by [`copy`]; `base`
/// may be `undefined`), names compared without case: `configure({ header })` under a
/// call's own `header`.
pub fn layer_headers(base: &JsValue, over: &JsValue) -> JsValue {
    if !base.is_object() {
        return over.clone();
    }
    let o = copy(base).unwrap_or_default();
    let top = copy(over).unwrap_or_default();
    for key in Object::keys(&top).iter() {
        drop_header(&o, &key.as_string().unwrap_or_default());
        let _ = Reflect::set(&o, &key, &Reflect::get(&top, &key).unwrap_or_default());
    }
    o.into()
}

/// Remove every member of the plain object `o` named `name` in any letter case.
fn drop_header(o: &Object, name: &str) {
    for key in Object::keys(o).iter() {
        if key
            .as_string()
            .is_some_and(|k| k.eq_ignore_ascii_case(name))
        {
            let _ = Reflect::delete_property(o, &key);
        }
    }
}

/// A plain copy of an object's own enumerable members (what `Object.assign({}, value)`
/// gives); `Err` with what a getter or trap threw.
pub fn copy(value: &JsValue) -> Result<Object, JsValue> {
    let target = Object::new();
    if value.is_object() {
        assign(&target, value)?;
    }
    Ok(target)
}

/// The text of a thrown value or a platform failure: `errMsg` (wx), `message` (Error),
/// or the string itself.
pub fn error_text(e: &JsValue) -> Option<String> {
    let member = |key| get(e, key).ok().and_then(|v| v.as_string());
    member("errMsg")
        .or_else(|| member("message"))
        .or_else(|| e.as_string())
}

/// An `ERR_INVALID_PARAMS` error for a value that did not decode; `what` names the value
/// when the failure is not inside one of its fields.
pub fn invalid(kind: ErrorKind, what: &str, e: &Invalid) -> SdkError {
    SdkError::invalid_params(kind, &e.describe(what))
}

/// An `ERR_INVALID_PARAMS` error for an object that could not be read at all.
pub fn unreadable(kind: ErrorKind, what: &str, thrown: &JsValue) -> SdkError {
    let e = Invalid {
        field: None,
        problem: Problem::Unreadable(error_text(thrown)),
    };
    invalid(kind, what, &e)
}

/// Decode an options object (`undefined` and `null`: all defaults); errors name the
/// field, `what` names the object.
pub fn decode_options<T: DeserializeOwned + Default>(
    value: &JsValue,
    kind: ErrorKind,
    what: &str,
) -> Result<T, SdkError> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    if !value.is_object() {
        return Err(SdkError::invalid_params(
            kind,
            &[what, " must be an object"].concat(),
        ));
    }
    value.decode().map_err(|e| invalid(kind, what, &e))
}

/// A Rust value as a JavaScript value (plain objects, `null` for `None`).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    let serializer = serde_wasm_bindgen::Serializer::new()
        .serialize_maps_as_objects(true)
        .serialize_missing_as_null(true);
    value.serialize(&serializer).unwrap_or(JsValue::UNDEFINED)
}

/// A JavaScript value inside a serialized struct, passed through as it is.
#[derive(Clone, Debug)]
pub struct Js(pub JsValue);

impl Serialize for Js {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&self.0, s)
    }
}
