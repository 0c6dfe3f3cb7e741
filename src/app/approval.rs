//! Four eyes: the move kinds a node names in `[workflow] approve` are checked when
//! an officer makes them, then held (nothing is sent) until a supervisor other
//! than their author approves them, or returns them with a reason.

use sqlx::AnyConnection;

use super::AppError;
use super::audit::{self, Entry};
use super::cases::{open_sealed, parse_side, seal_to_self};
use super::moves::{Moved, move_as};
use crate::domain::policy::{Action, Role, allows};
use crate::domain::sop::Kind;
use crate::node::Node;
use crate::store::cases::{self, CaseRow, EventRow};
use crate::store::millis;
use crate::store::pending::{self, PendingRow};

/// Whether this node approves `kind` moves before they are sent.
pub fn needed(node: &Node, kind: Kind) -> bool {
    node.config
        .workflow
        .approve
        .iter()
        .any(|k| k == kind.as_str())
}

/// A move on this node's timeline only (asked, approved, returned).
async fn local_event(
    conn: &mut AnyConnection,
    node: &Node,
    row: &CaseRow,
    kind: &str,
    body: serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    cases::append_event(
        conn,
        &EventRow {
            case_id: row.case_id.clone(),
            position: 0,
            made_by: parse_side(&row.our_side).as_str().to_owned(),
            kind: kind.to_owned(),
            outcome: "applied".into(),
            state_after: row.state.clone(),
            jti: None,
            body: seal_to_self(
                node,
                &serde_json::to_vec(&body).map_err(|_| AppError::Seal)?,
            )?,
            at: millis(now),
        },
    )
    .await?;
    Ok(())
}

/// Holds `author`'s checked move until it is approved.
pub(super) async fn hold(
    conn: &mut AnyConnection,
    node: &Node,
    row: &CaseRow,
    author: &str,
    kind: Kind,
    body: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let sealed = seal_to_self(node, &serde_json::to_vec(body).map_err(|_| AppError::Seal)?)?;
    pending::insert(
        conn,
        &PendingRow {
            case_id: row.case_id.clone(),
            kind: kind.as_str().to_owned(),
            body: sealed,
            author: author.to_owned(),
            created_at: millis(now),
        },
    )
    .await?;
    let step = serde_json::json!({"kind": kind.as_str(), "by": author});
    local_event(conn, node, row, "approval_requested", step, now).await?;
    let detail = format!("kind={}", kind.as_str());
    let entry = Entry {
        actor: author,
        action: "case.approval_asked",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(conn, entry, now).await?;
    Ok(())
}

/// What awaits approval on a case: its kind and author.
pub async fn pending_of(node: &Node, case_id: &str) -> Result<Option<(String, String)>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    Ok(pending::get(&mut conn, case_id)
        .await?
        .map(|p| (p.kind, p.author)))
}

/// A supervisor approves the held move: it is decided again and sent, as its
/// author's. Its author cannot approve it.
pub async fn approve(
    node: &Node,
    supervisor: &str,
    role: Role,
    case_id: uuid::Uuid,
    now: time::OffsetDateTime,
) -> Result<Moved, AppError> {
    if !allows(role, Action::Assign) {
        return Err(AppError::Forbidden);
    }
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    let held = pending::get(&mut tx, &row.case_id)
        .await?
        .ok_or_else(|| AppError::Conflict("nothing awaits approval on this case".into()))?;
    if held.author == supervisor {
        return Err(AppError::Conflict(
            "a step is approved by someone other than its author".into(),
        ));
    }
    let body = open_sealed(node, &held.body).ok_or(AppError::Seal)?;
    pending::delete(&mut tx, &row.case_id).await?;
    let step = serde_json::json!({"kind": held.kind, "by": supervisor});
    local_event(&mut tx, node, &row, "approval_given", step, now).await?;
    let detail = format!("kind={} author={}", held.kind, held.author);
    let entry = Entry {
        actor: supervisor,
        action: "case.approve",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    // Decided again now: the case may have moved since.
    move_as(
        node,
        &held.author,
        case_id,
        &held.kind,
        &body,
        now,
        Some(supervisor),
    )
    .await
}

/// A supervisor returns the held move to its author, with a reason: nothing is
/// sent.
pub async fn return_to_author(
    node: &Node,
    supervisor: &str,
    role: Role,
    case_id: uuid::Uuid,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    if !allows(role, Action::Assign) {
        return Err(AppError::Forbidden);
    }
    if reason.trim().is_empty() || reason.chars().count() > 2000 {
        return Err(AppError::Invalid(crate::domain::BodyError::coded(
            "reason",
            "required",
            "why it is returned, 1 to 2000 characters",
        )));
    }
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    let held = pending::get(&mut tx, &row.case_id)
        .await?
        .ok_or_else(|| AppError::Conflict("nothing awaits approval on this case".into()))?;
    pending::delete(&mut tx, &row.case_id).await?;
    let step = serde_json::json!({"kind": held.kind, "by": supervisor, "reason": reason});
    local_event(&mut tx, node, &row, "approval_returned", step, now).await?;
    let detail = format!("kind={} author={}", held.kind, held.author);
    let entry = Entry {
        actor: supervisor,
        action: "case.return",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// How many steps await a supervisor's approval on this node.
pub async fn waiting(node: &Node) -> Result<i64, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    Ok(pending::count(&mut conn).await?)
}
