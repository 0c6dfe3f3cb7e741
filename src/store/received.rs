//! Blobs a peer uploaded that no envelope names yet (`received_blobs`).

use sqlx::AnyConnection;

use super::StoreError;

/// Notes a blob a peer uploaded (kept as first noted if uploaded again).
pub async fn note(
    conn: &mut AnyConnection,
    sha256: &str,
    peer: &str,
    len: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO received_blobs (sha256, peer_id, len, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(peer)
    .bind(len)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Bytes of `peer`'s blobs that no envelope names yet.
pub async fn unnamed_bytes(conn: &mut AnyConnection, peer: &str) -> Result<i64, StoreError> {
    let (sum,): (Option<i64>,) =
        sqlx::query_as("SELECT CAST(SUM(len) AS BIGINT) FROM received_blobs WHERE peer_id = $1")
            .bind(peer)
            .fetch_one(conn)
            .await?;
    Ok(sum.unwrap_or(0))
}

/// An accepted envelope names these blobs: they are no longer orphans-to-be.
pub async fn named(conn: &mut AnyConnection, sha256: &[String]) -> Result<(), StoreError> {
    for s in sha256 {
        sqlx::query("DELETE FROM received_blobs WHERE sha256 = $1")
            .bind(s)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Blobs noted before `before` that no envelope named, oldest first (at most `limit`).
pub async fn orphans(
    conn: &mut AnyConnection,
    before: i64,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT sha256 FROM received_blobs WHERE received_at < $1 ORDER BY received_at LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

/// Whether a case holds this blob (then it is not deleted as an orphan).
pub async fn held_by_a_case(conn: &mut AnyConnection, sha256: &str) -> Result<bool, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT case_id FROM case_attachments WHERE blob_sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

pub async fn forget(conn: &mut AnyConnection, sha256: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM received_blobs WHERE sha256 = $1")
        .bind(sha256)
        .execute(conn)
        .await?;
    Ok(())
}
