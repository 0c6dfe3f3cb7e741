//! `peer add` refuses a wrong fingerprint, a tampered descriptor and a descriptor
//! signed by another key, and stores nothing when it does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mittaphap::crypto::keys::SigningKey;
use mittaphap::protocol::Descriptor;
use serde_json::Value;

use crate::helpers::{Backend, Databases, TestNode, assert_fails, init_node, mittaphap};
use crate::on_both_backends;

fn add(node: &TestNode, text: &str, fingerprint: &str) -> crate::helpers::Output {
    let file = node.dir.join("candidate.json");
    std::fs::write(&file, text).unwrap();
    mittaphap(&[
        "peer",
        "add",
        "--dir",
        node.dir_str(),
        file.to_str().unwrap(),
        "--fingerprint",
        fingerprint,
    ])
}

async fn peer_count(node: &TestNode) -> usize {
    let opened = mittaphap::node::Node::open(&node.dir).await.unwrap();
    let mut conn = opened.store.pool().acquire().await.unwrap();
    let n = mittaphap::store::peers::list(&mut conn)
        .await
        .unwrap()
        .len();
    drop(conn);
    opened.store.close().await;
    n
}

fn signing_key(node: &TestNode) -> SigningKey {
    SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(node.dir.join("certs/signing.key")).unwrap(),
    )
    .unwrap()
}

async fn peer_add_refusals(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let th = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let la = init_node(root.path(), "la-molsw", "LA", &dbs);
    let other = init_node(root.path(), "vn-other", "VN", &dbs);
    let la_json = la.descriptor();

    // A wrong fingerprint (another node's).
    assert_fails(
        &add(&th, &la_json, &other.fingerprint),
        1,
        "fingerprint mismatch",
    );

    // One byte changed in a member, then in the signature.
    let tampered = la_json.replacen("Test node la-molsw", "Test node la-molsX", 1);
    assert_ne!(tampered, la_json);
    assert_fails(
        &add(&th, &tampered, &la.fingerprint),
        1,
        "signature is invalid",
    );
    let mut object: Value = serde_json::from_str(&la_json).unwrap();
    let jws = object["signature"].as_str().unwrap().to_owned();
    let (head, sig) = jws.rsplit_once('.').unwrap();
    let mut sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig_bytes[10] ^= 0x01;
    object["signature"] = Value::String(format!("{head}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes)));
    assert_fails(
        &add(&th, &object.to_string(), &la.fingerprint),
        1,
        "signature is invalid",
    );

    // The same members signed by another node's key: under that key's own kid
    // (not published in the descriptor), and under la's kid.
    let descriptor: Descriptor = serde_json::from_str(&la_json).unwrap();
    let foreign = signing_key(&other);
    let resigned = descriptor.sign(&foreign).unwrap();
    assert_fails(&add(&th, &resigned, &la.fingerprint), 1, "does not publish");
    let mut object: Value = serde_json::from_str(&resigned).unwrap();
    let jws = object["signature"].as_str().unwrap().to_owned();
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    header["kid"] = Value::String(signing_key(&la).kid());
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    object["signature"] = Value::String(parts.join("."));
    assert_fails(
        &add(&th, &object.to_string(), &la.fingerprint),
        1,
        "signature is invalid",
    );

    // Not JSON, and a fingerprint that is not one.
    assert_fails(&add(&th, "not json", &la.fingerprint), 1, "not valid JSON");
    assert_fails(&add(&th, &la_json, "1234"), 2, "64 hex digits");

    // Nothing was stored by any of that.
    assert_eq!(peer_count(&th).await, 0);
    let listed = mittaphap(&["peer", "list", "--dir", th.dir_str()]);
    assert_eq!(listed.stdout.trim(), "no peers registered");

    // The genuine descriptor with the right fingerprint (typed in lower case, no
    // spaces) is accepted, and listed with id, country, URL, fingerprint and key id.
    let typed = la.fingerprint.replace(' ', "");
    let out = add(&th, &la_json, &typed);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(peer_count(&th).await, 1);
    let listed = mittaphap(&["peer", "list", "--dir", th.dir_str()]).stdout;
    let line = listed
        .lines()
        .find(|l| l.starts_with("la-molsw"))
        .expect("la listed");
    assert!(line.contains(" LA "), "{line}");
    assert!(line.contains(&descriptor.federation_url), "{line}");
    assert!(line.contains(&la.fingerprint), "{line}");
    assert!(line.contains(&signing_key(&la).kid()), "{line}");

    // Twice, or our own descriptor: refused.
    assert_fails(
        &add(&th, &la_json, &la.fingerprint),
        1,
        "already registered",
    );
    assert_fails(
        &add(&th, &th.descriptor(), &th.fingerprint),
        1,
        "our own descriptor",
    );
    assert_eq!(peer_count(&th).await, 1);
}
on_both_backends!(peer_add_refusals);
