//! The prosecution track on two real nodes: updates flow host → home, the
//! testimony request and its arrangement go round, milestone order is enforced,
//! and legal aid sees exactly what is granted, under its own references, and
//! never the person.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cases::referral;
use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider, wait_for};
use crate::on_both_backends;

const PASSWORD: &str = "a long password for tests";

fn update(milestone: &str, extra: Value) -> Value {
    let mut body =
        json!({"schema": "prosecution_update/1", "milestone": milestone, "date": "2026-11-20"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    json!({"kind": "prosecution_update", "body": body})
}

/// Every string in the case file the host drafted: the values no legal-aid
/// answer may hold.
fn sealed_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() >= 4 => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| sealed_values(x, out)),
        Value::Object(o) => o.values().for_each(|x| sealed_values(x, out)),
        _ => {}
    }
}

async fn prosecution_track_and_legal_aid(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&th_dir, "lawyer.lpn", "legal_aid", Some("lpn"), PASSWORD);
    add_user(&th_dir, "lawyer.aat", "legal_aid", Some("aat"), PASSWORD);
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
    let officer = thd.token("somchai", PASSWORD).await;
    let keo = lad.token("keo", PASSWORD).await;
    let lpn = thd.token("lawyer.lpn", PASSWORD).await;
    let aat = thd.token("lawyer.aat", PASSWORD).await;

    // Two referred cases: one with legal-aid consent, one without.
    let mut ids = Vec::new();
    for purposes in [
        &["repatriation", "legal_aid_sharing"][..],
        &["repatriation"][..],
    ] {
        let (status, c) = thd
            .post(
                &officer,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": referral()}),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        let id = c["id"].as_str().unwrap().to_owned();
        for p in purposes {
            let record = json!({"purpose": p, "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Shelter social worker"});
            let (status, b) = thd
                .post(&officer, &format!("/api/v1/cases/{id}/consents"), &record)
                .await;
            assert_eq!(status, 204, "{b}");
        }
        let (status, b) = thd
            .post(
                &officer,
                &format!("/api/v1/cases/{id}/messages"),
                &json!({"kind": "referral"}),
            )
            .await;
        assert_eq!(status, 200, "{b}");
        ids.push(id);
    }
    let (consented, refused) = (ids[0].clone(), ids[1].clone());
    let mut accepted = 2;
    wait_for(&la.events.accepted, accepted, "referrals").await;

    // Milestones in order: refused out of order with 409 and a clear message.
    let post = |token: String, case: String, body: Value| {
        let desk = &thd;
        async move {
            desk.post(&token, &format!("/api/v1/cases/{case}/messages"), &body)
                .await
        }
    };
    let (status, b) = post(
        officer.clone(),
        consented.clone(),
        update("verdict_convicted", json!({})),
    )
    .await;
    assert_eq!(
        (status, b["error"].as_str()),
        (409, Some("conflict")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("before charges"),
        "{b}"
    );
    let (status, b) = post(
        officer.clone(),
        consented.clone(),
        update("compensation_paid", json!({"amount_thb": 50000})),
    )
    .await;
    assert_eq!(status, 409, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("before it is awarded"),
        "{b}"
    );
    let (status, b) = post(
        officer.clone(),
        consented.clone(),
        update("charges_filed", json!({"amount_thb": 1})),
    )
    .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (422, Some("amount_thb")),
        "{b}"
    );
    // The home side cannot record the host's track.
    let (status, _) = lad
        .post(
            &keo,
            &format!("/api/v1/cases/{consented}/messages"),
            &update("complaint_filed", json!({})),
        )
        .await;
    assert_eq!(status, 409);

    let steps = [
        update(
            "charges_filed",
            json!({"police_unit": "Anti-Trafficking Division", "police_case_number": "ATD 118/2569",
                   "charges": ["s.6", "s.52"], "details": "Charged at Mae Sot"}),
        ),
        update(
            "trial_scheduled",
            json!({"court": "Criminal Court for Trafficking Cases", "court_case_number": "Kor Mor 77/2569", "next_hearing": "2027-02-03"}),
        ),
        update("compensation_claimed", json!({"amount_thb": 250000})),
        update(
            "testimony_requested",
            json!({"details": "Video testimony for the hearing", "next_hearing": "2027-02-03"}),
        ),
    ];
    for step in steps {
        let (status, b) = post(officer.clone(), consented.clone(), step).await;
        assert_eq!(status, 200, "{b}");
        accepted += 1;
    }
    wait_for(&la.events.accepted, accepted, "prosecution updates").await;

    // The home side sees the updates on the case, and the testimony request in
    // its inbox although the return track is its own turn anyway: check the flag.
    let (_, inbox) = lad.get(&keo, "/api/v1/cases?turn=ours").await;
    let entry = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == consented.as_str())
        .expect("in the home inbox");
    assert_eq!(entry["testimony_pending"], true);
    let (_, home_case) = lad.get(&keo, &format!("/api/v1/cases/{consented}")).await;
    let track = &home_case["prosecution"]["track"];
    assert_eq!(track["current"], "testimony_requested");
    assert_eq!(track["court_case_number"], "Kor Mor 77/2569");
    assert_eq!(track["compensation"]["claimed_thb"], 250000);
    assert_eq!(track["next_hearing"], "2027-02-03");
    assert_eq!(track["turn"], "home");
    assert_eq!(
        home_case["prosecution"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (_, host_case) = thd
        .get(&officer, &format!("/api/v1/cases/{consented}"))
        .await;
    assert_eq!(
        host_case["prosecution"]["track"], *track,
        "both sides agree"
    );

    // The arrangement: only the home side, only when requested; the host sees it.
    let arrangement = json!({"kind": "testimony_arrangement", "body": {"schema": "testimony_arrangement/1", "arrangement": "video_link", "note": "From the Vientiane transit centre"}});
    let (status, _) = post(officer.clone(), consented.clone(), arrangement.clone()).await;
    assert_eq!(status, 409, "the host does not arrange testimony");
    let (status, b) = lad
        .post(
            &keo,
            &format!("/api/v1/cases/{refused}/messages"),
            &arrangement,
        )
        .await;
    assert_eq!(status, 409, "nothing was requested on that case: {b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("no testimony has been requested")
    );
    let (status, b) = lad
        .post(
            &keo,
            &format!("/api/v1/cases/{consented}/messages"),
            &arrangement,
        )
        .await;
    assert_eq!(status, 200, "{b}");
    wait_for(&th.events.accepted, 1, "the arrangement").await;
    let (_, host_case) = thd
        .get(&officer, &format!("/api/v1/cases/{consented}"))
        .await;
    let entries = host_case["prosecution"]["entries"].as_array().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last["kind"], "testimony_arrangement");
    assert_eq!(last["made_by"], "home");
    assert_eq!(last["body"]["arrangement"], "video_link");
    assert_eq!(host_case["testimony_pending"], false);
    let (_, home_case) = lad.get(&keo, &format!("/api/v1/cases/{consented}")).await;
    assert_eq!(home_case["testimony_pending"], false);
    let (status, _) = post(
        officer.clone(),
        consented.clone(),
        update("testimony_given", json!({})),
    )
    .await;
    assert_eq!(status, 200);

    // Grants: refused without the consent; granted with it, on either side.
    let (status, b) = thd
        .post(
            &officer,
            &format!("/api/v1/cases/{refused}/grants"),
            &json!({"org": "lpn"}),
        )
        .await;
    assert_eq!(status, 409, "{b}");
    assert!(b["message"].as_str().unwrap().contains("legal_aid_sharing"));
    let (status, b) = thd
        .post(
            &officer,
            &format!("/api/v1/cases/{consented}/grants"),
            &json!({"org": "Not an org!"}),
        )
        .await;
    assert_eq!((status, b["field"].as_str()), (422, Some("org")));
    for org in ["lpn", "aat"] {
        let (status, b) = thd
            .post(
                &officer,
                &format!("/api/v1/cases/{consented}/grants"),
                &json!({"org": org}),
            )
            .await;
        assert_eq!(status, 201, "{b}");
    }
    let (status, _) = lad
        .post(
            &keo,
            &format!("/api/v1/cases/{consented}/grants"),
            &json!({"org": "lwu-legal"}),
        )
        .await;
    assert_eq!(status, 201, "the consent travelled with the referral");
    let (status, _) = lad
        .post(
            &keo,
            &format!("/api/v1/cases/{refused}/grants"),
            &json!({"org": "lwu-legal"}),
        )
        .await;
    assert_eq!(status, 409);

    // The board: exactly the granted case, with its track, and no value of the
    // person's file anywhere in the answer, nor the case id.
    let (status, board) = thd.get(&lpn, "/api/v1/prosecution").await;
    assert_eq!(status, 200, "{board}");
    let list = board.as_array().unwrap();
    assert_eq!(list.len(), 1, "{board}");
    let mine = &list[0];
    assert_eq!(mine["current"], "testimony_given");
    assert_eq!(mine["next_hearing"], "2027-02-03");
    assert_eq!(mine["compensation"]["claimed_thb"], 250000);
    assert_eq!(mine["charges"], json!(["s.6", "s.52"]));
    assert_eq!(mine["turn"], "host");
    assert_eq!(mine["milestones"].as_array().unwrap().len(), 5);
    let text = board.to_string();
    let mut forbidden = vec![consented.clone(), refused.clone()];
    sealed_values(&referral(), &mut forbidden);
    forbidden.push("From the Vientiane transit centre".into());
    forbidden.retain(|v| v != "referral/1");
    for value in &forbidden {
        assert!(
            !text.contains(value.as_str()),
            "{value:?} in the legal-aid board: {text}"
        );
    }
    // Two organisations, two references for the same case; each stable.
    let (_, theirs) = thd.get(&aat, "/api/v1/prosecution").await;
    let (lpn_ref, aat_ref) = (
        mine["ref"].as_str().unwrap(),
        theirs[0]["ref"].as_str().unwrap(),
    );
    assert_ne!(lpn_ref, aat_ref);
    assert!(lpn_ref.starts_with("PR-"));
    let (_, again) = thd.get(&lpn, "/api/v1/prosecution").await;
    assert_eq!(again[0]["ref"], lpn_ref);

    // Legal aid is refused every case endpoint.
    for (method, path) in [
        (Method::GET, "/api/v1/cases".to_owned()),
        (Method::GET, format!("/api/v1/cases/{consented}")),
        (Method::GET, format!("/api/v1/cases/{consented}/timeline")),
        (
            Method::GET,
            format!("/api/v1/cases/{consented}/attachments"),
        ),
        (Method::GET, format!("/api/v1/cases/{consented}/grants")),
        (Method::GET, "/api/v1/stats".to_owned()),
        (Method::GET, "/api/v1/audit".to_owned()),
    ] {
        let (status, _) = thd.call(method.clone(), &lpn, &path, None).await;
        assert_eq!(status, 403, "{method} {path}");
    }

    // Revoked: gone from the board at once; the other organisation keeps it.
    let (status, _) = thd
        .call(
            Method::DELETE,
            &officer,
            &format!("/api/v1/cases/{consented}/grants/lpn"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, board) = thd.get(&lpn, "/api/v1/prosecution").await;
    assert_eq!(board, json!([]));
    let (_, theirs) = thd.get(&aat, "/api/v1/prosecution").await;
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    let (status, _) = thd
        .call(
            Method::DELETE,
            &officer,
            &format!("/api/v1/cases/{consented}/grants/lpn"),
            None,
        )
        .await;
    assert_eq!(status, 404, "nothing left to revoke");
    let (_, grants) = thd
        .get(&officer, &format!("/api/v1/cases/{consented}/grants"))
        .await;
    let lpn_grant = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["org"] == "lpn")
        .unwrap();
    assert_eq!(lpn_grant["revoked_by"], "somchai");

    // Metrics: counts per peer, nothing about a case or a person.
    let metrics = reqwest::get(format!("{}/metrics", lad.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let accepted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mittaphap_envelopes_accepted_total "))
        .unwrap()
        .parse()
        .unwrap();
    // Two referrals and four updates were awaited above.
    assert!(accepted >= 6, "{metrics}");
    assert!(
        metrics.contains("mittaphap_outbox_queued{peer=\"th-msdhs\"}"),
        "{metrics}"
    );
    for value in &forbidden {
        assert!(
            !metrics.contains(value.as_str()),
            "{value:?} in the metrics"
        );
    }

    // Every grant, revocation and legal-aid read is in the audit log.
    let mut conn = th.store.pool().acquire().await.unwrap();
    let rows = mittaphap::store::audit::all(&mut conn).await.unwrap();
    drop(conn);
    let count = |action: &str| rows.iter().filter(|r| r.action == action).count();
    assert_eq!(count("case.grant"), 2);
    assert_eq!(count("case.revoke"), 1);
    assert!(count("prosecution.read") >= 4);
    assert!(
        rows.iter()
            .filter(|r| r.action == "prosecution.read")
            .all(|r| r.case_id.as_deref() == Some(consented.as_str()))
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}

on_both_backends!(prosecution_track_and_legal_aid);
