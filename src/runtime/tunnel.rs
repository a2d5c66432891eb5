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
use js_sys::{Array, JsString};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

use crate::core::config::TunnelConfig;
use crate::core::listeners::Listeners;
use crate::core::packet::{self, HEAD_LEN, MESSAGE_CONTENT_AT};
use crate::core::tunnel::{
    self as core_tunnel, Emit, Event, Inbound, Output, Packet, Status, Tunnel,
};

use super::client::{Failure, Inner as Client};
use super::js::{concat2, get, object, starts_with, JsBody, Message};
use super::log::{record, tunnel_record};
use super::platform::{
    Socket, SOCKET_BINARY, SOCKET_CLOSE, SOCKET_ERROR, SOCKET_MESSAGE, SOCKET_OPEN,
};

/// JS strings made once per client instead of once per frame (tunnels share them: a
/// closed tunnel's wasm side is rebuilt on its next use).
pub(crate) struct Strings {
    ping: JsString,
    close: JsString,
    message_prefix: JsString,
    message_head: JsString,
    content_field: JsString,
    message_tail: JsString,
}

impl Strings {
    pub(crate) fn new() -> Self {
        Strings {
            ping: JsString::from(packet::PING),
            close: JsString::from(packet::CLOSE),
            message_prefix: JsString::from(packet::MESSAGE_PREFIX),
            message_head: JsString::from(packet::MESSAGE_HEAD),
            content_field: JsString::from(packet::CONTENT_FIELD),
            message_tail: JsString::from(packet::MESSAGE_TAIL),
        }
    }
}

/// The encoded frame start of the last outbound message type: chat traffic repeats a
/// few types, so most `emit`s only stringify their content.
///
/// The starts are behind `Rc`: an `emit` takes one out of the `RefCell` (no borrow may be
/// held while JavaScript runs), and an `Rc` clone stays inside wasm where a handle clone
/// and its drop are two calls into the glue.
struct TypePrefix {
    message_type: JsValue,
    /// `message:{"type":T,"content":`
    with_content: Rc<JsString>,
    /// `message:{"type":T}`
    bare: Rc<JsString>,
}

/// The last inbound message type and the listener name it maps to (same reason).
type TypeCache = RefCell<Option<(JsValue, Rc<str>)>>;

pub(crate) struct TunnelInner {
    client: Rc<Client>,
    id: u32,
    url: String,
    /// Messages are JS strings; `error` details are the platform's own result objects.
    core: RefCell<Tunnel<JsString, JsValue>>,
    /// Copy-on-write: a dispatch holds a snapshot while listeners run, so they may call
    /// `on`/`off` without the list being cloned on every message.
    listeners: RefCell<Rc<Listeners<JsValue>>>,
    /// Sockets the core has not closed yet, by generation (normally at most one). Behind
    /// `Rc` for the same reason as `TypePrefix`: every send takes one out.
    sockets: RefCell<Vec<(u32, Rc<Socket>)>>,
    /// The armed timer and the deadline it was armed for.
    timer: RefCell<Option<(u64, Timeout)>>,
    /// Receives every socket event as `(gen, kind, data)`.
    sink: Closure<dyn Fn(u32, u32, JsValue)>,
    strings: Rc<Strings>,
    out_type: RefCell<Option<TypePrefix>>,
    last_type: TypeCache,
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
    pub fn emit(&self, message_type: &JsValue, content: &JsValue) -> bool {
        let t = &self.inner;
        let Some(frame) = t.encode(message_type, content) else {
            t.core.borrow_mut().reject_message();
            t.drive();
            return false;
        };
        let emitted = t.core.borrow_mut().emit(frame);
        match emitted {
            // ACTIVE and nothing queued: straight to the socket, nothing else to drive
            // unless the send fails.
            Emit::SendNow { gen, message } => {
                if !t.send(gen, Packet::Message(message)) {
                    t.drive();
                }
                true
            }
            Emit::Queued => {
                t.drive();
                true
            }
            Emit::Overflow(_) => {
                t.drive();
                false
            }
        }
    }

    /// `on(type, listener)`; anything but a string type and a function is ignored, as before.
    pub fn on(&self, event: JsValue, listener: JsValue) -> bool {
        match event.as_string() {
            Some(e) if listener.is_function() => {
                Rc::make_mut(&mut self.inner.listeners.borrow_mut()).on(&e, listener);
                true
            }
            _ => false,
        }
    }

