//! The tunnel's per-message paths and the JavaScript half that runs them.
//!
//! A tunnel's listeners, the parsing and dispatch of `message` packets and the encoding of
//! `emit`s live in its port (`js-shim/tunnel-port.js`), on the JavaScript side: a message
//! that went through the wasm crossed the boundary a dozen times, and that was most of
//! what it cost (docs/COSTS.md, "What the tunnel port did to the hot paths"). The core still
//! decides: the runtime keeps the port's gate in step with it, so the port delivers a data
//! frame itself only from the socket the core would deliver it from, and sends an `emit` at
//! once only on the socket the core would send it on. Everything else (control frames,
//! frames and emits while the gate is shut, a send that failed) comes through the runtime
//! and the core as before, and `message` packets found there are handed to the port to
//! deliver. No message text is copied into wasm.

use js_sys::{Function, JsString};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::sansio::packet;

#[wasm_bindgen]
extern "C" {
    /// A JS string seen through the `String.prototype` method the control path needs.
    type Text;

    /// `s.startsWith(prefix)` with the prefix as a JS string (no text crosses into wasm).
    #[wasm_bindgen(method, js_name = startsWith)]
    fn starts_with(this: &Text, prefix: &JsString) -> bool;

    /// The JavaScript half of one tunnel (`js-shim/tunnel-port.js`). Its methods never
    /// throw: listeners run behind its own `try`.
    pub type Port;

    /// The function the platform's sockets report to as `sink(gen, kind, data)`: data
    /// frames the gate lets through are delivered there, everything else reaches the
    /// runtime's sink given to [`Port::attach`].
    #[wasm_bindgen(method, getter)]
    pub fn sink(this: &Port) -> Function;

    /// A new wasm side: the runtime's own socket sink, and the gate shut.
    #[wasm_bindgen(method)]
    pub fn attach(this: &Port, sink: &Function);

    /// The gate: message frames of socket `deliver_gen` no longer than `max_frame` UTF-16
    /// code units are delivered by the port; `emit`s are sent at once on `socket`, socket
    /// `send_gen`. `-1` (and `null`) shut each way.
    #[wasm_bindgen(method)]
    pub fn gate(this: &Port, deliver_gen: f64, max_frame: f64, send_gen: f64, socket: &JsValue);

    /// Parse the `message` packet whose content starts at `content_at` in `frame` and hand
    /// it to its listeners: 0, or why it was dropped (see [`dropped_reason`]).
    #[wasm_bindgen(method)]
    pub fn deliver(this: &Port, frame: &JsString, content_at: u32) -> u32;

    /// Call the listeners of `event` and `*`.
    #[wasm_bindgen(method)]
    pub fn dispatch(this: &Port, event: &str, payload: &JsValue);
}

/// Whether `s` begins with `prefix`.
pub fn starts_with(s: &JsString, prefix: &JsString) -> bool {
    s.unchecked_ref::<Text>().starts_with(prefix)
}

/// The log reason of a [`Port::deliver`] outcome (`None`: delivered).
pub fn dropped_reason(outcome: u32) -> Option<&'static str> {
    match outcome {
        0 => None,
        1 => Some("not-a-json-object"),
        _ => Some("message-without-type"),
    }
}

/// JS strings made once per client instead of once per frame (tunnels share them: a
/// closed tunnel's wasm side is rebuilt on its next use).
pub struct Strings {
    pub ping: JsString,
    pub close: JsString,
    pub message_prefix: JsString,
}

impl Strings {
    pub fn new() -> Self {
        Strings {
            ping: JsString::from(packet::PING),
            close: JsString::from(packet::CLOSE),
            message_prefix: JsString::from(packet::MESSAGE_PREFIX),
        }
    }
}
