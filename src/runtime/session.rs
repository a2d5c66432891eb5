//! The session as stored: loaded once from storage (the official clients' key and
//! shape), then kept in memory and written through. A storage write that throws
//! (quota) is reported and the session still lives in memory for this run.

use crate::core::protocol::SESSION_KEY;
use crate::core::session::Session;
use wasm_bindgen::prelude::*;

use super::js::JsBody;
use super::platform::Platform;

pub struct SessionStore {
    loaded: bool,
    /// The stored value exactly as page code and the official clients see it.
    raw: JsValue,
    session: Option<Session>,
}

impl Default for SessionStore {
    fn default() -> Self {
        SessionStore {
            loaded: false,
            raw: JsValue::NULL,
            session: None,
        }
    }
}

impl SessionStore {
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Take the value read from storage (`Err`: storage threw, read as no session).
    pub fn load(&mut self, read: Result<JsValue, JsValue>) {
        self.loaded = true;
        self.replace(read.unwrap_or(JsValue::NULL));
    }

    /// Replace the value in memory; returns whether it is a usable session.
    pub fn replace(&mut self, raw: JsValue) -> bool {
        self.session = Session::decode(&JsBody(raw.clone()));
        // WeChat answers '' for a missing key; page code expects null from Session.get().
        self.raw = if raw.is_truthy() { raw } else { JsValue::NULL };
        self.session.is_some()
    }

    pub fn raw(&self) -> JsValue {
        self.raw.clone()
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }
}

/// Read the stored value (never throws).
pub fn read(platform: &Platform) -> Result<JsValue, JsValue> {
    platform.get_storage(SESSION_KEY)
}

/// Write `raw` (or remove when null); `Err` carries the storage exception.
pub fn write(platform: &Platform, raw: &JsValue) -> Result<(), JsValue> {
    if raw.is_null() || raw.is_undefined() {
        platform.remove_storage(SESSION_KEY)
    } else {
        platform.set_storage(SESSION_KEY, raw)
    }
}
