//! The flows driven by a scripted platform: storage is a JSON value, every platform call
//! waits in `pending` until the test answers it.

use super::*;
use crate::sansio::error::ErrorType;
use crate::sansio::protocol::{Protocol, HEADER_CODE, HEADER_ID, HEADER_SKEY, MAGIC_ID};
use serde_json::{json, Value as Json};

const LOGIN_URL: &str = "https://x/login";

/// A platform call waiting for its answer.
#[derive(Clone, Debug, PartialEq)]
enum Call_ {
    CheckSession,
    WxLogin,
    UserInfo(Option<String>),
    Login(LoginRequest<Json>),
    Send(Headers),
}

struct Harness {
    f: Flows<Json>,
    /// The stored session value (`null`: nothing stored).
    storage: Json,
    pending: Vec<(OpId, Call_)>,
    /// Calls the machine gave up on (`Action::Abort`) that the platform cannot abort
    /// (`wx.login` and the like): they still answer, and must change nothing.
    orphans: Vec<(OpId, Call_)>,
    /// Calls aborted (`Action::Abort` of a request task).
    aborted: Vec<(OpId, Call_)>,
    /// The URL of every `Send`, by operation, in order (`None`: the caller's as given).
    urls: Vec<(OpId, Option<String>)>,
    done: Vec<(OpId, Result<Json, Failure<Json>>)>,
    logs: Vec<Record>,
    /// Every platform call ever made, in order.
    calls: Vec<(OpId, Call_)>,
    next_op: OpId,
}

impl Harness {
    fn new() -> Self {
        let mut f = Flows::default();
        f.set_login_url(LOGIN_URL).unwrap();
        Harness {
            f,
            storage: Json::Null,
            pending: vec![],
            orphans: vec![],
            aborted: vec![],
            urls: vec![],
            done: vec![],
            logs: vec![],
            calls: vec![],
            next_op: 1,
        }
    }

    fn with_protocol(mut self, p: &str) -> Self {
        let o = Options {
            protocol: Some(p.into()),
            ..Options::default()
        };
        self.f.configure(&o).unwrap();
        self
    }

    fn input(&mut self, input: Input<Json>) {
        self.f.handle(input, self.storage.clone());
        while let Some(a) = self.f.poll() {
            let call = match a {
                Action::CheckSession { op } => (op, Call_::CheckSession),
                Action::WxLogin { op } => (op, Call_::WxLogin),
                Action::GetUserInfo { op, lang } => (op, Call_::UserInfo(lang)),
                Action::Login { op, request } => (op, Call_::Login(request)),
                Action::Send {
                    op, url, headers, ..
                } => {
                    self.urls.push((op, url));
                    (op, Call_::Send(headers))
                }
                Action::Abort { op } => {
                    let i = self
                        .pending
                        .iter()
                        .position(|(o, _)| *o == op)
                        .unwrap_or_else(|| panic!("op {op} aborted but waits for nothing"));
                    let call = self.pending.remove(i);
                    if matches!(call.1, Call_::Send(_) | Call_::Login(_)) {
                        self.aborted.push(call);
                    } else {
                        self.orphans.push(call);
                    }
                    continue;
                }
                Action::Store(v) => {
                    self.storage = v.unwrap_or(Json::Null);
                    continue;
                }
                Action::Done { op, result } => {
                    assert!(
                        self.done.iter().all(|(o, _)| *o != op),
                        "op {op} finished twice"
                    );
                    self.done.push((op, result));
                    continue;
                }
                Action::Log(r) => {
                    self.logs.push(r);
                    continue;
                }
            };
            self.calls.push(call.clone());
            self.pending.push(call);
        }
    }

