//! The node: shared state, the HTTP API for business servers (`POST /get/wsurl`,
//! `POST /ws/push`), `GET /healthz`, `GET /metrics`, and the node's lifecycle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::hub::{Hub, Out};
use crate::metrics::Metrics;
use crate::protocol::{self, ApiError, Code};
use crate::registry::{CreateError, NewTunnel, Registry};
use crate::reports::Reporter;
use crate::signature;
use crate::socket;

pub struct App {
    pub cfg: Config,
    pub node: String,
    pub public_base: String,
    pub hub: Arc<Hub>,
    pub registry: Registry,
    pub reporter: Arc<Reporter>,
    pub metrics: Arc<Metrics>,
    ips: Arc<Mutex<HashMap<IpAddr, usize>>>,
    stopping: AtomicBool,
}

/// One open connection counted against its address (released on drop).
pub struct IpSlot {
    ip: IpAddr,
    ips: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = ips.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                ips.remove(&self.ip);
            }
        }
    }
}

impl App {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Count one more connection from `ip`, unless it has `--max-connections-per-ip`.
    pub fn ip_slot(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        let n = ips.entry(ip).or_insert(0);
        let limit = self.cfg.max_connections_per_ip;
        if limit != 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            ip,
            ips: self.ips.clone(),
        })
    }

    fn cluster(&self) -> Option<&Arc<Cluster>> {
        match &self.registry {
            Registry::Redis(c) => Some(c),
            Registry::Memory(_) => None,
        }
    }
}

/// A running node.
pub struct Node {
    pub app: Arc<App>,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Node {
    /// Bind `cfg.listen`, connect the registry and serve.
    pub async fn start(cfg: Config) -> Result<Node, String> {
        cfg.validate()?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::default());
        let tls = crate::reports::tls_config(cfg.callback_ca.as_deref())?;
        let reporter = Reporter::new(
            tls,
            cfg.signature_key.clone(),
            cfg.report_attempts,
            Duration::from_secs(cfg.report_timeout),
            cfg.report_queue,
            cfg.report_concurrency,
            metrics.clone(),
        );
        let node = cfg
            .node_id
            .clone()
            .unwrap_or_else(|| signature::random_token()[..12].to_owned());
        let connect_ttl = Duration::from_secs(cfg.connect_ttl);
        let registry = match &cfg.redis {
            None => Registry::memory(connect_ttl, cfg.max_pending),
            Some(url) => Registry::Redis(Cluster::new(
                url,
                cfg.redis_ca.as_deref(),
                node.clone(),
                cfg.redis_prefix.clone(),
                Duration::from_secs(cfg.node_ttl),
                connect_ttl,
                hub.clone(),
                reporter.clone(),
                metrics.clone(),
            )?),
        };
        let app = Arc::new(App {
            public_base: cfg.public_base(addr),
            cfg,
            node,
            hub,
            registry,
            reporter,
            metrics,
            ips: Arc::default(),
            stopping: AtomicBool::new(false),
        });
        if let Some(c) = app.cluster() {
            c.start().await;
        }
        let pruner = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            while !pruner.is_stopping() {
                tick.tick().await;
                pruner.registry.prune();
            }
        });

        let router = router(app.clone());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "server failed");
            }
        });
        let registry = match &app.cfg.redis {
            Some(url) => crate::secrets::redact_url(url),
            None => "memory".into(),
        };
        tracing::info!(%addr, node = %app.node, public = %app.public_base, %registry,
            heartbeat = app.cfg.heartbeat, "wafer-tunnel listening");
        Ok(Node {
            app,
            addr,
            server,
            stop,
        })
    }

    /// Graceful stop: refuse new sockets, close every socket (1001: the clients
    /// reconnect, to another node when there is one), report each `close`, leave the
    /// cluster. Waits at most `limit` for the reports.
    pub async fn stop(self, limit: Duration) {
        self.app.stopping.store(true, Ordering::Relaxed);
        let n = self.app.hub.close_all(Out::Shutdown);
        tracing::info!(sockets = n, "stopping: closing every socket");
        let deadline = tokio::time::Instant::now() + limit;
        while !self.app.hub.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delivered = self.app.reporter.flush(deadline).await;
        if !delivered {
            tracing::warn!("stopping with reports not delivered yet");
        }
        if let Some(c) = self.app.cluster() {
            c.leave().await;
        }
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.server).await;
    }
}

