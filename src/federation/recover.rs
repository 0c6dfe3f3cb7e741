//! Rejoining after a restore (docs/protocol.md §11b): the peer holds envelopes
//! we sent that this node no longer has (a backup restored, a WAL lost). We ask
//! for them (`GET /fed/v1/recover`), check each is ours (our signature, in chain
//! from what we hold, the body it names, the peer's receipt), put them back in the
//! outbox as delivered, apply their moves to our case copies as ours, and put any
//! envelope made since the restore after them, signed again.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::client::PeerClient;
use super::server::RecoverPage;
use crate::crypto::seal::open_bytes;
use crate::node::Node;
use crate::protocol::Descriptor;
use crate::protocol::envelope::{
    Digest, EnvelopeClaims, Head, RECEIPT_TYP, ReceiptClaims, ReceiptStatus, envelope_sha256,
};
use crate::protocol::jws::{self, keys_of};
use crate::store::channels::{self, Direction};
use crate::store::{millis, outbox};

/// One envelope of ours, checked.
struct Ours {
    claims: EnvelopeClaims,
    jws: String,
    hash: String,
    body: String,
    receipt: String,
    receipt_status: &'static str,
}

/// Recovers what `peer_id` holds of ours beyond what we hold as delivered.
/// Returns how many envelopes came back.
pub async fn recover_sent(
    node: &Node,
    client: &PeerClient,
    descriptor: &Descriptor,
    peer_id: &str,
) -> Result<u64, String> {
    let us = node.config.node_id.to_string();
    // Every key that ever signed for us: what was sent before a rotation counts.
    let own = node.own_keys();
    let (delivered, mut prev) = {
        let mut conn = node
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let d = outbox::last_delivered(&mut conn, peer_id)
            .await
            .map_err(|e| e.to_string())?;
        let hash = if d == 0 {
            String::new()
        } else {
            outbox::get(&mut conn, peer_id, d)
                .await
                .map_err(|e| e.to_string())?
                .map(|r| r.envelope_sha256)
                .unwrap_or_default()
        };
        (d, hash)
    };
    // Fetch and check every envelope the peer holds after ours, in order.
    let mut back: Vec<Ours> = Vec::new();
    let mut after = delivered as u64;
    loop {
        let page: RecoverPage =
            serde_json::from_str(&client.recover(after).await.map_err(|e| e.to_string())?)
                .map_err(|e| format!("recover: {e}"))?;
        if page.entries.is_empty() {
            break;
        }
        for e in page.entries {
            let claims: EnvelopeClaims = jws::verify(
                &e.jws,
                crate::protocol::envelope::ENVELOPE_TYP,
                keys_of(&own),
            )
            .map_err(|err| format!("seq {}: not an envelope of ours: {err}", e.seq))?;
            if claims.iss != us || claims.aud != peer_id || claims.seq != after + 1 {
                return Err(format!("seq {}: not the next envelope of ours", e.seq));
            }
            if claims.prev != prev {
                return Err(format!(
                    "seq {}: does not follow what this node holds",
                    e.seq
                ));
            }
            let hash = envelope_sha256(&e.jws);
            let receipt: ReceiptClaims = jws::verify(&e.receipt, RECEIPT_TYP, keys_of(descriptor))
                .map_err(|err| format!("seq {}: receipt: {err}", e.seq))?;
            if receipt.iss != peer_id
                || receipt.for_jti != claims.jti
                || receipt.envelope_sha256 != hash
            {
                return Err(format!(
                    "seq {}: the receipt is not for this envelope",
                    e.seq
                ));
            }
            let receipt_status = match receipt.status {
                ReceiptStatus::Accepted => "accepted",
                ReceiptStatus::Duplicate => "duplicate",
                ReceiptStatus::Rejected => {
                    return Err(format!("seq {}: the peer holds it as rejected", e.seq));
                }
            };
            if !e.body.is_empty() {
                let bytes = STANDARD
                    .decode(&e.body)
                    .map_err(|_| format!("seq {}: body is not base64", e.seq))?;
                if Digest::of(&bytes) != claims.body {
                    return Err(format!("seq {}: the body is not the one it carried", e.seq));
                }
            }
            after = claims.seq;
            prev = hash.clone();
            back.push(Ours {
                claims,
                jws: e.jws,
                hash,
                body: e.body,
                receipt: e.receipt,
                receipt_status,
            });
        }
    }
    if back.is_empty() {
        return Ok(0);
    }
    put_back(node, peer_id, delivered, back).await
}

