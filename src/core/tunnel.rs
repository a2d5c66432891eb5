//! The tunnel state machine (CLOSED / CONNECTING / ACTIVE / RECONNECTING).
//!
//! Sans-IO in the style of `quinn-proto`: the runtime reports what happened (`open`,
//! `handshake_succeeded`, `socket_opened`, `inbound`, `handle_timeout`, ...) and then
//! drains [`Tunnel::poll`] for what to do (HTTP handshake, open/close a socket, send a
//! packet) and which events to emit, and arms one timer at [`Tunnel::poll_timeout`].
//!
//! Every connection attempt gets a generation number; reports about an older attempt
//! (a late handshake answer, a socket that was already given up) are ignored, which is
//! what keeps a reconnect from ever getting stuck.
//!
//! Messages are queued while the tunnel is not ACTIVE (bounded, order kept) and drained
//! in order once it is. `P` is the message payload: the runtime uses a JS string handle,
//! tests use plain numbers. `D` is the detail of an `error` event: the platform's own
//! result object in the runtime (the socket's `{ errMsg }` / `{ code, reason }`, the
//! handshake's answer), text in tests.

use super::body::{number_field_is, string_field, Body};
use super::config::TunnelConfig;
use super::packet::{self, Kind};
use super::rng::Rng;
use std::collections::VecDeque;

/// The four states, with the string values of the official clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Closed,
    Connecting,
    Active,
    Reconnecting,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Closed => "CLOSED",
            Status::Connecting => "CONNECTING",
            Status::Active => "ACTIVE",
            Status::Reconnecting => "RECONNECTING",
        }
    }
}

/// `error` event codes (`Tunnel.ERR_*`), as `wafer-client-sdk` 0.8 emits them (it also
/// defines `ERR_CONNECT_SOCKET` 1002 but never emits it; neither do we).
pub mod codes {
    /// The first handshake (`GET serviceUrl`) failed or gave no socket URL.
    pub const ERR_CONNECT_SERVICE: u16 = 1001;
    /// Reconnecting gave up after `maxReconnectAttempts`.
    pub const ERR_RECONNECT: u16 = 2001;
    /// The first socket errored or closed while CONNECTING.
    pub const ERR_SOCKET_ERROR: u16 = 3001;
    /// `emit()` found the send queue full; the message was not queued.
    pub const ERR_QUEUE_OVERFLOW: u16 = 4001;
    /// `emit()` got content `JSON.stringify` cannot encode; the message was not queued.
    pub const ERR_INVALID_MESSAGE: u16 = 4002;
}

/// Payload of an `error` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelError<D = String> {
    pub code: u16,
    pub message: &'static str,
    pub detail: Option<D>,
}

impl<D> TunnelError<D> {
    /// The error with 0.8's message for its code.
    pub fn new(code: u16, detail: Option<D>) -> Self {
        let message = match code {
            codes::ERR_CONNECT_SERVICE => "连接信道服务失败，网络错误或者信道服务没有正确响应",
            codes::ERR_RECONNECT => "重连失败",
            codes::ERR_SOCKET_ERROR => "连接信道失败，网络错误或者信道服务不可用",
            codes::ERR_QUEUE_OVERFLOW => "发送队列已满，消息未发送",
            codes::ERR_INVALID_MESSAGE => "消息内容无法序列化为 JSON，消息未发送",
            _ => "信道错误",
        };
        TunnelError {
            code,
            message,
            detail,
        }
    }
}

/// Events for page code, in the order they must be emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<D = String> {
    Connect,
    Close,
    Reconnecting,
    Reconnect,
    Error(TunnelError<D>),
}

impl<D> Event<D> {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Connect => "connect",
            Event::Close => "close",
            Event::Reconnecting => "reconnecting",
            Event::Reconnect => "reconnect",
            Event::Error(_) => "error",
        }
    }
}

/// A client → server packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<P> {
    Message(P),
    Ping,
    Close,
}

/// Structured debug records (never message content or credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Log {
    State {
        from: Status,
        to: Status,
    },
    /// Retry number `attempt` of this outage starts in `delay_ms`.
    Retry {
        attempt: u32,
        delay_ms: u64,
    },
    /// Retrying waits for the network to come back.
    Offline,
    /// No `pong` within the heartbeat interval.
    LinkDead,
    /// The server set the heartbeat interval.
    Interval {
        ms: u64,
    },
    PacketIn {
        kind: Kind,
        len: usize,
    },
    Dropped {
        reason: &'static str,
        len: usize,
    },
    GaveUp {
        attempts: u32,
    },
}

