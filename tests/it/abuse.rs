//! A serving node under abuse from 127.0.0.1: a flood of slow clients on both
//! doors, and a registered peer sending large envelopes far ahead of its
//! channel. The legitimate users and peer still get through, the slow
//! connections are closed within the limits, and memory stays bounded.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mittaphap::federation::PeerClient;
use mittaphap::protocol::envelope::{Digest, EnvelopeClaims};
use mittaphap::protocol::jws;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::desk::{Desk, add_user};
use crate::exchange::{descriptor_of, outbox_row, pair, queue_note};
use crate::helpers::{Backend, Databases, Serve, init_node, proc_status_kib, tls_provider, until};
use crate::web::PASSWORD;

/// Sets `[limits]` values in a node's `node.toml` (written by `init` with every
/// default spelt out).
fn set_limits(dir: &std::path::Path, values: &[(&str, u64)]) {
    let path = dir.join("node.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (key, value) in values {
        let line = lines
            .iter_mut()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} in node.toml"));
        *line = format!("{key} = {value}");
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// A counter or gauge of a node's `/metrics`, summed over its labels matching `label`.
async fn metric(desk_port: u16, name: &str, label: &str) -> u64 {
    let text = reqwest::get(format!("http://127.0.0.1:{desk_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Opens `n` connections to `port` that send `start` and then nothing more.
async fn slow_clients(port: u16, n: usize, start: &'static [u8]) -> Vec<TcpStream> {
    let mut all = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(100) {
        let batch = (0..100.min(n - chunk * 100)).map(|_| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(start).await.unwrap();
            s
        });
        all.extend(futures_util::future::join_all(batch).await);
    }
    all
}

/// Waits until the node closes every connection (EOF or reset), for at most `within`.
async fn closed_by_node(conns: Vec<TcpStream>, within: Duration) -> usize {
    let reads = conns.into_iter().map(|mut s| async move {
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(within, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    });
    futures_util::future::join_all(reads)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_on_both_doors_keep_no_one_out() {
    tls_provider();
    // 3,000 sockets here, as many in the node.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th, mut la) = pair(root.path(), &dbs);
    add_user(&th, "somchai", "officer", None, PASSWORD);
    add_user(&la, "khamla", "officer", None, PASSWORD);
    let limits = [
        ("handshake_secs", 3),
        ("header_secs", 3),
        ("idle_secs", 4),
        ("max_connections", 1000),
    ];
    set_limits(&la.dir, &limits);
    th.release_ports();
    la.release_ports();
    let _th_serve = Serve::start(&th).await;
    let _la_serve = Serve::start(&la).await;
    let th_desk = Desk {
        base: format!("http://127.0.0.1:{}", th.desk_port),
        http: reqwest::Client::new(),
    };
    let la_desk = Desk {
        base: format!("http://127.0.0.1:{}", la.desk_port),
        http: reqwest::Client::new(),
    };
    let somchai = th_desk.token("somchai", PASSWORD).await;

    // 1,500 clients trickle half a request's headers to the desk, 1,500 open
    // the federation door and never finish the TLS handshake.
    let opened = Instant::now();
    let desk_slow = slow_clients(
        la.desk_port,
        1500,
        b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    )
    .await;
    let fed_slow = slow_clients(la.federation_port, 1500, b"\x16\x03\x01").await;
    eprintln!("3,000 slow connections open in {:?}", opened.elapsed());

    // A legitimate officer signs in to the Lao desk, on a new connection.
    let started = Instant::now();
    let fresh = Desk {
        base: la_desk.base.clone(),
        http: reqwest::Client::new(),
    };
    let (status, _) = fresh.login("khamla", PASSWORD).await;
    let sign_in = started.elapsed();
    assert_eq!(status, 200);
    assert!(sign_in < Duration::from_secs(2), "sign-in took {sign_in:?}");
    let ready = reqwest::get(format!("{}/readyz", la_desk.base))
        .await
        .unwrap();
    assert!(ready.status().is_success(), "readiness still answers");

    // The legitimate peer delivers a referral within 2 s.
    let started = Instant::now();
    th_desk.refer(&somchai).await;
    until("the referral to arrive", || async {
        metric(la.desk_port, "mittaphap_envelopes_accepted_total", "").await >= 1
    })
    .await;
    let delivered = started.elapsed();
    assert!(
        delivered < Duration::from_secs(2),
        "delivery took {delivered:?}"
    );

    // Every slow connection is closed by the node within its deadlines
    // (handshake or headers 3 s, idle 4 s), counted from when it opened.
    let left = Duration::from_secs(4 + 3).saturating_sub(opened.elapsed()) + Duration::from_secs(3);
    let (desk_closed, fed_closed) = tokio::join!(
        closed_by_node(desk_slow, left),
        closed_by_node(fed_slow, left)
    );
    assert_eq!(desk_closed, 1500, "desk connections closed by the node");
    assert_eq!(
        fed_closed, 1500,
        "federation connections closed by the node"
    );
    let timed_out = metric(la.desk_port, "mittaphap_connections_timed_out_total", "").await;
    let evicted = metric(la.desk_port, "mittaphap_connections_evicted_total", "").await;
    eprintln!("timed out {timed_out}, evicted to make room {evicted}");
    assert!(evicted > 0, "the cap made room by closing idle connections");
    assert!(
        evicted + timed_out >= 3000,
        "each of the 3,000 was closed by a deadline or to make room"
    );
}

/// Peak resident memory of a process (MiB).
fn peak_rss_mib(pid: u32) -> u64 {
    proc_status_kib(&pid.to_string(), "VmHWM") / 1024
}

/// Current resident memory of a process (MiB).
fn rss_mib(pid: u32) -> u64 {
    proc_status_kib(&pid.to_string(), "VmRSS") / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_cannot_take_the_memory() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th, mut la) = pair(root.path(), &dbs);
    let hostile = init_node(root.path(), "kh-hostile", "KH", &dbs);
    hostile.add_peer(&la);
    la.add_peer(&hostile);
    add_user(&th, "somchai", "officer", None, PASSWORD);

    // Forty envelopes of 16 MiB each, far ahead of the channel, properly signed
    // by a registered peer: each would wait for its predecessor.
    let h = hostile.open().await;
    queue_note(&h, "la-molsw", "template", &[]).await;
    let template: EnvelopeClaims =
        jws::peek_claims(&outbox_row(&h, "la-molsw", 1).await.jws).unwrap();
    let raw = vec![7u8; 12 * 1024 * 1024];
    let body = STANDARD.encode(&raw);
    let envelopes: Vec<String> = (0..40)
        .map(|i| {
            let claims = EnvelopeClaims {
                jti: uuid::Uuid::now_v7().to_string(),
                seq: 1000 + i,
                body: Digest::of(&raw),
                ..template.clone()
            };
            claims.sign(&h.signing).unwrap()
        })
        .collect();
    let to = descriptor_of(&h, "la-molsw").await;
    let client = PeerClient::new(&to.federation_url, &to.tls_ca, &h.tls.identity_pem()).unwrap();
    drop(raw);

    th.release_ports();
    la.release_ports();
    let la_serve = Serve::start(&la).await;
    let _th_serve = Serve::start(&th).await;
    let before = peak_rss_mib(la_serve.0.id());

    let th_desk = Desk {
        base: format!("http://127.0.0.1:{}", th.desk_port),
        http: reqwest::Client::new(),
    };
    let somchai = th_desk.token("somchai", PASSWORD).await;
    // One connection first, so that the forty share it as HTTP/2 streams.
    client.descriptor().await.unwrap();
    let attack = futures_util::future::join_all(
        envelopes.iter().map(|jws| client.post_envelope(jws, &body)),
    );
    // While the attack runs, the legitimate peer's referral arrives.
    let legit = async {
        th_desk.refer(&somchai).await;
        let started = Instant::now();
        until("the referral to arrive", || async {
            metric(la.desk_port, "mittaphap_envelopes_accepted_total", "").await >= 1
        })
        .await;
        started.elapsed()
    };
    let (answers, delivered) = tokio::join!(attack, legit);
    assert!(
        delivered < Duration::from_secs(5),
        "delivery took {delivered:?} during the attack"
    );
    let answered = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(
        answered, 40,
        "every hostile request was answered: {answers:?}"
    );
    let peak = peak_rss_mib(la_serve.0.id());
    eprintln!("peak RSS {before} MiB before, {peak} MiB after 40 × 16 MiB far-ahead envelopes");
    assert!(peak < 256, "peak RSS {peak} MiB");
}

async fn upload(client: &PeerClient, bytes: &[u8]) -> Result<Digest, u16> {
    let digest = Digest::of(bytes);
    let chunk = bytes::Bytes::copy_from_slice(bytes);
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)]);
    match client.put_blob(&digest.sha256, digest.len, stream).await {
        Ok(()) => Ok(digest),
        Err(mittaphap::federation::client::ClientError::Status { status, .. }) => Err(status),
        Err(e) => panic!("{e:?}"),
    }
}

/// Blobs a peer uploads and no envelope names are capped per peer, and deleted
/// after `orphan_blob_secs`; a blob an envelope named stays with its case.
async fn blobs_no_envelope_names_are_swept(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th, mut la) = pair(root.path(), &dbs);
    set_limits(&la.dir, &[("peer_blob_mib", 1)]);
    let (th_node, _th_run) = th.start().await;
    let (la_node, _la_run) = la.start().await;

    // A note with a small attachment arrives: its blob is named.
    let file = root.path().join("letter.bin");
    std::fs::write(&file, vec![1u8; 100 * 1024]).unwrap();
    let named = crate::exchange::seal_for(&th_node, "la-molsw", &file).await;
    queue_note(
        &th_node,
        "la-molsw",
        "with a letter",
        std::slice::from_ref(&named),
    )
    .await;
    crate::helpers::wait_for(&la_node.events.accepted, 1, "the note").await;

    // Uploads no envelope names: the first fits the peer's 1 MiB share, the
    // second does not (507, nothing stored).
    let to = descriptor_of(&th_node, "la-molsw").await;
    let client =
        PeerClient::new(&to.federation_url, &to.tls_ca, &th_node.tls.identity_pem()).unwrap();
    let orphan = upload(&client, &vec![2u8; 600 * 1024]).await.unwrap();
    let refused = upload(&client, &vec![3u8; 600 * 1024]).await;
    assert_eq!(refused, Err(507), "over the peer's share");
    assert_eq!(
        la_node
            .blobs
            .len(&Digest::of(&vec![3u8; 600 * 1024]).sha256)
            .await
            .unwrap(),
        None
    );

    // Before its time the orphan stays; after it, it is deleted, and the
    // named blob is not.
    let now = time::OffsetDateTime::now_utc();
    let swept = mittaphap::app::retention::sweep_orphan_blobs(&la_node, now)
        .await
        .unwrap();
    assert_eq!(swept, 0);
    assert!(la_node.blobs.len(&orphan.sha256).await.unwrap().is_some());
    let later = now + time::Duration::days(1) + time::Duration::seconds(1);
    let swept = mittaphap::app::retention::sweep_orphan_blobs(&la_node, later)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(la_node.blobs.len(&orphan.sha256).await.unwrap(), None);
    assert_eq!(
        la_node.blobs.len(&named.sha256).await.unwrap(),
        Some(named.len)
    );
    // The share is free again.
    upload(&client, &vec![3u8; 600 * 1024]).await.unwrap();
}

