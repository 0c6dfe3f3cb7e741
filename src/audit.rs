//! The hash-chained audit log: every move, every read of sealed content, every
//! sign-in. An entry commits in the same transaction as what it records.

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

/// Recomputes the chain; `Err(position)` names the first entry that does not hold.
pub fn verify(rows: &[AuditRow]) -> Result<usize, i64> {
    let mut prev = String::new();
    for (i, row) in rows.iter().enumerate() {
        if row.position != i as i64 + 1 || row.prev_hash != prev || entry_hash(row) != row.hash {
            return Err(i as i64 + 1);
        }
        prev = row.hash.clone();
    }
    Ok(rows.len())
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
        assert_eq!(verify(&rows), Ok(5));
        let mut edited = rows.clone();
        edited[2].detail = "other".into();
        assert_eq!(verify(&edited), Err(3));
        let mut deleted = rows.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted), Err(2));
        let mut inserted = rows.clone();
        inserted.insert(4, rows[3].clone());
        assert_eq!(verify(&inserted), Err(5));
    }
}
