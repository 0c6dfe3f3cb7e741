//! Legal aid on the desk: officers grant and revoke an organisation's access to a
//! case's prosecution track; legal-aid users see the board of what is granted.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Action, SignedInUser};
use super::error::ErrorBody;
use super::json::{ApiJson, case_id, rfc3339};
use super::{ApiError, DeskState};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/api/v1/cases/{id}/grants", get(list_grants).post(grant))
        .route("/api/v1/cases/{id}/grants/{org}", delete(revoke))
        .route("/api/v1/prosecution", get(board))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// The legal-aid organisation, as its users' accounts name it.
    #[schema(pattern = "^[A-Za-z0-9._-]{2,64}$")]
    org: String,
}

/// POST /api/v1/cases/{id}/grants: an organisation may follow the prosecution track.
#[utoipa::path(post, path = "/api/v1/cases/{id}/grants", params(("id" = String, Path, description = "Case id")), request_body = NewGrant, responses((status = 201, description = "Granted", body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "No legal_aid_sharing consent", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn grant(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(new): ApiJson<NewGrant>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    user.require(Action::Grant)?;
    crate::app::prosecution::grant(
        &state.node,
        &user.username,
        case_id(&id)?,
        &new.org,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"org": new.org}))))
}

/// GET /api/v1/cases/{id}/grants: who was granted the track, and who revoked it.
#[utoipa::path(get, path = "/api/v1/cases/{id}/grants", params(("id" = String, Path, description = "Case id")), responses((status = 200, body = [Object]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_grants(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::Grant)?;
    let rows = crate::app::prosecution::grants(&state.node, case_id(&id)?).await?;
    Ok(axum::Json(Value::Array(
        rows.into_iter()
            .map(|g| {
                json!({
                    "org": g.org,
                    "granted_by": g.granted_by,
                    "granted_at": rfc3339(g.granted_at),
                    "revoked_by": g.revoked_by,
                    "revoked_at": g.revoked_at.map(rfc3339),
                })
            })
            .collect(),
    )))
}

/// DELETE /api/v1/cases/{id}/grants/{org}: the organisation's access ends at once.
#[utoipa::path(delete, path = "/api/v1/cases/{id}/grants/{org}", params(("id" = String, Path, description = "Case id"), ("org" = String, Path, description = "Organisation")), responses((status = 204, description = "Revoked"), (status = 403, body = ErrorBody), (status = 404, description = "No standing grant", body = ErrorBody)))]
pub async fn revoke(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path((id, org)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::Grant)?;
    crate::app::prosecution::revoke(
        &state.node,
        &user.username,
        case_id(&id)?,
        &org,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/prosecution: the cases granted to the user's organisation, by a
/// reference of that organisation's own, with milestones, next hearing,
/// compensation and whose move it is. Never the person, never the case id.
#[utoipa::path(get, path = "/api/v1/prosecution", responses((status = 200, body = [Object]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn board(
    user: SignedInUser,
    State(state): State<DeskState>,
) -> Result<axum::Json<Vec<crate::app::prosecution::BoardEntry>>, ApiError> {
    user.require(Action::ReadProsecution)?;
    let org = user.org.clone().ok_or(ApiError::Forbidden)?;
    Ok(axum::Json(
        crate::app::prosecution::board(&state.node, &user.username, &org).await?,
    ))
}
