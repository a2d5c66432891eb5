//! A tunnel: drives `core::tunnel::Tunnel` with real sockets, one timer and the
//! handshake request, and delivers events to listeners.
//!
//! Hot path: an inbound frame stays a JS string. Only its first
//! [`HEAD_LEN`](crate::core::packet::HEAD_LEN) code units are copied into wasm to
//! classify it; a message's content is sliced and `JSON.parse`d in JavaScript and
//! handed to listeners as a handle. Outbound frames are built the same way.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Function, JsString, Object, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

use crate::core::config::TunnelConfig;
use crate::core::listeners::Listeners;
use crate::core::packet::{self, HEAD_LEN};
use crate::core::tunnel::{self as core_tunnel, Event, Inbound, Output, Packet, Tunnel};

use super::client::Inner as Client;
use super::js::{error_text, get, json_parse, object, JsBody};
use super::log::{record, tunnel_record};
use super::platform::{Socket, SOCKET_CLOSE, SOCKET_ERROR, SOCKET_MESSAGE, SOCKET_OPEN};

/// JS strings made once per tunnel instead of once per frame.
struct Strings {
    ping: JsString,
    close: JsString,
    message_prefix: JsString,
    key_type: JsValue,
    key_content: JsValue,
}

pub(crate) struct TunnelInner {
    client: Rc<Client>,
    id: u32,
    url: String,
    core: RefCell<Tunnel<JsString>>,
    listeners: RefCell<Listeners<JsValue>>,
    /// Sockets the core has not closed yet, by generation (normally at most one).
    sockets: RefCell<Vec<(u32, Socket)>>,
    /// The armed timer and the deadline it was armed for.
    timer: RefCell<Option<(u64, Timeout)>>,
    /// Receives every socket event as `(gen, kind, data)`.
    sink: Closure<dyn Fn(u32, u32, JsValue)>,
    strings: Strings,
    logging: Cell<bool>,
    this: Weak<TunnelInner>,
}

/// The wasm side of a `Tunnel` (the facade wraps it).
#[wasm_bindgen]
pub struct TunnelHandle {
    inner: Rc<TunnelInner>,
}

impl TunnelHandle {
    pub(crate) fn new(inner: Rc<TunnelInner>) -> Self {
        TunnelHandle { inner }
    }
}

#[wasm_bindgen]
impl TunnelHandle {
    pub fn open(&self) {
        self.inner.core.borrow_mut().open();
        self.inner.drive();
    }

    pub fn close(&self) {
        self.inner.core.borrow_mut().close();
        self.inner.drive();
    }

    /// Queue `{ type, content }`; false when it was rejected (an `error` event says why).
    pub fn emit(&self, message_type: JsValue, content: JsValue) -> bool {
        let t = &self.inner;
        let frame = t.encode(&message_type, &content);
        let accepted = match frame {
            Some(frame) => t.core.borrow_mut().emit(frame).is_ok(),
            None => {
                t.core.borrow_mut().reject_message();
                false
            }
        };
        t.drive();
        accepted
    }

    /// `on(type, listener)`; anything but a string type and a function is ignored, as before.
    pub fn on(&self, event: JsValue, listener: JsValue) -> bool {
        match event.as_string() {
            Some(e) if listener.is_function() => {
                self.inner.listeners.borrow_mut().on(&e, listener);
                true
            }
            _ => false,
        }
    }

    /// `off(type?, listener?)`: how many listeners were removed.
    pub fn off(&self, event: JsValue, listener: JsValue) -> u32 {
        let event = event.as_string();
        let listener = (!listener.is_undefined() && !listener.is_null()).then_some(listener);
        self.inner
            .listeners
            .borrow_mut()
            .off(event.as_deref(), listener.as_ref()) as u32
    }

    pub fn status(&self) -> String {
        self.inner.core.borrow().status().as_str().into()
    }

    #[wasm_bindgen(js_name = socketUrl)]
    pub fn socket_url(&self) -> Option<String> {
        self.inner.core.borrow().socket_url().map(str::to_owned)
    }

    /// Messages waiting for an ACTIVE socket.
    pub fn queued(&self) -> u32 {
        self.inner.core.borrow().queued() as u32
    }
}

impl TunnelInner {
    pub(crate) fn new(
        client: Rc<Client>,
        id: u32,
        url: String,
        cfg: TunnelConfig,
        seed: u64,
    ) -> Rc<Self> {
        let logging = client.logging();
        let mut core = Tunnel::new(cfg, seed);
        core.set_logging(logging);
        Rc::new_cyclic(|this: &Weak<TunnelInner>| {
            let weak = this.clone();
            let sink = Closure::<dyn Fn(u32, u32, JsValue)>::new(
                move |gen: u32, kind: u32, data: JsValue| {
                    if let Some(t) = weak.upgrade() {
                        t.on_socket(gen, kind, data);
                    }
                },
            );
            TunnelInner {
                client,
                id,
                url,
                core: RefCell::new(core),
                listeners: RefCell::default(),
                sockets: RefCell::default(),
                timer: RefCell::default(),
                sink,
                strings: Strings {
                    ping: JsString::from(packet::PING),
                    close: JsString::from(packet::CLOSE),
                    message_prefix: JsString::from(packet::MESSAGE_PREFIX),
                    key_type: JsValue::from_str("type"),
                    key_content: JsValue::from_str("content"),
                },
                logging: Cell::new(logging),
                this: this.clone(),
            }
        })
    }

