//! The outbox: signed envelopes for peers, in channel order, with their receipts.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct OutRow {
    pub peer_id: String,
    pub seq: i64,
    pub jti: String,
    pub kind: String,
    pub case_id: Option<String>,
    pub jws: String,
    pub envelope_sha256: String,
    pub body: String,
    pub blobs: String,
    pub state: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
    pub receipt_status: Option<String>,
    pub delivered_at: Option<i64>,
}

pub async fn insert(conn: &mut AnyConnection, row: &OutRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, blobs, state,
                             created_at, attempts, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, 0, $10)",
    )
    .bind(&row.peer_id)
    .bind(row.seq)
    .bind(&row.jti)
    .bind(&row.kind)
    .bind(&row.case_id)
    .bind(&row.jws)
    .bind(&row.envelope_sha256)
    .bind(&row.body)
    .bind(&row.blobs)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The first `limit` envelopes of the channel not yet delivered, in order: the first
/// goes before any other, so a rejected one holds the channel until an operator acts.
pub async fn undelivered(
    conn: &mut AnyConnection,
    peer: &str,
    limit: i64,
) -> Result<Vec<OutRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, blobs, state, created_at,
                attempts, next_attempt_at, last_error, receipt, receipt_status, delivered_at
         FROM outbox WHERE peer_id = $1 AND state <> 'delivered' ORDER BY seq LIMIT $2",
    )
    .bind(peer)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn get(
    conn: &mut AnyConnection,
    peer: &str,
    seq: i64,
) -> Result<Option<OutRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, blobs, state, created_at,
                attempts, next_attempt_at, last_error, receipt, receipt_status, delivered_at
         FROM outbox WHERE peer_id = $1 AND seq = $2",
    )
    .bind(peer)
    .bind(seq)
    .fetch_optional(conn)
    .await?)
}

pub async fn mark_delivered(
    conn: &mut AnyConnection,
    peer: &str,
    seq: i64,
    receipt: &str,
    status: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET state = 'delivered', receipt = $1, receipt_status = $2, delivered_at = $3,
                           attempts = attempts + 1, last_error = NULL
         WHERE peer_id = $4 AND seq = $5",
    )
    .bind(receipt)
    .bind(status)
    .bind(at)
    .bind(peer)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

/// A failed attempt: try again at `next_at`. A held envelope that now fails for
/// a passing reason is queued again.
pub async fn mark_failed(
    conn: &mut AnyConnection,
    peer: &str,
    seq: i64,
    error: &str,
    next_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET state = 'queued', attempts = attempts + 1, last_error = $1, next_attempt_at = $2
         WHERE peer_id = $3 AND seq = $4 AND state <> 'delivered'",
    )
    .bind(error)
    .bind(next_at)
    .bind(peer)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

