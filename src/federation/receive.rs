//! What the federation door does with an envelope: every check of
//! docs/protocol.md §8 in order, each failure answered with a signed `rejected`
//! receipt naming its reason and changing nothing; an accepted envelope is stored,
//! sequenced and receipted in one transaction.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::peer::{FedState, VerifiedPeer};
use crate::protocol::envelope::{
    Digest, ENVELOPE_TYP, EnvelopeClaims, Head, KINDS, MAX_IAT_SKEW, Reason, ReceiptClaims,
    ReceiptStatus, envelope_sha256,
};
use crate::protocol::jws::{self, JwsError, keys_of};
use crate::store::channels::{self, Direction};
use crate::store::{StoreError, inbox, millis};

/// Largest `POST /fed/v1/envelopes` request: a 16 MiB sealed body in base64, and the JWS.
pub const MAX_ENVELOPE_REQUEST: usize = 24 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeRequest {
    jws: String,
    body: String,
}

/// Why an envelope was not accepted, with what the receipt needs.
struct Refusal {
    reason: Reason,
    detail: String,
}

fn refuse(reason: Reason, detail: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        detail: detail.into(),
    }
}

/// A JWS failure as a receipt says it: what is wrong, never the value sent.
impl From<JwsError> for Refusal {
    fn from(e: JwsError) -> Self {
        let detail = match &e {
            JwsError::BadHeader(_) => "bad header".to_owned(),
            JwsError::UnknownKid(_) => "unknown key id".to_owned(),
            JwsError::BadClaims(m) => format!("bad claims: {}", crate::domain::messages::redact(m)),
            other => other.to_string(),
        };
        refuse(Reason::from(&e), detail)
    }
}

pub enum Outcome {
    Receipt {
        status: StatusCode,
        jws: String,
    },
    /// Our own failure (database down, …): the sender retries later.
    Unavailable(String),
}

pub async fn receive(
    state: &FedState,
    peer: &VerifiedPeer,
    request: Result<bytes::Bytes, ()>,
) -> Outcome {
    let now = time::OffsetDateTime::now_utc();
    let Ok(request) = request else {
        return rejected(
            state,
            peer,
            "",
            "",
            refuse(Reason::TooLarge, "request over the size limit"),
            now,
        )
        .await;
    };
    // Parsing, base64 and hashing of a body up to the size limit are CPU work:
    // done once, off the async threads, so large envelopes cannot starve the
    // handshakes and requests of other peers.
    let read = tokio::task::spawn_blocking(move || {
        serde_json::from_slice::<EnvelopeRequest>(&request).map(|parsed| {
            let body = STANDARD.decode(&parsed.body).ok().map(|b| {
                let digest = Digest::of(&b);
                (b, digest)
            });
            (parsed, body)
        })
    })
    .await;
    let (parsed, body) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            return rejected(
                state,
                peer,
                "",
                "",
                refuse(Reason::Malformed, e.to_string()),
                now,
            )
            .await;
        }
        Err(e) => return Outcome::Unavailable(e.to_string()),
    };
    let envelope_hash = envelope_sha256(&parsed.jws);
    // The jti, read before verification only to address the receipt; one that is
    // not a UUID as the protocol writes it is not repeated back.
    let for_jti = Some(peek_str(&parsed.jws, "jti"))
        .filter(|j| uuid::Uuid::parse_str(j).is_ok_and(|u| u.hyphenated().to_string() == *j))
        .unwrap_or_default();
    // A sender may have several envelopes in flight; one that arrives before its
    // predecessor waits (briefly) for the channel to reach it, then is checked again.
    let deadline = tokio::time::Instant::now() + REORDER_WAIT;
    loop {
        let mut advanced = state.node.events.accepted.subscribe();
        match check_and_store(state, peer, &parsed, body.as_ref(), &envelope_hash, now).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(refusal))
                if refusal.reason == Reason::SeqGap && tokio::time::Instant::now() < deadline =>
            {
                let _ = tokio::time::timeout_at(deadline, advanced.changed()).await;
            }
            Ok(Err(refusal)) => {
                return rejected(state, peer, &for_jti, &envelope_hash, refusal, now).await;
            }
            Err(e) => return Outcome::Unavailable(e.to_string()),
        }
    }
}

