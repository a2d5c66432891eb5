//! Values from the platform, and the serde field types the schema reads them with.
//!
//! A [`Value`] is whatever the platform handed over: a JavaScript value in the wasm
//! runtime, a `serde_json::Value` in native tests. The core reads one only through a
//! serde schema ([`Value::decode`] into a `#[derive(Deserialize)]` type) and otherwise
//! passes it on untouched (a response to the caller, a login answer to storage), so the
//! same rules run on both and nothing is copied that does not have to be.

use serde::de::DeserializeOwned;

/// A value handed over by the platform.
pub trait Value: Clone {
    /// `undefined`.
    fn undefined() -> Self;
    /// Read as `T`. The error names what did not fit, the field included when the
    /// reader can tell.
    fn decode<T: DeserializeOwned>(&self) -> Result<T, Invalid>;
    /// Read as the struct `T` when this is an object, else `T::default()`: how answers
    /// and storage are read (they may hold anything, text included, and a field of the
    /// wrong type is a [`Lenient`] or [`Scalar`] that reads as absent). Never fails, and
    /// in the wasm runtime a value that is not an object costs nothing to reject.
    fn lenient<T: DeserializeOwned + Default>(&self) -> T {
        self.decode::<Lenient<T>>()
            .ok()
            .and_then(|l| l.0)
            .unwrap_or_default()
    }
    /// `self[key]`: `undefined` when absent, unreadable, or when this is not an object.
    fn member(&self, key: &str) -> Self;
    /// `self[key] = value` on an object (nothing otherwise); returns `self`.
    fn with_member(self, key: &str, value: Self) -> Self;
    /// The value the JSON text in this string encodes (`None`: not a string of JSON).
    fn parse_json(&self) -> Option<Self>;
}

/// Why a value did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The field, as a dotted path (`loginParams.code`), when known.
    pub field: Option<String>,
    pub problem: Problem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The value has another type than the schema expects (`"a number"`, ...).
    Type(String),
    /// Reading the value threw (a getter, a `Proxy` trap); the exception's text.
    Unreadable(Option<String>),
    /// Anything else a reader reports.
    Other,
}

impl Invalid {
    pub fn new(problem: Problem) -> Self {
        Invalid {
            field: None,
            problem,
        }
    }

    /// A serde reader's error: `path` is where it happened (`loginParams.code`; empty or
    /// `.` at the top), `message` the reader's text. serde words type errors as
    /// `invalid type: <what came>, expected <what the schema's type expects>`; the
    /// expectation is kept, in the words of the SDK's messages (`f64` is "a number",
    /// `struct Options` "an object").
    pub fn from_serde(path: &str, message: &str) -> Self {
        let problem = match message.rsplit_once(", expected ") {
            Some((_, "f64" | "f32")) => Problem::Type("a number".into()),
            Some((_, e)) if e.starts_with("struct ") => Problem::Type("an object".into()),
            Some((_, e)) => Problem::Type(e.into()),
            None => Problem::Other,
        };
        Invalid {
            // `serde_path_to_error` writes the top as ".".
            field: (!path.is_empty() && path != ".").then(|| path.to_owned()),
            problem,
        }
    }

    /// The message of an `ERR_INVALID_PARAMS` error: `<field> must be a number`, ...
    pub fn describe(&self, what: &str) -> String {
        let field = self.field.as_deref().unwrap_or(what);
        match &self.problem {
            Problem::Type(expected) => [field, " must be ", expected].concat(),
            Problem::Unreadable(text) => {
                let mut s = [field, " could not be read"].concat();
                if let Some(t) = text {
                    s.push_str(": ");
                    s.push_str(t);
                }
                s
            }
            Problem::Other => [field, " is not valid"].concat(),
        }
    }
}

/// A JavaScript value read for what the rules need of it: its truthiness, and its text
/// or number when it is a string or a number. Decoding never fails, whatever the value
/// (servers and storage may hold anything), and never reads an object's members: in the
/// wasm runtime the value is taken as it is (`runtime::boundary`, through
/// serde-wasm-bindgen's `preserve`) and only its type is looked at, so a `Proxy` or a
/// throwing getter runs no code and a large object costs nothing; here, for other
/// readers (`serde_json` in the native tests), through `deserialize_any`.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Scalar {
    /// `undefined`, `null` or missing.
    #[default]
    Absent,
    Bool(bool),
    Number(f64),
    Text(String),
    /// An object, an array or a function.
    Object,
}

impl Scalar {
    /// JavaScript truthiness (`!!value`).
    pub fn truthy(&self) -> bool {
        match self {
            Scalar::Absent => false,
            Scalar::Bool(b) => *b,
            Scalar::Number(n) => *n != 0.0 && !n.is_nan(),
            Scalar::Text(s) => !s.is_empty(),
            Scalar::Object => true,
        }
    }