/// What the runtime must do or emit next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output<P, D = String> {
    /// `GET serviceUrl` as a session request; report `handshake_succeeded/failed(gen)`.
    Handshake {
        gen: u32,
    },
    /// Open a WebSocket; report `socket_opened/closed/errored(gen)` and `inbound(gen)`.
    OpenSocket {
        gen: u32,
        url: String,
    },
    /// Send a packet on socket `gen`; report `send_failed` if it cannot be sent.
    Send {
        gen: u32,
        packet: Packet<P>,
    },
    /// Close and forget socket `gen` (ignore anything it still reports).
    CloseSocket {
        gen: u32,
    },
    Event(Event<D>),
    Log(Log),
}

/// What became of an `emit()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emit<P> {
    /// Send it on socket `gen` now; report [`Tunnel::send_failed`] if that fails.
    SendNow { gen: u32, message: P },
    /// Queued; [`Tunnel::poll`] hands it out in order.
    Queued,
    /// The queue is full: not queued, an `ERR_QUEUE_OVERFLOW` error event is pending.
    Overflow(P),
}

/// The runtime's next step for an inbound frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A `message` packet: parse the content from this UTF-16 offset and deliver it.
    Deliver { content_at: usize },
    /// Handled (or dropped) by the tunnel itself.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Handshaking {
        gen: u32,
    },
    Opening {
        gen: u32,
    },
    Open {
        gen: u32,
    },
    /// Next attempt at `at`.
    Waiting {
        at: u64,
    },
    /// Next attempt when the network is back.
    Offline,
}

#[derive(Debug)]
pub struct Tunnel<P, D = String> {
    cfg: TunnelConfig,
    status: Status,
    phase: Phase,
    gen: u32,
    queue: VecDeque<P>,
    out: VecDeque<Output<P, D>>,
    interval_ms: u64,
    next_ping: Option<u64>,
    pong_due: Option<u64>,
    /// Attempts started in the current outage.
    attempts: u32,
    online: bool,
    rng: Rng,
    logging: bool,
    socket_url: Option<String>,
}

impl<P, D> Tunnel<P, D> {
    pub fn new(cfg: TunnelConfig, seed: u64) -> Self {
        Tunnel {
            cfg,
            status: Status::Closed,
            phase: Phase::Idle,
            gen: 0,
            queue: VecDeque::new(),
            out: VecDeque::new(),
            interval_ms: cfg.heartbeat_ms,
            next_ping: None,
            pong_due: None,
            attempts: 0,
            online: true,
            rng: Rng::new(seed),
            logging: false,
            socket_url: None,
        }
    }

