//! `mittaphap bench`: two nodes as two `serve` processes on 127.0.0.1 (SQLite,
//! durable settings), measured end to end through the desk API:
//! (a) receipted messages per second and the latency from commit to stored
//!     receipt, at 1, 8 and 64 concurrent cases;
//! (b) a bare baseline in the same run: the same envelope bytes POSTed over the
//!     same mutual TLS to a handler that only writes and fsyncs them;
//! (c) one large attachment end to end, with each node's peak RSS.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

mod baseline;
mod harness;

use baseline::baseline_server;
use harness::*;

use super::CliError;
use crate::node::Node;
use crate::store::bench;

pub(super) fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub(super) const PASSWORD: &str = "bench-password-0";

pub struct BenchArgs {
    pub dir: Option<PathBuf>,
    pub messages: usize,
    pub attachment_mib: u64,
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
        let envelopes = bench::envelopes_since(th.store.pool(), since)
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
