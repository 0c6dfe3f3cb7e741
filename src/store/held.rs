//! Forms kept across a sign-in (sealed; see `app::held`).

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct HeldRow {
    pub id: String,
    pub username: String,
    pub path: String,
    pub sealed: String,
    pub created_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, row: &HeldRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO held_forms (id, username, path, sealed, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.username)
    .bind(&row.path)
    .bind(&row.sealed)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the held form `id` of `username`: it is deleted as it is read.
pub async fn take(
    conn: &mut AnyConnection,
    id: &str,
    username: &str,
) -> Result<Option<HeldRow>, StoreError> {
    let row: Option<HeldRow> = sqlx::query_as(
        "SELECT id, username, path, sealed, created_at FROM held_forms WHERE id = $1 AND username = $2",
    )
    .bind(id)
    .bind(username)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        sqlx::query("DELETE FROM held_forms WHERE id = $1")
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(row)
}

/// Forgets forms held since before `before` (Unix ms).
pub async fn purge(conn: &mut AnyConnection, before: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM held_forms WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await?
        .rows_affected())
}
