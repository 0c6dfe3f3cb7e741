//! Signing in and out, and changing one's password, on the API. The core
//! (`app::session`) throttles, checks and audits; this door issues the token.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{ClientAddr, SignedInUser, password_sign_in, revoke_token};
use super::error::ErrorBody;
use super::json::{ApiJson, rfc3339};
use super::{ApiError, DeskState};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/api/v1/session", post(sign_in).delete(sign_out))
        .route("/api/v1/session/password", post(change_password))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    username: String,
    password: String,
}

/// POST /api/v1/session: a token for a user name and password.
#[utoipa::path(post, path = "/api/v1/session", request_body = Credentials, responses((status = 200, description = "A bearer token valid for 15 minutes", body = Object), (status = 401, body = ErrorBody), (status = 429, description = "Locked after too many failures", body = ErrorBody)), security(()))]
pub async fn sign_in(
    State(state): State<DeskState>,
    addr: ClientAddr,
    ApiJson(c): ApiJson<Credentials>,
) -> Result<axum::Json<Value>, ApiError> {
    let issued = password_sign_in(&state, &c.username, c.password, addr).await?;
    Ok(axum::Json(json!({
        "token": issued.token,
        "expires_at": rfc3339(issued.expires * 1000),
        "role": issued.role.as_str(),
    })))
}

/// DELETE /api/v1/session: signs out; this token stops working at once.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)))]
pub async fn sign_out(
    user: SignedInUser,
    State(state): State<DeskState>,
) -> Result<StatusCode, ApiError> {
    revoke_token(&state, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    /// At least 12 characters.
    new_password: String,
}

/// POST /api/v1/session/password: a new password; every token of the user,
/// this one included, stops working.
#[utoipa::path(post, path = "/api/v1/session/password", request_body = PasswordChange, responses((status = 204, description = "Changed: sign in again"), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn change_password(
    user: SignedInUser,
    State(state): State<DeskState>,
    addr: ClientAddr,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    crate::app::session::change_password(
        &state.node,
        &user.username,
        change.current_password,
        change.new_password,
        addr.0,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
