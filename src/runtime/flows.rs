//! Drives the core's [`Flows`](crate::sansio::flows::Flows): starts operations, performs
//! their actions on the platform (each platform promise, once settled, becomes the next
//! input), writes storage, and settles each operation's future. Every decision lives in
//! the core; this file only moves values between it and JavaScript.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::{Rc, Weak};

use futures::channel::oneshot;
use js_sys::{Object, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use crate::sansio::config::Options;
use crate::sansio::error::SdkError;
use crate::sansio::flows::{self, Action, Call, Failure, Input, LoginRequest, OpId, Transfer};
use crate::sansio::protocol::Headers;

use super::boundary::{copy, layer_headers, merge_headers, set, to_js, Js};
use super::env::Env;
use super::log::session_record;
use super::platform::Task;
use super::session;

/// How an operation ended.
pub type Outcome = Result<JsValue, Failure<JsValue>>;

/// The JavaScript side of an operation.
struct Pending {
    op: OpId,
    /// What `Action::Send` sends: the caller's options (a plain copy, header copied) or
    /// the handshake's `{ url, method }`.
    request: Option<Object>,
    transfer: Transfer,
    /// The facade's handle of the call (a function: `abort` finds the call by it, and
    /// uploads and downloads report their progress to it); `undefined` for none.
    token: JsValue,
    done: oneshot::Sender<Outcome>,
}

/// `wx.getUserInfo` options.
#[derive(Serialize)]
struct UserInfoOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<&'a str>,
}

/// `wx.request` options of a login.
#[derive(Serialize)]
struct LoginCall<'a> {
    url: &'a str,
    method: &'a str,
    header: Js,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Js>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<f64>,
}

pub struct Flows {
    env: Rc<Env>,
    core: RefCell<flows::Flows<JsValue>>,
    pending: RefCell<Vec<Pending>>,
    /// The platform call each operation waits on, while it does (for `Action::Abort`).
    tasks: RefCell<Vec<(OpId, Promise)>>,
    /// `configure({ header })`: a plain copy, under each call's own `header`.
    header: RefCell<JsValue>,
    next_op: Cell<OpId>,
    this: Weak<Flows>,
}

impl Flows {
    pub fn new(env: Rc<Env>) -> Rc<Self> {
        Rc::new_cyclic(|this| Flows {
            env,
            core: RefCell::default(),
            pending: RefCell::default(),
            tasks: RefCell::default(),
            header: RefCell::new(JsValue::UNDEFINED),
            next_op: Cell::new(1),
            this: this.clone(),
        })
    }

    /// `configure()` (session side): a rejected call changes nothing.
    pub fn configure(&self, o: &Options) -> Result<(), SdkError> {
        self.core.borrow_mut().configure(o)
    }

    pub fn set_login_url(&self, url: &str) -> Result<(), SdkError> {
        self.core.borrow_mut().set_login_url(url)
    }

    /// `configure({ header })`: a plain copy of the default headers (`null`: none).
    pub fn set_header(&self, header: JsValue) {
        *self.header.borrow_mut() = header;
    }

    /// The caller aborted the calls made with `token` (see [`Pending::token`]).
    pub fn cancel(&self, token: &JsValue) {
        if !token.is_function() {
            return;
        }
        // Each cancelled call ends (`Action::Done` removes it), so the next search finds
        // the next one; bounded all the same.
        let calls = self.pending.borrow().len();
        for _ in 0..calls {
            let op = {
                let list = self.pending.borrow();
                list.iter().find(|p| p.token == *token).map(|p| p.op)
            };
            let Some(op) = op else { break };
            self.handle(Input::Cancel { op });
        }
    }

    pub fn debug(&self) -> bool {
        self.core.borrow().config().debug
    }

    /// The headers of the stored session in the dialect in force.
    pub fn session_headers(&self) -> Headers {
        let stored = session::read(&self.env.platform);
        self.core.borrow().session_headers(&stored).0
    }

    /// Start `call`; the future settles when the operation is over. `request` is what its
    /// sends send (see [`Pending::request`]), `token` the facade's handle of the call.
    pub fn run(
        &self,
        call: Call<JsValue>,
        request: Option<Object>,
        token: JsValue,
    ) -> impl Future<Output = Outcome> {
        let op = self.next_op.get();
        self.next_op.set(op.wrapping_add(1));
        let (done, settled) = oneshot::channel();
        let transfer = match &call {
            Call::Request { transfer, .. } => *transfer,
            _ => Transfer::Request,
        };
        self.pending.borrow_mut().push(Pending {
            op,
            request,
            transfer,
            token,
            done,
        });
        self.handle(Input::Start { op, call });
        async move {
            // Every operation ends with `Action::Done`; a dropped sender would be a bug,
            // reported as a failed request rather than a promise that never settles.
            settled
                .await
                .unwrap_or_else(|_| Err(Failure::Sdk(SdkError::request_failed(None))))
        }
    }

