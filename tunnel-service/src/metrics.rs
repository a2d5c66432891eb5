//! Counters, served at `GET /metrics` in the Prometheus text format. Written by hand:
//! a few dozen relaxed atomics and their exposition lines need no registry crate.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $help:literal,)*) => {
        /// Every counter of the service (monotonic, since start).
        #[derive(Default)]
        pub struct Metrics {
            $(pub $name: AtomicU64,)*
        }

        impl Metrics {
            fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$((stringify!($name), $help, self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    tunnels_created: "connect URLs handed out by /get/wsurl",
    connections_accepted: "WebSocket connections accepted",
    connections_rejected: "WebSocket upgrades refused (unknown, used or expired tunnel, bad ticket, limits)",
    connections_closed_client: "tunnels closed by the client (close packet or socket closed)",
    connections_closed_timeout: "tunnels closed because the client was silent for two heartbeat intervals",
    connections_closed_server: "tunnels closed by a pushed close packet",
    connections_closed_error: "tunnels closed on a socket error, an oversized frame or a full outbox",
    connections_closed_shutdown: "tunnels closed by this node shutting down",
    frames_in: "frames received from clients",
    frames_out: "frames sent to clients",
    frames_dropped_rate: "client frames dropped by the per-client rate limit",
    frames_dropped_unknown: "client frames of no known packet type (dropped)",
    frames_dropped_routing: "pushed frames whose tunnel had gone when they reached this node",
    pushes: "accepted /ws/push calls",
    push_invalid: "tunnel ids answered as invalid by /ws/push",
    push_remote: "frames routed to another node through Redis",
    api_errors: "HTTP API calls answered with an error code",
    bad_signatures: "HTTP API calls with a wrong signature",
    reports_sent: "reports (connect, message, close) delivered to business servers",
    reports_retried: "report attempts that failed and were retried",
    reports_failed: "reports given up after every attempt or rejected (4xx) by the business server",
    reports_dropped: "reports dropped because the tunnel's report queue was full",
    redis_errors: "failed Redis calls",
    nodes_reaped: "dead nodes whose tunnels this node reported closed",
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The exposition text, with the gauges given by the caller.
    pub fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        for (name, help, value) in self.counters() {
            let _ = writeln!(
                out,
                "# HELP wafer_tunnel_{name}_total {help}\n# TYPE wafer_tunnel_{name}_total counter\nwafer_tunnel_{name}_total {value}"
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP wafer_tunnel_{name} {help}\n# TYPE wafer_tunnel_{name} gauge\nwafer_tunnel_{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        Metrics::inc(&m.frames_in);
        Metrics::add(&m.frames_in, 2);
        let text = m.render(&[("tunnels_open", "open tunnels", 7)]);
        assert!(
            text.contains("\nwafer_tunnel_frames_in_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE wafer_tunnel_tunnels_open gauge\nwafer_tunnel_tunnels_open 7\n")
        );
    }
}
