//! The bench's harness: two nodes made and served as processes, cases driven
//! through the desk API, deliveries awaited.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{PASSWORD, failed};
use crate::app::peers::register_peer;
use crate::cli::CliError;
use crate::domain::{Country, NodeId};
use crate::node::Node;
use crate::node::init::{InitOptions, init};
use crate::store::bench;

pub(super) struct Proc {
    pub(super) child: Child,
    pub(super) desk: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Peak resident memory (VmHWM) in MiB, from /proc.
    pub(super) fn peak_rss_mib(&self) -> Option<f64> {
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

pub(super) fn free_port() -> Result<std::net::SocketAddr, CliError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(failed)
}

pub(super) async fn wait_ready(http: &reqwest::Client, desk: &str) -> Result<(), CliError> {
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

pub(super) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(super) async fn post(
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
pub(super) async fn wait_delivered(
    node: &Node,
    since: i64,
    count: usize,
) -> Result<Vec<(i64, i64)>, CliError> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let waiting = bench::queued(node.store.pool()).await.map_err(failed)?;
        if waiting == 0 {
            let rows = bench::timings_since(node.store.pool(), since)
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
pub(super) async fn make_nodes(dir: &Path) -> Result<(PathBuf, PathBuf), CliError> {
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
        let user = crate::app::accounts::NewUser {
            username: "bench",
            role: "officer",
            org: None,
            password: PASSWORD.into(),
            email: None,
            needs_confirmation: false,
        };
        crate::app::accounts::add(&node.store, "operator", user, now)
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

pub(super) fn serve(dir: &Path) -> Result<Proc, CliError> {
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

pub(super) fn referral() -> Value {
    json!({
        "schema": "referral/1",
        "person": {"names": {"latin": "Bench Person"}, "gender": "Feminine", "age_at_identification": 20},
        "origin": {"province": "LA-VT", "district": "Chanthabouly", "village": "Ban Bench"},
        "exploitation": {"types": ["ForcedLabour"], "means_of_control": [], "summary": "Benchmark"},
        "needs": "None"
    })
}

/// A referred case on the sender, ready for notes.
pub(super) async fn make_case(
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
