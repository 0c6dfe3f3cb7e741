//! Routes of the federation door. Every handler receives a `VerifiedPeer`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};

use super::FedError;
use super::peer::{FedState, VerifiedPeer, connection};
use super::receive::{MAX_ENVELOPE_REQUEST, Outcome, receive};
use crate::blobs::BlobError;
use crate::domain::is_sha256_hex;
use crate::protocol::envelope::{ChannelClaims, envelope_sha256};
use crate::store::channels::{self, Direction};
use crate::store::{inbox, outbox};

pub fn router(state: FedState) -> Router {
    Router::new()
        .route("/fed/v1/descriptor", get(descriptor))
        .route("/fed/v1/blobs/{sha256}", put(put_blob).head(head_blob))
        .route("/fed/v1/envelopes", post(post_envelope))
        .route("/fed/v1/channel", get(channel))
        .route("/fed/v1/transcript", get(transcript))
        .route("/fed/v1/recover", get(recover))
        .route("/fed/v1/audit/checkpoints", get(checkpoints))
        .fallback(|| async { FedError::NotFound })
        .method_not_allowed_fallback(|| async { FedError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            within_share,
        ))
        .with_state(state)
}

/// Every request waits for a place in its peer's share of the door (other
/// peers' requests do not wait for it).
async fn within_share(
    State(state): State<FedState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<crate::net::ConnInfo>>()
        .and_then(|c| c.0.peer.clone());
    let Some(peer) = peer else {
        // No verified peer: the handler's extractor answers that.
        return next.run(req).await;
    };
    match state.shares.enter(&peer).await {
        Ok(held) => {
            let response = next.run(req).await;
            drop(held);
            response
        }
        Err(e) => e.into_response(),
    }
}

/// GET /fed/v1/descriptor: our signed node descriptor.
async fn descriptor(peer: VerifiedPeer, State(state): State<FedState>) -> impl IntoResponse {
    tracing::debug!(peer = %peer.node_id, "descriptor fetched");
    (
        [(CONTENT_TYPE, "application/json")],
        state.descriptor_json.to_string(),
    )
}

#[derive(Serialize)]
struct BlobStored {
    sha256: String,
    len: u64,
}

/// PUT /fed/v1/blobs/{sha256}: an attachment's age ciphertext, streamed.
async fn put_blob(
    peer: VerifiedPeer,
    State(state): State<FedState>,
    Path(sha256): Path<String>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<BlobStored>), FedError> {
    if !is_sha256_hex(&sha256) {
        return Err(FedError::BadRequest(
            "the path must be a lowercase hex SHA-256".into(),
        ));
    }
    let max = state.node.config.federation.max_blob_bytes;
    let node = &state.node;
    let here_already = node
        .blobs
        .len(&sha256)
        .await
        .map_err(|e| FedError::Unavailable(e.to_string()))?
        .is_some();
    if !here_already {
        // A peer's blobs that no envelope names yet are capped, so a peer
        // cannot fill the disk with uploads it never refers to.
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let cap = i64::try_from(node.config.limits.peer_blob_mib.saturating_mul(1 << 20))
            .unwrap_or(i64::MAX);
        let mut conn = connection(&state).await?;
        let waiting = crate::store::received::unnamed_bytes(&mut conn, &peer.node_id)
            .await
            .map_err(|e| FedError::Unavailable(e.to_string()))?;
        drop(conn);
        if waiting.saturating_add(declared) > cap {
            return Err(FedError::Full(format!(
                "blobs that no envelope names yet are over this peer's share ({} MiB)",
                node.config.limits.peer_blob_mib
            )));
        }
    }
    match node
        .blobs
        .receive(&sha256, body.into_data_stream(), max)
        .await
    {
        Ok(d) => {
            tracing::debug!(peer = %peer.node_id, len = d.len, "blob stored");
            if !here_already {
                let mut conn = connection(&state).await?;
                let now = crate::store::millis(time::OffsetDateTime::now_utc());
                let len = i64::try_from(d.len).unwrap_or(i64::MAX);
                crate::store::received::note(&mut conn, &d.sha256, &peer.node_id, len, now)
                    .await
                    .map_err(|e| FedError::Unavailable(e.to_string()))?;
            }
            Ok((
                StatusCode::OK,
                axum::Json(BlobStored {
                    sha256: d.sha256,
                    len: d.len,
                }),
            ))
        }
        Err(BlobError::TooLarge(max)) => Err(FedError::TooLarge(max)),
        Err(BlobError::Mismatch) => Err(FedError::Unprocessable(
            "the bytes do not hash to the name".into(),
        )),
        Err(BlobError::Io(e)) => Err(FedError::BadRequest(format!("upload interrupted: {e}"))),
        Err(e) => Err(FedError::Unavailable(e.to_string())),
    }
}