    fn start(&mut self, call: Call<Json>) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        self.input(Input::Start { op, call });
        op
    }

    fn login(&mut self, call: LoginCall) -> OpId {
        self.start(Call::Login {
            call,
            options: json!({}),
        })
    }

    fn request(&mut self, options: Json) -> OpId {
        self.start(Call::Request {
            transfer: Transfer::Request,
            options,
        })
    }

    fn cancel(&mut self, op: OpId) {
        self.input(Input::Cancel { op });
    }

    /// Answer the oldest orphaned call of `op`: nothing may follow from it.
    fn answer_orphan(&mut self, op: OpId, result: Result<Json, Json>) {
        let i = self
            .orphans
            .iter()
            .position(|(o, _)| *o == op)
            .expect("an orphan");
        self.orphans.remove(i);
        let (calls, done) = (self.calls.len(), self.done.len());
        self.input(Input::Answered { op, result });
        assert_eq!(
            (self.calls.len(), self.done.len()),
            (calls, done),
            "an orphaned answer changed something"
        );
    }

    fn is_aborted(&self, op: OpId) -> bool {
        matches!(self.result(op), Err(Failure::Sdk(e)) if e.ty == ErrorType::RequestAborted)
    }

    /// Answer the oldest pending call of operation `op`.
    fn answer(&mut self, op: OpId, result: Result<Json, Json>) -> Call_ {
        let i = self
            .pending
            .iter()
            .position(|(o, _)| *o == op)
            .unwrap_or_else(|| panic!("op {op} waits for nothing: {:?}", self.pending));
        let (_, call) = self.pending.remove(i);
        self.input(Input::Answered { op, result });
        call
    }

    /// The oldest pending call (any operation).
    fn next(&self) -> (OpId, Call_) {
        self.pending.first().cloned().expect("a pending call")
    }

    fn count_of(&self, op: OpId, want: fn(&Call_) -> bool) -> usize {
        self.calls
            .iter()
            .filter(|(o, c)| *o == op && want(c))
            .count()
    }

    fn count(&self, want: fn(&Call_) -> bool) -> usize {
        self.calls.iter().filter(|(_, c)| want(c)).count()
    }

    fn result(&self, op: OpId) -> &Result<Json, Failure<Json>> {
        &self
            .done
            .iter()
            .find(|(o, _)| *o == op)
            .unwrap_or_else(|| panic!("op {op} is not done"))
            .1
    }

    fn error(&self, op: OpId) -> SdkError {
        match self.result(op) {
            Err(Failure::Sdk(e)) => e.clone(),
            other => panic!("op {op}: {other:?}"),
        }
    }

    /// Run a full login for the oldest pending `wx.login` with these answers.
    fn complete_wx(&mut self, op: OpId) {
        assert_eq!(self.answer(op, Ok(json!({ "code": "c1" }))), Call_::WxLogin);
    }
}

fn ok(status: u16, data: Json) -> Result<Json, Json> {
    Ok(json!({ "statusCode": status, "data": data, "header": {} }))
}

fn wafer1_session(n: u32) -> Json {
    json!({ MAGIC_ID: 1, "session": { "id": format!("id{n}"), "skey": format!("skey{n}") } })
}

fn wafer2_session(n: u32) -> Json {
    json!({ "code": 0, "data": { "skey": format!("k{n}"), "userinfo": { "nickName": "n" }, "openId": "o" } })
}

fn profile() -> Json {
    json!({ "userInfo": { "nickName": "小明" }, "encryptedData": "enc", "iv": "iv" })
}

fn is_wx(c: &Call_) -> bool {
    *c == Call_::WxLogin
}

fn is_login(c: &Call_) -> bool {
    matches!(c, Call_::Login(_))
}

fn is_send(c: &Call_) -> bool {
    matches!(c, Call_::Send(_))
}

#[test]
fn wafer1_login_runs_wx_login_user_info_and_stores_the_official_shape() {
    let mut h = Harness::new();
    let op = h.start(Call::Login {
        call: LoginCall::Login,
        options: json!({ "lang": "zh_CN" }),
    });
    h.complete_wx(op);
    assert_eq!(
        h.answer(op, Ok(profile())),
        Call_::UserInfo(Some("zh_CN".into()))
    );
    let (_, Call_::Login(req)) = h.next() else {
        panic!("{:?}", h.pending)
    };
    assert_eq!(req.url, LOGIN_URL);
    assert_eq!(req.headers, login::login_headers("c1", Some(("enc", "iv"))));
    h.answer(op, ok(200, wafer1_session(1)));
    assert_eq!(h.result(op), &Ok(json!({ "nickName": "小明" })));
    assert_eq!(
        h.storage,
        json!({ "id": "id1", "skey": "skey1", "userInfo": { "nickName": "小明" } })
    );
    assert_eq!(
        h.logs,
        vec![
            Record::Login { mode: "full" },
            Record::LoginOk { dialect: "wafer1" }
        ]
    );
    assert_eq!(
        h.f.session_headers(&h.storage).0,
        vec![
            (HEADER_ID, "id1".to_owned()),
            (HEADER_SKEY, "skey1".to_owned())
        ]
    );
}

#[test]
fn concurrent_logins_share_one_wx_login() {
    let mut h = Harness::new();
    let ops: Vec<OpId> = (0..8).map(|_| h.login(LoginCall::Login)).collect();
    assert_eq!(h.count(is_wx), 1);
    assert_eq!(
        h.logs.iter().filter(|r| **r == Record::LoginJoined).count(),
        7
    );
    h.complete_wx(ops[0]);
    h.answer(ops[0], Ok(profile()));
    h.answer(ops[0], ok(200, wafer1_session(1)));
    for op in &ops {
        assert_eq!(h.result(*op), &Ok(json!({ "nickName": "小明" })));
    }
    assert_eq!(h.count(is_login), 1);
    // A stored session WeChat still vouches for answers Wafer 1 login() without a login.
    let again = h.login(LoginCall::Login);
    assert_eq!(h.answer(again, Ok(json!(true))), Call_::CheckSession);
    assert_eq!(h.result(again), &Ok(json!({ "nickName": "小明" })));
    assert_eq!(h.count(is_wx), 1);
}

