//! Several nodes on one Redis.
//!
//! Keys (all under `--redis-prefix`, `P` below):
//! - `P tunnel:<id>` hash `u` receiveUrl, `k` sha1(ticket), `n` node holding the socket
//!   (empty until connected). Expires after `--connect-ttl` while unused, after
//!   [`RECORD_TTL`] once connected (refreshed by the holding node).
//! - `P node:<node>:tunnels` hash tunnel id → receiveUrl: every socket a node holds, so
//!   the survivors can report `close` for them when the node dies.
//! - `P node:<node>:alive` set with a `--node-ttl` expiry, refreshed every third of it.
//! - `P nodes` the set of node names; `P node:<node>:reaping` / `:reaped` markers.
//! - channel `P push:<node>`: frames for the sockets of that node.
//!
//! A push finds its socket like this: the node that gets `/ws/push` queues frames for its
//! own sockets directly, looks the other ids up (`HGET P tunnel:<id> n`, one pipeline)
//! and publishes one message per holding node on that node's channel; the holder queues
//! them in its sockets' outboxes. `PUBLISH` answering 0 (nobody listens: the node is
//! dead) makes those ids invalid.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use crate::hub::{Hub, Out};
use crate::metrics::Metrics;
use crate::registry::{ClaimError, CreateError, NewTunnel};
use crate::reports::{Reporter, Target};
use crate::secrets::{self, Scrubber};
use crate::signature;

/// Lifetime of a connected tunnel's record; the holding node refreshes it.
pub const RECORD_TTL: Duration = Duration::from_secs(3600);

