//! What each side reads of the other's moves, over the desk API of two real
//! nodes: every move's content on the timeline (audited, one entry a read, never
//! for a role that may not open it), documents added after the referral reaching
//! the other side under their own name, and a damaged file answered as an error.

use serde_json::{Value, json};

use crate::cases::referral;
use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider, wait_for};
use crate::on_both_backends;
use mittaphap::node::Node;

/// Every value of `sent` is in `got`, at the same place (`got` may hold more:
/// the files a node describes as it sends).
fn holds(got: &Value, sent: &Value) -> bool {
    match (got, sent) {
        (Value::Object(g), Value::Object(s)) => s
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| holds(gv, v))),
        (Value::Array(g), Value::Array(s)) => {
            g.len() == s.len() && g.iter().zip(s).all(|(a, b)| holds(a, b))
        }
        _ => got == sent,
    }
}

fn body(kind: &str, fields: Value) -> Value {
    let mut b = fields;
    b["schema"] = json!(format!("{kind}/1"));
    b
}

struct Side<'a> {
    node: &'a Node,
    desk: &'a Desk,
    token: &'a str,
}

/// `mover` makes a move through its desk; `other` accepts it.
async fn step(mover: &Side<'_>, other: &Side<'_>, case: &str, kind: &str, b: &Value) {
    let before = *other.node.events.accepted.borrow();
    let (status, answer) = mover
        .desk
        .post(
            mover.token,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": kind, "body": b}),
        )
        .await;
    assert_eq!(status, 200, "{kind}: {answer}");
    wait_for(&other.node.events.accepted, before + 1, kind).await;
}

async fn audit_count(node: &Node, actor: &str, detail: &str) -> usize {
    let mut conn = node.store.pool().acquire().await.unwrap();
    mittaphap::store::audit::all(&mut conn)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.actor == actor && r.action == "case.read" && r.detail == detail)
        .count()
}

