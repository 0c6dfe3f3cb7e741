//! The desk API over HTTP on two real nodes: sign-in, tokens, roles, the inbox,
//! moves with their errors, and the timeline with delivery state.

use serde_json::{Value, json};

use crate::cases::referral;
use crate::exchange::pair;
use crate::helpers::{
    Backend, Databases, TestNode, assert_fails, mittaphap, mittaphap_with, tls_provider, wait_for,
};
use crate::on_both_backends;

pub fn add_user(node: &TestNode, username: &str, role: &str, org: Option<&str>, password: &str) {
    let mut args = vec![
        "user",
        "add",
        "--dir",
        node.dir_str(),
        "--username",
        username,
        "--role",
        role,
        "--password-stdin",
    ];
    if let Some(org) = org {
        args.extend(["--org", org]);
    }
    let out = mittaphap_with(&args, &[], Some(&format!("{password}\n")));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

pub struct Desk {
    pub base: String,
    pub http: reqwest::Client,
}

impl Desk {
    /// Drafts a case to `la-molsw` with `cases::referral()`, records consent to
    /// repatriation and sends the referral, as an officer does on the desk;
    /// checks each answer and returns the case id.
    pub async fn refer(&self, token: &str) -> String {
        let (status, created) = self
            .post(
                token,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": crate::cases::referral()}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let case = created["id"].as_str().unwrap().to_owned();
        let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "x"});
        let (status, body) = self
            .post(token, &format!("/api/v1/cases/{case}/consents"), &record)
            .await;
        assert!(status < 300, "consent: {status} {body}");
        let (status, sent) = self
            .post(
                token,
                &format!("/api/v1/cases/{case}/messages"),
                &json!({"kind": "referral"}),
            )
            .await;
        assert_eq!(status, 200, "{sent}");
        case
    }

    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let (status, body) = self.login(username, password).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Any method, with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn desk_api(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, "a long password th");
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

    // Sign-in: a wrong password and an unknown user look the same.
    let (status, wrong) = thd.login("somchai", "not the password").await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (401, Some("bad_credentials"))
    );
    let (_, unknown) = thd.login("nobody", "not the password").await;
    assert_eq!(unknown, wrong);
    let token = thd.token("somchai", "a long password th").await;
    let la_token = lad.token("keo", "a long password la").await;

    // Nothing without a valid token; nothing case-related for an auditor.
    assert_eq!(thd.get("", "/api/v1/cases").await.0, 401);
    assert_eq!(thd.get("forged.token.here", "/api/v1/cases").await.0, 401);
    assert_eq!(
        thd.get(&la_token, "/api/v1/cases").await.0,
        401,
        "another node's token"
    );
    let auditor = thd.token("auditor1", "a long password au").await;
    assert_eq!(thd.get(&auditor, "/api/v1/cases").await.0, 403);

    // A draft with a bad field is refused with the field named.
    let mut bad = referral();
    bad["origin"]["province"] = json!("LA-ZZ");
    let (status, body) = thd
        .post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": bad}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("origin.province")),
        "{body}"
    );
    let (status, body) = thd
        .post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral(), "x": 1}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, created) = thd
        .post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let case = created["id"].as_str().unwrap().to_owned();

    // Referral without consent: 409, and the message says why.
    let (status, body) = thd
        .post(
            &token,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": "referral"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("consent"),
        "{body}"
    );
    let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Social worker"});
    assert_eq!(
        thd.post(&token, &format!("/api/v1/cases/{case}/consents"), &record)
            .await
            .0,
        204
    );
    let (status, moved) = thd
        .post(
            &token,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": "referral"}),
        )
        .await;
    assert_eq!(
        (status, moved["state"].as_str()),
        (200, Some("referred")),
        "{moved}"
    );
    wait_for(&la.events.accepted, 1, "referral accepted").await;
    wait_for(&th.events.delivered, 1, "referral receipted").await;

    // The home side's inbox holds it; the host's does not.
    let (_, inbox) = lad.get(&la_token, "/api/v1/cases?turn=ours").await;
    assert_eq!(inbox.as_array().unwrap().len(), 1);
    assert_eq!(inbox[0]["state"], "referred");
    assert!(
        inbox[0].get("file").is_none(),
        "lists carry clear columns only"
    );
    let (_, th_inbox) = thd.get(&token, "/api/v1/cases?turn=ours").await;
    assert!(th_inbox.as_array().unwrap().is_empty());
    assert_eq!(thd.get(&token, "/api/v1/cases?state=bogus").await.0, 422);
    // The home side reads the file it received.
    let (status, read) = lad.get(&la_token, &format!("/api/v1/cases/{case}")).await;
    assert_eq!(
        (status, read["file"]["person"]["names"]["latin"].as_str()),
        (200, Some("Nang Keomany"))
    );

    // Out of turn: 409, nothing sent. Wrong type: 422 with the field.
    let plan = json!({"kind": "return_plan", "body": {"schema": "return_plan/1", "date": "2030-12-10", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "x", "travel_document": "y"}});
    let (status, body) = thd
        .post(&token, &format!("/api/v1/cases/{case}/messages"), &plan)
        .await;
    assert_eq!(status, 409, "{body}");
    let ack = json!({"kind": "acknowledgement", "body": {"schema": "acknowledgement/1", "receiving_organisation": [], "case_worker_ref": "x"}});
    let (status, body) = lad
        .post(&la_token, &format!("/api/v1/cases/{case}/messages"), &ack)
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("receiving_organisation")),
        "{body}"
    );
    assert_eq!(
        lad.post(&la_token, "/api/v1/cases/not-a-uuid/messages", &ack)
            .await
            .0,
        404
    );
    let r = lad
        .http
        .post(format!("{}/api/v1/cases/{case}/messages", lad.base))
        .bearer_auth(&la_token)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Over the body limit: 413 with a JSON message. In process (`oneshot`): over a
    // socket the server may close before a client has finished sending 3 MiB.
    let huge = json!({"kind": "note", "body": {"schema": "note/1", "text": "x".repeat(3 << 20)}});
    let app = mittaphap::desk::router(mittaphap::desk::DeskState::new(la.clone()).unwrap());
    let request = axum::http::Request::post(format!("/api/v1/cases/{case}/messages"))
        .header("authorization", format!("Bearer {la_token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(huge.to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["error"], "too_large");

    // The timeline shows both sides' moves, ours with delivery state and receipt time.
    let ack = json!({"kind": "acknowledgement", "body": {"schema": "acknowledgement/1", "receiving_organisation": "MoLSW", "case_worker_ref": "CW-1"}});
    assert_eq!(
        lad.post(&la_token, &format!("/api/v1/cases/{case}/messages"), &ack)
            .await
            .0,
        200
    );
    wait_for(&th.events.accepted, 1, "acknowledgement accepted").await;
    wait_for(&la.events.delivered, 1, "acknowledgement receipted").await;
    let (_, timeline) = thd
        .get(&token, &format!("/api/v1/cases/{case}/timeline"))
        .await;
    let timeline = timeline.as_array().unwrap().clone();
    assert_eq!(timeline.len(), 2);
    assert_eq!(
        (timeline[0]["kind"].as_str(), timeline[0]["ours"].as_bool()),
        (Some("referral"), Some(true))
    );
    assert_eq!(timeline[0]["delivery"]["state"], "delivered");
    assert!(
        timeline[0]["delivery"]["receipt_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("20"))
    );
    assert_eq!(
        (
            timeline[1]["kind"].as_str(),
            timeline[1]["made_by"].as_str()
        ),
        (Some("acknowledgement"), Some("home"))
    );
    assert_eq!(timeline[1]["state_after"], "acknowledged");
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(desk_api);

#[test]
fn user_add_checks_its_input() {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let node = crate::helpers::init_node(root.path(), "th-msdhs", "TH", &dbs);
    let d = node.dir_str();
    let add = |args: &[&str], password: &str| {
        let mut all = vec!["user", "add", "--dir", d, "--password-stdin"];
        all.extend(args);
        mittaphap_with(&all, &[], Some(password))
    };
    assert_fails(
        &add(
            &["--username", "a", "--role", "officer"],
            "long enough password",
        ),
        2,
        "--username",
    );
    assert_fails(
        &add(
            &["--username", "somchai", "--role", "king"],
            "long enough password",
        ),
        2,
        "--role",
    );
    assert_fails(
        &add(&["--username", "somchai", "--role", "officer"], "short"),
        2,
        "12 characters",
    );
    assert_fails(
        &add(
            &["--username", "lpn1", "--role", "legal_aid"],
            "long enough password",
        ),
        2,
        "--org",
    );
    assert_eq!(
        add(
            &["--username", "somchai", "--role", "officer"],
            "long enough password\n"
        )
        .code,
        0
    );
    assert_fails(
        &add(
            &["--username", "somchai", "--role", "officer"],
            "long enough password",
        ),
        1,
        "exists",
    );
    assert_eq!(
        add(
            &["--username", "lpn1", "--role", "legal_aid", "--org", "LPN"],
            "long enough password"
        )
        .code,
        0
    );
}

#[test]
fn demo_runs_a_whole_return() {
    let root = tempfile::tempdir().unwrap();
    let out = mittaphap(&[
        "demo",
        "--exit",
        "--dir",
        root.path().join("demo").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // One assignment and one approval shown.
    assert!(
        out.stdout.contains("assigned the case to keo.officer"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("closure held on la-molsw"),
        "{}",
        out.stdout
    );
    // Every role on both nodes, each account printed.
    for account in [
        "somchai.officer",
        "malee.supervisor (supervisor)",
        "lawyer.lpn (legal aid)",
        "admin.th (admin)",
        "auditor.th (auditor)",
        "keo.officer",
        "bounmy.supervisor (supervisor)",
        "admin.la (admin)",
        "auditor.la (auditor)",
    ] {
        assert!(
            out.stdout.contains(account),
            "{account} missing:\n{}",
            out.stdout
        );
    }
    for step in [
        "referral",
        "acknowledgement",
        "verification",
        "return_plan",
        "return_counterproposal",
        "return_confirmation",
        "prosecution_update",
        "handover",
        "reception",
        "reintegration_update",
        "closure",
    ] {
        assert!(
            out.stdout.contains(&format!(" {step} ")),
            "{step} missing:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("both nodes: closed"), "{}", out.stdout);
    assert!(out.stdout.contains("both nodes agree"), "{}", out.stdout);
    assert!(
        out.stdout.contains("la-molsw holds 1 attachment(s)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains("delivered in"))
            .count(),
        13
    );
}

/// A photo uploaded to the draft travels sealed with the referral, opens on the
/// home side to the same bytes, and is nowhere on disk in the clear.
async fn attachments_travel_sealed(backend: Backend) {
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
        http: http.clone(),
    };
    let token = thd.token("somchai", "a long password th").await;
    let la_token = lad.token("keo", "a long password la").await;
    let (_, created) = thd
        .post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": referral()}),
        )
        .await;
    let case = created["id"].as_str().unwrap().to_owned();

    let mut photo = Vec::new();
    for i in 0..3_000u32 {
        photo.extend_from_slice(b"PHOTO-BYTES-OF-NANG-KEOMANY-");
        photo.extend_from_slice(&i.to_le_bytes());
    }
    // A refused upload is answered before its body is read, and that connection
    // is then closed: uploads use a client that keeps no connections.
    let uploader = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let upload = |query: &str| {
        uploader
            .post(format!(
                "{}/api/v1/cases/{case}/attachments?{query}",
                thd.base
            ))
            .bearer_auth(&token)
            .body(photo.clone())
            .send()
    };
    let r = upload("file_name=photo.jpg&media_type=image/jpeg")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = upload("file_name=../etc/passwd&media_type=image/jpeg")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let r = upload("media_type=image/jpeg").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Social worker"});
    thd.post(&token, &format!("/api/v1/cases/{case}/consents"), &record)
        .await;
    let (status, body) = thd
        .post(
            &token,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": "referral"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for(&la.events.accepted, 1, "referral accepted").await;
    // A file added after the referral stays here until a move names it.
    assert_eq!(
        upload("file_name=late.jpg&media_type=image/jpeg")
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );

    let (_, listed) = lad
        .get(&la_token, &format!("/api/v1/cases/{case}/attachments"))
        .await;
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    let reads = {
        let mut conn = la.store.pool().acquire().await.unwrap();
        mittaphap::store::audit::all(&mut conn).await.unwrap()
    };
    assert!(
        reads
            .iter()
            .any(|r| r.actor == "keo" && r.action == "case.read" && r.detail == "attachment names"),
        "listing attachment names is an audited read"
    );
    assert_eq!(
        (
            listed[0]["file_name"].as_str(),
            listed[0]["media_type"].as_str()
        ),
        (Some("photo.jpg"), Some("image/jpeg"))
    );
    let aid = listed[0]["id"].as_str().unwrap();
    let r = http
        .get(format!(
            "{}/api/v1/cases/{case}/attachments/{aid}",
            lad.base
        ))
        .bearer_auth(&la_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        photo,
        "the same bytes on the home side"
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
    drop((th, la));

    for dir in [&th_dir.dir, &la_dir.dir] {
        for (path, (_, bytes)) in crate::helpers::snapshot(&dir.join("data")) {
            assert!(
                !bytes.windows(12).any(|w| w == b"PHOTO-BYTES-"),
                "photo in the clear in {}",
                path.display()
            );
            assert!(
                !bytes.windows(9).any(|w| w == b"photo.jpg"),
                "file name in the clear in {}",
                path.display()
            );
        }
    }
}
on_both_backends!(attachments_travel_sealed);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let mut node = crate::helpers::init_node(root.path(), "th-msdhs", "TH", &dbs);
    let (_, run) = node.start().await;
    let doc: Value = reqwest::get(format!("http://{}/api/v1/openapi.json", run.desk_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/session", "post"),
        ("/api/v1/cases", "get"),
        ("/api/v1/cases", "post"),
        ("/api/v1/cases/{id}", "get"),
        ("/api/v1/cases/{id}/consents", "post"),
        ("/api/v1/cases/{id}/messages", "post"),
        ("/api/v1/cases/{id}/timeline", "get"),
        ("/api/v1/cases/{id}/attachments", "post"),
        ("/api/v1/cases/{id}/attachments", "get"),
        ("/api/v1/cases/{id}/attachments/{aid}", "get"),
        ("/api/v1/session", "delete"),
        ("/api/v1/session/password", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{username}", "patch"),
        ("/api/v1/peers", "get"),
        ("/api/v1/outbox", "get"),
        ("/api/v1/audit", "get"),
        ("/api/v1/stats", "get"),
        ("/api/v1/cases/{id}/grants", "post"),
        ("/api/v1/cases/{id}/grants", "get"),
        ("/api/v1/cases/{id}/grants/{org}", "delete"),
        ("/api/v1/prosecution", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["field"].is_object());
    run.shutdown().await.unwrap();
}

/// Over the desk APIs of two real nodes: the decline paths, and withdrawal by the
/// host and by the home side in different states; both copies agree each time.
async fn declines_and_withdrawals_over_the_api(backend: Backend) {
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
    let (t_th, t_la) = (
        thd.token("somchai", "a long password th").await,
        lad.token("keo", "a long password la").await,
    );
    let nodes = [(&thd, &t_th, &th), (&lad, &t_la, &la)];

    // One move over the API, then both copies must show `state`.
    let step = |case: String, by: usize, kind: &'static str, fields: Value, state: &'static str| {
        let (mover, token, _) = nodes[by];
        let (other, other_token, other_node) = nodes[1 - by];
        async move {
            let mut body = fields;
            if kind != "referral" {
                body["schema"] = json!(format!("{kind}/1"));
            }
            let before = *other_node.events.accepted.borrow();
            let (status, moved) = mover
                .post(
                    token,
                    &format!("/api/v1/cases/{case}/messages"),
                    &json!({"kind": kind, "body": body}),
                )
                .await;
            assert_eq!(status, 200, "{kind}: {moved}");
            wait_for(&other_node.events.accepted, before + 1, kind).await;
            let (_, mine) = mover.get(token, &format!("/api/v1/cases/{case}")).await;
            let (_, theirs) = other
                .get(other_token, &format!("/api/v1/cases/{case}"))
                .await;
            assert_eq!(
                (mine["state"].as_str(), theirs["state"].as_str()),
                (Some(state), Some(state)),
                "{kind}"
            );
            assert_eq!(mine["turn"], theirs["turn"], "{kind}");
        }
    };
    let referred = || async {
        let (_, created) = thd
            .post(
                &t_th,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": referral()}),
            )
            .await;
        let case = created["id"].as_str().unwrap().to_owned();
        let record = json!({"purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Social worker"});
        assert_eq!(
            thd.post(&t_th, &format!("/api/v1/cases/{case}/consents"), &record)
                .await
                .0,
            204
        );
        step(case.clone(), 0, "referral", json!({}), "referred").await;
        case
    };
    let ack = json!({"receiving_organisation": "MoLSW", "case_worker_ref": "CW"});
    let verification = |confirmed: bool| json!({"identity_confirmed": confirmed, "family_traced": confirmed, "family_assessment": "Assessed", "placement": "family"});

    // Declined at once, and declined after a verification that did not confirm.
    let case = referred().await;
    step(
        case,
        1,
        "decline",
        json!({"reason": "Not a national"}),
        "declined",
    )
    .await;
    let case = referred().await;
    step(
        case.clone(),
        1,
        "acknowledgement",
        ack.clone(),
        "acknowledged",
    )
    .await;
    step(case, 1, "verification", verification(false), "declined").await;

    // The host withdraws a verified case (its own turn).
    let case = referred().await;
    step(
        case.clone(),
        1,
        "acknowledgement",
        ack.clone(),
        "acknowledged",
    )
    .await;
    step(
        case.clone(),
        1,
        "verification",
        verification(true),
        "verified",
    )
    .await;
    step(
        case,
        0,
        "withdrawal",
        json!({"reason": "consent_withdrawn"}),
        "withdrawn",
    )
    .await;

    // The home side withdraws while the host waits, and on the host's turn.
    let case = referred().await;
    step(
        case.clone(),
        1,
        "withdrawal",
        json!({"reason": "other", "note": "family unsafe"}),
        "withdrawn",
    )
    .await;
    let case = referred().await;
    step(
        case.clone(),
        1,
        "acknowledgement",
        ack.clone(),
        "acknowledged",
    )
    .await;
    step(
        case.clone(),
        1,
        "verification",
        verification(true),
        "verified",
    )
    .await;
    let plan = json!({"date": "2030-12-10", "crossing": {"point": "mukdahan_savannakhet"}, "escorts": "x", "travel_document": "y"});
    step(case.clone(), 0, "return_plan", plan, "return_planned").await;
    step(
        case.clone(),
        1,
        "return_confirmation",
        json!({"reception_team": "t", "transit_centre": "Savannakhet"}),
        "return_confirmed",
    )
    .await;
    step(
        case.clone(),
        1,
        "withdrawal",
        json!({"reason": "absconded"}),
        "withdrawn",
    )
    .await;
    // After a withdrawal nothing moves the return any more.
    let handover = json!({"kind": "handover", "body": {"schema": "handover/1", "at": "2030-12-10T09:00:00+07:00", "crossing": {"point": "mukdahan_savannakhet"}, "escorts": "x", "record": "y"}});
    assert_eq!(
        thd.post(&t_th, &format!("/api/v1/cases/{case}/messages"), &handover)
            .await
            .0,
        409
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(declines_and_withdrawals_over_the_api);
