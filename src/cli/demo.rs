//! `mittaphap demo`: two nodes on this machine, one complete return driven through
//! both desks, then both keep serving until Ctrl-C (or stop, with `--exit`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::CliError;
use crate::app::accounts::hash_password;
use crate::app::peers::register_peer;
use crate::domain::{Country, NodeId};
use crate::node::Node;
use crate::node::init::{InitOptions, init};
use crate::serve::{Listeners, Running, start};
use crate::store::users;

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

struct DemoNode {
    node: Arc<Node>,
    running: Running,
    desk: String,
    user: &'static str,
    password: &'static str,
    token: String,
    /// The node's supervisor's session, who assigns and approves.
    supervisor: String,
}

pub async fn run(dir: Option<PathBuf>, exit: bool) -> Result<(), CliError> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mittaphap-demo-{}", uuid::Uuid::new_v4().simple()))
    });
    println!("Mittaphap demo in {}", dir.display());
    let now = time::OffsetDateTime::now_utc();
    let specs = [
        (
            "th-msdhs",
            "TH",
            "MSDHS shelter, Thailand (demo)",
            "somchai.officer",
            "demo-password-th",
        ),
        (
            "la-molsw",
            "LA",
            "MoLSW reception, Lao PDR (demo)",
            "keo.officer",
            "demo-password-la",
        ),
    ];
    let mut made: Vec<(Node, Listeners, &str, &str, String)> = Vec::new();
    for (id, country, name, user, password) in specs {
        let federation = TcpListener::bind("127.0.0.1:0").map_err(failed)?;
        let desk = TcpListener::bind("127.0.0.1:0").map_err(failed)?;
        let options = InitOptions {
            dir: dir.join(id),
            node_id: NodeId::parse(id).map_err(failed)?,
            country: Country::parse(country).map_err(failed)?,
            name: name.into(),
            federation_url: None,
            federation_addr: federation.local_addr().map_err(failed)?,
            desk_addr: desk.local_addr().map_err(failed)?,
            database_url: None,
        };
        let done = init(options, now).await?;
        let node = Node::open(&done.dir).await?;
        let hash = hash_password(password).map_err(failed)?;
        let mut tx = node.store.begin().await.map_err(failed)?;
        let row = users::UserRow {
            username: user.into(),
            role: "officer".into(),
            org: None,
            password_hash: hash,
            disabled: 0,
            created_at: crate::store::millis(now),
            token_epoch: 0,
            lang: None,
            email: None,
            notified_at: None,
        };
        users::insert(&mut tx, &row).await.map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        made.push((
            node,
            Listeners { federation, desk },
            user,
            password,
            done.fingerprint,
        ));
    }
    // Every role on both nodes (and the Thai node's legal-aid lawyer), to try
    // every page.
    for (i, extra) in [&TH_USERS[..], &LA_USERS[..]].into_iter().enumerate() {
        for (username, role, org) in extra {
            let new = crate::app::accounts::NewUser {
                username,
                role,
                org: *org,
                password: made[i].3.to_owned(),
                email: None,
                needs_confirmation: false,
            };
            crate::app::accounts::add(&made[i].0.store, "operator", new, now)
                .await
                .map_err(failed)?;
        }
    }
    // Each registers the other by its fingerprint, as two operators would.
    for (i, j) in [(0, 1), (1, 0)] {
        let descriptor = made[j].0.signed_descriptor()?;
        let peer = register_peer(&made[i].0, &descriptor, &made[j].4, now).await?;
        println!(
            "{} registered peer {} (fingerprint {})",
            made[i].0.config.node_id,
            peer.node_id,
            crate::crypto::hash::group_hex(&peer.fingerprint)
        );
    }
    // The Lao node has a second person approve a closure before it is sent.
    made[1].0.config.workflow.approve = vec!["closure".to_owned()];
    let http = reqwest::Client::new();
    let mut nodes = Vec::new();
    for (node, listeners, user, password, _) in made {
        let node = Arc::new(node);
        let running = start(node.clone(), listeners).await?;
        let desk = format!("{}://{}", running.desk_scheme, running.desk_addr);
        let session: Value = http
            .post(format!("{desk}/api/v1/session"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)?;
        let token = session["token"]
            .as_str()
            .ok_or_else(|| failed("sign-in failed"))?
            .to_owned();
        let supervisor_name = if nodes.is_empty() {
            TH_USERS[0].0
        } else {
            LA_USERS[0].0
        };
        let session: Value = http
            .post(format!("{desk}/api/v1/session"))
            .json(&json!({"username": supervisor_name, "password": password}))
            .send()
            .await
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)?;
        let supervisor = session["token"]
            .as_str()
            .ok_or_else(|| failed("the supervisor's sign-in failed"))?
            .to_owned();
        nodes.push(DemoNode {
            node,
            running,
            desk,
            user,
            password,
            token,
            supervisor,
        });
    }

    let result = drive(&http, &nodes).await;
    if result.is_ok() {
        println!();
        for (n, extra) in nodes.iter().zip([&TH_USERS[..], &LA_USERS[..]]) {
            println!(
                "{}: pages {}/  API {}/api/v1  (user {}, password {})",
                n.node.config.node_id, n.desk, n.desk, n.user, n.password
            );
            let others: Vec<String> = extra
                .iter()
                .map(|(user, role, _)| format!("{user} ({})", role.replace('_', " ")))
                .collect();
            println!(
                "  also: {}; every account's password is {}",
                others.join(", "),
                n.password
            );
        }
        if !exit {
            println!("Both nodes serve until Ctrl-C.");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    for n in nodes {
        n.running.shutdown().await?;
        n.node.store.close().await;
    }
    result
}

async fn call(
    http: &reqwest::Client,
    n: &DemoNode,
    path: &str,
    body: &Value,
) -> Result<Value, CliError> {
    call_as(http, n, &n.token, path, body).await
}

async fn call_as(
    http: &reqwest::Client,
    n: &DemoNode,
    token: &str,
    path: &str,
    body: &Value,
) -> Result<Value, CliError> {
    let response = http
        .post(format!("{}{path}", n.desk))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    let text = response.text().await.map_err(failed)?;
    if !status.is_success() {
        return Err(failed(format!("{path}: {status}: {text}")));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn drive(http: &reqwest::Client, nodes: &[DemoNode]) -> Result<(), CliError> {
    let (th, la) = (&nodes[0], &nodes[1]);
    let created = call(
        http,
        th,
        "/api/v1/cases",
        &json!({"home_node": "la-molsw", "referral": demo_referral()}),
    )
    .await?;
    let case = created["id"]
        .as_str()
        .ok_or_else(|| failed("no case id"))?
        .to_owned();
    println!("\nth-msdhs drafted case {case}");
    for purpose in ["repatriation", "family_tracing", "legal_aid_sharing"] {
        let record = json!({"purpose": purpose, "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Shelter social worker"});
        call(http, th, &format!("/api/v1/cases/{case}/consents"), &record).await?;
    }
    println!(
        "th-msdhs recorded consent: repatriation, family_tracing, legal_aid_sharing (no health information)"
    );
    // A stand-in photo: generated bytes, sealed as they are uploaded.
    let photo: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let response = http
        .post(format!(
            "{}/api/v1/cases/{case}/attachments?file_name=photo.jpg&media_type=image/jpeg",
            th.desk
        ))
        .bearer_auth(&th.token)
        .body(photo)
        .send()
        .await
        .map_err(failed)?;
    if !response.status().is_success() {
        return Err(failed(format!("attachment: {}", response.status())));
    }
    println!("th-msdhs attached photo.jpg (200 kB, sealed on arrival)\n");
    // Dates from today: a return is planned for the weeks ahead.
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7));
    let day = |days: i64| {
        let d = (now + time::Duration::days(days)).date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let (first, second, charged) = (day(14), day(16), day(-1));
    let handed_over = format!("{second}T09:30:00+07:00");
    let received = format!("{second}T11:00:00+07:00");
    let plan = json!({"date": first, "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two shelter staff", "travel_document": "Certificate of identity"});
    let mut plan2 = plan.clone();
    plan2["date"] = json!(second);
    let steps: Vec<(&DemoNode, &DemoNode, &str, Value)> = vec![
        (th, la, "referral", json!({})),
        (
            la,
            th,
            "acknowledgement",
            json!({"receiving_organisation": "MoLSW", "case_worker_ref": "LA-CW-17"}),
        ),
        (
            la,
            th,
            "verification",
            json!({"identity_confirmed": true, "family_traced": true, "family_assessment": "Family safe to receive her", "placement": "family"}),
        ),
        (th, la, "return_plan", plan),
        (
            la,
            th,
            "return_counterproposal",
            json!({"date": second, "reason": "Reception team available two days later"}),
        ),
        (th, la, "return_plan", plan2),
        (
            la,
            th,
            "return_confirmation",
            json!({"reception_team": "Vientiane transit centre team", "transit_centre": "Vientiane"}),
        ),
        (
            th,
            la,
            "prosecution_update",
            json!({"milestone": "charges_filed", "date": charged, "details": "Anti-Trafficking Act s.6"}),
        ),
        (
            th,
            la,
            "handover",
            json!({"at": handed_over, "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two shelter staff", "record": "Handover form signed"}),
        ),
        (
            la,
            th,
            "reception",
            json!({"at": received, "transit_centre": "Vientiane"}),
        ),
        (
            la,
            th,
            "reintegration_update",
            json!({"month": 1, "summary": "Back at school"}),
        ),
        (
            la,
            th,
            "reintegration_update",
            json!({"month": 3, "summary": "Doing well"}),
        ),
        (la, th, "closure", json!({"outcome": "reintegrated"})),
    ];
    for (i, (mover, other, kind, fields)) in steps.into_iter().enumerate() {
        let mut body = fields;
        if kind != "referral" {
            body["schema"] = json!(format!("{kind}/1"));
        }
        let before = *other.node.events.accepted.borrow();
        let t0 = Instant::now();
        let mut moved = call(
            http,
            mover,
            &format!("/api/v1/cases/{case}/messages"),
            &json!({"kind": kind, "body": body}),
        )
        .await?;
        if moved["awaiting_approval"] == json!(true) {
            println!(
                "    {kind} held on {} for a supervisor's approval; {} approves it",
                mover.node.config.node_id,
                if std::ptr::eq(mover, th) {
                    TH_USERS[0].0
                } else {
                    LA_USERS[0].0
                }
            );
            moved = call_as(
                http,
                mover,
                &mover.supervisor,
                &format!("/api/v1/cases/{case}/approve"),
                &json!({}),
            )
            .await?;
        }
        let mut accepted = other.node.events.accepted.subscribe();
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            accepted.wait_for(|n| *n > before),
        )
        .await
        .map_err(|_| failed(format!("{kind} was not delivered within a minute")))?
        .map_err(failed)?;
        let ms = t0.elapsed().as_millis();
        let state = moved["state"].as_str().unwrap_or("?");
        let theirs = state_of(http, other, &case).await?;
        if theirs != state {
            return Err(failed(format!(
                "after {kind}: {} is {state}, {} is {theirs}",
                mover.node.config.node_id, other.node.config.node_id
            )));
        }
        println!(
            "{:>2}. {kind:<24} by {:<9} both nodes: {state:<17} delivered in {ms} ms",
            i + 1,
            mover.node.config.node_id
        );
        if kind == "referral" {
            // The Lao supervisor gives the case received to the Lao officer.
            call_as(
                http,
                la,
                &la.supervisor,
                &format!("/api/v1/cases/{case}/assign"),
                &json!({"username": la.user}),
            )
            .await?;
            println!(
                "    la-molsw: {} assigned the case to {}",
                LA_USERS[0].0, la.user
            );
        }
    }
    let listed: Value = http
        .get(format!("{}/api/v1/cases/{case}/attachments", la.desk))
        .bearer_auth(&la.token)
        .send()
        .await
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)?;
    println!(
        "\nla-molsw holds {} attachment(s) of the case, sealed to itself.",
        listed.as_array().map_or(0, Vec::len)
    );
    println!("The return is complete; both nodes agree.");
    // The legal-aid NGO may follow the criminal case (the person consented).
    call(
        http,
        th,
        &format!("/api/v1/cases/{case}/grants"),
        &json!({"org": "lpn"}),
    )
    .await?;
    println!("th-msdhs granted the prosecution track to legal-aid organisation lpn");
    Ok(())
}

