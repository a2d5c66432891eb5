//! The wasm runtime: drives the core with real time, timers, promises and the JS
//! platform object the shim passes in. Only this layer knows about `wasm_bindgen`.
//!
//! Re-entrancy rule: no `RefCell` borrow is held while JavaScript runs (platform
//! calls, listeners, the logger), because JavaScript may call straight back in.

mod boundary;
mod client;
mod js;
mod log;
mod platform;
mod session;
mod tunnel;

#[cfg(test)]
mod tests;
