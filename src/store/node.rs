//! The `node` table: which node this database belongs to.

use sqlx::{Any, AnyConnection};

use super::StoreError;

/// Records the node; refuses when the database already belongs to a node.
pub async fn insert(
    conn: &mut AnyConnection,
    node_id: &str,
    country: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    if let Some(existing) = get(conn).await? {
        return Err(StoreError::Conflict(format!(
            "the database already belongs to node {existing}"
        )));
    }
    sqlx::query::<Any>("INSERT INTO node (node_id, country, created_at) VALUES ($1, $2, $3)")
        .bind(node_id)
        .bind(country)
        .bind(at_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// The id of the node this database belongs to, if any.
pub async fn get(conn: &mut AnyConnection) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT node_id FROM node LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}
