//! Reports to the business servers: `POST receiveUrl {data, signature}` for each
//! tunnel's `connect`, `message`s and `close`.
//!
//! Each tunnel has its own queue, delivered in order by one worker task that exists
//! only while the queue is not empty (an idle tunnel holds no task). A report that
//! fails (network error, timeout, HTTP 5xx) is retried with the SDK core's capped,
//! jittered back-off until `--report-attempts`; a 4xx answer is final. Both outcomes
//! are counted and logged, as is every report dropped because a queue was full.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use wafer_wasm::sansio::backoff::Backoff;
use wafer_wasm::sansio::rng::Rng;

use crate::metrics::Metrics;
use crate::protocol::{report_body, ReportKind};

/// Back-off between attempts of one report.
const BACKOFF: Backoff = Backoff {
    base_ms: 500,
    max_ms: 30_000,
};

/// Where a tunnel's reports go.
#[derive(Debug)]
pub struct Target {
    pub tunnel_id: Arc<str>,
    pub receive_url: String,
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<ReportKind>,
    /// A worker is draining `items`.
    running: bool,
}

impl Target {
    pub fn new(tunnel_id: Arc<str>, receive_url: String) -> Arc<Target> {
        Arc::new(Target {
            tunnel_id,
            receive_url,
            queue: Mutex::new(Queue::default()),
        })
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports not delivered yet (the one in flight included).
    pub fn pending(&self) -> usize {
        self.queue().items.len()
    }
}

/// TLS for `https://` receiveUrls: the system's roots plus the PEM certificates in
/// `extra_ca` (`--callback-ca`, e.g. a private CA of the business servers).
pub fn tls_config(extra_ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as the system's own tools do.
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("--callback-ca {shown}: {e}"))?;
        let mut n = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("--callback-ca {shown}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("--callback-ca {shown}: {e}"))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!("--callback-ca {shown}: no certificate in the file"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub struct Reporter {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    key: String,
    attempts: u32,
    timeout: Duration,
    queue_limit: usize,
    in_flight: Semaphore,
    /// Reports queued or in flight, over all tunnels.
    pending: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl Reporter {
    pub fn new(
        tls: rustls::ClientConfig,
        key: String,
        attempts: u32,
        timeout: Duration,
        queue_limit: usize,
        concurrency: usize,
        metrics: Arc<Metrics>,
    ) -> Arc<Reporter> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Arc::new(Reporter {
            client,
            key,
            attempts,
            timeout,
            queue_limit,
            in_flight: Semaphore::new(concurrency),
            pending: AtomicUsize::new(0),
            metrics,
        })
    }

    /// Queue a report for `target`; returns false (and counts and logs it) when the
    /// tunnel's queue is full.
    pub fn report(self: &Arc<Self>, target: &Arc<Target>, kind: ReportKind) -> bool {
        let start = {
            let mut q = target.queue();
            // A close always fits: it is the last report of a tunnel.
            if q.items.len() >= self.queue_limit && kind != ReportKind::Close {
                drop(q);
                Metrics::inc(&self.metrics.reports_dropped);
                tracing::warn!(tunnel = %target.tunnel_id, kind = kind.name(), limit = self.queue_limit,
                    "report queue full (business server slow or down): report dropped");
                return false;
            }
            q.items.push_back(kind);
            self.pending.fetch_add(1, Ordering::Relaxed);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            let this = self.clone();
            let target = target.clone();
            tokio::spawn(async move { this.drain(target).await });
        }
        true
    }

    async fn drain(self: Arc<Self>, target: Arc<Target>) {
        let mut rng = Rng::new(uuid::Uuid::new_v4().as_u64_pair().0);
        loop {
            let next = {
                let mut q = target.queue();
                match q.items.front() {
                    Some(k) => k.clone(),
                    None => {
                        q.running = false;
                        return;
                    }
                }
            };
            self.deliver(&target, &next, &mut rng).await;
            target.queue().items.pop_front();
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// One report, with retries. Never fails: the outcome is counted and logged.
    async fn deliver(&self, target: &Target, kind: &ReportKind, rng: &mut Rng) {
        let body = Bytes::from(report_body(&target.tunnel_id, kind, &self.key));
        let uri: Uri = match target.receive_url.parse() {
            Ok(u) => u,
            Err(e) => {
                Metrics::inc(&self.metrics.reports_failed);
                tracing::error!(tunnel = %target.tunnel_id, url = %target.receive_url, error = %e, "invalid receiveUrl: report dropped");
                return;
            }
        };
        for attempt in 0..self.attempts {
            if attempt > 0 {
                let delay = BACKOFF.delay(attempt - 1, rng);
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let outcome = {
                let _permit = self.in_flight.acquire().await;
                self.post(&uri, body.clone()).await
            };
            match outcome {
                Ok(status) if status.is_success() => {
                    Metrics::inc(&self.metrics.reports_sent);
                    return;
                }
                Ok(status) if status.is_client_error() => {
                    Metrics::inc(&self.metrics.reports_failed);
                    tracing::warn!(tunnel = %target.tunnel_id, kind = kind.name(), url = %target.receive_url,
                        status = status.as_u16(), "the business server rejected the report (check the signature key)");
                    return;
                }
                Ok(status) => {
                    tracing::debug!(tunnel = %target.tunnel_id, attempt, status = status.as_u16(), "report failed, retrying");
                }
                Err(e) => {
                    tracing::debug!(tunnel = %target.tunnel_id, attempt, error = %e, "report failed, retrying");
                }
            }
            if attempt + 1 < self.attempts {
                Metrics::inc(&self.metrics.reports_retried);
            }
        }
        Metrics::inc(&self.metrics.reports_failed);
        tracing::error!(tunnel = %target.tunnel_id, kind = kind.name(), url = %target.receive_url,
            attempts = self.attempts, "business server unreachable: report given up");
    }

    async fn post(&self, uri: &Uri, body: Bytes) -> Result<hyper::StatusCode, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header(
                USER_AGENT,
                concat!("wafer-tunnel/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let send = async {
            let res = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = res.status();
            // Read the answer so the connection goes back to the pool.
            res.into_body().collect().await.map_err(|e| e.to_string())?;
            Ok(status)
        };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }

    /// Reports queued or in flight.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Wait until every report is delivered or given up, or `deadline`; whether all were.
    pub async fn flush(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            if self.pending() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
