//! One node as two `serve` processes sharing one PostgreSQL database and one blob
//! store: each channel is delivered by one process at a time (its courier row
//! locked `FOR UPDATE SKIP LOCKED`), so nothing is sent twice; when one process
//! is SIGKILLed the other takes over, so nothing is stuck.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::exchange::{pair, queue_note};
use crate::helpers::{Backend, Databases, tls_provider, wait_for};

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `mittaphap serve` on the node folder, on ports of its own.
fn serve(dir: &str, log: &std::path::Path) -> (Child, String) {
    let desk = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_mittaphap"))
        .args(["serve", "--dir", dir])
        .env("MITTAPHAP_DESK_ADDR", &desk)
        .env("MITTAPHAP_FEDERATION_ADDR", free_addr())
        .env("MITTAPHAP_RETRY_MAX_MS", "300")
        .env_remove("MITTAPHAP_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    (child, desk)
}

/// Waits until a process's desk answers `/readyz` (each try a real request).
async fn ready(desk: &str) {
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("http://{desk}/readyz")).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serve at {desk} did not become ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_of_one_node_send_each_message_once() {
    tls_provider();
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let (la, la_run) = la_dir.start().await;
    th_dir.release_ports();
    // The test process queues as a desk would, on the same database.
    let th = th_dir.open().await;

    let (mut a, desk_a) = serve(th_dir.dir_str(), &root.path().join("a.log"));
    let (mut b, desk_b) = serve(th_dir.dir_str(), &root.path().join("b.log"));
    ready(&desk_a).await;
    ready(&desk_b).await;

    // Both processes poll the same outbox while 150 messages are queued.
    const N: u64 = 150;
    for i in 0..N {
        queue_note(&th, "la-molsw", &format!("message {i}"), &[]).await;
    }
    wait_for(&la.events.accepted, N, "the first batch").await;
    assert_eq!(
        *la.events.duplicates.borrow(),
        0,
        "no envelope was sent by both processes"
    );

    // One process dies mid-run; the other takes the channel over.
    for i in 0..N {
        queue_note(&th, "la-molsw", &format!("message {}", N + i), &[]).await;
        if i == 20 {
            a.kill().unwrap();
            a.wait().unwrap();
        }
    }
    wait_for(&la.events.accepted, 2 * N, "the second batch").await;
    // At most the envelopes in flight at the kill (a courier keeps up to 32 of a
    // channel in flight) are sent again, answered from the inbox, applied nothing.
    assert!(*la.events.duplicates.borrow() <= 32);
    let received = crate::exchange::inbox_of(&la, "th-msdhs").await;
    assert_eq!(received.len() as u64, 2 * N, "each applied once");
    // The surviving process stores the last receipts: another process, so no
    // event to await here; its outbox is read until it is empty (30 s at most).
    let mut queued = -1;
    for _ in 0..300 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state <> 'delivered'")
            .fetch_one(th.store.pool())
            .await
            .unwrap();
        queued = n;
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(queued, 0, "nothing stuck");
    let _ = b.kill();
    let _ = b.wait();
    la_run.shutdown().await.unwrap();
    th.store.close().await;
}
