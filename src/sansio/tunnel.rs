//! The tunnel state machine (CLOSED / CONNECTING / ACTIVE / RECONNECTING).
//!
//! Sans-IO in the style of `quinn-proto` / `str0m`: the runtime reports what happened
//! through one entry point, [`Tunnel::handle`] (an [`Input`]: a page call, a platform
//! report, the timer), then drains [`Tunnel::poll`] for what to do (HTTP handshake,
//! open/close a socket, send a packet) and which events to emit, and arms one timer at
//! [`Tunnel::poll_timeout`]. The state is one enum whose variants carry their own data
//! (the attempt in progress, the open link and its heartbeat, the reconnection's count
//! and wait), so the public status can never disagree with what the tunnel is doing.
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

use super::config::TunnelConfig;
use super::flows::status_of;
use super::packet::{self, Kind};
use super::protocol::Answer;
use super::rng::Rng;
use super::value::Value;
use serde::Serialize;
use std::collections::VecDeque;

/// The four states, with the string values of the official clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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

/// Payload of an `error` event: `{ code, message, detail }` (`detail: null` when none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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

/// Structured debug records (never message content or credentials), serialized for the
/// logger as `{ event, ...fields }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Log {
    State {
        from: Status,
        to: Status,
    },
    /// Retry number `attempt` of this outage starts in `delay_ms`.
    Retry {
        attempt: u32,
        #[serde(rename = "delay", serialize_with = "number")]
        delay_ms: u64,
    },
    /// Retrying waits for the network to come back.
    Offline,
    /// No `pong` within the heartbeat interval.
    LinkDead,
    /// The server set the heartbeat interval.
    #[serde(rename = "heartbeat-interval")]
    Interval {
        #[serde(rename = "interval", serialize_with = "number")]
        ms: u64,
    },
    PacketIn {
        kind: Kind,
        #[serde(rename = "size", serialize_with = "number")]
        len: usize,
    },
    Dropped {
        reason: &'static str,
        #[serde(rename = "size", serialize_with = "number")]
        len: usize,
    },
    GaveUp {
        attempts: u32,
    },
}

/// A count or a duration as a JavaScript number (as a double: the values are far below
/// 2^53, and one number type keeps the serializer small).
fn number<T: Copy + TryInto<u32>, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((*v).try_into().map_or(f64::from(u32::MAX), f64::from))
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

/// Everything that can happen to a tunnel: page calls, platform reports, time. Fed to
/// [`Tunnel::handle`], the one entry point. Reports name the connection attempt they are
/// about (`gen`); a report about an older attempt changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<'a, P, D = String> {
    /// `open()`: CONNECTING at once; nothing unless CLOSED.
    Open,
    /// `close()`: send `close` when ACTIVE, close the socket, CLOSED, emit `close`
    /// (nothing when already CLOSED). Queued messages stay for a later `open()`.
    Close,
    /// `emit()`: sent at once while ACTIVE with nothing queued, else queued (bounded while
    /// not ACTIVE).
    Emit(P),
    /// `emit()` got content that cannot be encoded: an `ERR_INVALID_MESSAGE` error event.
    Unencodable,
    /// An `emit()` refused before it reached the tunnel (made before the runtime was
    /// ready, beyond the queue limit): an `ERR_QUEUE_OVERFLOW` error event, as for an emit
    /// the queue refused.
    Refused,
    /// The handshake of attempt `gen` answered: the socket URL, or what it failed with
    /// (the answer without a socket URL, the request's failure).
    Handshake {
        gen: u32,
        result: Result<String, Option<D>>,
        now: u64,
    },
    /// Socket `gen` opened.
    SocketOpened { gen: u32, now: u64 },
    /// Socket `gen` closed or errored (or could not be opened); `detail` is the platform's
    /// result.
    SocketDown {
        gen: u32,
        detail: Option<D>,
        now: u64,
    },
    /// A [`Output::Send`] (or [`Handled::SendNow`]) could not be handed to socket `gen`: the
    /// message goes back to the head of the queue and the link counts as lost.
    SendFailed {
        gen: u32,
        packet: Packet<P>,
        now: u64,
    },
    /// A frame on socket `gen` that starts with [`packet::MESSAGE_PREFIX`] and runs past it
    /// (`len` UTF-16 code units). The data path: no copy of the frame, no clock.
    MessageFrame { gen: u32, len: usize },
    /// Any other text frame on socket `gen`: its first [`packet::HEAD_LEN`] UTF-16 code
    /// units and its length in UTF-16 code units.
    Frame {
        gen: u32,
        head: &'a str,
        len: usize,
        now: u64,
    },
    /// A frame or a delivered message turned out unusable (not text, invalid JSON, no type).
    Dropped { reason: &'static str, len: usize },
    /// The network went on or off: coming back retries at once; while off, retries wait.
    Network { online: bool },
    /// The app returned to the foreground: retry at once when reconnecting, and check an
    /// ACTIVE link with an immediate ping (sockets often die in the background).
    AppShown { now: u64 },
    /// The timer armed at [`Tunnel::poll_timeout`] fired (or any later time).
    Timeout { now: u64 },
}

