//! The sans-IO core: every rule of the SDK as plain data and state machines.
//!
//! Nothing here performs IO, reads a clock or draws random numbers: time arrives as
//! `now` (milliseconds), randomness as a seed, platform values as [`value::Value`]s read
//! through serde schemas. The wasm runtime feeds real inputs in; the native test suite
//! feeds scripted ones (`serde_json` values through the same schemas).

pub mod backoff;
pub mod config;
pub mod error;
pub mod flows;
pub mod login;
pub mod packet;
pub mod protocol;
pub mod request;
pub mod rng;
pub mod session;
pub mod tunnel;
pub mod value;

#[cfg(test)]
pub(crate) mod testing;
