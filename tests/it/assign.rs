//! Who holds a case on each node: the drafting officer, the team's queue for a
//! case received, an officer taking it, a supervisor assigning it; audited, on the
//! node's own timeline only.

use serde_json::{Value, json};

use crate::cases::referral;
use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider, wait_for};
use crate::on_both_backends;

const PW: &str = "a long password for assignment";

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn cases_are_held_and_assigned(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PW);
    add_user(&la_dir, "keo", "officer", None, PW);
    add_user(&la_dir, "sisouk", "officer", None, PW);
    add_user(&la_dir, "bounmy", "supervisor", None, PW);
    add_user(&la_dir, "auditor1", "auditor", None, PW);
    let (_th, th_run) = th_dir.start().await;
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
    let somchai = thd.token("somchai", PW).await;
    let keo = lad.token("keo", PW).await;
    let sisouk = lad.token("sisouk", PW).await;
    let bounmy = lad.token("bounmy", PW).await;

    // The officer who drafts holds the case.
    let (_, created) = thd
        .post(
            &somchai,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    let case = created["id"].as_str().unwrap().to_owned();
    let (_, mine) = thd.get(&somchai, "/api/v1/cases?assigned=me").await;
    assert_eq!(ids(&mine), vec![case.clone()]);
    let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "x"});
    thd.post(&somchai, &format!("/api/v1/cases/{case}/consents"), &record)
        .await;
    thd.post(
        &somchai,
        &format!("/api/v1/cases/{case}/messages"),
        &json!({"kind": "referral"}),
    )
    .await;
    wait_for(&la.events.accepted, 1, "the referral").await;

    // Received: in the team's queue, until an officer takes it.
    let (_, queue) = lad.get(&keo, "/api/v1/cases?assigned=none").await;
    assert_eq!(ids(&queue), vec![case.clone()]);
    let path = format!("/api/v1/cases/{case}/assign");
    let assign = |token: String, user: &'static str| {
        let (desk, path) = (&lad, path.clone());
        async move { desk.post(&token, &path, &json!({"username": user})).await }
    };
    assert_eq!(
        assign(keo.clone(), "sisouk").await.0,
        403,
        "an officer assigns nobody else"
    );
    assert_eq!(
        assign(keo.clone(), "keo").await.0,
        204,
        "an officer takes it"
    );
    assert_eq!(
        assign(sisouk.clone(), "sisouk").await.0,
        403,
        "not a case someone holds"
    );
    let (_, mine) = lad.get(&keo, "/api/v1/cases?assigned=me").await;
    assert_eq!(ids(&mine), vec![case.clone()]);
    // A supervisor gives it to another officer, never to someone who does not
    // work cases.
    assert_eq!(assign(bounmy.clone(), "auditor1").await.0, 422);
    assert_eq!(assign(bounmy.clone(), "sisouk").await.0, 204);
    let (_, theirs) = lad.get(&bounmy, "/api/v1/cases?assigned=sisouk").await;
    assert_eq!(ids(&theirs), vec![case.clone()]);
    assert!(ids(&lad.get(&keo, "/api/v1/cases?assigned=me").await.1).is_empty());

    // Audited, and on this node's timeline only.
    let mut conn = la.store.pool().acquire().await.unwrap();
    let audit = mittaphap::store::audit::all(&mut conn).await.unwrap();
    drop(conn);
    let assigned: Vec<&str> = audit
        .iter()
        .filter(|r| r.action == "case.assign")
        .map(|r| r.detail.as_str())
        .collect();
    assert_eq!(
        assigned,
        ["owner=keo previous=", "owner=sisouk previous=keo"]
    );
    let (_, timeline) = lad
        .get(&sisouk, &format!("/api/v1/cases/{case}/timeline"))
        .await;
    let last = timeline.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["kind"].as_str(),
            last["body"]["owner"].as_str(),
            last["delivery"]["state"].as_str()
        ),
        (Some("assignment"), Some("sisouk"), Some("local"))
    );
    let (_, thai) = thd
        .get(&somchai, &format!("/api/v1/cases/{case}/timeline"))
        .await;
    assert!(
        thai.as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "assignment"),
        "assignment stays on its node"
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(cases_are_held_and_assigned);

