//! What every part of the runtime shares: the platform object and the logger.

use std::cell::{Cell, RefCell};

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::sansio::error::SdkError;

use super::platform::Platform;

pub struct Env {
    pub platform: Platform,
    /// `configure({ logger })`.
    logger: RefCell<Option<Function>>,
    /// `configure({ debug: true })`: records go to the console when there is no logger.
    debug: Cell<bool>,
}

impl Env {
    pub fn new(platform: Platform) -> Self {
        Env {
            platform,
            logger: RefCell::default(),
            debug: Cell::new(false),
        }
    }

    pub fn set_logger(&self, logger: Option<Function>) {
        *self.logger.borrow_mut() = logger;
    }

    pub fn set_debug(&self, on: bool) {
        self.debug.set(on);
    }

    /// Whether anyone receives records (they are built only then).
    pub fn logging(&self) -> bool {
        self.logger.borrow().is_some() || self.debug.get()
    }

    /// Hand a record to the logger, or to the console with `debug: true` (built only
    /// when someone listens).
    #[inline]
    pub fn log(&self, build: impl FnOnce() -> JsValue) {
        if self.logging() {
            self.emit(build());
        }
    }

    #[inline(never)]
    fn emit(&self, record: JsValue) {
        // No borrow is held while page code runs: the logger may call back in.
        let logger = self.logger.borrow().clone();
        match logger {
            Some(f) => {
                if let Err(e) = f.call1(&JsValue::UNDEFINED, &record) {
                    self.report("logger", &e);
                }
            }
            None => {
                let _ = self.platform.log(&record);
            }
        }
    }

    /// Report an exception thrown by page code the runtime called.
    pub fn report(&self, context: &str, error: &JsValue) {
        let _ = self.platform.report_error(context, error);
    }

    /// An `SdkError` as the facade's `LoginError` / `RequestError`.
    pub fn error(&self, e: &SdkError) -> JsValue {
        let detail = match &e.detail {
            Some(d) => JsValue::from_str(d),
            None => JsValue::NULL,
        };
        self.platform
            .create_error(e.kind.as_str(), e.ty.as_str(), &e.message, &detail)
    }
}

/// Milliseconds since the epoch.
pub fn now() -> u64 {
    js_sys::Date::now() as u64
}
