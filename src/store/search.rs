//! The blind search index (`app::search`): keyed hashes, never text.

use sqlx::AnyConnection;

use super::StoreError;

/// Replaces the index entries of a case.
pub async fn replace(
    conn: &mut AnyConnection,
    case_id: &str,
    tokens: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM case_index WHERE case_id = $1")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    for token in tokens {
        sqlx::query("INSERT INTO case_index (case_id, token) VALUES ($1, $2)")
            .bind(case_id)
            .bind(token)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The cases indexed under `token`.
pub async fn cases_with(conn: &mut AnyConnection, token: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT case_id FROM case_index WHERE token = $1")
        .bind(token)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Cases with sealed content and no index entry (made before the index existed).
pub async fn unindexed(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, sealed FROM cases
         WHERE purged_at IS NULL AND case_id NOT IN (SELECT DISTINCT case_id FROM case_index)",
    )
    .fetch_all(conn)
    .await?)
}
