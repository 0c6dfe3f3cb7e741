//! Who may see what, over HTTP on a real node: every role against every endpoint
//! (checked against the policy table), lock-out, disable, sign-out, password
//! change and token expiry.

use mittaphap::domain::policy::{Action, Role, allows};
use reqwest::Method;
use serde_json::{Value, json};

use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider};
use crate::on_both_backends;

const PASSWORD: &str = "a long password for tests";

/// Every desk endpoint that needs a sign-in, with the action the policy table
/// must allow for it (`None`: any signed-in user). Bodies are chosen so an
/// allowed call is refused for its content (4xx other than 403) or reads only:
/// nothing changes while the table is walked.
fn endpoints(case: &str, attachment: &str) -> Vec<(Method, String, Option<Value>, Option<Action>)> {
    let c = |p: &str| format!("/api/v1/cases/{case}{p}");
    vec![
        (
            Method::GET,
            "/api/v1/cases".into(),
            None,
            Some(Action::ReadClear),
        ),
        (
            Method::POST,
            "/api/v1/cases".into(),
            Some(json!({"home_node": "la-molsw", "referral": {"schema": "referral/1"}})),
            Some(Action::Move),
        ),
        (Method::GET, c(""), None, Some(Action::ReadSealed)),
        (Method::GET, c("/timeline"), None, Some(Action::ReadClear)),
        (
            Method::POST,
            c("/consents"),
            Some(json!({"purpose": "nothing"})),
            Some(Action::Move),
        ),
        (
            Method::POST,
            c("/messages"),
            Some(json!({"kind": "acknowledgement", "body": {}})),
            Some(Action::Move),
        ),
        (
            Method::GET,
            c("/attachments"),
            None,
            Some(Action::ReadSealed),
        ),
        (
            Method::POST,
            c("/attachments"),
            Some(json!("not a query")),
            Some(Action::Move),
        ),
        (
            Method::GET,
            c(&format!("/attachments/{attachment}")),
            None,
            Some(Action::ReadSealed),
        ),
        (
            Method::GET,
            "/api/v1/users".into(),
            None,
            Some(Action::ManageUsers),
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({"username": "x", "role": "officer", "password": "short"})),
            Some(Action::ManageUsers),
        ),
        (
            Method::PATCH,
            "/api/v1/users/nobody".into(),
            Some(json!({"disabled": true})),
            Some(Action::ManageUsers),
        ),
        (
            Method::POST,
            "/api/v1/users/nobody/confirm".into(),
            None,
            Some(Action::ConfirmAccounts),
        ),
        (
            Method::GET,
            "/api/v1/peers".into(),
            None,
            Some(Action::ManagePeers),
        ),
        (
            Method::GET,
            "/api/v1/outbox".into(),
            None,
            Some(Action::ManagePeers),
        ),
        (
            Method::GET,
            "/api/v1/audit".into(),
            None,
            Some(Action::ReadAudit),
        ),
        (
            Method::GET,
            "/api/v1/stats".into(),
            None,
            Some(Action::ReadStats),
        ),
        (
            Method::POST,
            "/api/v1/session/password".into(),
            Some(json!({"current_password": "not it at all", "new_password": "x"})),
            None,
        ),
    ]
}