    /// `off(type?, listener?)`: how many listeners were removed.
    pub fn off(&self, event: JsValue, listener: JsValue) -> u32 {
        let event = event.as_string();
        let listener = (!listener.is_undefined() && !listener.is_null()).then_some(listener);
        let mut listeners = self.inner.listeners.borrow_mut();
        Rc::make_mut(&mut listeners).off(event.as_deref(), listener.as_ref()) as u32
    }

    pub fn status(&self) -> String {
        self.inner.core.borrow().status().as_str().into()
    }

    #[wasm_bindgen(js_name = socketUrl)]
    pub fn socket_url(&self) -> Option<String> {
        self.inner.core.borrow().socket_url().map(str::to_owned)
    }

    /// CLOSED with nothing queued: the facade may free this handle and make a new one
    /// (with [`TunnelHandle::listener_list`]) when the tunnel is used again.
    pub fn dormant(&self) -> bool {
        let core = self.inner.core.borrow();
        core.status() == Status::Closed && core.queued() == 0
    }

    /// The listeners as `[type, listener, type, listener, ...]`, in registration order.
    #[wasm_bindgen(js_name = listenerList)]
    pub fn listener_list(&self) -> Array {
        let list = Array::new();
        for (event, f) in self.inner.listeners.borrow().iter() {
            list.push(&JsValue::from_str(event));
            list.push(f);
        }
        list
    }
}

