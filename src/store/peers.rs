//! The `peers` table.

use sqlx::{AnyConnection, FromRow};

use super::StoreError;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PeerRow {
    pub node_id: String,
    pub country: String,
    pub name: String,
    pub federation_url: String,
    pub fingerprint: String,
    /// The signed descriptor JSON as received.
    pub descriptor: String,
    pub added_at: i64,
    pub updated_at: i64,
}

/// Registers a new peer; refuses if one with the same id exists.
pub async fn insert(conn: &mut AnyConnection, peer: &PeerRow) -> Result<(), StoreError> {
    if get(conn, &peer.node_id).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "peer {} is already registered",
            peer.node_id
        )));
    }
    sqlx::query(
        "INSERT INTO peers (node_id, country, name, federation_url, fingerprint, descriptor, added_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&peer.node_id)
    .bind(&peer.country)
    .bind(&peer.name)
    .bind(&peer.federation_url)
    .bind(&peer.fingerprint)
    .bind(&peer.descriptor)
    .bind(peer.added_at)
    .bind(peer.updated_at)
    .execute(&mut *conn)
    .await?;
    // The row a courier locks while it delivers this peer's channel.
    sqlx::query("INSERT INTO couriers (peer_id) VALUES ($1)")
        .bind(&peer.node_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, node_id: &str) -> Result<Option<PeerRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT node_id, country, name, federation_url, fingerprint, descriptor, added_at, updated_at
         FROM peers WHERE node_id = $1",
    )
        .bind(node_id)
        .fetch_optional(conn)
        .await?)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<PeerRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT node_id, country, name, federation_url, fingerprint, descriptor, added_at, updated_at
         FROM peers ORDER BY node_id",
    )
        .fetch_all(conn)
        .await?)
}

/// A registered peer's new descriptor and what comes from it.
pub async fn update(conn: &mut AnyConnection, peer: &PeerRow) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE peers SET country = $1, name = $2, federation_url = $3, fingerprint = $4,
                          descriptor = $5, updated_at = $6
         WHERE node_id = $7",
    )
    .bind(&peer.country)
    .bind(&peer.name)
    .bind(&peer.federation_url)
    .bind(&peer.fingerprint)
    .bind(&peer.descriptor)
    .bind(peer.updated_at)
    .bind(&peer.node_id)
    .execute(conn)
    .await?;
    Ok(())
}
