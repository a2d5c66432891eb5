//! The sans-IO core: every rule of the SDK as plain data and state machines.
//!
//! Nothing here performs IO, reads a clock or draws random numbers: time arrives as
//! `now` (milliseconds), randomness as a seed, responses as [`body::Body`] views. The
//! wasm runtime feeds real inputs in; the native test suite feeds scripted ones.

pub mod backoff;
pub mod body;
pub mod config;
pub mod error;
pub mod listeners;
pub mod login;
pub mod packet;
pub mod protocol;
pub mod request;
pub mod rng;
pub mod session;
pub mod tunnel;

#[cfg(test)]
pub(crate) mod testing;
