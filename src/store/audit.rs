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