    /// Feed an input with the stored value as storage holds it now, then act.
    fn handle(&self, input: Input<JsValue>) {
        let stored = session::read(&self.env.platform);
        self.core.borrow_mut().handle(input, stored);
        self.drive();
    }

    /// Perform every pending action. No borrow of the core is held while JavaScript
    /// runs (page code called from the logger may call straight back in).
    fn drive(&self) {
        loop {
            let next = self.core.borrow_mut().poll();
            let Some(action) = next else { break };
            match action {
                Action::CheckSession { op } => self.ask(op, self.env.platform.check_session()),
                Action::WxLogin { op } => self.ask(op, self.env.platform.login()),
                Action::GetUserInfo { op, lang } => {
                    let options = to_js(&UserInfoOptions {
                        lang: lang.as_deref(),
                    });
                    self.ask(op, self.env.platform.get_user_info(&options.into()));
                }
                Action::Login { op, request } => {
                    let options = login_call(&request);
                    self.ask(op, self.env.platform.request(&options));
                }
                Action::Send {
                    op,
                    url,
                    headers,
                    timeout,
                } => self.send(op, url, &headers, timeout),
                Action::Abort { op } => {
                    if let Some(t) = self.take_task(op) {
                        let _ = t.unchecked_ref::<Task>().abort();
                    }
                }
                Action::Store(value) => {
                    session::write(&self.env.platform, &value.unwrap_or(JsValue::NULL))
                }
                Action::Done { op, result } => {
                    let pending = {
                        let mut list = self.pending.borrow_mut();
                        let i = list.iter().position(|p| p.op == op);
                        i.map(|i| list.swap_remove(i))
                    };
                    if let Some(p) = pending {
                        let _ = p.done.send(result);
                    }
                }
                Action::Log(record) => self.env.log(|| session_record(&record)),
            }
        }
    }

    /// The operation's own request: a copy of what it sends, at the URL the core joined
    /// to `baseUrl`, with the caller's headers over `configure({ header })` and the
    /// session's over both, and the configured timeout when the call sets none.
    fn send(&self, op: OpId, url: Option<String>, headers: &Headers, timeout: Option<u64>) {
        let (request, transfer, token) = {
            let list = self.pending.borrow();
            match list.iter().find(|p| p.op == op) {
                Some(p) => (p.request.clone(), p.transfer, p.token.clone()),
                None => return,
            }
        };
        // The request is a plain object made by `copy`: reading it runs no page code.
        let call = copy(&request.map(JsValue::from).unwrap_or_default()).unwrap_or_default();
        for key in ["success", "fail", "complete", "login"] {
            let _ = Reflect::delete_property(&call, &JsValue::from_str(key));
        }
        if let Some(url) = url {
            set(&call, "url", &JsValue::from_str(&url));
        }
        let header = Reflect::get(&call, &JsValue::from_str("header")).unwrap_or_default();
        let header = layer_headers(&self.header.borrow(), &header);
        set(&call, "header", &merge_headers(&header, headers));
        // The adapter hands the wx task's progress events to the facade's handle.
        if transfer != Transfer::Request && token.is_function() {
            set(&call, "onProgressUpdate", &token);
        }
        if let Some(ms) = timeout {
            let unset = Reflect::get(&call, &JsValue::from_str("timeout"))
                .map_or(true, |t| t.is_undefined());
            if unset {
                set(&call, "timeout", &JsValue::from(ms as f64));
            }
        }
        let platform = &self.env.platform;
        let promise = match transfer {
            Transfer::Request => platform.request(&call),
            Transfer::Upload => platform.upload_file(&call),
            Transfer::Download => platform.download_file(&call),
        };
        self.ask(op, promise);
    }

    /// The platform call operation `op` waits on, no longer kept.
    fn take_task(&self, op: OpId) -> Option<Promise> {
        let mut tasks = self.tasks.borrow_mut();
        let i = tasks.iter().position(|(o, _)| *o == op)?;
        Some(tasks.swap_remove(i).1)
    }

    /// Feed the settled `promise` back as operation `op`'s answer (a call that threw at
    /// once answers with what it threw).
    fn ask(&self, op: OpId, promise: Result<Promise, JsValue>) {
        let Some(me) = self.this.upgrade() else {
            return;
        };
        if let Ok(p) = &promise {
            self.tasks.borrow_mut().push((op, p.clone()));
        }
        spawn_local(async move {
            let result = match promise {
                Ok(p) => {
                    let result = JsFuture::from(p).await;
                    // An operation waits on one platform call at a time: this one.
                    me.take_task(op);
                    result
                }
                Err(thrown) => Err(thrown),
            };
            me.handle(Input::Answered { op, result });
        });
    }
}

/// The `wx.request` options of a login.
fn login_call(r: &LoginRequest<JsValue>) -> Object {
    let call = LoginCall {
        url: &r.url,
        method: r.method.as_deref().unwrap_or("GET"),
        header: Js(merge_headers(&JsValue::UNDEFINED, &r.headers).into()),
        data: r.data.clone().map(Js),
        timeout: r.timeout.map(|ms| ms as f64),
    };
    to_js(&call).into()
}
