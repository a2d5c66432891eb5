//! The sockets this node holds: tunnel id → outbox. A push for a local tunnel is queued
//! in its outbox and the socket's task writes it; an idle tunnel costs one map entry and
//! one small outbox (no channel, no buffer).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use crate::reports::Target;

/// What a socket's task is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Send this text frame.
    Frame(Utf8Bytes),
    /// Send a `close` packet, close the socket and report `close` (a pushed close).
    Close,
    /// Close the socket without reporting (another node already reported this tunnel
    /// closed).
    Drop,
    /// Close the socket (1001) and report `close`: the node is stopping, the client
    /// reconnects elsewhere.
    Shutdown,
    /// The outbox overflowed: close the socket and report `close`.
    Overflow,
}

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No such tunnel on this node.
    NotHere,
    /// The client does not read: its outbox is full. The tunnel is being closed.
    Full,
}

#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<VecDeque<Out>>,
    notify: Notify,
    limit: usize,
}

impl Outbox {
    pub fn new(limit: usize) -> Self {
        Outbox {
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            limit,
        }
    }

    /// Queue `out`. When the queue is full the frame is refused and the socket is told to
    /// close (a client that does not read must not grow the server's memory).
    pub fn push(&self, out: Out) -> Result<(), Refused> {
        let mut q = lock(&self.queue);
        let control = !matches!(out, Out::Frame(_));
        if q.len() >= self.limit && !control {
            q.push_back(Out::Overflow);
            drop(q);
            self.notify.notify_one();
            return Err(Refused::Full);
        }
        q.push_back(out);
        drop(q);
        self.notify.notify_one();
        Ok(())
    }

    /// Everything queued, in order.
    pub fn take(&self) -> VecDeque<Out> {
        std::mem::take(&mut *lock(&self.queue))
    }

    /// Wait until something is queued.
    pub async fn ready(&self) {
        self.notify.notified().await
    }
}

/// A socket of this node: its outbox, and where its reports go.
struct Socket {
    outbox: Arc<Outbox>,
    target: Arc<Target>,
}

#[derive(Default)]
pub struct Hub {
    sockets: Mutex<HashMap<Arc<str>, Socket>>,
}

impl Hub {
    pub fn insert(&self, target: Arc<Target>, outbox: Arc<Outbox>) {
        lock(&self.sockets).insert(target.tunnel_id.clone(), Socket { outbox, target });
    }

    /// Forget `id` if it is still `outbox` (a tunnel id connects once, but be exact).
    pub fn remove(&self, id: &str, outbox: &Arc<Outbox>) {
        let mut map = lock(&self.sockets);
        if map.get(id).is_some_and(|s| Arc::ptr_eq(&s.outbox, outbox)) {
            map.remove(id);
        }
    }

    /// Every socket's tunnel (id and receiveUrl).
    pub fn targets(&self) -> Vec<Arc<Target>> {
        lock(&self.sockets)
            .values()
            .map(|s| s.target.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.sockets).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn ids(&self) -> Vec<Arc<str>> {
        lock(&self.sockets).keys().cloned().collect()
    }

    /// Queue `out` for each of `ids`; the ids that are not here are returned, the ones
    /// whose outbox overflowed are counted in `full`.
    pub fn send_many<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        out: &Out,
        full: &mut u64,
    ) -> Vec<&'a str> {
        let map = lock(&self.sockets);
        let mut missing = Vec::new();
        for id in ids {
            match map.get(id) {
                Some(socket) => {
                    if socket.outbox.push(out.clone()) == Err(Refused::Full) {
                        *full += 1;
                    }
                }
                None => missing.push(id),
            }
        }
        missing
    }

    /// Ask every socket to end with `out`.
    pub fn close_all(&self, out: Out) -> usize {
        let map = lock(&self.sockets);
        for socket in map.values() {
            let _ = socket.outbox.push(out.clone());
        }
        map.len()
    }
}

/// A poisoned lock only means another task panicked while holding it; the data (a map
/// or a queue) is still consistent, so keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_bounds() {
        let hub = Hub::default();
        let a = Arc::new(Outbox::new(2));
        hub.insert(Target::new("a".into(), "http://b/t".into()), a.clone());
        assert_eq!(hub.targets()[0].receive_url, "http://b/t");
        let mut full = 0;
        let f = Out::Frame(Utf8Bytes::from_static("message:1"));
        assert_eq!(hub.send_many(["a", "b"], &f, &mut full), vec!["b"]);
        assert_eq!(hub.send_many(["a"], &f, &mut full), Vec::<&str>::new());
        assert_eq!(full, 0);
        hub.send_many(["a"], &f, &mut full);
        assert_eq!(full, 1, "the third frame overflows a limit of 2");
        let q = a.take();
        assert_eq!(q.len(), 3);
        assert_eq!(q[2], Out::Overflow, "an overflow closes the tunnel");
        hub.remove("a", &Arc::new(Outbox::new(1)));
        assert_eq!(hub.len(), 1, "only the same outbox is removed");
        hub.remove("a", &a);
        assert!(hub.is_empty());
    }
}
