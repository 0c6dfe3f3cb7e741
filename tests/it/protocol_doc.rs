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

/// The envelope example: th-example sends la-example a note whose body was sealed
/// by the reference `age` tool; the envelope, its hash and la-example's receipt are
/// regenerated here (Ed25519 is deterministic) and must appear in the document.
#[test]
fn envelope_example_in_protocol_md_is_exact() {
    use base64::Engine;
    use mittaphap::crypto::seal::open_bytes;
    use mittaphap::protocol::envelope::{
        Digest, EnvelopeClaims, ReceiptClaims, ReceiptStatus, envelope_sha256,
    };

    let sender = SigningKey::from_pkcs8_pem(&fixture("signing.key")).unwrap();
    let receiver = SigningKey::from_pkcs8_pem(&fixture("receiver/signing.key")).unwrap();
    let identity =
        mittaphap::crypto::keys::AgeIdentity::from_file_text(&fixture("receiver/age-identity.txt"))
            .unwrap();
    let body = std::fs::read(format!(
        "{}/tests/fixtures/example/body.age",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let plaintext = fixture("body.json");
    assert_eq!(
        open_bytes(identity.all(), &body).unwrap(),
        plaintext.as_bytes(),
        "the reference tool's ciphertext opens"
    );

    let claims = EnvelopeClaims {
        iss: "th-example".into(),
        aud: "la-example".into(),
        jti: "019a7b3c-5d2e-7f10-8a4b-3c2d1e0f9a8b".into(),
        iat: 1_795_392_000,
        kind: "note".into(),
        case: None,
        seq: 1,
        prev: String::new(),
        body: Digest::of(&body),
        blobs: vec![],
    };
    let envelope = claims.sign(&sender).unwrap();
    let hash = envelope_sha256(&envelope);
    let receipt_claims = ReceiptClaims {
        iss: "la-example".into(),
        aud: "th-example".into(),
        for_jti: claims.jti.clone(),
        envelope_sha256: hash.clone(),
        status: ReceiptStatus::Accepted,
        reason: String::new(),
        expected_seq: 2,
        iat: 1_795_392_001,
        original: None,
    };
    let receipt = receipt_claims.sign(&receiver).unwrap();
    let expected = [
        ("receiver signing key", fixture("receiver/signing.key")),
        (
            "receiver age identity",
            fixture("receiver/age-identity.txt"),
        ),
        ("receiver kid", receiver.kid()),
        ("receiver public key", receiver.public_b64url()),
        ("body plaintext", plaintext.clone()),
        (
            "body base64",
            base64::engine::general_purpose::STANDARD.encode(&body),
        ),
        ("body sha256", claims.body.sha256.clone()),
        ("envelope claims", serde_json::to_string(&claims).unwrap()),
        (
            "receipt claims",
            serde_json::to_string(&receipt_claims).unwrap(),
        ),
        ("envelope JWS", envelope),
        ("envelope sha256", hash),
        ("receipt JWS", receipt),
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

/// What we seal, the reference `age` tool opens (when it is installed, as
/// scripts/setup.sh does).
#[test]
fn reference_age_tool_opens_what_we_seal() {
    let Ok(which) = std::process::Command::new("age").arg("--version").output() else {
        eprintln!("skipped: the reference age tool is not installed");
        return;
    };
    assert!(which.status.success());
    let identity =
        mittaphap::crypto::keys::AgeIdentity::from_file_text(&fixture("receiver/age-identity.txt"))
            .unwrap();
    let plaintext = "ສະບາຍດີ / สวัสดี / hello".repeat(1000);
    let sealed = mittaphap::crypto::seal::seal_bytes(
        &[identity.identity().to_public()],
        plaintext.as_bytes(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealed.age");
    std::fs::write(&file, &sealed).unwrap();
    let out = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(format!(
            "{}/tests/fixtures/example/receiver/age-identity.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), plaintext);
}
