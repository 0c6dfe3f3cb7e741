//! The hash-chained audit log: every move, every read of sealed content, every
//! sign-in, every grant, user and peer change. An entry commits in the same
//! transaction as what it records. Checkpoints (the chain's length and head,
//! signed to each peer) let a peer witness that history was not rewritten.

use sqlx::AnyConnection;

use crate::crypto::hash::sha256_hex;
use crate::store::audit::{self, AuditRow};
use crate::store::{StoreError, millis};

/// What happened, without personal data: ids, kinds, outcomes.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub case_id: Option<&'a str>,
    pub detail: &'a str,
}

/// The hash of an entry: SHA-256 of the RFC 8785 canonical JSON of its fields and
/// the previous entry's hash.
pub fn entry_hash(row: &AuditRow) -> String {
    let fields = serde_json::json!({
        "position": row.position,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "case": row.case_id,
        "detail": row.detail,
        "prev": row.prev_hash,
    });
    sha256_hex(&serde_jcs::to_vec(&fields).unwrap_or_default())
}

/// Appends an entry on `conn` (the transaction of the change it records).
pub async fn record(
    conn: &mut AnyConnection,
    entry: Entry<'_>,
    now: time::OffsetDateTime,
) -> Result<i64, StoreError> {
    let (position, prev) = audit::lock_head(conn).await?;
    let mut row = AuditRow {
        position: position + 1,
        at: millis(now),
        actor: entry.actor.to_owned(),
        action: entry.action.to_owned(),
        case_id: entry.case_id.map(str::to_owned),
        detail: entry.detail.to_owned(),
        prev_hash: prev,
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    audit::append(conn, &row).await?;
    Ok(row.position)
}

/// Where and why the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub position: i64,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit entry {}: {}", self.position, self.reason)
    }
}

fn broken(position: i64, reason: impl Into<String>) -> Broken {
    Broken {
        position,
        reason: reason.into(),
    }
}

/// Recomputes the chain; `Err` names the first entry that does not hold.
pub fn verify(rows: &[AuditRow]) -> Result<usize, Broken> {
    let mut prev = String::new();
    for (i, row) in rows.iter().enumerate() {
        let expected = i as i64 + 1;
        if row.position > expected {
            return Err(broken(
                expected,
                format!(
                    "missing: the chain jumps from entry {} to entry {} (deleted)",
                    expected - 1,
                    row.position
                ),
            ));
        }
        if row.position < expected {
            return Err(broken(
                row.position,
                "out of sequence: numbered before entries already in the chain (inserted)",
            ));
        }
        if entry_hash(row) != row.hash {
            return Err(broken(
                row.position,
                "its content does not match its hash (edited)",
            ));
        }
        if row.prev_hash != prev {
            return Err(broken(
                row.position,
                format!(
                    "does not follow entry {}: its previous hash differs (an entry was inserted, replaced or deleted before it)",
                    row.position - 1
                ),
            ));
        }
        prev = row.hash.clone();
    }
    Ok(rows.len())
}

/// As `verify`, and the chain ends where the recorded head says it does (so the
/// last entries cannot be deleted unseen).
pub fn verify_with_head(rows: &[AuditRow], head: (i64, &str)) -> Result<usize, Broken> {
    let n = verify(rows)?;
    let last = rows
        .last()
        .map(|r| (r.position, r.hash.as_str()))
        .unwrap_or((0, ""));
    if head.0 > last.0 {
        return Err(broken(
            last.0 + 1,
            format!(
                "missing: the head records {} entries but the chain ends at {} (deleted)",
                head.0, last.0
            ),
        ));
    }
    if head.0 < last.0 {
        return Err(broken(
            head.0 + 1,
            format!(
                "not in the head: the head records {} entries, the chain has {} (inserted)",
                head.0, last.0
            ),
        ));
    }
    if head.1 != last.1 {
        return Err(broken(
            last.0,
            "its hash differs from the recorded head (replaced)",
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = String::new();
        (1..=n)
            .map(|p| {
                let mut row = AuditRow {
                    position: p,
                    at: p * 1000,
                    actor: "somchai".into(),
                    action: "case.move".into(),
                    case_id: None,
                    detail: format!("step {p}"),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                row.hash = entry_hash(&row);
                prev = row.hash.clone();
                row
            })
            .collect()
    }

    #[test]
    fn edits_deletions_and_insertions_break_the_chain() {
        let rows = chain(5);
        let at = |r: Result<usize, Broken>| r.map_err(|b| b.position);
        assert_eq!(verify(&rows), Ok(5));
        let head = (5, rows[4].hash.as_str());
        assert_eq!(verify_with_head(&rows, head), Ok(5));
        let mut edited = rows.clone();
        edited[2].detail = "other".into();
        assert_eq!(at(verify(&edited)), Err(3));
        let mut deleted = rows.clone();
        deleted.remove(1);
        assert_eq!(at(verify(&deleted)), Err(2));
        let mut inserted = rows.clone();
        inserted.insert(4, rows[3].clone());
        assert_eq!(at(verify(&inserted)), Err(4));
        let tail_cut = &rows[..4];
        assert_eq!(at(verify_with_head(tail_cut, head)), Err(5));
        let longer = chain(6);
        assert_eq!(at(verify_with_head(&longer, head)), Err(6));
    }
}
