//! Cases: the moves our case workers make and the moves that arrive from the peer,
//! decided by the same state machine (`domain::sop`) on both nodes. This file holds
//! what both share (sealing to ourselves, the clear columns, the timeline entry of
//! a move), the draft and its consents; `moves` makes ours, `incoming` applies the
//! peer's, `attachments` handles files, `case_view` reads a case.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::AnyConnection;

use super::AppError;
use super::audit::{self, Entry};
use crate::crypto::seal::{open_bytes, seal_bytes};
use crate::domain::consent::ConsentRecord;
use crate::domain::messages::{self, Body, Milestone};
use crate::domain::prosecution::milestone_name;
use crate::domain::sop::{Kind, Side, State, Status};
use crate::node::Node;
use crate::store::cases::{self, CaseRow, EventRow};
use crate::store::{millis, peers, prosecution};

pub(super) fn side_name(side: Side) -> String {
    side.as_str().to_owned()
}

pub(super) fn parse_side(s: &str) -> Side {
    if s == "home" { Side::Home } else { Side::Host }
}

pub fn status_of(row: &CaseRow) -> Status {
    Status {
        state: State::parse(&row.state).unwrap_or(State::Draft),
        turn: row.turn.as_deref().map(parse_side),
    }
}

pub(super) fn seal_to_self(node: &Node, plaintext: &[u8]) -> Result<String, AppError> {
    let sealed =
        seal_bytes(&[node.age.identity().to_public()], plaintext).map_err(|_| AppError::Seal)?;
    Ok(STANDARD.encode(sealed))
}

/// Opens a value this node sealed to itself (an authorised read; audit it).
pub fn open_sealed(node: &Node, sealed: &str) -> Option<serde_json::Value> {
    let bytes = STANDARD.decode(sealed).ok()?;
    serde_json::from_slice(&open_bytes(node.age.all(), &bytes).ok()?).ok()
}

/// Copies into the clear columns what the statistics may know of a body.
pub(super) fn clear_facts(row: &mut CaseRow, body: &Body) {
    fn name<T: serde::Serialize>(v: &T) -> Option<String> {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }
    match body {
        Body::Referral(r) => {
            row.gender = name(&r.person.gender);
            row.age_at_identification = r.person.age_at_identification.map(i64::from);
            row.exploitation_types = Some(
                r.exploitation
                    .types
                    .iter()
                    .filter_map(name)
                    .collect::<Vec<_>>()
                    .join(","),
            );
            row.province_of_origin = Some(r.origin.province.as_str().to_owned());
        }
        Body::ReturnPlan(p) => {
            row.crossing_point = name(&p.crossing.point);
            row.return_date = name(&p.date);
        }
        Body::ReturnCounterproposal(c) => {
            if let Some(c) = &c.crossing {
                row.crossing_point = name(&c.point);
            }
            if let Some(d) = &c.date {
                row.return_date = name(d);
            }
        }
        Body::Handover(h) => row.crossing_point = name(&h.crossing.point),
        Body::ProsecutionUpdate(p) => row.prosecution_milestone = name(&p.milestone),
        _ => {}
    }
}

/// A case as it begins on either side: a draft, the host's turn. The home side's
/// copy is then moved to `referred` by the referral it began with.
pub(super) fn draft_row(
    case_id: &str,
    host: &str,
    home: &str,
    ours: Side,
    sealed: String,
    now: time::OffsetDateTime,
) -> CaseRow {
    CaseRow {
        case_id: case_id.to_owned(),
        host_node: host.to_owned(),
        home_node: home.to_owned(),
        our_side: side_name(ours),
        state: State::Draft.as_str().to_owned(),
        turn: Some(side_name(Side::Host)),
        gender: None,
        age_at_identification: None,
        exploitation_types: None,
        province_of_origin: None,
        crossing_point: None,
        prosecution_milestone: None,
        sealed,
        created_at: millis(now),
        updated_at: millis(now),
        purged_at: None,
        testimony_pending: 0,
        owner: None,
        return_date: None,
    }
}

/// The calendar day at both nodes (Asia/Bangkok and Asia/Vientiane are UTC+7).
pub(super) fn today(now: time::OffsetDateTime) -> time::Date {
    now.to_offset(time::macros::offset!(+7)).date()
}

/// The other party of a case: the home node when we host it, else the host.
pub fn peer_of(row: &CaseRow) -> &str {
    if parse_side(&row.our_side) == Side::Host {
        &row.home_node
    } else {
        &row.host_node
    }
}