/// How long a Redis call may take before the node treats Redis as unreachable.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Claim a tunnel for a socket: KEYS tunnel record, node index; ARGV sha1(ticket),
/// node, record TTL (s), tunnel id. Returns {0} unknown, {1} used, {2} bad ticket,
/// {3, receiveUrl} claimed.
const CLAIM: &str = r"
local t = redis.call('HMGET', KEYS[1], 'u', 'k', 'n')
if not t[1] then return {0} end
if t[3] and t[3] ~= '' then return {1} end
if t[2] ~= ARGV[1] then return {2} end
redis.call('HSET', KEYS[1], 'n', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[4], t[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {3, t[1]}
";

/// A message on a node's push channel, as sent.
#[derive(Serialize)]
struct RoutedOut<'a> {
    ids: &'a [String],
    frame: Option<&'a str>,
}

/// A message on a node's push channel, as received.
#[derive(Deserialize)]
struct Routed {
    ids: Vec<String>,
    /// The frame, or absent for a `close` packet.
    frame: Option<String>,
}

pub struct Cluster {
    node: String,
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
    claim: Script,
    node_ttl: Duration,
    connect_ttl: Duration,
    hub: Arc<Hub>,
    reporter: Arc<Reporter>,
    metrics: Arc<Metrics>,
    healthy: AtomicBool,
    /// Redis failed since the last time this node wrote its records again.
    outage: AtomicBool,
    /// Until then a record missing in Redis may be one another node has not written
    /// again yet after an outage: pushes to it answer 9007 instead of `invalid`.
    settling_until: Mutex<Option<tokio::time::Instant>>,
    last_error: Mutex<Option<String>>,
    /// The current failure of Redis was logged (cleared when Redis answers again).
    failure_logged: AtomicBool,
    /// Masks the password of `--redis` in every Redis error before it is shown.
    scrubber: Scrubber,
    stopping: AtomicBool,
}

/// A Redis error as the operator should read it: refused credentials say which setting
/// to look at.
fn describe(e: &redis::RedisError) -> String {
    let refused = e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"));
    if refused {
        format!("Redis refused the user or password of --redis / WAFER_TUNNEL_REDIS ({e})")
    } else {
        e.to_string()
    }
}

/// Why a push could not be routed to other nodes.
#[derive(Debug)]
pub struct RouteError(pub String);

impl Cluster {
    /// Connect (lazily: a node starts while Redis is down, and says so in /healthz).
    /// `ca`: the CA certificates (PEM) of a rediss:// server, instead of the system's.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        url: &str,
        ca: Option<&std::path::Path>,
        node: String,
        prefix: String,
        node_ttl: Duration,
        connect_ttl: Duration,
        hub: Arc<Hub>,
        reporter: Arc<Reporter>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Cluster>, String> {
        let scrubber = Scrubber::for_url(url);
        let invalid = |e: redis::RedisError| {
            let shown = secrets::redact_url(url);
            format!("--redis {shown}: {}", scrubber.scrub(&e.to_string()))
        };
        let client = match ca {
            None => redis::Client::open(url).map_err(invalid)?,
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("--redis-ca {}: {e}", path.display()))?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(url, certs).map_err(invalid)?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(invalid)?;
        Ok(Arc::new(Cluster {
            node,
            prefix,
            client,
            conn,
            claim: Script::new(CLAIM),
            node_ttl,
            connect_ttl,
            hub,
            reporter,
            metrics,
            healthy: AtomicBool::new(false),
            outage: AtomicBool::new(false),
            settling_until: Mutex::new(None),
            last_error: Mutex::new(Some("not connected yet".into())),
            failure_logged: AtomicBool::new(false),
            scrubber,
            stopping: AtomicBool::new(false),
        }))
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    fn tunnel_key(&self, id: &str) -> String {
        format!("{}tunnel:{id}", self.prefix)
    }

    fn node_key(&self, node: &str, what: &str) -> String {
        format!("{}node:{node}:{what}", self.prefix)
    }

    fn nodes_key(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    fn channel(&self, node: &str) -> String {
        format!("{}push:{node}", self.prefix)
    }

    /// `None` when Redis answered lately, else what went wrong.
    pub fn health(&self) -> Option<String> {
        if self.healthy.load(Ordering::Relaxed) {
            None
        } else {
            Some(
                self.last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            )
        }
    }

    fn ok<T>(&self, r: redis::RedisResult<T>) -> Result<T, String> {
        match r {
            Ok(v) => {
                self.healthy.store(true, Ordering::Relaxed);
                self.failure_logged.store(false, Ordering::Relaxed);
                Ok(v)
            }
            Err(e) => {
                let msg = self.scrubber.scrub(&describe(&e)).into_owned();
                Metrics::inc(&self.metrics.redis_errors);
                self.outage.store(true, Ordering::Relaxed);
                self.healthy.store(false, Ordering::Relaxed);
                // Once per outage, the first one (Redis down or refusing at start) included.
                if !self.failure_logged.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %msg, "Redis unreachable: serving the sockets of this node only");
                }
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.clone());
                Err(msg)
            }
        }
    }

    pub async fn create(&self, t: NewTunnel) -> Result<(), CreateError> {
        let mut conn = self.conn.clone();
        let key = self.tunnel_key(&t.id);
        let r = redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("u", t.receive_url.as_str()),
                    ("k", signature::ticket_hash(&t.ticket).as_str()),
                    ("n", ""),
                ],
            )
            .ignore()
            .expire(&key, self.connect_ttl.as_secs() as i64)
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        self.ok(r).map_err(CreateError::Unavailable)
    }

    pub async fn claim(&self, id: &str, ticket: &str) -> Result<String, ClaimError> {
        let mut conn = self.conn.clone();
        let r = self
            .claim
            .key(self.tunnel_key(id))
            .key(self.node_key(&self.node, "tunnels"))
            .arg(signature::ticket_hash(ticket))
            .arg(&self.node)
            .arg(RECORD_TTL.as_secs())
            .arg(id)
            .invoke_async::<(i64, Option<String>)>(&mut conn)
            .await;
        match self.ok(r).map_err(ClaimError::Unavailable)? {
            (3, Some(url)) => Ok(url),
            (1, _) => Err(ClaimError::Used),
            (2, _) => Err(ClaimError::BadTicket),
            _ => Err(ClaimError::Unknown),
        }
    }

    pub async fn release(&self, id: &str) {
        let mut conn = self.conn.clone();
        let r = redis::pipe()
            .hdel(self.node_key(&self.node, "tunnels"), id)
            .ignore()
            .del(self.tunnel_key(id))
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        // On failure the record expires by itself; the index entry would make a reaper
        // report a second close only if this node died before its next refresh.
        let _ = self.ok(r);
    }

    /// Send `out` to the sockets of `ids` held by other nodes; the ids no node holds
    /// are returned (invalid).
    pub async fn route(&self, ids: &[&str], out: &Out) -> Result<Vec<String>, RouteError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.tunnel_key(id), "n");
        }
        let holders: Vec<Option<String>> = self
            .ok(pipe.query_async(&mut conn).await)
            .map_err(RouteError)?;
        let mut invalid = Vec::new();
        let mut by_node: HashMap<String, Vec<String>> = HashMap::new();
        for (id, holder) in ids.iter().zip(holders) {
            match holder {
                Some(n) if !n.is_empty() && n != self.node => {
                    by_node.entry(n).or_default().push((*id).to_owned())
                }
                _ => invalid.push((*id).to_owned()),
            }
        }
        // After an outage a missing record may be one its node has not written again yet.
        let mut unreached = if !invalid.is_empty() && self.settling() {
            std::mem::take(&mut invalid).len()
        } else {
            0
        };
        let frame = match out {
            Out::Frame(f) => Some(f.as_str()),
            _ => None,
        };
        let mut problem = None;
        for (node, ids) in by_node {
            let sent = async {
                let payload = serde_json::to_string(&RoutedOut { ids: &ids, frame })
                    .map_err(|e| e.to_string())?;
                let receivers: i64 = self.ok(conn.publish(self.channel(&node), payload).await)?;
                if receivers > 0 {
                    return Ok(true);
                }
                // Nobody listens on that node's channel: gone if its liveness key is, else
                // only its subscription is down for a moment (the tunnels are alive).
                let alive: bool = self.ok(conn.exists(self.node_key(&node, "alive")).await)?;
                if alive {
                    Err(format!("node {node} is not listening for pushes right now"))
                } else {
                    Ok(false)
                }
            };
            match sent.await {
                Ok(true) => Metrics::add(&self.metrics.push_remote, ids.len() as u64),
                Ok(false) => invalid.extend(ids),
                Err(e) => {
                    unreached += ids.len();
                    problem = Some(e);
                }
            }
        }
        if unreached > 0 {
            // Delivered to every socket that could be reached; the business server must
            // not take the others for closed.
            return Err(RouteError(problem.unwrap_or_else(|| {
                "tunnels not found while the nodes write their records again after a Redis outage"
                    .into()
            }) + &format!(" ({unreached} tunnel(s) not reached)")));
        }
        Ok(invalid)
    }

    /// Whether a record may be missing only because Redis lost it (see `settling_until`).
    fn settling(&self) -> bool {
        if self.outage.load(Ordering::Relaxed) {
            return true;
        }
        self.settling_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| tokio::time::Instant::now() < t)
    }

    /// Start the background loops: the push subscriber, liveness, the reaper.
    pub async fn start(self: &Arc<Self>) {
        // A previous process with this node name may have died holding sockets.
        self.reap(&self.node.clone(), true).await;
        self.refresh().await;
        let this = self.clone();
        tokio::spawn(async move { this.subscriber().await });
        let this = self.clone();
        tokio::spawn(async move { this.liveness().await });
        let this = self.clone();
        tokio::spawn(async move { this.reaper().await });
    }

    async fn subscriber(self: Arc<Self>) {
        let channel = self.channel(&self.node);
        let mut failures = 0u32;
        while !self.stopping.load(Ordering::Relaxed) {
            let ps = async {
                let mut ps = self.client.get_async_pubsub().await?;
                ps.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(ps)
            };
            match tokio::time::timeout(REDIS_TIMEOUT, ps).await {
                Ok(Ok(mut ps)) => {
                    failures = 0;
                    tracing::info!(%channel, "subscribed");
                    let mut stream = ps.on_message();
                    while let Some(msg) = stream.next().await {
                        self.deliver(msg.get_payload_bytes());
                    }
                    if !self.stopping.load(Ordering::Relaxed) {
                        tracing::warn!(%channel, "push subscription lost; resubscribing");
                    }
                }
                Ok(Err(e)) => {
                    let _ = self.ok::<()>(Err(e));
                }
                Err(_) => {
                    let _ = self.ok::<()>(Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "subscribe timed out",
                    ))));
                }
            }
            failures = failures.saturating_add(1);
            let delay = Duration::from_millis(200u64 << failures.min(4));
            tokio::time::sleep(delay).await;
        }
    }

    fn deliver(&self, payload: &[u8]) {
        let Ok(routed) = serde_json::from_slice::<Routed>(payload) else {
            tracing::warn!("unreadable message on the push channel: dropped");
            return;
        };
        let out = match routed.frame {
            Some(f) => Out::Frame(Utf8Bytes::from(f)),
            None => Out::Close,
        };
        let mut full = 0;
        let missing = self
            .hub
            .send_many(routed.ids.iter().map(String::as_str), &out, &mut full);
        if !missing.is_empty() {
            // Closed between the lookup on the sending node and now: its close report
            // is on its way to the business server.
            Metrics::add(&self.metrics.frames_dropped_routing, missing.len() as u64);
            tracing::debug!(
                count = missing.len(),
                "routed frames for tunnels already closed"
            );
        }
    }

    /// Keep this node's liveness key, node set entry and index alive.
    async fn liveness(self: Arc<Self>) {
        let period = (self.node_ttl / 3).max(Duration::from_millis(200));
        let mut records_due = tokio::time::Instant::now() + RECORD_TTL / 4;
        while !self.stopping.load(Ordering::Relaxed) {
            tokio::time::sleep(period).await;
            if self.stopping.load(Ordering::Relaxed) {
                break;
            }
            self.refresh().await;
            if self.healthy.load(Ordering::Relaxed) && self.outage.swap(false, Ordering::Relaxed) {
                tracing::info!("Redis reachable again");
                *self
                    .settling_until
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) =
                    Some(tokio::time::Instant::now() + self.node_ttl * 3);
                self.after_outage().await;
            }
            if tokio::time::Instant::now() >= records_due {
                records_due = tokio::time::Instant::now() + RECORD_TTL / 4;
                self.refresh_records().await;
            }
        }
    }

    async fn refresh(&self) {
        let mut conn = self.conn.clone();
        let r = redis::pipe()
            .set_ex(
                self.node_key(&self.node, "alive"),
                1,
                self.node_ttl.as_secs(),
            )
            .ignore()
            .sadd(self.nodes_key(), &self.node)
            .ignore()
            .expire(
                self.node_key(&self.node, "tunnels"),
                RECORD_TTL.as_secs() as i64,
            )
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        let _ = self.ok(r);
    }

    /// Push the expiry of every connected tunnel's record forward.
    async fn refresh_records(&self) {
        let ids = self.hub.ids();
        for chunk in ids.chunks(1000) {
            let mut conn = self.conn.clone();
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.expire(self.tunnel_key(id), RECORD_TTL.as_secs() as i64)
                    .ignore();
            }
            if self.ok(pipe.query_async::<()>(&mut conn).await).is_err() {
                return;
            }
        }
    }

    /// Redis came back after an outage. If the other nodes took this node for dead
    /// meanwhile, they reported `close` for its tunnels: close those sockets without a
    /// second report (the phones reconnect). Then write the records of the sockets this
    /// node still holds again (a Redis that restarted empty lost them).
    async fn after_outage(&self) {
        let mut conn = self.conn.clone();
        let index = self.node_key(&self.node, "tunnels");
        let reaped: bool = match self.ok(conn.exists(self.node_key(&self.node, "reaped")).await) {
            Ok(r) => r,
            Err(_) => return,
        };
        let mut targets = self.hub.targets();
        if reaped {
            let mut pipe = redis::pipe();
            for t in &targets {
                pipe.hexists(&index, &*t.tunnel_id);
            }
            pipe.del(self.node_key(&self.node, "reaped")).ignore();
            let Ok(known) = self.ok(pipe.query_async::<Vec<bool>>(&mut conn).await) else {
                return;
            };
            let (keep, stale): (Vec<_>, Vec<_>) =
                targets.into_iter().zip(known).partition(|(_, k)| *k);
            tracing::warn!(count = stale.len(), "this node was taken for dead during the Redis outage; closing the sockets already reported closed");
            let mut full = 0;
            self.hub.send_many(
                stale.iter().map(|(t, _)| &*t.tunnel_id),
                &Out::Drop,
                &mut full,
            );
            targets = keep.into_iter().map(|(t, _)| t).collect();
        }
        for chunk in targets.chunks(1000) {
            let mut pipe = redis::pipe();
            for t in chunk {
                let key = self.tunnel_key(&t.tunnel_id);
                pipe.hset_multiple(
                    &key,
                    &[
                        ("u", t.receive_url.as_str()),
                        ("k", ""),
                        ("n", self.node.as_str()),
                    ],
                )
                .ignore()
                .expire(&key, RECORD_TTL.as_secs() as i64)
                .ignore()
                .hset(&index, &*t.tunnel_id, &t.receive_url)
                .ignore();
            }
            pipe.expire(&index, RECORD_TTL.as_secs() as i64).ignore();
            if self.ok(pipe.query_async::<()>(&mut conn).await).is_err() {
                return;
            }
        }
        if !targets.is_empty() {
            tracing::info!(
                tunnels = targets.len(),
                "records of this node's sockets written again"
            );
        }
    }

    async fn reaper(self: Arc<Self>) {
        let period = (self.node_ttl / 2).max(Duration::from_millis(200));
        while !self.stopping.load(Ordering::Relaxed) {
            let jitter =
                Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_u64_pair().0 as u16 % 250));
            tokio::time::sleep(period + jitter).await;
            let mut conn = self.conn.clone();
            let Ok(nodes) = self.ok(conn.smembers::<_, Vec<String>>(self.nodes_key()).await) else {
                continue;
            };
            for node in nodes.into_iter().filter(|n| *n != self.node) {
                let alive: Result<bool, _> =
                    self.ok(conn.exists(self.node_key(&node, "alive")).await);
                if alive == Ok(false) {
                    self.reap(&node, false).await;
                }
            }
        }
    }

    /// Report `close` for every tunnel of dead `node` and forget them. `own`: this
    /// process reuses the name of a dead one (no `reaped` marker left). One node reaps a
    /// given node at a time (`reaping` lock), so each tunnel gets one `close`.
    async fn reap(&self, node: &str, own: bool) {
        let mut conn = self.conn.clone();
        let lock = self.node_key(node, "reaping");
        let got: Result<Option<String>, _> = self.ok(redis::cmd("SET")
            .arg(&lock)
            .arg(&self.node)
            .arg("NX")
            .arg("EX")
            .arg(60)
            .query_async(&mut conn)
            .await);
        if !matches!(got, Ok(Some(_))) {
            return;
        }
        let index = self.node_key(node, "tunnels");
        let Ok(tunnels) = self.ok(conn.hgetall::<_, HashMap<String, String>>(&index).await) else {
            return;
        };
        for (id, url) in &tunnels {
            self.reporter.report(
                &Target::new(Arc::from(id.as_str()), url.clone()),
                crate::protocol::ReportKind::Close,
            );
        }
        let mut pipe = redis::pipe();
        for id in tunnels.keys() {
            pipe.del(self.tunnel_key(id)).ignore();
        }
        pipe.del(&index).ignore().del(&lock).ignore();
        if !own {
            pipe.srem(self.nodes_key(), node)
                .ignore()
                .set_ex(self.node_key(node, "reaped"), 1, 86_400)
                .ignore();
        }
        if self.ok(pipe.query_async::<()>(&mut conn).await).is_ok() {
            if !own {
                Metrics::inc(&self.metrics.nodes_reaped);
            }
            if !tunnels.is_empty() || !own {
                tracing::warn!(
                    node,
                    tunnels = tunnels.len(),
                    "node gone: reported its tunnels closed"
                );
            }
        }
    }

    /// Leave the cluster (graceful stop): the sockets were closed and reported already.
    pub async fn leave(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let mut conn = self.conn.clone();
        let r = redis::pipe()
            .del(self.node_key(&self.node, "alive"))
            .ignore()
            .del(self.node_key(&self.node, "tunnels"))
            .ignore()
            .srem(self.nodes_key(), &self.node)
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        let _ = self.ok(r);
    }
}
