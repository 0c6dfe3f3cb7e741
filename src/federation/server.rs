//! Routes of the federation door. Every handler receives a `VerifiedPeer`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;

use super::FedError;
use crate::net::ConnInfo;
use crate::store::{Store, peers};

#[derive(Clone)]
pub struct FedState {
    pub store: Store,
    /// Our signed descriptor, made once at start.
    pub descriptor_json: Arc<str>,
}

/// A registered peer, proven by the client certificate of this connection.
#[derive(Debug, Clone)]
pub struct VerifiedPeer {
    pub node_id: String,
    pub row: peers::PeerRow,
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
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| FedError::Internal(e.to_string()))?;
        let row = peers::get(&mut conn, &node_id)
            .await
            .map_err(|e| FedError::Internal(e.to_string()))?
            .ok_or(FedError::UnknownPeer)?;
        Ok(Self { node_id, row })
    }
}

pub fn router(state: FedState) -> Router {
    Router::new()
        .route("/fed/v1/descriptor", get(descriptor))
        .with_state(state)
}

/// GET /fed/v1/descriptor: our signed node descriptor.
async fn descriptor(peer: VerifiedPeer, State(state): State<FedState>) -> impl IntoResponse {
    tracing::debug!(peer = %peer.node_id, "descriptor fetched");
    (
        [(CONTENT_TYPE, "application/json")],
        state.descriptor_json.to_string(),
    )
}
