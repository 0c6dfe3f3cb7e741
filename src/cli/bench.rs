//! `mittaphap bench`: two nodes as two `serve` processes on 127.0.0.1 (SQLite,
//! durable settings), measured end to end through the desk API:
//! (a) receipted messages per second and the latency from commit to stored
//!     receipt, at 1, 8 and 64 concurrent cases;
//! (b) a bare baseline in the same run: the same envelope bytes POSTed over the
//!     same mutual TLS to a handler that only writes and fsyncs them;
//! (c) one large attachment end to end, with each node's peak RSS.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::CliError;
use crate::domain::{Country, NodeId};
use crate::node::init::{InitOptions, init};
use crate::node::{Node, register_peer};

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

const PASSWORD: &str = "bench-password-0";

pub struct BenchArgs {
    pub dir: Option<PathBuf>,
    pub messages: usize,
    pub attachment_mib: u64,
}

struct Proc {
    child: Child,
    desk: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Peak resident memory (VmHWM) in MiB, from /proc.
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

fn free_port() -> Result<std::net::SocketAddr, CliError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(failed)
}

async fn wait_ready(http: &reqwest::Client, desk: &str) -> Result<(), CliError> {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{desk}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(failed(format!("{desk} did not become ready")))
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<Value, CliError> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(failed)?;
    let status = r.status();
    let text = r.text().await.map_err(failed)?;
    if !status.is_success() {
        return Err(failed(format!("{url}: {status}: {text}")));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Every outbox row created since `since` is delivered: (created_at, delivered_at).
/// Polls a count the outbox's state index answers (a scan of the rows would itself
/// load the sender's database), then reads the rows once.
async fn wait_delivered(
    node: &Node,
    since: i64,
    count: usize,
) -> Result<Vec<(i64, i64)>, CliError> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let (waiting,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")
                .fetch_one(node.store.pool())
                .await
                .map_err(failed)?;
        if waiting == 0 {
            let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
                "SELECT created_at, delivered_at FROM outbox WHERE created_at >= $1 ORDER BY seq",
            )
            .bind(since)
            .fetch_all(node.store.pool())
            .await
            .map_err(failed)?;
            let done: Vec<(i64, i64)> = rows
                .iter()
                .filter_map(|(c, d)| d.map(|d| (*c, d)))
                .collect();
            if done.len() >= count {
                return Ok(done);
            }
        }
        if Instant::now() > deadline {
            return Err(failed("deliveries did not finish in 30 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes both nodes, registers them with each other, and adds a user on each.
async fn make_nodes(dir: &Path) -> Result<(PathBuf, PathBuf), CliError> {
    let now = time::OffsetDateTime::now_utc();
    let mut made = Vec::new();
    for (id, country) in [("th-bench", "TH"), ("la-bench", "LA")] {
        let options = InitOptions {
            dir: dir.join(id),
            node_id: NodeId::parse(id).map_err(failed)?,
            country: Country::parse(country).map_err(failed)?,
            name: format!("Benchmark node {id}"),
            federation_url: None,
            federation_addr: free_port()?,
            desk_addr: free_port()?,
            database_url: None,
        };
        let done = init(options, now).await?;
        let node = Node::open(&done.dir).await?;
        let user = crate::accounts::NewUser {
            username: "bench",
            role: "officer",
            org: None,
            password: PASSWORD.into(),
        };
        crate::accounts::add(&node.store, "operator", user, now)
            .await
            .map_err(failed)?;
        made.push((node, done.fingerprint, done.dir));
    }
    for (i, j) in [(0, 1), (1, 0)] {
        let descriptor = made[j].0.signed_descriptor()?;
        register_peer(&made[i].0, &descriptor, &made[j].1, now).await?;
    }
    let dirs = (made[0].2.clone(), made[1].2.clone());
    for (node, _, _) in made {
        node.store.close().await;
    }
    Ok(dirs)
}

fn serve(dir: &Path) -> Result<Proc, CliError> {
    let exe = std::env::current_exe().map_err(failed)?;
    let config = crate::config::NodeConfig::load(dir).map_err(failed)?;
    let child = Command::new(exe)
        .args(["serve", "--dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .env("MITTAPHAP_RETRY_MAX_MS", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(failed)?;
    Ok(Proc {
        child,
        desk: format!("http://{}", config.desk.listen),
    })
}

fn referral() -> Value {
    json!({
        "schema": "referral/1",
        "person": {"names": {"latin": "Bench Person"}, "gender": "Feminine", "age_at_identification": 20},
        "origin": {"province": "LA-VT", "district": "Chanthabouly", "village": "Ban Bench"},
        "exploitation": {"types": ["ForcedLabour"], "means_of_control": [], "summary": "Benchmark"},
        "needs": "None"
    })
}

/// A referred case on the sender, ready for notes.
async fn make_case(
    http: &reqwest::Client,
    desk: &str,
    token: &str,
    with_file: Option<u64>,
) -> Result<String, CliError> {
    let c = post(
        http,
        &format!("{desk}/api/v1/cases"),
        token,
        &json!({"home_node": "la-bench", "referral": referral()}),
    )
    .await?;
    let id = c["id"]
        .as_str()
        .ok_or_else(|| failed("no case id"))?
        .to_owned();
    let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Bench"});
    let url = format!("{desk}/api/v1/cases/{id}/consents");
    let r = http
        .post(&url)
        .bearer_auth(token)
        .json(&record)
        .send()
        .await
        .map_err(failed)?;
    if !r.status().is_success() {
        return Err(failed(format!("consent: {}", r.status())));
    }
    if let Some(mib) = with_file {
        // Generated bytes, streamed: nothing holds the file in memory.
        let stream = futures_util::stream::iter((0..mib).map(|i| {
            let block: Vec<u8> = (0..1u32 << 20)
                .map(|j| (j.wrapping_mul(2_654_435_761) ^ (i as u32).wrapping_mul(97)) as u8)
                .collect();
            Ok::<_, std::io::Error>(bytes::Bytes::from(block))
        }));
        let r = http
            .post(format!(
                "{desk}/api/v1/cases/{id}/attachments?file_name=large.bin&media_type=application/octet-stream"
            ))
            .bearer_auth(token)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(failed)?;
        if !r.status().is_success() {
            return Err(failed(format!("attachment: {}", r.status())));
        }
    }
    post(
        http,
        &format!("{desk}/api/v1/cases/{id}/messages"),
        token,
        &json!({"kind": "referral"}),
    )
    .await?;
    Ok(id)
}

/// Serves the bare baseline: mutual TLS as the federation door, a handler that
/// writes each body to a file and fsyncs it.
async fn baseline_server(
    th: Arc<Node>,
    dir: PathBuf,
) -> Result<(String, tokio::task::JoinHandle<()>), CliError> {
    use axum::routing::post as route_post;
    let trust = Arc::new(crate::federation::PeerTrust::new(
        th.store.clone(),
        th.tls.chain.clone(),
        th.tls.key.clone_key(),
    ));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(failed)?;
    let addr = tcp.local_addr().map_err(failed)?;
    let listener = crate::net::TlsListener::new(tcp, trust).map_err(failed)?;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/fed/v1/envelopes",
        route_post(move |body: axum::body::Bytes| {
            let dir = dir.clone();
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = dir.join(format!("{n}.bin"));
                let written = async {
                    use tokio::io::AsyncWriteExt;
                    let mut f = tokio::fs::File::create(&path).await?;
                    f.write_all(&body).await?;
                    f.sync_all().await
                }
                .await;
                if written.is_ok() {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<crate::net::ConnInfo>(),
        )
        .await;
    });
    Ok((format!("https://{addr}"), task))
}

pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mittaphap-bench-{}", uuid::Uuid::new_v4().simple()))
    });
    println!("# Mittaphap benchmark");
    println!();
    println!(
        "Two nodes as two `serve` processes on 127.0.0.1, SQLite (WAL, synchronous=FULL), in {}.",
        dir.display()
    );
    println!(
        "Machine: {} cores, {}.",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_else(|| "unknown CPU".into())
    );
    let (th_dir, la_dir) = make_nodes(&dir).await?;
    let th_proc = serve(&th_dir)?;
    let la_proc = serve(&la_dir)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .map_err(failed)?;
    wait_ready(&http, &th_proc.desk).await?;
    wait_ready(&http, &la_proc.desk).await?;
    let th = Arc::new(Node::open(&th_dir).await?);
    let session = post(
        &http,
        &format!("{}/api/v1/session", th_proc.desk),
        "",
        &json!({"username": "bench", "password": PASSWORD}),
    )
    .await?;
    let token = session["token"].as_str().unwrap_or_default().to_owned();
    let desk = th_proc.desk.clone();

    // (a) receipted messages: notes on c cases at once.
    let levels = [1usize, 8, 64];
    let mut cases = Vec::new();
    for _ in 0..64 {
        cases.push(make_case(&http, &desk, &token, None).await?);
    }
    wait_delivered(&th, 0, 64).await?;
    println!();
    println!("## (a) Receipted messages, desk to stored receipt");
    println!();
    println!(
        "| concurrent cases | messages | messages/s | p50 ms | p99 ms | baseline msg/s | ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let baseline_dir = dir.join("baseline");
    std::fs::create_dir_all(&baseline_dir).map_err(failed)?;
    let la = Node::open(&la_dir).await?;
    let (baseline_url, baseline_task) = baseline_server(th.clone(), baseline_dir).await?;
    let th_descriptor = th.descriptor();
    let baseline_client = crate::federation::PeerClient::new(
        &baseline_url,
        &th_descriptor.tls_ca,
        &la.tls.identity_pem(),
    )
    .map_err(failed)?;
    for c in levels {
        let per_case = args.messages.div_ceil(c);
        let total = per_case * c;
        let since = crate::store::millis(time::OffsetDateTime::now_utc());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for case in cases.iter().take(c) {
            let case = case.clone();
            let http = http.clone();
            let desk = desk.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_case {
                    let body = json!({"kind": "note", "body": {"schema": "note/1", "text": format!("benchmark note {i}")}});
                    post(&http, &format!("{desk}/api/v1/cases/{case}/messages"), &token, &body).await?;
                }
                Ok::<(), CliError>(())
            }));
        }
        for t in tasks {
            t.await.map_err(failed)??;
        }
        let done = wait_delivered(&th, since, total).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let mut latencies: Vec<i64> = done.iter().map(|(c, d)| d - c).collect();
        latencies.sort_unstable();
        let rate = done.len() as f64 / elapsed;
        // The baseline: the same envelope bytes, the same concurrency, fsynced.
        let envelopes: Vec<(String, String)> =
            sqlx::query_as("SELECT jws, body FROM outbox WHERE created_at >= $1 ORDER BY seq")
                .bind(since)
                .fetch_all(th.store.pool())
                .await
                .map_err(failed)?;
        let chunks: Vec<Vec<(String, String)>> = envelopes
            .chunks(envelopes.len().div_ceil(c).max(1))
            .map(<[_]>::to_vec)
            .collect();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for chunk in chunks {
            let client = baseline_client.clone();
            tasks.push(tokio::spawn(async move {
                for (jws, body) in chunk {
                    let (status, _) = client.post_envelope(&jws, &body).await.map_err(failed)?;
                    if status != 200 {
                        return Err(failed(format!("baseline answered {status}")));
                    }
                }
                Ok::<(), CliError>(())
            }));
        }
        for t in tasks {
            t.await.map_err(failed)??;
        }
        let baseline = envelopes.len() as f64 / started.elapsed().as_secs_f64();
        println!(
            "| {c} | {} | {rate:.0} | {} | {} | {baseline:.0} | {:.2} |",
            done.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            rate / baseline
        );
    }
    baseline_task.abort();

    // (c) one large attachment end to end.
    println!();
    println!(
        "## (c) One {} MiB attachment, end to end",
        args.attachment_mib
    );
    println!();
    let since = crate::store::millis(time::OffsetDateTime::now_utc());
    let started = Instant::now();
    make_case(&http, &desk, &token, Some(args.attachment_mib)).await?;
    wait_delivered(&th, since, 1).await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "Uploaded to the Thai desk (sealed while streaming), re-sealed to the Lao node, sent, hashed and stored there, receipted: {elapsed:.1} s, {:.0} MiB/s.",
        args.attachment_mib as f64 / elapsed
    );
    println!();
    println!(
        "Peak RSS: sender {:.0} MiB, receiver {:.0} MiB (whole run).",
        th_proc.peak_rss_mib().unwrap_or(0.0),
        la_proc.peak_rss_mib().unwrap_or(0.0)
    );
    th.store.close().await;
    la.store.close().await;
    drop(th_proc);
    drop(la_proc);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
