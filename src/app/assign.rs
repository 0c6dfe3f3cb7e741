//! Who holds a case on this node. The officer who drafts a referral holds it; a
//! case received waits in the team's queue until someone takes it or a supervisor
//! assigns it. Each assignment is audited and shown on the case's timeline here
//! (it does not cross the border: who works a case is each node's own business).

use super::AppError;
use super::audit::{self, Entry};
use super::cases::{parse_side, seal_to_self};
use crate::domain::policy::{Action, Role, allows};
use crate::node::Node;
use crate::store::cases::{self, EventRow};
use crate::store::{millis, users};

/// Gives the case to `username`. A supervisor assigns anyone who works cases; an
/// officer takes an unassigned case for themselves.
pub async fn assign(
    node: &Node,
    actor: &str,
    role: Role,
    case_id: uuid::Uuid,
    username: &str,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    let taking = username == actor && row.owner.is_none() && allows(role, Action::Move);
    if !(allows(role, Action::Assign) || taking) {
        return Err(AppError::Forbidden);
    }
    let works_cases = users::get(&mut tx, username)
        .await?
        .filter(|u| u.disabled == 0)
        .and_then(|u| Role::parse(&u.role))
        .is_some_and(|r| allows(r, Action::Move));
    if !works_cases {
        return Err(AppError::Invalid(crate::domain::BodyError::coded(
            "username",
            "one_of",
            "an enabled officer or supervisor of this node",
        )));
    }
    cases::set_owner(&mut tx, &row.case_id, Some(username)).await?;
    let body = serde_json::json!({"owner": username, "by": actor});
    cases::append_event(
        &mut tx,
        &EventRow {
            case_id: row.case_id.clone(),
            position: 0,
            made_by: parse_side(&row.our_side).as_str().to_owned(),
            kind: "assignment".into(),
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
    let detail = format!(
        "owner={username} previous={}",
        row.owner.as_deref().unwrap_or("")
    );
    let entry = Entry {
        actor,
        action: "case.assign",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}