/// A case found by any part of a name in any script, by an identity document or
/// phone number; the database holds none of the words searched for; each search
/// audited by its count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_are_found_by_name_and_number_without_the_text_on_disk() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, _la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PW);
    let (th, th_run) = th_dir.start().await;
    let thd = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: reqwest::Client::new(),
    };
    let token = thd.token("somchai", PW).await;
    let (_, created) = thd
        .post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    let case = created["id"].as_str().unwrap().to_owned();
    let mut other = referral();
    other["person"]["names"] = json!({"latin": "Noy Sengdara"});
    other["identity_documents"] = json!([{"kind": "passport", "number": "P-1234567"}]);
    other["family_contacts"] = json!([]);
    thd.post(
        &token,
        "/api/v1/cases",
        &json!({"home_node": "la-molsw", "referral": other}),
    )
    .await;
    let search = |q: &str| {
        let (desk, token, q) = (&thd, token.clone(), q.to_owned());
        async move {
            let url = url::Url::parse_with_params(
                &format!("{}/api/v1/cases", desk.base),
                &[("q", q.as_str())],
            )
            .unwrap();
            let r = desk.http.get(url).bearer_auth(&token).send().await.unwrap();
            ids(&r.json::<Value>().await.unwrap())
        }
    };
    for q in [
        "ແກ້ວມະ",
        "แก้วมณี",
        "keoMANY",
        "nang keo",
        "778812",
        "5555 1234",
    ] {
        assert_eq!(search(q).await, vec![case.clone()], "{q}");
    }
    assert!(
        search("Sengdara Keomany").await.is_empty(),
        "every word must match"
    );
    assert_eq!(search("sengdara").await.len(), 1);
    assert_eq!(
        search(&case[..28]).await,
        vec![case.clone()],
        "a case-id prefix"
    );
    // Cases made before the index existed are indexed when the node starts.
    sqlx::query("DELETE FROM case_index")
        .execute(th.store.pool())
        .await
        .unwrap();
    assert!(search("keomany").await.is_empty());
    // (The upkeep task also indexes at start; whichever runs first does the work.)
    let indexed = mittaphap::app::search::index_missing(&th).await.unwrap();
    assert!(indexed <= 2, "{indexed}");
    assert_eq!(search("keomany").await, vec![case.clone()]);
    let mut conn = th.store.pool().acquire().await.unwrap();
    let audit = mittaphap::store::audit::all(&mut conn).await.unwrap();
    drop(conn);
    assert!(
        audit
            .iter()
            .any(|r| r.action == "case.search" && r.detail == "results=1")
    );
    assert!(
        !audit
            .iter()
            .any(|r| r.detail.contains("eomany") || r.detail.contains("778812"))
    );
    th_run.shutdown().await.unwrap();
    for (path, (_, bytes)) in crate::helpers::snapshot(&th_dir.dir.join("data")) {
        for secret in ["Keomany", "keomany", "eom", "778812", "แก้วมณี", "Sengdara"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} in the clear in {}",
                path.display()
            );
        }
    }
}