#[test]
fn a_stale_wafer1_session_is_cleared_and_replaced() {
    let mut h = Harness::new();
    h.storage = json!({ "id": "old", "skey": "old", "userInfo": {} });
    let op = h.login(LoginCall::Login);
    assert_eq!(h.answer(op, Ok(json!(false))), Call_::CheckSession);
    assert_eq!(h.storage, Json::Null, "the stale session is cleared");
    assert_eq!(h.logs[0], Record::CheckSession { valid: false });
    h.complete_wx(op);
    h.answer(op, Ok(profile()));
    h.answer(op, ok(200, wafer1_session(2)));
    assert_eq!(h.storage["skey"], "skey2");
}

#[test]
fn wafer2_login_always_asks_the_server_and_stores_data_as_is() {
    let mut h = Harness::new();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let op = h.login(LoginCall::Login);
    assert_eq!(h.next().1, Call_::WxLogin, "no checkSession shortcut");
    h.complete_wx(op);
    h.answer(op, Ok(profile()));
    h.answer(op, ok(200, wafer2_session(1)));
    assert_eq!(h.result(op), &Ok(json!({ "nickName": "n" })));
    assert_eq!(
        h.storage,
        json!({ "skey": "k1", "userinfo": { "nickName": "n" }, "openId": "o" })
    );
    // loginWithCode(): the code alone.
    let op = h.login(LoginCall::WithCode);
    h.complete_wx(op);
    let (_, Call_::Login(req)) = h.next() else {
        panic!()
    };
    assert_eq!(req.headers, vec![(HEADER_CODE, "c1".to_owned())]);
}

#[test]
fn a_burst_of_login_true_requests_with_a_valid_session_costs_one_check_and_no_login() {
    let mut h = Harness::new();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let ops: Vec<OpId> = (0..20)
        .map(|_| h.request(json!({ "url": "https://x/api", "login": true })))
        .collect();
    assert_eq!(h.count(|c| *c == Call_::CheckSession), 1);
    h.answer(ops[0], Ok(json!(true)));
    assert_eq!(h.count(is_send), 20);
    assert_eq!(h.count(is_wx), 0);
    for op in ops {
        h.answer(op, ok(200, json!({ "code": 0, "data": "hi" })));
        assert!(h.result(op).is_ok());
    }
}

#[test]
fn wafer2_rejection_clears_relogins_with_the_code_and_retries_once() {
    let mut h = Harness::new();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let op = h.request(json!({ "url": "https://x/api" }));
    assert_eq!(
        h.answer(op, ok(200, json!({ "code": -1, "error": "bad skey" }))),
        Call_::Send(vec![(HEADER_SKEY, "k0".to_owned())])
    );
    assert_eq!(h.storage, Json::Null);
    assert!(h.logs.contains(&Record::Retry {
        reason: "session-invalid"
    }));
    h.complete_wx(op);
    let (_, Call_::Login(req)) = h.next() else {
        panic!("{:?}", h.pending)
    };
    assert_eq!(req.headers.len(), 1, "Wafer 2 renews with the code alone");
    h.answer(op, ok(200, wafer2_session(1)));
    assert_eq!(
        h.next().1,
        Call_::Send(vec![(HEADER_SKEY, "k1".to_owned())])
    );
    // Rejected again: the error, with the server's text.
    h.answer(op, ok(200, json!({ "code": -1, "error": "still bad" })));
    let e = h.error(op);
    assert_eq!(e.ty, ErrorType::SessionInvalid);
    assert_eq!(e.detail.as_deref(), Some("still bad"));
    assert_eq!(h.count(is_send), 2, "one retry, no more");
}

#[test]
fn wafer1_rejections_and_check_failures() {
    let mut h = Harness::new().with_protocol("wafer1");
    h.storage = json!({ "id": "i", "skey": "s" });
    let invalid = json!({ MAGIC_ID: 1, "error": "ERR_INVALID_SESSION", "message": "expired" });
    let op = h.request(json!({ "url": "https://x/api" }));
    h.answer(op, ok(200, invalid.clone()));
    h.complete_wx(op);
    h.answer(op, Ok(profile()));
    h.answer(op, ok(200, wafer1_session(1)));
    h.answer(op, ok(200, invalid));
    assert_eq!(h.error(op).ty, ErrorType::InvalidSession);
    assert_eq!(h.storage, Json::Null);

    h.storage = json!({ "id": "i", "skey": "s" });
    let op = h.request(json!({ "url": "https://x/api" }));
    h.answer(
        op,
        ok(
            200,
            json!({ MAGIC_ID: 1, "error": "ERR_CHECK_LOGIN_FAILED", "message": "down" }),
        ),
    );
    let e = h.error(op);
    assert_eq!(e.ty, ErrorType::CheckLoginFailed);
    assert_eq!(e.kind, ErrorKind::Request);
    assert_eq!(h.count(is_wx), 1, "logging in again would not help");
}

