//! Keys over the years: a signing key rotated, the peer taking the new descriptor
//! from the key it trusts (`peer update`), a stranger's descriptor refused, and
//! after `keys retire` an envelope signed with the retired key refused.

use mittaphap::crypto::keys::SigningKey;
use mittaphap::federation::PeerClient;
use mittaphap::protocol::Descriptor;
use mittaphap::protocol::envelope::{EnvelopeClaims, RECEIPT_TYP, ReceiptClaims, ReceiptStatus};
use mittaphap::protocol::jws::{self, keys_of};

use crate::exchange::{descriptor_of, outbox_row, pair, queue_note};
use crate::helpers::{Backend, Databases, TestNode, init_node, mittaphap, tls_provider};
use crate::helpers::{Serve, inbox_len, until};
use crate::on_both_backends;

/// The sealed body of the last envelope accepted from `peer`.
async fn last_body(node: &mittaphap::node::Node, peer: &str) -> Vec<u8> {
    use base64::Engine;
    let rows = crate::exchange::inbox_of(node, peer).await;
    base64::engine::general_purpose::STANDARD
        .decode(&rows.last().unwrap().body)
        .unwrap()
}

fn descriptor_file(node: &TestNode, name: &str) -> std::path::PathBuf {
    let path = node.dir.parent().unwrap().join(name);
    std::fs::write(&path, node.descriptor()).unwrap();
    path
}

