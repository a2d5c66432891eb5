//! Structured debug records for `configure({ logger })` / `configure({ debug: true })`.
//! Records carry state names, counts, delays, packet kinds and sizes — never a skey,
//! a code, or message content.

use crate::sansio::tunnel::Log;
use js_sys::Object;
use wasm_bindgen::prelude::*;

use super::js::object;

/// A record of the session / request layer.
pub fn record(scope: &str, event: &str, fields: &[(&str, JsValue)]) -> Object {
    let o = object(fields);
    super::js::set(&o, "scope", &JsValue::from_str(scope));
    super::js::set(&o, "event", &JsValue::from_str(event));
    o
}

/// A tunnel core record.
pub fn tunnel_record(tunnel: u32, log: &Log) -> Object {
    let id = ("tunnel", JsValue::from(tunnel));
    let n = |v: u64| JsValue::from(v as f64);
    match log {
        Log::State { from, to } => record(
            "tunnel",
            "state",
            &[
                id,
                ("from", from.as_str().into()),
                ("to", to.as_str().into()),
            ],
        ),
        Log::Retry { attempt, delay_ms } => record(
            "tunnel",
            "retry",
            &[
                id,
                ("attempt", JsValue::from(*attempt)),
                ("delay", n(*delay_ms)),
            ],
        ),
        Log::Offline => record("tunnel", "offline", &[id]),
        Log::LinkDead => record("tunnel", "link-dead", &[id]),
        Log::Interval { ms } => record("tunnel", "heartbeat-interval", &[id, ("interval", n(*ms))]),
        Log::PacketIn { kind, len } => record(
            "tunnel",
            "packet-in",
            &[id, ("kind", kind.as_str().into()), ("size", n(*len as u64))],
        ),
        Log::Dropped { reason, len } => record(
            "tunnel",
            "dropped",
            &[id, ("reason", (*reason).into()), ("size", n(*len as u64))],
        ),
        Log::GaveUp { attempts } => record(
            "tunnel",
            "gave-up",
            &[id, ("attempts", JsValue::from(*attempts))],
        ),
    }
}
