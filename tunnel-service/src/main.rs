//! `wafer-tunnel`: run one node until SIGINT / SIGTERM, then stop gracefully.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wafer_tunnel::app::Node;
use wafer_tunnel::config::{Config, LogFormat};

#[tokio::main]
async fn main() -> ExitCode {
    let cfg = Config::parse();
    let builder = tracing_subscriber::fmt()
        .with_max_level(cfg.log_level)
        .with_target(false)
        .with_writer(std::io::stderr);
    match cfg.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    raise_nofile_limit();
    // The TLS of rediss:// builds its configuration on the process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let node = match Node::start(cfg).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    // The line scripts wait for (the bound address when --listen asked for port 0).
    println!(
        "wafer-tunnel listening on {} (node {})",
        node.addr, node.app.node
    );
    wait_for_signal().await;
    node.stop(Duration::from_secs(10)).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// One socket is one file descriptor: lift the soft open-files limit to the hard one
/// (what `ulimit -n` would need by hand), so the hard limit is the only one to set.
fn raise_nofile_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!("cannot raise the open-files limit");
            }
        }
    }
}
