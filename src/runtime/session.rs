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

    /// Take the value read from storage and what it decoded to (see [`decode`]).
    pub fn load(&mut self, raw: JsValue, session: Option<Session>) {
        self.loaded = true;
        self.replace(raw, session);
    }

    /// Replace the value in memory (with what [`decode`] made of it).
    pub fn replace(&mut self, raw: JsValue, session: Option<Session>) {
        self.session = session;
        // WeChat answers '' for a missing key; page code expects null from Session.get().
        self.raw = if raw.is_truthy() { raw } else { JsValue::NULL };
    }

    pub fn raw(&self) -> JsValue {
        self.raw.clone()
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }
}

/// Read the stored value (storage that throws reads as nothing).
pub fn read(platform: &Platform) -> JsValue {
    platform.get_storage(SESSION_KEY).unwrap_or(JsValue::NULL)
}

/// What the core reads in a stored value. Done before the store is borrowed: reading an
/// object page code handed to `Session.set()` may run its getters, which may call back in.
pub fn decode(raw: &JsValue) -> Option<Session> {
    Session::decode(&JsBody(raw.clone()))
}

/// Write `raw` (or remove when null); `Err` carries the storage exception.
pub fn write(platform: &Platform, raw: &JsValue) -> Result<(), JsValue> {
    if raw.is_null() || raw.is_undefined() {
        platform.remove_storage(SESSION_KEY)
    } else {
        platform.set_storage(SESSION_KEY, raw)
    }
}