/// Two real `serve` processes: the Thai node's keys rotated, the Lao node taking
/// the new descriptor, a stranger's refused; the earlier age identity still opening
/// what was sealed to it; after `keys retire`, an envelope signed with the retired
/// key refused; transcripts and audit chains whole throughout.
async fn a_signing_key_is_rotated_then_retired(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    th_dir.release_ports();
    la_dir.release_ports();
    let la_serve = Serve::start(&la_dir).await;
    let th_serve = Serve::start(&th_dir).await;
    // This test's own handles on both databases, to queue and to look.
    let la = la_dir.open().await;
    let th = th_dir.open().await;
    queue_note(&th, "la-molsw", "signed with the first key", &[]).await;
    until("the first note", || async {
        inbox_len(&la, "th-msdhs").await == 1
    })
    .await;
    let first_kid = th.signing.kid();
    th_serve.stop();
    th.store.close().await;
    drop(th);

    // Rotated: the new key signs; the Lao node does not know it yet.
    let out = mittaphap(&["keys", "rotate", "--dir", th_dir.dir_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("new signing key: ed25519-"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("still published: {first_kid}"))
    );
    assert!(
        out.stdout.contains("new age recipient: age1"),
        "{}",
        out.stdout
    );
    let th_serve = Serve::start(&th_dir).await;
    let th = th_dir.open().await;
    assert_ne!(th.signing.kid(), first_kid);
    // The Lao node still seals to the earlier age recipient: the Thai node keeps
    // that identity and opens it; nothing received is dropped.
    queue_note(&la, "th-msdhs", "sealed to the earlier recipient", &[]).await;
    until("la's note to the earlier recipient", || async {
        inbox_len(&th, "la-molsw").await == 1
    })
    .await;
    let body = last_body(&th, "la-molsw").await;
    let current_only = std::slice::from_ref(&th.age.all()[0]);
    assert!(mittaphap::crypto::seal::open_bytes(current_only, &body).is_err());
    assert!(mittaphap::crypto::seal::open_bytes(th.age.all(), &body).is_ok());
    queue_note(&th, "la-molsw", "signed with the new key", &[]).await;
    until("unknown_kid, retried", || async {
        outbox_row(&th, "la-molsw", 2)
            .await
            .last_error
            .is_some_and(|e| e.contains("unknown_kid"))
    })
    .await;

    // A stranger's descriptor for the same node id is refused.
    let stranger_root = root.path().join("stranger");
    std::fs::create_dir_all(&stranger_root).unwrap();
    let stranger = init_node(
        &stranger_root,
        "th-msdhs",
        "TH",
        &Databases::new(&Backend::Sqlite),
    );
    let file = descriptor_file(&stranger, "stranger.json");
    let out = mittaphap(&[
        "peer",
        "update",
        "--dir",
        la_dir.dir_str(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("does not trust") && out.stderr.contains("--fingerprint"),
        "{}",
        out.stderr
    );

    // The genuine one, signed by the key the Lao node trusts, is taken; the note
    // waiting for it goes through.
    let file = descriptor_file(&th_dir, "th-rotated.json");
    let out = mittaphap(&[
        "peer",
        "update",
        "--dir",
        la_dir.dir_str(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    until("the note signed with the new key", || async {
        inbox_len(&la, "th-msdhs").await == 2
    })
    .await;
    // Updated, the Lao node seals to the new recipient.
    let la = {
        la.store.close().await;
        la_dir.open().await
    };
    queue_note(&la, "th-msdhs", "sealed to the new recipient", &[]).await;
    until("la's note to the new recipient", || async {
        inbox_len(&th, "la-molsw").await == 2
    })
    .await;
    let body = last_body(&th, "la-molsw").await;
    let current_only = std::slice::from_ref(&th.age.all()[0]);
    assert!(mittaphap::crypto::seal::open_bytes(current_only, &body).is_ok());
    th_serve.stop();
    th.store.close().await;
    drop(th);

    // Retired: no longer published; the Lao node takes the descriptor without it.
    let out = mittaphap(&["keys", "retire", "--dir", th_dir.dir_str(), &first_kid]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = mittaphap(&["keys", "retire", "--dir", th_dir.dir_str(), &first_kid]);
    assert_eq!(out.code, 2, "retired already: {}", out.stdout);
    let file = descriptor_file(&th_dir, "th-retired.json");
    let out = mittaphap(&[
        "peer",
        "update",
        "--dir",
        la_dir.dir_str(),
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let listed = mittaphap(&["peer", "list", "--dir", la_dir.dir_str()]).stdout;
    assert!(!listed.contains(&first_kid), "{listed}");

    // An envelope signed with the retired key is refused unknown_kid.
    let th = th_dir.open().await;
    queue_note(&th, "la-molsw", "third", &[]).await;
    let row = outbox_row(&th, "la-molsw", 3).await;
    let retired_dir = th_dir.dir.join("certs/signing-retired");
    let retired_file = std::fs::read_dir(&retired_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let retired =
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(retired_file).unwrap()).unwrap();
    let claims: EnvelopeClaims = jws::peek_claims(&row.jws).unwrap();
    let forged = claims.sign(&retired).unwrap();
    let to: Descriptor = descriptor_of(&th, "la-molsw").await;
    let client = PeerClient::new(&to.federation_url, &to.tls_ca, &th.tls.identity_pem()).unwrap();
    let (_, text) = client.post_envelope(&forged, &row.body).await.unwrap();
    let receipt: ReceiptClaims = jws::verify(&text, RECEIPT_TYP, keys_of(&to)).unwrap();
    assert_eq!(receipt.status, ReceiptStatus::Rejected);
    assert_eq!(receipt.reason, "unknown_kid");

    // The genuine third note flows, and both transcripts and audit chains hold.
    let _th_serve = Serve::start(&th_dir).await;
    until("the third note", || async {
        inbox_len(&la, "th-msdhs").await == 3
    })
    .await;
    for (dir, peer) in [(&th_dir, "la-molsw"), (&la_dir, "th-msdhs")] {
        let out = mittaphap(&["reconcile", "--dir", dir.dir_str(), "--peer", peer]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        let out = mittaphap(&["audit", "verify", "--dir", dir.dir_str()]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
    assert_eq!(
        inbox_len(&th, "la-molsw").await,
        2,
        "both notes from the Lao node, none dropped"
    );
    drop(la_serve);
    th.store.close().await;
    la.store.close().await;
}
on_both_backends!(a_signing_key_is_rotated_then_retired);

/// A certificate about to expire says so (metrics, admin page, log); `certs
/// renew` issues a new one from the node's CA and both directions keep flowing.
/// Two real `serve` processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_near_expiry_is_reported_and_renewed() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    th_dir.release_ports();
    la_dir.release_ports();
    crate::desk::add_user(&th_dir, "admin1", "admin", None, crate::web::PASSWORD);
    let out = mittaphap(&["certs", "renew", "--dir", th_dir.dir_str(), "--days", "10"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("valid until"), "{}", out.stdout);
    let log = root.path().join("th.log");
    let th_serve = {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
            .args(["serve", "--dir", th_dir.dir_str()])
            .env("MITTAPHAP_RETRY_MAX_MS", "300")
            .env_remove("MITTAPHAP_DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{}/readyz", th_dir.desk_port);
        until("serve to be ready", || async {
            reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        Serve(child)
    };
    let la_serve = Serve::start(&la_dir).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("certificate expires soon"), "{text}");
    let th = th_dir.open().await;
    let la = la_dir.open().await;
    queue_note(&th, "la-molsw", "over the renewed certificate", &[]).await;
    queue_note(&la, "th-msdhs", "to the renewed certificate", &[]).await;
    until("th → la", || async {
        inbox_len(&la, "th-msdhs").await == 1
    })
    .await;
    until("la → th", || async {
        inbox_len(&th, "la-molsw").await == 1
    })
    .await;

    let base = format!("http://127.0.0.1:{}", th_dir.desk_port);
    let http = crate::web::no_redirects();
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seconds: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mittaphap_certificate_expiry_seconds "))
        .expect("the expiry gauge")
        .parse()
        .unwrap();
    assert!((9 * 86_400..=10 * 86_400).contains(&seconds), "{seconds}");
    let cookie = crate::web::page_sign_in(&http, &base, "admin1").await;
    let admin = http
        .get(format!("{base}/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        admin.contains("error cert-expiry") && admin.contains("certs renew"),
        "the admin page warns"
    );
    th_serve.stop();

    // Renewed for the usual five years: nothing for the peer to do.
    let out = mittaphap(&["certs", "renew", "--dir", th_dir.dir_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let _th_serve = Serve::start(&th_dir).await;
    let renewed = th_dir.open().await;
    assert!(renewed.cert_expires_in(time::OffsetDateTime::now_utc()) > 4 * 365 * 86_400);
    queue_note(&renewed, "la-molsw", "after the renewal", &[]).await;
    queue_note(&la, "th-msdhs", "after the renewal too", &[]).await;
    until("th → la again", || async {
        inbox_len(&la, "th-msdhs").await == 2
    })
    .await;
    until("la → th again", || async {
        inbox_len(&th, "la-molsw").await == 2
    })
    .await;
    drop(la_serve);
}