/// HEAD /fed/v1/blobs/{sha256}: 200 with the stored length, or 404.
async fn head_blob(
    _peer: VerifiedPeer,
    State(state): State<FedState>,
    Path(sha256): Path<String>,
) -> Result<Response, FedError> {
    match state.node.blobs.len(&sha256).await {
        Ok(Some(len)) => Ok((StatusCode::OK, [(CONTENT_LENGTH, len.to_string())]).into_response()),
        Ok(None) => Err(FedError::NotFound),
        Err(e) => Err(FedError::Unavailable(e.to_string())),
    }
}

/// POST /fed/v1/envelopes: always answered with a signed receipt.
async fn post_envelope(
    peer: VerifiedPeer,
    State(state): State<FedState>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    // The body is read only once the peer's share of memory can hold it, and
    // held until the envelope is answered (waiting for a predecessor included).
    let most = MAX_ENVELOPE_REQUEST as u64;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(most, |n| n.min(most));
    let _buffered = match state.shares.buffer(&peer.node_id, declared).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let bytes = axum::body::to_bytes(body, MAX_ENVELOPE_REQUEST)
        .await
        .map_err(|_| ());
    match receive(&state, &peer, bytes).await {
        Outcome::Receipt { status, jws } => {
            (status, [(CONTENT_TYPE, "application/jose")], jws).into_response()
        }
        Outcome::Unavailable(e) => FedError::Unavailable(e).into_response(),
    }
}

/// GET /fed/v1/channel: both heads of the channel with the caller, signed.
async fn channel(peer: VerifiedPeer, State(state): State<FedState>) -> Result<Response, FedError> {
    let mut conn = connection(&state).await?;
    let received = channels::head(&mut conn, &peer.node_id, Direction::In)
        .await
        .map_err(|e| FedError::Unavailable(e.to_string()))?;
    let sent = channels::head(&mut conn, &peer.node_id, Direction::Out)
        .await
        .map_err(|e| FedError::Unavailable(e.to_string()))?;
    let claims = ChannelClaims {
        iss: state.node.config.node_id.to_string(),
        aud: peer.node_id.clone(),
        iat: time::OffsetDateTime::now_utc().unix_timestamp(),
        received,
        sent,
    };
    let jws = claims
        .sign(&state.node.signing)
        .map_err(|e| FedError::Internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "application/jose")], jws).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptQuery {
    direction: String,
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: u64,
}

fn default_limit() -> u64 {
    500
}

#[derive(Serialize)]
pub struct TranscriptEntry {
    pub seq: u64,
    pub jti: String,
    pub envelope_sha256: String,
}

#[derive(Serialize)]
struct Transcript {
    entries: Vec<TranscriptEntry>,
}

