//! The `users` table.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Clone, PartialEq, FromRow)]
pub struct UserRow {
    pub username: String,
    pub role: String,
    pub org: Option<String>,
    pub password_hash: String,
    pub disabled: i64,
    pub created_at: i64,
    /// Tokens issued in an older epoch no longer work.
    pub token_epoch: i64,
    /// The language the user chose for pages (`en`, `th`, `lo`).
    pub lang: Option<String>,
    /// Where notices go; none: no email.
    pub email: Option<String>,
    /// When the last notice email went (Unix ms).
    pub notified_at: Option<i64>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

pub async fn insert(conn: &mut AnyConnection, u: &UserRow) -> Result<(), StoreError> {
    if get(conn, &u.username).await?.is_some() {
        return Err(StoreError::Conflict(format!("user {} exists", u.username)));
    }
    sqlx::query(
        "INSERT INTO users (username, role, org, password_hash, disabled, created_at, email) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&u.username)
    .bind(&u.role)
    .bind(&u.org)
    .bind(&u.password_hash)
    .bind(u.disabled)
    .bind(u.created_at)
    .bind(&u.email)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT username, role, org, password_hash, disabled, created_at, token_epoch, lang, email, notified_at FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(conn)
    .await?)
}

/// Every account, by name.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<UserRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT username, role, org, password_hash, disabled, created_at, token_epoch, lang, email, notified_at FROM users ORDER BY username",
    )
    .fetch_all(conn)
    .await?)
}

/// `users.disabled`: the account may sign in.
pub const ACTIVE: i64 = 0;
/// `users.disabled`: disabled by an admin or the operator.
pub const DISABLED: i64 = 1;
/// `users.disabled`: made or enabled by an admin, reads case content, and waits
/// for a supervisor's confirmation (`[workflow] approve_accounts`).
pub const AWAITING_CONFIRMATION: i64 = 2;

/// Sets an account's state (`ACTIVE`, `DISABLED`, `AWAITING_CONFIRMATION`);
/// whichever it is, its tokens stop working. False when there is no such user.
pub async fn set_state(
    conn: &mut AnyConnection,
    username: &str,
    state: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET disabled = $1, token_epoch = token_epoch + 1 WHERE username = $2",
    )
    .bind(state)
    .bind(username)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A new password hash; the user's tokens stop working.
pub async fn set_password(
    conn: &mut AnyConnection,
    username: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, token_epoch = token_epoch + 1 WHERE username = $2",
    )
    .bind(password_hash)
    .bind(username)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The language a user chose for pages.
pub async fn set_lang(
    conn: &mut AnyConnection,
    username: &str,
    lang: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET lang = $1 WHERE username = $2")
        .bind(lang)
        .bind(username)
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's email address for notices (`None`: none). False: no such user.
pub async fn set_email(
    conn: &mut AnyConnection,
    username: &str,
    email: Option<&str>,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE users SET email = $1 WHERE username = $2")
        .bind(email)
        .bind(username)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that a notice email went to the user at `at`.
pub async fn set_notified(
    conn: &mut AnyConnection,
    username: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET notified_at = $1 WHERE username = $2")
        .bind(at)
        .bind(username)
        .execute(conn)
        .await?;
    Ok(())
}
