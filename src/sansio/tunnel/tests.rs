use super::*;
use crate::sansio::backoff::Backoff;
use crate::sansio::testing::answer;

const HB: u64 = 15_000;

fn cfg() -> TunnelConfig {
    TunnelConfig::default()
}

/// The default configuration with reconnect delays from `base_ms`, capped at `max_ms`.
fn with_backoff(base_ms: u64, max_ms: u64) -> TunnelConfig {
    TunnelConfig {
        backoff: Backoff { base_ms, max_ms },
        ..cfg()
    }
}

/// Scripted runtime: feeds inputs, drains outputs, records what happened.
struct Harness {
    t: Tunnel<u32>,
    now: u64,
    events: Vec<Event>,
    sent: Vec<Packet<u32>>,
    handshakes: Vec<u32>,
    sockets: Vec<(u32, String)>,
    closed_sockets: Vec<u32>,
    logs: Vec<Log>,
}

impl Harness {
    fn new(cfg: TunnelConfig) -> Self {
        let mut t = Tunnel::new(cfg, 7);
        t.set_logging(true);
        Harness {
            t,
            now: 1_000_000,
            events: vec![],
            sent: vec![],
            handshakes: vec![],
            sockets: vec![],
            closed_sockets: vec![],
            logs: vec![],
        }
    }

    /// A harness whose first attempt has connected.
    fn connected(cfg: TunnelConfig) -> Self {
        let mut h = Harness::new(cfg);
        h.connect();
        h
    }

    fn drain(&mut self) {
        while let Some(o) = self.t.poll() {
            match o {
                Output::Handshake { gen } => self.handshakes.push(gen),
                Output::OpenSocket { gen, url } => self.sockets.push((gen, url)),
                Output::Send { packet, .. } => self.sent.push(packet),
                Output::CloseSocket { gen } => self.closed_sockets.push(gen),
                Output::Event(e) => self.events.push(e),
                Output::Log(l) => self.logs.push(l),
            }
        }
    }

    /// `emit` as the runtime does it: a message sent at once counts as sent.
    fn emit(&mut self, m: u32) -> Result<(), u32> {
        match self.t.handle(Input::Emit(m)) {
            Handled::SendNow { message, .. } => {
                self.sent.push(Packet::Message(message));
                Ok(())
            }
            Handled::Overflow(m) => Err(m),
            _ => Ok(()),
        }
    }

    fn last_gen(&self) -> u32 {
        *self.handshakes.last().unwrap()
    }

    /// Feed `input`, then drain what it produced.
    fn feed(&mut self, input: Input<'_, u32>) {
        self.t.handle(input);
        self.drain();
    }

    fn open(&mut self) {
        self.feed(Input::Open);
    }

    fn close(&mut self) {
        self.feed(Input::Close);
    }

    /// The handshake of attempt `gen` answers with a socket URL.
    fn handshake_ok(&mut self, gen: u32, url: &str) {
        self.feed(Input::Handshake {
            gen,
            result: Ok(url.into()),
            now: 0,
        });
    }

    /// The handshake of attempt `gen` fails, with the platform's `detail`.
    fn handshake_failed(&mut self, gen: u32, detail: Option<&str>) {
        let now = self.now;
        self.feed(Input::Handshake {
            gen,
            result: Err(detail.map(Into::into)),
            now,
        });
    }

    /// Socket `gen` closes or errors, with the platform's `detail`.
    fn socket_down(&mut self, gen: u32, detail: Option<&str>) {
        let now = self.now;
        self.feed(down(gen, detail, now));
    }

    fn network(&mut self, online: bool) {
        self.feed(Input::Network { online });
    }

    fn app_shown(&mut self) {
        let now = self.now;
        self.feed(Input::AppShown { now });
    }

    /// Open and complete the handshake and socket of the current attempt.
    fn connect(&mut self) {
        self.open();
        self.complete_attempt();
    }

    fn complete_attempt(&mut self) {
        let gen = self.last_gen();
        self.handshake_ok(gen, "ws://t");
        let now = self.now;
        self.feed(Input::SocketOpened { gen, now });
    }

    fn advance_to_timer(&mut self) {
        let at = self.t.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(at);
        let now = self.now;
        self.feed(Input::Timeout { now });
    }

    /// The next retry's handshake fails, with the platform's `detail`.
    fn retry_fails(&mut self, detail: Option<&str>) {
        self.advance_to_timer();
        let gen = self.last_gen();
        self.handshake_failed(gen, detail);
    }

