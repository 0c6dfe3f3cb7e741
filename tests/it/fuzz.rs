//! Hostile input on the stable toolchain: a mutation fuzzer (bit flips, byte
//! edits, splices, JSON tokens) over the parsers that face the outside: the
//! envelope and receipt JWS, the signed descriptor, every desk message body and
//! the consent record. Not coverage-guided (that needs a nightly compiler for
//! cargo-fuzz); seeded from `fuzz/corpus/<target>/` and from valid inputs made
//! here. A panic fails the test and leaves the input in `fuzz/crashes/`.
//!
//! `MITTAPHAP_FUZZ_SECS` sets the time per target (default 2 s, as CI runs it);
//! `MITTAPHAP_FUZZ_SAVE_SEEDS=1` writes the seeds into the corpus folders.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mittaphap::crypto::keys::SigningKey;
use mittaphap::domain::sop::Kind;
use mittaphap::protocol::envelope::{
    Digest, ENVELOPE_TYP, EnvelopeClaims, RECEIPT_TYP, ReceiptClaims, ReceiptStatus,
};
use mittaphap::protocol::jws;
use rand::{Rng, RngExt};
use serde_json::json;

use crate::helpers::{Backend, Databases, init_node};

const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"\\u0000",
    b"\xff\xfe",
    b".",
    b"==",
    b"\"schema\"",
    b"\"referral/1\"",
    b"\xe0\xba\x81",
    b"\xe0\xb8\x81",
];

fn mutate(rng: &mut impl Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..=len);
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                out.splice(i..i, token.iter().copied());
            }
            3 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len.min(a + 64) + 1).min(len);
                out.drain(a..b);
            }
            4 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..32)).min(len);
                let chunk = out[a..b].to_vec();
                let at = rng.random_range(0..=out.len());
                out.splice(at..at, chunk);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..8);
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(i..i, junk);
            }
        }
    }
    out
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Runs `target` on mutations of its seeds for `budget`; returns the case count.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, budget: Duration, target: &dyn Fn(&[u8])) -> u64 {
    let mut corpus = seeds;
    if let Ok(entries) = std::fs::read_dir(corpus_dir(name)) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                corpus.push(bytes);
            }
        }
    }
    assert!(!corpus.is_empty(), "{name}: no seeds");
    if std::env::var("MITTAPHAP_FUZZ_SAVE_SEEDS").is_ok_and(|v| v == "1") {
        let dir = corpus_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in corpus.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
        }
    }
    let mut rng = rand::rng();
    let started = Instant::now();
    let mut cases = 0u64;
    // Seeds first, as they are.
    let inputs = corpus.clone();
    for input in inputs.iter() {
        target(input);
    }
    while started.elapsed() < budget {
        let seed = &corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, seed, &corpus);
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashes");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}-{cases}.bin"));
            std::fs::write(&path, &input).unwrap();
            panic!("{name}: a panic on input saved to {}", path.display());
        }
        cases += 1;
    }
    cases
}

#[test]
fn parsers_survive_hostile_input() {
    let secs: u64 = std::env::var("MITTAPHAP_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let budget = Duration::from_secs(secs);
    let key = SigningKey::generate().unwrap();
    let kid = key.kid();
    let decoding = jsonwebtoken::DecodingKey::from_ed_der(key.public_raw());
    let keys = |k: &str| (k == kid).then(|| decoding.clone());

    let envelope = EnvelopeClaims {
        iss: "th-msdhs".into(),
        aud: "la-molsw".into(),
        jti: uuid::Uuid::now_v7().to_string(),
        iat: 1_800_000_000,
        kind: "referral".into(),
        case: Some(uuid::Uuid::now_v7().to_string()),
        seq: 1,
        prev: String::new(),
        body: Digest::of(b"sealed"),
        blobs: vec![Digest::of(b"blob")],
    }
    .sign(&key)
    .unwrap();
    let receipt = ReceiptClaims {
        iss: "la-molsw".into(),
        aud: "th-msdhs".into(),
        for_jti: uuid::Uuid::now_v7().to_string(),
        envelope_sha256: "a".repeat(64),
        status: ReceiptStatus::Accepted,
        reason: String::new(),
        expected_seq: 2,
        iat: 1_800_000_000,
        original: None,
    }
    .sign(&key)
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let descriptor = init_node(root.path(), "th-msdhs", "TH", &dbs).descriptor();

    let mut report = Vec::new();
    let request = json!({"jws": envelope, "body": "YWdlLWVuY3J5cHRpb24="}).to_string();
    let n = fuzz(
        "envelope",
        vec![envelope.clone().into_bytes(), request.into_bytes()],
        budget,
        &|input| {
            let text = String::from_utf8_lossy(input);
            let _ = jws::verify::<EnvelopeClaims>(&text, ENVELOPE_TYP, keys);
            let _ = jws::peek_claims::<EnvelopeClaims>(&text);
            let _ = serde_json::from_slice::<serde_json::Value>(input);
        },
    );
    report.push(("envelope", n));
    let n = fuzz("receipt", vec![receipt.into_bytes()], budget, &|input| {
        let text = String::from_utf8_lossy(input);
        let _ = jws::verify::<ReceiptClaims>(&text, RECEIPT_TYP, keys);
    });
    report.push(("receipt", n));
    let n = fuzz(
        "descriptor",
        vec![descriptor.into_bytes()],
        budget,
        &|input| {
            let _ = mittaphap::protocol::descriptor::verify(&String::from_utf8_lossy(input));
        },
    );
    report.push(("descriptor", n));
    let bodies: Vec<Vec<u8>> = [
        crate::cases::referral(),
        json!({"schema": "verification/1", "identity_confirmed": true, "family_traced": true, "family_assessment": "ok", "placement": "family"}),
        json!({"schema": "return_plan/1", "date": "2030-12-10", "crossing": {"point": "other", "other": "Boat"}, "escorts": "Two", "travel_document": "CI", "needs_on_arrival": "x"}),
        json!({"schema": "handover/1", "at": "2030-12-12T09:30:00+07:00", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two", "record": "Signed"}),
        json!({"schema": "prosecution_update/1", "milestone": "compensation_claimed", "date": "2026-11-20", "amount_thb": 250000, "charges": ["s.6"], "next_hearing": "2027-01-01"}),
        json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Shelter social worker"}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    let n = fuzz("desk-bodies", bodies, budget, &|input| {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(input) {
            for kind in Kind::ALL {
                let _ = mittaphap::domain::messages::parse(kind, &value);
            }
            if let Ok(record) =
                serde_json::from_value::<mittaphap::domain::consent::ConsentRecord>(value)
            {
                let _ = record.check();
            }
        }
    });
    report.push(("desk-bodies", n));
    for (target, cases) in &report {
        eprintln!("fuzz {target}: {cases} cases in {secs} s, no panic");
        assert!(*cases > 0);
    }
}
