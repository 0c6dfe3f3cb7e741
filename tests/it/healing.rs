//! Held means healable: a refusal that passes by itself is retried, and what this
//! node can mend it mends. Here: envelopes signed while this node's clock was ten
//! minutes fast are refused `iat_in_future`, signed again with the corrected time,
//! and delivered, with the chain intact.

use mittaphap::app::outbox::{Message, send};
use serde_json::json;

use crate::exchange::{inbox_of, pair};
use crate::helpers::{Backend, Databases, mittaphap, tls_provider, wait_for};
use crate::on_both_backends;

async fn envelopes_signed_by_a_fast_clock_are_delivered_once_it_is_right(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;

    // Two notes signed while the Thai clock ran ten minutes ahead (the receiver
    // allows five), then one after the clock was put right.
    let fast = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    let mut tx = th.store.begin().await.unwrap();
    for text in ["signed ahead 1", "signed ahead 2"] {
        send(
            &mut tx,
            &th,
            "la-molsw",
            Message {
                kind: "note",
                case: None,
                body: &json!({"schema": "note/1", "text": text}),
                blobs: &[],
            },
            fast,
        )
        .await
        .unwrap();
    }
    send(
        &mut tx,
        &th,
        "la-molsw",
        Message {
            kind: "note",
            case: None,
            body: &json!({"schema": "note/1", "text": "signed on time"}),
            blobs: &[],
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    th.outbox_ready.notify_one();

    // Refused once, signed again, then all three arrive in order, once each.
    wait_for(&th.events.failed_attempts, 1, "the iat_in_future refusal").await;
    wait_for(&th.events.delivered, 3, "the three notes").await;
    let inbox = inbox_of(&la, "th-msdhs").await;
    assert_eq!(
        inbox.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "once each, in order"
    );
    let out = mittaphap(&["outbox", "--dir", th_dir.dir_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("la-molsw"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (cols[1], cols[4], cols[5]),
        ("0", "0", "3"),
        "nothing queued or held: {line}"
    );
    // Both transcripts agree: the chain was made again, not broken.
    let out = mittaphap(&["reconcile", "--dir", th_dir.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(envelopes_signed_by_a_fast_clock_are_delivered_once_it_is_right);

/// A node on a small file system that fills up: writes answer 503 (never 500)
/// and `/readyz` says not ready while nothing can be written; once space is freed
/// the same process writes again, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_heals_when_space_returns() {
    use std::io::Write;
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let small = root.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a small file system needs root");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(small.clone());
    let dbs = Databases::new(&Backend::Sqlite);
    let mut node_dir = crate::helpers::init_node(&small, "th-msdhs", "TH", &dbs);
    let peer = crate::helpers::init_node(root.path(), "la-molsw", "LA", &dbs);
    node_dir.add_peer(&peer);
    crate::desk::add_user(
        &node_dir,
        "somchai",
        "officer",
        None,
        "a long password for disks",
    );
    let (_node, run) = node_dir.start().await;
    let desk = crate::desk::Desk {
        base: format!("http://{}", run.desk_addr),
        http: reqwest::Client::new(),
    };
    let token = desk.token("somchai", "a long password for disks").await;
    let ready = || async {
        desk.http
            .get(format!("{}/readyz", desk.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);
    let draft = || async {
        desk.post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": crate::cases::referral()}),
        )
        .await
    };
    assert_eq!(draft().await.0, 201);

    // Fill the file system.
    let filler_path = small.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let block = vec![7u8; 64 * 1024];
    while filler.write_all(&block).is_ok() {}
    let _ = filler.sync_all();
    drop(filler);
    let mut refused = None;
    for _ in 0..50 {
        let (status, body) = draft().await;
        assert_ne!(status, 500, "{body}");
        if status != 201 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("a write fails on a full disk");
    assert_eq!(status, 503, "{body}");
    assert_eq!(ready().await, 503, "not ready while nothing can be written");

    // Space returns: the same process writes again.
    std::fs::remove_file(&filler_path).unwrap();
    assert_eq!(ready().await, 200, "ready again without a restart");
    let (status, body) = draft().await;
    assert_eq!(status, 201, "{body}");
    let token2 = desk.token("somchai", "a long password for disks").await;
    let (status, _) = desk.get(&token2, "/api/v1/cases").await;
    assert_eq!(status, 200);
    run.shutdown().await.unwrap();
}

/// The database files of a stopped SQLite node.
fn db_files(node: &crate::helpers::TestNode) -> Vec<std::path::PathBuf> {
    ["mittaphap.db", "mittaphap.db-wal", "mittaphap.db-shm"]
        .iter()
        .map(|f| node.dir.join("data").join(f))
        .collect()
}

/// A node restored from a backup is found out on both sides: `reconcile` on
/// either says what differs and exits 1; the peer sends again, by itself, what
/// the restored node lost of the peer's envelopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_node_is_found_out_and_gets_back_what_it_received() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    la_dir.check_peer_secs = Some(1);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    crate::exchange::queue_note(&th, "la-molsw", "before the backup (th)", &[]).await;
    crate::exchange::queue_note(&la, "th-msdhs", "before the backup (la)", &[]).await;
    wait_for(&th.events.delivered, 1, "th's note").await;
    wait_for(&la.events.delivered, 1, "la's note").await;

    // The Thai operator backs up (node stopped), then both sides work on.
    th_run.shutdown().await.unwrap();
    th.store.close().await;
    drop(th);
    let backup = root.path().join("backup");
    std::fs::create_dir_all(&backup).unwrap();
    for f in db_files(&th_dir) {
        if f.exists() {
            std::fs::copy(&f, backup.join(f.file_name().unwrap())).unwrap();
        }
    }
    let (th, th_run) = th_dir.start().await;
    crate::exchange::queue_note(&th, "la-molsw", "after the backup (th)", &[]).await;
    wait_for(&th.events.delivered, 1, "th's second note").await;
    let before = *la.events.delivered.borrow();
    crate::exchange::queue_note(&la, "th-msdhs", "after the backup (la)", &[]).await;
    wait_for(&la.events.delivered, before + 1, "la's second note").await;
    assert_eq!(inbox_of(&th, "la-molsw").await.len(), 2);

    // The backup is restored.
    th_run.shutdown().await.unwrap();
    th.store.close().await;
    drop(th);
    for f in db_files(&th_dir) {
        let _ = std::fs::remove_file(&f);
        let saved = backup.join(f.file_name().unwrap());
        if saved.exists() {
            std::fs::copy(&saved, &f).unwrap();
        }
    }
    let (th, th_run) = th_dir.start().await;

    // Both sides' reconcile say what happened, and exit 1.
    let out = mittaphap(&["reconcile", "--dir", th_dir.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("th-msdhs → la-molsw: DIFFER from seq 2")
            && out.stdout.contains("that this node no longer has"),
        "{}",
        out.stdout
    );
    let out = mittaphap(&["reconcile", "--dir", la_dir.dir_str(), "--peer", "th-msdhs"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("DIFFER"), "{}", out.stdout);

    // The Lao node finds the Thai node behind and sends its lost note again.
    let mut rx = th.events.accepted.subscribe();
    tokio::time::timeout(std::time::Duration::from_secs(60), rx.wait_for(|n| *n >= 1))
        .await
        .expect("the lost note arrives again")
        .unwrap();
    let inbox = inbox_of(&th, "la-molsw").await;
    assert_eq!(inbox.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