    fn frame(&mut self, frame: &str) -> Handled<u32> {
        let units: Vec<u16> = frame.encode_utf16().collect();
        let head = String::from_utf16_lossy(&units[..units.len().min(packet::HEAD_LEN)]);
        let gen = self.last_gen();
        let r = self.t.handle(Input::Frame {
            gen,
            head: &head,
            len: units.len(),
            now: self.now,
        });
        self.drain();
        r
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn messages_sent(&self) -> Vec<u32> {
        self.sent
            .iter()
            .filter_map(|p| match p {
                Packet::Message(m) => Some(*m),
                _ => None,
            })
            .collect()
    }
}

/// Socket `gen` closed or errored at `now`.
fn down(gen: u32, detail: Option<&str>, now: u64) -> Input<'static, u32> {
    Input::SocketDown {
        gen,
        detail: detail.map(Into::into),
        now,
    }
}

fn err(code: u16) -> Event {
    Event::Error(TunnelError::new(code, None))
}

#[test]
fn open_is_connecting_synchronously_and_connects() {
    let mut h = Harness::new(cfg());
    h.emit(1).unwrap();
    h.emit(2).unwrap();
    h.t.handle(Input::Open);
    assert_eq!(h.t.status(), Status::Connecting);
    h.drain();
    assert_eq!(h.handshakes, vec![1]);
    h.complete_attempt();
    assert_eq!(h.t.status(), Status::Active);
    assert_eq!(h.take_events(), vec![Event::Connect]);
    assert_eq!(h.messages_sent(), vec![1, 2]);
    assert_eq!(h.t.socket_url(), Some("ws://t"));
    // No ping right after open: the first one waits a whole interval.
    assert!(h.sent.iter().all(|p| *p != Packet::Ping));
    assert_eq!(h.t.poll_timeout(), Some(h.now + HB));
}

#[test]
fn open_twice_is_a_no_op() {
    let mut h = Harness::new(cfg());
    h.t.handle(Input::Open);
    h.open();
    assert_eq!(h.handshakes.len(), 1);
}

#[test]
fn first_handshake_failure_closes_with_1001() {
    let mut h = Harness::new(cfg());
    h.open();
    h.handshake_failed(1, Some("500"));
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(
        h.take_events(),
        vec![Event::Error(TunnelError::new(
            codes::ERR_CONNECT_SERVICE,
            Some("500".into())
        ))]
    );
    assert_eq!(h.t.poll_timeout(), None);
}

#[test]
fn first_socket_failure_closes_with_3001_as_0_8_does() {
    // An error while CONNECTING, with the platform's result as detail.
    let mut h = Harness::new(cfg());
    h.open();
    h.handshake_ok(1, "ws://x");
    h.socket_down(1, Some("errMsg"));
    assert_eq!(h.t.status(), Status::Closed);
    let events = h.take_events();
    assert_eq!(
        events,
        vec![Event::Error(TunnelError::new(
            codes::ERR_SOCKET_ERROR,
            Some("errMsg".into())
        ))]
    );
    if let [Event::Error(e)] = events.as_slice() {
        assert_eq!(e.message, "连接信道失败，网络错误或者信道服务不可用");
    }
    assert_eq!(h.closed_sockets, vec![1]);
    // The close that follows the error is ignored.
    h.socket_down(1, None);
    assert!(h.take_events().is_empty());

    // A close while CONNECTING is the same failure.
    let mut h = Harness::new(cfg());
    h.open();
    h.handshake_ok(1, "ws://x");
    h.socket_down(1, Some("1006"));
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(
        h.take_events(),
        vec![Event::Error(TunnelError::new(
            codes::ERR_SOCKET_ERROR,
            Some("1006".into())
        ))]
    );
}

#[test]
fn drop_reconnects_with_a_fresh_handshake() {
    let mut h = Harness::connected(cfg());
    h.take_events();
    h.socket_down(1, None);
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(h.take_events(), vec![Event::Reconnecting]);
    let at = h.t.poll_timeout().unwrap();
    assert!(at <= h.now + 1000, "first retry within the base delay");
    h.advance_to_timer();
    assert_eq!(h.handshakes, vec![1, 2]);
    h.complete_attempt();
    assert_eq!(h.t.status(), Status::Active);
    assert_eq!(h.take_events(), vec![Event::Reconnect]);
}

#[test]
fn socket_error_while_active_reconnects_without_an_error_event() {
    // As 0.8: an active tunnel's socket error only leads to `reconnecting`.
    let mut h = Harness::connected(cfg());
    h.take_events();
    h.t.handle(down(1, Some("reset"), h.now));
    h.socket_down(1, None);
    assert_eq!(h.take_events(), vec![Event::Reconnecting]);
    assert_eq!(h.t.status(), Status::Reconnecting);
}