#[test]
fn a_session_renewed_meanwhile_is_used_at_once() {
    let mut h = Harness::new();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let op = h.request(json!({ "url": "https://x/api" }));
    // Another caller logged in while this request was in flight.
    h.storage = json!({ "skey": "k9", "userinfo": {} });
    h.answer(op, ok(401, json!({})));
    assert_eq!(
        h.next().1,
        Call_::Send(vec![(HEADER_SKEY, "k9".to_owned())])
    );
    assert_eq!(h.storage["skey"], "k9", "the new session is not cleared");
    assert!(h.logs.contains(&Record::Retry {
        reason: "session-renewed"
    }));
}

#[test]
fn request_failures_are_typed() {
    let mut h = Harness::new();
    let op = h.request(json!({ "url": "https://x/api" }));
    h.answer(op, Err(json!({ "errMsg": "request:fail timeout" })));
    let e = h.error(op);
    assert_eq!(e.ty, ErrorType::RequestTimeout);
    assert_eq!(e.detail.as_deref(), Some("request:fail timeout"));
    for (options, upload) in [
        (json!({}), false),
        (json!({ "url": "" }), false),
        (json!({ "url": 5 }), false),
        (json!("https://x"), false),
        (json!({ "url": "https://x/up", "name": "f" }), true),
    ] {
        let transfer = if upload {
            Transfer::Upload
        } else {
            Transfer::Request
        };
        let op = h.start(Call::Request { transfer, options });
        let e = h.error(op);
        assert_eq!(
            (e.kind, e.ty),
            (ErrorKind::Request, ErrorType::InvalidParams)
        );
    }
}

#[test]
fn upload_answers_are_parsed_only_to_find_session_failures() {
    let mut h = Harness::new();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let op = h.start(Call::Request {
        transfer: Transfer::Upload,
        options: json!({ "url": "https://x/up", "filePath": "/tmp/a", "name": "file" }),
    });
    h.answer(op, ok(200, json!("{\"code\":-1}")));
    assert_eq!(h.next().1, Call_::WxLogin);
    let op2 = h.start(Call::Request {
        transfer: Transfer::Upload,
        options: json!({ "url": "https://x/up", "filePath": "/tmp/a", "name": "file" }),
    });
    h.complete_wx(op);
    h.answer(op, ok(200, wafer2_session(1)));
    // op2 joined the renewal... it was sent before it, with no session: answer it plainly.
    h.answer(op2, ok(200, json!("not json")));
    assert_eq!(h.result(op2).as_ref().unwrap()["data"], "not json");
}

#[test]
fn handshake_logs_in_first_when_no_session_is_stored() {
    let mut h = Harness::new();
    let op = h.start(Call::Handshake);
    assert_eq!(h.next().1, Call_::WxLogin);
    h.complete_wx(op);
    h.answer(op, Ok(profile()));
    h.answer(op, ok(200, wafer1_session(1)));
    assert!(matches!(h.next().1, Call_::Send(ref hs) if hs.len() == 2));
    let answer = ok(200, json!({ "url": "wss://t" }));
    h.answer(op, answer.clone());
    assert_eq!(h.result(op).as_ref().ok(), answer.as_ref().ok());

    // Without a login URL it goes out anonymously.
    let mut anon = Harness::new();
    anon.f = Flows::default();
    let op = anon.start(Call::Handshake);
    assert_eq!(anon.next().1, Call_::Send(vec![]));
    // A transport failure is the platform's own result (the tunnel's error detail).
    anon.answer(op, Err(json!({ "errMsg": "request:fail" })));
    assert_eq!(
        anon.result(op),
        &Err(Failure::Platform(json!({ "errMsg": "request:fail" })))
    );
}

#[test]
fn handshakes_keep_logging_in_after_an_auth_server_outage() {
    // The sequencing bug this machine exists to prevent: a failed renewal must not leave
    // a login "running" that later handshakes wait on forever.
    let mut h = Harness::new().with_protocol("wafer2");
    for round in 0..3 {
        let op = h.start(Call::Handshake);
        h.complete_wx(op);
        h.answer(
            op,
            Err(json!({ "errMsg": "request:fail auth server down" })),
        );
        let e = h.error(op);
        assert_eq!(e.ty, ErrorType::LoginFailed, "round {round}");
        assert!(h.pending.is_empty());
    }
    let op = h.start(Call::Handshake);
    h.complete_wx(op);
    h.answer(op, ok(200, wafer2_session(1)));
    h.answer(
        op,
        ok(
            200,
            json!({ "code": 0, "data": { "connectUrl": "ws://t" } }),
        ),
    );
    assert!(h.result(op).is_ok());
    assert_eq!(h.count(is_wx), 4);
}