/// How long an envelope that arrived ahead of its predecessor waits for it.
const REORDER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn check_and_store(
    state: &FedState,
    peer: &VerifiedPeer,
    req: &EnvelopeRequest,
    body: Option<&(Vec<u8>, Digest)>,
    envelope_hash: &str,
    now: time::OffsetDateTime,
) -> Result<Result<Outcome, Refusal>, StoreError> {
    let claims = match verify_claims(state, peer, &req.jws, now) {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let Some((body, digest)) = body else {
        return Ok(Err(refuse(
            Reason::Malformed,
            "body is not standard base64",
        )));
    };
    if *digest != claims.body {
        return Ok(Err(refuse(
            Reason::BodyMismatch,
            "body hash or length differs from the envelope",
        )));
    }
    for blob in &claims.blobs {
        match state.node.blobs.len(&blob.sha256).await {
            Ok(Some(len)) if len == blob.len => {}
            Ok(_) => {
                return Ok(Err(refuse(
                    Reason::MissingBlob,
                    format!("blob {} is not here", blob.sha256),
                )));
            }
            Err(e) => return Err(StoreError::Conflict(e.to_string())),
        }
    }

    let mut tx = state.node.store.begin().await?;
    let head = channels::lock_head(&mut tx, &peer.node_id, Direction::In).await?;
    if let Some(original) = inbox::by_jti(&mut tx, &claims.jti).await? {
        tx.rollback().await?;
        state.node.events.duplicates.send_modify(|n| *n += 1);
        if original.envelope_sha256 != envelope_hash || original.peer_id != peer.node_id {
            return Ok(Err(refuse(
                Reason::SeqConflict,
                "this jti was already used by another envelope",
            )));
        }
        let receipt = sign_receipt(
            state,
            peer,
            &claims.jti,
            envelope_hash,
            ReceiptStatus::Duplicate,
            "",
            head.seq + 1,
            Some(&original.receipt),
            now,
        );
        return Ok(receipt.map(|jws| Outcome::Receipt {
            status: StatusCode::OK,
            jws,
        }));
    }
    let expected = head.seq + 1;
    if claims.seq != expected {
        tx.rollback().await?;
        let reason = if claims.seq > expected {
            Reason::SeqGap
        } else {
            Reason::SeqConflict
        };
        return Ok(Err(refuse(
            reason,
            format!("expected seq {expected}, got {}", claims.seq),
        )));
    }
    if claims.prev != head.sha256 {
        tx.rollback().await?;
        return Ok(Err(refuse(
            Reason::PrevMismatch,
            "prev is not the hash of the previous envelope",
        )));
    }
    let receipt = match sign_receipt(
        state,
        peer,
        &claims.jti,
        envelope_hash,
        ReceiptStatus::Accepted,
        "",
        expected + 1,
        None,
        now,
    ) {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    let at = millis(now);
    // The move, applied to its case in this same transaction: exactly once.
    let applied = if claims.kind == crate::protocol::checkpoint::KIND {
        let held =
            crate::app::checkpoint::hold(&mut tx, &state.node, &peer.node_id, body, &claims.jti)
                .await?;
        Some(held)
    } else {
        crate::app::incoming::apply_incoming(
            &mut tx,
            &state.node,
            &peer.node_id,
            &claims.kind,
            claims.case.as_deref(),
            body,
            &claims.jti,
            now,
        )
        .await
        .map_err(|e| StoreError::Conflict(e.to_string()))?
    };
    let row = inbox::InRow {
        peer_id: peer.node_id.clone(),
        seq: claims.seq as i64,
        jti: claims.jti.clone(),
        kind: claims.kind.clone(),
        case_id: claims.case.clone(),
        jws: req.jws.clone(),
        envelope_sha256: envelope_hash.to_owned(),
        body: req.body.clone(),
        receipt: receipt.clone(),
        received_at: at,
        // Processed: applied to its case, superseded or flagged, or (a note without
        // a case, a checkpoint) stored, which is all it asks.
        applied_at: Some(at),
    };
    inbox::insert(&mut tx, &row).await?;
    // The blobs it names belong to the envelope now, not to the orphan sweep.
    let named: Vec<String> = claims.blobs.iter().map(|b| b.sha256.clone()).collect();
    crate::store::received::named(&mut tx, &named).await?;
    let new_head = Head {
        seq: claims.seq,
        sha256: envelope_hash.to_owned(),
    };
    channels::advance(&mut tx, &peer.node_id, Direction::In, &head, &new_head).await?;
    tx.commit().await?;
    state.node.events.accepted.send_modify(|n| *n += 1);
    let outcome = applied.unwrap_or("stored");
    tracing::info!(peer = %peer.node_id, seq = claims.seq, kind = %claims.kind, outcome, "envelope accepted");
    Ok(Ok(Outcome::Receipt {
        status: StatusCode::OK,
        jws: receipt,
    }))
}

fn verify_claims(
    state: &FedState,
    peer: &VerifiedPeer,
    token: &str,
    now: time::OffsetDateTime,
) -> Result<EnvelopeClaims, Refusal> {
    jws::header_kid(token, ENVELOPE_TYP)?;
    // Whose keys to try: the named sender must be the peer of this connection.
    // Nothing else is read before the signature holds.
    if peek_str(token, "iss") != peer.node_id {
        return Err(refuse(
            Reason::WrongIssuer,
            "iss is not the peer of this connection",
        ));
    }
    let claims: EnvelopeClaims = jws::verify(token, ENVELOPE_TYP, keys_of(&peer.descriptor))?;
    if claims.aud != state.node.config.node_id.as_str() {
        return Err(refuse(Reason::WrongAudience, "aud is not this node"));
    }
    if claims.iat > now.unix_timestamp() + MAX_IAT_SKEW {
        return Err(refuse(Reason::IatInFuture, "iat is more than 300 s ahead"));
    }
    if !KINDS.contains(&claims.kind.as_str()) {
        return Err(refuse(
            Reason::UnknownKind,
            format!("kind is not one of {}", KINDS.join(", ")),
        ));
    }
    // One spelling only (docs/protocol.md §7): lower-case, hyphenated. Another
    // spelling of the same UUID would otherwise pass as a new envelope.
    let canonical = |s: &str| {
        uuid::Uuid::parse_str(s)
            .ok()
            .filter(|u| u.hyphenated().to_string() == s)
    };
    let jti_ok = canonical(&claims.jti).is_some_and(|u| u.get_version_num() == 7);
    let case_ok = claims
        .case
        .as_deref()
        .is_none_or(|c| canonical(c).is_some());
    let prev_ok = claims.prev.is_empty() || crate::domain::is_sha256_hex(&claims.prev);
    let digests_ok =
        claims.body.is_well_formed() && claims.blobs.iter().all(Digest::is_well_formed);
    if !(jti_ok && case_ok && prev_ok && digests_ok && claims.seq >= 1) {
        return Err(refuse(
            Reason::BadClaims,
            "jti, case, seq, prev or a digest is malformed",
        ));
    }
    Ok(claims)
}

/// A string claim of an unverified JWS, or empty.
fn peek_str(token: &str, claim: &str) -> String {
    jws::peek_claims::<serde_json::Value>(token)
        .ok()
        .and_then(|c| {
            c.get(claim)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn sign_receipt(
    state: &FedState,
    peer: &VerifiedPeer,
    for_jti: &str,
    envelope_hash: &str,
    status: ReceiptStatus,
    reason: &str,
    expected_seq: u64,
    original: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<String, Refusal> {
    let claims = ReceiptClaims {
        iss: state.node.config.node_id.to_string(),
        aud: peer.node_id.clone(),
        for_jti: for_jti.to_owned(),
        envelope_sha256: envelope_hash.to_owned(),
        status,
        reason: reason.to_owned(),
        expected_seq,
        iat: now.unix_timestamp(),
        original: original.map(str::to_owned),
    };
    claims
        .sign(&state.node.signing)
        .map_err(|e| refuse(Reason::Malformed, e.to_string()))
}

async fn rejected(
    state: &FedState,
    peer: &VerifiedPeer,
    for_jti: &str,
    envelope_hash: &str,
    refusal: Refusal,
    now: time::OffsetDateTime,
) -> Outcome {
    let expected = match state.node.store.pool().acquire().await {
        Ok(mut conn) => match channels::head(&mut conn, &peer.node_id, Direction::In).await {
            Ok(head) => head.seq + 1,
            Err(e) => return Outcome::Unavailable(e.to_string()),
        },
        Err(e) => return Outcome::Unavailable(e.to_string()),
    };
    tracing::warn!(peer = %peer.node_id, reason = refusal.reason.as_str(), detail = %refusal.detail, "envelope rejected");
    let status = match refusal.reason {
        Reason::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Reason::SeqGap | Reason::SeqConflict | Reason::PrevMismatch | Reason::MissingBlob => {
            StatusCode::CONFLICT
        }
        _ => StatusCode::BAD_REQUEST,
    };
    match sign_receipt(
        state,
        peer,
        for_jti,
        envelope_hash,
        ReceiptStatus::Rejected,
        refusal.reason.as_str(),
        expected,
        None,
        now,
    ) {
        Ok(jws) => Outcome::Receipt { status, jws },
        Err(r) => Outcome::Unavailable(r.detail),
    }
}