#[test]
fn giving_up_at_once_carries_the_lost_link_detail() {
    let mut h = Harness::connected(TunnelConfig {
        max_attempts: Some(0),
        ..cfg()
    });
    h.take_events();
    h.socket_down(1, Some("1006"));
    assert_eq!(
        h.take_events(),
        vec![
            Event::Reconnecting,
            Event::Close,
            Event::Error(TunnelError::new(codes::ERR_RECONNECT, Some("1006".into())))
        ]
    );
    assert_eq!(h.t.status(), Status::Closed);
}

#[test]
fn failed_reconnect_socket_schedules_another_attempt() {
    // The official client stays RECONNECTING forever here.
    let mut h = Harness::connected(cfg());
    h.socket_down(1, None);
    h.advance_to_timer();
    h.handshake_ok(2, "ws://t");
    h.socket_down(2, None);
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert!(h.t.poll_timeout().is_some());
    h.advance_to_timer();
    assert_eq!(h.handshakes, vec![1, 2, 3]);
    h.handshake_failed(3, None);
    h.advance_to_timer();
    assert_eq!(h.handshakes, vec![1, 2, 3, 4]);
    h.complete_attempt();
    assert_eq!(h.t.status(), Status::Active);
}

#[test]
fn retries_without_limit_by_default_with_growing_caps() {
    let mut h = Harness::connected(with_backoff(100, 1600));
    h.socket_down(1, None);
    for _ in 0..50 {
        let before = h.now;
        let at = h.t.poll_timeout().unwrap();
        assert!(at - before <= 1600);
        h.retry_fails(None);
        assert_eq!(h.t.status(), Status::Reconnecting);
    }
    let retries: Vec<u32> = h
        .logs
        .iter()
        .filter_map(|l| match l {
            Log::Retry { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 51);
    assert_eq!(&retries[..4], &[1, 2, 3, 4]);
}

#[test]
fn max_attempts_gives_up_with_close_then_2001() {
    let mut h = Harness::connected(TunnelConfig {
        max_attempts: Some(2),
        ..cfg()
    });
    h.take_events();
    h.socket_down(1, None);
    for _ in 0..2 {
        h.retry_fails(Some("down"));
    }
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.handshakes.len(), 3);
    assert_eq!(
        h.take_events(),
        vec![
            Event::Reconnecting,
            Event::Close,
            Event::Error(TunnelError::new(codes::ERR_RECONNECT, Some("down".into())))
        ]
    );
    assert_eq!(h.t.poll_timeout(), None);
}

#[test]
fn zero_attempts_never_reconnects() {
    let mut h = Harness::connected(TunnelConfig {
        max_attempts: Some(0),
        ..cfg()
    });
    h.take_events();
    h.socket_down(1, None);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(
        h.take_events(),
        vec![Event::Reconnecting, Event::Close, err(codes::ERR_RECONNECT)]
    );
}

#[test]
fn heartbeat_pings_after_an_interval_and_detects_a_dead_link() {
    let mut h = Harness::connected(cfg());
    let opened = h.now;
    h.advance_to_timer();
    assert_eq!(h.now, opened + HB);
    assert_eq!(h.sent.last(), Some(&Packet::Ping));
    h.frame("pong");
    assert_eq!(h.t.poll_timeout(), Some(h.now + HB));
    // Second ping goes unanswered: the link is declared dead one interval later.
    h.advance_to_timer();
    assert_eq!(h.sent.iter().filter(|p| **p == Packet::Ping).count(), 2);
    let pinged = h.now;
    h.take_events();
    h.advance_to_timer();
    assert_eq!(h.now, pinged + HB);
    assert!(h.logs.contains(&Log::LinkDead));
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(h.take_events(), vec![Event::Reconnecting]);
    assert_eq!(h.closed_sockets, vec![1]);
}

#[test]
fn half_open_is_detected_within_two_intervals_of_the_last_pong() {
    let mut h = Harness::connected(cfg());
    let last_pong = h.now;
    loop {
        h.advance_to_timer();
        if h.t.status() == Status::Reconnecting {
            break;
        }
    }
    assert!(h.now - last_pong <= 2 * HB);
}

#[test]
fn server_timeout_sets_interval_and_pings_at_once() {
    let mut h = Harness::connected(cfg());
    h.frame("timeout:30");
    assert_eq!(h.t.heartbeat_interval(), 30_000);
    assert_eq!(h.sent.last(), Some(&Packet::Ping));
    assert_eq!(h.t.poll_timeout(), Some(h.now + 30_000));
    // timeout:0 is clamped, not a ping loop.
    h.frame("pong");
    h.frame("timeout:0");
    assert_eq!(h.t.heartbeat_interval(), packet::MIN_SERVER_INTERVAL_MS);
    let pings = h.sent.iter().filter(|p| **p == Packet::Ping).count();
    h.frame("timeout:abc");
    h.frame("timeout:");
    h.frame("timeout:-1");
    assert_eq!(h.sent.iter().filter(|p| **p == Packet::Ping).count(), pings);
    assert_eq!(h.t.heartbeat_interval(), packet::MIN_SERVER_INTERVAL_MS);
}

#[test]
fn server_close_closes_without_reconnect() {
    let mut h = Harness::connected(cfg());
    h.take_events();
    assert_eq!(h.frame("close"), Handled::Done);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.take_events(), vec![Event::Close]);
    assert_eq!(h.sent.last(), Some(&Packet::Close));
    assert_eq!(h.closed_sockets, vec![1]);
    assert_eq!(h.t.poll_timeout(), None);
    h.socket_down(1, None);
    assert!(h.take_events().is_empty());
}

