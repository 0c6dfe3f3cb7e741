//! Revoked session tokens and failed sign-ins (`revoked_tokens`, `sign_in_failures`).

use sqlx::AnyConnection;

use super::StoreError;
use crate::domain::throttle::Failures;

/// Records a signed-out token until it would have expired anyway.
pub async fn revoke(
    conn: &mut AnyConnection,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1 OR jti = $2")
        .bind(now)
        .bind(jti)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)")
        .bind(jti)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn is_revoked(conn: &mut AnyConnection, jti: &str) -> Result<bool, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT expires_at FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

pub async fn failures(conn: &mut AnyConnection, key: &str) -> Result<Failures, StoreError> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT failures, window_start, locked_until FROM sign_in_failures WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|(failures, window_start, locked_until)| Failures {
            failures,
            window_start,
            locked_until,
        })
        .unwrap_or_default())
}

pub async fn set_failures(
    conn: &mut AnyConnection,
    key: &str,
    f: Failures,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sign_in_failures (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4)",
    )
    .bind(key)
    .bind(f.failures)
    .bind(f.window_start)
    .bind(f.locked_until)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear_failures(conn: &mut AnyConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets failures whose window and lock have both passed, so guessed names
/// do not pile up.
pub async fn prune_failures(
    conn: &mut AnyConnection,
    now: i64,
    window_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sign_in_failures WHERE locked_until < $1 AND window_start < $2")
        .bind(now)
        .bind(now.saturating_sub(window_ms))
        .execute(conn)
        .await?;
    Ok(())
}
