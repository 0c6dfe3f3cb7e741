//! Peers: registering one from its signed descriptor and the fingerprint its
//! operator gave out of band (audited), and listing them.

use crate::node::{Node, NodeError};
use crate::store::StoreError;

/// Registers a peer from its signed descriptor and the fingerprint its operator gave
/// out of band (`peer add`, and the demo). Stores nothing unless every check holds.
pub async fn register_peer(
    node: &Node,
    signed_json: &str,
    fingerprint: &str,
    now: time::OffsetDateTime,
) -> Result<crate::store::peers::PeerRow, NodeError> {
    let verified = crate::protocol::descriptor::verify_with_fingerprint(signed_json, fingerprint)?;
    if verified.node_id == node.config.node_id {
        return Err(NodeError::Invalid("this is our own descriptor".into()));
    }
    let at = crate::store::millis(now);
    let row = crate::store::peers::PeerRow {
        node_id: verified.node_id.to_string(),
        country: verified.country.to_string(),
        name: verified.descriptor.name.clone(),
        federation_url: verified.descriptor.federation_url.clone(),
        fingerprint: verified.fingerprint.clone(),
        descriptor: verified.signed_json.clone(),
        added_at: at,
        updated_at: at,
    };
    let mut tx = node.store.begin().await?;
    crate::store::peers::insert(&mut tx, &row).await?;
    let detail = format!("peer={} fingerprint={}", row.node_id, row.fingerprint);
    let entry = super::audit::Entry {
        actor: "operator",
        action: "peer.add",
        case_id: None,
        detail: &detail,
    };
    super::audit::record(&mut tx, entry, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(row)
}

/// Takes a registered peer's new descriptor (`peer update`): when a signing key
/// we already trust for that peer signed it, or when `fingerprint` (read out by
/// its operator) matches. Audited with both fingerprints.
pub async fn update_peer(
    node: &Node,
    signed_json: &str,
    fingerprint: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<crate::store::peers::PeerRow, NodeError> {
    let verified = match fingerprint {
        Some(fp) => crate::protocol::descriptor::verify_with_fingerprint(signed_json, fp)?,
        None => crate::protocol::descriptor::verify(signed_json)?,
    };
    let mut tx = node.store.begin().await?;
    let Some(old) = crate::store::peers::get(&mut tx, verified.node_id.as_str()).await? else {
        return Err(NodeError::Invalid(format!(
            "{} is not a registered peer: use `peer add`",
            verified.node_id
        )));
    };
    if fingerprint.is_none() {
        let trusted = crate::protocol::descriptor::verify(&old.descriptor)?;
        let by = &verified.signed_by;
        let known = trusted
            .descriptor
            .signing_keys
            .iter()
            .any(|k| k.kid == by.kid && k.public_key == by.public_key);
        if !known {
            return Err(NodeError::Invalid(format!(
                "the new descriptor of {} is signed by a key this node does not trust for it ({}); \
                 compare its fingerprint ({}) with the peer's operator and pass --fingerprint",
                verified.node_id,
                by.kid,
                crate::crypto::hash::group_hex(&verified.fingerprint)
            )));
        }
    }
    let row = crate::store::peers::PeerRow {
        node_id: old.node_id.clone(),
        country: verified.country.to_string(),
        name: verified.descriptor.name.clone(),
        federation_url: verified.descriptor.federation_url.clone(),
        fingerprint: verified.fingerprint.clone(),
        descriptor: verified.signed_json.clone(),
        added_at: old.added_at,
        updated_at: crate::store::millis(now),
    };
    crate::store::peers::update(&mut tx, &row).await?;
    let detail = format!(
        "peer={} fingerprint={} was={}",
        row.node_id, row.fingerprint, old.fingerprint
    );
    let entry = super::audit::Entry {
        actor: "operator",
        action: "peer.update",
        case_id: None,
        detail: &detail,
    };
    super::audit::record(&mut tx, entry, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(row)
}

/// A registered peer as operators see it.
pub use crate::store::peers::PeerRow;

/// Every registered peer.
pub async fn list(node: &Node) -> Result<Vec<PeerRow>, super::AppError> {
    let mut conn = node.store.pool().acquire().await?;
    Ok(crate::store::peers::list(&mut conn).await?)
}
