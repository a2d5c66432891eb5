//! The stored session, read from storage on every use (the official clients' key and
//! shape, through `js-shim/session.js`): storage is the single source of truth, so a
//! logout by `wx.clearStorageSync()`, a session written by other code and a corrupted
//! value are all seen at once. Nothing here keeps a copy.

use crate::core::session::Session;
use wasm_bindgen::prelude::*;

use super::js::JsBody;
use super::platform::Platform;

/// What storage holds now.
pub struct Stored {
    /// The value exactly as page code and the official clients see it.
    pub raw: JsValue,
    /// What the core reads in it (`None`: no usable session).
    pub session: Option<Session>,
}

/// Read the stored value now (storage that throws reads as nothing).
pub fn read(platform: &Platform) -> Stored {
    let raw = platform.read_session().unwrap_or(JsValue::NULL);
    let session = Session::decode(&JsBody(raw.clone()));
    Stored { raw, session }
}

/// Store `raw` (`null`: remove). A refused write is handled by the shim (kept in memory
/// for this run, reported), so nothing comes back here.
pub fn write(platform: &Platform, raw: &JsValue) {
    let _ = platform.write_session(raw);
}
