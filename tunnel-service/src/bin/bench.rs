//! `wafer-tunnel-bench`: load bench of the tunnel service (not a test; `npm run bench:tunnel`).
//!
//! Starts one or two `wafer-tunnel` nodes (two share a private `redis-server`), plays the
//! business server itself (signed `/get/wsurl` and `/ws/push`, a receiveUrl that answers
//! every report), and opens N tunnels from several 127.0.0.x source addresses. Each phone
//! is the SDK core's tunnel state machine (`wafer_wasm::sansio::tunnel::Tunnel`) driven over
//! tokio: handshake, socket, `timeout:<s>`, ping/pong. Prints the connect rate, the nodes'
//! RSS per idle tunnel and the fan-out latency of broadcasts to all N (push sent → frame
//! received, p50/p99).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpSocket;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use wafer_tunnel::signature::sign;
use wafer_wasm::sansio::config::TunnelConfig;
use wafer_wasm::sansio::packet::{self, HEAD_LEN, MESSAGE_PREFIX};
use wafer_wasm::sansio::tunnel::{Event, Handled, Input, Output, Packet, Tunnel};

#[derive(Parser, Debug)]
#[command(name = "wafer-tunnel-bench")]
struct Args {
    /// Tunnels to open.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Nodes: 1 (in-memory registry) or 2 (on a private redis-server).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    nodes: u8,
    /// Source addresses 127.0.0.1 .. 127.0.0.<sources> (each has ~28 000 ephemeral ports).
    #[arg(long, default_value_t = 8)]
    sources: u8,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Broadcasts to all N, one after the other.
    #[arg(long, default_value_t = 5)]
    broadcasts: usize,
    /// Seconds the tunnels stay idle before RSS is read.
    #[arg(long, default_value_t = 5)]
    idle: u64,
    /// Heartbeat interval of the nodes (s).
    #[arg(long, default_value_t = 15)]
    heartbeat: u64,
    /// The wafer-tunnel binary (default: next to this one).
    #[arg(long)]
    bin: Option<std::path::PathBuf>,
    /// Phones per driver process (each process has its own open-files limit).
    #[arg(long, default_value_t = 12_000)]
    per_worker: usize,
    /// Internal: run as a driver process for these node API URLs (comma-separated).
    #[arg(long, hide = true)]
    worker: Option<String>,
    /// Internal: the receiveUrl (worker mode).
    #[arg(long, hide = true)]
    receive_url: Option<String>,
    /// Internal: index of this worker's first phone (source address spread).
    #[arg(long, hide = true, default_value_t = 0)]
    offset: usize,
}

type Http = Client<HttpConnector, Full<Bytes>>;

const KEY: &str = "bench-signature-key";

struct NodeProc {
    child: Child,
    url: String,
}