#[test]
fn callers_that_cannot_share_wait_for_the_running_login() {
    let mut h = Harness::new().with_protocol("wafer2");
    let on_demand = h.request(json!({ "url": "https://x/api", "login": true }));
    let login = h.login(LoginCall::Login);
    let with_code = h.login(LoginCall::WithCode);
    assert_eq!(h.count(is_wx), 1);
    assert_eq!(
        h.logs.iter().filter(|r| **r == Record::LoginQueued).count(),
        2
    );
    h.complete_wx(on_demand);
    h.answer(on_demand, ok(200, wafer2_session(1)));
    // The queued login() leads the next login; loginWithCode() waits again.
    assert_eq!(h.count(is_wx), 2);
    assert!(h.pending.iter().any(|(o, c)| *o == login && is_wx(c)));
    assert!(!h.pending.iter().any(|(o, _)| *o == with_code));
    h.complete_wx(login);
    h.answer(login, Ok(profile()));
    h.answer(login, ok(200, wafer2_session(2)));
    assert!(h.result(login).is_ok());
    h.complete_wx(with_code);
    h.answer(with_code, ok(200, wafer2_session(3)));
    assert!(h.result(with_code).is_ok());
    assert_eq!(h.storage["skey"], "k3");
}

#[test]
fn request_login_sends_the_page_credentials() {
    let mut h = Harness::new();
    let op = h.start(Call::Login {
        call: LoginCall::Given,
        options: json!({ "loginParams": { "code": "page-code", "encryptedData": "e", "iv": "v", "userInfo": { "nickName": "p" } } }),
    });
    let (_, Call_::Login(req)) = h.next() else {
        panic!("{:?}", h.pending)
    };
    assert_eq!(
        req.headers,
        login::login_headers("page-code", Some(("e", "v")))
    );
    h.answer(op, ok(200, wafer1_session(1)));
    assert_eq!(h.storage["userInfo"], json!({ "nickName": "p" }));
    assert_eq!(h.count(is_wx), 0);
    for options in [
        json!({}),
        json!({ "loginParams": {} }),
        json!({ "loginParams": { "code": "" } }),
    ] {
        let op = h.start(Call::Login {
            call: LoginCall::Given,
            options,
        });
        assert_eq!(h.error(op).ty, ErrorType::InvalidParams);
    }
}

#[test]
fn login_failures_are_typed() {
    let mut h = Harness::new();
    let op = h.login(LoginCall::Login);
    h.answer(op, Err(json!({ "errMsg": "login:fail" })));
    assert_eq!(h.error(op).ty, ErrorType::WxLoginFailed);
    let op = h.login(LoginCall::Login);
    h.answer(op, Ok(json!({ "code": "" })));
    assert_eq!(h.error(op).ty, ErrorType::WxLoginFailed);
    let op = h.login(LoginCall::Login);
    h.complete_wx(op);
    h.answer(op, Err(json!({ "errMsg": "getUserInfo:fail auth deny" })));
    let e = h.error(op);
    assert_eq!(e.ty, ErrorType::WxGetUserInfo);
    assert_eq!(e.detail.as_deref(), Some("getUserInfo:fail auth deny"));
    let op = h.login(LoginCall::Login);
    h.complete_wx(op);
    h.answer(op, Ok(profile()));
    h.answer(op, ok(200, json!({ "code": 0, "data": {} })));
    assert_eq!(h.error(op).ty, ErrorType::LoginMissingSession);
    assert!(h.logs.contains(&Record::LoginFailed {
        ty: "ERR_LOGIN_MISSING_SESSION"
    }));
    // Options of the wrong type, and no login URL at all.
    let op = h.start(Call::Login {
        call: LoginCall::Login,
        options: json!({ "loginUrl": 5 }),
    });
    assert_eq!(h.error(op).ty, ErrorType::InvalidParams);
    let mut none = Harness::new();
    none.f = Flows::default();
    let op = none.login(LoginCall::Login);
    let e = none.error(op);
    assert_eq!((e.kind, e.ty), (ErrorKind::Login, ErrorType::InvalidParams));
}

#[test]
fn a_login_call_may_bring_its_own_url_method_and_data() {
    let mut h = Harness::new();
    let op = h.start(Call::Login {
        call: LoginCall::WithCode,
        options: json!({ "loginUrl": "https://y/login", "method": "POST", "data": { "a": 1 } }),
    });
    h.complete_wx(op);
    let (_, Call_::Login(req)) = h.next() else {
        panic!()
    };
    assert_eq!(req.url, "https://y/login");
    assert_eq!(req.method.as_deref(), Some("POST"));
    assert_eq!(req.data, Some(json!({ "a": 1 })));
}

#[test]
fn the_configured_protocol_decides_what_a_login_answer_may_be() {
    let mut h = Harness::new().with_protocol("wafer2");
    let op = h.login(LoginCall::WithCode);
    h.complete_wx(op);
    h.answer(op, ok(200, wafer1_session(1)));
    assert_eq!(h.error(op).ty, ErrorType::LoginMissingSession);
    assert_eq!(h.f.config().protocol, Protocol::Fixed(Dialect::Wafer2));
}

