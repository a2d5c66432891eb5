//! The JS boundary: every value page code, storage or a server hands over is read here,
//! and every value the runtime hands out is built here.
//!
//! - In: [`Value`] for `JsValue` decodes through the typed schema with
//!   `serde_wasm_bindgen::Deserializer`, wrapped in `serde_path_to_error` so an error
//!   names the field (`loginParams.code must be a string`). serde-wasm-bindgen reads
//!   members with a plain indexing getter and `in`, and formats a value of the wrong type
//!   (which runs `Proxy` traps and `toString`), all without `catch`: an exception there
//!   would unwind through wasm and leave the runtime's state half-updated. So it never
//!   reads a page's object: page-supplied values are decoded from a [`view`], a plain copy
//!   made behind `catch`. Values from the platform (server answers, storage, `wx` results)
//!   are JSON data the platform made and are decoded directly; what may be anything (a
//!   thrown value, a login's `data`) is only ever read as a [`Scalar`], which looks at the
//!   value's type and never at its members.
//! - Out: [`to_js`] serializes with `serde-wasm-bindgen` (plain objects, `null` for
//!   `None`); [`Js`] passes a JavaScript value through a serialized struct untouched.

use js_sys::{Array, Object, Reflect};
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::sansio::error::{ErrorKind, SdkError};
use crate::sansio::flows::fail_text;
use crate::sansio::protocol::Headers;
use crate::sansio::value::{Invalid, Lenient, Problem, Scalar, Value};

#[wasm_bindgen]
extern "C" {
    /// `Object.assign(target, source)`, which runs the source's getters and `Proxy` traps.
    #[wasm_bindgen(js_namespace = Object, js_name = assign, catch)]
    fn assign(target: &Object, source: &JsValue) -> Result<Object, JsValue>;

    /// `Object.keys(value)`, which runs a `Proxy`'s `ownKeys` and descriptor traps.
    #[wasm_bindgen(js_namespace = Object, js_name = keys, catch)]
    fn own_keys(value: &JsValue) -> Result<Array, JsValue>;
}

impl Value for JsValue {
    fn undefined() -> Self {
        JsValue::UNDEFINED
    }

    fn decode<T: DeserializeOwned>(&self) -> Result<T, Invalid> {
        let reader = serde_wasm_bindgen::Deserializer::from(self.clone());
        serde_path_to_error::deserialize(reader).map_err(|e| {
            let path = e.path().to_string();
            let message = fail_text(&JsValue::from(e.into_inner())).unwrap_or_default();
            Invalid::from_serde(&path, &message)
        })
    }

    /// As [`Lenient`] reads it, without the path tracking `decode` wraps around the
    /// reader (a misfit here is never reported).
    fn lenient<T: DeserializeOwned + Default>(&self) -> T {
        if !self.is_object() {
            return T::default();
        }
        let reader = serde_wasm_bindgen::Deserializer::from(self.clone());
        T::deserialize(reader).unwrap_or_default()
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

/// In the wasm runtime a [`Scalar`] is the JavaScript value itself, taken through
/// serde-wasm-bindgen's `preserve` (no member read, nothing enumerated, nothing formatted),
/// then told apart by its type alone: any value reads, a `Proxy` or an object with
/// throwing getters included, and none fails.
impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
        Ok(if value.is_undefined() || value.is_null() {
            Scalar::Absent
        } else if let Some(b) = value.as_bool() {
            Scalar::Bool(b)
        } else if let Some(n) = value.as_f64() {
            Scalar::Number(n)
        } else if let Some(s) = value.as_string() {
            Scalar::Text(s)
        } else {
            // An object, array or function (and the rare symbol or bigint).
            Scalar::Object
        })
    }
}

/// In the wasm runtime a [`Lenient`] is the value taken as it is (as for [`Scalar`]), then
/// read as `T` only when it is an object: text, numbers and the empty string of an empty
/// storage key are `None` at once, without an error (serde-wasm-bindgen's errors are
/// JavaScript `Error`s, and formatting a megabyte of text into one took 20 ms).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
        let read = value.is_object().then(|| {
            let reader = serde_wasm_bindgen::Deserializer::from(value);
            T::deserialize(reader).ok()
        });
        Ok(Lenient(read.flatten()))
    }
}

/// A page-supplied value as the schema reads it: for an object (or a function), a plain
/// object of its own enumerable members, each read once behind `catch` (a throwing getter
/// or `Proxy` trap is an `Unreadable` error naming the member), holding
/// - primitives as they are;
/// - the members named in `nested` (objects the schema reads, e.g. `loginParams`) as views
///   of their own, with the same `keep`;
/// - the members named in `keep` as they are: payloads passed on and never decoded (a
///   login's `data`);
/// - any other object or function as an empty plain object: all the schema can want of it
///   is that it is an object (truthy, not a number), and serde-wasm-bindgen formatting it
///   in an error would run its traps.
///
/// Anything else is returned as it is.
pub fn view(value: &JsValue, keep: &[&str], nested: &[&str]) -> Result<JsValue, Invalid> {
    view_at(value, keep, nested, None)
}

fn view_at(
    value: &JsValue,
    keep: &[&str],
    nested: &[&str],
    at: Option<&str>,
) -> Result<JsValue, Invalid> {
    if !is_object(value) {
        return Ok(value.clone());
    }
    let unreadable = |field: Option<String>, thrown: JsValue| Invalid {
        field,
        problem: Problem::Unreadable(fail_text(&thrown)),
    };
    let path = |key: &str| match at {
        Some(outer) => [outer, ".", key].concat(),
        None => key.to_owned(),
    };
    let plain = Object::new();
    let keys = own_keys(value).map_err(|thrown| unreadable(at.map(str::to_owned), thrown))?;
    for key in keys.iter() {
        let name = key.as_string().unwrap_or_default();
        let member =
            Reflect::get(value, &key).map_err(|thrown| unreadable(Some(path(&name)), thrown))?;
        let member = if !is_object(&member) || keep.contains(&&*name) {
            member
        } else if nested.contains(&&*name) {
            view_at(&member, keep, &[], Some(&path(&name)))?
        } else {
            Object::new().into()
        };
        let _ = Reflect::set(&plain, &key, &member);
    }
    Ok(plain.into())
}

/// An object or a function (`typeof` is "object" or "function", not `null`).
fn is_object(value: &JsValue) -> bool {
    value.is_object() || value.is_function()
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

/// An `ERR_INVALID_PARAMS` error for a value that did not decode; `what` names the value
/// when the failure is not inside one of its fields.
pub fn invalid(kind: ErrorKind, what: &str, e: &Invalid) -> SdkError {
    SdkError::invalid_params(kind, &e.describe(what))
}

/// An `ERR_INVALID_PARAMS` error for an object that could not be read at all.
pub fn unreadable(kind: ErrorKind, what: &str, thrown: &JsValue) -> SdkError {
    let e = Invalid {
        field: None,
        problem: Problem::Unreadable(fail_text(thrown)),
    };
    invalid(kind, what, &e)
}

/// Decode an options object from its [`view`] (`undefined` and `null`: all defaults);
/// errors name the field, `what` names the object.
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
    let plain = view(value, &[], &[]).map_err(|e| invalid(kind, what, &e))?;
    plain.decode().map_err(|e| invalid(kind, what, &e))
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