async fn every_role_against_every_endpoint(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, _la_dir) = pair(root.path(), &dbs);
    for role in Role::ALL {
        let org = (role == Role::LegalAid).then_some("lpn");
        add_user(
            &th_dir,
            &format!("u.{}", role.as_str()),
            role.as_str(),
            org,
            PASSWORD,
        );
    }
    let (_th, run) = th_dir.start().await;
    let desk = Desk {
        base: format!("http://{}", run.desk_addr),
        http: reqwest::Client::new(),
    };
    let officer = desk.token("u.officer", PASSWORD).await;
    let (status, created) = desk
        .post(
            &officer,
            "/api/v1/cases",
            &json!({"home_node": "la-molsw", "referral": crate::cases::referral()}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let case = created["id"].as_str().unwrap().to_owned();
    let upload = desk
        .http
        .post(format!(
            "{}/api/v1/cases/{case}/attachments?file_name=scan.pdf&media_type=application/pdf",
            desk.base
        ))
        .bearer_auth(&officer)
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    let attachment = upload.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut checked = 0;
    for role in Role::ALL {
        let token = desk.token(&format!("u.{}", role.as_str()), PASSWORD).await;
        for (method, path, body, action) in endpoints(&case, &attachment) {
            let allowed = action.is_none_or(|a| allows(role, a));
            let (status, answer) = desk
                .call(method.clone(), &token, &path, body.as_ref())
                .await;
            if allowed {
                assert_ne!(status, 403, "{role:?} {method} {path}: {answer}");
                assert!(status < 500, "{role:?} {method} {path}: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{role:?} {method} {path}: {answer}");
                assert_eq!(answer["error"], "forbidden");
            }
            // Without a token, every one of them is 401.
            assert_eq!(
                desk.call(method.clone(), "", &path, body.as_ref()).await.0,
                401,
                "{method} {path}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        Role::ALL.len() * endpoints(&case, &attachment).len()
    );
    // The walk changed nothing: still one case, still a draft.
    let (_, cases) = desk.get(&officer, "/api/v1/cases").await;
    assert_eq!(cases.as_array().unwrap().len(), 1);
    assert_eq!(cases[0]["state"], "draft");
    run.shutdown().await.unwrap();
}

on_both_backends!(every_role_against_every_endpoint);

async fn accounts_and_sessions(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, _la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&th_dir, "malee", "officer", None, PASSWORD);
    add_user(&th_dir, "admin1", "admin", None, PASSWORD);
    add_user(&th_dir, "auditor1", "auditor", None, PASSWORD);
    let (node, run) = th_dir.start().await;
    let desk = Desk {
        base: format!("http://{}", run.desk_addr),
        http: reqwest::Client::new(),
    };
    let admin = desk.token("admin1", PASSWORD).await;

    // Disable: the user's token stops working at once, and sign-in is refused.
    let token = desk.token("somchai", PASSWORD).await;
    assert_eq!(desk.get(&token, "/api/v1/cases").await.0, 200);
    let (status, _) = desk
        .call(
            Method::PATCH,
            &admin,
            "/api/v1/users/somchai",
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(desk.get(&token, "/api/v1/cases").await.0, 401);
    assert_eq!(desk.login("somchai", PASSWORD).await.0, 401);
    let (_, users) = desk.get(&admin, "/api/v1/users").await;
    let somchai = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "somchai")
        .unwrap();
    assert_eq!(somchai["disabled"], true);
    assert!(somchai.get("password_hash").is_none());
    // Re-enabled: a new sign-in works, the old token stays dead.
    let (status, _) = desk
        .call(
            Method::PATCH,
            &admin,
            "/api/v1/users/somchai",
            Some(&json!({"disabled": false})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(desk.get(&token, "/api/v1/cases").await.0, 401);
    let token = desk.token("somchai", PASSWORD).await;
    assert_eq!(desk.get(&token, "/api/v1/cases").await.0, 200);
    // An admin cannot lock themselves out.
    let (status, _) = desk
        .call(
            Method::PATCH,
            &admin,
            "/api/v1/users/admin1",
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 409);

    // Sign-out revokes that token only.
    let other = desk.token("somchai", PASSWORD).await;
    let (status, _) = desk
        .call(Method::DELETE, &token, "/api/v1/session", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(desk.get(&token, "/api/v1/cases").await.0, 401);
    assert_eq!(desk.get(&other, "/api/v1/cases").await.0, 200);

    // Password change: every token of the user ends; the new password works.
    let new_password = "another long password";
    let (status, body) = desk
        .post(
            &other,
            "/api/v1/session/password",
            &json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("new_password"))
    );
    let (status, _) = desk
        .post(
            &other,
            "/api/v1/session/password",
            &json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(desk.get(&other, "/api/v1/cases").await.0, 401);
    assert_eq!(desk.login("somchai", PASSWORD).await.0, 401);
    let token = desk.token("somchai", new_password).await;

    // Expiry: a token issued 15 minutes and a second ago by this node's own
    // session key is refused.
    let state = mittaphap::desk::DeskState::new(node.clone()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (stale, _) = state
        .tokens
        .issue("malee", Role::Officer, 0, None, now - 15 * 60 - 1)
        .unwrap();
    let (fresh, _) = state
        .tokens
        .issue("malee", Role::Officer, 0, None, now)
        .unwrap();
    assert_eq!(desk.get(&stale, "/api/v1/cases").await.0, 401);
    assert_eq!(desk.get(&fresh, "/api/v1/cases").await.0, 200);

    // Lock-out per user: the fifth failure locks, and then even the right
    // password waits. An unknown name gets exactly the same answers.
    for name in ["malee", "nobody.here"] {
        for i in 1..=5 {
            let (status, body) = desk.login(name, "wrong password!!").await;
            if i < 5 {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (401, Some("bad_credentials"))
                );
            } else {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (429, Some("locked")),
                    "{body}"
                );
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains("too many failed sign-ins")
                );
            }
        }
    }
    let (status, locked) = desk.login("malee", PASSWORD).await;
    assert_eq!(status, 429);
    let (_, locked_unknown) = desk.login("nobody.here", PASSWORD).await;
    assert_eq!(locked["error"], locked_unknown["error"]);
    // A token malee already had keeps working; others are not locked.
    assert_eq!(desk.get(&fresh, "/api/v1/cases").await.0, 200);
    assert_eq!(desk.get(&token, "/api/v1/cases").await.0, 200);

    // Every attempt is audited, and what was typed as an unknown name is not.
    let auditor = desk.token("auditor1", PASSWORD).await;
    let (status, entries) = desk
        .get(&auditor, "/api/v1/audit?action=session.sign_in&limit=1000")
        .await;
    assert_eq!(status, 200);
    let entries = entries.as_array().unwrap();
    let count = |actor: &str, outcome: &str| {
        entries
            .iter()
            .filter(|e| e["actor"] == actor && e["detail"].as_str().unwrap().contains(outcome))
            .count()
    };
    assert_eq!(count("malee", "outcome=failed"), 5);
    assert_eq!(count("malee", "outcome=locked"), 1);
    assert_eq!(count("unknown", "outcome=failed"), 5);
    assert!(
        entries
            .iter()
            .all(|e| !e.to_string().contains("nobody.here"))
    );
    for action in [
        "user.disable",
        "user.enable",
        "user.password",
        "session.sign_out",
    ] {
        let (_, found) = desk
            .get(&auditor, &format!("/api/v1/audit?action={action}"))
            .await;
        assert!(
            !found.as_array().unwrap().is_empty(),
            "{action} not audited"
        );
    }
    // Accounts that read case content, made (two officers on the command line)
    // or enabled (somchai, by the admin): a sensitive event each, counted on
    // /metrics and shown to auditors on their page, in their language.
    let (_, grants) = desk
        .get(&auditor, "/api/v1/audit?action=user.case_access")
        .await;
    let grants = grants.as_array().unwrap();
    assert_eq!(grants.len(), 3, "{grants:?}");
    assert!(
        grants
            .iter()
            .any(|g| g["actor"] == "admin1" && g["detail"] == "user=somchai role=officer")
    );
    let metrics = reqwest::get(format!("{}/metrics", desk.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nmittaphap_case_access_grants_total 3\n"),
        "{metrics}"
    );
    let http = crate::web::no_redirects();
    let cookie = crate::web::page_sign_in(&http, &desk.base, "auditor1").await;
    for (lang, words) in [
        ("th", "บัญชีที่สร้างหรือเปิดใช้ซึ่งอ่านข้อมูลคดีได้: 3"),
        ("lo", "ບັນຊີທີ່ສ້າງ ຫຼື ເປີດໃຊ້ ເຊິ່ງອ່ານຂໍ້ມູນຄະດີໄດ້: 3"),
    ] {
        let page = http
            .get(format!("{}/audit?lang={lang}", desk.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(words), "{lang}: {page}");
    }
    let (status, _) = desk.get(&auditor, "/api/v1/audit?since=yesterday").await;
    assert_eq!(status, 422);

    // Twenty failures with made-up names from one address slow that address's
    // guesses down, but lock no one out: a right password still gets in.
    for i in 0..20 {
        desk.login(&format!("guess{i}"), "wrong password!!").await;
    }
    let (status, _) = desk.login("auditor1", PASSWORD).await;
    assert_eq!(
        status, 200,
        "a right password is never stopped by others' guesses"
    );
    let started = std::time::Instant::now();
    let (status, _) = desk.login("guess-more", "wrong password!!").await;
    assert_eq!(status, 401);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "a guess from a slowed address is answered after a second"
    );
    run.shutdown().await.unwrap();
}

on_both_backends!(accounts_and_sessions);

/// Thirty sign-ins for one name at once, all wrong, and then the right one:
/// no more passwords are checked than the limit, whatever the concurrency
/// (the quota is taken before the check, in one statement).
async fn simultaneous_guesses_check_at_most_the_limit(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, _la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "malee", "officer", None, PASSWORD);
    add_user(&th_dir, "auditor1", "auditor", None, PASSWORD);
    let (_node, run) = th_dir.start().await;
    let desk = Desk {
        base: format!("http://{}", run.desk_addr),
        http: reqwest::Client::new(),
    };
    let guesses = (0..30).map(|i| {
        let desk = &desk;
        async move { desk.login("malee", &format!("wrong password {i}")).await.0 }
    });
    let answers = futures_util::future::join_all(guesses).await;
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    assert!(answers.contains(&429), "the quota ran out: {answers:?}");
    let (status, _) = desk.login("malee", PASSWORD).await;
    assert_eq!(status, 429, "the name is locked, the right password too");

    let auditor = desk.token("auditor1", PASSWORD).await;
    let (_, entries) = desk
        .get(&auditor, "/api/v1/audit?action=session.sign_in&limit=1000")
        .await;
    let checked = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "malee")
        .filter(|e| {
            let d = e["detail"].as_str().unwrap();
            d.contains("outcome=failed") || d.contains("outcome=ok")
        })
        .count();
    assert!(checked <= 5, "{checked} passwords were checked");
    assert_eq!(checked, 5, "the whole quota was used");
    run.shutdown().await.unwrap();
}

on_both_backends!(simultaneous_guesses_check_at_most_the_limit);

/// With `[workflow] approve_accounts`, an officer account an admin makes or
/// re-enables signs in only once a supervisor confirms it; accounts that read no
/// case content, and the operator's, need no confirmation.
async fn accounts_an_admin_makes_wait_for_a_supervisor(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, _la_dir) = pair(root.path(), &dbs);
    let toml = th_dir.dir.join("node.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text.replace("approve_accounts = false", "approve_accounts = true");
    assert!(text.contains("approve_accounts = true"), "{text}");
    std::fs::write(&toml, text).unwrap();
    add_user(&th_dir, "admin1", "admin", None, PASSWORD);
    add_user(&th_dir, "malee", "supervisor", None, PASSWORD);
    let (_node, run) = th_dir.start().await;
    let desk = Desk {
        base: format!("http://{}", run.desk_addr),
        http: reqwest::Client::new(),
    };
    let admin = desk.token("admin1", PASSWORD).await;
    let malee = desk.token("malee", PASSWORD).await;

    // The admin makes an officer and an auditor.
    for (name, role) in [("somchai", "officer"), ("auditor2", "auditor")] {
        let (status, body) = desk
            .post(
                &admin,
                "/api/v1/users",
                &json!({"username": name, "role": role, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    desk.token("auditor2", PASSWORD).await;
    let (status, body) = desk.login("somchai", PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("awaiting_confirmation"))
    );
    let (_, users) = desk.get(&admin, "/api/v1/users").await;
    let somchai = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "somchai")
        .unwrap();
    assert_eq!(somchai["awaiting_confirmation"], true);

    // The admin cannot confirm it; re-enabling it does not either.
    let (status, _) = desk
        .call(Method::POST, &admin, "/api/v1/users/somchai/confirm", None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = desk
        .call(
            Method::PATCH,
            &admin,
            "/api/v1/users/somchai",
            Some(&json!({"disabled": false})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(desk.login("somchai", PASSWORD).await.0, 403);

    // The supervisor sees it on their page, in Thai and in Lao, and confirms it there.
    let http = crate::web::no_redirects();
    let cookie = crate::web::page_sign_in(&http, &desk.base, "malee").await;
    let page = |lang: &'static str| {
        let http = http.clone();
        let cookie = cookie.clone();
        let base = desk.base.clone();
        async move {
            http.get(format!("{base}/accounts?lang={lang}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let th = page("th").await;
    assert!(
        th.contains("บัญชีที่รอการยืนยัน") && th.contains("somchai"),
        "{th}"
    );
    assert!(
        th.contains("class=\"count-accounts\""),
        "the header counts it"
    );
    assert!(!th.contains("auditor2"), "an auditor reads no case content");
    let lo = page("lo").await;
    // A notice the page does not know is not shown back as sent, here or on
    // the admin's page.
    for (user, path) in [("malee", "/accounts"), ("admin1", "/admin")] {
        let cookie = crate::web::page_sign_in(&http, &desk.base, user).await;
        let page = http
            .get(format!("{}{path}?notice=echo-marker-7", desk.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("<h1>") && !page.contains("echo-marker-7"),
            "{path}"
        );
    }
    assert!(lo.contains("ບັນຊີທີ່ລໍຖ້າການຢືນຢັນ") && lo.contains("ຢືນຢັນ"), "{lo}");
    let csrf = lo
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{}/accounts/somchai/confirm", desk.base))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::web::encode(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text().await);
    desk.token("somchai", PASSWORD).await;
    // Once confirmed, there is nothing left to confirm.
    let (status, _) = desk
        .call(Method::POST, &malee, "/api/v1/users/somchai/confirm", None)
        .await;
    assert_eq!(status, 409);

    // Disabled and re-enabled by the admin: it waits again; the API confirms it.
    for disabled in [true, false] {
        let (status, _) = desk
            .call(
                Method::PATCH,
                &admin,
                "/api/v1/users/somchai",
                Some(&json!({"disabled": disabled})),
            )
            .await;
        assert_eq!(status, 204);
    }
    assert_eq!(desk.login("somchai", PASSWORD).await.0, 403);
    let (status, _) = desk
        .call(Method::POST, &malee, "/api/v1/users/somchai/confirm", None)
        .await;
    assert_eq!(status, 204);
    desk.token("somchai", PASSWORD).await;

    // Each step is in the audit log.
    add_user(&th_dir, "auditor1", "auditor", None, PASSWORD);
    let auditor = desk.token("auditor1", PASSWORD).await;
    let (_, confirmed) = desk
        .get(&auditor, "/api/v1/audit?action=user.confirm")
        .await;
    let confirmed = confirmed.as_array().unwrap();
    assert_eq!(confirmed.len(), 2);
    assert!(confirmed.iter().all(|e| e["actor"] == "malee"));
    let (_, grants) = desk
        .get(&auditor, "/api/v1/audit?action=user.case_access")
        .await;
    assert!(grants.as_array().unwrap().iter().any(|g| {
        g["detail"]
            .as_str()
            .unwrap()
            .ends_with("awaiting_confirmation")
    }));
    run.shutdown().await.unwrap();
}

on_both_backends!(accounts_an_admin_makes_wait_for_a_supervisor);
