//! The `notices_sent` table: what each user has been told of by email
//! (`app::notify`).

use sqlx::AnyConnection;

use super::StoreError;

/// The items `username` has been told of.
pub async fn told(conn: &mut AnyConnection, username: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT item FROM notices_sent WHERE username = $1 ORDER BY item")
            .bind(username)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(i,)| i).collect())
}

/// Records that `username` was told of `item` at `at`.
pub async fn mark(
    conn: &mut AnyConnection,
    username: &str,
    item: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notices_sent (username, item, at) VALUES ($1, $2, $3)
         ON CONFLICT (username, item) DO NOTHING",
    )
    .bind(username)
    .bind(item)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets an item that no longer waits (told again if it comes back).
pub async fn forget(
    conn: &mut AnyConnection,
    username: &str,
    item: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM notices_sent WHERE username = $1 AND item = $2")
        .bind(username)
        .bind(item)
        .execute(conn)
        .await?;
    Ok(())
}
