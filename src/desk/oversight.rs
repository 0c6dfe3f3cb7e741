//! Oversight: the audit log for auditors, and the statistics (clear columns only,
//! small cells suppressed).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::auth::{Action, SignedInUser};
use super::error::ErrorBody;
use super::json::{rfc3339, time_param};
use super::{ApiError, DeskState};
use crate::app::oversight::{self, AuditFilter};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/stats", get(stats))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries about this case.
    case: Option<String>,
    /// Entries by this actor (a user name, `peer:<node>`, `operator` or `node`).
    user: Option<String>,
    /// e.g. `case.read`, `case.move`, `session.sign_in`, `user.disable`.
    action: Option<String>,
    /// RFC 3339: entries at or after.
    since: Option<String>,
    /// RFC 3339: entries at or before.
    until: Option<String>,
    /// Entries after this position (paging).
    after: Option<i64>,
    /// At most this many (1 to 1000, default 200).
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    position: i64,
    at: String,
    actor: String,
    action: String,
    case: Option<String>,
    detail: String,
    hash: String,
}

/// GET /api/v1/audit?case=&user=&action=&since=&until=&after=&limit=: the audit log.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), responses((status = 200, body = [AuditEntry]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn audit_log(
    user: SignedInUser,
    State(state): State<DeskState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<AuditEntry>>, ApiError> {
    user.require(Action::ReadAudit)?;
    let Query(q) = query.map_err(super::json::query_rejection)?;
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid(crate::domain::BodyError::new(
            "limit",
            "from 1 to 1000",
        )));
    }
    let filter = AuditFilter {
        case_id: q.case.unwrap_or_default(),
        actor: q.user.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        since: time_param("since", &q.since)?,
        until: time_param("until", &q.until)?,
        after: q.after.unwrap_or(0),
        limit,
    };
    let rows = oversight::audit_log(&state.node, &filter).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| AuditEntry {
                position: r.position,
                at: rfc3339(r.at),
                actor: r.actor,
                action: r.action,
                case: r.case_id,
                detail: r.detail,
                hash: r.hash,
            })
            .collect(),
    ))
}

/// GET /api/v1/stats: counts by year, gender, age band, exploitation type,
/// province of origin, crossing point and outcome; cells under k are `null`.
#[utoipa::path(get, path = "/api/v1/stats", responses((status = 200, description = "k, total, and per dimension (HTCDS/CTDC names) its cells; a suppressed count is null", body = Object), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn stats(
    user: SignedInUser,
    State(state): State<DeskState>,
) -> Result<axum::Json<crate::domain::stats::Table>, ApiError> {
    user.require(Action::ReadStats)?;
    Ok(axum::Json(
        crate::app::stats::stats(&state.node)
            .await
            .map_err(crate::app::AppError::from)?,
    ))
}
