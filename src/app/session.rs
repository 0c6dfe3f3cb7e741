//! Signing in and out, and changing one's password. Failed sign-ins are throttled
//! per user name and per client address, with the same answer whether or not the
//! user exists; every attempt is audited. The door issues the token; this decides
//! whether one may be issued, and for whom.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use sqlx::AnyConnection;

use super::AppError;
use super::accounts::{check_password, make_password_hash};
use super::audit::{self, Entry};
use crate::crypto::hash::sha256_hex;
use crate::domain::policy::Role;
use crate::domain::throttle;
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

/// The throttling key of the name typed (hashed: it may be a mistyped password).
fn user_key(username: &str) -> String {
    format!("user:{}", sha256_hex(username.as_bytes()))
}

fn addr_key(ip: IpAddr) -> String {
    format!("addr:{ip}")
}

/// How long a wrong guess from a slowed address holds that address's gate.
const GUESS_PENALTY: std::time::Duration = std::time::Duration::from_secs(1);

type Gates = HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>;

/// One gate per slowed address: its sign-ins are checked one at a time.
static GATES: std::sync::LazyLock<std::sync::Mutex<Gates>> =
    std::sync::LazyLock::new(Default::default);

fn gate(ip: IpAddr) -> Arc<tokio::sync::Mutex<()>> {
    let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
    gates.retain(|_, g| Arc::strong_count(g) > 1);
    gates.entry(ip).or_default().clone()
}

/// Takes one attempt of the name's quota, or says until when it is locked.
async fn reserve(
    conn: &mut AnyConnection,
    key: &str,
    now_ms: i64,
) -> Result<Result<(), i64>, AppError> {
    let l = throttle::PER_USER;
    let taken =
        sessions::reserve_attempt(conn, key, l.max_failures, l.window_ms, l.lock_ms, now_ms)
            .await?;
    Ok(taken)
}

/// After a wrong password: the name's lock if its quota is spent, and one more
/// failure counted against the address.
async fn count_failure(
    conn: &mut AnyConnection,
    key: &str,
    addr: Option<IpAddr>,
    now_ms: i64,
) -> Result<Option<i64>, AppError> {
    let l = throttle::PER_USER;
    let window = l.window_ms.max(throttle::PER_ADDRESS.window_ms);
    sessions::prune_failures(conn, now_ms, window).await?;
    let locked = sessions::lock_if_spent(conn, key, l.max_failures, l.lock_ms, now_ms).await?;
    if let Some(ip) = addr {
        sessions::count_failure(conn, &addr_key(ip), throttle::PER_ADDRESS.window_ms, now_ms)
            .await?;
    }
    Ok(locked)
}

/// Whether guesses from this address are slowed (many recent failures).
async fn slowed(node: &Node, addr: Option<IpAddr>, now_ms: i64) -> Result<bool, AppError> {
    let Some(ip) = addr else { return Ok(false) };
    let mut conn = node.store.pool().acquire().await?;
    let f = sessions::failures(&mut conn, &addr_key(ip)).await?;
    Ok(f.slowed(throttle::PER_ADDRESS, now_ms))
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
    let key = user_key(username);
    // An address with many recent failures is checked one sign-in at a time,
    // and each wrong guess holds its gate a second: spraying passwords over
    // many names slows down, while a right password still gets in.
    let slowed = slowed(node, addr, now_ms).await?;
    let gate = match addr.filter(|_| slowed) {
        Some(ip) => Some(gate(ip).lock_owned().await),
        None => None,
    };
    let mut conn = node.store.pool().acquire().await?;
    let user = users::get(&mut conn, username).await?;
    let reserved = reserve(&mut conn, &key, now_ms).await?;
    drop(conn);
    let actor = user
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|| "unknown".into());
    if let Err(until) = reserved {
        let mut tx = node.store.begin().await?;
        audit_attempt(&mut tx, &actor, "locked", addr, now).await?;
        tx.commit().await?;
        return Err(AppError::Locked(until));
    }
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash.to_owned());
    let ok = check_password(password, hash).await;
    let mut tx = node.store.begin().await?;
    if ok
        && user
            .as_ref()
            .is_some_and(|u| u.disabled == users::AWAITING_CONFIRMATION)
    {
        // The right password: the person learns their account waits.
        sessions::clear_failures(&mut tx, &key).await?;
        audit_attempt(&mut tx, &actor, "awaiting_confirmation", addr, now).await?;
        tx.commit().await?;
        return Err(AppError::AwaitingConfirmation);
    }
    let user = match user.filter(|u| ok && u.disabled == 0) {
        Some(user) => user,
        None => {
            let locked = count_failure(&mut tx, &key, addr, now_ms).await?;
            audit_attempt(&mut tx, &actor, "failed", addr, now).await?;
            tx.commit().await?;
            if gate.is_some() {
                tokio::time::sleep(GUESS_PENALTY).await;
            }
            return Err(failed(locked));
        }
    };
    sessions::clear_failures(&mut tx, &key).await?;
    audit_attempt(&mut tx, &user.username, "ok", addr, now).await?;
    tx.commit().await?;
    drop(gate);
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
    let key = user_key(username);
    let mut conn = node.store.pool().acquire().await?;
    let row = users::get(&mut conn, username)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let reserved = reserve(&mut conn, &key, millis(now)).await?;
    drop(conn);
    if let Err(until) = reserved {
        return Err(AppError::Locked(until));
    }
    if !check_password(current, row.password_hash).await {
        let mut tx = node.store.begin().await?;
        let locked = count_failure(&mut tx, &key, addr, millis(now)).await?;
        tx.commit().await?;
        return Err(failed(locked));
    }
    let mut tx = node.store.begin().await?;
    sessions::clear_failures(&mut tx, &key).await?;
    tx.commit().await?;
    let new_hash = make_password_hash(new).await.map_err(|message| {
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