async fn start_node(
    bin: &std::path::Path,
    args: &Args,
    redis: Option<&str>,
    name: &str,
) -> NodeProc {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--signature-key",
        KEY,
        "--heartbeat",
    ])
    .arg(args.heartbeat.to_string())
    .args([
        "--max-connections-per-ip",
        "0",
        "--max-pending",
        "1000000",
        "--log-level",
        "warn",
    ])
    .args(["--report-concurrency", "256", "--node-id", name])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .kill_on_drop(true);
    if let Some(r) = redis {
        cmd.args(["--redis", r]);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines
        .next_line()
        .await
        .ok()
        .flatten()
        .expect("wafer-tunnel printed nothing");
    let addr = line
        .split_whitespace()
        .nth(3)
        .expect("listening line")
        .to_owned();
    NodeProc {
        child,
        url: format!("http://{addr}"),
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn post_signed(http: &Http, url: &str, data: &Value) -> Result<Value, String> {
    let data = data.to_string();
    let body = json!({ "data": data, "tcId": "bench", "signature": sign(&data, KEY) }).to_string();
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let res = http.request(req).await.map_err(|e| e.to_string())?;
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Broadcast receipts of this process: (seq, push→receipt in microseconds).
struct Fanout {
    latencies: Mutex<Vec<(u64, u64)>>,
}

/// Wall-clock microseconds: push and receipt happen in different processes.
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

struct Phone {
    tunnel_id: Mutex<Option<String>>,
}

/// What every phone task shares.
struct Shared {
    http: Http,
    receive_url: String,
    connected: AtomicUsize,
    fanout: Fanout,
    gate: Arc<Semaphore>,
}

/// One phone: the core's tunnel state machine over a tokio WebSocket.
async fn phone(shared: Arc<Shared>, api: String, source: IpAddr, me: Arc<Phone>) {
    let Shared {
        http,
        receive_url,
        connected,
        fanout,
        gate,
    } = &*shared;
    let epoch = Instant::now();
    let now = || epoch.elapsed().as_millis() as u64;
    let mut t: Tunnel<String> = Tunnel::new(TunnelConfig::default(), rand_seed());
    let mut ws = None;
    let mut gen_open = 0;
    let mut permit = Some(gate.clone().acquire_owned().await.expect("gate"));
    t.handle(Input::Open);
    loop {
        while let Some(out) = t.poll() {
            match out {
                Output::Handshake { gen } => {
                    let a = post_signed(
                        http,
                        &format!("{api}/get/wsurl"),
                        &json!({ "receiveUrl": receive_url, "protocolType": "wss" }),
                    )
                    .await
                    .unwrap_or_default();
                    let data: Value = serde_json::from_str(a["data"].as_str().unwrap_or("{}"))
                        .unwrap_or_default();
                    *me.tunnel_id.lock().expect("lock") =
                        data["tunnelId"].as_str().map(str::to_owned);
                    let result = match data["connectUrl"].as_str() {
                        Some(u) => Ok(u.to_owned()),
                        None => Err(Some(a.to_string())),
                    };
                    t.handle(Input::Handshake {
                        gen,
                        result,
                        now: now(),
                    });
                }
                Output::OpenSocket { gen, url } => {
                    let addr: SocketAddr = url
                        .trim_start_matches("ws://")
                        .split('/')
                        .next()
                        .and_then(|a| a.parse().ok())
                        .expect("connect URL host");
                    let sock = TcpSocket::new_v4().expect("socket");
                    sock.bind(SocketAddr::new(source, 0)).expect("bind source");
                    let config = WebSocketConfig::default()
                        .read_buffer_size(4096)
                        .write_buffer_size(0);
                    let opened = match sock.connect(addr).await {
                        Ok(stream) => tokio_tungstenite::client_async_with_config(
                            url.as_str(),
                            stream,
                            Some(config),
                        )
                        .await
                        .ok(),
                        Err(_) => None,
                    };
                    match opened {
                        Some((s, _)) => {
                            ws = Some(s);
                            gen_open = gen;
                            t.handle(Input::SocketOpened { gen, now: now() });
                        }
                        None => {
                            t.handle(Input::SocketDown {
                                gen,
                                detail: None,
                                now: now(),
                            });
                        }
                    }
                }
                Output::Send { packet: p, .. } => {
                    let frame = match p {
                        Packet::Ping => packet::PING.to_owned(),
                        Packet::Close => packet::CLOSE.to_owned(),
                        Packet::Message(m) => m,
                    };
                    if let Some(s) = ws.as_mut() {
                        let _ = s.send(Message::Text(frame.into())).await;
                    }
                }
                Output::CloseSocket { .. } => ws = None,
                Output::Event(Event::Connect) => {
                    connected.fetch_add(1, Ordering::Relaxed);
                    permit.take();
                }
                Output::Event(_) | Output::Log(_) => {}
            }
        }
        let Some(s) = ws.as_mut() else {
            match t.poll_timeout() {
                Some(at) => {
                    tokio::time::sleep(Duration::from_millis(at.saturating_sub(now()))).await
                }
                None => return,
            }
            t.handle(Input::Timeout { now: now() });
            continue;
        };
        let timer = t
            .poll_timeout()
            .map(|at| at.saturating_sub(now()))
            .unwrap_or(3_600_000);
        tokio::select! {
            msg = s.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str();
                    let len = text.encode_utf16().count();
                    if let Some(content) = text.strip_prefix(MESSAGE_PREFIX) {
                        let frame = Input::MessageFrame { gen: gen_open, len };
                        if let Handled::Deliver { .. } = t.handle(frame) {
                            record(fanout, content);
                        }
                    } else {
                        let head: String = text.chars().take(HEAD_LEN).collect();
                        let frame = Input::Frame { gen: gen_open, head: &head, len, now: now() };
                        if let Handled::Deliver { content_at } = t.handle(frame) {
                            record(fanout, &text[content_at..]);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    t.handle(Input::SocketDown { gen: gen_open, detail: None, now: now() });
                }
            },
            _ = tokio::time::sleep(Duration::from_millis(timer)) => {
                t.handle(Input::Timeout { now: now() });
            }
        }
    }
}

fn record(fanout: &Fanout, content: &str) {
    let at = unix_micros();
    let Ok(v) = serde_json::from_str::<Value>(content) else {
        return;
    };
    let (Some(seq), Some(t)) = (v["content"]["seq"].as_u64(), v["content"]["t"].as_u64()) else {
        return;
    };
    fanout
        .latencies
        .lock()
        .expect("lock")
        .push((seq, at.saturating_sub(t)));
}

fn rand_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Lift the open-files limit to what N sockets on both ends need (children inherit it).
fn raise_nofile(want: u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur >= want {
            return;
        }
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) != 0 {
            let soft = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
            eprintln!("bench: open-files limit stays at {} (need {want}; run as root or raise `ulimit -Hn`)", lim.rlim_max);
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match args.worker.clone() {
        Some(apis) => worker(args, apis).await,
        None => coordinator(args).await,
    }
}

/// A driver process: opens its phones, prints `id <tunnelId>` for each and `ready`, then
/// on `report` from stdin prints `lat <seq> <micros>` for every broadcast received and `end`.
async fn worker(args: Args, apis: String) {
    raise_nofile(args.n as u64 + 1024);
    let apis: Vec<String> = apis.split(',').map(str::to_owned).collect();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let shared = Arc::new(Shared {
        http,
        receive_url: args.receive_url.clone().expect("--receive-url"),
        connected: AtomicUsize::new(0),
        fanout: Fanout {
            latencies: Mutex::new(Vec::new()),
        },
        gate: Arc::new(Semaphore::new(args.concurrency)),
    });
    let mut phones = Vec::with_capacity(args.n);
    for k in 0..args.n {
        let i = args.offset + k;
        let me = Arc::new(Phone {
            tunnel_id: Mutex::new(None),
        });
        phones.push(me.clone());
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (i % usize::from(args.sources)) as u8,
        ));
        // Spread the phones over the nodes (a load balancer would).
        let api = apis[i % apis.len()].clone();
        tokio::spawn(phone(shared.clone(), api, source, me));
    }
    // Give up after two minutes without progress (the coordinator reports the shortfall).
    let (mut last, mut since) = (0, Instant::now());
    loop {
        let now = shared.connected.load(Ordering::Relaxed);
        if now >= args.n || since.elapsed() > Duration::from_secs(120) {
            break;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = String::new();
    for p in &phones {
        if let Some(id) = p.tunnel_id.lock().expect("lock").as_deref() {
            out.push_str("id ");
            out.push_str(id);
            out.push('\n');
        }
    }
    out.push_str("ready\n");
    print!("{out}");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line == "report" {
            let lat = std::mem::take(&mut *shared.fanout.latencies.lock().expect("lock"));
            let mut out = String::with_capacity(lat.len() * 16);
            for (seq, us) in lat {
                out.push_str(&format!("lat {seq} {us}\n"));
            }
            out.push_str("end\n");
            print!("{out}");
        } else if line == "count" {
            let n = shared.fanout.latencies.lock().expect("lock").len();
            println!("count {n}");
        }
    }
    std::process::exit(0);
}

struct Worker {
    child: Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Worker {
    async fn ask(&mut self, command: &str) {
        use tokio::io::AsyncWriteExt;
        let _ = self
            .stdin
            .write_all(format!("{command}\n").as_bytes())
            .await;
        let _ = self.stdin.flush().await;
    }
}

async fn coordinator(args: Args) {
    let bin = args.bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("exe")
            .with_file_name("wafer-tunnel")
    });

    // The business server's receiveUrl: answers every report.
    let reports = Arc::new(AtomicU64::new(0));
    let counter = reports.clone();
    let receiver = axum::Router::new().route(
        "/tunnel",
        axum::routing::post(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { r#"{"code":0,"message":"ok"}"# }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let receive_url = format!("http://{}/tunnel", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    // Redis for two nodes.
    let mut redis_child = None;
    let redis_url = if args.nodes == 2 {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            l.local_addr().expect("addr").port()
        };
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server");
        redis_child = Some(child);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some(format!("redis://127.0.0.1:{port}"))
    } else {
        None
    };
    let mut nodes = Vec::new();
    for i in 0..args.nodes {
        nodes.push(start_node(&bin, &args, redis_url.as_deref(), &format!("bench-{i}")).await);
    }
    let pids: Vec<u32> = nodes.iter().map(|n| n.child.id().expect("pid")).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    let apis = nodes
        .iter()
        .map(|n| n.url.as_str())
        .collect::<Vec<_>>()
        .join(",");

    let k = args.n.div_ceil(args.per_worker).max(1);
    println!(
        "bench: {} tunnel(s) over {} node(s){} from {} source address(es), {} driver process(es), heartbeat {} s",
        args.n,
        args.nodes,
        if args.nodes == 2 { " on Redis" } else { "" },
        args.sources,
        k,
        args.heartbeat
    );
    let me = std::env::current_exe().expect("exe");
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for w in 0..k {
        let offset = w * args.n / k;
        let n = (w + 1) * args.n / k - offset;
        let mut child = Command::new(&me)
            .args(["--worker", &apis, "--receive-url", &receive_url])
            .args(["--n", &n.to_string(), "--offset", &offset.to_string()])
            .args(["--sources", &args.sources.to_string()])
            .args(["--concurrency", &(args.concurrency / k).max(1).to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("driver process");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        workers.push(Worker {
            child,
            stdin,
            lines,
        });
    }
    let mut ids = Vec::with_capacity(args.n);
    for w in &mut workers {
        loop {
            match w.lines.next_line().await {
                Ok(Some(l)) if l == "ready" => break,
                Ok(Some(l)) => {
                    if let Some(id) = l.strip_prefix("id ") {
                        ids.push(id.to_owned());
                    }
                }
                _ => {
                    println!("bench: FAILED: a driver process ended before its phones connected");
                    std::process::exit(1);
                }
            }
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    println!(
        "connect: {}/{} tunnels in {connect_s:.1} s = {:.0} tunnels/s (signed /get/wsurl + WebSocket upgrade, {} at once)",
        ids.len(),
        args.n,
        ids.len() as f64 / connect_s,
        args.concurrency
    );
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let rss_idle: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    let delta: u64 = rss_idle
        .iter()
        .zip(&rss_before)
        .map(|(a, b)| a.saturating_sub(*b))
        .sum();
    println!(
        "idle: RSS {} KiB -> {} KiB: {:.2} KiB per tunnel (nodes: {:?} KiB)",
        rss_before.iter().sum::<u64>(),
        rss_idle.iter().sum::<u64>(),
        delta as f64 / args.n as f64,
        rss_idle
    );

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http: Http = Client::builder(TokioExecutor::new()).build(connector);
    let mut invalid_total = 0;
    for seq in 0..args.broadcasts {
        let content =
            json!({ "type": "bench", "content": { "seq": seq, "t": unix_micros() } }).to_string();
        // Always through the first node: with two, half the frames cross Redis.
        let answer = post_signed(
            &http,
            &format!("{}/ws/push", nodes[0].url),
            &json!([{ "tunnelIds": ids, "type": "message", "content": content }]),
        )
        .await
        .unwrap_or_default();
        invalid_total += answer["data"]["invalidTunnelIds"]
            .as_array()
            .map_or(ids.len(), Vec::len);
        // Wait until every phone has it (or 60 s): ask the drivers for their counts.
        let want = (seq + 1) * ids.len();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let mut got = 0;
            for w in &mut workers {
                w.ask("count").await;
                if let Ok(Some(l)) = w.lines.next_line().await {
                    got += l
                        .strip_prefix("count ")
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(0);
                }
            }
            if got >= want || Instant::now() > until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut by_seq: Vec<Vec<u64>> = vec![Vec::new(); args.broadcasts];
    for w in &mut workers {
        w.ask("report").await;
        while let Ok(Some(l)) = w.lines.next_line().await {
            if l == "end" {
                break;
            }
            let mut parts = l.split_whitespace().skip(1);
            if let (Some(Ok(seq)), Some(Ok(us))) = (
                parts.next().map(str::parse::<usize>),
                parts.next().map(str::parse::<u64>),
            ) {
                if let Some(v) = by_seq.get_mut(seq) {
                    v.push(us);
                }
            }
        }
    }
    let mut all = Vec::new();
    for (seq, lat) in by_seq.iter_mut().enumerate() {
        lat.sort_unstable();
        println!(
            "broadcast {seq}: {}/{} received; push→receipt p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            ids.len(),
            percentile(lat, 0.5),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
        all.extend_from_slice(lat);
    }
    all.sort_unstable();
    println!(
        "fan-out over {} broadcasts to {} tunnels: {}/{} received, {invalid_total} invalid; p50 {:.1} ms, p99 {:.1} ms",
        args.broadcasts,
        ids.len(),
        all.len(),
        args.broadcasts * ids.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    println!(
        "reports received by the business server: {}",
        reports.load(Ordering::Relaxed)
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for mut w in workers {
        let _ = w.child.kill().await;
    }
    for mut n in nodes {
        let _ = n.child.kill().await;
    }
    if let Some(mut r) = redis_child {
        let _ = r.kill().await;
    }
    std::process::exit(0);
}
