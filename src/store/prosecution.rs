//! The `prosecution_milestones` and `legal_aid_grants` tables.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

/// The milestones recorded on a case, in order.
pub async fn milestones(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT milestone FROM prosecution_milestones WHERE case_id = $1 ORDER BY position",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn append_milestone(
    conn: &mut AnyConnection,
    case_id: &str,
    milestone: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO prosecution_milestones (case_id, position, milestone, at)
         SELECT $1, COALESCE(MAX(position), 0) + 1, $2, $3 FROM prosecution_milestones WHERE case_id = $1",
    )
    .bind(case_id)
    .bind(milestone)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct GrantRow {
    pub case_id: String,
    pub org: String,
    pub granted_by: String,
    pub granted_at: i64,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<i64>,
}

/// Grants `org` access (again, if it was revoked).
pub async fn grant(
    conn: &mut AnyConnection,
    case_id: &str,
    org: &str,
    by: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM legal_aid_grants WHERE case_id = $1 AND org = $2")
        .bind(case_id)
        .bind(org)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO legal_aid_grants (case_id, org, granted_by, granted_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(case_id)
    .bind(org)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes a standing grant; false when there was none.
pub async fn revoke(
    conn: &mut AnyConnection,
    case_id: &str,
    org: &str,
    by: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE legal_aid_grants SET revoked_by = $1, revoked_at = $2
         WHERE case_id = $3 AND org = $4 AND revoked_at IS NULL",
    )
    .bind(by)
    .bind(at)
    .bind(case_id)
    .bind(org)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A case's grants, standing and revoked.
pub async fn grants(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<GrantRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, org, granted_by, granted_at, revoked_by, revoked_at
         FROM legal_aid_grants WHERE case_id = $1 ORDER BY org",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

/// The cases `org` may follow now.
pub async fn granted_to(conn: &mut AnyConnection, org: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT case_id FROM legal_aid_grants WHERE org = $1 AND revoked_at IS NULL ORDER BY granted_at, case_id",
    )
    .bind(org)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