/// What [`Tunnel::handle`] hands back at once (everything else comes from [`Tunnel::poll`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled<P> {
    /// Nothing beyond the outputs.
    Done,
    /// An `Emit` while ACTIVE with nothing queued: send it on socket `gen` now, and report
    /// [`Input::SendFailed`] if that fails.
    SendNow { gen: u32, message: P },
    /// An `Emit` found the queue full (only possible while not ACTIVE): not queued, an
    /// `ERR_QUEUE_OVERFLOW` error event is pending.
    Overflow(P),
    /// A `message` frame: parse its content from this UTF-16 offset and deliver it.
    Deliver { content_at: usize },
}

/// One connection attempt: the handshake, then the socket it named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    Handshake { gen: u32 },
    Socket { gen: u32 },
}

/// An open link and its heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    gen: u32,
    next_ping: Option<u64>,
    pong_due: Option<u64>,
}

/// Where a reconnection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    Trying(Attempt),
    /// Next attempt at `at`.
    Waiting {
        at: u64,
    },
    /// Next attempt when the network is back.
    Offline,
}

/// The four public states, each with its own data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    /// The first connection.
    Connecting(Attempt),
    Active(Link),
    /// `attempts`: attempts started in this outage.
    Reconnecting {
        attempts: u32,
        retry: Retry,
    },
}

#[derive(Debug)]
#[cfg_attr(test, derive(Clone))]
pub struct Tunnel<P, D = String> {
    cfg: TunnelConfig,
    state: State,
    /// The generation of the latest attempt.
    gen: u32,
    queue: VecDeque<P>,
    out: VecDeque<Output<P, D>>,
    interval_ms: u64,
    online: bool,
    rng: Rng,
    logging: bool,
    socket_url: Option<String>,
}

impl<P, D> Tunnel<P, D> {
    pub fn new(cfg: TunnelConfig, seed: u64) -> Self {
        Tunnel {
            cfg,
            state: State::Closed,
            gen: 0,
            queue: VecDeque::new(),
            out: VecDeque::new(),
            interval_ms: cfg.heartbeat_ms,
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
        match self.state {
            State::Closed => Status::Closed,
            State::Connecting(_) => Status::Connecting,
            State::Active(_) => Status::Active,
            State::Reconnecting { .. } => Status::Reconnecting,
        }
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

    /// The largest frame taken in, in UTF-16 code units (`maxFrameSize`).
    pub fn max_frame(&self) -> usize {
        self.cfg.max_frame
    }

    /// The socket whose `message` frames the tunnel takes in with no other effect: while
    /// ACTIVE and not logging, [`Input::MessageFrame`] from it with `len` at most
    /// [`Tunnel::max_frame`] answers [`Handled::Deliver`] and changes nothing, so a runtime
    /// may deliver such frames without feeding them in (the wasm runtime's JavaScript half
    /// does, docs/ARCHITECTURE.md).
    pub fn delivers_from(&self) -> Option<u32> {
        match self.state {
            State::Active(link) if !self.logging => Some(link.gen),
            _ => None,
        }
    }

    /// The socket an [`Input::Emit`] is sent on at once ([`Handled::SendNow`]): ACTIVE
    /// with nothing queued. Only [`Tunnel::handle`] and [`Tunnel::poll`] change it.
    pub fn sends_now_on(&self) -> Option<u32> {
        match self.state {
            State::Active(link) if self.queue.is_empty() => Some(link.gen),
            _ => None,
        }
    }

    /// The one input entry point.
    pub fn handle(&mut self, input: Input<'_, P, D>) -> Handled<P> {
        match input {
            Input::Open => self.open(),
            Input::Close => self.close(),
            Input::Emit(p) => return self.emit(p),
            Input::Unencodable => self.push_event(Event::Error(TunnelError::new(
                codes::ERR_INVALID_MESSAGE,
                None,
            ))),
            Input::Refused => self.push_event(Event::Error(TunnelError::new(
                codes::ERR_QUEUE_OVERFLOW,
                None,
            ))),
            Input::Handshake { gen, result, now } => self.handshake(gen, result, now),
            Input::SocketOpened { gen, now } => self.socket_opened(gen, now),
            Input::SocketDown { gen, detail, now } => self.socket_down(gen, detail, now),
            Input::SendFailed { gen, packet, now } => self.send_failed(gen, packet, now),
            Input::MessageFrame { gen, len } => {
                if self.accepts_frame(gen, len, Kind::Message) {
                    return Handled::Deliver {
                        content_at: packet::MESSAGE_CONTENT_AT,
                    };
                }
            }
            Input::Frame {
                gen,
                head,
                len,
                now,
            } => return self.frame(gen, head, len, now),
            Input::Dropped { reason, len } => self.log(|| Log::Dropped { reason, len }),
            Input::Network { online } => self.network_changed(online),
            Input::AppShown { now } => self.app_shown(now),
            Input::Timeout { now } => self.timeout(now),
        }
        Handled::Done
    }

    // ---- outputs ------------------------------------------------------------------

    /// The next thing to do. While ACTIVE, queued messages follow everything else.
    pub fn poll(&mut self) -> Option<Output<P, D>> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        if let State::Active(link) = self.state {
            if let Some(p) = self.queue.pop_front() {
                return Some(Output::Send {
                    gen: link.gen,
                    packet: Packet::Message(p),
                });
            }
        }
        None
    }

    /// Whether [`Tunnel::poll`] would return something.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || (matches!(self.state, State::Active(_)) && !self.queue.is_empty())
    }