#[test]
fn close_sends_close_packet_only_when_active() {
    let mut h = Harness::connected(cfg());
    h.take_events();
    h.close();
    assert_eq!(h.sent.last(), Some(&Packet::Close));
    assert_eq!(h.take_events(), vec![Event::Close]);
    h.close();
    assert!(
        h.take_events().is_empty(),
        "closing a closed tunnel does nothing"
    );

    let mut h = Harness::new(cfg());
    h.open();
    h.close();
    assert!(h.sent.is_empty());
    assert_eq!(h.take_events(), vec![Event::Close]);
    // The handshake answer that arrives after close() is ignored.
    h.handshake_ok(1, "ws://late");
    assert!(h.sockets.is_empty());
    assert_eq!(h.t.status(), Status::Closed);
}

#[test]
fn close_while_reconnecting_stops_everything() {
    let mut h = Harness::connected(cfg());
    h.socket_down(1, None);
    assert!(h.t.poll_timeout().is_some());
    h.close();
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.t.poll_timeout(), None);
}

#[test]
fn reopen_after_close_connects_again() {
    let mut h = Harness::connected(cfg());
    h.close();
    h.take_events();
    h.emit(9).unwrap();
    h.connect();
    assert_eq!(h.take_events(), vec![Event::Connect]);
    assert_eq!(h.messages_sent(), vec![9]);
}

#[test]
fn stale_sockets_are_ignored() {
    let mut h = Harness::connected(cfg());
    h.socket_down(1, None);
    h.advance_to_timer();
    h.complete_attempt();
    h.take_events();
    // Reports from socket 1 after socket 2 took over change nothing.
    h.t.handle(down(1, None, h.now));
    h.t.handle(down(1, None, h.now));
    h.t.handle(Input::SocketOpened { gen: 1, now: h.now });
    let units = "close".encode_utf16().count();
    let stale = Input::Frame {
        gen: 1,
        head: "close",
        len: units,
        now: h.now,
    };
    assert_eq!(h.t.handle(stale), Handled::Done);
    h.drain();
    assert_eq!(h.t.status(), Status::Active);
    assert!(h.take_events().is_empty());
}

#[test]
fn queue_is_bounded_while_not_active() {
    let mut h = Harness::new(TunnelConfig {
        queue_limit: 2,
        ..cfg()
    });
    h.emit(1).unwrap();
    h.emit(2).unwrap();
    assert_eq!(h.emit(3), Err(3));
    h.drain();
    assert_eq!(h.take_events(), vec![err(codes::ERR_QUEUE_OVERFLOW)]);
    h.connect();
    assert_eq!(h.messages_sent(), vec![1, 2]);
    // While ACTIVE the bound does not apply: messages go straight out.
    for m in 10..20 {
        h.emit(m).unwrap();
    }
    h.drain();
    assert_eq!(h.messages_sent().len(), 12);
}

#[test]
fn refused_and_unencodable_emits_are_error_events() {
    let mut h = Harness::new(cfg());
    h.t.handle(Input::Refused);
    h.t.handle(Input::Unencodable);
    h.drain();
    assert_eq!(
        h.take_events(),
        vec![
            err(codes::ERR_QUEUE_OVERFLOW),
            err(codes::ERR_INVALID_MESSAGE)
        ]
    );
    assert_eq!(h.t.queued(), 0);
}

#[test]
fn zero_queue_limit_still_sends_while_active() {
    let mut h = Harness::new(TunnelConfig {
        queue_limit: 0,
        ..cfg()
    });
    assert!(h.emit(1).is_err());
    h.connect();
    h.emit(2).unwrap();
    h.drain();
    assert_eq!(h.messages_sent(), vec![2]);
}

