//! A tunnel: drives the core's [`Tunnel`] with real sockets, one timer and the handshake
//! (routed through the session flows), and delivers events to listeners.
//!
//! Lifetime: a tunnel that is not CLOSED holds itself, so a page that drops its `Tunnel`
//! object (in Node, wasm-bindgen's `FinalizationRegistry` then frees the handle) keeps
//! a working tunnel, listeners and all, until it closes, as in a mini-program, where
//! nothing is ever collected; a CLOSED one is freed with its last handle, and dropping it
//! closes whatever socket it still had.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Array, JsString, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

use crate::sansio::config::TunnelConfig;
use crate::sansio::flows::{Call, Failure};
use crate::sansio::listeners::Listeners;
use crate::sansio::packet::{HEAD_LEN, MESSAGE_CONTENT_AT};
use crate::sansio::tunnel::{
    self as core_tunnel, Event, Handled, Input, Output, Packet, Status, Tunnel, TunnelError,
};

use super::boundary::{to_js, Js};
use super::env::{now, Env};
use super::flows::Flows;
use super::frames::{starts_with, Frames, Message, Strings};
use super::log::{packet_out, tunnel_record};
use super::platform::{
    Socket, SOCKET_BINARY, SOCKET_CLOSE, SOCKET_ERROR, SOCKET_MESSAGE, SOCKET_OPEN,
};

pub struct TunnelInner {
    env: Rc<Env>,
    /// The session flows the handshake runs through.
    flows: Rc<Flows>,
    id: u32,
    url: String,
    /// Messages are JS strings; `error` details are the platform's own result objects.
    core: RefCell<Tunnel<JsString, JsValue>>,
    /// Copy-on-write: a dispatch holds a snapshot while listeners run, so they may call
    /// `on`/`off` without the list being cloned on every message.
    listeners: RefCell<Rc<Listeners<JsValue>>>,
    /// Sockets the core has not closed yet, by generation (normally at most one). Behind
    /// `Rc`: every send takes one out (no borrow may be held while JavaScript runs), and an
    /// `Rc` clone stays inside wasm where a handle clone and its drop are two calls into
    /// the glue.
    sockets: RefCell<Vec<(u32, Rc<Socket>)>>,
    /// The armed timer and the deadline it was armed for.
    timer: RefCell<Option<(u64, Timeout)>>,
    /// Receives every socket event as `(gen, kind, data)`.
    sink: Closure<dyn Fn(u32, u32, JsValue)>,
    frames: Frames,
    logging: Cell<bool>,
    /// Itself, while not CLOSED (see the module documentation).
    held: RefCell<Option<Rc<TunnelInner>>>,
    this: Weak<TunnelInner>,
}

/// The wasm side of a `Tunnel` (the facade wraps it).
#[wasm_bindgen]
pub struct TunnelHandle {
    inner: Rc<TunnelInner>,
}

impl TunnelHandle {
    pub fn new(inner: Rc<TunnelInner>) -> Self {
        TunnelHandle { inner }
    }
}

#[wasm_bindgen]
impl TunnelHandle {
    pub fn open(&self) {
        self.inner.input(Input::Open);
    }

    pub fn close(&self) {
        self.inner.input(Input::Close);
    }

    /// Queue `{ type, content }`; false when it was rejected (an `error` event says why).
    pub fn emit(&self, message_type: &JsValue, content: &JsValue) -> bool {
        let t = &self.inner;
        let Some(frame) = t.frames.encode(&t.env.platform, message_type, content) else {
            t.input(Input::Unencodable);
            return false;
        };
        let handled = t.core.borrow_mut().handle(Input::Emit(frame));
        match handled {
            // ACTIVE and nothing queued: straight to the socket, nothing else to drive
            // unless the send fails.
            Handled::SendNow { gen, message } => {
                if !t.send(gen, Packet::Message(message)) {
                    t.drive();
                }
                true
            }
            Handled::Overflow(_) => {
                t.drive();
                false
            }
            _ => {
                t.drive();
                true
            }
        }
    }

    /// `n` emits refused before this handle existed (the facade held as many as the queue
    /// limit): an `ERR_QUEUE_OVERFLOW` error event each.
    pub fn refused(&self, n: u32) {
        for _ in 0..n {
            self.inner.core.borrow_mut().handle(Input::Refused);
        }
        self.inner.drive();
    }