async fn state_of(http: &reqwest::Client, n: &DemoNode, case: &str) -> Result<String, CliError> {
    let v: Value = http
        .get(format!("{}/api/v1/cases/{case}", n.desk))
        .bearer_auth(&n.token)
        .send()
        .await
        .map_err(failed)?
        .json()
        .await
        .map_err(failed)?;
    Ok(v["state"].as_str().unwrap_or("?").to_owned())
}

/// Accounts the demo adds to the Thai node besides its officer.
/// The Thai node's accounts besides its officer (the lawyer's organisation, lpn,
/// follows the prosecution board).
const TH_USERS: [(&str, &str, Option<&str>); 4] = [
    ("malee.supervisor", "supervisor", None),
    ("lawyer.lpn", "legal_aid", Some("lpn")),
    ("admin.th", "admin", None),
    ("auditor.th", "auditor", None),
];

/// The Lao node's accounts besides its officer.
const LA_USERS: [(&str, &str, Option<&str>); 3] = [
    ("bounmy.supervisor", "supervisor", None),
    ("admin.la", "admin", None),
    ("auditor.la", "auditor", None),
];

/// A made-up person: the demo never holds anyone's real data.
fn demo_referral() -> Value {
    json!({
        "schema": "referral/1",
        "person": {
            "names": {"lo": "ນາງ ຕົວຢ່າງ", "th": "นาง ตัวอย่าง", "latin": "Nang Toyang"},
            "gender": "Feminine",
            "birth_date": {"date": "2009-03-01", "estimated": true},
            "age_at_identification": 16
        },
        "origin": {"province": "LA-SV", "district": "Kaysone Phomvihane", "village": "Ban Example"},
        "family_contacts": [{"relation": "mother", "names": {"latin": "Mae Toyang"}, "phone": "+856 20 0000 0000"}],
        "exploitation": {"types": ["ForcedLabour"], "means_of_control": ["DebtBondage", "WithholdsDocuments"], "summary": "Garment workshop"},
        "needs": "Counselling; continue schooling",
        "health": "Stays at the host shelter without consent"
    })
}