#[test]
fn failed_send_is_requeued_in_order() {
    let mut h = Harness::connected(cfg());
    // The socket refuses message 1: it goes back to the head, 2 and 3 queue behind it.
    let Handled::SendNow { gen, message } = h.t.handle(Input::Emit(1)) else {
        panic!("an active tunnel sends at once")
    };
    h.t.handle(Input::SendFailed {
        gen,
        packet: Packet::Message(message),
        now: h.now,
    });
    h.emit(2).unwrap();
    h.emit(3).unwrap();
    h.drain();
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(h.t.queued(), 3);
    h.advance_to_timer();
    h.complete_attempt();
    assert_eq!(h.messages_sent(), vec![1, 2, 3]);
}

#[test]
fn offline_waits_and_online_retries_at_once() {
    let mut h = Harness::connected(cfg());
    h.t.handle(Input::Network { online: false });
    h.socket_down(1, None);
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(h.t.poll_timeout(), None, "no retries while offline");
    assert!(h.logs.contains(&Log::Offline));
    h.network(true);
    assert_eq!(h.handshakes, vec![1, 2]);
}

#[test]
fn going_offline_while_waiting_suspends_the_timer() {
    let mut h = Harness::connected(cfg());
    h.socket_down(1, None);
    assert!(h.t.poll_timeout().is_some());
    h.t.handle(Input::Network { online: false });
    assert_eq!(h.t.poll_timeout(), None);
    h.network(true);
    assert_eq!(h.handshakes.len(), 2);
}

#[test]
fn network_back_skips_the_back_off() {
    let mut h = Harness::connected(with_backoff(60_000, 60_000));
    h.socket_down(1, None);
    h.network(true);
    assert_eq!(h.handshakes, vec![1, 2]);
}

#[test]
fn app_show_retries_or_pings() {
    let mut h = Harness::connected(cfg());
    h.app_shown();
    assert_eq!(h.sent.last(), Some(&Packet::Ping));
    // A second show while the ping is outstanding sends nothing more.
    h.app_shown();
    assert_eq!(h.sent.iter().filter(|p| **p == Packet::Ping).count(), 1);
    h.socket_down(1, None);
    h.app_shown();
    assert_eq!(h.handshakes, vec![1, 2]);
    // Nothing happens while closed or connecting.
    let mut c = Harness::new(cfg());
    c.t.handle(Input::AppShown { now: c.now });
    c.t.handle(Input::Network { online: true });
    c.drain();
    assert!(c.handshakes.is_empty());
}

