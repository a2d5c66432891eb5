//! wafer-tunnel: the Wafer tunnel service.
//!
//! Business servers (the official `qcloud-weapp-server-sdk` / `wafer-node-sdk`, unmodified)
//! ask it for a WebSocket URL per tunnel and push packets to tunnels; mini-programs hold
//! the WebSockets; it reports each tunnel's `connect`, `message`s and `close` back to the
//! business server. One node alone keeps its registry in memory; several nodes share one
//! on Redis. See docs/TUNNEL-SERVICE.md.
//!
//! - [`config`]: flags and environment
//! - [`app`]: the node, its HTTP API and lifecycle
//! - [`socket`]: the WebSocket endpoint and one task per socket
//! - [`hub`]: this node's sockets and their outboxes
//! - [`registry`]: tunnels and connect tickets (memory, or [`cluster`] on Redis)
//! - [`reports`]: ordered, retried reports to the business servers
//! - [`protocol`], [`signature`]: the signed JSON API
//! - [`metrics`]: counters for `/metrics`
//! - [`secrets`]: the Redis URL's password masked wherever the node prints it

pub mod app;
pub mod cluster;
pub mod config;
pub mod hub;
pub mod metrics;
pub mod protocol;
pub mod registry;
pub mod reports;
pub mod secrets;
pub mod signature;
pub mod socket;
