//! wafer-wasm: a WeChat mini-program client for Wafer sessions and tunnels.
//!
//! `core` is a pure, sans-IO state machine (no wasm-bindgen types, tested natively);
//! `runtime` drives it inside WebAssembly with timers, promises and the JS platform.

pub mod core;

#[cfg(target_arch = "wasm32")]
mod runtime;