    /// Produce [`Output::Log`] records (off by default: they cost work on every frame).
    pub fn set_logging(&mut self, on: bool) {
        self.logging = on;
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The WebSocket URL of the latest handshake.
    pub fn socket_url(&self) -> Option<&str> {
        self.socket_url.as_deref()
    }

    /// Messages waiting for an ACTIVE socket.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The heartbeat interval in force (the server may change it).
    pub fn heartbeat_interval(&self) -> u64 {
        self.interval_ms
    }

    /// Whether frames from socket `gen` are accepted now.
    pub fn accepts(&self, gen: u32) -> bool {
        self.phase == Phase::Open { gen }
    }

    // ---- inputs -------------------------------------------------------------------

    /// `open()`: CONNECTING at once; no-op unless CLOSED.
    pub fn open(&mut self) {
        if self.status != Status::Closed {
            return;
        }
        self.attempts = 0;
        self.interval_ms = self.cfg.heartbeat_ms;
        self.set_status(Status::Connecting);
        self.start_attempt();
    }

    /// `close()`: send `close` when ACTIVE, close the socket, CLOSED, emit `close`.
    /// Returns false (and does nothing) when already CLOSED. Queued messages stay queued
    /// for a later `open()`.
    pub fn close(&mut self) -> bool {
        if self.status == Status::Closed {
            return false;
        }
        self.shutdown();
        self.push_event(Event::Close);
        true
    }

    /// `emit()`. While ACTIVE with nothing queued the message goes straight out
    /// ([`Emit::SendNow`]); otherwise it is queued, or, when the queue is full (only
    /// possible while not ACTIVE), handed back with an `ERR_QUEUE_OVERFLOW` error event.
    pub fn emit(&mut self, p: P) -> Emit<P> {
        if let Phase::Open { gen } = self.phase {
            if self.queue.is_empty() {
                return Emit::SendNow { gen, message: p };
            }
        } else if self.queue.len() >= self.cfg.queue_limit {
            self.push_event(Event::Error(TunnelError::new(
                codes::ERR_QUEUE_OVERFLOW,
                None,
            )));
            return Emit::Overflow(p);
        }
        self.queue.push_back(p);
        Emit::Queued
    }

    pub fn handshake_succeeded(&mut self, gen: u32, url: String) {
        if self.phase != (Phase::Handshaking { gen }) {
            return;
        }
        self.socket_url = Some(url.clone());
        self.phase = Phase::Opening { gen };
        self.out.push_back(Output::OpenSocket { gen, url });
    }

    /// The handshake failed; `detail` is what it failed with (the answer without a socket
    /// URL, the request's failure).
    pub fn handshake_failed(&mut self, gen: u32, detail: Option<D>, now: u64) {
        if self.phase != (Phase::Handshaking { gen }) {
            return;
        }
        self.attempt_failed(codes::ERR_CONNECT_SERVICE, detail, now);
    }

    pub fn socket_opened(&mut self, gen: u32, now: u64) {
        if self.phase != (Phase::Opening { gen }) {
            return;
        }
        self.phase = Phase::Open { gen };
        let was = self.status;
        self.set_status(Status::Active);
        self.attempts = 0;
        self.next_ping = Some(now.saturating_add(self.interval_ms));
        self.pong_due = None;
        self.push_event(if was == Status::Connecting {
            Event::Connect
        } else {
            Event::Reconnect
        });
    }

    /// Socket `gen` closed; `detail` is the platform's close result.
    pub fn socket_closed(&mut self, gen: u32, detail: Option<D>, now: u64) {
        self.socket_down(gen, detail, now);
    }

    /// Socket `gen` reported an error (or could not be opened); `detail` is the
    /// platform's error result.
    pub fn socket_errored(&mut self, gen: u32, detail: Option<D>, now: u64) {
        self.socket_down(gen, detail, now);
    }

    /// A `Send` could not be handed to the socket: the message goes back to the head
    /// of the queue and the link is treated as lost.
    pub fn send_failed(&mut self, gen: u32, packet: Packet<P>, now: u64) {
        if self.phase != (Phase::Open { gen }) {
            return;
        }
        if let Packet::Message(p) = packet {
            self.queue.push_front(p);
        }
        self.out.push_back(Output::CloseSocket { gen });
        self.link_lost(None, now);
    }

    /// A frame on socket `gen` that starts with [`packet::MESSAGE_PREFIX`] and runs past
    /// it (`len` UTF-16 code units): whether to deliver its content, which starts at
    /// [`packet::MESSAGE_CONTENT_AT`]. The data path: no copy of the frame, no clock.
    pub fn message_frame(&mut self, gen: u32, len: usize) -> bool {
        if !self.accepts(gen) {
            self.log(|| Log::Dropped {
                reason: "stale-socket",
                len,
            });
            return false;
        }
        if len > self.cfg.max_frame {
            self.log(|| Log::Dropped {
                reason: "oversized",
                len,
            });
            return false;
        }
        self.log(|| Log::PacketIn {
            kind: Kind::Message,
            len,
        });
        true
    }

    /// An inbound text frame on socket `gen`: `head` is its first
    /// [`packet::HEAD_LEN`] UTF-16 code units, `len` its length in UTF-16 code units.
    pub fn inbound(&mut self, gen: u32, head: &str, len: usize, now: u64) -> Inbound {
        if !self.accepts(gen) {
            self.log(|| Log::Dropped {
                reason: "stale-socket",
                len,
            });
            return Inbound::Done;
        }
        if len > self.cfg.max_frame {
            self.log(|| Log::Dropped {
                reason: "oversized",
                len,
            });
            return Inbound::Done;
        }
        let h = packet::parse_head(head, len);
        self.log(|| Log::PacketIn { kind: h.kind, len });
        match (h.kind, h.content_at) {
            (Kind::Message, Some(content_at)) => return Inbound::Deliver { content_at },
            (Kind::Pong, _) => {
                self.pong_due = None;
                self.next_ping = Some(now.saturating_add(self.interval_ms));
            }
            (Kind::Timeout, Some(at)) => {
                // The value is short, so a valid one is always inside the head.
                match head
                    .get(at..)
                    .filter(|_| len <= packet::HEAD_LEN)
                    .and_then(packet::parse_timeout)
                {
                    Some(ms) => {
                        self.interval_ms = ms;
                        self.log(|| Log::Interval { ms });
                        if let Phase::Open { gen } = self.phase {
                            self.ping(gen, now);
                        }
                    }
                    None => self.log(|| Log::Dropped {
                        reason: "bad-timeout",
                        len,
                    }),
                }
            }
            (Kind::Close, _) => {
                self.close();
            }
            _ => self.log(|| Log::Dropped {
                reason: "unknown-packet",
                len,
            }),
        }
        Inbound::Done
    }

    /// A delivered `message` frame turned out unusable (invalid JSON, no type).
    pub fn dropped(&mut self, reason: &'static str, len: usize) {
        self.log(|| Log::Dropped { reason, len });
    }

    /// The content of an `emit()` could not be encoded.
    pub fn reject_message(&mut self) {
        self.push_event(Event::Error(TunnelError::new(
            codes::ERR_INVALID_MESSAGE,
            None,
        )));
    }

    /// The network went on or off. Coming back retries at once; while off, retries wait.
    pub fn network_changed(&mut self, online: bool) {
        self.online = online;
        match self.phase {
            Phase::Offline | Phase::Waiting { .. } if online => self.retry_now(),
            Phase::Waiting { .. } => {
                self.phase = Phase::Offline;
                self.log(|| Log::Offline);
            }
            _ => {}
        }
    }

    /// The app returned to the foreground: retry at once when reconnecting, and check
    /// an ACTIVE link with an immediate ping (sockets often die in the background).
    pub fn app_shown(&mut self, now: u64) {
        match self.phase {
            Phase::Offline | Phase::Waiting { .. } => self.retry_now(),
            Phase::Open { gen } if self.pong_due.is_none() => self.ping(gen, now),
            _ => {}
        }
    }

    /// The timer armed at [`Tunnel::poll_timeout`] fired (or any later time).
    pub fn handle_timeout(&mut self, now: u64) {
        match self.phase {
            Phase::Waiting { at } if now >= at => self.retry_now(),
            Phase::Open { gen } => {
                if self.pong_due.is_some_and(|due| now >= due) {
                    self.log(|| Log::LinkDead);
                    self.out.push_back(Output::CloseSocket { gen });
                    self.link_lost(None, now);
                } else if self.next_ping.is_some_and(|at| now >= at) {
                    self.ping(gen, now);
                }
            }
            _ => {}
        }
    }

    // ---- outputs ------------------------------------------------------------------

    /// The next thing to do. While ACTIVE, queued messages follow everything else.
    pub fn poll(&mut self) -> Option<Output<P, D>> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        if let Phase::Open { gen } = self.phase {
            if let Some(p) = self.queue.pop_front() {
                return Some(Output::Send {
                    gen,
                    packet: Packet::Message(p),
                });
            }
        }
        None
    }

