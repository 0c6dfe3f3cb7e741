//! Retention by crypto-shredding (DESIGN §3): the sealed content and blobs of a
//! case that ended longer ago than `retention.purge_sealed_after_days` are
//! destroyed, one audit entry per case; the clear columns stay for statistics.

use crate::app::audit::{self, Entry};
use crate::node::Node;
use crate::store::{StoreError, cases, millis};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A case whose sealed content is (or would be) destroyed.
#[derive(Debug, Clone, PartialEq)]
pub struct Purged {
    pub case_id: String,
    pub ended_at: i64,
    pub blobs: usize,
}

/// Purges every ended case past the limit (`dry_run`: only lists them). `None`
/// when no retention period is configured.
pub async fn purge(
    node: &Node,
    now: time::OffsetDateTime,
    dry_run: bool,
) -> Result<Option<Vec<Purged>>, StoreError> {
    let Some(days) = node.config.retention.purge_sealed_after_days else {
        return Ok(None);
    };
    let days = i64::try_from(days).unwrap_or(i64::MAX / DAY_MS);
    let before = millis(now).saturating_sub(days.saturating_mul(DAY_MS));
    let mut conn = node.store.pool().acquire().await?;
    let due = cases::purgeable(&mut conn, before).await?;
    let mut out = Vec::new();
    for (case_id, ended_at) in due {
        if dry_run {
            let blobs = cases::attachments(&mut conn, &case_id).await?.len();
            out.push(Purged {
                case_id,
                ended_at,
                blobs,
            });
            continue;
        }
        let mut tx = node.store.begin().await?;
        let blobs = cases::purge(&mut tx, &case_id, millis(now)).await?;
        // Blobs go first: a failure leaves the rows, and the next sweep tries again
        // (deleting a missing blob succeeds).
        for sha256 in &blobs {
            node.blobs
                .delete(sha256)
                .await
                .map_err(|e| StoreError::Conflict(format!("deleting a blob: {e}")))?;
        }
        let detail = format!("sealed content destroyed; blobs={}", blobs.len());
        let entry = Entry {
            actor: "node",
            action: "case.purge",
            case_id: Some(&case_id),
            detail: &detail,
        };
        audit::record(&mut tx, entry, now).await?;
        tx.commit().await?;
        tracing::info!(case = %case_id, blobs = blobs.len(), "sealed content of an ended case purged");
        out.push(Purged {
            case_id,
            ended_at,
            blobs: blobs.len(),
        });
    }
    Ok(Some(out))
}

/// Deletes blobs a peer uploaded that no envelope named within
/// `[limits] orphan_blob_secs` (a sender whose envelope comes later uploads its
/// blobs again). Returns how many were deleted.
pub async fn sweep_orphan_blobs(
    node: &Node,
    now: time::OffsetDateTime,
) -> Result<usize, StoreError> {
    use crate::store::received;
    let age_ms =
        i64::try_from(node.config.limits.orphan_blob_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let before = millis(now).saturating_sub(age_ms);
    let mut deleted = 0;
    loop {
        let mut conn = node.store.pool().acquire().await?;
        let orphans = received::orphans(&mut conn, before, 100).await?;
        if orphans.is_empty() {
            break;
        }
        for sha256 in &orphans {
            if !received::held_by_a_case(&mut conn, sha256).await? {
                node.blobs
                    .delete(sha256)
                    .await
                    .map_err(|e| StoreError::Conflict(e.to_string()))?;
                deleted += 1;
            }
            received::forget(&mut conn, sha256).await?;
        }
    }
    if deleted > 0 {
        tracing::info!(blobs = deleted, "blobs no envelope named were deleted");
    }
    Ok(deleted)
}
