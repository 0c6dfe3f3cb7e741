//! Channel heads: the last sequence number and envelope hash, per peer and direction.

use sqlx::AnyConnection;

use super::StoreError;
use crate::protocol::envelope::Head;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Envelopes we create for the peer.
    Out,
    /// Envelopes we accepted from the peer.
    In,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Out => "out",
            Self::In => "in",
        }
    }
}

pub async fn head(
    conn: &mut AnyConnection,
    peer: &str,
    dir: Direction,
) -> Result<Head, StoreError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, sha256 FROM channels WHERE peer_id = $1 AND direction = $2")
            .bind(peer)
            .bind(dir.as_str())
            .fetch_optional(conn)
            .await?;
    Ok(row
        .map(|(seq, sha256)| Head {
            seq: seq as u64,
            sha256,
        })
        .unwrap_or_default())
}

/// The head, locked until the transaction ends, so envelopes of one channel are
/// sequenced one at a time: `FOR UPDATE` on PostgreSQL; on SQLite the transaction
/// already holds the database's write lock (`Store::begin`).
pub async fn lock_head(
    conn: &mut AnyConnection,
    peer: &str,
    dir: Direction,
) -> Result<Head, StoreError> {
    sqlx::query(
        "INSERT INTO channels (peer_id, direction, seq, sha256) VALUES ($1, $2, 0, '')
         ON CONFLICT (peer_id, direction) DO NOTHING",
    )
    .bind(peer)
    .bind(dir.as_str())
    .execute(&mut *conn)
    .await?;
    let row: (i64, String) = if conn.backend_name() == "PostgreSQL" {
        sqlx::query_as(
            "SELECT seq, sha256 FROM channels WHERE peer_id = $1 AND direction = $2 FOR UPDATE",
        )
        .bind(peer)
        .bind(dir.as_str())
        .fetch_one(&mut *conn)
        .await?
    } else {
        sqlx::query_as("SELECT seq, sha256 FROM channels WHERE peer_id = $1 AND direction = $2")
            .bind(peer)
            .bind(dir.as_str())
            .fetch_one(&mut *conn)
            .await?
    };
    Ok(Head {
        seq: row.0 as u64,
        sha256: row.1,
    })
}

/// Moves a locked head from `from` to `to`.
pub async fn advance(
    conn: &mut AnyConnection,
    peer: &str,
    dir: Direction,
    from: &Head,
    to: &Head,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE channels SET seq = $1, sha256 = $2
         WHERE peer_id = $3 AND direction = $4 AND seq = $5 AND sha256 = $6",
    )
    .bind(to.seq as i64)
    .bind(&to.sha256)
    .bind(peer)
    .bind(dir.as_str())
    .bind(from.seq as i64)
    .bind(&from.sha256)
    .execute(conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "channel head of {peer} moved concurrently"
        )));
    }
    Ok(())
}

/// The hash of a locked head whose envelope was signed again (same `seq`).
pub async fn rehash(
    conn: &mut AnyConnection,
    peer: &str,
    dir: Direction,
    seq: u64,
    sha256: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE channels SET sha256 = $1 WHERE peer_id = $2 AND direction = $3 AND seq = $4",
    )
    .bind(sha256)
    .bind(peer)
    .bind(dir.as_str())
    .bind(seq as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a locked head, whatever it was (recovery after a restore).
pub async fn set_head(
    conn: &mut AnyConnection,
    peer: &str,
    dir: Direction,
    to: &Head,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE channels SET seq = $1, sha256 = $2 WHERE peer_id = $3 AND direction = $4")
        .bind(to.seq as i64)
        .bind(&to.sha256)
        .bind(peer)
        .bind(dir.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
