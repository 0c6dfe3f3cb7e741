//! Every way an envelope can be wrong is refused with its own reason, by a signed
//! receipt, and changes nothing; a replay is answered with the original receipt.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures_util::StreamExt;
use mittaphap::crypto::keys::SigningKey;
use mittaphap::federation::PeerClient;
use mittaphap::protocol::Descriptor;
use mittaphap::protocol::envelope::{
    ENVELOPE_TYP, EnvelopeClaims, RECEIPT_TYP, ReceiptClaims, ReceiptStatus,
};
use mittaphap::protocol::jws::{self, keys_of};
use mittaphap::store::channels::{self, Direction};
use serde_json::{Value, json};

use crate::exchange::{descriptor_of, inbox_of, outbox_row, queue_note, seal_for};
use crate::helpers::{
    Backend, Databases, init_node, mittaphap, tls_provider, wait_for, write_test_file,
};
use crate::on_both_backends;

async fn post(
    client: &PeerClient,
    to: &Descriptor,
    token: &str,
    body: &str,
) -> (u16, ReceiptClaims, String) {
    let (status, text) = client.post_envelope(token, body).await.unwrap();
    let receipt = jws::verify(&text, RECEIPT_TYP, keys_of(to))
        .unwrap_or_else(|e| panic!("receipt ({status}): {e}: {text}"));
    (status, receipt, text)
}

