//! The `cases` and `case_events` tables.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct CaseRow {
    pub case_id: String,
    pub host_node: String,
    pub home_node: String,
    pub our_side: String,
    pub state: String,
    pub turn: Option<String>,
    pub gender: Option<String>,
    pub age_at_identification: Option<i64>,
    pub exploitation_types: Option<String>,
    pub province_of_origin: Option<String>,
    pub crossing_point: Option<String>,
    pub prosecution_milestone: Option<String>,
    pub sealed: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// When retention destroyed the sealed content (then `sealed` is empty).
    pub purged_at: Option<i64>,
    /// 1 while a `testimony_requested` waits for the home side's arrangement.
    pub testimony_pending: i64,
    /// The user who holds the case on this node; none: the team's queue.
    pub owner: Option<String>,
    /// The return date planned or agreed (`YYYY-MM-DD`).
    pub return_date: Option<String>,
}

pub async fn insert(conn: &mut AnyConnection, c: &CaseRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cases (case_id, host_node, home_node, our_side, state, turn, gender, age_at_identification,
                            exploitation_types, province_of_origin, crossing_point, prosecution_milestone, sealed,
                            created_at, updated_at, owner, return_date)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&c.case_id)
    .bind(&c.host_node)
    .bind(&c.home_node)
    .bind(&c.our_side)
    .bind(&c.state)
    .bind(&c.turn)
    .bind(&c.gender)
    .bind(c.age_at_identification)
    .bind(&c.exploitation_types)
    .bind(&c.province_of_origin)
    .bind(&c.crossing_point)
    .bind(&c.prosecution_milestone)
    .bind(&c.sealed)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(&c.owner)
    .bind(&c.return_date)
    .execute(conn)
    .await?;
    Ok(())
}

