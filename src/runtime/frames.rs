//! The tunnel's per-frame paths, on JavaScript strings: an inbound frame is classified
//! from a short head and its content sliced and `JSON.parse`d in JavaScript; an outbound
//! frame is concatenated from cached pieces and `JSON.stringify`d content. No message
//! text is copied into wasm (the bench measures both paths, docs/PERFORMANCE.md).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::JsString;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::sansio::packet;

use super::platform::Platform;

#[wasm_bindgen]
extern "C" {
    /// A JS string seen through the `String.prototype` methods the frame paths need.
    type Text;

    /// `s.startsWith(prefix)` with the prefix as a JS string (no text crosses into wasm).
    #[wasm_bindgen(method, js_name = startsWith)]
    fn starts_with(this: &Text, prefix: &JsString) -> bool;

    /// `s.concat(a, b)` in one call.
    #[wasm_bindgen(method, js_name = concat)]
    fn concat2(this: &Text, a: &JsValue, b: &JsValue) -> JsString;

    /// A parsed `message` packet, `{ type, content }` (checked to be an object first;
    /// `JSON.parse` made it, so the plain property reads cannot throw).
    pub type Message;

    #[wasm_bindgen(method, structural, getter = type)]
    pub fn message_type(this: &Message) -> JsValue;

    #[wasm_bindgen(method, structural, getter)]
    pub fn content(this: &Message) -> JsValue;
}

/// Whether `s` begins with `prefix`.
pub fn starts_with(s: &JsString, prefix: &JsString) -> bool {
    s.unchecked_ref::<Text>().starts_with(prefix)
}

/// JS strings made once per client instead of once per frame (tunnels share them: a
/// closed tunnel's wasm side is rebuilt on its next use).
pub struct Strings {
    pub ping: JsString,
    pub close: JsString,
    pub message_prefix: JsString,
    message_head: JsString,
    content_field: JsString,
    message_tail: JsString,
}

impl Strings {
    pub fn new() -> Self {
        Strings {
            ping: JsString::from(packet::PING),
            close: JsString::from(packet::CLOSE),
            message_prefix: JsString::from(packet::MESSAGE_PREFIX),
            message_head: JsString::from(packet::MESSAGE_HEAD),
            content_field: JsString::from(packet::CONTENT_FIELD),
            message_tail: JsString::from(packet::MESSAGE_TAIL),
        }
    }
}

/// The encoded frame start of the last outbound message type: chat traffic repeats a
/// few types, so most `emit`s only stringify their content.
///
/// The starts are behind `Rc`: an `emit` takes one out of the `RefCell` (no borrow may be
/// held while JavaScript runs), and an `Rc` clone stays inside wasm where a handle clone
/// and its drop are two calls into the glue.
struct TypePrefix {
    message_type: JsValue,
    /// `message:{"type":T,"content":`
    with_content: Rc<JsString>,
    /// `message:{"type":T}`
    bare: Rc<JsString>,
}

/// One tunnel's frame encoder and decoder.
pub struct Frames {
    pub strings: Rc<Strings>,
    out_type: RefCell<Option<TypePrefix>>,
    /// The last inbound message type and the listener name it maps to.
    last_type: RefCell<Option<(JsValue, Rc<str>)>>,
}

impl Frames {
    pub fn new(strings: Rc<Strings>) -> Self {
        Frames {
            strings,
            out_type: RefCell::default(),
            last_type: RefCell::default(),
        }
    }

    /// `message:{"type":T,"content":C}` as a JS string, the text `'message:' +
    /// JSON.stringify({ type, content })` gives; `None` when it cannot be encoded.
    pub fn encode(
        &self,
        platform: &Platform,
        message_type: &JsValue,
        content: &JsValue,
    ) -> Option<JsString> {
        let with_content = self.type_prefix(platform, message_type, true)?;
        let json = platform.stringify_json(content);
        if json.is_string() {
            let head = with_content.unchecked_ref::<Text>();
            return Some(head.concat2(&json, &self.strings.message_tail));
        }
        if json.is_undefined() {
            // `undefined`, functions and symbols are left out, as JSON.stringify({ type,
            // content }) does. (Looked up again: a toJSON may have emitted another type.)
            return self
                .type_prefix(platform, message_type, false)
                .map(|bare| JsString::clone(&bare));
        }
        None
    }

    /// The frame start for `message_type`, with or without the content field (`None`
    /// unless the type is a string).
    fn type_prefix(
        &self,
        platform: &Platform,
        message_type: &JsValue,
        with_content: bool,
    ) -> Option<Rc<JsString>> {
        let pick = |p: &TypePrefix| {
            if with_content {
                Rc::clone(&p.with_content)
            } else {
                Rc::clone(&p.bare)
            }
        };
        if let Some(p) = &*self.out_type.borrow() {
            if p.message_type == *message_type {
                return Some(pick(p));
            }
        }
        if !message_type.is_string() {
            return None;
        }
        let quoted: JsString = platform.stringify_json(message_type).unchecked_into();
        let head = self.strings.message_head.concat(&quoted);
        let prefix = TypePrefix {
            message_type: message_type.clone(),
            with_content: Rc::new(head.concat(&self.strings.content_field)),
            bare: Rc::new(head.concat(&self.strings.message_tail)),
        };
        let picked = pick(&prefix);
        *self.out_type.borrow_mut() = Some(prefix);
        Some(picked)
    }

    /// The listener name of a message type (`None`: not a non-empty string).
    pub fn listener_name(&self, message_type: JsValue) -> Option<Rc<str>> {
        if let Some((js, name)) = &*self.last_type.borrow() {
            if *js == message_type {
                return Some(Rc::clone(name));
            }
        }
        let t = message_type.as_string()?;
        let name: Rc<str> = packet::listener_name(&t)?.into();
        *self.last_type.borrow_mut() = Some((message_type, Rc::clone(&name)));
        Some(name)
    }
}
