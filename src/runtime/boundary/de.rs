//! A serde `Deserializer` over JavaScript values: how the typed schema reads what page
//! code, storage and servers hand over.
//!
//! Written here rather than taken from `serde-wasm-bindgen` (which does the other
//! direction, `to_value`) for three reasons, each measured or tested:
//! - it reads members with `Reflect.get` behind `catch`: a throwing getter or a `Proxy`
//!   trap becomes an error naming the field, never an exception unwinding through wasm
//!   (`serde-wasm-bindgen` reads with a plain indexing getter and the `in` operator);
//! - its errors name the field (`queueLimit must be a number`), for `ERR_INVALID_PARAMS`;
//! - it never formats serde's `Unexpected` (whose float and char formatting alone costs
//!   14.4 KB brotli in the shipped wasm when `serde_wasm_bindgen::from_value` is linked).
//!
//! Only what the schema uses is supported: structs (plain or nested), options, strings,
//! numbers, booleans and `deserialize_any` (for the lenient `Scalar`); objects are never
//! enumerated, only the members a struct declares are read.

use js_sys::Reflect;
use serde::de::{self, Visitor};
use std::fmt;
use wasm_bindgen::prelude::*;

use crate::sansio::value::{Invalid, Problem};

/// Why a value did not fit: the problem and the path of the field it is in.
#[derive(Debug)]
pub struct Error {
    /// Field names, innermost first.
    path: Vec<&'static str>,
    problem: Problem,
}

impl Error {
    fn new(problem: Problem) -> Self {
        Error {
            path: Vec::new(),
            problem,
        }
    }

    fn wrong(expected: &'static str) -> Self {
        Error::new(Problem::Type(expected))
    }

    /// This error, inside the member `field`.
    fn within(mut self, field: &'static str) -> Self {
        self.path.push(field);
        self
    }
}

impl From<Error> for Invalid {
    fn from(e: Error) -> Invalid {
        let field = (!e.path.is_empty()).then(|| {
            let names: Vec<&str> = e.path.iter().rev().copied().collect();
            names.join(".")
        });
        Invalid {
            field,
            problem: e.problem,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("invalid value")
    }
}

impl std::error::Error for Error {}

// Every constructor serde offers is overridden so that none formats its arguments
// (serde's defaults format `Unexpected` and `Expected`, which links float formatting).
impl de::Error for Error {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Error::new(Problem::Other)
    }
    fn invalid_type(_unexp: de::Unexpected, _exp: &dyn de::Expected) -> Self {
        Error::new(Problem::Other)
    }
    fn invalid_value(_unexp: de::Unexpected, _exp: &dyn de::Expected) -> Self {
        Error::new(Problem::Other)
    }
    fn invalid_length(_len: usize, _exp: &dyn de::Expected) -> Self {
        Error::new(Problem::Other)
    }
    fn unknown_variant(_variant: &str, _expected: &'static [&'static str]) -> Self {
        Error::new(Problem::Other)
    }
    fn unknown_field(_field: &str, _expected: &'static [&'static str]) -> Self {
        Error::new(Problem::Other)
    }
    fn missing_field(field: &'static str) -> Self {
        Error::new(Problem::Type("set")).within(field)
    }
    fn duplicate_field(_field: &'static str) -> Self {
        Error::new(Problem::Other)
    }
}

/// The text of a thrown value, for the error's detail.
fn thrown_text(e: &JsValue) -> Option<String> {
    if let Some(s) = e.as_string() {
        return Some(s);
    }
    let message = Reflect::get(e, &JsValue::from_str("message")).ok()?;
    message.as_string()
}

/// A JavaScript value as a serde `Deserializer`.
pub struct JsDeserializer(pub JsValue);

impl JsDeserializer {
    fn nullish(&self) -> bool {
        self.0.is_undefined() || self.0.is_null()
    }
}

impl<'de> de::Deserializer<'de> for JsDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let value = &self.0;
        if self.nullish() {
            v.visit_unit()
        } else if let Some(b) = value.as_bool() {
            v.visit_bool(b)
        } else if let Some(n) = value.as_f64() {
            v.visit_f64(n)
        } else if let Some(s) = value.as_string() {
            v.visit_string(s)
        } else {
            // An object, array, function, symbol or bigint: seen as a map whose members
            // are not listed (the boundary never enumerates foreign objects).
            v.visit_map(Members {
                obj: JsValue::UNDEFINED,
                fields: &[],
                next: None,
            })
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.as_bool() {
            Some(b) => v.visit_bool(b),
            None => Err(Error::wrong("a boolean")),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.as_f64() {
            Some(n) => v.visit_f64(n),
            None => Err(Error::wrong("a number")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_f64(v)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => {
                v.visit_u64(n as u64)
            }
            _ => Err(Error::wrong("a whole number")),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.as_f64() {
            Some(n) if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 => {
                v.visit_i64(n as i64)
            }
            _ => Err(Error::wrong("a whole number")),
        }
    }

    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_u64(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_u64(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_u64(v)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_i64(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_i64(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_i64(v)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0.as_string() {
            Some(s) => v.visit_string(s),
            None => Err(Error::wrong("a string")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_string(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_string(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_string(v)
    }

    /// `undefined` and `null` are "not set".
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if self.nullish() {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if self.nullish() {
            v.visit_unit()
        } else {
            Err(Error::wrong("undefined"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    /// An object: the declared members, each read behind `catch`.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        if !self.0.is_object() {
            return Err(Error::wrong("an object"));
        }
        v.visit_map(Members {
            obj: self.0,
            fields,
            next: None,
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    // Not part of the schema: arrays, maps, tuples, enums and bytes never cross.
    fn deserialize_seq<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _v: V,
    ) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
    fn deserialize_map<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Error> {
        Err(Error::new(Problem::Other))
    }
}

/// The declared members of an object, skipping those that are `undefined`.
struct Members {
    obj: JsValue,
    fields: &'static [&'static str],
    /// The member read by the last `next_key_seed`, and its name.
    next: Option<(&'static str, JsValue)>,
}

impl<'de> de::MapAccess<'de> for Members {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        while let Some((&field, rest)) = self.fields.split_first() {
            self.fields = rest;
            let value = Reflect::get(&self.obj, &JsValue::from_str(field))
                .map_err(|e| Error::new(Problem::Unreadable(thrown_text(&e))).within(field))?;
            if value.is_undefined() {
                continue;
            }
            self.next = Some((field, value));
            return seed
                .deserialize(de::value::BorrowedStrDeserializer::new(field))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (field, value) = self.next.take().ok_or_else(|| Error::new(Problem::Other))?;
        seed.deserialize(JsDeserializer(value))
            .map_err(|e| e.within(field))
    }
}
