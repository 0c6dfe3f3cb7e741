//! Queueing: `send` writes a signed, sealed envelope to the outbox inside the
//! caller's transaction, so the envelope exists exactly when the change that causes
//! it does. Delivering it is the federation door's courier (`federation::outbox`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::AnyConnection;

use crate::crypto::keys::parse_age_recipient;
use crate::crypto::seal::seal_bytes;
use crate::node::Node;
use crate::protocol::Descriptor;
use crate::protocol::envelope::{Digest, EnvelopeClaims, Head, KINDS, envelope_sha256};
use crate::store::channels::{self, Direction};
use crate::store::{StoreError, millis, outbox, peers};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message to send: its kind (DESIGN §2), the case it concerns, its body (a JSON
/// object with a `schema` member), and attachments already sealed to the peer and
/// stored in the blob store.
pub struct Message<'a> {
    pub kind: &'a str,
    pub case: Option<uuid::Uuid>,
    pub body: &'a serde_json::Value,
    pub blobs: &'a [Digest],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub jti: String,
    pub seq: u64,
    pub envelope_sha256: String,
}

/// The peer's age recipients, from its registered descriptor.
pub fn peer_recipients(descriptor: &Descriptor) -> Result<Vec<age::x25519::Recipient>, SendError> {
    descriptor
        .age_recipients
        .iter()
        .map(|r| parse_age_recipient(r).map_err(|e| SendError::Invalid(e.to_string())))
        .collect()
}

/// An envelope body sealed to the peer's `recipients` and to ourselves: a node
/// restored from a backup gets the body back from the peer and opens it itself
/// (docs/protocol.md §11b).
fn seal_body(
    node: &Node,
    mut recipients: Vec<age::x25519::Recipient>,
    plaintext: &[u8],
) -> Result<Vec<u8>, SendError> {
    recipients.push(
        parse_age_recipient(&node.age.recipient())
            .map_err(|e| SendError::Invalid(e.to_string()))?,
    );
    seal_bytes(&recipients, plaintext).map_err(|e| SendError::Invalid(e.to_string()))
}

/// Queues `msg` for `peer_id` on `conn`, which should be the transaction of the
/// change that causes it: the envelope exists exactly when the change does. Wake
/// the courier with `node.outbox_ready.notify_one()` after the commit.
pub async fn send(
    conn: &mut AnyConnection,
    node: &Node,
    peer_id: &str,
    msg: Message<'_>,
    now: time::OffsetDateTime,
) -> Result<Queued, SendError> {
    if !KINDS.contains(&msg.kind) {
        return Err(SendError::Invalid(format!(
            "unknown message kind {:?}",
            msg.kind
        )));
    }
    if !msg
        .body
        .get("schema")
        .is_some_and(serde_json::Value::is_string)
    {
        return Err(SendError::Invalid(
            "a message body is a JSON object with a string `schema`".into(),
        ));
    }
    let row = peers::get(conn, peer_id)
        .await?
        .ok_or_else(|| SendError::Invalid(format!("{peer_id} is not a registered peer")))?;
    let descriptor: Descriptor = serde_json::from_str(&row.descriptor)
        .map_err(|e| SendError::Invalid(format!("stored descriptor: {e}")))?;
    for blob in msg.blobs {
        match node.blobs.len(&blob.sha256).await {
            Ok(Some(len)) if len == blob.len => {}
            _ => {
                return Err(SendError::Invalid(format!(
                    "attachment {} is not in the blob store",
                    blob.sha256
                )));
            }
        }
    }
    let plaintext = serde_json::to_vec(msg.body).map_err(|e| SendError::Invalid(e.to_string()))?;
    let sealed = seal_body(node, peer_recipients(&descriptor)?, &plaintext)?;

    let head = channels::lock_head(conn, peer_id, Direction::Out).await?;
    let claims = EnvelopeClaims {
        iss: node.config.node_id.to_string(),
        aud: peer_id.to_owned(),
        jti: uuid::Uuid::now_v7().to_string(),
        iat: now.unix_timestamp(),
        kind: msg.kind.to_owned(),
        case: msg.case.map(|c| c.to_string()),
        seq: head.seq + 1,
        prev: head.sha256.clone(),
        body: Digest::of(&sealed),
        blobs: msg.blobs.to_vec(),
    };
    let token = claims
        .sign(&node.signing)
        .map_err(|e| SendError::Invalid(e.to_string()))?;
    let hash = envelope_sha256(&token);
    let blobs =
        serde_json::to_string(&claims.blobs).map_err(|e| SendError::Invalid(e.to_string()))?;
    outbox::insert(
        conn,
        &outbox::OutRow {
            peer_id: peer_id.to_owned(),
            seq: claims.seq as i64,
            jti: claims.jti.clone(),
            kind: claims.kind.clone(),
            case_id: claims.case.clone(),
            jws: token,
            envelope_sha256: hash.clone(),
            body: STANDARD.encode(&sealed),
            blobs,
            state: "queued".into(),
            created_at: millis(now),
            attempts: 0,
            next_attempt_at: millis(now),
            last_error: None,
            receipt: None,
            receipt_status: None,
            delivered_at: None,
        },
    )
    .await?;
    channels::advance(
        conn,
        peer_id,
        Direction::Out,
        &head,
        &Head {
            seq: claims.seq,
            sha256: hash.clone(),
        },
    )
    .await?;
    Ok(Queued {
        jti: claims.jti,
        seq: claims.seq,
        envelope_sha256: hash,
    })
}

