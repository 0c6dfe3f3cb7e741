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