/// Who holds the case (`None`: the team's queue).
pub async fn set_owner(
    conn: &mut AnyConnection,
    case_id: &str,
    owner: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE cases SET owner = $1 WHERE case_id = $2")
        .bind(owner)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The case, locked for the rest of the transaction on PostgreSQL (SQLite write
/// transactions hold the database lock already).
pub async fn get_for_update(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<CaseRow>, StoreError> {
    let sql = if conn.backend_name() == "PostgreSQL" {
        "SELECT case_id, host_node, home_node, our_side, state, turn, gender, age_at_identification, exploitation_types,
                province_of_origin, crossing_point, prosecution_milestone, sealed, created_at, updated_at, purged_at,
                testimony_pending, owner, return_date
         FROM cases WHERE case_id = $1 FOR UPDATE"
    } else {
        "SELECT case_id, host_node, home_node, our_side, state, turn, gender, age_at_identification, exploitation_types,
                province_of_origin, crossing_point, prosecution_milestone, sealed, created_at, updated_at, purged_at,
                testimony_pending, owner, return_date
         FROM cases WHERE case_id = $1"
    };
    Ok(sqlx::query_as(sql)
        .bind(case_id)
        .fetch_optional(conn)
        .await?)
}

/// Writes back what a move changed: state, turn, the clear columns, the sealed file,
/// whether a testimony arrangement is awaited.
pub async fn update(conn: &mut AnyConnection, c: &CaseRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE cases SET state = $1, turn = $2, gender = $3, age_at_identification = $4, exploitation_types = $5,
                          province_of_origin = $6, crossing_point = $7, prosecution_milestone = $8, sealed = $9,
                          updated_at = $10, testimony_pending = $11, return_date = $12
         WHERE case_id = $13",
    )
    .bind(&c.state)
    .bind(&c.turn)
    .bind(&c.gender)
    .bind(c.age_at_identification)
    .bind(&c.exploitation_types)
    .bind(&c.province_of_origin)
    .bind(&c.crossing_point)
    .bind(&c.prosecution_milestone)
    .bind(&c.sealed)
    .bind(c.updated_at)
    .bind(c.testimony_pending)
    .bind(&c.return_date)
    .bind(&c.case_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The home node of a case still a draft (an edit may change it).
pub async fn set_home_node(
    conn: &mut AnyConnection,
    case_id: &str,
    home_node: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE cases SET home_node = $1 WHERE case_id = $2 AND state = 'draft'")
        .bind(home_node)
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct EventRow {
    pub case_id: String,
    pub position: i64,
    pub made_by: String,
    pub kind: String,
    pub outcome: String,
    pub state_after: String,
    pub jti: Option<String>,
    pub body: String,
    pub at: i64,
}

/// Appends an event at the end of the case's timeline.
pub async fn append_event(conn: &mut AnyConnection, e: &EventRow) -> Result<i64, StoreError> {
    let (last,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(position) FROM case_events WHERE case_id = $1")
            .bind(&e.case_id)
            .fetch_one(&mut *conn)
            .await?;
    let position = last.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO case_events (case_id, position, made_by, kind, outcome, state_after, jti, body, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&e.case_id)
    .bind(position)
    .bind(&e.made_by)
    .bind(&e.kind)
    .bind(&e.outcome)
    .bind(&e.state_after)
    .bind(&e.jti)
    .bind(&e.body)
    .bind(e.at)
    .execute(conn)
    .await?;
    Ok(position)
}

pub async fn events(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, position, made_by, kind, outcome, state_after, jti, body, at
         FROM case_events WHERE case_id = $1 ORDER BY position",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

pub async fn get(conn: &mut AnyConnection, case_id: &str) -> Result<Option<CaseRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, host_node, home_node, our_side, state, turn, gender, age_at_identification, exploitation_types,
                province_of_origin, crossing_point, prosecution_milestone, sealed, created_at, updated_at, purged_at,
                testimony_pending, owner, return_date
         FROM cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(conn)
    .await?)
}

/// Records (or replaces) the consent for one purpose.
pub async fn set_consent(
    conn: &mut AnyConnection,
    case_id: &str,
    purpose: &str,
    granted: bool,
    record: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM case_consents WHERE case_id = $1 AND purpose = $2")
        .bind(case_id)
        .bind(purpose)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO case_consents (case_id, purpose, granted, record, recorded_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(purpose)
    .bind(i64::from(granted))
    .bind(record)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The purposes consented to on a case.
pub async fn consents(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT purpose FROM case_consents WHERE case_id = $1 AND granted = 1 ORDER BY purpose",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The consents granted on a case: purpose and sealed record, by purpose.
pub async fn consent_records(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT purpose, record FROM case_consents WHERE case_id = $1 AND granted = 1 ORDER BY purpose",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

/// Every case, most recently changed first.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<CaseRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, host_node, home_node, our_side, state, turn, gender, age_at_identification, exploitation_types,
                province_of_origin, crossing_point, prosecution_milestone, sealed, created_at, updated_at, purged_at,
                testimony_pending, owner, return_date
         FROM cases ORDER BY updated_at DESC",
    )
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct AttachmentRow {
    pub case_id: String,
    pub attachment_id: String,
    pub blob_sha256: String,
    pub len: i64,
    pub meta: String,
    pub created_at: i64,
}

pub async fn add_attachment(conn: &mut AnyConnection, a: &AttachmentRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO case_attachments (case_id, attachment_id, blob_sha256, len, meta, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.case_id)
    .bind(&a.attachment_id)
    .bind(&a.blob_sha256)
    .bind(a.len)
    .bind(&a.meta)
    .bind(a.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn attachments(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<AttachmentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, attachment_id, blob_sha256, len, meta, created_at
         FROM case_attachments WHERE case_id = $1 ORDER BY created_at, attachment_id",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await?)
}

/// The clear columns the statistics count, for every case past its draft.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct FactsRow {
    pub created_at: i64,
    pub gender: Option<String>,
    pub age_at_identification: Option<i64>,
    pub exploitation_types: Option<String>,
    pub province_of_origin: Option<String>,
    pub crossing_point: Option<String>,
    pub state: String,
}

pub async fn facts(conn: &mut AnyConnection) -> Result<Vec<FactsRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT created_at, gender, age_at_identification, exploitation_types, province_of_origin,
                crossing_point, state
         FROM cases WHERE state <> 'draft' ORDER BY created_at",
    )
    .fetch_all(conn)
    .await?)
}

/// Cases that ended (closed, declined, withdrawn) before `ended_before` and still
/// hold sealed content: (case id, when it last changed).
pub async fn purgeable(
    conn: &mut AnyConnection,
    ended_before: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT case_id, updated_at FROM cases
         WHERE state IN ('closed', 'declined', 'withdrawn') AND updated_at < $1 AND purged_at IS NULL
         ORDER BY updated_at, case_id",
    )
    .bind(ended_before)
    .fetch_all(conn)
    .await?)
}

/// Destroys a case's sealed content in the database: the file, the timeline
/// bodies, the consent records, the attachment rows, and the bodies received
/// for it (sealed to us). Clear columns stay. Returns the attachment blobs, for
/// the caller to delete.
pub async fn purge(
    conn: &mut AnyConnection,
    case_id: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let blobs: Vec<(String,)> =
        sqlx::query_as("SELECT blob_sha256 FROM case_attachments WHERE case_id = $1")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("UPDATE cases SET sealed = '', purged_at = $2 WHERE case_id = $1")
        .bind(case_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    for sql in [
        "UPDATE case_events SET body = '' WHERE case_id = $1",
        "UPDATE case_consents SET record = '' WHERE case_id = $1",
        "DELETE FROM case_attachments WHERE case_id = $1",
        "UPDATE inbox SET body = '' WHERE case_id = $1",
    ] {
        sqlx::query(sql).bind(case_id).execute(&mut *conn).await?;
    }
    Ok(blobs.into_iter().map(|b| b.0).collect())
}