crate::on_both_backends!(blobs_no_envelope_names_are_swept);

/// Forty sign-ins at once (eight people, five each: a name's quota): passwords
/// are hashed two at a time on threads of their own, so memory grows by two
/// hashes' worth, not forty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_at_once_keep_memory_flat() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (_th, mut la) = pair(root.path(), &dbs);
    for i in 0..8 {
        add_user(&la, &format!("officer{i}"), "officer", None, PASSWORD);
    }
    la.release_ports();
    let la_serve = Serve::start(&la).await;
    let desk = Desk {
        base: format!("http://127.0.0.1:{}", la.desk_port),
        http: reqwest::Client::new(),
    };
    desk.token("officer0", PASSWORD).await;
    let before = rss_mib(la_serve.0.id());
    let names: Vec<String> = (0..40).map(|i| format!("officer{}", i % 8)).collect();
    for _ in 0..2 {
        let all = names.iter().map(|n| desk.login(n, PASSWORD));
        let answers = futures_util::future::join_all(all).await;
        let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    let after = rss_mib(la_serve.0.id());
    let peak = peak_rss_mib(la_serve.0.id());
    eprintln!("80 sign-ins, 40 at a time: RSS {before} → {after} MiB, peak {peak} MiB");
    assert!(
        peak.saturating_sub(before) < 64,
        "RSS grew from {before} to a peak of {peak} MiB"
    );
}
