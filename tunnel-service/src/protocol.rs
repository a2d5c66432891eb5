//! The business-server side of the Wafer tunnel protocol: signed JSON envelopes
//! `{data: JSON-string, tcId, tcKey?, signature}`, the `/get/wsurl` and `/ws/push`
//! parameters, the answers and the reports posted to `receiveUrl`.
//!
//! Errors are answered HTTP 200 with a `code` (what the official server SDKs read:
//! they throw `信道服务调用失败：<code> - <message>`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::signature;

/// `code` values of an error answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The body is not JSON.
    BadJson = 9001,
    /// No `data` string or no `signature`.
    BadRequest = 9002,
    /// `signature` does not sign `data`.
    BadSignature = 9003,
    /// `data` is not JSON.
    BadData = 9004,
    /// `data` is JSON but not the expected parameters.
    BadParam = 9005,
    /// Too many unused connect URLs are held; try later.
    Busy = 9006,
    /// The tunnel registry (Redis) cannot be reached; try later.
    Unavailable = 9007,
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({ "code": self.code as u16, "message": self.message })
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Value>,
    signature: Option<Value>,
}

/// Read a signed envelope: the parsed `data` when the signature holds.
pub fn open_envelope(body: &[u8], key: &str) -> Result<Value, ApiError> {
    let env: Envelope = serde_json::from_slice(body)
        .map_err(|_| ApiError::new(Code::BadJson, "Bad request - request data is not json"))?;
    let (Some(Value::String(data)), Some(Value::String(sig))) = (env.data, env.signature) else {
        return Err(ApiError::new(
            Code::BadRequest,
            "Bad request - invalid request data",
        ));
    };
    if !signature::verify(&data, &sig, key) {
        return Err(ApiError::new(
            Code::BadSignature,
            "Bad request - check signature failed",
        ));
    }
    serde_json::from_str(&data)
        .map_err(|_| ApiError::new(Code::BadData, "Bad request - parse data failed"))
}

/// `/get/wsurl` parameters: the receiveUrl, normalized and checked.
pub fn wsurl_params(data: &Value) -> Result<String, ApiError> {
    let Some(raw) = data.get("receiveUrl").and_then(Value::as_str) else {
        return Err(ApiError::new(
            Code::BadParam,
            "Bad request - data.receiveUrl is required",
        ));
    };
    let url = normalize_receive_url(raw);
    match url.parse::<hyper::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some() => {
            Ok(url)
        }
        _ => Err(ApiError::new(
            Code::BadParam,
            format!("Bad request - invalid receiveUrl {raw}"),
        )),
    }
}

/// `qcloud-weapp-server-sdk` formats `receiveUrl` with `url.format({hostname: ServerHost})`:
/// a ServerHost with a port comes out as `http://[127.0.0.1:8080]/tunnel`. Un-bracket
/// anything that is not an IPv6 literal (at most one colon inside the brackets).
pub fn normalize_receive_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        if let Some(inner) = rest.strip_prefix('[') {
            if let Some(close) = inner.find(']') {
                let host = &inner[..close];
                if host.matches(':').count() <= 1 {
                    return [&url[..scheme_end + 3], host, &inner[close + 1..]].concat();
                }
            }
        }
    }
    url.to_owned()
}

/// One `/ws/push` item: a packet for some tunnels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushItem {
    pub tunnel_ids: Vec<String>,
    /// The frame: `type` or `type:content`.
    pub frame: String,
    /// A `close` packet: the sockets are closed after it.
    pub close: bool,
}

/// `/ws/push` data: an array of `{tunnelIds, type, content?}` (one object is accepted too).
pub fn push_items(data: Value) -> Result<Vec<PushItem>, ApiError> {
    let list = match data {
        Value::Array(items) => items,
        item @ Value::Object(_) => vec![item],
        _ => {
            return Err(ApiError::new(
                Code::BadParam,
                "Bad request - data must be an array of {tunnelIds, type, content}",
            ))
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let bad =
            |what: &str| ApiError::new(Code::BadParam, format!("Bad request - data[{i}]: {what}"));
        let Value::Object(mut item) = item else {
            return Err(bad("not an object"));
        };
        let Some(Value::Array(ids)) = item.remove("tunnelIds") else {
            return Err(bad("tunnelIds must be an array"));
        };
        let tunnel_ids = ids
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad("tunnelIds must be strings")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let packet_type = match item.get("type") {
            Some(Value::String(t)) if !t.is_empty() && !t.contains(':') => t.clone(),
            _ => return Err(bad("type must be a non-empty string without ':'")),
        };
        let content = match item.remove("content") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
        };
        let close = packet_type == wafer_wasm::sansio::packet::CLOSE;
        let frame = wafer_wasm::sansio::packet::server_frame(&packet_type, content.as_deref());
        out.push(PushItem {
            tunnel_ids,
            frame,
            close,
        });
    }
    Ok(out)
}

/// The `/get/wsurl` answer: `data` is a signed JSON string.
pub fn wsurl_answer(tunnel_id: &str, connect_url: &str, key: &str) -> Value {
    let data = json!({ "tunnelId": tunnel_id, "connectUrl": connect_url }).to_string();
    let signature = signature::sign(&data, key);
    json!({ "code": 0, "message": "OK", "data": data, "signature": signature })
}

/// The `/ws/push` answer.
pub fn push_answer(invalid: &[String]) -> Value {
    json!({ "code": 0, "message": "OK", "data": { "invalidTunnelIds": invalid } })
}

/// What a report tells the business server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportKind {
    Connect,
    /// The content after `message:`, as the client sent it.
    Message(String),
    Close,
}

