//! Audit checkpoints (DESIGN §4): our chain's length and head hash, sent to every
//! peer in a signed `audit_checkpoint` envelope; the peer keeps them and serves
//! them back, so `audit verify` can prove our history matches what it witnessed.
//! Sending or holding a checkpoint writes no audit entry of its own (that would
//! move the head it reports, and two nodes would checkpoint each other for ever).

use sqlx::AnyConnection;

use super::outbox::{Message, SendError, send};
use crate::crypto::seal::open_bytes;
use crate::node::Node;
use crate::protocol::checkpoint::{CheckpointBody, KIND, SCHEMA, Witnessed};
use crate::store::audit::{self, CheckpointRow};
use crate::store::{StoreError, millis, peers};

/// When checkpoints are due: at least `min_gap_ms` apart for one peer, counted
/// for the first one from `since_ms` (when the node started serving).
#[derive(Debug, Clone, Copy)]
pub enum Due {
    Every {
        min_gap_ms: i64,
        since_ms: i64,
    },
    /// Now, to every peer (on demand).
    Now,
}

/// Sends a checkpoint to every peer whose last one is older than the head and
/// due. Returns how many were queued.
pub async fn send_due(
    node: &Node,
    now: time::OffsetDateTime,
    due: Due,
) -> Result<usize, StoreError> {
    let mut conn = node.store.pool().acquire().await?;
    let peers = peers::list(&mut conn).await?;
    drop(conn);
    let mut sent = 0;
    for peer in peers {
        let mut tx = node.store.begin().await?;
        let (position, hash) = audit::head(&mut tx).await?;
        let last = audit::last_sent(&mut tx, &peer.node_id).await?;
        let send_now = match (due, last) {
            _ if position == 0 => false,
            (Due::Now, _) => true,
            (
                Due::Every {
                    min_gap_ms,
                    since_ms,
                },
                None,
            ) => millis(now) - since_ms >= min_gap_ms,
            (Due::Every { min_gap_ms, .. }, Some((p, at))) => {
                p < position && millis(now) - at >= min_gap_ms
            }
        };
        if !send_now {
            continue;
        }
        let body = CheckpointBody {
            schema: SCHEMA.into(),
            position,
            hash: hash.clone(),
            at: millis(now),
        };
        let value = serde_json::to_value(&body).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let message = Message {
            kind: KIND,
            case: None,
            body: &value,
            blobs: &[],
        };
        let queued = send(&mut tx, node, &peer.node_id, message, now)
            .await
            .map_err(|e| match e {
                SendError::Store(e) => e,
                SendError::Invalid(m) => StoreError::Conflict(m),
            })?;
        let row = CheckpointRow {
            jti: queued.jti,
            peer_id: peer.node_id.clone(),
            direction: "sent".into(),
            position,
            hash,
            at: body.at,
        };
        audit::insert_checkpoint(&mut tx, &row).await?;
        tx.commit().await?;
        sent += 1;
    }
    if sent > 0 {
        node.outbox_ready.notify_one();
    }
    Ok(sent)
}

/// Keeps a checkpoint a peer sent us, inside the transaction that accepts its
/// envelope. A body that does not open or parse is flagged and not kept.
pub async fn hold(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    sealed_body: &[u8],
    jti: &str,
) -> Result<&'static str, StoreError> {
    let body: Option<CheckpointBody> = open_bytes(node.age.all(), sealed_body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|b: &CheckpointBody| {
            b.schema == SCHEMA && b.position >= 0 && crate::domain::is_sha256_hex(&b.hash)
        });
    let Some(body) = body else {
        tracing::warn!(%peer, "an audit checkpoint arrived with a body that does not open or parse; flagged");
        return Ok("conflict");
    };
    let row = CheckpointRow {
        jti: jti.to_owned(),
        peer_id: peer.to_owned(),
        direction: "held".into(),
        position: body.position,
        hash: body.hash,
        at: body.at,
    };
    audit::insert_checkpoint(conn, &row).await?;
    Ok("stored")
}

/// Checks our chain against what a peer witnessed; `Err` at the first checkpoint
/// our chain no longer matches.
pub fn check_against(
    rows: &[crate::store::audit::AuditRow],
    peer: &str,
    witnessed: &[Witnessed],
) -> Result<usize, super::audit::Broken> {
    for w in witnessed {
        let ours = usize::try_from(w.position - 1)
            .ok()
            .and_then(|i| rows.get(i));
        match ours {
            _ if w.position == 0 => {}
            Some(row) if row.position == w.position && row.hash == w.hash => {}
            Some(_) => {
                return Err(super::audit::Broken {
                    position: w.position,
                    reason: format!(
                        "differs from the checkpoint {peer} witnessed (history rewritten from here or before)"
                    ),
                });
            }
            None => {
                return Err(super::audit::Broken {
                    position: w.position,
                    reason: format!(
                        "missing: {peer} witnessed a chain of {} entries, ours has {} (deleted)",
                        w.position,
                        rows.len()
                    ),
                });
            }
        }
    }
    Ok(witnessed.len())
}
