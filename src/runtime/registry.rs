//! The client's tunnels, and the platform events each of them reacts to (the network
//! coming back, the app returning to the foreground). Entries are weak: a tunnel lives
//! by its handle, or by itself while it is not CLOSED (runtime/tunnel.rs).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::env::Env;
use super::tunnel::TunnelInner;

/// A platform event callback kept alive for the life of the client.
type Hook = Closure<dyn Fn(JsValue)>;

#[derive(Default)]
pub struct Registry {
    tunnels: RefCell<Vec<Weak<TunnelInner>>>,
    hooks: RefCell<Vec<Hook>>,
}

impl Registry {
    /// A registry that hears the platform's network and app-show events.
    pub fn new(env: &Env) -> Rc<Self> {
        let registry = Rc::new(Registry::default());
        let weak = Rc::downgrade(&registry);
        let network = Hook::new(move |online: JsValue| {
            if let Some(r) = weak.upgrade() {
                let online = online.is_truthy();
                r.each(|t| t.network_changed(online));
            }
        });
        let weak = Rc::downgrade(&registry);
        let shown = Hook::new(move |_: JsValue| {
            if let Some(r) = weak.upgrade() {
                r.each(TunnelInner::app_shown);
            }
        });
        let _ = env
            .platform
            .on_network_change(network.as_ref().unchecked_ref());
        let _ = env.platform.on_app_show(shown.as_ref().unchecked_ref());
        registry.hooks.borrow_mut().extend([network, shown]);
        registry
    }

    pub fn add(&self, t: &Rc<TunnelInner>) {
        let mut list = self.tunnels.borrow_mut();
        list.retain(|w| w.strong_count() > 0);
        list.push(Rc::downgrade(t));
    }

    /// Run `f` on every live tunnel (no borrow is held while it runs).
    pub fn each(&self, f: impl Fn(&TunnelInner)) {
        let live: Vec<Rc<TunnelInner>> = self
            .tunnels
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for t in &live {
            f(t);
        }
    }
}
