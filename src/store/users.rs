//! The `users` table.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Clone, PartialEq, FromRow)]
pub struct UserRow {
    pub username: String,
    pub role: String,
    pub org: Option<String>,
    pub password_hash: String,
    pub disabled: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

pub async fn insert(conn: &mut AnyConnection, u: &UserRow) -> Result<(), StoreError> {
    if get(conn, &u.username).await?.is_some() {
        return Err(StoreError::Conflict(format!("user {} exists", u.username)));
    }
    sqlx::query(
        "INSERT INTO users (username, role, org, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&u.username)
    .bind(&u.role)
    .bind(&u.org)
    .bind(&u.password_hash)
    .bind(u.disabled)
    .bind(u.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT username, role, org, password_hash, disabled, created_at FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(conn)
    .await?)
}