/// GET /fed/v1/transcript?direction=received|sent&after=N&limit=M: the hashes of
/// the channel's envelopes, recomputed from what is stored, for reconciliation.
async fn transcript(
    peer: VerifiedPeer,
    State(state): State<FedState>,
    query: Result<Query<TranscriptQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Transcript>, FedError> {
    let Query(q) = query.map_err(|e| {
        FedError::BadRequest(crate::domain::messages::query_message(&e.body_text()))
    })?;
    let limit = q.limit.clamp(1, 1000) as i64;
    let after =
        i64::try_from(q.after).map_err(|_| FedError::BadRequest("after is too large".into()))?;
    let mut conn = connection(&state).await?;
    let rows = match q.direction.as_str() {
        "received" => inbox::transcript(&mut conn, &peer.node_id, after, limit).await,
        "sent" => outbox::transcript(&mut conn, &peer.node_id, after, limit).await,
        _ => {
            return Err(FedError::BadRequest(
                "direction must be received or sent".into(),
            ));
        }
    }
    .map_err(|e| FedError::Unavailable(e.to_string()))?;
    let entries = rows
        .into_iter()
        .map(|(seq, jti, jws)| TranscriptEntry {
            seq: seq as u64,
            jti,
            envelope_sha256: envelope_sha256(&jws),
        })
        .collect();
    Ok(axum::Json(Transcript { entries }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_recover_limit")]
    limit: u64,
}

fn default_recover_limit() -> u64 {
    100
}

/// One envelope the caller sent us, as we accepted it.
#[derive(Serialize, Deserialize)]
pub struct Recovered {
    pub seq: u64,
    /// The envelope, exactly as received.
    pub jws: String,
    /// Its body as received, standard base64 ("" once retention destroyed it).
    pub body: String,
    /// The receipt we gave for it.
    pub receipt: String,
}

#[derive(Serialize, Deserialize)]
pub struct RecoverPage {
    pub entries: Vec<Recovered>,
}

/// GET /fed/v1/recover?after=N&limit=M: the envelopes the caller sent us after
/// `seq` N, whole, with their bodies and our receipts, so that a caller restored
/// from a backup recovers what it had sent (docs/protocol.md §11b).
async fn recover(
    peer: VerifiedPeer,
    State(state): State<FedState>,
    query: Result<Query<RecoverQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<RecoverPage>, FedError> {
    let Query(q) = query.map_err(|e| {
        FedError::BadRequest(crate::domain::messages::query_message(&e.body_text()))
    })?;
    let limit = q.limit.clamp(1, 500) as i64;
    let after =
        i64::try_from(q.after).map_err(|_| FedError::BadRequest("after is too large".into()))?;
    let mut conn = connection(&state).await?;
    let rows = inbox::after(&mut conn, &peer.node_id, after, limit)
        .await
        .map_err(|e| FedError::Unavailable(e.to_string()))?;
    Ok(axum::Json(RecoverPage {
        entries: rows
            .into_iter()
            .map(|r| Recovered {
                seq: r.seq as u64,
                jws: r.jws,
                body: r.body,
                receipt: r.receipt,
            })
            .collect(),
    }))
}

#[derive(Serialize)]
struct Checkpoints {
    checkpoints: Vec<crate::protocol::checkpoint::Witnessed>,
}

/// GET /fed/v1/audit/checkpoints: the audit checkpoints the caller sent us, as we
/// hold them, so it can check its chain against what we witnessed.
async fn checkpoints(
    peer: VerifiedPeer,
    State(state): State<FedState>,
) -> Result<axum::Json<Checkpoints>, FedError> {
    let mut conn = connection(&state).await?;
    let rows = crate::store::audit::checkpoints(&mut conn, &peer.node_id, "held")
        .await
        .map_err(|e| FedError::Unavailable(e.to_string()))?;
    let checkpoints = rows
        .into_iter()
        .map(|r| crate::protocol::checkpoint::Witnessed {
            position: r.position,
            hash: r.hash,
            at: r.at,
            jti: r.jti,
        })
        .collect();
    Ok(axum::Json(Checkpoints { checkpoints }))
}
