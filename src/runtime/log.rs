//! Structured debug records for `configure({ logger })` / `configure({ debug: true })`,
//! serialized from the core's record types: `{ scope, event, ...fields }`. Records carry
//! state names, counts, delays, packet kinds and sizes — never a skey, a code, or
//! message content.

use js_sys::Object;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::sansio::flows::Record;
use crate::sansio::tunnel::Log;

use super::boundary::{set, to_js};

/// `record` with its scope (and tunnel id) added.
fn scoped(record: &impl Serialize, scope: &str, tunnel: Option<u32>) -> JsValue {
    let value = to_js(record);
    if let Some(o) = value.dyn_ref::<Object>() {
        set(o, "scope", &JsValue::from_str(scope));
        if let Some(id) = tunnel {
            set(o, "tunnel", &JsValue::from(id));
        }
    }
    value
}

/// A record of the session or request layer.
pub fn session_record(record: &Record) -> JsValue {
    scoped(record, record.scope(), None)
}

/// A record of tunnel `tunnel`'s state machine.
pub fn tunnel_record(tunnel: u32, log: &Log) -> JsValue {
    scoped(log, "tunnel", Some(tunnel))
}

/// A packet handed to a socket.
pub fn packet_out(tunnel: u32, kind: &'static str, size: u32) -> JsValue {
    #[derive(Serialize)]
    struct PacketOut {
        event: &'static str,
        kind: &'static str,
        size: u32,
    }
    let record = PacketOut {
        event: "packet-out",
        kind,
        size,
    };
    scoped(&record, "tunnel", Some(tunnel))
}