/// The peer refused the envelope for a reason that does not pass by itself: the
/// channel is held (its signed receipt kept as evidence), and tried again at
/// `next_at` anyway, so that a fix on either side releases it.
pub async fn mark_rejected(
    conn: &mut AnyConnection,
    peer: &str,
    seq: i64,
    receipt: &str,
    error: &str,
    next_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET state = 'rejected', receipt = $1, receipt_status = 'rejected', last_error = $2,
                           attempts = attempts + 1, next_attempt_at = $5
         WHERE peer_id = $3 AND seq = $4",
    )
    .bind(receipt)
    .bind(error)
    .bind(peer)
    .bind(seq)
    .bind(next_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An envelope signed again (a fresh `iat`, and so a new hash and, for those
/// after it, a new `prev`), never yet accepted by the peer.
pub async fn resigned(
    conn: &mut AnyConnection,
    peer: &str,
    seq: i64,
    jws: &str,
    envelope_sha256: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET jws = $1, envelope_sha256 = $2
         WHERE peer_id = $3 AND seq = $4 AND state <> 'delivered'",
    )
    .bind(jws)
    .bind(envelope_sha256)
    .bind(peer)
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

/// After the peer said it expects `from_seq`: everything from there is sent again
/// (the peer answers envelopes it already holds as duplicates).
pub async fn requeue_from(
    conn: &mut AnyConnection,
    peer: &str,
    from_seq: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'queued', next_attempt_at = $1
         WHERE peer_id = $2 AND seq >= $3 AND state = 'delivered'",
    )
    .bind(now)
    .bind(peer)
    .bind(from_seq)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Delivery state of one peer's channel, for operators.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PeerOutbox {
    pub peer_id: String,
    pub queued: i64,
    pub rejected: i64,
    pub delivered: i64,
    pub oldest_queued_at: Option<i64>,
    pub max_attempts: Option<i64>,
}

pub async fn summary(conn: &mut AnyConnection) -> Result<Vec<PeerOutbox>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.node_id AS peer_id,
                COALESCE(SUM(CASE WHEN o.state = 'queued' THEN 1 ELSE 0 END), 0) AS queued,
                COALESCE(SUM(CASE WHEN o.state = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected,
                COALESCE(SUM(CASE WHEN o.state = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered,
                MIN(CASE WHEN o.state <> 'delivered' THEN o.created_at END) AS oldest_queued_at,
                MAX(CASE WHEN o.state <> 'delivered' THEN o.attempts END) AS max_attempts
         FROM peers p LEFT JOIN outbox o ON o.peer_id = p.node_id
         GROUP BY p.node_id ORDER BY p.node_id",
    )
    .fetch_all(conn)
    .await?)
}

/// The most recent error on a peer's channel, if the first undelivered envelope has one.
pub async fn last_error(
    conn: &mut AnyConnection,
    peer: &str,
) -> Result<Option<String>, StoreError> {
    Ok(undelivered(conn, peer, 1)
        .await?
        .pop()
        .and_then(|r| r.last_error))
}

/// Transcript entries: (seq, jti, jws) after `after`, at most `limit`.
pub async fn transcript(
    conn: &mut AnyConnection,
    peer: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, jti, jws FROM outbox WHERE peer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(peer)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The outbound envelope with this jti, to show its delivery state.
pub async fn by_jti(
    conn: &mut AnyConnection,
    peer: &str,
    jti: &str,
) -> Result<Option<OutRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT peer_id, seq, jti, kind, case_id, jws, envelope_sha256, body, blobs, state, created_at,
                attempts, next_attempt_at, last_error, receipt, receipt_status, delivered_at
         FROM outbox WHERE peer_id = $1 AND jti = $2",
    )
    .bind(peer)
    .bind(jti)
    .fetch_optional(conn)
    .await?)
}

/// Claims the delivery of a peer's channel until `conn`'s transaction ends
/// (PostgreSQL): false when another process holds it.
pub async fn claim_channel(conn: &mut AnyConnection, peer: &str) -> Result<bool, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT peer_id FROM couriers WHERE peer_id = $1 FOR UPDATE SKIP LOCKED")
            .bind(peer)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// The first envelope after `after_seq` the peer receipted, if any.
pub async fn first_delivered_after(
    conn: &mut AnyConnection,
    peer: &str,
    after_seq: i64,
) -> Result<Option<i64>, StoreError> {
    let row: (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(seq) FROM outbox WHERE peer_id = $1 AND seq > $2 AND state = 'delivered'",
    )
    .bind(peer)
    .bind(after_seq)
    .fetch_one(conn)
    .await?;
    Ok(row.0)
}

/// The highest envelope the peer receipted (0: none).
pub async fn last_delivered(conn: &mut AnyConnection, peer: &str) -> Result<i64, StoreError> {
    let row: (Option<i64>,) =
        sqlx::query_as("SELECT MAX(seq) FROM outbox WHERE peer_id = $1 AND state = 'delivered'")
            .bind(peer)
            .fetch_one(conn)
            .await?;
    Ok(row.0.unwrap_or(0))
}

/// Takes an undelivered envelope out of the channel (to put it back later under
/// another `seq`, after what a restored node recovers).
pub async fn remove_undelivered(
    conn: &mut AnyConnection,
    peer: &str,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM outbox WHERE peer_id = $1 AND seq = $2 AND state <> 'delivered'")
        .bind(peer)
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

/// An undelivered envelope made again: a new body and blob list (attachments
/// sealed again), signed again.
pub async fn rewritten(conn: &mut AnyConnection, row: &OutRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET jws = $1, envelope_sha256 = $2, body = $3, blobs = $4
         WHERE peer_id = $5 AND seq = $6 AND state <> 'delivered'",
    )
    .bind(&row.jws)
    .bind(&row.envelope_sha256)
    .bind(&row.body)
    .bind(&row.blobs)
    .bind(&row.peer_id)
    .bind(row.seq)
    .execute(conn)
    .await?;
    Ok(())
}

/// The last envelope of the channel (any state): `(seq, envelope_sha256)`.
pub async fn last(
    conn: &mut AnyConnection,
    peer: &str,
) -> Result<Option<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, envelope_sha256 FROM outbox WHERE peer_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(peer)
    .fetch_optional(conn)
    .await?)
}
