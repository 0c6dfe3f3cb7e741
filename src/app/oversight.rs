//! What operators and auditors read: whether the database answers, delivery
//! health per peer, the audit log. No case content is reachable from here.

use super::AppError;
use crate::node::Node;
use crate::store::{Store, audit, outbox};

pub use crate::store::audit::{AuditRow, Filter as AuditFilter};
pub use crate::store::outbox::PeerOutbox;

/// Answers whether the node's database answers (readiness).
#[derive(Clone)]
pub struct Readiness(Store);

impl Readiness {
    /// Readiness of the database at `url` (a node's own is `of`).
    pub async fn connect(url: &str) -> Result<Self, AppError> {
        let store = Store::connect(url, true).await?;
        store.migrate().await?;
        Ok(Self(store))
    }

    /// Stops answering: every later check is unavailable.
    pub async fn close(&self) {
        self.0.close().await;
    }

    pub fn of(node: &Node) -> Self {
        Self(node.store.clone())
    }

    pub async fn check(&self) -> Result<(), AppError> {
        Ok(self.0.ping().await?)
    }
}

/// Per peer: what waits to be delivered and since when.
pub async fn outbox_summary(node: &Node) -> Result<Vec<PeerOutbox>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    Ok(outbox::summary(&mut conn).await?)
}

/// As `outbox_summary`, each with the last delivery error of its channel.
pub async fn outbox_health(node: &Node) -> Result<Vec<(PeerOutbox, Option<String>)>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let rows = outbox::summary(&mut conn).await?;
    let mut out = Vec::new();
    for r in rows {
        let last_error = outbox::last_error(&mut conn, &r.peer_id).await?;
        out.push((r, last_error));
    }
    Ok(out)
}

/// The audit log, filtered and paged.
pub async fn audit_log(node: &Node, filter: &AuditFilter) -> Result<Vec<AuditRow>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    Ok(audit::list(&mut conn, filter).await?)
}

/// How many accounts were made or enabled that read case content (every one,
/// from the audit log: it survives restarts).
pub async fn case_access_grants(node: &Node) -> Result<i64, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    Ok(audit::count(&mut conn, super::accounts::CASE_ACCESS).await?)
}

/// Now, in the Unix milliseconds every stored time uses.
pub fn now_ms() -> i64 {
    crate::domain::millis(time::OffsetDateTime::now_utc())
}
