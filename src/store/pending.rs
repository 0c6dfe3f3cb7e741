//! Moves awaiting approval (`app::approval`).

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PendingRow {
    pub case_id: String,
    pub kind: String,
    /// Sealed to this node.
    pub body: String,
    pub author: String,
    pub created_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, row: &PendingRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pending_moves (case_id, kind, body, author, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.case_id)
    .bind(&row.kind)
    .bind(&row.body)
    .bind(&row.author)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<PendingRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, kind, body, author, created_at FROM pending_moves WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn delete(conn: &mut AnyConnection, case_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM pending_moves WHERE case_id = $1")
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many moves await approval on this node.
pub async fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pending_moves")
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// Every move awaiting approval (bodies left out), oldest first.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<PendingRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, kind, '' AS body, author, created_at FROM pending_moves ORDER BY created_at",
    )
    .fetch_all(conn)
    .await?)
}
