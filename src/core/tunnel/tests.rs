use super::*;
use crate::core::backoff::Backoff;

const HB: u64 = 15_000;

fn cfg() -> TunnelConfig {
    TunnelConfig::default()
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
        match self.t.emit(m) {
            Emit::SendNow { message, .. } => {
                self.sent.push(Packet::Message(message));
                Ok(())
            }
            Emit::Queued => Ok(()),
            Emit::Overflow(m) => Err(m),
        }
    }

    fn last_gen(&self) -> u32 {
        *self.handshakes.last().unwrap()
    }

    /// Open and complete the handshake and socket of the current attempt.
    fn connect(&mut self) {
        self.t.open();
        self.drain();
        self.complete_attempt();
    }

    fn complete_attempt(&mut self) {
        let gen = self.last_gen();
        self.t.handshake_succeeded(gen, "ws://t".into());
        self.drain();
        self.t.socket_opened(gen, self.now);
        self.drain();
    }

    fn advance_to_timer(&mut self) {
        let at = self.t.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(at);
        self.t.handle_timeout(self.now);
        self.drain();
    }

    fn frame(&mut self, frame: &str) -> Inbound {
        let units: Vec<u16> = frame.encode_utf16().collect();
        let head = String::from_utf16_lossy(&units[..units.len().min(packet::HEAD_LEN)]);
        let gen = self.last_gen();
        let r = self.t.inbound(gen, &head, units.len(), self.now);
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

fn err(code: u16) -> Event {
    Event::Error(TunnelError::new(code, None))
}

#[test]
fn open_is_connecting_synchronously_and_connects() {
    let mut h = Harness::new(cfg());
    h.emit(1).unwrap();
    h.emit(2).unwrap();
    h.t.open();
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
    h.t.open();
    h.t.open();
    h.drain();
    assert_eq!(h.handshakes.len(), 1);
}

#[test]
fn first_handshake_failure_closes_with_1001() {
    let mut h = Harness::new(cfg());
    h.t.open();
    h.drain();
    h.t.handshake_failed(1, Some("500".into()), h.now);
    h.drain();
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
    h.t.open();
    h.drain();
    h.t.handshake_succeeded(1, "ws://x".into());
    h.drain();
    h.t.socket_errored(1, Some("errMsg".into()), h.now);
    h.drain();
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
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert!(h.take_events().is_empty());

    // A close while CONNECTING is the same failure.
    let mut h = Harness::new(cfg());
    h.t.open();
    h.drain();
    h.t.handshake_succeeded(1, "ws://x".into());
    h.drain();
    h.t.socket_closed(1, Some("1006".into()), h.now);
    h.drain();
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
    let mut h = Harness::new(cfg());
    h.connect();
    h.take_events();
    h.t.socket_closed(1, None, h.now);
    h.drain();
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
    let mut h = Harness::new(cfg());
    h.connect();
    h.take_events();
    h.t.socket_errored(1, Some("reset".into()), h.now);
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert_eq!(h.take_events(), vec![Event::Reconnecting]);
    assert_eq!(h.t.status(), Status::Reconnecting);
}

#[test]
fn giving_up_at_once_carries_the_lost_link_detail() {
    let mut h = Harness::new(TunnelConfig {
        max_attempts: Some(0),
        ..cfg()
    });
    h.connect();
    h.take_events();
    h.t.socket_closed(1, Some("1006".into()), h.now);
    h.drain();
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
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    h.advance_to_timer();
    h.t.handshake_succeeded(2, "ws://t".into());
    h.drain();
    h.t.socket_errored(2, None, h.now);
    h.drain();
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert!(h.t.poll_timeout().is_some());
    h.advance_to_timer();
    assert_eq!(h.handshakes, vec![1, 2, 3]);
    h.t.handshake_failed(3, None, h.now);
    h.drain();
    h.advance_to_timer();
    assert_eq!(h.handshakes, vec![1, 2, 3, 4]);
    h.complete_attempt();
    assert_eq!(h.t.status(), Status::Active);
}

#[test]
fn retries_without_limit_by_default_with_growing_caps() {
    let mut c = cfg();
    c.backoff = Backoff {
        base_ms: 100,
        max_ms: 1600,
    };
    let mut h = Harness::new(c);
    h.connect();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    for _ in 0..50 {
        let before = h.now;
        let at = h.t.poll_timeout().unwrap();
        assert!(at - before <= 1600);
        h.advance_to_timer();
        let gen = h.last_gen();
        h.t.handshake_failed(gen, None, h.now);
        h.drain();
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
    let mut c = cfg();
    c.max_attempts = Some(2);
    let mut h = Harness::new(c);
    h.connect();
    h.take_events();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    for _ in 0..2 {
        h.advance_to_timer();
        let gen = h.last_gen();
        h.t.handshake_failed(gen, Some("down".into()), h.now);
        h.drain();
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
    let mut c = cfg();
    c.max_attempts = Some(0);
    let mut h = Harness::new(c);
    h.connect();
    h.take_events();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(
        h.take_events(),
        vec![Event::Reconnecting, Event::Close, err(codes::ERR_RECONNECT)]
    );
}

#[test]
fn heartbeat_pings_after_an_interval_and_detects_a_dead_link() {
    let mut h = Harness::new(cfg());
    h.connect();
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
    let mut h = Harness::new(cfg());
    h.connect();
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
    let mut h = Harness::new(cfg());
    h.connect();
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
    let mut h = Harness::new(cfg());
    h.connect();
    h.take_events();
    assert_eq!(h.frame("close"), Inbound::Done);
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.take_events(), vec![Event::Close]);
    assert_eq!(h.sent.last(), Some(&Packet::Close));
    assert_eq!(h.closed_sockets, vec![1]);
    assert_eq!(h.t.poll_timeout(), None);
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert!(h.take_events().is_empty());
}

#[test]
fn close_sends_close_packet_only_when_active() {
    let mut h = Harness::new(cfg());
    h.connect();
    h.take_events();
    assert!(h.t.close());
    h.drain();
    assert_eq!(h.sent.last(), Some(&Packet::Close));
    assert_eq!(h.take_events(), vec![Event::Close]);
    assert!(!h.t.close());
    h.drain();
    assert!(h.take_events().is_empty());

    let mut h = Harness::new(cfg());
    h.t.open();
    h.drain();
    assert!(h.t.close());
    h.drain();
    assert!(h.sent.is_empty());
    assert_eq!(h.take_events(), vec![Event::Close]);
    // The handshake answer that arrives after close() is ignored.
    h.t.handshake_succeeded(1, "ws://late".into());
    h.drain();
    assert!(h.sockets.is_empty());
    assert_eq!(h.t.status(), Status::Closed);
}

#[test]
fn close_while_reconnecting_stops_everything() {
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert!(h.t.poll_timeout().is_some());
    h.t.close();
    h.drain();
    assert_eq!(h.t.status(), Status::Closed);
    assert_eq!(h.t.poll_timeout(), None);
}

#[test]
fn reopen_after_close_connects_again() {
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.close();
    h.drain();
    h.take_events();
    h.emit(9).unwrap();
    h.connect();
    assert_eq!(h.take_events(), vec![Event::Connect]);
    assert_eq!(h.messages_sent(), vec![9]);
}

#[test]
fn stale_sockets_are_ignored() {
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    h.advance_to_timer();
    h.complete_attempt();
    h.take_events();
    // Reports from socket 1 after socket 2 took over change nothing.
    h.t.socket_closed(1, None, h.now);
    h.t.socket_errored(1, None, h.now);
    h.t.socket_opened(1, h.now);
    let units = "close".encode_utf16().count();
    assert_eq!(h.t.inbound(1, "close", units, h.now), Inbound::Done);
    h.drain();
    assert_eq!(h.t.status(), Status::Active);
    assert!(h.take_events().is_empty());
}

#[test]
fn queue_is_bounded_while_not_active() {
    let mut c = cfg();
    c.queue_limit = 2;
    let mut h = Harness::new(c);
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
fn zero_queue_limit_still_sends_while_active() {
    let mut c = cfg();
    c.queue_limit = 0;
    let mut h = Harness::new(c);
    assert!(h.emit(1).is_err());
    h.connect();
    h.emit(2).unwrap();
    h.drain();
    assert_eq!(h.messages_sent(), vec![2]);
}

#[test]
fn failed_send_is_requeued_in_order() {
    let mut h = Harness::new(cfg());
    h.connect();
    // The socket refuses message 1: it goes back to the head, 2 and 3 queue behind it.
    let Emit::SendNow { gen, message } = h.t.emit(1) else {
        panic!("an active tunnel sends at once")
    };
    h.t.send_failed(gen, Packet::Message(message), h.now);
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
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.network_changed(false);
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert_eq!(h.t.status(), Status::Reconnecting);
    assert_eq!(h.t.poll_timeout(), None, "no retries while offline");
    assert!(h.logs.contains(&Log::Offline));
    h.t.network_changed(true);
    h.drain();
    assert_eq!(h.handshakes, vec![1, 2]);
}

#[test]
fn going_offline_while_waiting_suspends_the_timer() {
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    assert!(h.t.poll_timeout().is_some());
    h.t.network_changed(false);
    assert_eq!(h.t.poll_timeout(), None);
    h.t.network_changed(true);
    h.drain();
    assert_eq!(h.handshakes.len(), 2);
}

#[test]
fn network_back_skips_the_back_off() {
    let mut c = cfg();
    c.backoff = Backoff {
        base_ms: 60_000,
        max_ms: 60_000,
    };
    let mut h = Harness::new(c);
    h.connect();
    h.t.socket_closed(1, None, h.now);
    h.drain();
    h.t.network_changed(true);
    h.drain();
    assert_eq!(h.handshakes, vec![1, 2]);
}

#[test]
fn app_show_retries_or_pings() {
    let mut h = Harness::new(cfg());
    h.connect();
    h.t.app_shown(h.now);
    h.drain();
    assert_eq!(h.sent.last(), Some(&Packet::Ping));
    // A second show while the ping is outstanding sends nothing more.
    h.t.app_shown(h.now);
    h.drain();
    assert_eq!(h.sent.iter().filter(|p| **p == Packet::Ping).count(), 1);
    h.t.socket_closed(1, None, h.now);
    h.drain();
    h.t.app_shown(h.now);
    h.drain();
    assert_eq!(h.handshakes, vec![1, 2]);
    // Nothing happens while closed or connecting.
    let mut c = Harness::new(cfg());
    c.t.app_shown(c.now);
    c.t.network_changed(true);
    c.drain();
    assert!(c.handshakes.is_empty());
}

#[test]
fn hostile_frames_are_dropped_without_leaving_active() {
    let mut c = cfg();
    c.max_frame = 100;
    let mut h = Harness::new(c);
    h.connect();
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
        assert_eq!(h.frame(f), Inbound::Done, "{f:?}");
    }
    let big = ["message:", &"x".repeat(200)].concat();
    assert_eq!(h.frame(&big), Inbound::Done);
    assert!(h.logs.contains(&Log::Dropped {
        reason: "oversized",
        len: 208
    }));
    assert_eq!(
        h.frame(r#"message:{"type":"a"}"#),
        Inbound::Deliver { content_at: 8 }
    );
    assert_eq!(h.t.status(), Status::Active);
    assert!(h.take_events().is_empty());
}

#[test]
fn message_frames_by_prefix() {
    let mut c = cfg();
    c.max_frame = 100;
    let mut h = Harness::new(c);
    assert!(!h.t.message_frame(1, 20), "nothing is open yet");
    h.connect();
    assert!(h.t.message_frame(1, 20));
    assert!(!h.t.message_frame(1, 101));
    assert!(!h.t.message_frame(0, 20), "stale socket");
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
    let mut h = Harness::new(cfg());
    h.connect();
    assert!(h.logs.contains(&Log::State {
        from: Status::Closed,
        to: Status::Connecting
    }));
    assert!(h.logs.contains(&Log::State {
        from: Status::Connecting,
        to: Status::Active
    }));
    let mut quiet: Tunnel<u32> = Tunnel::new(cfg(), 1);
    quiet.open();
    while let Some(o) = quiet.poll() {
        assert!(!matches!(o, Output::Log(_)));
    }
}

#[test]
fn handshake_answers_of_both_dialects() {
    use serde_json::json;
    let w1 = json!({ "url": "wss://t/ws?id=1" });
    assert_eq!(
        handshake_url(200, Some(&w1)),
        Some("wss://t/ws?id=1".into())
    );
    let w2 = json!({ "code": 0, "data": { "tunnelId": "t", "connectUrl": "ws://x" } });
    assert_eq!(handshake_url(200, Some(&w2)), Some("ws://x".into()));
    assert_eq!(handshake_url(500, Some(&w1)), None);
    assert_eq!(handshake_url::<serde_json::Value>(200, None), None);
    assert_eq!(
        handshake_url(200, Some(&json!({ "url": "http://x" }))),
        None
    );
    assert_eq!(
        handshake_url(
            200,
            Some(&json!({ "code": 1, "data": { "connectUrl": "ws://x" } }))
        ),
        None
    );
    assert_eq!(handshake_url(200, Some(&json!({ "error": "boom" }))), None);
    // The quickstart's answer for an unknown route.
    assert_eq!(
        handshake_url(200, Some(&json!({ "code": 0, "data": {} }))),
        None
    );
}

/// The handshake classifier against arbitrary answers (`WAFER_PROPTEST_CASES` cases).
#[cfg(not(target_arch = "wasm32"))]
mod fuzz {
    use super::*;
    use crate::core::testing::arb;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(arb::config(256))]

        #[test]
        fn handshake_url_never_panics_and_only_yields_socket_urls(
            body in prop::option::of(arb::json()),
            status in prop_oneof![Just(200u16), any::<u16>()],
        ) {
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
                self.t.send_failed(gen, packet, self.now);
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
                Op::Open => self.t.open(),
                Op::Close => {
                    self.t.close();
                }
                Op::Emit => {
                    let m = self.next_msg;
                    self.next_msg += 1;
                    match self.t.emit(m) {
                        Emit::SendNow { gen, message } => {
                            self.accepted += 1;
                            self.out_of_band = Some((gen, message));
                        }
                        Emit::Queued => self.accepted += 1,
                        Emit::Overflow(_) => {}
                    }
                }
                Op::HandshakeOk => {
                    if let Some(g) = self.pending_handshake.take() {
                        self.t.handshake_succeeded(g, "ws://m".into());
                    }
                }
                Op::HandshakeFail => {
                    if let Some(g) = self.pending_handshake.take() {
                        self.t.handshake_failed(g, None, now);
                    }
                }
                Op::SocketOpen => {
                    if let Some(g) = self.connecting_socket.take() {
                        self.open_socket = Some(g);
                        self.t.socket_opened(g, now);
                    }
                }
                Op::SocketClose => {
                    if let Some(g) = self.open_socket.take().or(self.connecting_socket.take()) {
                        self.t.socket_closed(g, None, now);
                    }
                }
                Op::SocketError => {
                    if let Some(g) = self.open_socket.take().or(self.connecting_socket.take()) {
                        self.t.socket_errored(g, None, now);
                    }
                }
                Op::StaleReport => {
                    let g = self.last_gen.wrapping_sub(1);
                    self.t.socket_closed(g, None, now);
                    self.t.socket_opened(g, now);
                    self.t.handshake_succeeded(g, "ws://stale".into());
                }
                Op::Advance(ms) => self.now += ms,
                Op::FireTimer => {
                    if let Some(at) = self.t.poll_timeout() {
                        self.now = self.now.max(at);
                        self.t.handle_timeout(self.now);
                    }
                }
                Op::Network(on) => self.t.network_changed(*on),
                Op::AppShow => self.t.app_shown(now),
                Op::Frame(f) => {
                    if let Some(g) = self.open_socket {
                        let len = f.encode_utf16().count();
                        self.t.inbound(g, f, len, now);
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
            };
            m.t.set_logging(seed % 2 == 0);
            for op in &ops {
                m.apply(op);
                m.drain()?;
                m.check()?;
            }
            // Finally connect cleanly: everything still queued must come out.
            m.t.network_changed(true);
            m.t.close();
            m.drain()?;
            m.open_socket = None;
            m.fail_next = false;
            m.t.open();
            m.drain()?;
            let g = m.pending_handshake.take().unwrap();
            m.t.handshake_succeeded(g, "ws://final".into());
            m.drain()?;
            let g = m.connecting_socket.take().unwrap();
            m.open_socket = Some(g);
            m.t.socket_opened(g, m.now);
            m.drain()?;
            m.check()?;
            prop_assert_eq!(m.t.queued(), 0);
            prop_assert_eq!(m.delivered.len(), m.accepted as usize);
        }
    }
}
