//! The operator's routes: accounts, peers with their fingerprints, delivery health.
//! No case content is reachable from here.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Action, SignedInUser};
use super::error::ErrorBody;
use super::json::{ApiJson, rfc3339};
use super::{ApiError, DeskState};
use crate::app::accounts::{self, AccountError, NewUser};
use crate::app::{oversight, peers};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{username}", patch(update_user))
        .route("/api/v1/users/{username}/confirm", post(confirm_user))
        .route("/api/v1/peers", get(list_peers))
        .route("/api/v1/outbox", get(outbox_health))
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, message } => {
                Self::Invalid(crate::domain::BodyError::new(field, message))
            }
            AccountError::Conflict(m) => Self::Conflict(m),
            AccountError::NotFound => Self::NotFound,
            AccountError::Store(e) => Self::Unavailable(e.to_string()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    username: String,
    role: String,
    org: Option<String>,
    /// Where notices go; null: no email.
    email: Option<String>,
    disabled: bool,
    /// Made or enabled by an admin, reads case content, and waits for a
    /// supervisor's confirmation before it can sign in.
    awaiting_confirmation: bool,
    created_at: String,
}

/// GET /api/v1/users: every account (never a password hash).
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [UserSummary]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    user: SignedInUser,
    State(state): State<DeskState>,
) -> Result<axum::Json<Vec<UserSummary>>, ApiError> {
    user.require(Action::ManageUsers)?;
    let rows = accounts::list(&state.node.store).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|u| UserSummary {
                username: u.username,
                role: u.role,
                org: u.org,
                email: u.email,
                disabled: u.disabled != 0,
                awaiting_confirmation: accounts::is_awaiting(u.disabled),
                created_at: rfc3339(u.created_at),
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    username: String,
    /// officer, supervisor, legal_aid, admin or auditor.
    role: String,
    /// The organisation of a legal_aid user (only for them).
    #[serde(default)]
    org: Option<String>,
    /// At least 12 characters.
    password: String,
    /// Where notices go (optional).
    #[serde(default)]
    email: Option<String>,
}

/// POST /api/v1/users: a new account.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewAccount, responses((status = 201, description = "Added", body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_user(
    user: SignedInUser,
    State(state): State<DeskState>,
    ApiJson(new): ApiJson<NewAccount>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    user.require(Action::ManageUsers)?;
    let account = NewUser {
        username: &new.username,
        role: &new.role,
        org: new.org.as_deref(),
        password: new.password,
        email: new.email.as_deref().filter(|e| !e.is_empty()),
        needs_confirmation: state.node.config.workflow.approve_accounts,
    };
    let role = accounts::add(
        &state.node.store,
        &user.username,
        account,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"username": new.username, "role": role.as_str()})),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    /// true ends the user's sessions at once and refuses sign-in.
    #[serde(default)]
    disabled: Option<bool>,
    /// The address notices go to; an empty string removes it.
    #[serde(default)]
    email: Option<String>,
}

/// PATCH /api/v1/users/{username}: disable or re-enable an account, or set
/// its email address.
#[utoipa::path(patch, path = "/api/v1/users/{username}", params(("username" = String, Path, description = "User name")), request_body = AccountUpdate, responses((status = 204, description = "Updated"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(username): Path<String>,
    ApiJson(update): ApiJson<AccountUpdate>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::ManageUsers)?;
    if update.disabled.is_none() && update.email.is_none() {
        return Err(ApiError::Invalid(crate::domain::BodyError::new(
            "disabled",
            "give disabled, email or both",
        )));
    }
    if username == user.username && update.disabled == Some(true) {
        return Err(ApiError::Conflict(
            "an admin cannot disable their own account".into(),
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    if let Some(email) = &update.email {
        let email = Some(email.as_str()).filter(|e| !e.is_empty());
        accounts::set_email(&state.node.store, &user.username, &username, email, now).await?;
    }
    if let Some(disabled) = update.disabled {
        let confirm = state.node.config.workflow.approve_accounts;
        accounts::set_disabled(
            &state.node.store,
            &user.username,
            &username,
            disabled,
            confirm,
            now,
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/users/{username}/confirm: a supervisor lets an account that
/// waits for confirmation sign in (`[workflow] approve_accounts`).
#[utoipa::path(post, path = "/api/v1/users/{username}/confirm", params(("username" = String, Path, description = "User name")), responses((status = 204, description = "Confirmed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn confirm_user(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::ConfirmAccounts)?;
    let now = time::OffsetDateTime::now_utc();
    accounts::confirm(&state.node.store, &user.username, &username, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PeerSummary {
    node_id: String,
    country: String,
    name: String,
    federation_url: String,
    /// SHA-256 of the descriptor's canonical JSON, hex in groups of 4.
    fingerprint: String,
    added_at: String,
}

/// GET /api/v1/peers: registered peers and their fingerprints.
#[utoipa::path(get, path = "/api/v1/peers", responses((status = 200, body = [PeerSummary]), (status = 403, body = ErrorBody)))]
pub async fn list_peers(
    user: SignedInUser,
    State(state): State<DeskState>,
) -> Result<axum::Json<Vec<PeerSummary>>, ApiError> {
    user.require(Action::ManagePeers)?;
    let rows = peers::list(&state.node).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|p| PeerSummary {
                fingerprint: crate::crypto::hash::group_hex(&p.fingerprint),
                node_id: p.node_id,
                country: p.country,
                name: p.name,
                federation_url: p.federation_url,
                added_at: rfc3339(p.added_at),
            })
            .collect(),
    ))
}

/// GET /api/v1/outbox: per peer, what waits to be delivered and since when.
#[utoipa::path(get, path = "/api/v1/outbox", responses((status = 200, body = [Object]), (status = 403, body = ErrorBody)))]
pub async fn outbox_health(
    user: SignedInUser,
    State(state): State<DeskState>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ManagePeers)?;
    let rows = oversight::outbox_health(&state.node).await?;
    let now = oversight::now_ms();
    let mut out = Vec::new();
    for (r, last_error) in rows {
        out.push(json!({
            "peer": r.peer_id,
            "queued": r.queued,
            "rejected": r.rejected,
            "delivered": r.delivered,
            "oldest_queued_at": r.oldest_queued_at.map(rfc3339),
            "oldest_queued_age_seconds": r.oldest_queued_at.map(|t| (now - t).max(0) / 1000),
            "max_attempts": r.max_attempts.unwrap_or(0),
            "last_error": last_error,
        }));
    }
    Ok(axum::Json(Value::Array(out)))
}
