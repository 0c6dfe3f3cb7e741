//! Legal-aid access to the prosecution track: grants per case and organisation
//! (refused without the person's `legal_aid_sharing` consent), and the board a
//! legal-aid user sees: pseudonymous references, never the person or the case id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::audit::{self, Entry};
use crate::cases::{CaseError, open_sealed};
use crate::domain::messages::{Body, ProsecutionUpdate, parse};
use crate::domain::prosecution::{Track, summarise};
use crate::domain::sop::Kind;
use crate::node::Node;
use crate::store::{cases, millis, prosecution};

/// An organisation name as accounts carry it: 2 to 64 letters, digits, `.`, `_`, `-`.
pub fn check_org(org: &str) -> Result<(), CaseError> {
    let ok = (2..=64).contains(&org.len())
        && org
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CaseError::Invalid(crate::domain::messages::BodyError {
            field: "org".into(),
            message: "an organisation: 2 to 64 letters, digits, '.', '_' or '-'".into(),
        }))
    }
}

/// Grants `org` access to the case's prosecution track on this node.
pub async fn grant(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    org: &str,
    now: time::OffsetDateTime,
) -> Result<(), CaseError> {
    check_org(org)?;
    let case_id = case_id.to_string();
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id)
        .await?
        .ok_or(CaseError::NotFound)?;
    let consented = cases::consents(&mut tx, &row.case_id).await?;
    if !consented.iter().any(|p| p == "legal_aid_sharing") {
        return Err(CaseError::Conflict(
            "the person has not consented to legal_aid_sharing: no organisation may be granted access"
                .into(),
        ));
    }
    prosecution::grant(&mut tx, &case_id, org, actor, millis(now)).await?;
    let detail = format!("org={org}");
    let entry = Entry {
        actor,
        action: "case.grant",
        case_id: Some(&case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes `org`'s access; it ends at once.
pub async fn revoke(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    org: &str,
    now: time::OffsetDateTime,
) -> Result<(), CaseError> {
    let case_id = case_id.to_string();
    let mut tx = node.store.begin().await?;
    if !prosecution::revoke(&mut tx, &case_id, org, actor, millis(now)).await? {
        return Err(CaseError::NotFound);
    }
    let detail = format!("org={org}");
    let entry = Entry {
        actor,
        action: "case.revoke",
        case_id: Some(&case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A case's reference for one organisation: stable for that organisation,
/// different for every other, and not the case id (an HMAC under a key only this
/// node holds, derived from its session key).
pub fn case_ref(node: &Node, org: &str, case_id: &str) -> String {
    let key = format!(
        "mittaphap legal-aid reference\n{}",
        node.session_key.pkcs8_pem()
    );
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(org.as_bytes());
    mac.update(b"\n");
    mac.update(case_id.as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    format!("PR-{}-{}-{}", &digest[..4], &digest[4..8], &digest[8..12])
}

/// The prosecution updates applied to a case, in order, opened from its timeline
/// (a read of sealed content: the caller audits it).
pub fn updates_of(node: &Node, events: &[cases::EventRow]) -> Vec<ProsecutionUpdate> {
    events
        .iter()
        .filter(|e| e.kind == Kind::ProsecutionUpdate.as_str() && e.outcome == "applied")
        .filter_map(|e| open_sealed(node, &e.body))
        .filter_map(|b| match parse(Kind::ProsecutionUpdate, &b) {
            Ok(Body::ProsecutionUpdate(u)) => Some(u),
            _ => None,
        })
        .collect()
}

/// One granted case as its legal-aid organisation sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BoardEntry {
    #[serde(rename = "ref")]
    pub reference: String,
    pub state: String,
    #[serde(flatten)]
    pub track: Track,
}

/// The cases granted to `org`, each with its track. Opening the updates is a read
/// of sealed content: one audit entry per case, by `actor`.
pub async fn board(node: &Node, actor: &str, org: &str) -> Result<Vec<BoardEntry>, CaseError> {
    let now = time::OffsetDateTime::now_utc();
    let mut conn = node.store.pool().acquire().await?;
    let granted = prosecution::granted_to(&mut conn, org).await?;
    let mut out = Vec::new();
    for case_id in granted {
        let Some(row) = cases::get(&mut conn, &case_id).await? else {
            continue;
        };
        let updates = updates_of(node, &cases::events(&mut conn, &case_id).await?);
        let entry = BoardEntry {
            reference: case_ref(node, org, &case_id),
            state: row.state.clone(),
            track: summarise(&updates, row.testimony_pending != 0),
        };
        out.push((case_id, entry));
    }
    drop(conn);
    // The auditor sees which case was read; the lawyer only the reference.
    let mut tx = node.store.begin().await?;
    for (case_id, entry) in &out {
        let detail = format!("prosecution track; org={org} ref={}", entry.reference);
        let entry = Entry {
            actor,
            action: "prosecution.read",
            case_id: Some(case_id),
            detail: &detail,
        };
        audit::record(&mut tx, entry, now).await?;
    }
    tx.commit().await?;
    Ok(out.into_iter().map(|(_, e)| e).collect())
}
