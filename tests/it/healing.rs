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

/// A node (a real `serve` process) on a small file system that fills up: writes
/// answer 503 (never 500) and `/readyz` says not ready while nothing can be
/// written; once space is freed the same process writes again, with no restart.
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
    node_dir.release_ports();
    let serve = crate::helpers::Serve::start(&node_dir).await;
    let desk = crate::desk::Desk {
        base: format!("http://127.0.0.1:{}", node_dir.desk_port),
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
    serve.stop();
}

/// The database files of a stopped SQLite node.
fn db_files(node: &crate::helpers::TestNode) -> Vec<std::path::PathBuf> {
    ["mittaphap.db", "mittaphap.db-wal", "mittaphap.db-shm"]
        .iter()
        .map(|f| node.dir.join("data").join(f))
        .collect()
}

/// A node restored from a backup rejoins with nothing lost, on two real `serve`
/// processes: `reconcile` on either side says what differs before it heals; the
/// restored node takes back the envelopes it had sent (and applies their moves to
/// its cases as its own), the peer sends again what the restored node had
/// received; then both agree and new moves flow both ways.
async fn a_restored_node_rejoins_with_nothing_lost(backend: Backend) {
    use crate::helpers::{Serve, inbox_len, until};
    use mittaphap::app::cases::create_draft;
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    th_dir.release_ports();
    la_dir.release_ports();
    // The Lao node compares heads rarely here, so its view before healing shows.
    set_check_peer_secs(&la_dir, 3600);
    let _la_serve = Serve::start(&la_dir).await;
    let th_serve = Serve::start(&th_dir).await;
    // This test's own handles on both databases, to queue and to look.
    let la = la_dir.open().await;
    let th = th_dir.open().await;
    crate::exchange::queue_note(&th, "la-molsw", "before the backup (th)", &[]).await;
    crate::exchange::queue_note(&la, "th-msdhs", "before the backup (la)", &[]).await;
    until("th's note", || async {
        inbox_len(&la, "th-msdhs").await == 1
    })
    .await;
    until("la's note", || async {
        inbox_len(&th, "la-molsw").await == 1
    })
    .await;
    let now = time::OffsetDateTime::now_utc();
    let case = create_draft(&th, "somchai", "la-molsw", &crate::cases::referral(), now)
        .await
        .unwrap();
    crate::cases::consent(&th, case, "repatriation").await;

    // The Thai operator backs up (node stopped), then both sides work on: the
    // referral goes out, and a note each way.
    th_serve.stop();
    th.store.close().await;
    drop(th);
    let backup = root.path().join("backup");
    back_up(&th_dir, &backup);
    let th_serve = Serve::start(&th_dir).await;
    let th = th_dir.open().await;
    mittaphap::app::moves::make_move(&th, "somchai", case, "referral", &json!({}), now)
        .await
        .unwrap();
    crate::exchange::queue_note(&th, "la-molsw", "after the backup (th)", &[]).await;
    crate::exchange::queue_note(&la, "th-msdhs", "after the backup (la)", &[]).await;
    until("th's referral and note", || async {
        inbox_len(&la, "th-msdhs").await == 3
    })
    .await;
    until("la's second note", || async {
        inbox_len(&th, "la-molsw").await == 2
    })
    .await;
    assert_eq!(case_state(&la, case).await.0, "referred");

    // The backup is restored.
    th_serve.stop();
    th.store.close().await;
    drop(th);
    restore(&th_dir, &backup);
    // Before it serves, reconcile on the restored node says what happened.
    let out = mittaphap(&["reconcile", "--dir", th_dir.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("th-msdhs → la-molsw: DIFFER from seq 2")
            && out.stdout.contains("that this node no longer has"),
        "{}",
        out.stdout
    );
    // A note made on the restored node before it serves reuses a sequence number
    // the Lao node already holds: it goes after what is taken back.
    {
        let node = th_dir.open().await;
        assert_eq!(
            case_state(&node, case).await.0,
            "draft",
            "the referral went with the restore"
        );
        crate::exchange::queue_note(&node, "la-molsw", "made before rejoining (th)", &[]).await;
        node.store.close().await;
    }

    // Serving again, it takes back its referral and note from the Lao node.
    let _th_serve = Serve::start(&th_dir).await;
    let th = th_dir.open().await;
    until("the referral taken back", || async {
        case_state(&th, case).await.0 == "referred"
    })
    .await;
    assert_eq!(case_state(&th, case).await, case_state(&la, case).await);

    // The Lao side still sees the Thai node behind on its own channel.
    let out = mittaphap(&["reconcile", "--dir", la_dir.dir_str(), "--peer", "th-msdhs"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("la-molsw → th-msdhs: DIFFER")
            && out
                .stdout
                .contains("receipted envelopes it no longer holds"),
        "{}",
        out.stdout
    );

    // New moves flow both ways; the Lao node sends its lost note again with them.
    crate::exchange::queue_note(&la, "th-msdhs", "after the restore (la)", &[]).await;
    crate::exchange::queue_note(&th, "la-molsw", "after the restore (th)", &[]).await;
    until("la's lost and new notes", || async {
        inbox_len(&th, "la-molsw").await == 3
    })
    .await;
    until("th's notes", || async {
        inbox_len(&la, "th-msdhs").await == 5
    })
    .await;
    assert_eq!(
        crate::exchange::inbox_of(&th, "la-molsw")
            .await
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let rows = crate::exchange::inbox_of(&la, "th-msdhs").await;
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "each of th's envelopes once"
    );
    let texts: Vec<String> = rows
        .iter()
        .filter(|r| r.kind == "note")
        .filter_map(|r| {
            let bytes =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &r.body).ok()?;
            let plain = mittaphap::crypto::seal::open_bytes(la.age.all(), &bytes).ok()?;
            let v: serde_json::Value = serde_json::from_slice(&plain).ok()?;
            v["text"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(
        texts,
        [
            "before the backup (th)",
            "after the backup (th)",
            "made before rejoining (th)",
            "after the restore (th)"
        ]
    );
    // Receipts of the last ones are stored by the serving process: read until.
    until("th's outbox empty", || async {
        let mut conn = th.store.pool().acquire().await.unwrap();
        mittaphap::store::outbox::undelivered(&mut conn, "la-molsw", 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    for (dir, peer) in [(&th_dir, "la-molsw"), (&la_dir, "th-msdhs")] {
        let out = mittaphap(&["reconcile", "--dir", dir.dir_str(), "--peer", peer]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        let out = mittaphap(&["audit", "verify", "--dir", dir.dir_str()]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    th.store.close().await;
    la.store.close().await;
}

/// Sets `federation.check_peer_secs` in the node's configuration file.
fn set_check_peer_secs(node: &crate::helpers::TestNode, secs: i64) {
    let path = node.dir.join("node.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    config["federation"]
        .as_table_mut()
        .unwrap()
        .insert("check_peer_secs".into(), toml::Value::Integer(secs));
    std::fs::write(path, toml::to_string(&config).unwrap()).unwrap();
}
on_both_backends!(a_restored_node_rejoins_with_nothing_lost);

/// The node's database URL, from its configuration.
fn database_url(node: &crate::helpers::TestNode) -> String {
    let config: toml::Table = std::fs::read_to_string(node.dir.join("node.toml"))
        .unwrap()
        .parse()
        .unwrap();
    config["database"]["url"].as_str().unwrap().to_owned()
}

/// A backup as docs/operations.md says: the SQLite files of the stopped node, or
/// `pg_dump`.
fn back_up(node: &crate::helpers::TestNode, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    let url = database_url(node);
    if url.starts_with("postgres") {
        let out = std::process::Command::new("pg_dump")
            .args(["--format=custom", "--file"])
            .arg(to.join("db.dump"))
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    for f in db_files(node) {
        if f.exists() {
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
}

/// The restore of `back_up`'s copy (`pg_restore --clean`, or the files back).
fn restore(node: &crate::helpers::TestNode, from: &std::path::Path) {
    let url = database_url(node);
    if url.starts_with("postgres") {
        let out = std::process::Command::new("pg_restore")
            .args(["--clean", "--if-exists", "--no-owner", "--dbname"])
            .arg(&url)
            .arg(from.join("db.dump"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    for f in db_files(node) {
        let _ = std::fs::remove_file(&f);
        let saved = from.join(f.file_name().unwrap());
        if saved.exists() {
            std::fs::copy(&saved, &f).unwrap();
        }
    }
}

async fn case_state(node: &mittaphap::node::Node, case: uuid::Uuid) -> (String, Option<String>) {
    let mut conn = node.store.pool().acquire().await.unwrap();
    let row = mittaphap::store::cases::get(&mut conn, &case.to_string())
        .await
        .unwrap()
        .expect("the case");
    (row.state, row.turn)
}

/// A real `serve` process killed (SIGKILL) whose SQLite WAL is then lost: the node
/// comes back with its database as of the last checkpoint, without the case it
/// drafted and referred, and rejoins: the referral comes back from the peer and
/// makes the case again; the peer sends again the note it had received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_wal_heals_like_a_restore() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    crate::desk::add_user(
        &th_dir,
        "somchai",
        "officer",
        None,
        "a long password for the wal",
    );
    la_dir.check_peer_secs = Some(1);
    let (la, la_run) = la_dir.start().await;
    th_dir.release_ports();
    let log = std::fs::File::create(root.path().join("th-serve.log")).unwrap();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
        .args(["serve", "--dir", th_dir.dir_str()])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let desk = crate::desk::Desk {
        base: format!("http://127.0.0.1:{}", th_dir.desk_port),
        http: reqwest::Client::new(),
    };
    // Ready when it answers (each try is a real request).
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = desk.http.get(format!("{}/readyz", desk.base)).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "serve did not become ready");
    let token = desk.token("somchai", "a long password for the wal").await;
    let case = desk.refer(&token).await;
    wait_for(&la.events.accepted, 1, "the referral").await;
    crate::exchange::queue_note(&la, "th-msdhs", "to the node that will lose it", &[]).await;
    wait_for(&la.events.delivered, 1, "la's note").await;

    // Killed; its WAL lost.
    serve.kill().unwrap();
    serve.wait().unwrap();
    let data = th_dir.dir.join("data");
    assert!(
        data.join("mittaphap.db-wal").exists(),
        "the moves were in the WAL"
    );
    std::fs::remove_file(data.join("mittaphap.db-wal")).unwrap();
    let _ = std::fs::remove_file(data.join("mittaphap.db-shm"));
    let case_id = uuid::Uuid::parse_str(&case).unwrap();
    {
        let node = th_dir.open().await;
        let mut conn = node.store.pool().acquire().await.unwrap();
        assert!(
            mittaphap::store::cases::get(&mut conn, &case)
                .await
                .unwrap()
                .is_none(),
            "the case went with the WAL"
        );
        drop(conn);
        node.store.close().await;
    }

    // Serving again (in this process now), it rejoins.
    let (th, th_run) = th_dir.start().await;
    wait_for(&th.events.recovered, 1, "the referral taken back").await;
    assert_eq!(case_state(&th, case_id).await.0, "referred");
    assert_eq!(
        case_state(&th, case_id).await,
        case_state(&la, case_id).await
    );
    wait_for(&th.events.accepted, 1, "la's note again").await;
    for (dir, peer) in [(&th_dir, "la-molsw"), (&la_dir, "th-msdhs")] {
        let out = mittaphap(&["reconcile", "--dir", dir.dir_str(), "--peer", peer]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    // And the case moves on from both sides.
    crate::cases::step(
        &la,
        &th,
        case_id,
        "acknowledgement",
        json!({"receiving_organisation": "MoLSW", "case_worker_ref": "CW-9"}),
        "acknowledged",
    )
    .await;
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}

/// Queues a referral carrying one attachment on `node` (not serving); returns the
/// case and the blob of the envelope (the attachment sealed to the peer).
async fn referral_with_scan(
    node: &mittaphap::node::Node,
    bytes: &'static [u8],
) -> (uuid::Uuid, String) {
    let now = time::OffsetDateTime::now_utc();
    let case = mittaphap::app::cases::create_draft(
        node,
        "somchai",
        "la-molsw",
        &crate::cases::referral(),
        now,
    )
    .await
    .unwrap();
    crate::cases::consent(node, case, "repatriation").await;
    mittaphap::app::attachments::add_attachment(
        node,
        "somchai",
        case,
        "scan.pdf",
        "application/pdf",
        std::io::Cursor::new(bytes),
        now,
    )
    .await
    .unwrap();
    mittaphap::app::moves::make_move(node, "somchai", case, "referral", &json!({}), now)
        .await
        .unwrap();
    let mut conn = node.store.pool().acquire().await.unwrap();
    let rows = mittaphap::store::outbox::undelivered(&mut conn, "la-molsw", 100)
        .await
        .unwrap();
    let row = rows.last().unwrap();
    let blobs: Vec<serde_json::Value> = serde_json::from_str(&row.blobs).unwrap();
    (case, blobs[0]["sha256"].as_str().unwrap().to_owned())
}

/// An outgoing attachment's sealed blob lost before delivery: `outbox --repair`
/// seals it again from the file at rest and says so; a serving node does the same
/// by itself. Both referrals then arrive with their documents, which open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_outgoing_blob_is_sealed_again_from_the_file_at_rest() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    // With the node stopped: the operator's command.
    let (first, second) = {
        let node = th_dir.open().await;
        let (first, blob) = referral_with_scan(&node, b"first scan").await;
        node.blobs.delete(&blob).await.unwrap();
        node.store.close().await;
        let out = mittaphap(&["outbox", "--dir", th_dir.dir_str(), "--repair"]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("la-molsw seq 1: attachment(s)")
                && out.stdout.contains("sealed again from the files at rest"),
            "{}",
            out.stdout
        );
        let again = mittaphap(&["outbox", "--dir", th_dir.dir_str(), "--repair"]);
        assert!(again.stdout.contains("nothing to mend"), "{}", again.stdout);
        // A second one, lost too, left for the serving node to mend.
        let node = th_dir.open().await;
        let (second, blob) = referral_with_scan(&node, b"second scan").await;
        node.blobs.delete(&blob).await.unwrap();
        node.store.close().await;
        (first, second)
    };
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    wait_for(&th.events.delivered, 2, "both referrals").await;
    for (case, text) in [(first, &b"first scan"[..]), (second, &b"second scan"[..])] {
        let listed = mittaphap::app::attachments::list(&la, "keo", case)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "the document arrived with the referral");
        let opened = mittaphap::app::attachments::open(&la, "keo", case, &listed[0].id)
            .await
            .unwrap();
        assert_eq!(opened.size, text.len() as u64);
    }
    let out = mittaphap(&["reconcile", "--dir", th_dir.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}

/// A real `serve` process whose clock runs ten minutes fast (libfaketime): the
/// peer refuses its referral `iat_in_future`, and holds nothing once the clock is
/// put right: the envelope is signed again and delivered, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_fast_clock_delivers_once_the_clock_is_right() {
    use crate::helpers::{Serve, inbox_len, until};
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    th_dir.release_ports();
    la_dir.release_ports();
    crate::desk::add_user(
        &th_dir,
        "somchai",
        "officer",
        None,
        "a long password for clocks",
    );
    let _la_serve = Serve::start(&la_dir).await;
    // libfaketime preloaded into the node itself (the `faketime` wrapper would
    // leave it running when stopped).
    let lib = [
        "/usr/lib/x86_64-linux-gnu/faketime",
        "/usr/lib/aarch64-linux-gnu/faketime",
    ]
    .iter()
    .map(|d| std::path::Path::new(d).join("libfaketimeMT.so.1"))
    .find(|p| p.exists())
    .expect("libfaketime is installed (scripts/setup.sh)");
    let fast = std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
        .args(["serve", "--dir", th_dir.dir_str()])
        .env("MITTAPHAP_RETRY_MAX_MS", "300")
        .env("LD_PRELOAD", &lib)
        .env("FAKETIME", "+10m")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env_remove("MITTAPHAP_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let desk = crate::desk::Desk {
        base: format!("http://127.0.0.1:{}", th_dir.desk_port),
        http: reqwest::Client::new(),
    };
    until("the fast node to be ready", || async {
        reqwest::get(format!("{}/readyz", desk.base))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let th_serve = Serve(fast);
    let token = desk.token("somchai", "a long password for clocks").await;
    let case = desk.refer(&token).await;
    let th = th_dir.open().await;
    let la = la_dir.open().await;
    until("the refusal", || async {
        let mut conn = th.store.pool().acquire().await.unwrap();
        mittaphap::store::outbox::get(&mut conn, "la-molsw", 1)
            .await
            .unwrap()
            .and_then(|r| r.last_error)
            .is_some_and(|e| e.contains("iat_in_future"))
    })
    .await;
    assert_eq!(
        inbox_len(&la, "th-msdhs").await,
        0,
        "refused while the clock is ahead"
    );

    // The clock put right (the process started again without faketime).
    th_serve.stop();
    let log = root.path().join("th-after.log");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
        .args(["serve", "--dir", th_dir.dir_str()])
        .env("MITTAPHAP_RETRY_MAX_MS", "300")
        .env("RUST_LOG", "info")
        .env_remove("MITTAPHAP_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _th_serve = Serve(child);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while inbox_len(&la, "th-msdhs").await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the referral did not arrive: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    until("nothing held", || async {
        let mut conn = th.store.pool().acquire().await.unwrap();
        mittaphap::store::outbox::undelivered(&mut conn, "la-molsw", 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let id = uuid::Uuid::parse_str(&case).unwrap();
    assert_eq!(case_state(&la, id).await.0, "referred");
    let out = mittaphap(&["reconcile", "--dir", th_dir.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    th.store.close().await;
    la.store.close().await;
}