    /// `on(type, listener)`: a string type and a function, or nothing happens (as before).
    pub fn on(&self, event: JsValue, listener: JsValue) -> bool {
        match event.as_string() {
            Some(e) if listener.is_function() => {
                Rc::make_mut(&mut self.inner.listeners.borrow_mut()).on(&e, listener);
                true
            }
            _ => false,
        }
    }

    /// `off(type?, listener?)`: how many listeners were removed. No type (`undefined` or
    /// `null`) means every type, no listener every listener; a type that is not a string
    /// or a listener that is not a function matches nothing.
    pub fn off(&self, event: JsValue, listener: JsValue) -> u32 {
        let unset = |v: &JsValue| v.is_undefined() || v.is_null();
        let event = if unset(&event) {
            None
        } else {
            match event.as_string() {
                Some(e) => Some(e),
                None => return 0,
            }
        };
        let listener = if unset(&listener) {
            None
        } else if listener.is_function() {
            Some(listener)
        } else {
            return 0;
        };
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
    pub fn new(
        env: Rc<Env>,
        flows: Rc<Flows>,
        id: u32,
        url: String,
        cfg: TunnelConfig,
        seed: u64,
        strings: Rc<Strings>,
    ) -> Rc<Self> {
        let logging = env.logging();
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
                env,
                flows,
                id,
                url,
                core: RefCell::new(core),
                listeners: RefCell::default(),
                sockets: RefCell::default(),
                timer: RefCell::default(),
                sink,
                frames: Frames::new(strings),
                logging: Cell::new(logging),
                held: RefCell::default(),
                this: this.clone(),
            }
        })
    }

    pub fn set_logging(&self, on: bool) {
        self.logging.set(on);
        self.core.borrow_mut().set_logging(on);
    }

    pub fn network_changed(&self, online: bool) {
        self.input(Input::Network { online });
    }

    pub fn app_shown(&self) {
        self.input(Input::AppShown { now: now() });
    }

    /// Feed one input, then carry out what it asks for.
    fn input(&self, input: Input<'_, JsString, JsValue>) {
        self.core.borrow_mut().handle(input);
        self.drive();
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
                Output::Log(l) => self.env.log(|| tunnel_record(self.id, &l)),
            }
        }
        self.arm_timer();
        self.hold();
    }

    /// Hold itself while not CLOSED; let go once CLOSED.
    fn hold(&self) {
        let open = self.core.borrow().status() != Status::Closed;
        let held = self.held.borrow().is_some();
        if open != held {
            let next = if open { self.this.upgrade() } else { None };
            // Replaced outside the borrow: dropping the last reference runs `Drop`.
            let previous = std::mem::replace(&mut *self.held.borrow_mut(), next);
            drop(previous);
        }
    }

    /// `GET serviceUrl` as a session request, through the flows (which log in first when
    /// no session is stored); its outcome is the core's next input.
    fn handshake(&self, gen: u32) {
        let Some(me) = self.this.upgrade() else {
            return;
        };
        let request: Object = to_js(&HandshakeCall {
            url: &self.url,
            method: "GET",
        })
        .unchecked_into();
        let running = self
            .flows
            .run(Call::Handshake, Some(request), JsValue::UNDEFINED);
        spawn_local(async move {
            // As 0.8: the detail of a failure is the answer without a socket URL, the
            // platform's `fail` result, or the SDK's error (session, login).
            let result = match running.await {
                Ok(response) => core_tunnel::handshake_answer(&response).ok_or(Some(response)),
                Err(Failure::Platform(fail)) => Err(Some(fail)),
                Err(Failure::Sdk(e)) => Err(Some(me.env.error(&e))),
            };
            me.input(Input::Handshake {
                gen,
                result,
                now: now(),
            });
        });
    }

    fn open_socket(&self, gen: u32, url: &str) {
        match self
            .env
            .platform
            .connect_socket(url, self.sink.as_ref().unchecked_ref(), gen)
        {
            Ok(socket) => self.sockets.borrow_mut().push((gen, Rc::new(socket))),
            Err(e) => {
                self.core.borrow_mut().handle(Input::SocketDown {
                    gen,
                    detail: Some(e),
                    now: now(),
                });
            }
        }
    }

    /// Hand a packet to socket `gen`; false when it could not (the core was told).
    fn send(&self, gen: u32, packet: Packet<JsString>) -> bool {
        let strings = &self.frames.strings;
        let frame = match &packet {
            Packet::Message(f) => f,
            Packet::Ping => &strings.ping,
            Packet::Close => &strings.close,
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
            self.core.borrow_mut().handle(Input::SendFailed {
                gen,
                packet,
                now: now(),
            });
            return false;
        }
        if self.logging.get() {
            let kind = match packet {
                Packet::Message(_) => "message",
                Packet::Ping => "ping",
                Packet::Close => "close",
            };
            let size = frame.length();
            self.env.log(|| packet_out(self.id, kind, size));
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
            SOCKET_BINARY => self.dropped("binary-frame", 0),
            SOCKET_OPEN => {
                let now = now();
                self.core
                    .borrow_mut()
                    .handle(Input::SocketOpened { gen, now });
            }
            SOCKET_CLOSE | SOCKET_ERROR => {
                // The platform is done with this socket whatever the core decides (if the
                // list is busy, the core's CloseSocket removes it a moment later).
                if let Ok(mut sockets) = self.sockets.try_borrow_mut() {
                    sockets.retain(|(g, _)| *g != gen);
                }
                // The platform's own result: `{ errMsg }` of an error, `{ code, reason }` of a close.
                let detail = (!data.is_undefined() && !data.is_null()).then(|| data.clone());
                let now = now();
                self.core
                    .borrow_mut()
                    .handle(Input::SocketDown { gen, detail, now });
            }
            _ => {}
        }
        self.drive();
    }

    /// A text frame (the adapter reports anything else as `SOCKET_BINARY`).
    fn on_frame(&self, gen: u32, frame: &JsString) {
        let len = frame.length() as usize;
        // Data path: recognised by its prefix, never copied into wasm.
        if len > MESSAGE_CONTENT_AT && starts_with(frame, &self.frames.strings.message_prefix) {
            let handled = self
                .core
                .borrow_mut()
                .handle(Input::MessageFrame { gen, len });
            if let Handled::Deliver { content_at } = handled {
                self.deliver(&frame.slice(content_at as u32, len as u32), len);
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
            self.dropped("not-text", len);
            return;
        };
        let now = now();
        let handled = self.core.borrow_mut().handle(Input::Frame {
            gen,
            head: &head,
            len,
            now,
        });
        if let Handled::Deliver { content_at } = handled {
            self.deliver(&frame.slice(content_at as u32, len as u32), len);
        }
    }

    fn dropped(&self, reason: &'static str, len: usize) {
        self.core
            .borrow_mut()
            .handle(Input::Dropped { reason, len });
    }

    /// Parse a `message` packet's content and hand it to its listeners.
    fn deliver(&self, content: &JsString, len: usize) {
        let message = self.env.platform.parse_json(content);
        if !message.is_object() {
            // Not JSON (`undefined`), or JSON that is not an object.
            self.dropped("not-a-json-object", len);
            return;
        }
        let message: &Message = message.unchecked_ref();
        match self.frames.listener_name(message.message_type()) {
            Some(name) => self.dispatch(&name, &message.content()),
            None => self.dropped("message-without-type", len),
        }
    }

    fn emit_event(&self, e: Event<JsValue>) {
        let payload = match &e {
            Event::Error(err) => to_js(&TunnelError {
                code: err.code,
                message: err.message,
                detail: err.detail.clone().map(Js),
            }),
            _ => JsValue::UNDEFINED,
        };
        self.dispatch(e.name(), &payload);
    }

    /// Call the listeners of `event` (and `*`), in registration order, each behind the
    /// platform's `try` (an exception is reported, never thrown back here). The list is a
    /// snapshot, so listeners may add or remove listeners.
    fn dispatch(&self, event: &str, payload: &JsValue) {
        let snapshot = Rc::clone(&self.listeners.borrow());
        let platform = &self.env.platform;
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
            let delay = at.saturating_sub(now()).min(i32::MAX as u64) as u32;
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
        self.input(Input::Timeout {
            now: now().max(deadline),
        });
    }
}

impl Drop for TunnelInner {
    /// A tunnel freed with a socket still open (a handle freed while not CLOSED) closes it:
    /// nothing outlives the tunnel. The timer is cleared by its own drop.
    fn drop(&mut self) {
        for (_, socket) in self.sockets.get_mut().drain(..) {
            let _ = socket.close();
        }
    }
}

/// The handshake request.
#[derive(serde::Serialize)]
struct HandshakeCall<'a> {
    url: &'a str,
    method: &'static str,
}