    /// When [`Input::Timeout`] is due next (`None`: no timer needed).
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Reconnecting {
                retry: Retry::Waiting { at },
                ..
            } => Some(at),
            State::Active(link) => match (link.next_ping, link.pong_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            _ => None,
        }
    }

    // ---- inputs -------------------------------------------------------------------

    fn open(&mut self) {
        if self.state != State::Closed {
            return;
        }
        self.interval_ms = self.cfg.heartbeat_ms;
        let attempt = self.next_attempt();
        self.enter(State::Connecting(attempt));
    }

    fn close(&mut self) {
        if self.state != State::Closed {
            self.shutdown();
            self.push_event(Event::Close);
        }
    }

    fn emit(&mut self, p: P) -> Handled<P> {
        if let Some(gen) = self.sends_now_on() {
            return Handled::SendNow { gen, message: p };
        }
        if self.status() != Status::Active && self.queue.len() >= self.cfg.queue_limit {
            self.push_event(Event::Error(TunnelError::new(
                codes::ERR_QUEUE_OVERFLOW,
                None,
            )));
            return Handled::Overflow(p);
        }
        self.queue.push_back(p);
        Handled::Done
    }

    fn handshake(&mut self, gen: u32, result: Result<String, Option<D>>, now: u64) {
        if self.attempt() != Some(Attempt::Handshake { gen }) {
            return;
        }
        match result {
            Ok(url) => {
                self.socket_url = Some(url.clone());
                self.set_attempt(Attempt::Socket { gen });
                self.out.push_back(Output::OpenSocket { gen, url });
            }
            Err(detail) => self.attempt_failed(codes::ERR_CONNECT_SERVICE, detail, now),
        }
    }

    fn socket_opened(&mut self, gen: u32, now: u64) {
        if self.attempt() != Some(Attempt::Socket { gen }) {
            return;
        }
        let event = if self.status() == Status::Connecting {
            Event::Connect
        } else {
            Event::Reconnect
        };
        self.enter(State::Active(Link {
            gen,
            next_ping: Some(now.saturating_add(self.interval_ms)),
            pong_due: None,
        }));
        self.push_event(event);
    }

    /// The socket of attempt `gen` is gone. While opening, the attempt failed (the first
    /// connection reports `ERR_SOCKET_ERROR`, as 0.8 does); while open, the link is lost
    /// and `reconnecting` says so (0.8 reports no error for that either).
    fn socket_down(&mut self, gen: u32, detail: Option<D>, now: u64) {
        if self.attempt() == Some(Attempt::Socket { gen }) {
            self.out.push_back(Output::CloseSocket { gen });
            self.attempt_failed(codes::ERR_SOCKET_ERROR, detail, now);
        } else if self.link(gen).is_some() {
            self.out.push_back(Output::CloseSocket { gen });
            self.link_lost(detail, now);
        }
    }

    fn send_failed(&mut self, gen: u32, packet: Packet<P>, now: u64) {
        if self.link(gen).is_none() {
            return;
        }
        if let Packet::Message(p) = packet {
            self.queue.push_front(p);
        }
        self.out.push_back(Output::CloseSocket { gen });
        self.link_lost(None, now);
    }

    /// Whether a frame of `len` units on socket `gen` is taken in (logged either way).
    fn accepts_frame(&mut self, gen: u32, len: usize, kind: Kind) -> bool {
        let reason = if self.link(gen).is_none() {
            "stale-socket"
        } else if len > self.cfg.max_frame {
            "oversized"
        } else {
            self.log(|| Log::PacketIn { kind, len });
            return true;
        };
        self.log(|| Log::Dropped { reason, len });
        false
    }

    fn frame(&mut self, gen: u32, head: &str, len: usize, now: u64) -> Handled<P> {
        if self.link(gen).is_none() || len > self.cfg.max_frame {
            self.accepts_frame(gen, len, Kind::Unknown);
            return Handled::Done;
        }
        let h = packet::parse_head(head, len);
        self.log(|| Log::PacketIn { kind: h.kind, len });
        match (h.kind, h.content_at) {
            (Kind::Message, Some(content_at)) => return Handled::Deliver { content_at },
            (Kind::Pong, _) => {
                let next_ping = Some(now.saturating_add(self.interval_ms));
                if let Some(link) = self.link(gen) {
                    link.pong_due = None;
                    link.next_ping = next_ping;
                }
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
                        self.ping(now);
                    }
                    None => self.log(|| Log::Dropped {
                        reason: "bad-timeout",
                        len,
                    }),
                }
            }
            (Kind::Close, _) => self.close(),
            _ => self.log(|| Log::Dropped {
                reason: "unknown-packet",
                len,
            }),
        }
        Handled::Done
    }

    fn network_changed(&mut self, online: bool) {
        self.online = online;
        let State::Reconnecting { attempts, retry } = self.state else {
            return;
        };
        match retry {
            Retry::Offline | Retry::Waiting { .. } if online => self.retry_now(),
            Retry::Waiting { .. } => {
                self.state = State::Reconnecting {
                    attempts,
                    retry: Retry::Offline,
                };
                self.log(|| Log::Offline);
            }
            _ => {}
        }
    }

    fn app_shown(&mut self, now: u64) {
        match self.state {
            State::Reconnecting {
                retry: Retry::Offline | Retry::Waiting { .. },
                ..
            } => self.retry_now(),
            State::Active(link) if link.pong_due.is_none() => self.ping(now),
            _ => {}
        }
    }

    fn timeout(&mut self, now: u64) {
        match self.state {
            State::Reconnecting {
                retry: Retry::Waiting { at },
                ..
            } if now >= at => self.retry_now(),
            State::Active(link) => {
                if link.pong_due.is_some_and(|due| now >= due) {
                    self.log(|| Log::LinkDead);
                    self.out.push_back(Output::CloseSocket { gen: link.gen });
                    self.link_lost(None, now);
                } else if link.next_ping.is_some_and(|at| now >= at) {
                    self.ping(now);
                }
            }
            _ => {}
        }
    }

    // ---- internals ----------------------------------------------------------------

    /// The attempt in progress, if any.
    fn attempt(&self) -> Option<Attempt> {
        match self.state {
            State::Connecting(a)
            | State::Reconnecting {
                retry: Retry::Trying(a),
                ..
            } => Some(a),
            _ => None,
        }
    }

    fn set_attempt(&mut self, next: Attempt) {
        match &mut self.state {
            State::Connecting(a)
            | State::Reconnecting {
                retry: Retry::Trying(a),
                ..
            } => *a = next,
            _ => {}
        }
    }

    /// The open link of socket `gen`, if that is the one open now.
    fn link(&mut self, gen: u32) -> Option<&mut Link> {
        match &mut self.state {
            State::Active(link) if link.gen == gen => Some(link),
            _ => None,
        }
    }

    /// A new attempt: a new generation and its handshake.
    fn next_attempt(&mut self) -> Attempt {
        self.gen = self.gen.wrapping_add(1);
        self.out.push_back(Output::Handshake { gen: self.gen });
        Attempt::Handshake { gen: self.gen }
    }

    /// The next reconnection attempt, now (from `Waiting` or `Offline`).
    fn retry_now(&mut self) {
        if let State::Reconnecting { attempts, .. } = self.state {
            let attempt = self.next_attempt();
            self.state = State::Reconnecting {
                attempts: attempts.saturating_add(1),
                retry: Retry::Trying(attempt),
            };
        }
    }

    /// An attempt (handshake or socket) failed: the first connection gives up with
    /// `code`; a reconnection waits and tries again.
    fn attempt_failed(&mut self, code: u16, detail: Option<D>, now: u64) {
        match self.state {
            State::Connecting(_) => {
                self.enter(State::Closed);
                self.push_event(Event::Error(TunnelError::new(code, detail)));
            }
            State::Reconnecting { .. } => self.schedule_retry(detail, now),
            State::Active(_) | State::Closed => {}
        }
    }

    /// The link of an ACTIVE tunnel is gone (`detail`: the platform's report, if any).
    fn link_lost(&mut self, detail: Option<D>, now: u64) {
        self.enter(State::Reconnecting {
            attempts: 0,
            retry: Retry::Offline,
        });
        self.push_event(Event::Reconnecting);
        self.schedule_retry(detail, now);
    }

    /// Wait for the next attempt, or give up with `ERR_RECONNECT` carrying the detail of
    /// the last failure.
    fn schedule_retry(&mut self, detail: Option<D>, now: u64) {
        let State::Reconnecting { attempts, .. } = self.state else {
            return;
        };
        let retry = if self.cfg.max_attempts.is_some_and(|max| attempts >= max) {
            self.log(|| Log::GaveUp { attempts });
            self.shutdown();
            self.push_event(Event::Close);
            self.push_event(Event::Error(TunnelError::new(codes::ERR_RECONNECT, detail)));
            return;
        } else if !self.online {
            self.log(|| Log::Offline);
            Retry::Offline
        } else {
            let delay_ms = self.cfg.backoff.delay(attempts, &mut self.rng);
            let attempt = attempts.saturating_add(1);
            self.log(|| Log::Retry { attempt, delay_ms });
            Retry::Waiting {
                at: now.saturating_add(delay_ms),
            }
        };
        self.state = State::Reconnecting { attempts, retry };
    }

    /// Send `ping` on the open link and expect a `pong` within the interval.
    fn ping(&mut self, now: u64) {
        let interval = self.interval_ms;
        if let State::Active(link) = &mut self.state {
            link.next_ping = None;
            link.pong_due = Some(now.saturating_add(interval));
            let gen = link.gen;
            self.out.push_back(Output::Send {
                gen,
                packet: Packet::Ping,
            });
        }
    }

    /// Leave every connection state for CLOSED (no event).
    fn shutdown(&mut self) {
        match self.state {
            State::Active(link) => {
                let gen = link.gen;
                self.out.push_back(Output::Send {
                    gen,
                    packet: Packet::Close,
                });
                self.out.push_back(Output::CloseSocket { gen });
            }
            _ => {
                if let Some(Attempt::Socket { gen }) = self.attempt() {
                    self.out.push_back(Output::CloseSocket { gen });
                }
            }
        }
        self.enter(State::Closed);
    }

    /// Move to `next`, logging a change of public state.
    fn enter(&mut self, next: State) {
        let from = self.status();
        self.state = next;
        let to = self.status();
        if from != to {
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

/// The socket URL in the handshake's `wx.request` result (see [`handshake_url`]).
pub fn handshake_answer<V: Value>(response: &V) -> Option<String> {
    let answer: Answer = response.member("data").lenient();
    handshake_url(status_of(response), Some(&answer))
}

/// Read the handshake answer (`GET serviceUrl`): Wafer 1 `{ url }`, Wafer 2
/// `{ code: 0, data: { connectUrl } }`. `None` when it holds no usable socket URL (the
/// `error` event then carries the answer itself, as 0.8's does).
pub fn handshake_url(status: u16, body: Option<&Answer>) -> Option<String> {
    if status != 200 {
        return None;
    }
    let body = body?;
    let url = body
        .url
        .text()
        .or_else(|| body.wafer2_data()?.connect_url.text())?;
    (url.starts_with("ws://") || url.starts_with("wss://")).then(|| url.to_owned())
}

#[cfg(test)]
mod tests;