#[test]
fn stray_answers_change_nothing() {
    let mut h = Harness::new();
    h.input(Input::Answered {
        op: 99,
        result: Ok(json!(true)),
    });
    let op = h.request(json!({ "url": "https://x/api", "login": true }));
    // Waiting in the flight, not on the platform: nothing to answer.
    let joined = h.request(json!({ "url": "https://x/api", "login": true }));
    h.input(Input::Answered {
        op: joined,
        result: Ok(json!({})),
    });
    assert!(h.done.is_empty());
    assert_eq!(h.pending.len(), 1);
    h.complete_wx(op);
    assert!(h.pending.iter().all(|(o, _)| *o == op));
}

fn download(h: &mut Harness, options: Json) -> OpId {
    h.start(Call::Request {
        transfer: Transfer::Download,
        options,
    })
}

#[test]
fn downloads_detect_a_session_failure_by_the_status_alone() {
    let mut h = Harness::new();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let file = |status: u16| Ok(json!({ "statusCode": status, "tempFilePath": "http://tmp/a" }));
    let op = download(&mut h, json!({ "url": "https://x/file" }));
    h.answer(op, file(401));
    assert_eq!(h.storage, Json::Null, "the rejected session is cleared");
    h.complete_wx(op);
    h.answer(op, ok(200, wafer2_session(1)));
    assert_eq!(
        h.next().1,
        Call_::Send(vec![(HEADER_SKEY, "k1".to_owned())])
    );
    h.answer(op, file(200));
    assert_eq!(
        h.result(op).as_ref().unwrap()["tempFilePath"],
        "http://tmp/a"
    );
    // A failure body is a file the SDK never reads: delivered as it is.
    let op = download(&mut h, json!({ "url": "https://x/file" }));
    let answer =
        Ok(json!({ "statusCode": 200, "tempFilePath": "http://tmp/b", "data": { "code": -1 } }));
    h.answer(op, answer.clone());
    assert_eq!(h.result(op).as_ref().ok(), answer.as_ref().ok());
    // filePath and name are upload options only.
    let op = download(&mut h, json!({}));
    assert_eq!(h.error(op).ty, ErrorType::InvalidParams);
}

#[test]
fn relative_urls_go_out_joined_to_the_base_url_on_every_send() {
    let mut h = Harness::new();
    let o = Options {
        base_url: Some("https://x/api/".into()),
        ..Options::default()
    };
    h.f.configure(&o).unwrap();
    h.storage = json!({ "skey": "k0", "userinfo": {} });
    let rel = h.request(json!({ "url": "/user" }));
    let abs = h.request(json!({ "url": "https://y/user" }));
    h.answer(rel, ok(401, json!({})));
    h.complete_wx(rel);
    h.answer(rel, ok(200, wafer2_session(1)));
    let urls: Vec<_> = h
        .urls
        .iter()
        .filter(|(o, _)| *o == rel)
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(
        urls,
        vec![Some("https://x/api/user".to_owned()); 2],
        "the retry too"
    );
    assert_eq!(h.urls.iter().find(|(o, _)| *o == abs).unwrap().1, None);
    let login = h.calls.iter().find_map(|(_, c)| match c {
        Call_::Login(r) => Some(r.url.clone()),
        _ => None,
    });
    assert_eq!(
        login.as_deref(),
        Some(LOGIN_URL),
        "the login URL is not joined"
    );
}

#[test]
fn an_aborted_request_ends_at_once_and_its_task_is_aborted() {
    let mut h = Harness::new();
    let op = h.request(json!({ "url": "https://x/api" }));
    h.cancel(op);
    assert!(h.is_aborted(op));
    assert_eq!(h.aborted.len(), 1, "the wx.request task is aborted");
    assert!(h.pending.is_empty());
    let e = h.error(op);
    assert_eq!(
        (e.kind, e.ty.as_str()),
        (ErrorKind::Request, "ERR_REQUEST_ABORTED")
    );
    // Aborting again, or after the end, changes nothing.
    h.cancel(op);
    let done = h.request(json!({ "url": "https://x/api" }));
    h.answer(done, ok(200, json!({})));
    h.cancel(done);
    assert!(h.result(done).is_ok());
    assert_eq!(h.aborted.len(), 1);
}

#[test]
fn an_abort_during_the_relogin_cancels_the_login_and_the_retry() {
    for at_request in [false, true] {
        let mut h = Harness::new().with_protocol("wafer2");
        h.storage = json!({ "skey": "k0", "userinfo": {} });
        let op = h.request(json!({ "url": "https://x/api" }));
        h.answer(op, ok(401, json!({})));
        assert_eq!(h.next().1, Call_::WxLogin);
        if at_request {
            h.complete_wx(op);
            assert!(matches!(h.next().1, Call_::Login(_)));
        }
        h.cancel(op);
        assert!(h.is_aborted(op));
        assert!(
            h.pending.is_empty(),
            "nothing left waiting: {:?}",
            h.pending
        );
        if at_request {
            assert!(
                matches!(h.aborted[..], [(_, Call_::Login(_))]),
                "the login request is aborted"
            );
        } else {
            // wx.login cannot be aborted: its answer comes and changes nothing.
            h.answer_orphan(op, Ok(json!({ "code": "late" })));
        }
        assert_eq!(h.count(is_send), 1, "no retry");
        // The login is over: the next caller leads its own at once.
        let next = h.request(json!({ "url": "https://x/api", "login": true }));
        assert_eq!(h.pending, vec![(next, Call_::WxLogin)]);
        assert!(!h.logs.contains(&Record::LoginJoined));
    }
}

