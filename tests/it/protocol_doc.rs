//! docs/protocol.md's worked example is regenerated here from the example keys in
//! tests/fixtures/example/ and must appear in the document byte for byte.

use mittaphap::crypto::hash::{group_hex, sha256_hex};
use mittaphap::crypto::keys::SigningKey;
use mittaphap::protocol::descriptor::verify_with_fingerprint;
use mittaphap::protocol::{Descriptor, PublishedKey};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/example/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn worked_example_in_protocol_md_is_exact() {
    let key = SigningKey::from_pkcs8_pem(&fixture("signing.key")).unwrap();
    let descriptor = Descriptor {
        node_id: "th-example".into(),
        country: "TH".into(),
        name: "Example shelter".into(),
        federation_url: "https://fed.th.example:7443".into(),
        tls_ca: fixture("ca.pem"),
        signing_keys: vec![PublishedKey {
            kid: key.kid(),
            alg: "EdDSA".into(),
            public_key: key.public_b64url(),
        }],
        age_recipients: vec![fixture("age-recipient.txt").trim().to_owned()],
        protocol: vec!["1".into()],
    };
    let canonical = String::from_utf8(descriptor.canonical().unwrap()).unwrap();
    let fingerprint = sha256_hex(canonical.as_bytes());
    let signed = descriptor.sign(&key).unwrap();
    let value: serde_json::Value = serde_json::from_str(&signed).unwrap();
    let jws = value["signature"].as_str().unwrap();
    let header = jws.split('.').next().unwrap();
    assert!(verify_with_fingerprint(&signed, &fingerprint).is_ok());

    let expected = [
        ("signing key", fixture("signing.key")),
        ("kid", key.kid()),
        ("public key", key.public_b64url()),
        ("canonical form", canonical.clone()),
        ("fingerprint (hex)", fingerprint.clone()),
        ("fingerprint (grouped)", group_hex(&fingerprint)),
        ("JWS header (base64url)", header.to_owned()),
        ("JWS", jws.to_owned()),
    ];
    let doc = std::fs::read_to_string(format!("{}/docs/protocol.md", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let missing: Vec<_> = expected
        .iter()
        .filter(|(_, v)| !doc.contains(v.trim()))
        .collect();
    for (what, value) in &missing {
        eprintln!("--- {what} not found in docs/protocol.md; the exact value is:\n{value}\n");
    }
    assert!(
        missing.is_empty(),
        "docs/protocol.md is out of date: {} values differ",
        missing.len()
    );
}
