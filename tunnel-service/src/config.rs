//! Command line and environment: every flag is also a `WAFER_TUNNEL_*` variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// wafer-tunnel: the Wafer tunnel service (WebSocket relay between mini-programs and
/// Wafer business servers). Alone with an in-memory registry, or several nodes on Redis.
// No `Debug`: it would print the signature key and the Redis password.
#[derive(Clone, Parser)]
#[command(name = "wafer-tunnel", version)]
pub struct Config {
    /// Address to listen on (HTTP API for business servers, WebSocket endpoint, /healthz, /metrics).
    #[arg(long, env = "WAFER_TUNNEL_LISTEN", default_value = "127.0.0.1:8801")]
    pub listen: SocketAddr,

    /// TunnelSignatureKey shared with the business servers: every call is signed with
    /// sha1(data + key).
    #[arg(long, env = "WAFER_TUNNEL_SIGNATURE_KEY", hide_env_values = true)]
    pub signature_key: String,

    /// Base of the WebSocket URLs handed out as `connectUrl` (what phones reach: usually
    /// wss://host through the TLS reverse proxy). Default: ws://<listen>.
    #[arg(long, env = "WAFER_TUNNEL_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Heartbeat interval in seconds, sent to clients as `timeout:<s>`; a client silent
    /// for two intervals is closed and reported `close`.
    #[arg(long, env = "WAFER_TUNNEL_HEARTBEAT", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub heartbeat: u64,

    /// Redis URL: several nodes on one Redis form one service. Without it the node runs
    /// alone with an in-memory registry. A password in it (redis://user:password@host) is
    /// better given through the environment than on the command line, which other users
    /// of the machine can read; it is masked wherever the node prints the URL.
    #[arg(long, env = "WAFER_TUNNEL_REDIS", hide_env_values = true)]
    pub redis: Option<String>,

    /// PEM file of the CA certificates that sign the Redis server's certificate, for a
    /// rediss:// --redis: trusted instead of the system's.
    #[arg(long, env = "WAFER_TUNNEL_REDIS_CA")]
    pub redis_ca: Option<std::path::PathBuf>,

    /// This node's name in Redis (default: random). Reusing a name after a crash makes
    /// the new process report `close` for the tunnels the old one held.
    #[arg(long, env = "WAFER_TUNNEL_NODE_ID")]
    pub node_id: Option<String>,

    /// Prefix of every Redis key and channel.
    #[arg(
        long,
        env = "WAFER_TUNNEL_REDIS_PREFIX",
        default_value = "wafer-tunnel:"
    )]
    pub redis_prefix: String,

    /// Seconds a node's liveness key lives in Redis (refreshed every third of it); when it
    /// expires the other nodes report `close` for the node's tunnels.
    #[arg(long, env = "WAFER_TUNNEL_NODE_TTL", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub node_ttl: u64,

    /// Seconds an unused connectUrl stays valid.
    #[arg(long, env = "WAFER_TUNNEL_CONNECT_TTL", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub connect_ttl: u64,

    /// Most unused connectUrls held at once (in-memory registry); `/get/wsurl` answers
    /// an error beyond it.
    #[arg(long, env = "WAFER_TUNNEL_MAX_PENDING", default_value_t = 100_000)]
    pub max_pending: usize,

    /// Largest WebSocket message accepted from a client, in bytes; a larger one closes the
    /// socket (1009).
    #[arg(long, env = "WAFER_TUNNEL_MAX_FRAME", default_value_t = 64 * 1024)]
    pub max_frame: usize,

    /// Largest HTTP body accepted from a business server, in bytes.
    #[arg(long, env = "WAFER_TUNNEL_MAX_BODY", default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,

    /// Most open WebSockets from one client address (0: no limit).
    #[arg(
        long,
        env = "WAFER_TUNNEL_MAX_CONNECTIONS_PER_IP",
        default_value_t = 1000
    )]
    pub max_connections_per_ip: usize,

    /// Take the client address from this request header (e.g. X-Real-IP) instead of the
    /// TCP peer: set it only behind a reverse proxy that writes it.
    #[arg(long, env = "WAFER_TUNNEL_IP_HEADER")]
    pub ip_header: Option<String>,

    /// Frames per second one client may send on average; beyond the burst, frames are
    /// dropped (counted and logged).
    #[arg(long, env = "WAFER_TUNNEL_CLIENT_RATE", default_value_t = 50)]
    pub client_rate: u32,

    /// Frames one client may send at once before the rate applies.
    #[arg(long, env = "WAFER_TUNNEL_CLIENT_BURST", default_value_t = 200)]
    pub client_burst: u32,

    /// Frames queued for one client that does not read; beyond it the tunnel is closed.
    #[arg(long, env = "WAFER_TUNNEL_OUTBOX_LIMIT", default_value_t = 1024)]
    pub outbox_limit: usize,

    /// Reports queued for one tunnel while its business server is slow or down; beyond it
    /// reports are dropped (counted and logged).
    #[arg(long, env = "WAFER_TUNNEL_REPORT_QUEUE", default_value_t = 1000)]
    pub report_queue: usize,

    /// Attempts per report (connect / message / close) before it is given up.
    #[arg(long, env = "WAFER_TUNNEL_REPORT_ATTEMPTS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub report_attempts: u32,

    /// Seconds one report may take before it counts as failed (and is retried).
    #[arg(long, env = "WAFER_TUNNEL_REPORT_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub report_timeout: u64,

    /// PEM file of CA certificates trusted for https:// receiveUrls, besides the system's.
    #[arg(long, env = "WAFER_TUNNEL_CALLBACK_CA")]
    pub callback_ca: Option<std::path::PathBuf>,

    /// Reports in flight at once, over all tunnels.
    #[arg(long, env = "WAFER_TUNNEL_REPORT_CONCURRENCY", default_value_t = 64)]
    pub report_concurrency: usize,

    /// Log format.
    #[arg(long, env = "WAFER_TUNNEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "WAFER_TUNNEL_LOG_LEVEL", default_value = "info")]
    pub log_level: tracing::Level,
}

