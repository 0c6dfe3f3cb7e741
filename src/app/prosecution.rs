//! Legal-aid access to the prosecution track: grants per case and organisation
//! (refused without the person's `legal_aid_sharing` consent), and the board a
//! legal-aid user sees: pseudonymous references, never the person or the case id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::AppError;
use super::audit::{self, Entry};
use super::case_view::track_of;
use crate::domain::prosecution::Track;
use crate::node::Node;
use crate::store::{cases, millis, prosecution};

/// An organisation name as accounts carry it: 2 to 64 letters, digits, `.`, `_`, `-`.
pub fn check_org(org: &str) -> Result<(), AppError> {
    let ok = (2..=64).contains(&org.len())
        && org
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid(crate::domain::messages::BodyError::new(
            "org",
            "an organisation: 2 to 64 letters, digits, '.', '_' or '-'",
        )))
    }
}

/// Grants `org` access to the case's prosecution track on this node.
pub async fn grant(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    org: &str,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    check_org(org)?;
    let case_id = case_id.to_string();
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let consented = cases::consents(&mut tx, &row.case_id).await?;
    if !consented.iter().any(|p| p == "legal_aid_sharing") {
        return Err(AppError::Conflict(
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
) -> Result<(), AppError> {
    let case_id = case_id.to_string();
    let mut tx = node.store.begin().await?;
    if !prosecution::revoke(&mut tx, &case_id, org, actor, millis(now)).await? {
        return Err(AppError::NotFound);
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
pub async fn board(node: &Node, actor: &str, org: &str) -> Result<Vec<BoardEntry>, AppError> {
    let now = time::OffsetDateTime::now_utc();
    let mut conn = node.store.pool().acquire().await?;
    let granted = prosecution::granted_to(&mut conn, org).await?;
    let mut out = Vec::new();
    for case_id in granted {
        let Some(row) = cases::get(&mut conn, &case_id).await? else {
            continue;
        };
        let events = cases::events(&mut conn, &case_id).await?;
        let entry = BoardEntry {
            reference: case_ref(node, org, &case_id),
            state: row.state.clone(),
            track: track_of(node, &events, row.testimony_pending != 0).track,
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

/// Who was granted a case's prosecution track, and who revoked it.
pub async fn grants(
    node: &Node,
    case_id: uuid::Uuid,
) -> Result<Vec<super::case_view::GrantRow>, AppError> {
    let id = case_id.to_string();
    let mut conn = node.store.pool().acquire().await?;
    cases::get(&mut conn, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(prosecution::grants(&mut conn, &id).await?)
}
