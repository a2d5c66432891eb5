//! A tunnel: drives the core's [`Tunnel`] with real sockets, one timer and the handshake
//! (routed through the session flows), and keeps its JavaScript half, the port, in step:
//! the port holds the listeners and runs the per-message paths while the core lets it
//! (runtime/frames.rs), and hears the tunnel's events from here.
//!
//! Lifetime: a tunnel that is not CLOSED holds itself, so a page that drops its `Tunnel`
//! object (in Node, wasm-bindgen's `FinalizationRegistry` then frees the handle) keeps
//! a working tunnel, listeners and all, until it closes, as in a mini-program, where
//! nothing is ever collected; a CLOSED one is freed with its last handle, and dropping it
//! closes whatever socket it still had.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{JsString, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

use crate::sansio::flows::{Call, Failure};
use crate::sansio::packet::{HEAD_LEN, MESSAGE_CONTENT_AT};
use crate::sansio::tunnel::{
    self as core_tunnel, Event, Handled, Input, Output, Packet, Status, Tunnel, TunnelError,
};

use super::boundary::{to_js, Js};
use super::env::{now, Env};
use super::flows::Flows;
use super::frames::{dropped_reason, starts_with, Port, Strings};
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
    /// The JavaScript half: listeners, the per-message paths, the gate.
    port: Port,
    /// The gate as the port has it: the socket whose data frames it delivers, the socket
    /// it sends `emit`s on.
    gate: Cell<(Option<u32>, Option<u32>)>,
    /// Sockets the core has not closed yet, by generation (normally at most one). Behind
    /// `Rc`: every send takes one out (no borrow may be held while JavaScript runs), and an
    /// `Rc` clone stays inside wasm where a handle clone and its drop are two calls into
    /// the glue.
    sockets: RefCell<Vec<(u32, Rc<Socket>)>>,
    /// The armed timer and the deadline it was armed for.
    timer: RefCell<Option<(u64, Timeout)>>,
    /// Receives every socket event the port does not handle, as `(gen, kind, data)`
    /// (owned here, called by the port: it stops working when the tunnel is dropped).
    _sink: Closure<dyn Fn(u32, u32, JsValue)>,
    strings: Rc<Strings>,
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

    /// An `emit` the port did not send at once: `frame` is the message frame the port
    /// encoded, or `undefined` when its content cannot be encoded. False when it was
    /// rejected (an `error` event says why).
    pub fn emit(&self, frame: JsValue) -> bool {
        let t = &self.inner;
        let Ok(frame) = frame.dyn_into::<JsString>() else {
            t.input(Input::Unencodable);
            return false;
        };
        match t.handle(Input::Emit(frame)) {
            // ACTIVE and nothing queued (while logging, or before the port heard of it):
            // straight to the socket, nothing else to drive unless the send fails.
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

    /// The port's send of `frame` on socket `gen` (the gate's) failed: the message goes
    /// back to the head of the queue and the link counts as lost, as when the runtime's
    /// own send fails.
    #[wasm_bindgen(js_name = sendFailed)]
    pub fn send_failed(&self, gen: u32, frame: JsString) -> bool {
        self.inner.input(Input::SendFailed {
            gen,
            packet: Packet::Message(frame),
            now: now(),
        });
        true
    }

    /// `n` emits refused before this handle existed (the facade held as many as the queue
    /// limit): an `ERR_QUEUE_OVERFLOW` error event each.
    pub fn refused(&self, n: u32) {
        for _ in 0..n {
            self.inner.handle(Input::Refused);
        }
        self.inner.drive();
    }

    pub fn status(&self) -> String {
        self.inner.core.borrow().status().as_str().into()
    }

    #[wasm_bindgen(js_name = socketUrl)]
    pub fn socket_url(&self) -> Option<String> {
        self.inner.core.borrow().socket_url().map(str::to_owned)
    }

    /// CLOSED with nothing queued: the facade may free this handle and make a new one (with
    /// the same port, which keeps the listeners) when the tunnel is used again.
    pub fn dormant(&self) -> bool {
        let core = self.inner.core.borrow();
        core.status() == Status::Closed && core.queued() == 0
    }
}

impl TunnelInner {
    /// A tunnel driving `core` (a new one, CLOSED), with `port` as its JavaScript half.
    pub fn new(
        env: Rc<Env>,
        flows: Rc<Flows>,
        id: u32,
        url: String,
        mut core: Tunnel<JsString, JsValue>,
        strings: Rc<Strings>,
        port: Port,
    ) -> Rc<Self> {
        core.set_logging(env.logging());
        Rc::new_cyclic(|this: &Weak<TunnelInner>| {
            let weak = this.clone();
            let sink = Closure::<dyn Fn(u32, u32, JsValue)>::new(
                move |gen: u32, kind: u32, data: JsValue| {
                    if let Some(t) = weak.upgrade() {
                        t.on_socket(gen, kind, &data);
                    }
                },
            );
            port.attach(sink.as_ref().unchecked_ref());
            TunnelInner {
                env,
                flows,
                id,
                url,
                core: RefCell::new(core),
                port,
                gate: Cell::default(),
                sockets: RefCell::default(),
                timer: RefCell::default(),
                _sink: sink,
                strings,
                held: RefCell::default(),
                this: this.clone(),
            }
        })
    }

    pub fn set_logging(&self, on: bool) {
        self.core.borrow_mut().set_logging(on);
        // While logging, every frame and send goes through the core and the runtime, which
        // log them: the gate shuts.
        self.sync_gate();
    }

    pub fn network_changed(&self, online: bool) {
        self.input(Input::Network { online });
    }

    pub fn app_shown(&self) {
        self.input(Input::AppShown { now: now() });
    }

    /// Feed one input, then carry out what it asks for.
    fn input(&self, input: Input<'_, JsString, JsValue>) {
        self.handle(input);
        self.drive();
    }

    /// Feed one input to the core, and keep the port's gate in step with it. Every change
    /// of the core goes through here or [`TunnelInner::poll`], so the gate is right before
    /// any JavaScript runs again (a listener may emit, or a frame arrive, in the next line).
    fn handle(&self, input: Input<'_, JsString, JsValue>) -> Handled<JsString> {
        let handled = self.core.borrow_mut().handle(input);
        self.sync_gate();
        handled
    }

    /// The core's next output (see [`TunnelInner::handle`]).
    fn poll(&self) -> Option<Output<JsString, JsValue>> {
        let next = self.core.borrow_mut().poll();
        self.sync_gate();
        next
    }

    /// Tell the port what the core allows now, when that changed: which socket's message
    /// frames it delivers itself (the core would deliver them and do nothing else), and on
    /// which socket it sends an `emit` at once (the core would send it at once; not while
    /// logging, which logs every send here).
    fn sync_gate(&self) {
        let (deliver, send, max_frame) = {
            let core = self.core.borrow();
            let send = core.sends_now_on().filter(|_| !self.env.logging());
            (core.delivers_from(), send, core.max_frame())
        };
        let socket = send.and_then(|gen| self.socket(gen));
        let send = socket.as_ref().and(send);
        if self.gate.get() == (deliver, send) {
            return;
        }
        self.gate.set((deliver, send));
        let gen = |g: Option<u32>| g.map_or(-1.0, f64::from);
        let null = JsValue::NULL;
        let socket: &JsValue = match socket.as_deref() {
            Some(s) => s,
            None => &null,
        };
        self.port
            .gate(gen(deliver), max_frame as f64, gen(send), socket);
    }

    /// Carry out everything the core asks for, then arm the timer. No borrow of the
    /// core is held while an output runs, so listeners may call back in.
    fn drive(&self) {
        loop {
            let Some(output) = self.poll() else { break };
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
            .connect_socket(url, &self.port.sink(), gen)
        {
            Ok(socket) => self.sockets.borrow_mut().push((gen, Rc::new(socket))),
            Err(e) => {
                self.handle(Input::SocketDown {
                    gen,
                    detail: Some(e),
                    now: now(),
                });
            }
        }
    }

    /// Socket `gen`, if the platform still has it open. Behind `Rc`: no borrow may be held
    /// while JS runs.
    fn socket(&self, gen: u32) -> Option<Rc<Socket>> {
        self.sockets
            .borrow()
            .iter()
            .find(|(g, _)| *g == gen)
            .map(|(_, s)| Rc::clone(s))
    }

    /// Hand a packet to socket `gen`; false when it could not (the core was told).
    fn send(&self, gen: u32, packet: Packet<JsString>) -> bool {
        let strings = &self.strings;
        let frame = match &packet {
            Packet::Message(f) => f,
            Packet::Ping => &strings.ping,
            Packet::Close => &strings.close,
        };
        let sent = self.socket(gen).is_some_and(|s| s.send(frame));
        if !sent {
            self.handle(Input::SendFailed {
                gen,
                packet,
                now: now(),
            });
            return false;
        }
        self.env.log(|| {
            let kind = match packet {
                Packet::Message(_) => "message",
                Packet::Ping => "ping",
                Packet::Close => "close",
            };
            packet_out(self.id, kind, frame.length())
        });
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
                self.handle(Input::SocketOpened { gen, now: now() });
            }
            SOCKET_CLOSE | SOCKET_ERROR => {
                // The platform is done with this socket whatever the core decides (if the
                // list is busy, the core's CloseSocket removes it a moment later).
                if let Ok(mut sockets) = self.sockets.try_borrow_mut() {
                    sockets.retain(|(g, _)| *g != gen);
                }
                // The platform's own result: `{ errMsg }` of an error, `{ code, reason }` of a close.
                let detail = (!data.is_undefined() && !data.is_null()).then(|| data.clone());
                self.handle(Input::SocketDown {
                    gen,
                    detail,
                    now: now(),
                });
            }
            _ => {}
        }
        self.drive();
    }

    /// A text frame (the adapter reports anything else as `SOCKET_BINARY`).
    fn on_frame(&self, gen: u32, frame: &JsString) {
        let len = frame.length() as usize;
        // Data path (while the gate is shut: logging, a stale socket, a frame too long):
        // recognised by its prefix, never copied into wasm.
        if len > MESSAGE_CONTENT_AT && starts_with(frame, &self.strings.message_prefix) {
            let handled = self.handle(Input::MessageFrame { gen, len });
            if let Handled::Deliver { content_at } = handled {
                self.deliver(frame, content_at, len);
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
        let handled = self.handle(Input::Frame {
            gen,
            head: &head,
            len,
            now: now(),
        });
        if let Handled::Deliver { content_at } = handled {
            self.deliver(frame, content_at, len);
        }
    }

    fn dropped(&self, reason: &'static str, len: usize) {
        self.handle(Input::Dropped { reason, len });
    }

    /// A `message` packet the core took in: the port parses it and hands it to its
    /// listeners (or says why it dropped it).
    fn deliver(&self, frame: &JsString, content_at: usize, len: usize) {
        if let Some(reason) = dropped_reason(self.port.deliver(frame, content_at as u32)) {
            self.dropped(reason, len);
        }
    }

    /// Call the listeners of the event (and `*`): the port's, in registration order, each
    /// behind its `try` (an exception is reported, never thrown back here).
    fn emit_event(&self, e: Event<JsValue>) {
        let name = e.name();
        let payload = match e {
            Event::Error(err) => to_js(&TunnelError {
                code: err.code,
                message: err.message,
                detail: err.detail.map(Js),
            }),
            _ => JsValue::UNDEFINED,
        };
        self.port.dispatch(name, &payload);
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
