//! Reading option objects from page code into the core's `Options`, field by field,
//! with a typed error naming the field when a value has the wrong type.

use crate::sansio::config::{LegacyKnobs, Options};
use crate::sansio::error::{ErrorKind, SdkError};
use wasm_bindgen::prelude::*;

use super::js::get;

fn wrong(key: &str, what: &str) -> SdkError {
    SdkError::invalid_params(ErrorKind::Request, &[key, " must be ", what].concat())
}

/// `value[key]`, with `undefined` and `null` meaning "not set".
fn field(value: &JsValue, key: &str) -> Option<JsValue> {
    let v = get(value, key);
    (!v.is_undefined() && !v.is_null()).then_some(v)
}

fn number(value: &JsValue, key: &str) -> Result<Option<f64>, SdkError> {
    field(value, key)
        .map(|v| v.as_f64().ok_or_else(|| wrong(key, "a number")))
        .transpose()
}

fn string(value: &JsValue, key: &str) -> Result<Option<String>, SdkError> {
    field(value, key)
        .map(|v| v.as_string().ok_or_else(|| wrong(key, "a string")))
        .transpose()
}

fn boolean(value: &JsValue, key: &str) -> Result<Option<bool>, SdkError> {
    field(value, key)
        .map(|v| v.as_bool().ok_or_else(|| wrong(key, "a boolean")))
        .transpose()
}

/// `configure()` / `Tunnel` options (`undefined` and `null` mean none).
pub fn read_options(value: &JsValue) -> Result<Options, SdkError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Options::default());
    }
    if !value.is_object() {
        return Err(SdkError::invalid_params(
            ErrorKind::Request,
            "options must be an object",
        ));
    }
    Ok(Options {
        protocol: string(value, "protocol")?,
        login_url: string(value, "loginUrl")?,
        request_timeout: number(value, "requestTimeout")?,
        reconnect_base_delay: number(value, "reconnectBaseDelay")?,
        reconnect_max_delay: number(value, "reconnectMaxDelay")?,
        max_reconnect_attempts: number(value, "maxReconnectAttempts")?,
        heartbeat_interval: number(value, "heartbeatInterval")?,
        queue_limit: number(value, "queueLimit")?,
        max_frame_size: number(value, "maxFrameSize")?,
        debug: boolean(value, "debug")?,
    })
}

/// The official clients' static knobs, as read from the `Tunnel` class.
pub fn read_knobs(value: &JsValue) -> Result<LegacyKnobs, SdkError> {
    Ok(LegacyKnobs {
        max_reconnect_try_times: number(value, "MAX_RECONNECT_TRY_TIMES")?,
        reconnect_time_increase: number(value, "RECONNECT_TIME_INCREASE")?,
    })
}
