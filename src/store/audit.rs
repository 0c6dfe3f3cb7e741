//! The `audit_log` table and its head.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct AuditRow {
    pub position: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub case_id: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain's head (position, hash), locked until the transaction ends.
pub async fn lock_head(conn: &mut AnyConnection) -> Result<(i64, String), StoreError> {
    let sql = if conn.backend_name() == "PostgreSQL" {
        "SELECT position, hash FROM audit_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT position, hash FROM audit_head WHERE id = 1"
    };
    Ok(sqlx::query_as(sql).fetch_one(conn).await?)
}

pub async fn append(conn: &mut AnyConnection, row: &AuditRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (position, at, actor, action, case_id, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(row.position)
    .bind(row.at)
    .bind(&row.actor)
    .bind(&row.action)
    .bind(&row.case_id)
    .bind(&row.detail)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET position = $1, hash = $2 WHERE id = 1")
        .bind(row.position)
        .bind(&row.hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn all(conn: &mut AnyConnection) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT position, at, actor, action, case_id, detail, prev_hash, hash FROM audit_log ORDER BY position",
    )
    .fetch_all(conn)
    .await?)
}

/// The chain's head as `audit_head` records it (not locked).
pub async fn head(conn: &mut AnyConnection) -> Result<(i64, String), StoreError> {
    Ok(
        sqlx::query_as("SELECT position, hash FROM audit_head WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// What an auditor filters by; empty strings and open bounds match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub case_id: String,
    pub actor: String,
    pub action: String,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Entries after this position (for paging).
    pub after: i64,
    pub limit: i64,
}

/// How many entries record `action`.
pub async fn count(conn: &mut AnyConnection, action: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

pub async fn list(conn: &mut AnyConnection, f: &Filter) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT position, at, actor, action, case_id, detail, prev_hash, hash FROM audit_log
         WHERE ($1 = '' OR case_id = $1) AND ($2 = '' OR actor = $2) AND ($3 = '' OR action = $3)
           AND at >= $4 AND at <= $5 AND position > $6
         ORDER BY position LIMIT $7",
    )
    .bind(&f.case_id)
    .bind(&f.actor)
    .bind(&f.action)
    .bind(f.since.unwrap_or(i64::MIN))
    .bind(f.until.unwrap_or(i64::MAX))
    .bind(f.after)
    .bind(f.limit)
    .fetch_all(conn)
    .await?)
}

/// A head of a chain, signed to (`sent`) or by (`held`) a peer.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct CheckpointRow {
    pub jti: String,
    pub peer_id: String,
    pub direction: String,
    pub position: i64,
    pub hash: String,
    pub at: i64,
}

pub async fn insert_checkpoint(
    conn: &mut AnyConnection,
    c: &CheckpointRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (jti, peer_id, direction, position, hash, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.jti)
    .bind(&c.peer_id)
    .bind(&c.direction)
    .bind(c.position)
    .bind(&c.hash)
    .bind(c.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A peer's checkpoints in one direction, oldest first.
pub async fn checkpoints(
    conn: &mut AnyConnection,
    peer_id: &str,
    direction: &str,
) -> Result<Vec<CheckpointRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT jti, peer_id, direction, position, hash, at FROM audit_checkpoints
         WHERE peer_id = $1 AND direction = $2 ORDER BY position, at",
    )
    .bind(peer_id)
    .bind(direction)
    .fetch_all(conn)
    .await?)
}

/// The last checkpoint we sent a peer: (position, at).
pub async fn last_sent(
    conn: &mut AnyConnection,
    peer_id: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT position, at FROM audit_checkpoints
         WHERE peer_id = $1 AND direction = 'sent' ORDER BY position DESC, at DESC LIMIT 1",
    )
    .bind(peer_id)
    .fetch_optional(conn)
    .await?)
}
