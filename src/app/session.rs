//! Signing in and out, and changing one's password. Failed sign-ins are throttled
//! per user name and per client address, with the same answer whether or not the
//! user exists; every attempt is audited. The door issues the token; this decides
//! whether one may be issued, and for whom.

use std::net::IpAddr;

use sqlx::AnyConnection;

use super::AppError;
use super::accounts::{hash_password, verify_password};
use super::audit::{self, Entry};
use crate::crypto::hash::sha256_hex;
use crate::domain::policy::Role;
use crate::domain::throttle::{self, Limit};
use crate::node::Node;
use crate::store::{millis, sessions, users};

/// An account that may hold a session.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub role: Role,
    pub org: Option<String>,
    /// The account's token epoch: a password change or a disable bumps it.
    pub epoch: i64,
    /// The language the user chose for pages.
    pub lang: Option<String>,
}

/// The throttling keys of an attempt: the name typed (hashed: it may be a
/// mistyped password) and the address.
fn keys(username: &str, addr: Option<IpAddr>) -> Vec<(String, Limit)> {
    let mut keys = vec![(
        format!("user:{}", sha256_hex(username.as_bytes())),
        throttle::PER_USER,
    )];
    if let Some(ip) = addr {
        keys.push((format!("addr:{ip}"), throttle::PER_ADDRESS));
    }
    keys
}

/// Records a sign-in attempt in the audit log. The actor is the account when it
/// exists, else `unknown` (what was typed is never written down).
async fn audit_attempt(
    conn: &mut AnyConnection,
    actor: &str,
    outcome: &str,
    addr: Option<IpAddr>,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let addr = addr.map(|a| a.to_string()).unwrap_or_default();
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
) -> Result<Option<i64>, AppError> {
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
) -> Result<Option<i64>, AppError> {
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

fn failed(locked: Option<i64>) -> AppError {
    locked.map_or(AppError::BadCredentials, AppError::Locked)
}

/// Checks a user name and password (throttled and audited). `dummy_hash` is
/// checked when the user does not exist, so a sign-in takes as long either way.
pub async fn sign_in(
    node: &Node,
    username: &str,
    password: String,
    addr: Option<IpAddr>,
    dummy_hash: &str,
) -> Result<Account, AppError> {
    let now = time::OffsetDateTime::now_utc();
    let now_ms = millis(now);
    let keys = keys(username, addr);
    let mut conn = node.store.pool().acquire().await?;
    let user = users::get(&mut conn, username).await?;
    let locked = locked_until(&mut conn, &keys, now_ms).await?;
    drop(conn);
    let actor = user
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|| "unknown".into());
    if let Some(until) = locked {
        let mut tx = node.store.begin().await?;
        audit_attempt(&mut tx, &actor, "locked", addr, now).await?;
        tx.commit().await?;
        return Err(AppError::Locked(until));
    }
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash.to_owned());
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let mut tx = node.store.begin().await?;
    let user = match user.filter(|u| ok && u.disabled == 0) {
        Some(user) => user,
        None => {
            let locked = count_failure(&mut tx, &keys, now_ms).await?;
            audit_attempt(&mut tx, &actor, "failed", addr, now).await?;
            tx.commit().await?;
            return Err(failed(locked));
        }
    };
    sessions::clear_failures(&mut tx, &keys[0].0).await?;
    audit_attempt(&mut tx, &user.username, "ok", addr, now).await?;
    tx.commit().await?;
    let role = Role::parse(&user.role).ok_or(AppError::BadCredentials)?;
    Ok(Account {
        username: user.username,
        role,
        org: user.org,
        epoch: user.token_epoch,
        lang: user.lang,
    })
}

/// The account a token speaks for, if it still may: it exists, is enabled, is in
/// the token's epoch, and neither the token nor its sign-in (`ids`: its `jti`
/// and session id) was signed out.
pub async fn account_for(
    node: &Node,
    username: &str,
    epoch: i64,
    ids: &[&str],
) -> Result<Option<Account>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let Some(user) = users::get(&mut conn, username)
        .await?
        .filter(|u| u.disabled == 0 && u.token_epoch == epoch)
    else {
        return Ok(None);
    };
    for id in ids {
        if sessions::is_revoked(&mut conn, id).await? {
            return Ok(None);
        }
    }
    Ok(Role::parse(&user.role).map(|role| Account {
        username: user.username,
        role,
        org: user.org,
        epoch: user.token_epoch,
        lang: user.lang,
    }))
}

/// Ends a token at once (sign-out), and every token of its sign-in (`session`,
/// renewals of a page session included), audited. `expires_ms`: when it would
/// have; `longest_ms`: when any token of the sign-in issued until now would.
pub async fn sign_out(
    node: &Node,
    username: &str,
    jti: &str,
    session: &str,
    expires_ms: i64,
    longest_ms: i64,
) -> Result<(), AppError> {
    let now = time::OffsetDateTime::now_utc();
    let mut tx = node.store.begin().await?;
    sessions::revoke(&mut tx, jti, expires_ms, millis(now)).await?;
    if session != jti {
        sessions::revoke(&mut tx, session, longest_ms, millis(now)).await?;
    }
    let entry = Entry {
        actor: username,
        action: "session.sign_out",
        case_id: None,
        detail: "",
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A new password, after the current one (throttled like a sign-in); every token
/// of the user stops working.
pub async fn change_password(
    node: &Node,
    username: &str,
    current: String,
    new: String,
    addr: Option<IpAddr>,
) -> Result<(), AppError> {
    let now = time::OffsetDateTime::now_utc();
    let keys = keys(username, addr);
    let mut conn = node.store.pool().acquire().await?;
    let row = users::get(&mut conn, username)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if let Some(until) = locked_until(&mut conn, &keys, millis(now)).await? {
        return Err(AppError::Locked(until));
    }
    drop(conn);
    let hash = row.password_hash;
    let ok = tokio::task::spawn_blocking(move || verify_password(&current, &hash))
        .await
        .unwrap_or(false);
    if !ok {
        let mut tx = node.store.begin().await?;
        let locked = count_failure(&mut tx, &keys, millis(now)).await?;
        tx.commit().await?;
        return Err(failed(locked));
    }
    let new_hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|message| {
            AppError::Invalid(crate::domain::messages::BodyError::new(
                "new_password",
                message,
            ))
        })?;
    let mut tx = node.store.begin().await?;
    users::set_password(&mut tx, username, &new_hash).await?;
    let entry = Entry {
        actor: username,
        action: "user.password",
        case_id: None,
        detail: &format!("user={username}"),
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}
