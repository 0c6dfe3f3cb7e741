//! Cases between two real nodes: every move decided by the same state machine on
//! both sides, both copies agreeing after each delivery, and nothing identifying in
//! the clear on disk.

use mittaphap::app::AppError as CaseError;
use mittaphap::app::cases::{create_draft, open_sealed, record_consent, status_of};
use mittaphap::app::moves::make_move;
use mittaphap::node::Node;
use mittaphap::store::{cases, outbox};
use serde_json::{Value, json};

use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider, wait_for};
use crate::on_both_backends;

pub fn referral() -> Value {
    json!({
        "schema": "referral/1",
        "person": {
            "names": {"lo": "ນາງ ແກ້ວມະນີ", "th": "นาง แก้วมณี", "latin": "Nang Keomany"},
            "gender": "Feminine",
            "birth_date": {"date": "2009-03-01", "estimated": true},
            "age_at_identification": 16
        },
        "identity_documents": [{"kind": "family_book", "number": "SV-778812"}],
        "origin": {"province": "LA-SV", "district": "Kaysone Phomvihane", "village": "Ban Nongdouang"},
        "family_contacts": [{"relation": "mother", "names": {"latin": "Mae Bouavanh"}, "phone": "+856 20 5555 1234"}],
        "exploitation": {"types": ["ForcedLabour"], "means_of_control": ["DebtBondage"], "summary": "Garment workshop"},
        "needs": "Counselling; continue schooling",
        "health": "Injury to the left hand"
    })
}