/// Signs again, with `now` as `iat`, every envelope to `peer_id` from `from_seq`
/// on that the peer has not accepted (it refused the first as `iat_in_future`:
/// our clock was ahead when they were signed). Each keeps its `jti`, sequence,
/// kind, case, body and blobs; its hash changes, so each next one's `prev` is
/// made again, and the channel's head with it. Returns how many were signed.
pub async fn resign_from(
    node: &Node,
    peer_id: &str,
    from_seq: i64,
    now: time::OffsetDateTime,
) -> Result<u64, SendError> {
    let mut tx = node.store.begin().await?;
    let count = resign_in(&mut tx, node, peer_id, from_seq, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(count)
}

/// As `resign_from`, inside the caller's transaction; each `prev` follows the
/// envelope before it as it now stands.
async fn resign_in(
    conn: &mut AnyConnection,
    node: &Node,
    peer_id: &str,
    from_seq: i64,
    now: time::OffsetDateTime,
) -> Result<u64, SendError> {
    let head = channels::lock_head(conn, peer_id, Direction::Out).await?;
    let rows = outbox::undelivered(conn, peer_id, i64::MAX).await?;
    let mut prev: Option<String> = if from_seq > 1 {
        outbox::get(conn, peer_id, from_seq - 1)
            .await?
            .map(|r| r.envelope_sha256)
    } else {
        None
    };
    let mut last: Option<(i64, String)> = None;
    let mut count = 0;
    for row in rows.into_iter().filter(|r| r.seq >= from_seq) {
        let mut claims: EnvelopeClaims = crate::protocol::jws::peek_claims(&row.jws)
            .map_err(|e| SendError::Invalid(format!("stored envelope: {e}")))?;
        claims.iat = now.unix_timestamp();
        if let Some(p) = prev.take() {
            claims.prev = p;
        }
        let token = claims
            .sign(&node.signing)
            .map_err(|e| SendError::Invalid(e.to_string()))?;
        let hash = envelope_sha256(&token);
        outbox::resigned(conn, peer_id, row.seq, &token, &hash).await?;
        prev = Some(hash.clone());
        last = Some((row.seq, hash));
        count += 1;
    }
    if let Some((seq, hash)) = last
        && seq as u64 == head.seq
    {
        channels::rehash(conn, peer_id, Direction::Out, head.seq, &hash).await?;
    }
    Ok(count)
}

/// What mending an envelope's attachments found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mended {
    /// Every blob it names is here.
    Whole,
    /// These attachments were sealed again from the files at rest, and the
    /// envelope (with those after it) signed again.
    Resealed(Vec<String>),
    /// It cannot be mended here, and why.
    Not(String),
}

