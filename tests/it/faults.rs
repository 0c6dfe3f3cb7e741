//! Proof under fire: two real `serve` processes, each reached by its peer through a
//! fault-injecting proxy (connections cut at random points, delays, stalls), while
//! a driver makes moves on both sides through their desks and kills either process
//! with SIGKILL at random moments, then starts it again. At the end every move is
//! applied exactly once on both sides, `reconcile` agrees, and `audit verify`
//! passes on both.
//!
//! CI runs a short version; `MITTAPHAP_FAULT_MOVES` and `MITTAPHAP_FAULT_KILLS`
//! make it longer (docs/reliability.md records a long run).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cases::referral;
use crate::desk::add_user;
use crate::helpers::{Backend, Databases, TestNode, init_node_reached_at, mittaphap, tls_provider};
use crate::on_both_backends;

const PASSWORD: &str = "a long password for tests";

/// A TCP proxy that misbehaves at random while `chaos` is on.
struct ChaosProxy {
    port: u16,
    target: Arc<AtomicU16>,
    chaos: Arc<AtomicBool>,
    faults: Arc<AtomicUsize>,
    live: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChaosProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(0));
        let chaos = Arc::new(AtomicBool::new(true));
        let faults = Arc::new(AtomicUsize::new(0));
        let live: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let (to, on, count, conns) = (target.clone(), chaos.clone(), faults.clone(), live.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = to.load(Ordering::SeqCst);
                let chaos = on.load(Ordering::SeqCst);
                let count = count.clone();
                let handle = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    chaotic_pipe(client, server, chaos, count).await;
                });
                conns.lock().unwrap().push(handle.abort_handle());
            }
        });
        Self {
            port,
            target,
            chaos,
            faults,
            live,
            task,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Drops every open connection at once, as a network outage would.
    fn reset(&self) {
        let mut live = self.live.lock().unwrap();
        let open = live.iter().filter(|h| !h.is_finished()).count();
        for handle in live.drain(..) {
            handle.abort();
        }
        self.faults.fetch_add(open, Ordering::SeqCst);
    }
}