    /// The string, when this is a non-empty string.
    pub fn text(&self) -> Option<&str> {
        match self {
            Scalar::Text(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// The string, when this is a string (empty or not).
    pub fn string(&self) -> Option<&str> {
        match self {
            Scalar::Text(s) => Some(s),
            _ => None,
        }
    }

    /// `value === n`.
    pub fn is_number(&self, n: f64) -> bool {
        matches!(self, Scalar::Number(v) if *v == n)
    }
}

/// [`Scalar`] and [`Lenient`] for readers other than the wasm runtime's (which has its
/// own, in `runtime::boundary`).
#[cfg(not(target_arch = "wasm32"))]
mod any_reader {
    use super::{Lenient, Scalar};
    use serde::de::{self, Deserialize, Deserializer, IgnoredAny};
    use std::fmt;

    impl<'de> Deserialize<'de> for Scalar {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> de::Visitor<'de> for V {
                type Value = Scalar;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any value")
                }
                fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                    Ok(Scalar::Bool(v))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                    Ok(Scalar::Number(v as f64))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                    Ok(Scalar::Number(v as f64))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                    Ok(Scalar::Number(v))
                }
                fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                    Ok(Scalar::Text(v.to_owned()))
                }
                fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                    Ok(Scalar::Text(v))
                }
                fn visit_unit<E>(self) -> Result<Scalar, E> {
                    Ok(Scalar::Absent)
                }
                fn visit_none<E>(self) -> Result<Scalar, E> {
                    Ok(Scalar::Absent)
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                    Scalar::deserialize(d)
                }
                fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                    // Drained, not read: some readers insist that a map is consumed.
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Scalar::Object)
                }
                fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Scalar::Object)
                }
            }
            d.deserialize_any(V)
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(Lenient(T::deserialize(d).ok()))
        }
    }
}

/// `Some(T)` when the value has the struct `T`'s shape, `None` otherwise (not an object,
/// a field of the wrong type): for answers and their nested parts, which may hold
/// anything. In the wasm runtime (`runtime::boundary`) anything but an object reads as
/// `None` without asking `T`: a reader's error there is a JavaScript `Error`, too dear
/// for the text answers and the empty storage every request may meet.
#[derive(Clone, Debug, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_read_any_json() {
        let read = |v: serde_json::Value| v.decode::<Scalar>().unwrap();
        assert_eq!(read(json!(null)), Scalar::Absent);
        assert_eq!(read(json!(0)), Scalar::Number(0.0));
        assert_eq!(read(json!(-1)), Scalar::Number(-1.0));
        assert_eq!(read(json!(1.5)), Scalar::Number(1.5));
        assert_eq!(read(json!("s")), Scalar::Text("s".into()));
        assert_eq!(read(json!({ "a": [1, 2] })), Scalar::Object);
        assert_eq!(read(json!([1, { "b": 2 }])), Scalar::Object);
        assert!(!read(json!("")).truthy());
        assert!(!read(json!(0)).truthy());
        assert!(read(json!([])).truthy());
        assert_eq!(read(json!("")).text(), None);
        assert_eq!(read(json!("")).string(), Some(""));
    }

    #[test]
    fn lenient_parts_never_fail_the_whole() {
        #[derive(serde::Deserialize, Debug)]
        struct Inner {
            #[allow(dead_code)]
            n: f64,
        }
        #[derive(serde::Deserialize, Debug)]
        struct Outer {
            #[serde(default)]
            inner: Lenient<Inner>,
            #[serde(default)]
            tag: Scalar,
        }
        let o: Outer = json!({ "inner": "text", "tag": "t" }).decode().unwrap();
        assert!(o.inner.0.is_none());
        assert_eq!(o.tag.text(), Some("t"));
        let o: Outer = json!({ "inner": { "n": "x" } }).decode().unwrap();
        assert!(o.inner.0.is_none());
        let o: Outer = json!({ "inner": { "n": 2 } }).decode().unwrap();
        assert!(o.inner.0.is_some());
    }

    #[test]
    fn invalid_values_name_the_field() {
        let mut e = Invalid::new(Problem::Type("a number".into()));
        assert_eq!(e.describe("options"), "options must be a number");
        e.field = Some("queueLimit".into());
        assert_eq!(e.describe("options"), "queueLimit must be a number");
        let e = Invalid {
            field: Some("header".into()),
            problem: Problem::Unreadable(Some("boom".into())),
        };
        assert_eq!(e.describe("options"), "header could not be read: boom");
    }

    #[test]
    fn decode_errors_name_the_field_and_what_its_type_expects() {
        use crate::sansio::config::Options;
        let e = json!({ "queueLimit": "7" })
            .decode::<Options>()
            .unwrap_err();
        assert_eq!(e.describe("options"), "queueLimit must be a number");
        let e = json!({ "debug": 1 }).decode::<Options>().unwrap_err();
        assert_eq!(e.describe("options"), "debug must be a boolean");
        let e = json!({ "loginUrl": [] }).decode::<Options>().unwrap_err();
        assert_eq!(e.describe("options"), "loginUrl must be a string");
        let e = json!(true).decode::<Options>().unwrap_err();
        assert_eq!(e.describe("options"), "options must be an object");
    }

    #[test]
    fn serde_errors_keep_the_path_and_say_what_was_expected() {
        let e = Invalid::from_serde("queueLimit", r#"invalid type: string "7", expected f64"#);
        assert_eq!(e.describe("options"), "queueLimit must be a number");
        let e = Invalid::from_serde("", "invalid type: boolean `true`, expected struct Options");
        assert_eq!(e.describe("options"), "options must be an object");
        // A string value that looks like the separator does not confuse the reader.
        let e = Invalid::from_serde(
            "loginParams.code",
            r#"invalid type: integer `5`, expected a string"#,
        );
        assert_eq!(e.describe("options"), "loginParams.code must be a string");
        let e = Invalid::from_serde(
            "a",
            r#"invalid type: string ", expected f64", expected a boolean"#,
        );
        assert_eq!(e.describe("options"), "a must be a boolean");
        let e = Invalid::from_serde("", "something else");
        assert_eq!(e.describe("options"), "options is not valid");
    }
}