pub async fn consent(node: &Node, case: uuid::Uuid, purpose: &str) {
    let record = json!({"purpose": purpose, "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Shelter social worker"});
    record_consent(
        node,
        "tester",
        case,
        &record,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
}

/// The home node's sealed copy of the case file, opened.
async fn case_file(node: &Node, case: uuid::Uuid) -> Value {
    let mut conn = node.store.pool().acquire().await.unwrap();
    let row = cases::get(&mut conn, &case.to_string())
        .await
        .unwrap()
        .unwrap();
    open_sealed(node, &row.sealed).unwrap()
}

fn body(kind: &str, fields: Value) -> Value {
    let mut b = fields;
    b["schema"] = json!(format!("{kind}/1"));
    b
}

async fn status(node: &Node, case: uuid::Uuid) -> (String, Option<String>) {
    let mut conn = node.store.pool().acquire().await.unwrap();
    let row = cases::get(&mut conn, &case.to_string())
        .await
        .unwrap()
        .expect("case exists");
    (row.state, row.turn)
}

/// Makes a move on `mover` and waits until `other` has accepted it; both copies
/// must then be in `state`.
pub async fn step(
    mover: &Node,
    other: &Node,
    case: uuid::Uuid,
    kind: &str,
    fields: Value,
    state: &str,
) {
    let before = *other.events.accepted.borrow();
    make_move(
        mover,
        "tester",
        case,
        kind,
        &body(kind, fields),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap_or_else(|e| panic!("{kind}: {e}"));
    wait_for(&other.events.accepted, before + 1, kind).await;
    let (a, b) = (status(mover, case).await, status(other, case).await);
    assert_eq!(a.0, state, "{kind}: mover's copy");
    assert_eq!(a, b, "{kind}: both copies agree");
}

async fn full_return(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let now = time::OffsetDateTime::now_utc();
    let case = create_draft(&th, "tester", "la-molsw", &referral(), now)
        .await
        .unwrap();
    assert_eq!(
        status(&th, case).await,
        ("draft".into(), Some("host".into()))
    );

    consent(&th, case, "repatriation").await;

    step(&th, &la, case, "referral", json!({}), "referred").await;
    // No consent to share health information: it stayed on the host's side.
    let file = case_file(&la, case).await;
    assert_eq!(file["person"]["names"]["latin"], "Nang Keomany");
    assert!(
        file.get("health").is_none(),
        "health left out of the referral"
    );
    step(
        &la,
        &th,
        case,
        "acknowledgement",
        json!({"receiving_organisation": "MoLSW", "case_worker_ref": "CW-17"}),
        "acknowledged",
    )
    .await;
    step(&la, &th, case, "verification", json!({"identity_confirmed": true, "family_traced": true, "family_assessment": "Safe", "placement": "family"}), "verified").await;
    let plan = json!({"date": "2030-12-10", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two staff", "travel_document": "CI"});
    step(
        &th,
        &la,
        case,
        "return_plan",
        plan.clone(),
        "return_planned",
    )
    .await;
    assert_eq!(status(&la, case).await.1.as_deref(), Some("home"));
    step(
        &la,
        &th,
        case,
        "return_counterproposal",
        json!({"date": "2030-12-12", "reason": "Team away on the 10th"}),
        "return_planned",
    )
    .await;
    assert_eq!(status(&th, case).await.1.as_deref(), Some("host"));
    let mut plan2 = plan.clone();
    plan2["date"] = json!("2030-12-12");
    step(&th, &la, case, "return_plan", plan2, "return_planned").await;
    step(
        &la,
        &th,
        case,
        "return_confirmation",
        json!({"reception_team": "Transit team", "transit_centre": "Vientiane"}),
        "return_confirmed",
    )
    .await;
    // The agreed day, clear on both sides for the handover reminder (not due yet).
    for node in [&th, &la] {
        let listed = mittaphap::app::case_view::list(
            node,
            None,
            None,
            mittaphap::app::case_view::Which::All,
            mittaphap::app::case_view::Held::Any,
        )
        .await
        .unwrap();
        assert_eq!(listed[0].return_date.as_deref(), Some("2030-12-12"));
        assert!(listed[0].overdue.is_empty(), "{:?}", listed[0].overdue);
    }
    step(
        &th,
        &la,
        case,
        "prosecution_update",
        json!({"milestone": "charges_filed", "date": "2026-12-01"}),
        "return_confirmed",
    )
    .await;
    step(&th, &la, case, "handover", json!({"at": "2030-12-12T09:30:00+07:00", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two staff", "record": "Form 7"}), "handed_over").await;
    step(
        &la,
        &th,
        case,
        "reception",
        json!({"at": "2030-12-12T11:00:00+07:00", "transit_centre": "Vientiane"}),
        "received",
    )
    .await;
    step(
        &la,
        &th,
        case,
        "reintegration_update",
        json!({"month": 1, "summary": "Back at school"}),
        "reintegrating",
    )
    .await;
    step(
        &la,
        &th,
        case,
        "reintegration_update",
        json!({"month": 3, "summary": "Doing well"}),
        "reintegrating",
    )
    .await;
    step(
        &la,
        &th,
        case,
        "closure",
        json!({"outcome": "reintegrated"}),
        "closed",
    )
    .await;

    // Both timelines hold every move, in the same order.
    let kinds = |n: &Node| {
        let n = n.store.clone();
        async move {
            let mut conn = n.pool().acquire().await.unwrap();
            cases::events(&mut conn, &case.to_string())
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.kind, e.outcome))
                .collect::<Vec<_>>()
        }
    };
    let (a, b) = (kinds(&th).await, kinds(&la).await);
    assert_eq!(a, b);
    assert_eq!(a.len(), 13);
    assert!(a.iter().all(|(_, outcome)| outcome == "applied"));

    // Clear columns: what the statistics need, and nothing more.
    let mut conn = la.store.pool().acquire().await.unwrap();
    let row = cases::get(&mut conn, &case.to_string())
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(row.gender.as_deref(), Some("Feminine"));
    assert_eq!(row.province_of_origin.as_deref(), Some("LA-SV"));
    assert_eq!(row.crossing_point.as_deref(), Some("nong_khai_vientiane"));
    assert_eq!(row.prosecution_milestone.as_deref(), Some("charges_filed"));

    // Every move is in each node's audit chain, which verifies; editing one row
    // breaks it exactly there.
    for (node, made, received) in [(&th, 5, 8), (&la, 8, 5)] {
        let mut conn = node.store.pool().acquire().await.unwrap();
        let rows = mittaphap::store::audit::all(&mut conn).await.unwrap();
        assert_eq!(mittaphap::app::audit::verify(&rows), Ok(rows.len()));
        let count = |action: &str| rows.iter().filter(|r| r.action == action).count();
        assert_eq!(
            (count("case.move"), count("case.receive")),
            (made, received)
        );
        assert!(rows.iter().all(|r| !r.detail.contains("Keomany")));
    }
    sqlx::query("UPDATE audit_log SET detail = 'kind=closure state=closed' WHERE position = 3")
        .execute(th.store.pool())
        .await
        .unwrap();
    let mut conn = th.store.pool().acquire().await.unwrap();
    let rows = mittaphap::store::audit::all(&mut conn).await.unwrap();
    drop(conn);
    assert_eq!(
        mittaphap::app::audit::verify(&rows).map_err(|b| b.position),
        Err(3)
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();

    // Nothing that identifies the person is on disk in the clear (SQLite: the
    // database, its WAL, and every blob and staged file).
    if let Backend::Sqlite = backend {
        for dir in [&th_dir.dir, &la_dir.dir] {
            for (path, (_, bytes)) in crate::helpers::snapshot(&dir.join("data")) {
                for secret in [
                    "Keomany",
                    "แก้วมณี",
                    "ແກ້ວມະນີ",
                    "5555 1234",
                    "SV-778812",
                    "Injury",
                    "Nongdouang",
                ] {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{secret:?} in the clear in {}",
                        path.display()
                    );
                }
            }
        }
    }
}
on_both_backends!(full_return);

async fn decline_out_of_turn_and_bad_bodies(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let now = time::OffsetDateTime::now_utc();

    // A bad draft is refused with the field named, and nothing is stored.
    let mut bad = referral();
    bad["origin"]["province"] = json!("LA-ZZ");
    match create_draft(&th, "tester", "la-molsw", &bad, now).await {
        Err(CaseError::Invalid(e)) => assert_eq!(e.field, "origin.province"),
        other => panic!("{other:?}"),
    }

    let case = create_draft(&th, "tester", "la-molsw", &referral(), now)
        .await
        .unwrap();
    let queued = |n: &Node| {
        let s = n.store.clone();
        async move {
            let mut conn = s.pool().acquire().await.unwrap();
            outbox::summary(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|p| p.queued + p.delivered)
                .sum::<i64>()
        }
    };
    // No referral without the person's consent to return; nothing is sent.
    match make_move(&th, "tester", case, "referral", &json!({}), now).await {
        Err(CaseError::Conflict(m)) => assert!(m.contains("consent to repatriation"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(queued(&th).await, 0);
    assert_eq!(status(&th, case).await.0, "draft");
    consent(&th, case, "repatriation").await;
    consent(&th, case, "health_information").await;
    step(&th, &la, case, "referral", json!({}), "referred").await;
    assert_eq!(
        case_file(&la, case).await["health"],
        "Injury to the left hand",
        "shared with consent"
    );
    let sent_before = queued(&th).await;
    // Out of turn: it is the home side's turn.
    let plan = body(
        "return_plan",
        json!({"date": "2030-12-10", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "x", "travel_document": "y"}),
    );
    match make_move(&th, "tester", case, "return_plan", &plan, now).await {
        Err(CaseError::Refused(r)) => assert!(r.to_string().contains("home's turn"), "{r}"),
        other => panic!("{other:?}"),
    }
    // A bad body: wrong type, missing field.
    let ack = body(
        "acknowledgement",
        json!({"receiving_organisation": 5, "case_worker_ref": "x"}),
    );
    match make_move(&la, "tester", case, "acknowledgement", &ack, now).await {
        Err(CaseError::Invalid(e)) => assert_eq!(e.field, "receiving_organisation"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        make_move(&la, "tester", case, "gossip", &json!({}), now).await,
        Err(CaseError::UnknownKind(_))
    ));
    assert_eq!(queued(&th).await, sent_before, "nothing sent");
    assert_eq!(status(&th, case).await.0, "referred");

    step(
        &la,
        &th,
        case,
        "decline",
        json!({"reason": "Not a national"}),
        "declined",
    )
    .await;
    assert_eq!(status(&la, case).await, ("declined".into(), None));
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(decline_out_of_turn_and_bad_bodies);

/// The host withdraws while the home side acknowledges: the messages cross, and
/// both copies end withdrawn (the acknowledgement is recorded as superseded).
async fn withdrawal_crossing_a_move(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let now = time::OffsetDateTime::now_utc();
    let case = create_draft(&th, "tester", "la-molsw", &referral(), now)
        .await
        .unwrap();
    consent(&th, case, "repatriation").await;
    step(&th, &la, case, "referral", json!({}), "referred").await;
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
    drop((th, la));

    // Both move while neither can deliver.
    let (th, la) = (th_dir.open().await, la_dir.open().await);
    make_move(
        &th,
        "tester",
        case,
        "withdrawal",
        &body("withdrawal", json!({"reason": "consent_withdrawn"})),
        now,
    )
    .await
    .unwrap();
    make_move(
        &la,
        "tester",
        case,
        "acknowledgement",
        &body(
            "acknowledgement",
            json!({"receiving_organisation": "MoLSW", "case_worker_ref": "CW"}),
        ),
        now,
    )
    .await
    .unwrap();
    drop((th, la));
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    wait_for(&th.events.accepted, 1, "th accepted").await;
    wait_for(&la.events.accepted, 1, "la accepted").await;
    assert_eq!(status(&th, case).await, ("withdrawn".into(), None));
    assert_eq!(status(&la, case).await, ("withdrawn".into(), None));
    let mut conn = th.store.pool().acquire().await.unwrap();
    let events = cases::events(&mut conn, &case.to_string()).await.unwrap();
    drop(conn);
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.outcome.as_str()),
        ("acknowledgement", "superseded")
    );
    let row = {
        let mut conn = la.store.pool().acquire().await.unwrap();
        cases::get(&mut conn, &case.to_string())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        status_of(&row).state,
        mittaphap::domain::sop::State::Withdrawn
    );
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(withdrawal_crossing_a_move);