pub fn router(app: Arc<App>) -> Router {
    let limit = app.cfg.max_body;
    Router::new()
        .route("/get/wsurl", post(wsurl))
        .route("/ws/push", post(push))
        .route("/ws", get(socket::endpoint))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

fn api_error(app: &App, e: ApiError) -> Response {
    Metrics::inc(&app.metrics.api_errors);
    if e.code == Code::BadSignature {
        Metrics::inc(&app.metrics.bad_signatures);
    }
    tracing::warn!(code = e.code as u16, message = %e.message, "API call refused");
    Json(e.body()).into_response()
}

async fn wsurl(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let data = match protocol::open_envelope(&body, &app.cfg.signature_key) {
        Ok(d) => d,
        Err(e) => return api_error(&app, e),
    };
    let receive_url = match protocol::wsurl_params(&data) {
        Ok(u) => u,
        Err(e) => return api_error(&app, e),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let ticket = signature::random_token();
    let created = app
        .registry
        .create(NewTunnel {
            id: id.clone(),
            ticket: ticket.clone(),
            receive_url,
        })
        .await;
    match created {
        Ok(()) => {}
        Err(CreateError::Busy) => {
            return api_error(
                &app,
                ApiError::new(Code::Busy, "too many unused connect URLs; try again later"),
            )
        }
        Err(CreateError::Unavailable(e)) => {
            return api_error(
                &app,
                ApiError::new(
                    Code::Unavailable,
                    format!("tunnel registry unreachable: {e}"),
                ),
            )
        }
    }
    Metrics::inc(&app.metrics.tunnels_created);
    let connect_url = format!("{}/ws?tunnelId={id}&ticket={ticket}", app.public_base);
    Json(protocol::wsurl_answer(
        &id,
        &connect_url,
        &app.cfg.signature_key,
    ))
    .into_response()
}

async fn push(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let items = match protocol::open_envelope(&body, &app.cfg.signature_key)
        .and_then(protocol::push_items)
    {
        Ok(items) => items,
        Err(e) => return api_error(&app, e),
    };
    Metrics::inc(&app.metrics.pushes);
    let mut invalid: Vec<String> = Vec::new();
    for item in items {
        let out = if item.close {
            Out::Close
        } else {
            Out::Frame(Utf8Bytes::from(item.frame))
        };
        let mut full = 0;
        let missing: Vec<&str> =
            app.hub
                .send_many(item.tunnel_ids.iter().map(String::as_str), &out, &mut full);
        if missing.is_empty() {
            continue;
        }
        match app.cluster() {
            None => invalid.extend(missing.into_iter().map(str::to_owned)),
            Some(c) => match c.route(&missing, &out).await {
                Ok(gone) => invalid.extend(gone),
                Err(e) => {
                    return api_error(
                        &app,
                        ApiError::new(
                            Code::Unavailable,
                            format!(
                                "tunnel registry unreachable, {} tunnel(s) of other nodes not reached: {}",
                                missing.len(),
                                e.0
                            ),
                        ),
                    )
                }
            },
        }
    }
    invalid.sort_unstable();
    invalid.dedup();
    Metrics::add(&app.metrics.push_invalid, invalid.len() as u64);
    Json(protocol::push_answer(&invalid)).into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let mut body = json!({
        "status": "ok",
        "node": app.node,
        "tunnels": app.hub.len(),
        "registry": if app.cluster().is_some() { "redis" } else { "memory" },
    });
    let mut status = StatusCode::OK;
    if app.is_stopping() {
        status = StatusCode::SERVICE_UNAVAILABLE;
        body["status"] = Value::from("stopping");
    } else if let Some(problem) = app.cluster().and_then(|c| c.health()) {
        status = StatusCode::SERVICE_UNAVAILABLE;
        body["status"] = Value::from("degraded");
        body["redis"] = Value::from(format!(
            "unreachable ({problem}): serving this node's sockets only"
        ));
    }
    (status, Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(&[
        (
            "tunnels_open",
            "sockets open on this node",
            app.hub.len() as u64,
        ),
        (
            "tunnels_pending",
            "connect URLs not used yet (in-memory registry)",
            app.registry.pending() as u64,
        ),
        (
            "reports_pending",
            "reports queued or in flight",
            app.reporter.pending() as u64,
        ),
    ]);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}