/// Copies both ways; with chaos, one connection in four is cut after a random
/// number of bytes, and chunks are delayed a little, or stalled for a while.
async fn chaotic_pipe(client: TcpStream, server: TcpStream, chaos: bool, faults: Arc<AtomicUsize>) {
    let (cut_after, stall) = {
        let mut rng = rand::rng();
        let cut = chaos && rng.random_range(0..4) == 0;
        (
            cut.then(|| rng.random_range(0..20_000usize)),
            chaos && rng.random_range(0..20) == 0,
        )
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let faults2 = faults.clone();
    let up = async move {
        let mut sent = 0usize;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some(limit) = cut_after
                && sent + n > limit
            {
                let _ = sw.write_all(&buf[..limit - sent]).await;
                faults2.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if chaos {
                let delay = rand::rng().random_range(0..3u64);
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
            sent += n;
        }
    };
    let down = async move {
        if stall {
            faults.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// A node served by a real process, restartable.
struct Served {
    node: TestNode,
    desk: String,
    child: Option<Child>,
    kills: usize,
}

impl Served {
    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_mittaphap"))
            .args(["serve", "--dir", self.node.dir_str()])
            .env("MITTAPHAP_RETRY_MAX_MS", "500")
            .env_remove("MITTAPHAP_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.kills += 1;
        }
    }

    fn up(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until a desk answers (each try a real request), at most 30 s.
async fn ready(http: &reqwest::Client, desk: &str) {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{desk}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{desk} did not become ready");
}

async fn call(
    http: &reqwest::Client,
    desk: &str,
    token: &str,
    path: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let r = http
        .post(format!("{desk}{path}"))
        .bearer_auth(token)
        .json(body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

async fn sign_in(http: &reqwest::Client, desk: &str, user: &str) -> String {
    let (status, body) = call(
        http,
        desk,
        "",
        "/api/v1/session",
        &json!({"username": user, "password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// (jti → how many times) of the moves on each case's timeline of one node.
async fn timeline_jtis(dir: &TestNode) -> BTreeMap<String, i64> {
    let node = dir.open().await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT jti, COUNT(*) FROM case_events WHERE jti IS NOT NULL GROUP BY jti")
            .fetch_all(node.store.pool())
            .await
            .unwrap();
    node.store.close().await;
    rows.into_iter().collect()
}

async fn undelivered(dir: &TestNode) -> i64 {
    let node = dir.open().await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state <> 'delivered'")
        .fetch_one(node.store.pool())
        .await
        .unwrap();
    node.store.close().await;
    n
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn moves_survive_faults_and_kills(backend: Backend) {
    tls_provider();
    let moves = env_number("MITTAPHAP_FAULT_MOVES", 100);
    let kills = env_number("MITTAPHAP_FAULT_KILLS", 4);
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    // Each node is reached by its peer only through its own chaos proxy.
    let th_proxy = ChaosProxy::start().await;
    let la_proxy = ChaosProxy::start().await;
    let mut th_dir =
        init_node_reached_at(root.path(), "th-msdhs", "TH", &dbs, Some(&th_proxy.url()));
    let mut la_dir =
        init_node_reached_at(root.path(), "la-molsw", "LA", &dbs, Some(&la_proxy.url()));
    th_dir.add_peer(&la_dir);
    la_dir.add_peer(&th_dir);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&la_dir, "keo", "officer", None, PASSWORD);
    th_proxy
        .target
        .store(th_dir.federation_port, Ordering::SeqCst);
    la_proxy
        .target
        .store(la_dir.federation_port, Ordering::SeqCst);
    th_dir.release_ports();
    la_dir.release_ports();
    let desk_of = |n: &TestNode| {
        let config = mittaphap::config::NodeConfig::load(&n.dir).unwrap();
        format!("http://{}", config.desk.listen)
    };
    let mut th = Served {
        desk: desk_of(&th_dir),
        node: th_dir,
        child: None,
        kills: 0,
    };
    let mut la = Served {
        desk: desk_of(&la_dir),
        node: la_dir,
        child: None,
        kills: 0,
    };
    th.start();
    la.start();
    let http = reqwest::Client::new();
    ready(&http, &th.desk).await;
    ready(&http, &la.desk).await;
    let th_token = sign_in(&http, &th.desk, "somchai").await;
    let la_token = sign_in(&http, &la.desk, "keo").await;

    // Four referred cases to make moves on.
    let mut cases = Vec::new();
    for _ in 0..4 {
        let (status, c) = call(
            &http,
            &th.desk,
            &th_token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{c}");
        let id = c["id"].as_str().unwrap().to_owned();
        let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Shelter social worker"});
        let r = http
            .post(format!("{}/api/v1/cases/{id}/consents", th.desk))
            .bearer_auth(&th_token)
            .json(&record)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let (status, _) = call(
            &http,
            &th.desk,
            &th_token,
            &format!("/api/v1/cases/{id}/messages"),
            &json!({"kind": "referral"}),
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
        cases.push(id);
    }

    // The referrals arrive on the home side (through the faults: each try of the
    // desk a real request, 60 s at most).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http
            .get(format!("{}/api/v1/cases", la.desk))
            .bearer_auth(&la_token)
            .send()
            .await
            .unwrap();
        let listed: Value = r.json().await.unwrap();
        if listed.as_array().is_some_and(|a| a.len() == cases.len()) {
            break;
        }
        assert!(Instant::now() < deadline, "the referrals did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Moves on both sides (notes: either side may send one in any state after the
    // referral), with kills at random moments.
    let kill_at: Vec<usize> = {
        let mut rng = rand::rng();
        let mut at: Vec<usize> = (0..kills).map(|_| rng.random_range(0..moves)).collect();
        at.sort_unstable();
        at
    };
    let mut confirmed = 0usize;
    let mut unanswered = 0usize;
    let started = Instant::now();
    for i in 0..moves {
        for _ in kill_at.iter().filter(|k| **k == i) {
            let victim = if rand::rng().random_range(0..2) == 0 {
                &mut th
            } else {
                &mut la
            };
            victim.kill();
        }
        // Every so often the network drops every open connection.
        if i % 10 == 5 {
            th_proxy.reset();
            la_proxy.reset();
        }
        // A killed node comes back a few moves later.
        if i % 7 == 3 {
            for n in [&mut th, &mut la] {
                if !n.up() {
                    n.start();
                    ready(&http, &n.desk).await;
                }
            }
        }
        let case = &cases[i % cases.len()];
        let (node, token, side) = if i % 2 == 0 {
            (&th, &th_token, "host")
        } else {
            (&la, &la_token, "home")
        };
        if !node.up() {
            continue;
        }
        let body = json!({"kind": "note", "body": {"schema": "note/1", "text": format!("move {i} by the {side} side")}});
        match call(
            &http,
            &node.desk,
            token,
            &format!("/api/v1/cases/{case}/messages"),
            &body,
        )
        .await
        {
            Some((200, _)) => confirmed += 1,
            Some((status, body)) => panic!("move {i} refused: {status} {body}"),
            None => unanswered += 1,
        }
    }
    for n in [&mut th, &mut la] {
        if !n.up() {
            n.start();
        }
        ready(&http, &n.desk).await;
    }
    // Calm: no more faults; everything queued must now arrive.
    th_proxy.chaos.store(false, Ordering::SeqCst);
    la_proxy.chaos.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (a, b) = (undelivered(&th.node).await, undelivered(&la.node).await);
        if a == 0 && b == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still undelivered after 2 minutes: {a} and {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every move, exactly once, on both sides.
    let (th_moves, la_moves) = (timeline_jtis(&th.node).await, timeline_jtis(&la.node).await);
    assert!(
        th_moves.values().all(|n| *n == 1),
        "a move applied twice on th-msdhs"
    );
    assert!(
        la_moves.values().all(|n| *n == 1),
        "a move applied twice on la-molsw"
    );
    assert_eq!(
        th_moves.keys().collect::<Vec<_>>(),
        la_moves.keys().collect::<Vec<_>>(),
        "both sides hold the same moves"
    );
    // 4 referrals plus every confirmed note; an unanswered one may or may not exist.
    let total = th_moves.len();
    assert!(
        total >= 4 + confirmed && total <= 4 + confirmed + unanswered,
        "{total} moves for {confirmed} confirmed and {unanswered} unanswered"
    );
    for (dir, peer) in [(&th.node, "la-molsw"), (&la.node, "th-msdhs")] {
        let out = mittaphap(&["reconcile", "--dir", dir.dir_str(), "--peer", peer]);
        assert_eq!(out.code, 0, "reconcile: {}{}", out.stdout, out.stderr);
        let out = mittaphap(&["audit", "verify", "--dir", dir.dir_str()]);
        assert_eq!(out.code, 0, "audit verify: {}{}", out.stdout, out.stderr);
    }
    eprintln!(
        "faults: {moves} moves tried, {confirmed} confirmed, {unanswered} unanswered, {} kills, {} connection faults, {} moves on each side, {:.1} s",
        th.kills + la.kills,
        th_proxy.faults.load(Ordering::SeqCst) + la_proxy.faults.load(Ordering::SeqCst),
        total,
        started.elapsed().as_secs_f64()
    );
}

on_both_backends!(moves_survive_faults_and_kills);