async fn upload(
    desk: &Desk,
    token: &str,
    case: &str,
    name: &str,
    media: &str,
    bytes: &[u8],
) -> Value {
    let r = desk
        .http
        .post(
            url::Url::parse_with_params(
                &format!("{}/api/v1/cases/{case}/attachments", desk.base),
                &[("file_name", name), ("media_type", media)],
            )
            .unwrap(),
        )
        .bearer_auth(token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json().await.unwrap()
}

async fn every_move_reads_on_the_other_side(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, "a long password th");
    add_user(
        &th_dir,
        "lawyer",
        "legal_aid",
        Some("lpn"),
        "a long password lp",
    );
    add_user(&th_dir, "admin1", "admin", None, "a long password ad");
    add_user(&th_dir, "auditor1", "auditor", None, "a long password au");
    add_user(&la_dir, "keo", "officer", None, "a long password la");
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let http = reqwest::Client::new();
    let thd = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: http.clone(),
    };
    let lad = Desk {
        base: format!("http://{}", la_run.desk_addr),
        http,
    };
    let th_token = thd.token("somchai", "a long password th").await;
    let la_token = lad.token("keo", "a long password la").await;
    let thai = Side {
        node: &th,
        desk: &thd,
        token: &th_token,
    };
    let lao = Side {
        node: &la,
        desk: &lad,
        token: &la_token,
    };

    // The referral: consent to repatriation and family tracing, not to health.
    let (status, created) = thd
        .post(
            &th_token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let case = created["id"].as_str().unwrap().to_owned();
    for purpose in ["repatriation", "family_tracing"] {
        let record = json!({"purpose": purpose, "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Social worker"});
        let path = format!("/api/v1/cases/{case}/consents");
        assert_eq!(thd.post(&th_token, &path, &record).await.0, 204);
    }
    step(&thai, &lao, &case, "referral", &json!({})).await;

    // Every kind of move, each side in turn; what was sent, by whom.
    let plan = body(
        "return_plan",
        json!({"date": "2030-12-15", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "Two MSDHS staff", "travel_document": "Certificate of identity CI-2231", "needs_on_arrival": "Wheelchair"}),
    );
    let moves: Vec<(bool, &str, Value)> = vec![
        (
            false,
            "acknowledgement",
            body(
                "acknowledgement",
                json!({"receiving_organisation": "MoLSW", "case_worker_ref": "CW-17"}),
            ),
        ),
        (
            false,
            "note",
            body(
                "note",
                json!({"text": "Mother reached by phone in Ban Nongdouang"}),
            ),
        ),
        (
            false,
            "verification",
            body(
                "verification",
                json!({"identity_confirmed": true, "family_traced": true, "family_assessment": "Safe home, mother and aunt", "placement": "family"}),
            ),
        ),
        (true, "return_plan", plan.clone()),
        (
            false,
            "return_counterproposal",
            body(
                "return_counterproposal",
                json!({"date": "2030-12-17", "crossing": {"point": "nong_khai_vientiane"}, "reason": "Reception team in Savannakhet on the 15th"}),
            ),
        ),
        (
            true,
            "note",
            body(
                "note",
                json!({"text": "17 December suits us; escorts confirmed"}),
            ),
        ),
        (
            true,
            "return_plan",
            body(
                "return_plan",
                json!({"date": "2030-12-17", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two MSDHS staff", "travel_document": "Certificate of identity CI-2231"}),
            ),
        ),
        (
            false,
            "return_confirmation",
            body(
                "return_confirmation",
                json!({"reception_team": "Transit team of the LWU", "transit_centre": "Vientiane transit centre"}),
            ),
        ),
        (
            true,
            "prosecution_update",
            body(
                "prosecution_update",
                json!({"milestone": "testimony_requested", "date": "2026-12-01", "details": "Court asks for testimony", "court": "Criminal Court"}),
            ),
        ),
        (
            false,
            "testimony_arrangement",
            body(
                "testimony_arrangement",
                json!({"arrangement": "video_link", "note": "From the Vientiane centre"}),
            ),
        ),
    ];
    let mut sent: Vec<(bool, String, Value)> = Vec::new();
    for (thai_moves, kind, b) in moves {
        let (mover, other) = if thai_moves {
            (&thai, &lao)
        } else {
            (&lao, &thai)
        };
        step(mover, other, &case, kind, &b).await;
        sent.push((thai_moves, kind.to_owned(), b));
    }

    // A document added after the referral, carried by the handover: the signed
    // record, under a Lao file name.
    let record_pdf: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let added = upload(
        &thd,
        &th_token,
        &case,
        "ໃບມອບຮັບ ເຊັນແລ້ວ.pdf",
        "application/pdf",
        &record_pdf,
    )
    .await;
    assert_eq!(added["size"], json!(record_pdf.len()));
    let doc = added["id"].as_str().unwrap().to_owned();
    let handover = body(
        "handover",
        json!({"at": "2030-12-17T09:30:00+07:00", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two MSDHS staff, two LWU staff", "record": "Form 7, signed", "attachments": [doc]}),
    );
    step(&thai, &lao, &case, "handover", &handover).await;
    sent.push((true, "handover".into(), handover));
    let after: Vec<(bool, &str, Value)> = vec![
        (
            false,
            "reception",
            body(
                "reception",
                json!({"at": "2030-12-17T11:00:00+07:00", "transit_centre": "Vientiane transit centre"}),
            ),
        ),
        (
            false,
            "reintegration_update",
            body(
                "reintegration_update",
                json!({"month": 1, "summary": "Back at school in Kaysone"}),
            ),
        ),
        (
            false,
            "closure",
            body(
                "closure",
                json!({"outcome": "reintegrated", "note": "Stable at twelve months"}),
            ),
        ),
    ];
    for (thai_moves, kind, b) in after {
        let (mover, other) = if thai_moves {
            (&thai, &lao)
        } else {
            (&lao, &thai)
        };
        step(mover, other, &case, kind, &b).await;
        sent.push((thai_moves, kind.to_owned(), b));
    }

    // Each side's timeline carries the other's moves with every value sent; one
    // audit entry for each read.
    for (reader, desk, token, user, thai_reads) in [
        (&th, &thd, &th_token, "somchai", true),
        (&la, &lad, &la_token, "keo", false),
    ] {
        let before = audit_count(reader, user, "timeline").await;
        let (status, timeline) = desk
            .get(token, &format!("/api/v1/cases/{case}/timeline"))
            .await;
        assert_eq!(status, 200, "{timeline}");
        assert_eq!(audit_count(reader, user, "timeline").await, before + 1);
        let entries = timeline.as_array().unwrap();
        assert_eq!(entries.len(), sent.len() + 1, "every move and the referral");
        for (entry, (thai_moved, kind, b)) in entries[1..].iter().zip(&sent) {
            assert_eq!(entry["kind"], json!(kind));
            assert_eq!(entry["ours"], json!(thai_moved == &thai_reads), "{kind}");
            assert!(
                holds(&entry["body"], b),
                "{kind}: sent {b}, read {}",
                entry["body"]
            );
        }
        // The referral as the other side received it: all of it but the health
        // information the person did not consent to share.
        let received = &entries[0]["body"];
        let mut without_health = referral();
        without_health.as_object_mut().unwrap().remove("health");
        assert!(holds(received, &without_health), "{received}");
        if !thai_reads {
            assert!(
                received.get("health").is_none(),
                "health stayed home: {received}"
            );
        }
        // The handover names the document, and describes it as sent.
        let handover = entries.iter().find(|e| e["kind"] == "handover").unwrap();
        assert_eq!(handover["body"]["attachments"], json!([doc]));
        assert_eq!(handover["body"]["files"][0]["id"], json!(doc));
        assert_eq!(
            handover["body"]["files"][0]["file_name"],
            "ໃບມອບຮັບ ເຊັນແລ້ວ.pdf"
        );
    }

    // Roles that may not open sealed content get no content.
    for (user, password) in [
        ("lawyer", "a long password lp"),
        ("admin1", "a long password ad"),
        ("auditor1", "a long password au"),
    ] {
        let token = thd.token(user, password).await;
        let (status, answer) = thd
            .get(&token, &format!("/api/v1/cases/{case}/timeline"))
            .await;
        assert_eq!(status, 403, "{user}");
        assert!(
            !answer.to_string().contains("Nongdouang"),
            "{user}: {answer}"
        );
    }

    // The document on the Lao side: listed with its own size, downloaded under
    // its name, byte for byte.
    let (_, listed) = lad
        .get(&la_token, &format!("/api/v1/cases/{case}/attachments"))
        .await;
    let listed = listed.as_array().unwrap();
    let item = listed.iter().find(|a| a["id"] == json!(doc)).unwrap();
    assert_eq!(
        (
            item["file_name"].as_str(),
            item["media_type"].as_str(),
            item["size"].as_u64()
        ),
        (
            Some("ໃບມອບຮັບ ເຊັນແລ້ວ.pdf"),
            Some("application/pdf"),
            Some(record_pdf.len() as u64)
        )
    );
    let download = |desk: &Desk, token: &str| {
        desk.http
            .get(format!(
                "{}/api/v1/cases/{case}/attachments/{doc}",
                desk.base
            ))
            .bearer_auth(token.to_owned())
            .send()
    };
    let r = download(&lad, &la_token).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"")
            && disposition.ends_with(
                "filename*=UTF-8''%E0%BB%83%E0%BA%9A%E0%BA%A1%E0%BA%AD%E0%BA%9A%E0%BA%AE%E0%BA%B1%E0%BA%9A%20%E0%BB%80%E0%BA%8A%E0%BA%B1%E0%BA%99%E0%BB%81%E0%BA%A5%E0%BB%89%E0%BA%A7.pdf"
            ),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), record_pdf);

    // A media type with a control character is refused, and nothing is stored.
    let r = thd
        .http
        .post(
            url::Url::parse_with_params(
                &format!("{}/api/v1/cases/{case}/attachments", thd.base),
                &[("file_name", "x.txt"), ("media_type", "text/plain\u{1}")],
            )
            .unwrap(),
        )
        .bearer_auth(&th_token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let (_, listed) = thd
        .get(&th_token, &format!("/api/v1/cases/{case}/attachments"))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // The blob damaged on the Lao disk: an error, never a short file; the log
    // names the attachment; the case still reads.
    let (sha, _) = {
        let mut conn = la.store.pool().acquire().await.unwrap();
        let rows = mittaphap::store::cases::attachments(&mut conn, &case)
            .await
            .unwrap();
        let row = rows.into_iter().find(|r| r.attachment_id == doc).unwrap();
        (row.blob_sha256, row.len)
    };
    let path = la_dir
        .dir
        .join("data/blobs/sha256")
        .join(&sha[..2])
        .join(&sha);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let r = download(&lad, &la_token).await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "damaged", "{answer}");
    let logged = crate::helpers::captured_log(async {
        let id = uuid::Uuid::parse_str(&case).unwrap();
        assert!(
            mittaphap::app::attachments::open(&la, "keo", id, &doc)
                .await
                .is_err()
        );
    })
    .await;
    assert!(logged.contains(&doc), "{logged}");
    assert!(
        !logged.contains("ມອບຮັບ"),
        "no file name in the log: {logged}"
    );
    let (status, _) = lad.get(&la_token, &format!("/api/v1/cases/{case}")).await;
    assert_eq!(status, 200);

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(every_move_reads_on_the_other_side);

/// A decline and a withdrawal: their reasons read on the other side.
async fn declines_and_withdrawals_read_on_the_other_side(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, "a long password th");
    add_user(&la_dir, "keo", "officer", None, "a long password la");
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let http = reqwest::Client::new();
    let thd = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: http.clone(),
    };
    let lad = Desk {
        base: format!("http://{}", la_run.desk_addr),
        http,
    };
    let th_token = thd.token("somchai", "a long password th").await;
    let la_token = lad.token("keo", "a long password la").await;
    let thai = Side {
        node: &th,
        desk: &thd,
        token: &th_token,
    };
    let lao = Side {
        node: &la,
        desk: &lad,
        token: &la_token,
    };
    let mut cases = Vec::new();
    for _ in 0..2 {
        let (_, created) = thd
            .post(
                &th_token,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": referral()}),
            )
            .await;
        let case = created["id"].as_str().unwrap().to_owned();
        let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Social worker"});
        thd.post(
            &th_token,
            &format!("/api/v1/cases/{case}/consents"),
            &record,
        )
        .await;
        step(&thai, &lao, &case, "referral", &json!({})).await;
        cases.push(case);
    }
    let decline = body(
        "decline",
        json!({"reason": "Not a Lao national: Vietnamese papers"}),
    );
    step(&lao, &thai, &cases[0], "decline", &decline).await;
    let withdrawal = body(
        "withdrawal",
        json!({"reason": "absconded", "note": "Left the shelter on 3 December"}),
    );
    step(&thai, &lao, &cases[1], "withdrawal", &withdrawal).await;
    for (desk, token, case, b) in [
        (&thd, &th_token, &cases[0], &decline),
        (&lad, &la_token, &cases[1], &withdrawal),
    ] {
        let (_, timeline) = desk
            .get(token, &format!("/api/v1/cases/{case}/timeline"))
            .await;
        let last = timeline.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["ours"], false);
        assert!(holds(&last["body"], b), "{last}");
    }
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(declines_and_withdrawals_read_on_the_other_side);

