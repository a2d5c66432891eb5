//! The WebSocket endpoint `GET /ws?tunnelId=<id>&ticket=<ticket>` and the task that
//! serves one socket: `timeout:<s>` at once, `pong` for `ping`, `message:` frames
//! reported to the business server, pushed frames written out, and the end of the
//! tunnel (client close, silence for two heartbeat intervals, pushed `close`, errors,
//! node shutdown) reported as `close`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use tokio::time::Instant;
use wafer_wasm::sansio::packet::{self, ClientFrame};

use crate::app::App;
use crate::hub::{Out, Outbox};
use crate::metrics::Metrics;
use crate::protocol::ReportKind;
use crate::registry::ClaimError;
use crate::reports::Target;

/// Read buffer of one socket. tungstenite zero-fills its whole read buffer, so this is
/// resident memory per tunnel; larger frames grow it while they last.
const READ_BUFFER: usize = 2048;

/// WebSocket close codes.
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;

/// How a tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The client sent `close` or closed the socket.
    Client,
    /// Nothing from the client for two heartbeat intervals.
    Silent,
    /// A pushed `close` packet.
    Server,
    /// Socket error, a client that does not read.
    Error,
    /// A frame over `--max-frame`.
    TooBig,
    /// The node is stopping (the client reconnects elsewhere).
    Shutdown,
    /// Closed without a report (another node reported it already).
    Dropped,
}

pub async fn endpoint(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let reject = |status: StatusCode, text: &str| {
        Metrics::inc(&app.metrics.connections_rejected);
        (status, text.to_owned()).into_response()
    };
    if app.is_stopping() {
        return reject(StatusCode::SERVICE_UNAVAILABLE, "node stopping");
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return reject(e.status(), &e.body_text()),
    };
    let (Some(id), Some(ticket)) = (query.get("tunnelId"), query.get("ticket")) else {
        return reject(StatusCode::BAD_REQUEST, "tunnelId and ticket are required");
    };
    let ip = client_ip(&app, peer, &headers);
    let Some(slot) = app.ip_slot(ip) else {
        tracing::warn!(%ip, limit = app.cfg.max_connections_per_ip, "connection limit per address reached");
        return reject(
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address",
        );
    };
    let receive_url = match app.registry.claim(id, ticket).await {
        Ok(url) => url,
        Err(ClaimError::Unknown) => {
            return reject(StatusCode::NOT_FOUND, "unknown or expired tunnel")
        }
        Err(ClaimError::Used) => return reject(StatusCode::GONE, "tunnel already used"),
        Err(ClaimError::BadTicket) => return reject(StatusCode::FORBIDDEN, "bad ticket"),
        Err(ClaimError::Unavailable(e)) => {
            tracing::warn!(error = %e, "cannot claim a tunnel: registry unreachable");
            return reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "tunnel registry unreachable",
            );
        }
    };
    let id: Arc<str> = Arc::from(id.as_str());
    let target = Target::new(id.clone(), receive_url);
    let failed = {
        let app = app.clone();
        let id = id.clone();
        move |e: axum::Error| {
            tracing::debug!(tunnel = %id, error = %e, "upgrade failed");
            tokio::spawn(async move { app.registry.release(&id).await });
        }
    };
    let max = app.cfg.max_frame;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(failed)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            serve(app, target, socket).await
        })
}

fn client_ip(app: &App, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    app.cfg
        .ip_header
        .as_deref()
        .and_then(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| peer.ip())
}

/// The frames a client may send: `rate` per second on average, `burst` at once.
struct TokenBucket {
    tokens: f32,
    last: Instant,
}