/// Opens a draft referral on our (host) side, for `home_node`. Returns the case id.
pub async fn create_draft(
    node: &Node,
    actor: &str,
    home_node: &str,
    referral: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<uuid::Uuid, AppError> {
    let body = messages::parse_on(Kind::Referral, referral, today(now))?;
    let case_id = uuid::Uuid::now_v7();
    let plaintext = serde_json::to_vec(referral).map_err(|_| AppError::Seal)?;
    let mut tx = node.store.begin().await?;
    if peers::get(&mut tx, home_node).await?.is_none() {
        return Err(AppError::Conflict(
            "home_node is not a registered peer".into(),
        ));
    }
    let host = node.config.node_id.to_string();
    let sealed = seal_to_self(node, &plaintext)?;
    let mut row = draft_row(
        &case_id.to_string(),
        &host,
        home_node,
        Side::Host,
        sealed,
        now,
    );
    clear_facts(&mut row, &body);
    // Whoever drafts a referral holds it.
    row.owner = Some(actor.to_owned());
    cases::insert(&mut tx, &row).await?;
    super::search::index(&mut tx, node, &row.case_id, referral).await?;
    let detail = format!("home_node={home_node}");
    let entry = Entry {
        actor,
        action: "case.create",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(case_id)
}

/// Replaces the referral of a draft of ours (and, while it is a draft, the home
/// node it is for), audited. After the referral the file is the other side's
/// too: a change is then a move they see.
pub async fn edit_draft(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    home_node: Option<&str>,
    referral: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let body = messages::parse_on(Kind::Referral, referral, today(now))?;
    let plaintext = serde_json::to_vec(referral).map_err(|_| AppError::Seal)?;
    let mut tx = node.store.begin().await?;
    let mut row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    if row.state != State::Draft.as_str() || parse_side(&row.our_side) != Side::Host {
        return Err(AppError::Conflict(
            "only a draft of ours can be edited: after the referral, send the change as a move"
                .into(),
        ));
    }
    if let Some(home) = home_node.filter(|h| *h != row.home_node) {
        if peers::get(&mut tx, home).await?.is_none() {
            return Err(AppError::Conflict(
                "home_node is not a registered peer".into(),
            ));
        }
        cases::set_home_node(&mut tx, &row.case_id, home).await?;
    }
    row.sealed = seal_to_self(node, &plaintext)?;
    clear_facts(&mut row, &body);
    row.updated_at = millis(now);
    cases::update(&mut tx, &row).await?;
    super::search::index(&mut tx, node, &row.case_id, referral).await?;
    let detail = format!("home_node={}", home_node.unwrap_or(&row.home_node));
    let entry = Entry {
        actor,
        action: "case.edit",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Records a consent on a case of ours (the draft, usually). The record is sealed.
pub async fn record_consent(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    record: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let record: ConsentRecord =
        serde_path_to_error::deserialize(record).map_err(|e| messages::path_error(&e))?;
    record.check()?;
    let sealed = seal_to_self(
        node,
        &serde_json::to_vec(&record).map_err(|_| AppError::Seal)?,
    )?;
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    if row.our_side != "host" {
        return Err(AppError::Conflict(
            "consent is recorded by the host side, where the person is".into(),
        ));
    }
    cases::set_consent(
        &mut tx,
        &row.case_id,
        record.purpose.as_str(),
        record.granted,
        &sealed,
        millis(now),
    )
    .await?;
    let detail = format!(
        "purpose={} granted={}",
        record.purpose.as_str(),
        record.granted
    );
    let entry = Entry {
        actor,
        action: "case.consent",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// What an applied move does to the prosecution track, on either side.
async fn advance_track(
    conn: &mut AnyConnection,
    row: &mut CaseRow,
    parsed: &Body,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    match parsed {
        Body::ProsecutionUpdate(u) => {
            prosecution::append_milestone(
                conn,
                &row.case_id,
                &milestone_name(u.milestone),
                millis(now),
            )
            .await?;
            match u.milestone {
                Milestone::TestimonyRequested => row.testimony_pending = 1,
                Milestone::TestimonyGiven => row.testimony_pending = 0,
                _ => {}
            }
        }
        Body::TestimonyArrangement(_) => row.testimony_pending = 0,
        _ => {}
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
    conn: &mut AnyConnection,
    node: &Node,
    row: &mut CaseRow,
    made_by: Side,
    kind: Kind,
    parsed: &Body,
    next: Status,
    outcome: &str,
    jti: Option<String>,
    body: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    if outcome == "applied" {
        row.state = next.state.as_str().to_owned();
        row.turn = next.turn.map(side_name);
        clear_facts(row, parsed);
        advance_track(conn, row, parsed, now).await?;
    }
    row.updated_at = millis(now);
    cases::update(conn, row).await?;
    let plaintext = serde_json::to_vec(body).map_err(|_| AppError::Seal)?;
    cases::append_event(
        conn,
        &EventRow {
            case_id: row.case_id.clone(),
            position: 0,
            made_by: side_name(made_by),
            kind: kind.as_str().to_owned(),
            outcome: outcome.to_owned(),
            state_after: row.state.clone(),
            jti,
            body: seal_to_self(node, &plaintext)?,
            at: millis(now),
        },
    )
    .await?;
    Ok(())
}