#[test]
fn hostile_frames_are_dropped_without_leaving_active() {
    let mut h = Harness::connected(TunnelConfig {
        max_frame: 100,
        ..cfg()
    });
    h.take_events();
    for f in [
        "",
        ":",
        "ping",
        "message",
        "message:",
        "xyz:1",
        "PONG",
        &"x".repeat(1000),
    ] {
        assert_eq!(h.frame(f), Handled::Done, "{f:?}");
    }
    let big = ["message:", &"x".repeat(200)].concat();
    assert_eq!(h.frame(&big), Handled::Done);
    assert!(h.logs.contains(&Log::Dropped {
        reason: "oversized",
        len: 208
    }));
    assert_eq!(
        h.frame(r#"message:{"type":"a"}"#),
        Handled::Deliver { content_at: 8 }
    );
    assert_eq!(h.t.status(), Status::Active);
    assert!(h.take_events().is_empty());
}

#[test]
fn message_frames_by_prefix() {
    let mut h = Harness::new(TunnelConfig {
        max_frame: 100,
        ..cfg()
    });
    let message = |gen, len| Input::MessageFrame { gen, len };
    assert_eq!(
        h.t.handle(message(1, 20)),
        Handled::Done,
        "nothing is open yet"
    );
    h.connect();
    let deliver = Handled::Deliver {
        content_at: packet::MESSAGE_CONTENT_AT,
    };
    assert_eq!(h.t.handle(message(1, 20)), deliver);
    assert_eq!(h.t.handle(message(1, 101)), Handled::Done);
    assert_eq!(h.t.handle(message(0, 20)), Handled::Done, "stale socket");
    h.drain();
    assert!(h.logs.contains(&Log::PacketIn {
        kind: Kind::Message,
        len: 20
    }));
    assert!(h.logs.contains(&Log::Dropped {
        reason: "oversized",
        len: 101
    }));
}

#[test]
fn logs_state_changes() {
    let h = Harness::connected(cfg());
    assert!(h.logs.contains(&Log::State {
        from: Status::Closed,
        to: Status::Connecting
    }));
    assert!(h.logs.contains(&Log::State {
        from: Status::Connecting,
        to: Status::Active
    }));
    let mut quiet: Tunnel<u32> = Tunnel::new(cfg(), 1);
    quiet.handle(Input::Open);
    while let Some(o) = quiet.poll() {
        assert!(!matches!(o, Output::Log(_)));
    }
}

#[test]
fn handshake_answers_of_both_dialects() {
    use serde_json::json;
    let w1 = json!({ "url": "wss://t/ws?id=1" });
    assert_eq!(
        handshake_url(200, Some(&answer(&w1))),
        Some("wss://t/ws?id=1".into())
    );
    let w2 = json!({ "code": 0, "data": { "tunnelId": "t", "connectUrl": "ws://x" } });
    assert_eq!(
        handshake_url(200, Some(&answer(&w2))),
        Some("ws://x".into())
    );
    assert_eq!(handshake_url(500, Some(&answer(&w1))), None);
    assert_eq!(handshake_url(200, None), None);
    assert_eq!(
        handshake_url(200, Some(&answer(&json!({ "url": "http://x" })))),
        None
    );
    assert_eq!(
        handshake_url(
            200,
            Some(&answer(
                &json!({ "code": 1, "data": { "connectUrl": "ws://x" } })
            ))
        ),
        None
    );
    assert_eq!(
        handshake_url(200, Some(&answer(&json!({ "error": "boom" })))),
        None
    );
    // The quickstart's answer for an unknown route.
    assert_eq!(
        handshake_url(200, Some(&answer(&json!({ "code": 0, "data": {} })))),
        None
    );
}

/// The handshake classifier against arbitrary answers (`WAFER_PROPTEST_CASES` cases).
#[cfg(not(target_arch = "wasm32"))]
mod fuzz {
    use super::*;
    use crate::sansio::testing::arb;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(arb::config(256))]

        #[test]
        fn handshake_url_never_panics_and_only_yields_socket_urls(
            body in prop::option::of(arb::json()),
            status in prop_oneof![Just(200u16), any::<u16>()],
        ) {
            let body = body.as_ref().map(answer);
            if let Some(url) = handshake_url(status, body.as_ref()) {
                prop_assert_eq!(status, 200);
                prop_assert!(url.starts_with("ws://") || url.starts_with("wss://"));
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Open,
        Close,
        Emit,
        HandshakeOk,
        HandshakeFail,
        SocketOpen,
        SocketClose,
        SocketError,
        StaleReport,
        Advance(u64),
        FireTimer,
        Network(bool),
        AppShow,
        Frame(&'static str),
        FailNextSend,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => Just(Op::Open),
            1 => Just(Op::Close),
            6 => Just(Op::Emit),
            3 => Just(Op::HandshakeOk),
            1 => Just(Op::HandshakeFail),
            3 => Just(Op::SocketOpen),
            1 => Just(Op::SocketClose),
            1 => Just(Op::SocketError),
            1 => Just(Op::StaleReport),
            2 => (0u64..40_000).prop_map(Op::Advance),
            3 => Just(Op::FireTimer),
            1 => any::<bool>().prop_map(Op::Network),
            1 => Just(Op::AppShow),
            2 => prop::sample::select(vec![
                "pong", "timeout:5", "timeout:0", "timeout:x", "close", "message:{}", "junk", ""
            ]).prop_map(Op::Frame),
            1 => Just(Op::FailNextSend),
        ]
    }

    /// A faithful runtime model: sockets exist between OpenSocket and CloseSocket, are
    /// writable once opened, and sending on anything else fails.
    struct Model {
        t: Tunnel<u32>,
        now: u64,
        next_msg: u32,
        accepted: u32,
        delivered: Vec<u32>,
        pending_handshake: Option<u32>,
        connecting_socket: Option<u32>,
        open_socket: Option<u32>,
        fail_next: bool,
        last_gen: u32,
        /// A message `emit` handed out for sending at once.
        out_of_band: Option<(u32, u32)>,
        logging: bool,
    }

    impl Model {
        fn send(&mut self, gen: u32, packet: Packet<u32>) {
            let writable = self.open_socket == Some(gen) && !self.fail_next;
            if writable {
                if let Packet::Message(m) = packet {
                    self.delivered.push(m);
                }
            } else {
                self.fail_next = false;
                self.t.handle(Input::SendFailed {
                    gen,
                    packet,
                    now: self.now,
                });
            }
        }

        fn drain(&mut self) -> Result<(), TestCaseError> {
            if let Some((gen, m)) = self.out_of_band.take() {
                self.send(gen, Packet::Message(m));
            }
            while let Some(o) = self.t.poll() {
                match o {
                    Output::Handshake { gen } => {
                        prop_assert!(gen != self.last_gen, "each attempt has a new generation");
                        self.last_gen = gen;
                        self.pending_handshake = Some(gen);
                    }
                    Output::OpenSocket { gen, .. } => self.connecting_socket = Some(gen),
                    Output::Send { gen, packet } => self.send(gen, packet),
                    Output::CloseSocket { gen } => {
                        if self.open_socket == Some(gen) {
                            self.open_socket = None;
                        }
                        if self.connecting_socket == Some(gen) {
                            self.connecting_socket = None;
                        }
                    }
                    Output::Event(_) | Output::Log(_) => {}
                }
            }
            Ok(())
        }

        fn apply(&mut self, op: &Op) {
            let now = self.now;
            match op {
                Op::Open => {
                    self.t.handle(Input::Open);
                }
                Op::Close => {
                    self.t.handle(Input::Close);
                }
                Op::Emit => {
                    let m = self.next_msg;
                    self.next_msg += 1;
                    match self.t.handle(Input::Emit(m)) {
                        Handled::SendNow { gen, message } => {
                            self.accepted += 1;
                            self.out_of_band = Some((gen, message));
                        }
                        Handled::Overflow(_) => {}
                        _ => self.accepted += 1,
                    }
                }
                Op::HandshakeOk => {
                    if let Some(g) = self.pending_handshake.take() {
                        self.t.handle(Input::Handshake {
                            gen: g,
                            result: Ok("ws://m".into()),
                            now: 0,
                        });
                    }
                }
                Op::HandshakeFail => {
                    if let Some(g) = self.pending_handshake.take() {
                        self.t.handle(Input::Handshake {
                            gen: g,
                            result: Err(None),
                            now,
                        });
                    }
                }
                Op::SocketOpen => {
                    if let Some(g) = self.connecting_socket.take() {
                        self.open_socket = Some(g);
                        self.t.handle(Input::SocketOpened { gen: g, now });
                    }
                }
                Op::SocketClose | Op::SocketError => {
                    if let Some(g) = self.open_socket.take().or(self.connecting_socket.take()) {
                        self.t.handle(down(g, None, now));
                    }
                }
                Op::StaleReport => {
                    let g = self.last_gen.wrapping_sub(1);
                    self.t.handle(down(g, None, now));
                    self.t.handle(Input::SocketOpened { gen: g, now });
                    self.t.handle(Input::Handshake {
                        gen: g,
                        result: Ok("ws://stale".into()),
                        now: 0,
                    });
                }
                Op::Advance(ms) => self.now += ms,
                Op::FireTimer => {
                    if let Some(at) = self.t.poll_timeout() {
                        self.now = self.now.max(at);
                        self.t.handle(Input::Timeout { now: self.now });
                    }
                }
                Op::Network(on) => {
                    self.t.handle(Input::Network { online: *on });
                }
                Op::AppShow => {
                    self.t.handle(Input::AppShown { now });
                }
                Op::Frame(f) => {
                    if let Some(g) = self.open_socket {
                        let len = f.encode_utf16().count();
                        self.t.handle(Input::Frame {
                            gen: g,
                            head: f,
                            len,
                            now,
                        });
                    }
                }
                Op::FailNextSend => self.fail_next = true,
            }
        }

        fn check(&self) -> Result<(), TestCaseError> {
            // Order kept, nothing twice.
            prop_assert!(self.delivered.windows(2).all(|w| w[0] < w[1]));
            // Nothing lost: every accepted message is delivered or still queued.
            prop_assert_eq!(
                self.accepted as usize,
                self.delivered.len() + self.t.queued()
            );
            // ACTIVE means the queue has been drained.
            if self.t.status() == Status::Active {
                prop_assert_eq!(self.t.queued(), 0);
            }
            if matches!(self.t.status(), Status::Closed | Status::Connecting) {
                prop_assert!(self.t.poll_timeout().is_none());
            }
            if self.t.status() == Status::Active {
                prop_assert!(
                    self.t.poll_timeout().is_some(),
                    "an active link always has a heartbeat timer"
                );
            }
            // What the runtime's port relies on to skip the core (runtime/frames.rs).
            let active = match (self.t.status(), self.open_socket) {
                (Status::Active, Some(g)) => Some(g),
                _ => None,
            };
            prop_assert_eq!(
                self.t.sends_now_on(),
                active.filter(|_| self.t.queued() == 0)
            );
            prop_assert_eq!(self.t.delivers_from(), active.filter(|_| !self.logging));
            if let Some(gen) = self.t.sends_now_on() {
                let mut t = self.t.clone();
                prop_assert_eq!(
                    t.handle(Input::Emit(u32::MAX)),
                    Handled::SendNow {
                        gen,
                        message: u32::MAX
                    }
                );
                prop_assert!(!t.has_output());
            }
            if let Some(gen) = self.t.delivers_from() {
                let mut t = self.t.clone();
                for len in [packet::MESSAGE_CONTENT_AT + 1, t.max_frame()] {
                    prop_assert_eq!(
                        t.handle(Input::MessageFrame { gen, len }),
                        Handled::Deliver {
                            content_at: packet::MESSAGE_CONTENT_AT
                        }
                    );
                }
                prop_assert!(!t.has_output(), "nothing else to do");
                prop_assert_eq!(t.status(), Status::Active);
                prop_assert_eq!(t.delivers_from(), Some(gen));
                prop_assert_eq!(t.sends_now_on(), self.t.sends_now_on());
                prop_assert_eq!(
                    t.poll_timeout(),
                    self.t.poll_timeout(),
                    "no heartbeat change"
                );
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("WAFER_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
        ))]

        #[test]
        fn queued_messages_leave_in_order_exactly_once(ops in prop::collection::vec(op(), 0..120), seed in any::<u64>()) {
            let c = TunnelConfig {
                queue_limit: 8,
                max_attempts: if seed % 3 == 0 { Some(3) } else { None },
                ..TunnelConfig::default()
            };
            let mut m = Model {
                t: Tunnel::new(c, seed),
                now: 0,
                next_msg: 0,
                accepted: 0,
                delivered: vec![],
                pending_handshake: None,
                connecting_socket: None,
                open_socket: None,
                fail_next: false,
                last_gen: 0,
                out_of_band: None,
                logging: seed % 2 == 0,
            };
            m.t.set_logging(m.logging);
            for op in &ops {
                m.apply(op);
                m.drain()?;
                m.check()?;
            }
            // Finally connect cleanly: everything still queued must come out.
            m.t.handle(Input::Network { online: true });
            m.t.handle(Input::Close);
            m.drain()?;
            m.open_socket = None;
            m.fail_next = false;
            m.t.handle(Input::Open);
            m.drain()?;
            let g = m.pending_handshake.take().unwrap();
            m.t.handle(Input::Handshake { gen: g, result: Ok("ws://final".into()), now: 0 });
            m.drain()?;
            let g = m.connecting_socket.take().unwrap();
            m.open_socket = Some(g);
            m.t.handle(Input::SocketOpened { gen: g, now: m.now });
            m.drain()?;
            m.check()?;
            prop_assert_eq!(m.t.queued(), 0);
            prop_assert_eq!(m.delivered.len(), m.accepted as usize);
        }
    }
}

#[test]
fn records_and_error_payloads_serialize_as_the_logger_and_listeners_see_them() {
    use serde_json::{json, to_value};
    let cases = [
        (
            Log::State {
                from: Status::Closed,
                to: Status::Connecting,
            },
            json!({ "event": "state", "from": "CLOSED", "to": "CONNECTING" }),
        ),
        (
            Log::Retry {
                attempt: 2,
                delay_ms: 1500,
            },
            json!({ "event": "retry", "attempt": 2, "delay": 1500.0 }),
        ),
        (Log::Offline, json!({ "event": "offline" })),
        (Log::LinkDead, json!({ "event": "link-dead" })),
        (
            Log::Interval { ms: 30_000 },
            json!({ "event": "heartbeat-interval", "interval": 30000.0 }),
        ),
        (
            Log::PacketIn {
                kind: Kind::Pong,
                len: 4,
            },
            json!({ "event": "packet-in", "kind": "pong", "size": 4.0 }),
        ),
        (
            Log::Dropped {
                reason: "oversized",
                len: 9,
            },
            json!({ "event": "dropped", "reason": "oversized", "size": 9.0 }),
        ),
        (
            Log::GaveUp { attempts: 3 },
            json!({ "event": "gave-up", "attempts": 3 }),
        ),
    ];
    // Counts and durations are JavaScript numbers (doubles).
    for (log, want) in cases {
        assert_eq!(to_value(&log).unwrap(), want);
    }
    let e = TunnelError::new(codes::ERR_RECONNECT, Some(json!({ "code": 1006 })));
    assert_eq!(
        to_value(&e).unwrap(),
        json!({ "code": 2001, "message": "重连失败", "detail": { "code": 1006 } })
    );
    let none: TunnelError<serde_json::Value> = TunnelError::new(codes::ERR_QUEUE_OVERFLOW, None);
    assert_eq!(to_value(&none).unwrap()["detail"], json!(null));
}
