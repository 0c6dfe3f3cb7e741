//! The inbox: every envelope accepted from a peer, with our receipt, forever.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct InRow {
    pub peer_id: String,
    pub seq: i64,
    pub jti: String,
    pub kind: String,
    pub case_id: Option<String>,
    pub jws: String,
    pub envelope_sha256: String,
    pub body: String,
    pub receipt: String,
    pub received_at: i64,
    pub applied_at: Option<i64>,
}

pub async fn insert(conn: &mut AnyConnection, row: &InRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inbox (peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, receipt,
                            received_at, applied_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&row.peer_id)
    .bind(row.seq)
    .bind(&row.jti)
    .bind(&row.kind)
    .bind(&row.case_id)
    .bind(&row.jws)
    .bind(&row.envelope_sha256)
    .bind(&row.body)
    .bind(&row.receipt)
    .bind(row.received_at)
    .bind(row.applied_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_jti(conn: &mut AnyConnection, jti: &str) -> Result<Option<InRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, receipt, received_at, applied_at
         FROM inbox WHERE jti = $1",
    )
    .bind(jti)
    .fetch_optional(conn)
    .await?)
}

pub async fn list(conn: &mut AnyConnection, peer: &str) -> Result<Vec<InRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, receipt, received_at, applied_at
         FROM inbox WHERE peer_id = $1 ORDER BY seq",
    )
    .bind(peer)
    .fetch_all(conn)
    .await?)
}

/// Transcript entries: (seq, jti, jws) after `after`, at most `limit`.
pub async fn transcript(
    conn: &mut AnyConnection,
    peer: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, jti, jws FROM inbox WHERE peer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(peer)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The envelopes accepted from `peer` after `after`, at most `limit`, whole: to
/// give back to a peer restored from a backup what it had sent.
pub async fn after(
    conn: &mut AnyConnection,
    peer: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<InRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, receipt, received_at, applied_at
         FROM inbox WHERE peer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(peer)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
