//! The exchange between two real nodes on 127.0.0.1: sealed messages and
//! attachments, receipts, delivery across outages and cut connections, exactly once.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mittaphap::app::outbox::{Message, Queued, peer_recipients, send};
use mittaphap::crypto::seal::open_bytes;
use mittaphap::node::Node;
use mittaphap::protocol::Descriptor;
use mittaphap::protocol::envelope::{Digest, RECEIPT_TYP, ReceiptClaims, ReceiptStatus};
use mittaphap::protocol::jws::{self, keys_of};
use mittaphap::store::{inbox, outbox, peers};
use serde_json::json;

use crate::helpers::{
    Backend, Databases, TestNode, init_node, init_node_reached_at, mittaphap, proc_status_kib,
    sha256_file, tls_provider, wait_for, write_test_file,
};
use crate::on_both_backends;
use crate::proxy::Proxy;

pub async fn descriptor_of(node: &Node, peer: &str) -> Descriptor {
    let mut conn = node.store.pool().acquire().await.unwrap();
    let row = peers::get(&mut conn, peer).await.unwrap().unwrap();
    serde_json::from_str(&row.descriptor).unwrap()
}

/// Queues a note (and attachments) in a transaction of its own, then wakes the courier.
pub async fn queue_note(node: &Node, peer: &str, text: &str, blobs: &[Digest]) -> Queued {
    let body = json!({"schema": "note/1", "text": text});
    let mut tx = node.store.begin().await.unwrap();
    let queued = send(
        &mut tx,
        node,
        peer,
        Message {
            kind: "note",
            case: None,
            body: &body,
            blobs,
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    node.outbox_ready.notify_one();
    queued
}

/// Seals a plaintext file to `peer` into `node`'s blob store.
pub async fn seal_for(node: &Node, peer: &str, file: &Path) -> Digest {
    let recipients = peer_recipients(&descriptor_of(node, peer).await).unwrap();
    node.blobs.seal_file(&recipients, file).await.unwrap()
}

pub async fn inbox_of(node: &Node, peer: &str) -> Vec<inbox::InRow> {
    let mut conn = node.store.pool().acquire().await.unwrap();
    inbox::list(&mut conn, peer).await.unwrap()
}

pub async fn outbox_row(node: &Node, peer: &str, seq: i64) -> outbox::OutRow {
    let mut conn = node.store.pool().acquire().await.unwrap();
    outbox::get(&mut conn, peer, seq).await.unwrap().unwrap()
}

/// The text of an inbox entry, opened with the receiver's own age identity.
pub fn note_text(receiver: &Node, row: &inbox::InRow) -> String {
    let sealed = STANDARD.decode(&row.body).unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&open_bytes(receiver.age.all(), &sealed).unwrap()).unwrap();
    body["text"].as_str().unwrap().to_owned()
}

pub fn pair(root: &Path, dbs: &Databases) -> (TestNode, TestNode) {
    let th = init_node(root, "th-msdhs", "TH", dbs);
    let la = init_node(root, "la-molsw", "LA", dbs);
    th.add_peer(&la);
    la.add_peer(&th);
    (th, la)
}

async fn attachment_arrives_sealed_and_receipted(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    let (a, a_run) = th.start().await;
    let (b, b_run) = la.start().await;

    let file = root.path().join("photo.bin");
    let plain_sha = write_test_file(&file, 4);
    let blob = seal_for(&a, "la-molsw", &file).await;
    let queued = queue_note(
        &a,
        "la-molsw",
        "Family traced in Savannakhet",
        std::slice::from_ref(&blob),
    )
    .await;
    wait_for(&a.events.delivered, 1, "deliveries").await;

    // The receiver holds the envelope once, opens the body with its own identity,
    // and opens the attachment to the very bytes that were sealed.
    let received = inbox_of(&b, "th-msdhs").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].jti, queued.jti);
    assert_eq!(note_text(&b, &received[0]), "Family traced in Savannakhet");
    assert!(!received[0].body.contains("Savannakhet"));
    let opened = root.path().join("opened.bin");
    let len = b
        .blobs
        .open_to_file(&blob.sha256, b.age.all(), &opened)
        .await
        .unwrap();
    assert_eq!(len, 4 << 20);
    assert_eq!(sha256_file(&opened), plain_sha);
    assert!(
        a.blobs
            .open_to_file(&blob.sha256, a.age.all(), &opened)
            .await
            .is_err(),
        "sealed to the peer only"
    );

    // The sender keeps the receiver's signed receipt, which verifies with the key
    // the receiver publishes.
    let row = outbox_row(&a, "la-molsw", 1).await;
    assert_eq!(row.state, "delivered");
    let published: Descriptor = serde_json::from_str(&la.descriptor()).unwrap();
    let receipt: ReceiptClaims = jws::verify(
        row.receipt.as_deref().unwrap(),
        RECEIPT_TYP,
        keys_of(&published),
    )
    .unwrap();
    assert_eq!(receipt.status, ReceiptStatus::Accepted);
    assert_eq!(receipt.for_jti, queued.jti);
    assert_eq!(receipt.envelope_sha256, queued.envelope_sha256);
    assert_eq!(
        (receipt.iss.as_str(), receipt.aud.as_str()),
        ("la-molsw", "th-msdhs")
    );

    let out = mittaphap(&["reconcile", "--dir", th.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("th-msdhs → la-molsw: agree on 1 envelopes"),
        "{}",
        out.stdout
    );
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(attachment_arrives_sealed_and_receipted);

async fn receiver_down_then_up(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    la.release_ports();
    let (a, a_run) = th.start().await;
    for i in 1..=5 {
        queue_note(&a, "la-molsw", &format!("note {i}"), &[]).await;
    }
    // The courier tries, fails, and says so to the operator.
    wait_for(&a.events.failed_attempts, 1, "failed attempts").await;
    let status = mittaphap(&["outbox", "--dir", th.dir_str()]);
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("la-molsw"))
        .unwrap()
        .to_owned();
    assert!(
        line.split_whitespace().nth(1) == Some("5"),
        "5 queued: {line}"
    );
    assert!(line.contains("unreachable"), "last error shown: {line}");

    let (b, b_run) = la.start().await;
    wait_for(&a.events.delivered, 5, "deliveries").await;
    let received = inbox_of(&b, "th-msdhs").await;
    let texts: Vec<String> = received.iter().map(|r| note_text(&b, r)).collect();
    assert_eq!(
        texts,
        (1..=5).map(|i| format!("note {i}")).collect::<Vec<_>>(),
        "all, in order, once"
    );
    assert_eq!(
        received.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let status = mittaphap(&["outbox", "--dir", th.dir_str()]).stdout;
    let line = status.lines().find(|l| l.starts_with("la-molsw")).unwrap();
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(receiver_down_then_up);

async fn cut_connections_then_redelivery(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let proxy = Proxy::start().await;
    let mut th = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let mut la = init_node_reached_at(root.path(), "la-molsw", "LA", &dbs, Some(&proxy.url()));
    proxy.set_target(la.federation_port);
    th.add_peer(&la);
    la.add_peer(&th);
    let (a, a_run) = th.start().await;
    let (b, b_run) = la.start().await;

    // Cut in the middle of a 3 MiB blob upload (after the courier's first look at
    // the peer's channel statement, on a connection of its own).
    wait_for(&a.events.peer_checks, 1, "the first comparison of heads").await;
    proxy.cut_next_connection_after(1 << 20);
    let file = root.path().join("scan.bin");
    let plain_sha = write_test_file(&file, 3);
    let blob = seal_for(&a, "la-molsw", &file).await;
    queue_note(&a, "la-molsw", "with scan", std::slice::from_ref(&blob)).await;
    wait_for(&a.events.delivered, 1, "deliveries").await;
    assert!(
        proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the upload was cut"
    );
    assert!(
        outbox_row(&a, "la-molsw", 1).await.attempts >= 2,
        "delivered on a retry"
    );
    let opened = root.path().join("scan.out");
    b.blobs
        .open_to_file(&blob.sha256, b.age.all(), &opened)
        .await
        .unwrap();
    assert_eq!(sha256_file(&opened), plain_sha);

    // Cut in the middle of posting a 300 kB envelope.
    let cuts = proxy.cuts.load(std::sync::atomic::Ordering::SeqCst);
    proxy.reset();
    proxy.cut_next_connection_after(64 * 1024);
    let long = "ທ".repeat(100_000);
    queue_note(&a, "la-molsw", &long, &[]).await;
    wait_for(&a.events.delivered, 2, "deliveries").await;
    assert!(
        proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) > cuts,
        "the post was cut"
    );

    // A receipt that never arrived: the sender sends again, the receiver answers
    // `duplicate` with its original receipt, and applies nothing twice.
    let first_receipt = outbox_row(&a, "la-molsw", 1).await.receipt.unwrap();
    sqlx::query(
        "UPDATE outbox SET state = 'queued', receipt = NULL WHERE peer_id = 'la-molsw' AND seq = 1",
    )
    .execute(a.store.pool())
    .await
    .unwrap();
    a.outbox_ready.notify_one();
    wait_for(&a.events.delivered, 3, "deliveries").await;
    let again = outbox_row(&a, "la-molsw", 1).await;
    assert_eq!(again.receipt_status.as_deref(), Some("duplicate"));
    let published: Descriptor = serde_json::from_str(&la.descriptor()).unwrap();
    let dup: ReceiptClaims = jws::verify(
        again.receipt.as_deref().unwrap(),
        RECEIPT_TYP,
        keys_of(&published),
    )
    .unwrap();
    assert_eq!(dup.status, ReceiptStatus::Duplicate);
    assert_eq!(dup.original.as_deref(), Some(first_receipt.as_str()));

    let received = inbox_of(&b, "th-msdhs").await;
    assert_eq!(received.len(), 2, "each envelope stored once");
    assert_eq!(note_text(&b, &received[1]), long);
    assert_eq!(*b.events.accepted.borrow(), 2, "each applied once");
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(cut_connections_then_redelivery);

async fn sender_stopped_after_commit(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    let (b, b_run) = la.start().await;
    {
        // Committed, then the process goes away before its courier ran.
        let a = th.open().await;
        queue_note(&a, "la-molsw", "written before the crash", &[]).await;
        a.store.close().await;
    }
    assert!(inbox_of(&b, "th-msdhs").await.is_empty());
    let (a, a_run) = th.start().await;
    wait_for(&a.events.delivered, 1, "deliveries").await;
    let received = inbox_of(&b, "th-msdhs").await;
    assert_eq!(received.len(), 1);
    assert_eq!(note_text(&b, &received[0]), "written before the crash");
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(sender_stopped_after_commit);

async fn reconcile_finds_the_first_difference(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    let (a, a_run) = th.start().await;
    let (b, b_run) = la.start().await;
    for i in 0..3 {
        queue_note(&a, "la-molsw", &format!("to la {i}"), &[]).await;
    }
    for i in 0..2 {
        queue_note(&b, "th-msdhs", &format!("to th {i}"), &[]).await;
    }
    wait_for(&a.events.delivered, 3, "th deliveries").await;
    wait_for(&b.events.delivered, 2, "la deliveries").await;
    let out = mittaphap(&["reconcile", "--dir", th.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("th-msdhs → la-molsw: agree on 3"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("la-molsw → th-msdhs: agree on 2"),
        "{}",
        out.stdout
    );

    // Someone edits the receiver's copy of the second envelope.
    sqlx::query("UPDATE inbox SET jws = jws || 'x' WHERE peer_id = 'th-msdhs' AND seq = 2")
        .execute(b.store.pool())
        .await
        .unwrap();
    let out = mittaphap(&["reconcile", "--dir", th.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("th-msdhs → la-molsw: DIFFER from seq 2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("la-molsw → th-msdhs: agree on 2"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("differ"), "{}", out.stderr);

    // And our own copy of the first envelope we received.
    sqlx::query("UPDATE inbox SET jws = 'tampered' WHERE peer_id = 'la-molsw' AND seq = 1")
        .execute(a.store.pool())
        .await
        .unwrap();
    let out = mittaphap(&["reconcile", "--dir", th.dir_str(), "--peer", "la-molsw"]);
    assert!(
        out.stdout
            .contains("la-molsw → th-msdhs: DIFFER from seq 1"),
        "{}",
        out.stdout
    );
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(reconcile_finds_the_first_difference);

/// Peak memory stays flat while a large attachment is sealed, sent, received and
/// opened. Measured in a child process running only this test, so other tests'
/// memory does not count. `MITTAPHAP_ATTACHMENT_MIB` sets the size (default 100).
async fn big_attachment_memory_stays_flat(backend: Backend) {
    let name = match backend {
        Backend::Sqlite => "exchange::big_attachment_memory_stays_flat::sqlite",
        Backend::Postgres { .. } => "exchange::big_attachment_memory_stays_flat::postgres",
    };
    if std::env::var("MITTAPHAP_MEMORY_CHILD").is_err() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env("MITTAPHAP_MEMORY_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
        if let Some(at) = stdout.find("attachment ") {
            eprintln!("{}", stdout[at..].lines().next().unwrap_or_default());
        }
        return;
    }
    tls_provider();
    let mib: usize = std::env::var("MITTAPHAP_ATTACHMENT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    let (a, a_run) = th.start().await;
    let (b, b_run) = la.start().await;
    let file = root.path().join("video.bin");
    let plain_sha = write_test_file(&file, mib);

    // Forget the peak so far (best effort), and start counting from here.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = proc_status_kib("self", "VmHWM").max(proc_status_kib("self", "VmRSS"));
    let t0 = std::time::Instant::now();
    let blob = seal_for(&a, "la-molsw", &file).await;
    let sealed = t0.elapsed();
    queue_note(&a, "la-molsw", "video", std::slice::from_ref(&blob)).await;
    wait_for(&a.events.delivered, 1, "deliveries").await;
    let delivered = t0.elapsed();
    let opened = root.path().join("video.out");
    b.blobs
        .open_to_file(&blob.sha256, b.age.all(), &opened)
        .await
        .unwrap();
    let total = t0.elapsed();
    let peak = proc_status_kib("self", "VmHWM");
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    assert_eq!(sha256_file(&opened), plain_sha);
    let published: Descriptor = serde_json::from_str(&la.descriptor()).unwrap();
    let row = outbox_row(&a, "la-molsw", 1).await;
    let receipt: ReceiptClaims = jws::verify(
        row.receipt.as_deref().unwrap(),
        RECEIPT_TYP,
        keys_of(&published),
    )
    .unwrap();
    assert_eq!(
        (receipt.status, receipt.envelope_sha256.as_str()),
        (ReceiptStatus::Accepted, row.envelope_sha256.as_str())
    );
    println!(
        "attachment {mib} MiB: sealed in {:.1} s, delivered at {:.1} s ({:.0} MiB/s end to end to receipt), opened at {:.1} s; \
         peak RSS {:.0} MiB, {growth_mib:.1} MiB above the start (two nodes in one process)",
        sealed.as_secs_f64(),
        delivered.as_secs_f64(),
        mib as f64 / delivered.as_secs_f64(),
        total.as_secs_f64(),
        peak as f64 / 1024.0,
    );
    assert!(
        growth_mib < 64.0,
        "memory grew by {growth_mib:.1} MiB moving {mib} MiB"
    );
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(big_attachment_memory_stays_flat);

/// The receiver comes back from an older backup: it lost envelopes it had
/// receipted. Its `seq_gap` receipt names the seq it expects, and the sender sends
/// again from there.
async fn sender_resends_to_a_restored_receiver(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    let (a, a_run) = th.start().await;
    let (b, b_run) = la.start().await;
    for i in 1..=3 {
        queue_note(&a, "la-molsw", &format!("note {i}"), &[]).await;
    }
    wait_for(&a.events.delivered, 3, "deliveries").await;

    // la-molsw loses envelopes 2 and 3, as if restored from a backup taken after 1.
    let first_hash = inbox_of(&b, "th-msdhs").await[0].envelope_sha256.clone();
    let mut tx = b.store.begin().await.unwrap();
    sqlx::query("DELETE FROM inbox WHERE peer_id = 'th-msdhs' AND seq > 1")
        .execute(&mut **tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE channels SET seq = 1, sha256 = $1 WHERE peer_id = 'th-msdhs' AND direction = 'in'",
    )
    .bind(&first_hash)
    .execute(&mut **tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    queue_note(&a, "la-molsw", "note 4", &[]).await;
    wait_for(&a.events.delivered, 6, "deliveries (4, then 2 and 3 again)").await;
    let texts: Vec<String> = inbox_of(&b, "th-msdhs")
        .await
        .iter()
        .map(|r| note_text(&b, r))
        .collect();
    assert_eq!(texts, ["note 1", "note 2", "note 3", "note 4"]);
    let out = mittaphap(&["reconcile", "--dir", th.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(sender_resends_to_a_restored_receiver);

/// A `mittaphap serve` process is killed (SIGKILL) with envelopes committed but not
/// delivered; started again, it delivers them, once each.
async fn sender_process_killed_then_restarted(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    th.release_ports();
    la.release_ports();
    let serve = |dir: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
            .args(["serve", "--dir", dir])
            .env("MITTAPHAP_RETRY_MAX_MS", "300")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // The sender runs while the receiver is down, so nothing can leave.
    let mut sender = serve(th.dir_str());
    let a = th.open().await;
    for i in 1..=3 {
        queue_note(&a, "la-molsw", &format!("note {i}"), &[]).await;
    }
    a.store.close().await;
    sender.kill().unwrap();
    sender.wait().unwrap();

    let (b, b_run) = la.start().await;
    assert!(inbox_of(&b, "th-msdhs").await.is_empty());
    let mut sender = serve(th.dir_str());
    wait_for(&b.events.accepted, 3, "envelopes accepted").await;
    let texts: Vec<String> = inbox_of(&b, "th-msdhs")
        .await
        .iter()
        .map(|r| note_text(&b, r))
        .collect();
    assert_eq!(texts, ["note 1", "note 2", "note 3"]);
    sender.kill().unwrap();
    sender.wait().unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(sender_process_killed_then_restarted);
