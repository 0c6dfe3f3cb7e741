//! No answer repeats what was sent: a distinctive Lao name in every query
//! parameter, path segment and body field of the desk's endpoints, and in every
//! claim and header of an envelope on the federation door, is found in no
//! response body and no receipt.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mittaphap::federation::PeerClient;
use mittaphap::protocol::envelope::{ENVELOPE_TYP, EnvelopeClaims};
use mittaphap::protocol::jws;
use serde_json::{Value, json};

use crate::cases::referral;
use crate::desk::{Desk, add_user};
use crate::exchange::{descriptor_of, outbox_row, pair, queue_note};
use crate::helpers::{Backend, Databases, init_node, tls_provider};

/// A name nobody else would write.
const NAME: &str = "ຄຳແພງ ສີສະຫວັດວົງ";

fn free_of_name(what: &str, text: &str) {
    let encoded = url::form_urlencoded::byte_serialize(NAME.as_bytes()).collect::<String>();
    assert!(
        !text.contains("ຄຳແພງ") && !text.contains(&encoded) && !text.contains("%E0%BA%84%E0%BA%B3"),
        "{what} repeats what was sent: {text}"
    );
}

/// Every string of `v` replaced by the name, one at a time, as separate bodies;
/// plus the body with a field of that name.
fn each_field_named(v: &Value) -> Vec<Value> {
    fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let mut p = at.clone();
                    p.push(k.clone());
                    paths(c, p, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let mut p = at.clone();
                    p.push(i.to_string());
                    paths(c, p, out);
                }
            }
            _ => out.push(at),
        }
    }
    let mut all = Vec::new();
    paths(v, Vec::new(), &mut all);
    let mut out: Vec<Value> = all
        .into_iter()
        .map(|p| {
            let mut b = v.clone();
            let mut at = &mut b;
            for seg in &p {
                at = match at {
                    Value::Array(a) => &mut a[seg.parse::<usize>().unwrap()],
                    other => &mut other[seg.as_str()],
                };
            }
            *at = json!(NAME);
            b
        })
        .collect();
    let mut extra = v.clone();
    if let Some(m) = extra.as_object_mut() {
        m.insert(NAME.to_owned(), json!(1));
    }
    out.push(extra);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_never_repeats_a_value() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, "a long password th");
    add_user(&th_dir, "admin1", "admin", None, "a long password ad");
    add_user(&th_dir, "auditor1", "auditor", None, "a long password au");
    let (_th, th_run) = th_dir.start().await;
    let (_la, la_run) = la_dir.start().await;
    let desk = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: reqwest::Client::new(),
    };
    let officer = desk.token("somchai", "a long password th").await;
    let admin = desk.token("admin1", "a long password ad").await;
    let auditor = desk.token("auditor1", "a long password au").await;
    let (_, created) = desk
        .post(
            &officer,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    let case = created["id"].as_str().unwrap().to_owned();
    let q = url::form_urlencoded::byte_serialize(NAME.as_bytes()).collect::<String>();

    let mut checked = 0;
    let mut check = |what: &str, text: String| {
        free_of_name(what, &text);
        checked += 1;
    };
    // Query parameters and path segments.
    let gets = [
        (&officer, format!("/api/v1/cases?state={q}")),
        (&officer, format!("/api/v1/cases?turn={q}")),
        (&officer, format!("/api/v1/cases?updated_since={q}")),
        (&officer, format!("/api/v1/cases?{q}=1")),
        (&officer, format!("/api/v1/cases/{q}")),
        (&officer, format!("/api/v1/cases/{case}/timeline?{q}=1")),
        (&officer, format!("/api/v1/cases/{case}/attachments/{q}")),
        (&officer, format!("/api/v1/cases/{q}/grants")),
        (
            &auditor,
            format!("/api/v1/audit?case={q}&user={q}&action={q}"),
        ),
        (&auditor, format!("/api/v1/audit?since={q}")),
        (&auditor, format!("/api/v1/audit?until={q}")),
        (&auditor, format!("/api/v1/audit?after={q}")),
        (&auditor, format!("/api/v1/audit?limit={q}")),
        (&admin, format!("/api/v1/users?{q}=1")),
        (&officer, format!("/api/v1/{q}")),
        (&officer, format!("/{q}")),
    ];
    for (token, path) in &gets {
        let r = desk
            .http
            .get(format!("{}{path}", desk.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        check(path, r.text().await.unwrap());
    }
    let r = desk
        .http
        .post(format!(
            "{}/api/v1/cases/{case}/attachments?file_name={q}/x&media_type={q}",
            desk.base
        ))
        .bearer_auth(&officer)
        .body("x")
        .send()
        .await
        .unwrap();
    check("upload", r.text().await.unwrap());
    // A method the path does not take.
    let r = desk
        .http
        .delete(format!("{}/api/v1/cases/{case}/timeline", desk.base))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");

    // Every field of every body, in turn.
    let moves = [
        json!({"kind": "note", "body": {"schema": "note/1", "text": "x"}}),
        json!({"kind": "return_plan", "body": {"schema": "return_plan/1", "date": "2030-12-15", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "x", "travel_document": "x"}}),
        json!({"kind": "withdrawal", "body": {"schema": "withdrawal/1", "reason": "absconded"}}),
        json!({"kind": "prosecution_update", "body": {"schema": "prosecution_update/1", "milestone": "charges_filed", "date": "2026-12-01", "charges": ["s.6"]}}),
    ];
    let bodies: Vec<(&String, String, Value)> = [
        (&officer, "/api/v1/cases".to_owned(), json!({"home_node": "la-molsw", "referral": referral()})),
        (&officer, format!("/api/v1/cases/{case}/consents"), json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "x"})),
        (&officer, format!("/api/v1/cases/{case}/grants"), json!({"org": "lpn"})),
        (&admin, "/api/v1/users".to_owned(), json!({"username": "newuser", "role": "officer", "password": "a long password nn"})),
        (&officer, "/api/v1/session".to_owned(), json!({"username": "somchai", "password": "x"})),
    ]
    .into_iter()
    .chain(moves.iter().map(|m| (&officer, format!("/api/v1/cases/{case}/messages"), m.clone())))
    .collect();
    for (token, path, body) in &bodies {
        for variant in each_field_named(body) {
            let (_, answer) = desk.post(token, path, &variant).await;
            check(path, answer.to_string());
        }
    }
    let r = desk
        .http
        .patch(format!("{}/api/v1/users/{q}", desk.base))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    check("patch user", r.text().await.unwrap());
    assert!(checked > 60, "{checked} answers checked");
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_never_repeats_a_claim() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let th = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let mut la = init_node(root.path(), "la-molsw", "LA", &dbs);
    th.add_peer(&la);
    la.add_peer(&th);
    let a = th.open().await;
    queue_note(&a, "la-molsw", "genuine", &[]).await;
    let row = outbox_row(&a, "la-molsw", 1).await;
    let to = descriptor_of(&a, "la-molsw").await;
    let client = PeerClient::new(&to.federation_url, &to.tls_ca, &a.tls.identity_pem()).unwrap();
    let (_b, b_run) = la.start().await;
    let genuine: EnvelopeClaims = jws::peek_claims(&row.jws).unwrap();
    let claims = serde_json::to_value(&genuine).unwrap();
    let mut tokens = Vec::new();
    // Each claim set to the name, signed with the sender's real key.
    for variant in each_field_named(&claims) {
        tokens.push(jws::sign(ENVELOPE_TYP, &variant, &a.signing).unwrap());
    }
    // The name as the key id, and as an extra header parameter.
    for header in [
        json!({"alg": "EdDSA", "typ": ENVELOPE_TYP, "kid": NAME}),
        json!({"alg": "EdDSA", "typ": ENVELOPE_TYP, "kid": a.signing.kid(), NAME: 1}),
        json!({"alg": "EdDSA", "typ": NAME, "kid": a.signing.kid()}),
    ] {
        let parts: Vec<&str> = row.jws.split('.').collect();
        tokens.push(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            parts[1],
            parts[2]
        ));
    }
    assert!(tokens.len() > 10);
    for token in &tokens {
        let (_, text) = client.post_envelope(token, &row.body).await.unwrap();
        // The receipt's claims, decoded.
        let payload = text
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        free_of_name("receipt", &payload);
        free_of_name("receipt", &text);
    }
    b_run.shutdown().await.unwrap();
}