    /// Whether [`Tunnel::poll`] would return something.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || (matches!(self.phase, Phase::Open { .. }) && !self.queue.is_empty())
    }

    /// When [`Tunnel::handle_timeout`] must be called next (`None`: no timer needed).
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::Waiting { at } => Some(at),
            Phase::Open { .. } => match (self.next_ping, self.pong_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            _ => None,
        }
    }

    // ---- internals ----------------------------------------------------------------

    fn start_attempt(&mut self) {
        self.gen = self.gen.wrapping_add(1);
        self.phase = Phase::Handshaking { gen: self.gen };
        self.out.push_back(Output::Handshake { gen: self.gen });
    }

    fn retry_now(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
        self.start_attempt();
    }

    /// The socket of attempt `gen` is gone. While opening, the attempt failed (the first
    /// connection reports `ERR_SOCKET_ERROR`, as 0.8 does); while open, the link is lost
    /// and `reconnecting` says so (0.8 reports no error for that either).
    fn socket_down(&mut self, gen: u32, detail: Option<D>, now: u64) {
        match self.phase {
            Phase::Opening { gen: g } if g == gen => {
                self.out.push_back(Output::CloseSocket { gen });
                self.attempt_failed(codes::ERR_SOCKET_ERROR, detail, now);
            }
            Phase::Open { gen: g } if g == gen => {
                self.out.push_back(Output::CloseSocket { gen });
                self.link_lost(detail, now);
            }
            _ => {}
        }
    }

    /// An attempt (handshake or socket) failed: the first connection gives up with
    /// `code`; a reconnection waits and tries again.
    fn attempt_failed(&mut self, code: u16, detail: Option<D>, now: u64) {
        match self.status {
            Status::Connecting => {
                self.phase = Phase::Idle;
                self.set_status(Status::Closed);
                self.push_event(Event::Error(TunnelError::new(code, detail)));
            }
            Status::Reconnecting => self.schedule_retry(detail, now),
            Status::Active | Status::Closed => {}
        }
    }

    /// The link of an ACTIVE tunnel is gone (`detail`: the platform's report, if any).
    fn link_lost(&mut self, detail: Option<D>, now: u64) {
        self.next_ping = None;
        self.pong_due = None;
        self.attempts = 0;
        self.set_status(Status::Reconnecting);
        self.push_event(Event::Reconnecting);
        self.schedule_retry(detail, now);
    }

    /// Wait for the next attempt, or give up with `ERR_RECONNECT` carrying the detail of
    /// the last failure.
    fn schedule_retry(&mut self, detail: Option<D>, now: u64) {
        if self
            .cfg
            .max_attempts
            .is_some_and(|max| self.attempts >= max)
        {
            let attempts = self.attempts;
            self.log(|| Log::GaveUp { attempts });
            self.shutdown();
            self.push_event(Event::Close);
            self.push_event(Event::Error(TunnelError::new(codes::ERR_RECONNECT, detail)));
            return;
        }
        if !self.online {
            self.phase = Phase::Offline;
            self.log(|| Log::Offline);
            return;
        }
        let delay_ms = self.cfg.backoff.delay(self.attempts, &mut self.rng);
        self.phase = Phase::Waiting {
            at: now.saturating_add(delay_ms),
        };
        let attempt = self.attempts.saturating_add(1);
        self.log(|| Log::Retry { attempt, delay_ms });
    }

    fn ping(&mut self, gen: u32, now: u64) {
        self.next_ping = None;
        self.pong_due = Some(now.saturating_add(self.interval_ms));
        self.out.push_back(Output::Send {
            gen,
            packet: Packet::Ping,
        });
    }

    /// Leave every connection state for CLOSED (no event).
    fn shutdown(&mut self) {
        match self.phase {
            Phase::Open { gen } => {
                self.out.push_back(Output::Send {
                    gen,
                    packet: Packet::Close,
                });
                self.out.push_back(Output::CloseSocket { gen });
            }
            Phase::Opening { gen } => self.out.push_back(Output::CloseSocket { gen }),
            _ => {}
        }
        self.phase = Phase::Idle;
        self.next_ping = None;
        self.pong_due = None;
        self.attempts = 0;
        self.set_status(Status::Closed);
    }

    fn set_status(&mut self, to: Status) {
        let from = self.status;
        if from != to {
            self.status = to;
            self.log(|| Log::State { from, to });
        }
    }

    fn push_event(&mut self, e: Event<D>) {
        self.out.push_back(Output::Event(e));
    }

    fn log(&mut self, record: impl FnOnce() -> Log) {
        if self.logging {
            self.out.push_back(Output::Log(record()));
        }
    }
}

/// Read the handshake answer (`GET serviceUrl`): Wafer 1 `{ url }`, Wafer 2
/// `{ code: 0, data: { connectUrl } }`. `None` when it holds no usable socket URL (the
/// `error` event then carries the answer itself, as 0.8's does).
pub fn handshake_url<B: Body>(status: u16, body: Option<&B>) -> Option<String> {
    if status != 200 {
        return None;
    }
    let body = body?;
    let url = string_field(body, "url").or_else(|| {
        let data = body
            .get("data")
            .filter(|_| number_field_is(body, "code", 0.0))?;
        string_field(&data, "connectUrl")
    })?;
    (url.starts_with("ws://") || url.starts_with("wss://")).then_some(url)
}

#[cfg(test)]
mod tests;
