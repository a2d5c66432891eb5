//! The wasm runtime: a thin driver of the sans-IO core. It owns no rule; it moves values
//! between the core and JavaScript, with real time, timers and promises.
//!
//! | module | what it does |
//! |---|---|
//! | `client` | the API the facade calls: reads arguments, starts flows, makes tunnels |
//! | `env` | what every part shares: the platform object, the logger, the clock |
//! | `flows` | drives `sansio::flows` (login, requests, the handshake's session request) |
//! | `tunnel` | drives `sansio::tunnel`: sockets, the timer, listeners; the handshake goes through `flows` |
//! | `registry` | the client's tunnels and the platform events they react to |
//! | `frames` | the tunnel's per-frame paths on JavaScript strings |
//! | `session` | the stored session, read from and written to storage on every use |
//! | `boundary` | every value that crosses: typed decoding behind `catch`, serialization |
//! | `log` | debug records as JavaScript objects |
//! | `platform` | the imported platform object |
//!
//! Calls go one way: `client` → `flows`, `tunnel`, `registry` → `env`, `session`,
//! `boundary`, `platform`; `tunnel` → `flows` for the handshake. No module imports one
//! that imports it.
//!
//! Re-entrancy rule: no `RefCell` borrow is held while JavaScript runs (platform
//! calls, listeners, the logger), because JavaScript may call straight back in.

mod boundary;
mod client;
mod env;
mod flows;
mod frames;
mod log;
mod platform;
mod registry;
mod session;
mod tunnel;

#[cfg(test)]
mod tests;