/// Mends envelope `seq` to `peer_id` when a blob it names is missing here, or
/// `suspect` (the peer said its bytes do not hash to its name): each such
/// attachment is sealed again to the peer from this node's own copy at rest, the
/// body's `files`/`attachments` and the envelope's `blobs` are made again, the body
/// sealed again, and this envelope and every undelivered one after it signed again
/// (a new hash, so a new `prev` chain). Only for an envelope the peer has not
/// accepted.
pub async fn mend_blobs(
    node: &Node,
    peer_id: &str,
    seq: i64,
    suspect: bool,
    now: time::OffsetDateTime,
) -> Result<Mended, SendError> {
    let mut tx = node.store.begin().await?;
    channels::lock_head(&mut tx, peer_id, Direction::Out).await?;
    let Some(mut row) = outbox::get(&mut tx, peer_id, seq).await? else {
        return Ok(Mended::Not("no such envelope".into()));
    };
    if row.state == "delivered" {
        return Ok(Mended::Whole);
    }
    let blobs: Vec<Digest> = serde_json::from_str(&row.blobs)
        .map_err(|e| SendError::Invalid(format!("stored blob list: {e}")))?;
    let mut broken = Vec::new();
    for b in &blobs {
        let here = node.blobs.len(&b.sha256).await.ok().flatten();
        if suspect || here != Some(b.len) {
            broken.push(b.sha256.clone());
        }
    }
    if broken.is_empty() {
        return Ok(Mended::Whole);
    }
    let Some(bytes) = STANDARD.decode(&row.body).ok() else {
        return Ok(Mended::Not("the stored body is not base64".into()));
    };
    let Some(mut body) = crate::crypto::seal::open_bytes(node.age.all(), &bytes)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Ok(Mended::Not(
            "the envelope was sealed to the peer only (made by an older version): \
             it cannot be made again here"
                .into(),
        ));
    };
    let Some(case_id) = row.case_id.clone() else {
        return Ok(Mended::Not("the envelope concerns no case".into()));
    };
    let attachments = crate::store::cases::attachments(&mut tx, &case_id).await?;
    let descriptor: Descriptor = peers::get(&mut tx, peer_id)
        .await?
        .and_then(|p| serde_json::from_str(&p.descriptor).ok())
        .ok_or_else(|| SendError::Invalid(format!("{peer_id} is not a registered peer")))?;
    let recipients = peer_recipients(&descriptor)?;
    let mut new_blobs = blobs.clone();
    let mut mended = Vec::new();
    for list in ["attachments", "files"] {
        let Some(items) = body.get_mut(list).and_then(|v| v.as_array_mut()) else {
            continue;
        };
        for item in items.iter_mut() {
            let Some(sha) = item
                .get("sha256")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            if !broken.contains(&sha) {
                continue;
            }
            let id = item
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            let Some(at_rest) = attachments.iter().find(|a| a.attachment_id == id) else {
                return Ok(Mended::Not(format!(
                    "attachment {id} is not recorded on this node any more"
                )));
            };
            let digest = match node
                .blobs
                .reseal(&at_rest.blob_sha256, node.age.all(), &recipients)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    return Ok(Mended::Not(format!(
                        "attachment {id} is lost on this node too ({e}): ask the peer's \
                         operator, or withdraw the move and make it again without it"
                    )));
                }
            };
            item["sha256"] = serde_json::json!(digest.sha256);
            item["len"] = serde_json::json!(digest.len);
            for b in new_blobs.iter_mut().filter(|b| b.sha256 == sha) {
                *b = digest.clone();
            }
            mended.push(id);
        }
    }
    if mended.is_empty() {
        return Ok(Mended::Not(
            "the missing blob is not one of the move's documents".into(),
        ));
    }
    let plaintext = serde_json::to_vec(&body).map_err(|e| SendError::Invalid(e.to_string()))?;
    let sealed = seal_body(node, recipients, &plaintext)?;
    let mut claims: EnvelopeClaims = crate::protocol::jws::peek_claims(&row.jws)
        .map_err(|e| SendError::Invalid(format!("stored envelope: {e}")))?;
    claims.body = Digest::of(&sealed);
    claims.blobs = new_blobs;
    claims.iat = now.unix_timestamp();
    row.jws = claims
        .sign(&node.signing)
        .map_err(|e| SendError::Invalid(e.to_string()))?;
    row.envelope_sha256 = envelope_sha256(&row.jws);
    row.body = STANDARD.encode(&sealed);
    row.blobs =
        serde_json::to_string(&claims.blobs).map_err(|e| SendError::Invalid(e.to_string()))?;
    outbox::rewritten(&mut tx, &row).await?;
    let head = channels::head(&mut tx, peer_id, Direction::Out).await?;
    if head.seq as i64 == seq {
        channels::rehash(
            &mut tx,
            peer_id,
            Direction::Out,
            head.seq,
            &row.envelope_sha256,
        )
        .await?;
    } else {
        resign_in(&mut tx, node, peer_id, seq + 1, now).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Mended::Resealed(mended))
}