/// After the referral, the host corrects it: both copies of the file change, and
/// both sides read what changed, from what to what.
async fn a_correction_reads_on_both_sides(backend: Backend) {
    use crate::web::{PASSWORD, no_redirects, page_sign_in};
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&la_dir, "keo", "officer", None, PASSWORD);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let http = reqwest::Client::new();
    let thd = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: http.clone(),
    };
    let lad = Desk {
        base: format!("http://{}", la_run.desk_addr),
        http,
    };
    let th_token = thd.token("somchai", PASSWORD).await;
    let la_token = lad.token("keo", PASSWORD).await;
    let thai = Side {
        node: &th,
        desk: &thd,
        token: &th_token,
    };
    let lao = Side {
        node: &la,
        desk: &lad,
        token: &la_token,
    };
    let (_, created) = thd
        .post(
            &th_token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    let case = created["id"].as_str().unwrap().to_owned();
    let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Social worker"});
    thd.post(
        &th_token,
        &format!("/api/v1/cases/{case}/consents"),
        &record,
    )
    .await;
    step(&thai, &lao, &case, "referral", &json!({})).await;

    let correction = body(
        "correction",
        json!({"changes": [
            {"field": "family_contacts[0].phone", "to": "+856 20 5555 9999"},
            {"field": "person.names.latin", "to": "Nang Keomany Phommavong"}
        ], "reason": "The mother's new number; the family name"}),
    );
    step(&thai, &lao, &case, "correction", &correction).await;
    for (desk, token) in [(&thd, &th_token), (&lad, &la_token)] {
        let (_, read) = desk.get(token, &format!("/api/v1/cases/{case}")).await;
        assert_eq!(
            read["file"]["family_contacts"][0]["phone"],
            "+856 20 5555 9999"
        );
        assert_eq!(
            read["file"]["person"]["names"]["latin"],
            "Nang Keomany Phommavong"
        );
        let (_, timeline) = desk
            .get(token, &format!("/api/v1/cases/{case}/timeline"))
            .await;
        let last = timeline.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["kind"], "correction");
        assert_eq!(
            last["body"]["changes"][0]["from"], "+856 20 5555 1234",
            "{last}"
        );
        assert_eq!(last["body"]["changes"][0]["to"], "+856 20 5555 9999");
    }
    // The Lao page shows what changed, from what to what.
    let pages = no_redirects();
    let session = page_sign_in(&pages, &lad.base, "keo").await;
    let page = pages
        .get(format!("{}/cases/{case}", lad.base))
        .header("cookie", format!("{session}; mittaphap_lang=lo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("+856 20 5555 1234 → +856 20 5555 9999"),
        "the change on the Lao page"
    );
    assert!(page.contains("ການແກ້ໄຂຂໍ້ມູນການສົ່ງຕໍ່"), "named in Lao");
    // Health information the person did not consent to share is not corrected
    // across; the home side does not correct the host's referral.
    let health = body(
        "correction",
        json!({"changes": [{"field": "health", "to": "x"}]}),
    );
    let (status, answer) = thd
        .post(
            &th_token,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": "correction", "body": health}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let (status, _) = lad
        .post(
            &la_token,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": "correction", "body": correction}),
        )
        .await;
    assert_eq!(status, 409);
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(a_correction_reads_on_both_sides);