    pub(crate) fn set_logging(&self, on: bool) {
        self.logging.set(on);
        self.core.borrow_mut().set_logging(on);
    }

    pub(crate) fn network_changed(&self, online: bool) {
        self.core.borrow_mut().network_changed(online);
        self.drive();
    }

    pub(crate) fn app_shown(&self) {
        self.core.borrow_mut().app_shown(super::js::now());
        self.drive();
    }

    /// `message:{"type":T,"content":C}` as a JS string; `None` when it cannot be encoded.
    fn encode(&self, message_type: &JsValue, content: &JsValue) -> Option<JsString> {
        if !message_type.is_string() {
            return None;
        }
        let msg = Object::new();
        Reflect::set(&msg, &self.strings.key_type, message_type).ok()?;
        if !content.is_undefined() {
            Reflect::set(&msg, &self.strings.key_content, content).ok()?;
        }
        let json = JSON::stringify(&msg).ok()?;
        Some(self.strings.message_prefix.concat(&json))
    }

    /// Carry out everything the core asks for, then arm the timer. No borrow of the
    /// core is held while an output runs, so listeners may call back in.
    fn drive(&self) {
        loop {
            let next = self.core.borrow_mut().poll();
            let Some(output) = next else { break };
            match output {
                Output::Handshake { gen } => self.handshake(gen),
                Output::OpenSocket { gen, url } => self.open_socket(gen, &url),
                Output::Send { gen, packet } => self.send(gen, packet),
                Output::CloseSocket { gen } => self.close_socket(gen),
                Output::Event(e) => self.emit_event(e),
                Output::Log(l) => self.client.log(|| tunnel_record(self.id, &l)),
            }
        }
        self.arm_timer();
    }

    fn handshake(&self, gen: u32) {
        let Some(me) = self.this.upgrade() else {
            return;
        };
        spawn_local(async move {
            let call = object(&[("url", me.url.as_str().into()), ("method", "GET".into())]);
            let result = me.client.send_with_session(&call, false).await;
            let now = super::js::now();
            let outcome = match &result {
                Ok(response) => {
                    let status = get(response, "statusCode").as_f64().map_or(0, |s| s as u16);
                    let data = JsBody(get(response, "data"));
                    core_tunnel::handshake_url(status, Some(&data))
                }
                Err(e) => Err(error_text(e).unwrap_or_default()),
            };
            match outcome {
                Ok(url) => me.core.borrow_mut().handshake_succeeded(gen, url),
                Err(detail) => me
                    .core
                    .borrow_mut()
                    .handshake_failed(gen, Some(detail), now),
            }
            me.drive();
        });
    }

    fn open_socket(&self, gen: u32, url: &str) {
        match self
            .client
            .platform
            .connect_socket(url, self.sink.as_ref().unchecked_ref(), gen)
        {
            Ok(socket) => self.sockets.borrow_mut().push((gen, socket)),
            Err(e) => self
                .core
                .borrow_mut()
                .socket_errored(gen, error_text(&e), super::js::now()),
        }
    }

    fn socket(&self, gen: u32) -> Option<Socket> {
        let sockets = self.sockets.borrow();
        sockets
            .iter()
            .find(|(g, _)| *g == gen)
            .map(|(_, s)| s.clone())
    }

    fn send(&self, gen: u32, packet: Packet<JsString>) {
        let frame = match &packet {
            Packet::Message(f) => f.clone(),
            Packet::Ping => self.strings.ping.clone(),
            Packet::Close => self.strings.close.clone(),
        };
        let sent = self
            .socket(gen)
            .is_some_and(|s| s.send(&frame).unwrap_or(false));
        if !sent {
            self.core
                .borrow_mut()
                .send_failed(gen, packet, super::js::now());
            return;
        }
        if self.logging.get() {
            let kind = match packet {
                Packet::Message(_) => "message",
                Packet::Ping => "ping",
                Packet::Close => "close",
            };
            let size = JsValue::from(frame.length());
            self.client.log(|| {
                record(
                    "tunnel",
                    "packet-out",
                    &[
                        ("tunnel", self.id.into()),
                        ("kind", kind.into()),
                        ("size", size),
                    ],
                )
            });
        }
    }

    fn close_socket(&self, gen: u32) {
        let socket = {
            let mut sockets = self.sockets.borrow_mut();
            let i = sockets.iter().position(|(g, _)| *g == gen);
            i.map(|i| sockets.swap_remove(i).1)
        };
        if let Some(s) = socket {
            let _ = s.close();
        }
    }