impl TunnelInner {
    pub(crate) fn new(
        client: Rc<Client>,
        id: u32,
        url: String,
        cfg: TunnelConfig,
        seed: u64,
        strings: Rc<Strings>,
    ) -> Rc<Self> {
        let logging = client.logging();
        let mut core = Tunnel::new(cfg, seed);
        core.set_logging(logging);
        Rc::new_cyclic(|this: &Weak<TunnelInner>| {
            let weak = this.clone();
            let sink = Closure::<dyn Fn(u32, u32, JsValue)>::new(
                move |gen: u32, kind: u32, data: JsValue| {
                    if let Some(t) = weak.upgrade() {
                        t.on_socket(gen, kind, &data);
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
                strings,
                out_type: RefCell::default(),
                last_type: RefCell::default(),
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
        let with_content = self.type_prefix(message_type, true)?;
        let json = self.client.platform.stringify_json(content);
        if json.is_string() {
            return Some(concat2(&with_content, &json, &self.strings.message_tail));
        }
        if json.is_undefined() {
            // `undefined`, functions and symbols are left out, as JSON.stringify({ type,
            // content }) does. (Looked up again: a toJSON may have emitted another type.)
            return self
                .type_prefix(message_type, false)
                .map(|bare| JsString::clone(&bare));
        }
        None
    }

    /// The frame start for `message_type`, with or without the content field (`None`
    /// unless the type is a string).
    fn type_prefix(&self, message_type: &JsValue, with_content: bool) -> Option<Rc<JsString>> {
        let pick = |p: &TypePrefix| {
            if with_content {
                Rc::clone(&p.with_content)
            } else {
                Rc::clone(&p.bare)
            }
        };
        if let Some(p) = &*self.out_type.borrow() {
            if p.message_type == *message_type {
                return Some(pick(p));
            }
        }
        if !message_type.is_string() {
            return None;
        }
        let quoted: JsString = self
            .client
            .platform
            .stringify_json(message_type)
            .unchecked_into();
        let head = self.strings.message_head.concat(&quoted);
        let prefix = TypePrefix {
            message_type: message_type.clone(),
            with_content: Rc::new(head.concat(&self.strings.content_field)),
            bare: Rc::new(head.concat(&self.strings.message_tail)),
        };
        let picked = pick(&prefix);
        *self.out_type.borrow_mut() = Some(prefix);
        Some(picked)
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
                Output::Send { gen, packet } => {
                    self.send(gen, packet);
                }
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
            let result = me.client.tunnel_handshake(&me.url).await;
            let now = super::js::now();
            // As 0.8: the detail of a failure is the answer without a socket URL, the
            // platform's `fail` result, or the SDK's error (session, login).
            let outcome = match result {
                Ok(response) => {
                    let status = get(&response, "statusCode")
                        .as_f64()
                        .map_or(0, |s| s as u16);
                    let data = JsBody(get(&response, "data"));
                    core_tunnel::handshake_url(status, Some(&data)).ok_or(response)
                }
                Err(Failure::Transport(e) | Failure::Sdk(e)) => Err(e),
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
            Ok(socket) => self.sockets.borrow_mut().push((gen, Rc::new(socket))),
            Err(e) => self
                .core
                .borrow_mut()
                .socket_errored(gen, Some(e), super::js::now()),
        }
    }

    /// Hand a packet to socket `gen`; false when it could not (the core was told).
    fn send(&self, gen: u32, packet: Packet<JsString>) -> bool {
        let frame = match &packet {
            Packet::Message(f) => f,
            Packet::Ping => &self.strings.ping,
            Packet::Close => &self.strings.close,
        };
        // No borrow is held while JS runs.
        let socket = self
            .sockets
            .borrow()
            .iter()
            .find(|(g, _)| *g == gen)
            .map(|(_, s)| Rc::clone(s));
        let sent = socket.is_some_and(|s| s.send(frame));
        if !sent {
            self.core
                .borrow_mut()
                .send_failed(gen, packet, super::js::now());
            return false;
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
        true
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

    fn on_socket(&self, gen: u32, kind: u32, data: &JsValue) {
        match kind {
            SOCKET_MESSAGE => {
                self.on_frame(gen, data.unchecked_ref());
                // Most frames change nothing the driver has to act on.
                if !self.core.borrow().has_output() {
                    return self.arm_timer();
                }
            }
            SOCKET_BINARY => self.core.borrow_mut().dropped("binary-frame", 0),
            SOCKET_OPEN => self.core.borrow_mut().socket_opened(gen, super::js::now()),
            SOCKET_CLOSE | SOCKET_ERROR => {
                // The platform is done with this socket whatever the core decides (if the
                // list is busy, the core's CloseSocket removes it a moment later).
                if let Ok(mut sockets) = self.sockets.try_borrow_mut() {
                    sockets.retain(|(g, _)| *g != gen);
                }
                // The platform's own result: `{ errMsg }` of an error, `{ code, reason }` of a close.
                let detail = (!data.is_undefined() && !data.is_null()).then(|| data.clone());
                let now = super::js::now();
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

    /// A text frame (the adapter reports anything else as `SOCKET_BINARY`).
    fn on_frame(&self, gen: u32, frame: &JsString) {
        let len = frame.length() as usize;
        // Data path: recognised by its prefix, never copied into wasm.
        if len > MESSAGE_CONTENT_AT && starts_with(frame, &self.strings.message_prefix) {
            if self.core.borrow_mut().message_frame(gen, len) {
                self.deliver(&frame.slice(MESSAGE_CONTENT_AT as u32, len as u32), len);
            }
            return;
        }
        // Control path: the head is short, copying it is cheap.
        let head = if len <= HEAD_LEN {
            frame.as_string()
        } else {
            frame.slice(0, HEAD_LEN as u32).as_string()
        };
        let Some(head) = head else {
            self.core.borrow_mut().dropped("not-text", len);
            return;
        };
        let verdict = self
            .core
            .borrow_mut()
            .inbound(gen, &head, len, super::js::now());
        if let Inbound::Deliver { content_at } = verdict {
            self.deliver(&frame.slice(content_at as u32, len as u32), len);
        }
    }

    /// Parse a `message` packet's content and hand it to its listeners.
    fn deliver(&self, content: &JsString, len: usize) {
        let message = self.client.platform.parse_json(content);
        if !message.is_object() {
            // Not JSON (`undefined`), or JSON that is not an object.
            self.core.borrow_mut().dropped("not-a-json-object", len);
            return;
        }
        let message: &Message = message.unchecked_ref();
        match self.listener_name(message.message_type()) {
            Some(name) => self.dispatch(&name, &message.content()),
            None => self.core.borrow_mut().dropped("message-without-type", len),
        }
    }

    /// The listener name of a message type (`None`: not a non-empty string).
    fn listener_name(&self, message_type: JsValue) -> Option<Rc<str>> {
        if let Some((js, name)) = &*self.last_type.borrow() {
            if *js == message_type {
                return Some(Rc::clone(name));
            }
        }
        let t = message_type.as_string().filter(|t| !t.is_empty())?;
        let name: Rc<str> = packet::event_name(&t).into();
        *self.last_type.borrow_mut() = Some((message_type, Rc::clone(&name)));
        Some(name)
    }

    fn emit_event(&self, e: Event<JsValue>) {
        let payload = match &e {
            Event::Error(err) => {
                let detail = err.detail.clone().unwrap_or(JsValue::NULL);
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
        let snapshot = Rc::clone(&self.listeners.borrow());
        let platform = &self.client.platform;
        let mut name = None;
        for (f, wildcard) in snapshot.matching(event) {
            if wildcard {
                let n = name.get_or_insert_with(|| JsValue::from_str(event));
                platform.invoke_all(f, n, payload);
            } else {
                platform.invoke(f, payload);
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