/// Four eyes: with `[workflow] approve = ["referral"]`, a referral is checked and
/// held until a supervisor other than its author approves it; returned, it is
/// never sent.
async fn a_referral_waits_for_a_second_person(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let config = th_dir.dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("approve = []"), "{text}");
    std::fs::write(
        &config,
        text.replace("approve = []", "approve = [\"referral\"]"),
    )
    .unwrap();
    add_user(&th_dir, "somchai", "officer", None, PW);
    add_user(&th_dir, "malee", "supervisor", None, PW);
    add_user(&th_dir, "pranee", "supervisor", None, PW);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let thd = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: reqwest::Client::new(),
    };
    let somchai = thd.token("somchai", PW).await;
    let malee = thd.token("malee", PW).await;
    let pranee = thd.token("pranee", PW).await;
    let mut cases = Vec::new();
    for _ in 0..2 {
        let (_, created) = thd
            .post(
                &somchai,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": referral()}),
            )
            .await;
        let case = created["id"].as_str().unwrap().to_owned();
        let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "x"});
        thd.post(&somchai, &format!("/api/v1/cases/{case}/consents"), &record)
            .await;
        cases.push(case);
    }
    // Held: checked, nothing sent, the case still a draft.
    let (status, held) = thd
        .post(
            &malee,
            &format!("/api/v1/cases/{}/messages", cases[0]),
            &json!({"kind": "referral"}),
        )
        .await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(
        (held["awaiting_approval"].as_bool(), held["state"].as_str()),
        (Some(true), Some("draft"))
    );
    let mut conn = th.store.pool().acquire().await.unwrap();
    let queued = mittaphap::store::outbox::summary(&mut conn).await.unwrap();
    drop(conn);
    assert!(queued.iter().all(|p| p.queued == 0), "nothing sent yet");
    let path = |what: &str, case: &str| format!("/api/v1/cases/{case}/{what}");
    // Its author may not approve it; an officer may not either; another may.
    assert_eq!(
        thd.post(&malee, &path("approve", &cases[0]), &json!({}))
            .await
            .0,
        409
    );
    assert_eq!(
        thd.post(&somchai, &path("approve", &cases[0]), &json!({}))
            .await
            .0,
        403
    );
    let (status, sent) = thd
        .post(&pranee, &path("approve", &cases[0]), &json!({}))
        .await;
    assert_eq!(
        (status, sent["state"].as_str()),
        (200, Some("referred")),
        "{sent}"
    );
    wait_for(&la.events.accepted, 1, "the approved referral").await;
    // Returned with a reason: never sent, the author may try again.
    thd.post(
        &somchai,
        &format!("/api/v1/cases/{}/messages", cases[1]),
        &json!({"kind": "referral"}),
    )
    .await;
    let again = thd
        .post(
            &somchai,
            &format!("/api/v1/cases/{}/messages", cases[1]),
            &json!({"kind": "referral"}),
        )
        .await;
    assert_eq!(again.0, 409, "one step awaits approval at a time");
    let (status, _) = thd
        .post(
            &pranee,
            &path("return", &cases[1]),
            &json!({"reason": "Attach the family book first"}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, timeline) = thd.get(&somchai, &path("timeline", &cases[1])).await;
    let kinds: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["approval_requested", "approval_returned"]);
    assert_eq!(
        timeline[1]["body"]["reason"],
        "Attach the family book first"
    );
    assert_eq!(
        *la.events.accepted.borrow(),
        1,
        "the returned referral was never sent"
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(a_referral_waits_for_a_second_person);

/// What falls due shows on the home side's list: a referral not verified within
/// the node's days (none, here).
async fn a_late_verification_is_flagged(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let config = la_dir.dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("verification_days = 14"), "{text}");
    std::fs::write(
        &config,
        text.replace("verification_days = 14", "verification_days = 0"),
    )
    .unwrap();
    add_user(&th_dir, "somchai", "officer", None, PW);
    add_user(&la_dir, "keo", "officer", None, PW);
    let (_th, th_run) = th_dir.start().await;
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
    let somchai = thd.token("somchai", PW).await;
    let keo = lad.token("keo", PW).await;
    let (_, created) = thd
        .post(
            &somchai,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    let case = created["id"].as_str().unwrap().to_owned();
    let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "x"});
    thd.post(&somchai, &format!("/api/v1/cases/{case}/consents"), &record)
        .await;
    thd.post(
        &somchai,
        &format!("/api/v1/cases/{case}/messages"),
        &json!({"kind": "referral"}),
    )
    .await;
    wait_for(&la.events.accepted, 1, "the referral").await;
    let (_, listed) = lad.get(&keo, "/api/v1/cases").await;
    assert_eq!(listed[0]["overdue"], json!(["verification"]), "{listed}");
    let (_, thai) = thd.get(&somchai, "/api/v1/cases").await;
    assert_eq!(
        thai[0]["overdue"],
        json!([]),
        "the host owes no verification"
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(a_late_verification_is_flagged);