    fn on_socket(&self, gen: u32, kind: u32, data: JsValue) {
        let now = super::js::now();
        match kind {
            SOCKET_MESSAGE => self.on_frame(gen, &data, now),
            SOCKET_OPEN => self.core.borrow_mut().socket_opened(gen, now),
            SOCKET_CLOSE | SOCKET_ERROR => {
                // The platform is done with this socket whatever the core decides.
                self.sockets.borrow_mut().retain(|(g, _)| *g != gen);
                let detail = error_text(&data)
                    .or_else(|| get(&data, "code").as_f64().map(|c| (c as u32).to_string()));
                let mut core = self.core.borrow_mut();
                if kind == SOCKET_CLOSE {
                    core.socket_closed(gen, detail, now);
                } else {
                    core.socket_errored(gen, detail, now);
                }
            }
            _ => {}
        }
        self.drive();
    }

    fn on_frame(&self, gen: u32, data: &JsValue, now: u64) {
        let Some(frame) = data.dyn_ref::<JsString>() else {
            self.core.borrow_mut().dropped("binary-frame", 0);
            return;
        };
        let len = frame.length() as usize;
        let head = if len <= HEAD_LEN {
            String::from(frame)
        } else {
            String::from(frame.slice(0, HEAD_LEN as u32))
        };
        let verdict = self.core.borrow_mut().inbound(gen, &head, len, now);
        if let Inbound::Deliver { content_at } = verdict {
            self.deliver(&frame.slice(content_at as u32, len as u32), len);
        }
    }

    /// Parse a `message` packet's content and hand it to its listeners.
    fn deliver(&self, content: &JsString, len: usize) {
        let Ok(message) = json_parse(content) else {
            self.core.borrow_mut().dropped("invalid-json", len);
            return;
        };
        let Some(t) = Reflect::get(&message, &self.strings.key_type)
            .ok()
            .filter(|_| message.is_object())
        else {
            self.core.borrow_mut().dropped("not-an-object", len);
            return;
        };
        match t.as_string().filter(|t| !t.is_empty()) {
            Some(t) => {
                let payload =
                    Reflect::get(&message, &self.strings.key_content).unwrap_or(JsValue::UNDEFINED);
                self.dispatch(&packet::event_name(&t), &payload);
            }
            None => self.core.borrow_mut().dropped("message-without-type", len),
        }
    }

    fn emit_event(&self, e: Event) {
        let payload = match &e {
            Event::Error(err) => {
                let detail = err
                    .detail
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str);
                object(&[
                    ("code", JsValue::from(err.code)),
                    ("message", err.message.into()),
                    ("detail", detail),
                ])
                .into()
            }
            _ => JsValue::UNDEFINED,
        };
        self.dispatch(e.name(), &payload);
    }

    /// Call the listeners of `event` (and `*`), in registration order. The list is
    /// copied first so listeners may add or remove listeners.
    fn dispatch(&self, event: &str, payload: &JsValue) {
        let targets: Vec<(JsValue, bool)> = self
            .listeners
            .borrow()
            .matching(event)
            .map(|(f, wildcard)| (f.clone(), wildcard))
            .collect();
        if targets.is_empty() {
            return;
        }
        let mut name = None;
        for (f, wildcard) in targets {
            let f: &Function = f.unchecked_ref();
            let result = if wildcard {
                let n = name.get_or_insert_with(|| JsValue::from_str(event));
                f.call2(&JsValue::UNDEFINED, n, payload)
            } else {
                f.call1(&JsValue::UNDEFINED, payload)
            };
            if let Err(e) = result {
                let _ = self.client.platform.report_error("tunnel listener", &e);
            }
        }
    }

    /// Keep exactly one timer armed at the core's next deadline.
    fn arm_timer(&self) {
        let want = self.core.borrow().poll_timeout();
        let current = self.timer.borrow().as_ref().map(|(at, _)| *at);
        if want == current {
            return;
        }
        let next = want.map(|at| {
            let delay = at.saturating_sub(super::js::now()).min(i32::MAX as u64) as u32;
            let weak = self.this.clone();
            let timeout = Timeout::new(delay, move || {
                if let Some(t) = weak.upgrade() {
                    t.on_timer(at);
                }
            });
            (at, timeout)
        });
        // Replacing drops (and clears) the previous timer.
        let previous = std::mem::replace(&mut *self.timer.borrow_mut(), next);
        drop(previous);
    }

    fn on_timer(&self, deadline: u64) {
        // This timer has fired: forget it so `arm_timer` sets the next one.
        let fired = self.timer.borrow_mut().take();
        drop(fired);
        // Timers may fire a millisecond "early" by Date.now(); the deadline has passed.
        let now = super::js::now().max(deadline);
        self.core.borrow_mut().handle_timeout(now);
        self.drive();
    }
}