impl Config {
    /// The configuration of a test node: `key`, everything else default.
    pub fn for_tests(key: &str) -> Config {
        Config::parse_from([
            "wafer-tunnel",
            "--signature-key",
            key,
            "--listen",
            "127.0.0.1:0",
        ])
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat)
    }

    /// `--public-url` without a trailing slash, or ws://<bound address>.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("ws://{bound}"),
        }
    }

    /// Checks that clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.signature_key.is_empty() {
            return Err("--signature-key must not be empty".into());
        }
        if let Some(u) = &self.public_url {
            if !(u.starts_with("ws://") || u.starts_with("wss://")) {
                return Err(format!(
                    "--public-url must start with ws:// or wss:// (got {u})"
                ));
            }
        }
        if self.max_frame < 16 {
            return Err("--max-frame must be at least 16 bytes".into());
        }
        if self.client_rate == 0 || self.client_burst == 0 {
            return Err("--client-rate and --client-burst must be positive".into());
        }
        if self.outbox_limit == 0 || self.report_queue == 0 || self.report_concurrency == 0 {
            return Err(
                "--outbox-limit, --report-queue and --report-concurrency must be positive".into(),
            );
        }
        if self.redis_ca.is_some() && self.redis.is_none() {
            return Err("--redis-ca needs --redis".into());
        }
        if let Some(id) = &self.node_id {
            if id.is_empty() || id.len() > 128 || id.contains([':', ' ']) {
                return Err("--node-id: 1-128 characters, no ':' or spaces".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = Config::for_tests("k");
        assert_eq!(c.heartbeat, 15);
        assert!(c.redis.is_none());
        assert!(c.validate().is_ok());
        assert_eq!(
            c.public_base("127.0.0.1:9".parse().unwrap()),
            "ws://127.0.0.1:9"
        );
        let mut bad = c.clone();
        bad.public_url = Some("http://x".into());
        assert!(bad.validate().is_err());
        bad.public_url = Some("wss://t.example.com/".into());
        assert!(bad.validate().is_ok());
        assert_eq!(
            bad.public_base("127.0.0.1:9".parse().unwrap()),
            "wss://t.example.com"
        );
        let mut ca = c.clone();
        ca.redis_ca = Some("ca.pem".into());
        assert!(ca.validate().is_err(), "--redis-ca without --redis");
        ca.redis = Some("rediss://redis.example.com".into());
        assert!(ca.validate().is_ok());
        assert!(
            Config::try_parse_from(["wafer-tunnel"]).is_err(),
            "the key is required"
        );
        assert!(Config::try_parse_from([
            "wafer-tunnel",
            "--signature-key",
            "k",
            "--heartbeat",
            "0"
        ])
        .is_err());
    }
}