#[test]
fn aborting_the_leader_of_a_shared_login_fails_nobody_else() {
    let mut h = Harness::new().with_protocol("wafer2");
    let leader = h.request(json!({ "url": "https://x/a", "login": true }));
    let joined = h.request(json!({ "url": "https://x/b", "login": true }));
    h.cancel(leader);
    assert!(h.is_aborted(leader));
    assert!(h.aborted.is_empty(), "the shared login goes on");
    h.complete_wx(leader);
    h.answer(leader, ok(200, wafer2_session(1)));
    assert_eq!(h.storage["skey"], "k1", "its session is stored");
    assert_eq!(
        h.pending,
        vec![(joined, Call_::Send(vec![(HEADER_SKEY, "k1".to_owned())]))]
    );
    h.answer(joined, ok(200, json!({ "code": 0 })));
    assert!(h.result(joined).is_ok());
    assert_eq!(
        h.count_of(leader, is_send),
        0,
        "the aborted caller never sends"
    );
    // Once no caller shares it any more, the login is given up.
    let mut h = Harness::new().with_protocol("wafer2");
    let leader = h.request(json!({ "url": "https://x/a", "login": true }));
    let joined = h.request(json!({ "url": "https://x/b", "login": true }));
    h.complete_wx(leader);
    h.cancel(leader);
    assert!(h.aborted.is_empty());
    h.cancel(joined);
    assert!(h.is_aborted(joined));
    assert!(matches!(h.aborted[..], [(o, Call_::Login(_))] if o == leader));
    assert!(h.pending.is_empty());
}

#[test]
fn callers_waiting_for_an_abandoned_login_log_in_at_once() {
    let mut h = Harness::new().with_protocol("wafer2");
    let on_demand = h.request(json!({ "url": "https://x/a", "login": true }));
    let login = h.login(LoginCall::Login);
    assert!(h.logs.contains(&Record::LoginQueued));
    h.cancel(on_demand);
    h.answer_orphan(on_demand, Ok(json!({ "code": "late" })));
    assert_eq!(
        h.pending,
        vec![(login, Call_::WxLogin)],
        "login() leads now"
    );
    h.complete_wx(login);
    h.answer(login, Ok(profile()));
    h.answer(login, ok(200, wafer2_session(1)));
    assert!(h.result(login).is_ok());
    // A caller that waits and aborts just leaves.
    let lead = h.request(json!({ "url": "https://x/a", "login": true }));
    let wait = h.login(LoginCall::WithCode);
    h.cancel(wait);
    assert!(h.is_aborted(wait));
    h.answer(lead, Ok(json!(true)));
    assert!(matches!(h.next(), (o, Call_::Send(_)) if o == lead));
    assert_eq!(h.count(is_wx), 2);
}

