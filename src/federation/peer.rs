//! What every federation handler holds: the door's state, and the peer that this
//! connection's client certificate proved (`VerifiedPeer`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// What each peer may hold of this door at once.
    pub shares: Arc<PeerShares>,
}

impl FedState {
    pub fn new(node: Arc<Node>, descriptor_json: Arc<str>) -> Self {
        let shares = Arc::new(PeerShares::new(&node.config.limits));
        Self {
            node,
            descriptor_json,
            shares,
        }
    }
}

/// Each peer's share of the federation door: requests in progress, and bytes of
/// envelope bodies in memory (an envelope waiting for its predecessor holds
/// both). A peer beyond its share waits; other peers do not.
pub struct PeerShares {
    requests: usize,
    buffer_kib: u32,
    shares: std::sync::Mutex<HashMap<String, Arc<Share>>>,
}

struct Share {
    requests: Arc<Semaphore>,
    buffer: Arc<Semaphore>,
}

/// Longest a request waits for its peer's share before it is answered 503.
const SHARE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A request's hold on its peer's share, released when it is answered.
pub struct Held {
    _request: OwnedSemaphorePermit,
}

/// Memory held for one envelope body.
pub struct Buffered {
    _bytes: OwnedSemaphorePermit,
}

impl PeerShares {
    pub fn new(limits: &crate::config::LimitsConfig) -> Self {
        let kib = limits.peer_buffer_mib.max(1).saturating_mul(1024);
        Self {
            requests: limits.peer_requests.max(1),
            buffer_kib: u32::try_from(kib).unwrap_or(u32::MAX),
            shares: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn share(&self, peer: &str) -> Arc<Share> {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        shares
            .entry(peer.to_owned())
            .or_insert_with(|| {
                Arc::new(Share {
                    requests: Arc::new(Semaphore::new(self.requests)),
                    buffer: Arc::new(Semaphore::new(self.buffer_kib as usize)),
                })
            })
            .clone()
    }

    /// Waits for a place among the peer's requests in progress.
    pub async fn enter(&self, peer: &str) -> Result<Held, FedError> {
        let share = self.share(peer);
        let permit = tokio::time::timeout(SHARE_WAIT, share.requests.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        Ok(Held { _request: permit })
    }

    /// Waits until `bytes` of the peer's envelope memory are free (a body larger
    /// than the whole share takes all of it).
    pub async fn buffer(&self, peer: &str, bytes: u64) -> Result<Buffered, FedError> {
        let share = self.share(peer);
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.buffer_kib);
        let permit = tokio::time::timeout(SHARE_WAIT, share.buffer.clone().acquire_many_owned(kib))
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        Ok(Buffered { _bytes: permit })
    }
}

fn busy() -> FedError {
    FedError::Busy
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
