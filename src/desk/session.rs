//! Signing in and out, and changing one's password. Failed sign-ins are throttled
//! per user name and per client address, with the same answer whether or not the
//! user exists; every attempt is audited.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::auth::{ClientAddr, Role, SignedInUser, hash_password, verify_password};
use super::cases::{ApiJson, rfc3339};
use super::error::ErrorBody;
use super::{ApiError, DeskState};
use crate::audit::{self, Entry};
use crate::crypto::hash::sha256_hex;
use crate::domain::throttle::{self, Limit};
use crate::store::{millis, sessions, users};

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

/// The throttling keys of an attempt: the name typed (hashed: it may be a
/// mistyped password) and the address.
fn keys(username: &str, addr: ClientAddr) -> Vec<(String, Limit)> {
    let mut keys = vec![(
        format!("user:{}", sha256_hex(username.as_bytes())),
        throttle::PER_USER,
    )];
    if let Some(ip) = addr.0 {
        keys.push((format!("addr:{ip}"), throttle::PER_ADDRESS));
    }
    keys
}

fn locked_error(until_ms: i64) -> ApiError {
    ApiError::Locked(rfc3339(until_ms))
}

/// Records a sign-in attempt in the audit log. The actor is the account when it
/// exists, else `unknown` (what was typed is never written down).
async fn audit_attempt(
    conn: &mut AnyConnection,
    actor: &str,
    outcome: &str,
    addr: ClientAddr,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let addr = addr.0.map(|a| a.to_string()).unwrap_or_default();
    let detail = format!("outcome={outcome} addr={addr}");
    let entry = Entry {
        actor,
        action: "session.sign_in",
        case_id: None,
        detail: &detail,
    };
    audit::record(conn, entry, now).await?;
    Ok(())
}

/// Until when any of the keys is locked, if one is.
async fn locked_until(
    conn: &mut AnyConnection,
    keys: &[(String, Limit)],
    now_ms: i64,
) -> Result<Option<i64>, ApiError> {
    let mut locked = None;
    for (key, _) in keys {
        locked = locked.max(sessions::failures(conn, key).await?.locked_at(now_ms));
    }
    Ok(locked)
}

/// Counts a failure under every key; returns the lock it caused, if any.
async fn count_failure(
    conn: &mut AnyConnection,
    keys: &[(String, Limit)],
    now_ms: i64,
) -> Result<Option<i64>, ApiError> {
    let window = throttle::PER_USER
        .window_ms
        .max(throttle::PER_ADDRESS.window_ms);
    sessions::prune_failures(conn, now_ms, window).await?;
    let mut locked = None;
    for (key, limit) in keys {
        let f = sessions::failures(conn, key)
            .await?
            .after_failure(*limit, now_ms);
        sessions::set_failures(conn, key, f).await?;
        locked = locked.max(f.locked_at(now_ms));
    }
    Ok(locked)
}

/// A successful sign-in.
pub struct Issued {
    pub username: String,
    pub role: Role,
    pub token: String,
    /// Unix seconds.
    pub expires: i64,
    /// The account's chosen language, if any.
    pub lang: Option<String>,
}

/// Checks a user name and password (throttled and audited) and issues a token.
pub async fn password_sign_in(
    state: &DeskState,
    username: &str,
    password: String,
    addr: ClientAddr,
) -> Result<Issued, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let now_ms = millis(now);
    let keys = keys(username, addr);
    let mut conn = state.node.store.pool().acquire().await?;
    let user = users::get(&mut conn, username).await?;
    let locked = locked_until(&mut conn, &keys, now_ms).await?;
    drop(conn);
    let actor = user
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|| "unknown".into());
    if let Some(until) = locked {
        let mut tx = state.node.store.begin().await?;
        audit_attempt(&mut tx, &actor, "locked", addr, now).await?;
        tx.commit().await?;
        return Err(locked_error(until));
    }
    // The same work whether or not the user exists, so timing says nothing.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let mut tx = state.node.store.begin().await?;
    let user = match user.filter(|u| ok && u.disabled == 0) {
        Some(user) => user,
        None => {
            let locked = count_failure(&mut tx, &keys, now_ms).await?;
            audit_attempt(&mut tx, &actor, "failed", addr, now).await?;
            tx.commit().await?;
            return Err(locked.map(locked_error).unwrap_or(ApiError::BadCredentials));
        }
    };
    sessions::clear_failures(&mut tx, &keys[0].0).await?;
    audit_attempt(&mut tx, &user.username, "ok", addr, now).await?;
    tx.commit().await?;
    let role = Role::parse(&user.role).ok_or(ApiError::BadCredentials)?;
    let (token, expires) =
        state
            .tokens
            .issue(&user.username, role, user.token_epoch, now.unix_timestamp())?;
    Ok(Issued {
        username: user.username,
        role,
        token,
        expires,
        lang: user.lang,
    })
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

/// Ends a token at once (sign-out), audited.
pub async fn revoke_token(state: &DeskState, user: &SignedInUser) -> Result<(), ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let mut tx = state.node.store.begin().await?;
    sessions::revoke(
        &mut tx,
        &user.token_id,
        user.token_expires * 1000,
        millis(now),
    )
    .await?;
    let entry = Entry {
        actor: &user.username,
        action: "session.sign_out",
        case_id: None,
        detail: "",
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
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
    let now = time::OffsetDateTime::now_utc();
    let keys = keys(&user.username, addr);
    let mut conn = state.node.store.pool().acquire().await?;
    let row = users::get(&mut conn, &user.username)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if let Some(until) = locked_until(&mut conn, &keys, millis(now)).await? {
        return Err(locked_error(until));
    }
    drop(conn);
    let (current, hash) = (change.current_password, row.password_hash);
    let ok = tokio::task::spawn_blocking(move || verify_password(&current, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        let mut tx = state.node.store.begin().await?;
        let locked = count_failure(&mut tx, &keys, millis(now)).await?;
        tx.commit().await?;
        return Err(locked.map(locked_error).unwrap_or(ApiError::BadCredentials));
    }
    let new = change.new_password;
    let new_hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|message| ApiError::Invalid {
            field: "new_password".into(),
            message,
        })?;
    let mut tx = state.node.store.begin().await?;
    users::set_password(&mut tx, &user.username, &new_hash).await?;
    let entry = Entry {
        actor: &user.username,
        action: "user.password",
        case_id: None,
        detail: &format!("user={}", user.username),
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
