//! The peer's moves, applied inside the transaction that accepts their envelope:
//! the home side's copy of a case begins with the referral; every later move is
//! checked with `domain::sop::receive` and recorded as applied, superseded or
//! conflict.

use sqlx::AnyConnection;

use super::AppError;
use super::attachments::record_received;
use super::audit::{self, Entry};
use super::cases::{draft_row, parse_side, peer_of, record, seal_to_self, status_of};
use crate::crypto::seal::open_bytes;
use crate::domain::messages::{self, Body};
use crate::domain::sop::{self, Arrival, Kind, Side, State, Status};
use crate::node::Node;
use crate::store::cases;
use crate::store::millis;

/// Applies a move the peer made, inside the transaction that accepts its envelope.
/// Returns what it did (`applied`, `superseded`, `conflict`), or `None` for a
/// message that concerns no case.
#[allow(clippy::too_many_arguments)]
pub async fn apply_incoming(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    kind: &str,
    case: Option<&str>,
    sealed_body: &[u8],
    jti: &str,
    now: time::OffsetDateTime,
) -> Result<Option<&'static str>, AppError> {
    let outcome = apply_move(conn, node, peer, kind, case, sealed_body, jti, now).await?;
    if let Some(outcome) = outcome {
        let actor = format!("peer:{peer}");
        let detail = format!("kind={kind} outcome={outcome}");
        let entry = Entry {
            actor: &actor,
            action: "case.receive",
            case_id: case,
            detail: &detail,
        };
        audit::record(conn, entry, now).await?;
    }
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn apply_move(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    kind: &str,
    case: Option<&str>,
    sealed_body: &[u8],
    jti: &str,
    now: time::OffsetDateTime,
) -> Result<Option<&'static str>, AppError> {
    let (Some(kind), Some(case_id)) = (Kind::parse(kind), case) else {
        return Ok(None);
    };
    let body: Option<serde_json::Value> = open_bytes(node.age.all(), sealed_body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let parsed = body.as_ref().map(|b| messages::parse(kind, b));
    let existing = cases::get_for_update(conn, case_id).await?;
    let (Some(body), Some(Ok(parsed))) = (body, parsed) else {
        tracing::warn!(%peer, kind = kind.as_str(), "a move arrived with a body that does not open or parse; flagged");
        return Ok(Some("conflict"));
    };
    let Some(mut row) = existing else {
        if kind != Kind::Referral {
            tracing::warn!(%peer, kind = kind.as_str(), "a move arrived for an unknown case; flagged");
            return Ok(Some("conflict"));
        }
        // The home side's copy of the case begins with the referral.
        let plaintext = serde_json::to_vec(&body).map_err(|_| AppError::Seal)?;
        let next = Status {
            state: State::Referred,
            turn: Some(Side::Home),
        };
        let home = node.config.node_id.to_string();
        let sealed = seal_to_self(node, &plaintext)?;
        let mut row = draft_row(case_id, peer, &home, Side::Home, sealed, now);
        cases::insert(conn, &row).await?;
        super::search::index(conn, node, case_id, &body).await?;
        if let Body::Referral(r) = &parsed {
            // What the person consented to, as the host recorded it.
            let record = seal_to_self(node, br#"{"received_with_referral":true}"#)?;
            for purpose in &r.consented {
                cases::set_consent(conn, case_id, purpose.as_str(), true, &record, millis(now))
                    .await?;
            }
            record_received(node, conn, case_id, &r.attachments, now).await?;
        }
        record(
            conn,
            node,
            &mut row,
            Side::Host,
            kind,
            &parsed,
            next,
            "applied",
            Some(jti.to_owned()),
            &body,
            now,
        )
        .await?;
        return Ok(Some("applied"));
    };
    let peer_side = parse_side(&row.our_side).other();
    let peer_is_party = peer_of(&row) == peer;
    let (outcome, next) = match sop::receive(status_of(&row), peer_side, parsed.sop_move(kind)) {
        _ if !peer_is_party => ("conflict", status_of(&row)),
        Arrival::Apply(next) => ("applied", next),
        Arrival::Superseded => ("superseded", status_of(&row)),
        Arrival::Conflict(refusal) => {
            tracing::warn!(%peer, kind = kind.as_str(), reason = %refusal, "a move that fits nothing arrived; flagged");
            ("conflict", status_of(&row))
        }
    };
    // A correction is made to our copy of the referral; one that would not leave
    // a referral is flagged instead.
    let (outcome, next) = match (&parsed, outcome) {
        (Body::Correction(c), "applied") => {
            let file = super::cases::open_sealed(node, &row.sealed);
            match file.map(|f| messages::corrected(&f, &c.changes)) {
                Some(Ok(file)) => {
                    let plaintext = serde_json::to_vec(&file).map_err(|_| AppError::Seal)?;
                    row.sealed = seal_to_self(node, &plaintext)?;
                    super::search::index(conn, node, case_id, &file).await?;
                    if let Ok(referral) = messages::parse(Kind::Referral, &file) {
                        super::cases::clear_facts(&mut row, &referral);
                    }
                    ("applied", next)
                }
                _ => {
                    tracing::warn!(%peer, "a correction that does not fit the referral arrived; flagged");
                    ("conflict", status_of(&row))
                }
            }
        }
        _ => (outcome, next),
    };
    // Documents the move brought, unless it was flagged.
    if outcome != "conflict" {
        record_received(node, conn, case_id, parsed.carried().1, now).await?;
    }
    record(
        conn,
        node,
        &mut row,
        peer_side,
        kind,
        &parsed,
        next,
        outcome,
        Some(jti.to_owned()),
        &body,
        now,
    )
    .await?;
    Ok(Some(outcome))
}
