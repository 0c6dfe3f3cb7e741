//! Our own moves, given back by the peer after this node was restored from a
//! backup (or lost its WAL): applied to our copies of the cases as the moves we
//! made, inside the transaction that puts their envelopes back in our outbox
//! (`federation::recover`). The envelope proves the move is ours (our signature)
//! and the body is the one it carried (its hash); we open it ourselves.

use sqlx::AnyConnection;

use super::AppError;
use super::audit::{self, Entry};
use super::cases::{draft_row, parse_side, record, seal_to_self, status_of};
use crate::domain::messages::{self, Body};
use crate::domain::sop::{self, Kind, Side, Status};
use crate::node::Node;
use crate::store::{cases, millis};

/// Applies one of our own moves recovered from `peer` (`body` `None` when it no
/// longer opens: sent before bodies were sealed to ourselves too, or destroyed by
/// retention). Returns what it did, or `None` for a message about no case.
#[allow(clippy::too_many_arguments)]
pub async fn apply_own(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    kind: &str,
    case: Option<&str>,
    body: Option<serde_json::Value>,
    jti: &str,
    at: time::OffsetDateTime,
) -> Result<Option<&'static str>, AppError> {
    let (Some(kind), Some(case_id)) = (Kind::parse(kind), case) else {
        return Ok(None);
    };
    let outcome = apply(conn, node, peer, kind, case_id, body, jti, at).await?;
    let detail = format!(
        "kind={} outcome={outcome} recovered_from={peer}",
        kind.as_str()
    );
    let entry = Entry {
        actor: "recovery",
        action: "case.move",
        case_id: Some(case_id),
        detail: &detail,
    };
    audit::record(conn, entry, at).await?;
    Ok(Some(outcome))
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    kind: Kind,
    case_id: &str,
    body: Option<serde_json::Value>,
    jti: &str,
    at: time::OffsetDateTime,
) -> Result<&'static str, AppError> {
    let existing = cases::get_for_update(conn, case_id).await?;
    let parsed = body.as_ref().map(|b| messages::parse(kind, b));
    let (Some(body), Some(Ok(parsed))) = (body, parsed) else {
        tracing::warn!(%peer, kind = kind.as_str(), "a recovered move of ours does not open; its envelope is back, its content is not");
        return Ok("conflict");
    };
    let mut row = match existing {
        Some(row) => row,
        // A case drafted after the backup: it begins again with what was sent.
        None if kind == Kind::Referral => {
            let plaintext = serde_json::to_vec(&body).map_err(|_| AppError::Seal)?;
            let sealed = seal_to_self(node, &plaintext)?;
            let host = node.config.node_id.to_string();
            let row = draft_row(case_id, &host, peer, Side::Host, sealed, at);
            cases::insert(conn, &row).await?;
            super::search::index(conn, node, case_id, &body).await?;
            if let Body::Referral(r) = &parsed {
                let record = seal_to_self(node, br#"{"recovered_with_referral":true}"#)?;
                for purpose in &r.consented {
                    cases::set_consent(conn, case_id, purpose.as_str(), true, &record, millis(at))
                        .await?;
                }
            }
            row
        }
        None => {
            tracing::warn!(%peer, kind = kind.as_str(), "a recovered move of ours names a case this node does not hold; flagged");
            return Ok("conflict");
        }
    };
    let ours = parse_side(&row.our_side);
    let (outcome, next): (&'static str, Status) =
        match sop::decide(status_of(&row), ours, parsed.sop_move(kind)) {
            Ok(next) => ("applied", next),
            Err(_) => ("conflict", status_of(&row)),
        };
    if let (Body::Correction(c), "applied") = (&parsed, outcome)
        && let Some(file) = super::cases::open_sealed(node, &row.sealed)
        && let Ok(file) = messages::corrected(&file, &c.changes)
    {
        let plaintext = serde_json::to_vec(&file).map_err(|_| AppError::Seal)?;
        row.sealed = seal_to_self(node, &plaintext)?;
        super::search::index(conn, node, case_id, &file).await?;
    }
    record(
        conn,
        node,
        &mut row,
        ours,
        kind,
        &parsed,
        next,
        outcome,
        Some(jti.to_owned()),
        &body,
        at,
    )
    .await?;
    Ok(outcome)
}
