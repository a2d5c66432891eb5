//! The tunnel registry: which tunnels exist, which connect tickets are still unused,
//! and (with several nodes) which node holds each socket.
//!
//! Alone, a node keeps it in memory. With `--redis` it lives in Redis
//! ([`crate::cluster`]), so `/get/wsurl` on one node and the socket on another work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::signature;

/// A tunnel handed out by `/get/wsurl`, waiting for its socket.
#[derive(Clone, Debug)]
pub struct NewTunnel {
    pub id: String,
    pub ticket: String,
    pub receive_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// Too many unused connect URLs.
    Busy,
    Unavailable(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Never handed out, expired unused, or closed already.
    Unknown,
    /// A socket connected with it before (connect URLs are single use).
    Used,
    /// The ticket does not match.
    BadTicket,
    Unavailable(String),
}

pub enum Registry {
    Memory(Memory),
    Redis(Arc<Cluster>),
}

impl Registry {
    pub fn memory(ttl: Duration, max_pending: usize) -> Registry {
        Registry::Memory(Memory {
            ttl,
            max_pending,
            tunnels: Mutex::new(Tunnels::default()),
        })
    }

    pub async fn create(&self, t: NewTunnel) -> Result<(), CreateError> {
        match self {
            Registry::Memory(m) => m.create(t),
            Registry::Redis(c) => c.create(t).await,
        }
    }

    /// Take tunnel `id` for a socket on this node; its receiveUrl on success.
    pub async fn claim(&self, id: &str, ticket: &str) -> Result<String, ClaimError> {
        match self {
            Registry::Memory(m) => m.claim(id, ticket),
            Registry::Redis(c) => c.claim(id, ticket).await,
        }
    }

    /// The socket of `id` is gone: forget the tunnel.
    pub async fn release(&self, id: &str) {
        match self {
            Registry::Memory(m) => m.release(id),
            Registry::Redis(c) => c.release(id).await,
        }
    }

    /// Drop expired unused tunnels (memory; Redis expires them by itself).
    pub fn prune(&self) {
        if let Registry::Memory(m) = self {
            m.prune(Instant::now());
        }
    }

    pub fn pending(&self) -> usize {
        match self {
            Registry::Memory(m) => m.lock().pending,
            Registry::Redis(_) => 0,
        }
    }
}

#[derive(Debug)]
struct Entry {
    ticket_hash: String,
    receive_url: String,
    expires: Instant,
    claimed: bool,
}

#[derive(Default)]
struct Tunnels {
    map: HashMap<String, Entry>,
    /// Entries not claimed yet.
    pending: usize,
}

impl Tunnels {
    fn prune(&mut self, now: Instant) {
        let before = self.map.len();
        self.map.retain(|_, e| e.claimed || e.expires > now);
        self.pending -= before - self.map.len();
    }
}

pub struct Memory {
    ttl: Duration,
    max_pending: usize,
    tunnels: Mutex<Tunnels>,
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tunnels> {
        self.tunnels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn create(&self, t: NewTunnel) -> Result<(), CreateError> {
        let now = Instant::now();
        let mut tunnels = self.lock();
        if tunnels.pending >= self.max_pending {
            tunnels.prune(now);
            if tunnels.pending >= self.max_pending {
                return Err(CreateError::Busy);
            }
        }
        let old = tunnels.map.insert(
            t.id,
            Entry {
                ticket_hash: signature::ticket_hash(&t.ticket),
                receive_url: t.receive_url,
                expires: now + self.ttl,
                claimed: false,
            },
        );
        // Ids are random UUIDs: a collision would be a bug, but keep the count exact.
        if old.is_none_or(|e| e.claimed) {
            tunnels.pending += 1;
        }
        Ok(())
    }

    fn claim(&self, id: &str, ticket: &str) -> Result<String, ClaimError> {
        let mut tunnels = self.lock();
        let Some(e) = tunnels.map.get_mut(id) else {
            return Err(ClaimError::Unknown);
        };
        if e.claimed {
            return Err(ClaimError::Used);
        }
        if e.expires <= Instant::now() {
            tunnels.map.remove(id);
            tunnels.pending -= 1;
            return Err(ClaimError::Unknown);
        }
        if !signature::verify(ticket, &e.ticket_hash, "") {
            return Err(ClaimError::BadTicket);
        }
        e.claimed = true;
        let url = e.receive_url.clone();
        tunnels.pending -= 1;
        Ok(url)
    }

    fn release(&self, id: &str) {
        let mut tunnels = self.lock();
        if let Some(e) = tunnels.map.remove(id) {
            if !e.claimed {
                tunnels.pending -= 1;
            }
        }
    }

    fn prune(&self, now: Instant) {
        self.lock().prune(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str) -> NewTunnel {
        NewTunnel {
            id: id.into(),
            ticket: format!("ticket-{id}"),
            receive_url: "http://b/tunnel".into(),
        }
    }

    #[tokio::test]
    async fn single_use_tickets() {
        let r = Registry::memory(Duration::from_secs(60), 10);
        r.create(new("a")).await.unwrap();
        assert_eq!(r.claim("a", "wrong").await, Err(ClaimError::BadTicket));
        assert_eq!(r.claim("a", "ticket-a").await.unwrap(), "http://b/tunnel");
        assert_eq!(r.claim("a", "ticket-a").await, Err(ClaimError::Used));
        r.release("a").await;
        assert_eq!(r.claim("a", "ticket-a").await, Err(ClaimError::Unknown));
        assert_eq!(r.claim("zz", "x").await, Err(ClaimError::Unknown));
    }

    #[tokio::test]
    async fn unused_tunnels_expire_and_are_bounded() {
        let r = Registry::memory(Duration::from_millis(30), 2);
        r.create(new("a")).await.unwrap();
        r.create(new("b")).await.unwrap();
        assert_eq!(r.create(new("c")).await, Err(CreateError::Busy));
        assert_eq!(r.pending(), 2);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(r.claim("a", "ticket-a").await, Err(ClaimError::Unknown));
        r.create(new("c")).await.unwrap();
        r.prune();
        assert_eq!(r.pending(), 1);
    }
}
