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

/// Takes one attempt of `key`'s quota (at most `max` within `window_ms`, none
/// while locked), in one statement, so concurrent attempts cannot all pass a
/// check made before any of them counted. `Err(until)` when none is left.
pub async fn reserve_attempt(
    conn: &mut AnyConnection,
    key: &str,
    max: i64,
    window_ms: i64,
    lock_ms: i64,
    now: i64,
) -> Result<Result<(), i64>, StoreError> {
    // A success clears the row; if that happens between the insert and the
    // update, the attempt is taken again on a fresh row.
    for _ in 0..3 {
        ensure_row(conn, key, now).await?;
        let taken = sqlx::query(
            "UPDATE sign_in_failures SET
               failures = CASE WHEN $2 - window_start > $3 THEN 1 ELSE failures + 1 END,
               window_start = CASE WHEN $2 - window_start > $3 THEN $2 ELSE window_start END
             WHERE key = $1 AND locked_until <= $2 AND (failures < $4 OR $2 - window_start > $3)",
        )
        .bind(key)
        .bind(now)
        .bind(window_ms)
        .bind(max)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(Ok(()));
        }
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, locked_until FROM sign_in_failures WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some((_, locked_until)) = row {
            // Locked, or the quota is taken by attempts still being checked.
            return Ok(Err(if locked_until > now {
                locked_until
            } else {
                now.saturating_add(lock_ms.min(window_ms))
            }));
        }
    }
    Ok(Err(now.saturating_add(lock_ms.min(window_ms))))
}

/// After a failed attempt of `key`: locks it when its quota is used up.
pub async fn lock_if_spent(
    conn: &mut AnyConnection,
    key: &str,
    max: i64,
    lock_ms: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let until = now.saturating_add(lock_ms);
    sqlx::query(
        "UPDATE sign_in_failures SET locked_until = $2 WHERE key = $1 AND failures >= $3 AND locked_until <= $4",
    )
    .bind(key)
    .bind(until)
    .bind(max)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(failures(conn, key).await?.locked_at(now))
}

/// Counts one failure under `key` (an address) in place: concurrent failures
/// each count, and none of them trips over another's row.
pub async fn count_failure(
    conn: &mut AnyConnection,
    key: &str,
    window_ms: i64,
    now: i64,
) -> Result<(), StoreError> {
    ensure_row(conn, key, now).await?;
    sqlx::query(
        "UPDATE sign_in_failures SET
           failures = CASE WHEN $2 - window_start > $3 THEN 1 ELSE failures + 1 END,
           window_start = CASE WHEN $2 - window_start > $3 THEN $2 ELSE window_start END
         WHERE key = $1",
    )
    .bind(key)
    .bind(now)
    .bind(window_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// A row to count `key`'s attempts in, made if missing (concurrently safe).
async fn ensure_row(conn: &mut AnyConnection, key: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sign_in_failures (key, failures, window_start, locked_until)
         VALUES ($1, 0, $2, 0) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