/// Replaces the payload of a compact JWS, keeping its header and signature.
fn with_claims(token: &str, edit: impl Fn(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    edit(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

fn with_header(token: &str, header: Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        parts[1],
        parts[2]
    )
}

async fn tamper_matrix(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let th = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let mut la = init_node(root.path(), "la-molsw", "LA", &dbs);
    let vn = init_node(root.path(), "vn-other", "VN", &dbs);
    la.max_blob_bytes = Some(1 << 20);
    for (x, y) in [(&th, &la), (&la, &th), (&la, &vn), (&vn, &la)] {
        x.add_peer(y);
    }
    // th queues one genuine envelope, but does not serve: we post it by hand.
    let a = th.open().await;
    let queued = queue_note(&a, "la-molsw", "genuine", &[]).await;
    let row = outbox_row(&a, "la-molsw", 1).await;
    let to: Descriptor = descriptor_of(&a, "la-molsw").await;
    let client = PeerClient::new(&to.federation_url, &to.tls_ca, &a.tls.identity_pem()).unwrap();
    let c = vn.open().await;
    let client_c = PeerClient::new(&to.federation_url, &to.tls_ca, &c.tls.identity_pem()).unwrap();
    let (b, b_run) = la.start().await;
    let genuine: EnvelopeClaims = jws::peek_claims(&row.jws).unwrap();
    let signed = |edit: &dyn Fn(&mut EnvelopeClaims)| {
        let mut claims = genuine.clone();
        edit(&mut claims);
        claims.sign(&a.signing).unwrap()
    };

    let mut cases: Vec<(&str, String, String, &str)> = Vec::new();
    // Every claim altered in turn, the signature left as it was.
    let alterations: [(&str, Value); 11] = [
        ("aud", json!("vn-other")),
        ("jti", json!(uuid::Uuid::now_v7().to_string())),
        ("iat", json!(genuine.iat + 1)),
        ("kind", json!("closure")),
        ("case", json!(uuid::Uuid::new_v4().to_string())),
        ("seq", json!(2)),
        ("prev", json!("ab".repeat(32))),
        (
            "body",
            json!({"sha256": "00".repeat(32), "len": genuine.body.len}),
        ),
        (
            "body",
            json!({"sha256": genuine.body.sha256, "len": genuine.body.len + 1}),
        ),
        ("blobs", json!([{"sha256": "11".repeat(32), "len": 5}])),
        ("extra", json!("smuggled")),
    ];
    for (claim, value) in alterations {
        let token = with_claims(&row.jws, |c| c[claim] = value.clone());
        cases.push(("claim altered", token, row.body.clone(), "bad_signature"));
    }
    cases.push((
        "iss altered",
        with_claims(&row.jws, |c| c["iss"] = json!("vn-other")),
        row.body.clone(),
        "wrong_issuer",
    ));
    // Signature and body bytes.
    let (head, sig) = row.jws.rsplit_once('.').unwrap();
    let mut sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig_bytes[5] ^= 0x01;
    cases.push((
        "signature byte",
        format!("{head}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes)),
        row.body.clone(),
        "bad_signature",
    ));
    let mut body_bytes = STANDARD.decode(&row.body).unwrap();
    body_bytes[40] ^= 0x01;
    cases.push((
        "body byte",
        row.jws.clone(),
        STANDARD.encode(&body_bytes),
        "body_mismatch",
    ));
    // Algorithms other than EdDSA, and keys the peer does not publish.
    let kid = a.signing.kid();
    cases.push((
        "alg none",
        with_header(
            &row.jws,
            json!({"alg": "none", "typ": ENVELOPE_TYP, "kid": kid}),
        ),
        row.body.clone(),
        "bad_alg",
    ));
    cases.push((
        "alg HS256",
        with_header(
            &row.jws,
            json!({"alg": "HS256", "typ": ENVELOPE_TYP, "kid": kid}),
        ),
        row.body.clone(),
        "bad_alg",
    ));
    cases.push((
        "extra header",
        with_header(
            &row.jws,
            json!({"alg": "EdDSA", "typ": ENVELOPE_TYP, "kid": kid, "jku": "https://x"}),
        ),
        row.body.clone(),
        "bad_header",
    ));
    let stranger = SigningKey::generate().unwrap();
    cases.push((
        "unknown kid",
        genuine.sign(&stranger).unwrap(),
        row.body.clone(),
        "unknown_kid",
    ));
    // Validly signed, but wrong.
    cases.push((
        "wrong aud",
        signed(&|c| c.aud = "vn-other".into()),
        row.body.clone(),
        "wrong_audience",
    ));
    cases.push((
        "seq gap",
        signed(&|c| c.seq = 2),
        row.body.clone(),
        "seq_gap",
    ));
    cases.push((
        "prev mismatch",
        signed(&|c| c.prev = "ab".repeat(32)),
        row.body.clone(),
        "prev_mismatch",
    ));
    cases.push((
        "iat ahead",
        signed(&|c| c.iat += 3600),
        row.body.clone(),
        "iat_in_future",
    ));
    cases.push((
        "unknown kind",
        signed(&|c| c.kind = "gossip".into()),
        row.body.clone(),
        "unknown_kind",
    ));
    cases.push(("not a JWS", "abc".into(), row.body.clone(), "malformed"));
    // The same UUIDs in another spelling (docs/protocol.md §7: lower-case,
    // hyphenated only): each would otherwise pass as a new envelope.
    let upper = genuine.jti.to_uppercase();
    let simple = genuine.jti.replace('-', "");
    let urn = format!("urn:uuid:{}", genuine.jti);
    let braced = format!("{{{}}}", genuine.jti);
    for (what, jti) in [
        ("jti upper case", upper),
        ("jti without hyphens", simple),
        ("jti as a URN", urn),
        ("jti in braces", braced),
    ] {
        cases.push((
            what,
            signed(&move |c| c.jti = jti.clone()),
            row.body.clone(),
            "bad_claims",
        ));
    }
    let case_upper = uuid::Uuid::now_v7().to_string().to_uppercase();
    cases.push((
        "case upper case",
        signed(&move |c| c.case = Some(case_upper.clone())),
        row.body.clone(),
        "bad_claims",
    ));

    // A blob with one byte flipped is refused by the blob door, so an envelope that
    // lists it finds it missing.
    let file = root.path().join("small.bin");
    std::fs::write(&file, vec![42u8; 100_000]).unwrap();
    let small = seal_for(&a, "la-molsw", &file).await;
    let mut bytes = Vec::new();
    let mut stream = a.blobs.stream(&small.sha256).await.unwrap();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let mut flipped = bytes.clone();
    flipped[1000] ^= 0x01;
    let err = client
        .put_blob(
            &small.sha256,
            flipped.len() as u64,
            futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(flipped))]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("422"), "{err}");
    assert_eq!(b.blobs.len(&small.sha256).await.unwrap(), None);
    cases.push((
        "blob byte",
        signed(&|c| c.blobs = vec![small.clone()]),
        row.body.clone(),
        "missing_blob",
    ));

    // A blob over the receiver's limit is refused whole.
    let big_file = root.path().join("big.bin");
    write_test_file(&big_file, 2);
    let big = seal_for(&a, "la-molsw", &big_file).await;
    let err = client
        .put_blob(
            &big.sha256,
            big.len,
            a.blobs.stream(&big.sha256).await.unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("413"), "{err}");
    assert_eq!(b.blobs.len(&big.sha256).await.unwrap(), None);
    assert_eq!(
        std::fs::read_dir(la.dir.join("data/staging"))
            .unwrap()
            .count(),
        0,
        "nothing left staged"
    );

    for (what, token, body, reason) in &cases {
        let (status, receipt, _) = post(&client, &to, token, body).await;
        assert_eq!(receipt.status, ReceiptStatus::Rejected, "{what}");
        assert_eq!(receipt.reason, *reason, "{what}");
        assert_eq!(receipt.expected_seq, 1, "{what}");
        assert!((400..500).contains(&status), "{what}: {status}");
    }
    // A genuine envelope of th, replayed over vn's mutual-TLS connection.
    let (_, receipt, _) = post(&client_c, &to, &row.jws, &row.body).await;
    assert_eq!(
        (receipt.status, receipt.reason.as_str()),
        (ReceiptStatus::Rejected, "wrong_issuer")
    );

    // None of it changed anything.
    assert!(inbox_of(&b, "th-msdhs").await.is_empty());
    let mut conn = b.store.pool().acquire().await.unwrap();
    assert_eq!(
        channels::head(&mut conn, "th-msdhs", Direction::In)
            .await
            .unwrap()
            .seq,
        0
    );
    drop(conn);
    assert_eq!(*b.events.accepted.borrow(), 0);

    // The genuine envelope is accepted; replayed, it is a duplicate carrying the
    // original receipt, and is stored once.
    let (status, first, first_text) = post(&client, &to, &row.jws, &row.body).await;
    assert_eq!(
        (status, first.status, first.for_jti.as_str()),
        (200, ReceiptStatus::Accepted, queued.jti.as_str())
    );
    let (status, again, _) = post(&client, &to, &row.jws, &row.body).await;
    assert_eq!((status, again.status), (200, ReceiptStatus::Duplicate));
    assert_eq!(again.original.as_deref(), Some(first_text.as_str()));
    assert_eq!(inbox_of(&b, "th-msdhs").await.len(), 1);

    // th's courier delivers its queued copy: a duplicate, so delivered once.
    drop(a);
    let mut th = th;
    let (a, a_run) = th.start().await;
    wait_for(&a.events.delivered, 1, "deliveries").await;
    assert_eq!(inbox_of(&b, "th-msdhs").await.len(), 1);
    let out = mittaphap(&["reconcile", "--dir", th.dir_str(), "--peer", "la-molsw"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    a_run.shutdown().await.unwrap();
    b_run.shutdown().await.unwrap();
}
on_both_backends!(tamper_matrix);