/// Random interleavings of calls, answers and storage changes by other code.
#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use crate::sansio::testing::arb;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Login(u8),
        Request {
            login: bool,
            transfer: u8,
        },
        Handshake,
        /// Answer the pending call number `n` (mod the count) with answer `a`.
        Answer(usize, u8),
        /// The caller of started operation number `n` (mod the count) aborts it.
        Cancel(usize),
        /// An orphaned call (given up on, not abortable) answers after all.
        Orphan(usize, u8),
        /// Other code writes or clears storage.
        Storage(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            2 => (0u8..4).prop_map(Step::Login),
            3 => (any::<bool>(), 0u8..3).prop_map(|(login, transfer)| Step::Request { login, transfer }),
            1 => Just(Step::Handshake),
            8 => (any::<usize>(), any::<u8>()).prop_map(|(n, a)| Step::Answer(n, a)),
            2 => any::<usize>().prop_map(Step::Cancel),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(n, a)| Step::Orphan(n, a)),
            1 => (0u8..3).prop_map(Step::Storage),
        ]
    }

    /// An answer for a pending call: mostly plausible, sometimes failures and garbage.
    fn answer_for(call: &Call_, a: u8) -> Result<Json, Json> {
        let fail = Err(json!({ "errMsg": "fail" }));
        match (call, a % 6) {
            (_, 0) => fail,
            (Call_::CheckSession, n) => Ok(json!(n % 2 == 0)),
            (Call_::WxLogin, 1) => Ok(json!({})),
            (Call_::WxLogin, _) => Ok(json!({ "code": "c" })),
            (Call_::UserInfo(_), _) => Ok(profile()),
            (Call_::Login(_), 1) => ok(200, wafer1_session(u32::from(a))),
            (Call_::Login(_), 2) => ok(200, json!({ "code": -1 })),
            (Call_::Login(_), _) => ok(200, wafer2_session(u32::from(a))),
            (Call_::Send(_), 1) => ok(401, json!({})),
            (Call_::Send(_), 2) => ok(200, json!({ "code": -1, "error": "e" })),
            (Call_::Send(_), 3) => ok(200, json!({ MAGIC_ID: 1, "error": "ERR_INVALID_SESSION" })),
            (Call_::Send(_), _) => ok(200, json!({ "code": 0, "data": {} })),
        }
    }

    proptest! {
        #![proptest_config(arb::config(256))]

        #[test]
        fn every_call_ends_once_with_one_login_at_a_time_and_one_retry_at_most(
            steps in prop::collection::vec(step(), 0..60),
        ) {
            let mut h = Harness::new();
            let mut started = Vec::new();
            let mut cancelled = Vec::new();
            for s in &steps {
                match *s {
                    Step::Login(n) => {
                        let call = [LoginCall::Login, LoginCall::WithCode, LoginCall::Given, LoginCall::OnDemand][usize::from(n)];
                        let options = json!({ "loginParams": { "code": "g" } });
                        started.push(h.start(Call::Login { call, options }));
                    }
                    Step::Request { login, transfer } => started.push(h.start(Call::Request {
                        transfer: [Transfer::Request, Transfer::Upload, Transfer::Download][usize::from(transfer)],
                        options: json!({ "url": "https://x/api", "login": login, "filePath": "f", "name": "n" }),
                    })),
                    Step::Cancel(n) => {
                        if !started.is_empty() {
                            let op = started[n % started.len()];
                            let over = h.done.iter().any(|(o, _)| *o == op);
                            let sends = h.count_of(op, is_send);
                            h.cancel(op);
                            if !over {
                                // An aborted call fails at once, and never sends again.
                                prop_assert!(h.is_aborted(op), "op {} not aborted: {:?}", op, h.result(op));
                                cancelled.push((op, sends));
                            }
                        }
                    }
                    Step::Orphan(n, a) => {
                        if !h.orphans.is_empty() {
                            let (op, call) = h.orphans[n % h.orphans.len()].clone();
                            h.answer_orphan(op, answer_for(&call, a));
                        }
                    }
                    Step::Handshake => started.push(h.start(Call::Handshake)),
                    Step::Answer(n, a) => {
                        if !h.pending.is_empty() {
                            let (op, call) = h.pending[n % h.pending.len()].clone();
                            // Answers come back in the order the platform was asked, per operation.
                            let first = h.pending.iter().find(|(o, _)| *o == op).unwrap().1.clone();
                            h.answer(op, answer_for(&first, a));
                            let _ = call;
                        }
                    }
                    Step::Storage(0) => h.storage = Json::Null,
                    Step::Storage(1) => h.storage = json!({ "skey": "other", "userinfo": {} }),
                    Step::Storage(_) => h.storage = json!("garbage"),
                }
                // At most one login talks to the platform at a time.
                let leading: std::collections::BTreeSet<OpId> = h.pending.iter()
                    .filter(|(_, c)| !is_send(c))
                    .map(|(o, _)| *o)
                    .collect();
                prop_assert!(leading.len() <= 1, "two logins at once: {:?}", h.pending);
                // An operation waits on one platform call at most.
                for (op, _) in &h.pending {
                    prop_assert_eq!(h.pending.iter().filter(|(o, _)| o == op).count(), 1);
                }
                // Nothing runs for nobody: once every call is over, nothing waits.
                if h.done.len() == started.len() {
                    prop_assert!(h.pending.is_empty(), "left behind: {:?}", h.pending);
                }
            }
            // Answer everything that is still pending, plausibly: everything ends.
            let mut rounds = 0;
            while let Some((op, call)) = h.pending.first().cloned() {
                rounds += 1;
                prop_assert!(rounds < 1000, "never settles: {:?}", h.pending);
                h.answer(op, answer_for(&call, 5));
            }
            while let Some((op, call)) = h.orphans.first().cloned() {
                h.answer_orphan(op, answer_for(&call, 5));
            }
            for (op, sends) in &cancelled {
                prop_assert!(h.is_aborted(*op));
                prop_assert_eq!(h.count_of(*op, is_send), *sends, "op {} sent after its abort", op);
            }
            // No login is left running: the next caller leads one at once.
            let next = h.login(LoginCall::WithCode);
            prop_assert_eq!(h.pending.clone(), vec![(next, Call_::WxLogin)]);
            for op in &started {
                prop_assert_eq!(h.done.iter().filter(|(o, _)| o == op).count(), 1, "op {} ended once", op);
                let sends = h.calls.iter().filter(|(o, c)| o == op && is_send(c)).count();
                prop_assert!(sends <= 2, "op {} sent {} times", op, sends);
            }
            prop_assert_eq!(h.done.len(), started.len());
        }
    }
}
