//! What `mittaphap bench` reads of the sender's outbox to time deliveries and to
//! replay the same envelope bytes over its bare baseline.

use sqlx::AnyPool;

use super::StoreError;

/// Envelopes still queued (the outbox's state index answers this without a scan).
pub async fn queued(pool: &AnyPool) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// (created_at, delivered_at) of every envelope created at or after `since`, in
/// channel order.
pub async fn timings_since(
    pool: &AnyPool,
    since: i64,
) -> Result<Vec<(i64, Option<i64>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT created_at, delivered_at FROM outbox WHERE created_at >= $1 ORDER BY seq",
    )
    .bind(since)
    .fetch_all(pool)
    .await?)
}

/// (JWS, sealed body) of every envelope created at or after `since`, in order.
pub async fn envelopes_since(
    pool: &AnyPool,
    since: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT jws, body FROM outbox WHERE created_at >= $1 ORDER BY seq")
            .bind(since)
            .fetch_all(pool)
            .await?,
    )
}