/// In one transaction: the recovered envelopes into the outbox as delivered,
/// their moves onto our cases, and what was made since the restore after them.
async fn put_back(
    node: &Node,
    peer_id: &str,
    delivered: i64,
    back: Vec<Ours>,
) -> Result<u64, String> {
    let now = time::OffsetDateTime::now_utc();
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let mut tx = node.store.begin().await.map_err(|x| e(&x))?;
    channels::lock_head(&mut tx, peer_id, Direction::Out)
        .await
        .map_err(|x| e(&x))?;
    let waiting = outbox::undelivered(&mut tx, peer_id, i64::MAX)
        .await
        .map_err(|x| e(&x))?;
    // Our undelivered envelopes that the peer holds identically were delivered
    // after the backup (or their receipts are on the way); from the first the peer
    // holds differently, ours were made since the restore: set aside.
    // Those the peer does not hold yet stay as they are.
    let mut aside = Vec::new();
    let mut same = std::collections::HashSet::new();
    let mut diverged = false;
    for row in waiting.into_iter().filter(|r| r.seq > delivered) {
        let theirs = back.iter().find(|b| b.claims.seq as i64 == row.seq);
        match theirs {
            Some(b) if !diverged && b.hash == row.envelope_sha256 => {
                same.insert(row.seq);
            }
            None if !diverged => {}
            _ => {
                diverged = true;
                outbox::remove_undelivered(&mut tx, peer_id, row.seq)
                    .await
                    .map_err(|x| e(&x))?;
                aside.push(row);
            }
        }
    }
    let count = back.len() as u64;
    let mut head = Head::default();
    for ours in back {
        let seq = ours.claims.seq as i64;
        let at = time::OffsetDateTime::from_unix_timestamp(ours.claims.iat).unwrap_or(now);
        match outbox::get(&mut tx, peer_id, seq)
            .await
            .map_err(|x| e(&x))?
        {
            // Receipted meanwhile (by another process of this node, say): as it is.
            Some(r) if r.state == "delivered" && r.envelope_sha256 == ours.hash => {
                head = Head {
                    seq: ours.claims.seq,
                    sha256: ours.hash,
                };
                continue;
            }
            Some(r) if r.state == "delivered" => {
                return Err(format!(
                    "seq {seq}: this node holds another envelope as delivered there"
                ));
            }
            _ => {}
        }
        if !same.contains(&seq) {
            let blobs = serde_json::to_string(&ours.claims.blobs).map_err(|x| e(&x))?;
            outbox::insert(
                &mut tx,
                &outbox::OutRow {
                    peer_id: peer_id.to_owned(),
                    seq,
                    jti: ours.claims.jti.clone(),
                    kind: ours.claims.kind.clone(),
                    case_id: ours.claims.case.clone(),
                    jws: ours.jws.clone(),
                    envelope_sha256: ours.hash.clone(),
                    body: ours.body.clone(),
                    blobs,
                    state: "queued".into(),
                    created_at: millis(at),
                    attempts: 0,
                    next_attempt_at: millis(at),
                    last_error: None,
                    receipt: None,
                    receipt_status: None,
                    delivered_at: None,
                },
            )
            .await
            .map_err(|x| e(&x))?;
            let body = STANDARD
                .decode(&ours.body)
                .ok()
                .and_then(|b| open_bytes(node.age.all(), &b).ok())
                .and_then(|b| serde_json::from_slice(&b).ok());
            crate::app::recovery::apply_own(
                &mut tx,
                node,
                peer_id,
                &ours.claims.kind,
                ours.claims.case.as_deref(),
                body,
                &ours.claims.jti,
                at,
            )
            .await
            .map_err(|x| e(&x))?;
        }
        outbox::mark_delivered(
            &mut tx,
            peer_id,
            seq,
            &ours.receipt,
            ours.receipt_status,
            millis(now),
        )
        .await
        .map_err(|x| e(&x))?;
        head = Head {
            seq: ours.claims.seq,
            sha256: ours.hash,
        };
    }
    // What was made here since the restore goes after, signed again.
    for row in aside {
        let mut claims: EnvelopeClaims = jws::peek_claims(&row.jws).map_err(|x| e(&x))?;
        claims.seq = head.seq + 1;
        claims.prev = head.sha256.clone();
        claims.iat = now.unix_timestamp();
        let token = claims.sign(&node.signing).map_err(|x| e(&x))?;
        let hash = envelope_sha256(&token);
        outbox::insert(
            &mut tx,
            &outbox::OutRow {
                seq: claims.seq as i64,
                jws: token,
                envelope_sha256: hash.clone(),
                state: "queued".into(),
                attempts: 0,
                next_attempt_at: millis(now),
                last_error: None,
                receipt: None,
                receipt_status: None,
                delivered_at: None,
                ..row
            },
        )
        .await
        .map_err(|x| e(&x))?;
        head = Head {
            seq: claims.seq,
            sha256: hash,
        };
    }
    // The head: the last envelope now in the channel (ours kept beyond what the
    // peer holds, or the last put back).
    if let Some((seq, sha256)) = outbox::last(&mut tx, peer_id).await.map_err(|x| e(&x))?
        && seq as u64 >= head.seq
    {
        head = Head {
            seq: seq as u64,
            sha256,
        };
    }
    channels::set_head(&mut tx, peer_id, Direction::Out, &head)
        .await
        .map_err(|x| e(&x))?;
    tx.commit().await.map_err(|x| e(&x))?;
    node.events.recovered.send_modify(|n| *n += count);
    node.outbox_ready.notify_one();
    Ok(count)
}
