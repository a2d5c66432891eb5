//! The stored session, read from storage on every use (the official clients' key and
//! shape, through `js-shim/session.js`): storage is the single source of truth, so a
//! logout by `wx.clearStorageSync()`, a session written by other code and a corrupted
//! value are all seen at once. Nothing here keeps a copy.

use wasm_bindgen::prelude::*;

use super::platform::Platform;

/// The stored value as it is now (storage that throws reads as nothing).
pub fn read(platform: &Platform) -> JsValue {
    platform.read_session().unwrap_or(JsValue::NULL)
}

/// Store `value` (`null`: remove). A refused write is handled by the shim (kept in memory
/// for this run, reported), so nothing comes back here.
pub fn write(platform: &Platform, value: &JsValue) {
    let _ = platform.write_session(value);
}
