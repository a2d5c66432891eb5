//! Structured debug records for `configure({ logger })` / `configure({ debug: true })`.
//! Records carry state names, counts, delays, packet kinds and sizes — never a skey,
//! a code, or message content.

use crate::sansio::tunnel::Log;
use js_sys::Object;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::boundary::to_js;
use super::js::object;

/// A record of the session / request layer.
pub fn record(scope: &str, event: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let o = object(fields);
    super::js::set(&o, "scope", &JsValue::from_str(scope));
    super::js::set(&o, "event", &JsValue::from_str(event));
    o.into()
}

/// A tunnel core record: `{ event, ...fields, scope: 'tunnel', tunnel }`.
pub fn tunnel_record(tunnel: u32, log: &Log) -> JsValue {
    let record = to_js(log);
    if let Some(o) = record.dyn_ref::<Object>() {
        super::js::set(o, "scope", &JsValue::from_str("tunnel"));
        super::js::set(o, "tunnel", &JsValue::from(tunnel));
    }
    record
}
