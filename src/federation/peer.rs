//! What every federation handler holds: the door's state, and the peer that this
//! connection's client certificate proved (`VerifiedPeer`).

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::FedError;
use crate::net::ConnInfo;
use crate::node::Node;
use crate::protocol::Descriptor;
use crate::store::peers;

#[derive(Clone)]
pub struct FedState {
    pub node: Arc<Node>,
    /// Our signed descriptor, made once at start.
    pub descriptor_json: Arc<str>,
}

/// A registered peer, proven by the client certificate of this connection.
#[derive(Debug, Clone)]
pub struct VerifiedPeer {
    pub node_id: String,
    pub row: peers::PeerRow,
    /// Its descriptor (verified when the peer was added).
    pub descriptor: Descriptor,
}

impl FromRequestParts<FedState> for VerifiedPeer {
    type Rejection = FedError;

    async fn from_request_parts(parts: &mut Parts, state: &FedState) -> Result<Self, FedError> {
        let ConnectInfo(info) = parts
            .extensions
            .get::<ConnectInfo<ConnInfo>>()
            .cloned()
            .ok_or(FedError::Unauthenticated)?;
        let node_id = info.peer.ok_or(FedError::Unauthenticated)?;
        let mut conn = state
            .node
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| FedError::Unavailable(e.to_string()))?;
        let row = peers::get(&mut conn, &node_id)
            .await
            .map_err(|e| FedError::Unavailable(e.to_string()))?
            .ok_or(FedError::UnknownPeer)?;
        let descriptor = serde_json::from_str(&row.descriptor)
            .map_err(|e| FedError::Internal(format!("stored descriptor: {e}")))?;
        Ok(Self {
            node_id,
            row,
            descriptor,
        })
    }
}

/// A database connection, or 503.
pub(super) async fn connection(
    state: &FedState,
) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, FedError> {
    state
        .node
        .store
        .pool()
        .acquire()
        .await
        .map_err(|e| FedError::Unavailable(e.to_string()))
}