impl ReportKind {
    pub fn name(&self) -> &'static str {
        match self {
            ReportKind::Connect => "connect",
            ReportKind::Message(_) => "message",
            ReportKind::Close => "close",
        }
    }
}

#[derive(Serialize)]
struct ReportData<'a> {
    #[serde(rename = "tunnelId")]
    tunnel_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// The body posted to `receiveUrl`: `{data: JSON {tunnelId, type, content?}, signature}`.
pub fn report_body(tunnel_id: &str, kind: &ReportKind, key: &str) -> String {
    let content = match kind {
        ReportKind::Message(c) => Some(c.as_str()),
        _ => None,
    };
    let data = serde_json::to_string(&ReportData {
        tunnel_id,
        kind: kind.name(),
        content,
    })
    .unwrap_or_default();
    let signature = signature::sign(&data, key);
    json!({ "data": data, "signature": signature }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(data: &str, key: &str) -> Vec<u8> {
        json!({ "data": data, "tcId": "x", "signature": signature::sign(data, key) })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn envelopes() {
        let ok = envelope(r#"{"receiveUrl":"http://a/tunnel"}"#, "k");
        assert_eq!(
            open_envelope(&ok, "k").unwrap()["receiveUrl"],
            "http://a/tunnel"
        );
        let code = |b: &[u8], k: &str| open_envelope(b, k).unwrap_err().code;
        assert_eq!(code(&ok, "other"), Code::BadSignature);
        assert_eq!(code(b"not json", "k"), Code::BadJson);
        assert_eq!(code(b"[1]", "k"), Code::BadJson);
        assert_eq!(code(br#"{"data":"{}"}"#, "k"), Code::BadRequest);
        assert_eq!(
            code(br#"{"data":{},"signature":"x"}"#, "k"),
            Code::BadRequest
        );
        assert_eq!(code(&envelope("not json", "k"), "k"), Code::BadData);
    }

    #[test]
    fn receive_urls() {
        assert_eq!(
            normalize_receive_url("http://[127.0.0.1:8080]/tunnel"),
            "http://127.0.0.1:8080/tunnel"
        );
        assert_eq!(
            normalize_receive_url("http://[::1]:80/t"),
            "http://[::1]:80/t"
        );
        assert_eq!(normalize_receive_url("http://a.b/t"), "http://a.b/t");
        assert_eq!(normalize_receive_url("[x"), "[x");
        let p = |u: &str| wsurl_params(&json!({ "receiveUrl": u }));
        assert_eq!(
            p("http://[127.0.0.1:8080]/tunnel").unwrap(),
            "http://127.0.0.1:8080/tunnel"
        );
        assert_eq!(p("https://a/t").unwrap(), "https://a/t");
        assert_eq!(p("ftp://a/t").unwrap_err().code, Code::BadParam);
        assert_eq!(p("not a url").unwrap_err().code, Code::BadParam);
        assert_eq!(p("http:///t").unwrap_err().code, Code::BadParam);
        assert_eq!(wsurl_params(&json!({})).unwrap_err().code, Code::BadParam);
    }

    #[test]
    fn push_data() {
        let items = push_items(json!([
            { "tunnelIds": ["a", "b"], "type": "message", "content": "{\"type\":\"t\"}" },
            { "tunnelIds": ["a"], "type": "close" },
            { "tunnelIds": [], "type": "x", "content": { "n": 1 } },
        ]))
        .unwrap();
        assert_eq!(items[0].frame, "message:{\"type\":\"t\"}");
        assert!(!items[0].close);
        assert_eq!(items[1].frame, "close");
        assert!(items[1].close);
        assert_eq!(items[2].frame, "x:{\"n\":1}");
        let one = push_items(json!({ "tunnelIds": ["a"], "type": "close" })).unwrap();
        assert_eq!(one.len(), 1);
        for bad in [
            json!("x"),
            json!([1]),
            json!([{ "type": "message" }]),
            json!([{ "tunnelIds": [1], "type": "message" }]),
            json!([{ "tunnelIds": ["a"], "type": "" }]),
            json!([{ "tunnelIds": ["a"], "type": "a:b" }]),
            json!([{ "tunnelIds": ["a"] }]),
        ] {
            assert_eq!(
                push_items(bad.clone()).unwrap_err().code,
                Code::BadParam,
                "{bad}"
            );
        }
    }

    #[test]
    fn answers_and_reports() {
        let a = wsurl_answer("id", "ws://h/ws", "k");
        let data = a["data"].as_str().unwrap();
        assert!(signature::verify(
            data,
            a["signature"].as_str().unwrap(),
            "k"
        ));
        assert_eq!(
            serde_json::from_str::<Value>(data).unwrap(),
            json!({ "tunnelId": "id", "connectUrl": "ws://h/ws" })
        );
        assert_eq!(
            push_answer(&["x".into()]),
            json!({ "code": 0, "message": "OK", "data": { "invalidTunnelIds": ["x"] } })
        );
        let body: Value = serde_json::from_str(&report_body(
            "id",
            &ReportKind::Message("{\"a\":1}".into()),
            "k",
        ))
        .unwrap();
        let data = body["data"].as_str().unwrap();
        assert!(signature::verify(
            data,
            body["signature"].as_str().unwrap(),
            "k"
        ));
        assert_eq!(
            serde_json::from_str::<Value>(data).unwrap(),
            json!({ "tunnelId": "id", "type": "message", "content": "{\"a\":1}" })
        );
        let close: Value =
            serde_json::from_str(&report_body("id", &ReportKind::Close, "k")).unwrap();
        assert_eq!(close["data"], "{\"tunnelId\":\"id\",\"type\":\"close\"}");
    }
}
