//! Oversight on real nodes: `audit verify` with the peer's checkpoints against
//! edited, deleted, inserted and rewritten entries; retention purge; statistics
//! with known counts; and a whole return at TRACE that leaves no sealed value in
//! the logs, the error bodies or the clear columns.

use mittaphap::app::audit::entry_hash;
use mittaphap::store::audit::AuditRow;
use serde_json::{Value, json};

use crate::cases::{consent, referral};
use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{
    Backend, Databases, assert_fails, mittaphap, mittaphap_with, tls_provider, wait_for,
};
use crate::on_both_backends;

const PASSWORD: &str = "a long password for tests";

async fn rows(pool: &sqlx::AnyPool) -> Vec<AuditRow> {
    let mut conn = pool.acquire().await.unwrap();
    mittaphap::store::audit::all(&mut conn).await.unwrap()
}

fn verify(dir: &str) -> crate::helpers::Output {
    mittaphap(&["audit", "verify", "--dir", dir])
}

async fn audit_verify_with_witnessed_checkpoints(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    // Checkpoints at most every second, so the serving node sends them by itself.
    th_dir.checkpoint_every_secs = Some(1);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;

    // Traffic: a referral, acknowledged.
    let case = mittaphap::app::cases::create_draft(
        &th,
        "somchai",
        "la-molsw",
        &referral(),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    consent(&th, case, "repatriation").await;
    let now = time::OffsetDateTime::now_utc();
    mittaphap::app::moves::make_move(&th, "somchai", case, "referral", &json!({}), now)
        .await
        .unwrap();
    // The referral, then the checkpoint the upkeep task sends on its own.
    wait_for(&la.events.accepted, 2, "referral and checkpoint").await;
    th_run.shutdown().await.unwrap();
    let held = {
        let mut conn = la.store.pool().acquire().await.unwrap();
        mittaphap::store::audit::checkpoints(&mut conn, "th-msdhs", "held")
            .await
            .unwrap()
    };
    assert!(!held.is_empty());
    let witnessed = held.last().unwrap().position;
    let chain = rows(th.store.pool()).await;
    assert_eq!(chain.len() as i64, witnessed, "the head when it was sent");
    assert_eq!(held.last().unwrap().hash, chain.last().unwrap().hash);

    // On demand, from the command line: queued for the one peer.
    let out = mittaphap(&["audit", "checkpoint", "--dir", th_dir.dir_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("for 1 peer(s)"), "{}", out.stdout);

    // Untouched: the chain and the checkpoint agree.
    let out = verify(th_dir.dir_str());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("intact"), "{}", out.stdout);
    assert!(out.stdout.contains("la-molsw: "), "{}", out.stdout);

    let pool = th.store.pool().clone();
    let exec = |sql: String| {
        let pool = pool.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
    };

    // Edited: entry 2's detail changes.
    let original = chain[1].detail.clone();
    exec("UPDATE audit_log SET detail = 'kind=closure' WHERE position = 2".into()).await;
    assert_fails(
        &verify(th_dir.dir_str()),
        1,
        "audit entry 2: its content does not match its hash (edited)",
    );
    exec(format!(
        "UPDATE audit_log SET detail = '{original}' WHERE position = 2"
    ))
    .await;
    assert_eq!(verify(th_dir.dir_str()).code, 0);

    // Deleted: entry 2 is gone.
    let insert =
        |r: &AuditRow| {
            format!(
            "INSERT INTO audit_log (position, at, actor, action, case_id, detail, prev_hash, hash)
             VALUES ({}, {}, '{}', '{}', {}, '{}', '{}', '{}')",
            r.position,
            r.at,
            r.actor,
            r.action,
            r.case_id.as_ref().map(|c| format!("'{c}'")).unwrap_or("NULL".into()),
            r.detail,
            r.prev_hash,
            r.hash
        )
        };
    exec("DELETE FROM audit_log WHERE position = 2".into()).await;
    assert_fails(&verify(th_dir.dir_str()), 1, "audit entry 2: missing");
    exec(insert(&chain[1])).await;
    assert_eq!(verify(th_dir.dir_str()).code, 0);

    // Inserted: a well-formed entry appended behind the head's back.
    let mut forged = AuditRow {
        position: witnessed + 1,
        at: chain.last().unwrap().at + 1,
        actor: "somchai".into(),
        action: "case.read".into(),
        case_id: None,
        detail: "file".into(),
        prev_hash: chain.last().unwrap().hash.clone(),
        hash: String::new(),
    };
    forged.hash = entry_hash(&forged);
    exec(insert(&forged)).await;
    assert_fails(
        &verify(th_dir.dir_str()),
        1,
        &format!("audit entry {}: not in the head", witnessed + 1),
    );
    exec(format!(
        "DELETE FROM audit_log WHERE position = {}",
        witnessed + 1
    ))
    .await;
    assert_eq!(verify(th_dir.dir_str()).code, 0);

    // Rewritten: entry 1 changed and every hash after it recomputed, head too.
    // The chain is consistent again, but the peer witnessed the old head.
    let mut prev = String::new();
    for (i, row) in chain.iter().enumerate() {
        let mut r = row.clone();
        if i == 0 {
            r.detail = "home_node=elsewhere".into();
        }
        r.prev_hash = prev.clone();
        r.hash = entry_hash(&r);
        prev = r.hash.clone();
        exec(format!(
            "UPDATE audit_log SET detail = '{}', prev_hash = '{}', hash = '{}' WHERE position = {}",
            r.detail, r.prev_hash, r.hash, r.position
        ))
        .await;
    }
    exec(format!(
        "UPDATE audit_head SET hash = '{prev}' WHERE id = 1"
    ))
    .await;
    let out = verify(th_dir.dir_str());
    assert_fails(
        &out,
        1,
        &format!("audit entry {witnessed}: differs from the checkpoint la-molsw witnessed"),
    );
    la_run.shutdown().await.unwrap();
}

on_both_backends!(audit_verify_with_witnessed_checkpoints);

/// Purge destroys the sealed content and blobs of an ended case past the limit,
/// and nothing else; statistics count known clear columns with small cells hidden.
async fn purge_and_stats(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, _la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&th_dir, "auditor1", "auditor", None, PASSWORD);
    let dir = th_dir.dir_str().to_owned();
    let (th, run) = th_dir.start().await;
    let desk = Desk {
        base: format!("http://{}", run.desk_addr),
        http: reqwest::Client::new(),
    };
    let token = desk.token("somchai", PASSWORD).await;

    // Three drafts with an attachment and a consent each: one ended long ago,
    // one ended today, one still open.
    let mut made = Vec::new();
    for _ in 0..3 {
        let (_, c) = desk
            .post(
                &token,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": referral()}),
            )
            .await;
        let id = c["id"].as_str().unwrap().to_owned();
        consent(&th, id.parse().unwrap(), "repatriation").await;
        let r = desk
            .http
            .post(format!(
                "{}/api/v1/cases/{id}/attachments?file_name=Keomany-passport.jpg&media_type=image/jpeg",
                desk.base
            ))
            .bearer_auth(&token)
            .body(vec![1u8; 5000])
            .send()
            .await
            .unwrap();
        let blob = r.json::<Value>().await.unwrap()["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        made.push((id, blob));
    }
    for (id, _) in &made[..2] {
        let (status, _) = desk
            .post(
                &token,
                &format!("/api/v1/cases/{id}/messages"),
                &json!({"kind": "withdrawal", "body": {"schema": "withdrawal/1", "reason": "consent_withdrawn"}}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let old = &made[0].0;
    let hundred_days_ago =
        mittaphap::store::millis(time::OffsetDateTime::now_utc()) - 100 * 86_400_000;
    sqlx::query("UPDATE cases SET updated_at = $1 WHERE case_id = $2")
        .bind(hundred_days_ago)
        .bind(old)
        .execute(th.store.pool())
        .await
        .unwrap();
    let blob_path = |sha: &str| {
        th_dir
            .dir
            .join("data/blobs/sha256")
            .join(&sha[..2])
            .join(sha)
    };
    for (_, blob) in &made {
        assert!(blob_path(blob).exists());
    }

    // Without a retention period, purge refuses; a dry run changes nothing.
    assert_fails(
        &mittaphap(&["purge", "--dir", &dir]),
        2,
        "purge_sealed_after_days",
    );
    let env = [("MITTAPHAP_PURGE_SEALED_AFTER_DAYS", "30")];
    let dry = mittaphap_with(&["purge", "--dir", &dir, "--dry-run"], &env, None);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains(&format!("would purge {old}")),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("1 case(s) would purge"),
        "{}",
        dry.stdout
    );
    let sealed_of = |id: String| {
        let pool = th.store.pool().clone();
        async move {
            let (sealed, purged): (String, Option<i64>) =
                sqlx::query_as("SELECT sealed, purged_at FROM cases WHERE case_id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (sealed, purged)
        }
    };
    assert!(!sealed_of(old.clone()).await.0.is_empty());

    let out = mittaphap_with(&["purge", "--dir", &dir], &env, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("1 case(s) purged"), "{}", out.stdout);
    // The old ended case: sealed columns and blob gone, clear columns kept.
    let (sealed, purged_at) = sealed_of(old.clone()).await;
    assert_eq!(sealed, "");
    assert!(purged_at.is_some());
    assert!(!blob_path(&made[0].1).exists());
    let leftovers: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND body <> ''),
                (SELECT COUNT(*) FROM case_consents WHERE case_id = $1 AND record <> ''),
                (SELECT COUNT(*) FROM case_attachments WHERE case_id = $1)",
    )
    .bind(old)
    .fetch_one(th.store.pool())
    .await
    .unwrap();
    assert_eq!(leftovers, (0, 0, 0));
    let (_, read) = desk.get(&token, &format!("/api/v1/cases/{old}")).await;
    assert_eq!(read["state"], "withdrawn");
    assert_eq!(read["gender"], "Feminine");
    assert!(read["file"].is_null());
    assert!(read["purged_at"].is_string());
    // Nothing else: the recent ended case and the open one keep everything.
    for (id, blob) in &made[1..] {
        assert!(!sealed_of(id.clone()).await.0.is_empty());
        assert!(blob_path(blob).exists());
        let (status, read) = desk.get(&token, &format!("/api/v1/cases/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(read["file"]["person"]["names"]["latin"], "Nang Keomany");
    }
    // One audit entry for the one case; the chain still verifies; a second run
    // finds nothing more to do.
    let auditor = desk.token("auditor1", PASSWORD).await;
    let (_, purges) = desk.get(&auditor, "/api/v1/audit?action=case.purge").await;
    assert_eq!(purges.as_array().unwrap().len(), 1);
    assert_eq!(purges[0]["case"], old.as_str());
    let again = mittaphap_with(&["purge", "--dir", &dir], &env, None);
    assert!(
        again.stdout.contains("0 case(s) purged"),
        "{}",
        again.stdout
    );

    // Statistics with known counts: 9 more cases, straight into the clear columns.
    let mut conn = th.store.pool().acquire().await.unwrap();
    let specs = [
        ("Feminine", 16, "LA-SV", 5),
        ("Feminine", 25, "LA-VT", 2),
        ("Masculine", 16, "LA-SV", 2),
    ];
    let now = mittaphap::store::millis(time::OffsetDateTime::now_utc());
    for (gender, age, province, n) in specs {
        for _ in 0..n {
            let row = mittaphap::store::cases::CaseRow {
                case_id: uuid::Uuid::now_v7().to_string(),
                host_node: "th-msdhs".into(),
                home_node: "la-molsw".into(),
                our_side: "host".into(),
                state: "referred".into(),
                turn: Some("home".into()),
                gender: Some(gender.into()),
                age_at_identification: Some(age),
                exploitation_types: Some("ForcedLabour".into()),
                province_of_origin: Some(province.into()),
                crossing_point: None,
                prosecution_milestone: None,
                sealed: "x".into(),
                created_at: now,
                updated_at: now,
                purged_at: None,
                testimony_pending: 0,
                owner: None,
                return_date: None,
            };
            mittaphap::store::cases::insert(&mut conn, &row)
                .await
                .unwrap();
        }
    }
    drop(conn);
    // Counted: those 9 and the 2 withdrawn drafts (Feminine, 16, LA-SV), not the
    // open draft: 11. Feminine 9 beside Masculine 2, LA-SV 9 beside LA-VT 2, ages
    // 9--17 9 beside 24--26 2, in progress 9 beside withdrawn 2: each small cell
    // hidden, and its only neighbour with it (else total minus it reveals it).
    let out = mittaphap(&["stats", "--dir", &dir, "--format", "csv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let csv = out.stdout;
    assert!(csv.starts_with("dimension,value,count\n"), "{csv}");
    assert!(csv.contains("total,,11\n"), "{csv}");
    assert!(csv.contains("gender,Masculine,suppressed\n"), "{csv}");
    assert!(csv.contains("gender,Feminine,suppressed\n"), "{csv}");
    assert!(csv.contains("provinceOfOrigin,LA-VT,suppressed\n"), "{csv}");
    assert!(csv.contains("provinceOfOrigin,LA-SV,suppressed\n"), "{csv}");
    assert!(csv.contains("ageBroad,9--17,suppressed\n"), "{csv}");
    assert!(
        csv.contains("typeOfExploitation,ForcedLabour,11\n"),
        "{csv}"
    );
    assert!(csv.contains("outcome,in_progress,suppressed\n"), "{csv}");
    let year = time::OffsetDateTime::now_utc().year();
    assert!(
        csv.contains(&format!("yearOfRegistration,{year},11\n")),
        "{csv}"
    );
    assert!(csv.contains("crossingPoint,Unknown,11\n"), "{csv}");
    assert!(csv.contains("outcome,withdrawn,suppressed\n"), "{csv}");
    let (status, json) = desk.get(&auditor, "/api/v1/stats").await;
    assert_eq!(status, 200);
    assert_eq!(json["total"], 11);
    assert_eq!(json["k"], 5);
    let json_cli: Value =
        serde_json::from_str(&mittaphap(&["stats", "--dir", &dir]).stdout).unwrap();
    assert_eq!(json_cli, json);
    run.shutdown().await.unwrap();
}

on_both_backends!(purge_and_stats);

/// The values of the demo's made-up person that must never appear in the clear.
const DEMO_SEALED: &[&str] = &[
    "ນາງ ຕົວຢ່າງ",
    "นาง ตัวอย่าง",
    "Nang Toyang",
    "Toyang",
    "2009-03-01",
    "Kaysone Phomvihane",
    "Ban Example",
    "Mae Toyang",
    "+856 20 0000 0000",
    "Garment workshop",
    "Counselling; continue schooling",
    "Stays at the host shelter",
    "Family safe to receive her",
    "Handover form signed",
    "Back at school",
    "Certificate of identity",
];

fn assert_clean(what: &str, text: &str) {
    for value in DEMO_SEALED {
        assert!(!text.contains(value), "{value:?} found in {what}");
    }
}

/// Every file under `dir` (databases, WAL, blobs), read as bytes.
fn assert_files_clean(dir: &std::path::Path) {
    for (path, (_, bytes)) in crate::helpers::snapshot(dir) {
        for value in DEMO_SEALED {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value:?} found in {}",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_return_at_trace_leaks_nothing() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let demo = root.path().join("demo");
    let env = [("RUST_LOG", "trace")];
    let out = mittaphap_with(
        &["demo", "--exit", "--dir", demo.to_str().unwrap()],
        &env,
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("both nodes agree"), "{}", out.stdout);
    // The demo did log at TRACE (the dependencies too), and none of it holds a
    // sealed value; neither does any file of either node.
    assert!(out.stderr.lines().filter(|l| l.contains("TRACE")).count() > 100);
    assert_clean("the demo's output", &out.stdout);
    assert_clean("the TRACE log", &out.stderr);
    assert_files_clean(&demo);

    // Error bodies: bad requests that carry the person's values in the wrong
    // places are refused without echoing them, and without logging them.
    let th_dir = demo.join("th-msdhs");
    let desk_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let desk_addr = format!("127.0.0.1:{desk_port}");
    let fed_addr = format!("127.0.0.1:{fed_port}");
    let log = std::fs::File::create(root.path().join("serve.log")).unwrap();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
        .args(["serve", "--dir", th_dir.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .env("MITTAPHAP_DESK_ADDR", &desk_addr)
        .env("MITTAPHAP_FEDERATION_ADDR", &fed_addr)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let desk = Desk {
        base: format!("http://{desk_addr}"),
        http: reqwest::Client::new(),
    };
    // Ready when it answers (each try is a real request, not a timer).
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = desk.http.get(format!("{}/readyz", desk.base)).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "serve did not become ready");
    let token = desk.token("somchai.officer", "demo-password-th").await;
    let mut person = referral();
    person["person"]["names"]["latin"] = json!("Nang Toyang");
    let bad_bodies = [
        // a name where the gender goes
        {
            let mut r = person.clone();
            r["person"]["gender"] = json!("Nang Toyang");
            r
        },
        // a birth date that is not a date
        {
            let mut r = person.clone();
            r["person"]["birth_date"] =
                json!({"date": "2009-03-01 Nang Toyang", "estimated": true});
            r
        },
        // a phone number in the province
        {
            let mut r = person.clone();
            r["origin"]["province"] = json!("+856 20 0000 0000");
            r
        },
        // an unknown field named after the person
        {
            let mut r = person.clone();
            r["person"]["Mae Toyang"] = json!("Kaysone Phomvihane");
            r
        },
    ];
    for body in bad_bodies {
        let (status, answer) = desk
            .post(
                &token,
                "/api/v1/cases",
                &json!({"home_node": "la-molsw", "referral": body}),
            )
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_clean("an error body", &answer.to_string());
    }
    let upload = desk
        .http
        .post(format!(
            "{}/api/v1/cases/{}/attachments?file_name=Nang%20Toyang%20passport.jpg&media_type=image/jpeg",
            desk.base,
            uuid::Uuid::now_v7()
        ))
        .bearer_auth(&token)
        .body("Nang Toyang")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 404);
    assert_clean("an error body", &upload.text().await.unwrap());
    let (status, answer) = desk
        .post(
            &token,
            "/api/v1/cases",
            &json!({"home_node": "Nang Toyang", "referral": referral()}),
        )
        .await;
    assert!((400..500).contains(&status), "{answer}");
    assert_clean("an error body", &answer.to_string());

    // Stop it, then read everything it logged.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    serve.wait().unwrap();
    let logged = std::fs::read_to_string(root.path().join("serve.log")).unwrap();
    assert!(logged.contains("TRACE"));
    assert_clean("the serve TRACE log", &logged);
    assert_files_clean(&demo);
}

/// The audit page: a hundred entries a page, the next page linked, filtered by
/// action and day, actions named in the reader's language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_is_paged_and_named() {
    use crate::web::{PASSWORD, no_redirects, page_sign_in};
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let mut th_dir = crate::helpers::init_node(root.path(), "th-msdhs", "TH", &dbs);
    crate::desk::add_user(&th_dir, "auditor1", "auditor", None, PASSWORD);
    let (th, run) = th_dir.start().await;
    let now = time::OffsetDateTime::now_utc();
    let mut tx = th.store.begin().await.unwrap();
    for i in 0..150 {
        let detail = format!("kind=note n={i}");
        let entry = mittaphap::app::audit::Entry {
            actor: "somchai",
            action: "case.move",
            case_id: None,
            detail: &detail,
        };
        mittaphap::app::audit::record(&mut tx, entry, now)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let base = format!("http://{}", run.desk_addr);
    let http = no_redirects();
    let session = page_sign_in(&http, &base, "auditor1").await;
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .header("cookie", format!("{session}; mittaphap_lang=th"))
            .send()
    };
    let first = get("/audit?action=case.move".into())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        first.matches("kind=note n=").count(),
        100,
        "a hundred a page"
    );
    assert!(first.contains("ส่งขั้นตอน"), "the action named in Thai");
    let next = first
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.contains("after="))
        .expect("a next page")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let second = get(next).await.unwrap().text().await.unwrap();
    assert_eq!(second.matches("kind=note n=").count(), 50);
    assert!(second.contains("kind=note n=149") && !second.contains("kind=note n=99<"));
    let tomorrow = (now + time::Duration::days(2)).date();
    let none = get(format!("/audit?since={tomorrow}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(none.matches("kind=note n=").count(), 0, "filtered by day");
    run.shutdown().await.unwrap();
}