impl TokenBucket {
    fn take(&mut self, rate: f32, burst: f32) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f32() * rate;
        self.last = now;
        self.tokens = (self.tokens + refill).min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn serve(app: Arc<App>, target: Arc<Target>, mut ws: WebSocket) {
    let id = target.tunnel_id.clone();
    let outbox = Arc::new(Outbox::new(app.cfg.outbox_limit));
    app.hub.insert(target.clone(), outbox.clone());
    Metrics::inc(&app.metrics.connections_accepted);
    app.reporter.report(&target, ReportKind::Connect);
    tracing::debug!(tunnel = %id, "connected");

    let silence = app.cfg.heartbeat() * 2;
    let (rate, burst) = (app.cfg.client_rate as f32, app.cfg.client_burst as f32);
    let mut bucket = TokenBucket {
        tokens: burst,
        last: Instant::now(),
    };
    let mut rate_dropped = 0u64;
    let hello = [packet::TIMEOUT_PREFIX, &app.cfg.heartbeat.to_string()].concat();
    let end = if send(&mut ws, Message::Text(hello.into()), silence).await {
        Metrics::inc(&app.metrics.frames_out);
        let deadline = tokio::time::sleep(silence);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = outbox.ready() => {
                    if let Some(end) = write_out(&app, &mut ws, &outbox, silence).await {
                        break end;
                    }
                }
                msg = ws.recv() => {
                    deadline.as_mut().reset(Instant::now() + silence);
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Binary(b))) => match Utf8Bytes::try_from(b) {
                            Ok(t) => t,
                            Err(_) => {
                                Metrics::inc(&app.metrics.frames_dropped_unknown);
                                continue;
                            }
                        },
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_))) | None => break End::Client,
                        Some(Err(e)) => {
                            tracing::debug!(tunnel = %id, error = %e, "socket error");
                            if is_capacity(&e) {
                                tracing::warn!(tunnel = %id, limit = app.cfg.max_frame, "frame over --max-frame: tunnel closed");
                                break End::TooBig;
                            }
                            break End::Error;
                        }
                    };
                    Metrics::inc(&app.metrics.frames_in);
                    if !bucket.take(rate, burst) {
                        Metrics::inc(&app.metrics.frames_dropped_rate);
                        if rate_dropped == 0 {
                            tracing::warn!(tunnel = %id, rate, burst, "client floods: frames over the rate are dropped");
                        }
                        rate_dropped += 1;
                        continue;
                    }
                    match packet::parse_client_frame(&text) {
                        ClientFrame::Ping => {
                            if !send(&mut ws, Message::Text(Utf8Bytes::from_static(packet::PONG)), silence).await {
                                break End::Error;
                            }
                            Metrics::inc(&app.metrics.frames_out);
                        }
                        ClientFrame::Message(content) => {
                            app.reporter.report(&target, ReportKind::Message(content.to_owned()));
                        }
                        ClientFrame::Close => break End::Client,
                        ClientFrame::Unknown => Metrics::inc(&app.metrics.frames_dropped_unknown),
                    }
                }
                _ = &mut deadline => break End::Silent,
            }
        }
    } else {
        End::Error
    };

    app.hub.remove(&id, &outbox);
    let (code, reason) = match end {
        End::Silent => (POLICY, "heartbeat timeout"),
        End::Shutdown => (GOING_AWAY, "node stopping"),
        End::Error => (POLICY, "closed by the tunnel service"),
        End::TooBig => (TOO_BIG, "frame too large"),
        _ => (1000, "closed"),
    };
    if end != End::Client {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.send(frame)).await;
    }
    let counter = match end {
        End::Client => &app.metrics.connections_closed_client,
        End::Silent => &app.metrics.connections_closed_timeout,
        End::Server => &app.metrics.connections_closed_server,
        End::Error | End::TooBig | End::Dropped => &app.metrics.connections_closed_error,
        End::Shutdown => &app.metrics.connections_closed_shutdown,
    };
    Metrics::inc(counter);
    if rate_dropped > 0 {
        tracing::warn!(tunnel = %id, dropped = rate_dropped, "frames dropped by the rate limit on this tunnel");
    }
    tracing::debug!(tunnel = %id, ?end, "closed");
    if end != End::Dropped {
        app.reporter.report(&target, ReportKind::Close);
    }
    app.registry.release(&id).await;
}

/// Write everything queued; `Some(end)` when the tunnel must end.
async fn write_out(app: &App, ws: &mut WebSocket, outbox: &Outbox, limit: Duration) -> Option<End> {
    let mut end = None;
    let mut sent = 0u64;
    let write = async {
        for out in outbox.take() {
            match out {
                Out::Frame(f) => {
                    ws.feed(Message::Text(f)).await?;
                    sent += 1;
                }
                Out::Close => {
                    ws.feed(Message::Text(Utf8Bytes::from_static(packet::CLOSE)))
                        .await?;
                    sent += 1;
                    end = Some(End::Server);
                    break;
                }
                Out::Drop => {
                    end = Some(End::Dropped);
                    break;
                }
                Out::Shutdown => {
                    end = Some(End::Shutdown);
                    break;
                }
                Out::Overflow => {
                    tracing::warn!(
                        limit = app.cfg.outbox_limit,
                        "client does not read its frames: tunnel closed"
                    );
                    end = Some(End::Error);
                    break;
                }
            }
        }
        ws.flush().await
    };
    let ok = matches!(tokio::time::timeout(limit, write).await, Ok(Ok(())));
    Metrics::add(&app.metrics.frames_out, sent);
    if !ok {
        return Some(End::Error);
    }
    end
}

async fn send(ws: &mut WebSocket, msg: Message, limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, ws.send(msg)).await, Ok(Ok(())))
}

fn is_capacity(e: &axum::Error) -> bool {
    use std::error::Error as _;
    e.source()
        .and_then(|s| s.downcast_ref::<tokio_tungstenite::tungstenite::Error>())
        .is_some_and(|e| matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)))
}
