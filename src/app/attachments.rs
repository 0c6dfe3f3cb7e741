//! Attachments: sealed to this node while they stream in, at any stage of a case;
//! sealed again to the peer when the referral or a later move carries them;
//! recorded under the same id when the peer's move brings them; opened while they
//! stream out, after a check that they open whole.

use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::AppError;
use super::audit::{self, Entry};
use super::case_view::Attachment;
use super::cases::{open_sealed, seal_to_self};
use crate::crypto::hash::Digest;
use crate::domain::messages::{AttachmentRef, BodyError, is_media_type};
use crate::node::Node;
use crate::store::cases::{self, AttachmentRow};
use crate::store::{millis, peers};

/// What is sealed of an attachment besides its bytes: they can name a person.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Meta {
    file_name: String,
    media_type: String,
    /// The original file's size; absent for attachments recorded before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
}

fn seal_meta(node: &Node, meta: &Meta) -> Result<String, AppError> {
    seal_to_self(node, &serde_json::to_vec(meta).map_err(|_| AppError::Seal)?)
}

fn open_meta(node: &Node, sealed: &str) -> Option<Meta> {
    open_sealed(node, sealed).and_then(|v| serde_json::from_value(v).ok())
}

/// An attachment row as readers see it, its name opened.
pub(super) fn opened(node: &Node, row: AttachmentRow) -> Attachment {
    let meta = open_meta(node, &row.meta);
    Attachment {
        id: row.attachment_id,
        sealed_len: row.len,
        file_name: meta.as_ref().map(|m| m.file_name.clone()),
        media_type: meta.as_ref().map(|m| m.media_type.clone()),
        size: meta.and_then(|m| m.size),
        created_at: row.created_at,
    }
}

/// The recipients a peer seals to, from its registered descriptor.
async fn peer_recipients(
    conn: &mut AnyConnection,
    peer: &str,
) -> Result<Vec<age::x25519::Recipient>, AppError> {
    let descriptor = peers::get(conn, peer)
        .await?
        .and_then(|p| serde_json::from_str::<crate::protocol::Descriptor>(&p.descriptor).ok())
        .ok_or_else(|| AppError::Conflict(format!("{peer} is not a registered peer")))?;
    Ok(super::outbox::peer_recipients(&descriptor)?)
}

/// `rows` sealed again to `peer`: each described as a body lists it, and the blobs
/// for the envelope.
async fn resealed(
    node: &Node,
    conn: &mut AnyConnection,
    peer: &str,
    rows: Vec<AttachmentRow>,
) -> Result<(Vec<Value>, Vec<Digest>), AppError> {
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let recipients = peer_recipients(conn, peer).await?;
    let (mut listed, mut digests) = (Vec::new(), Vec::new());
    for row in rows {
        let meta = open_meta(node, &row.meta).ok_or(AppError::Seal)?;
        let digest = node
            .blobs
            .reseal(&row.blob_sha256, node.age.all(), &recipients)
            .await
            .map_err(|e| AppError::Conflict(format!("attachment: {e}")))?;
        let mut file = json!({
            "sha256": digest.sha256,
            "len": digest.len,
            "file_name": meta.file_name,
            "media_type": meta.media_type,
            "id": row.attachment_id,
        });
        if let Some(size) = meta.size {
            file["size"] = json!(size);
        }
        listed.push(file);
        digests.push(digest);
    }
    Ok((listed, digests))
}

/// Every attachment of the case sealed again to `peer`, for the referral.
pub(super) async fn attachments_for(
    node: &Node,
    conn: &mut AnyConnection,
    case_id: &str,
    peer: &str,
) -> Result<(Vec<Value>, Vec<Digest>), AppError> {
    let rows = cases::attachments(conn, case_id).await?;
    resealed(node, conn, peer, rows).await
}

/// The attachments a later move names (`ids`), sealed again to `peer`: the
/// `files` of its body and the blobs of its envelope. An id that is not an
/// attachment of this case is refused, naming its place in the list.
pub(super) async fn files_for(
    node: &Node,
    conn: &mut AnyConnection,
    case_id: &str,
    peer: &str,
    ids: &[String],
) -> Result<(Vec<Value>, Vec<Digest>), AppError> {
    let mut rows = cases::attachments(conn, case_id).await?;
    let mut chosen = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let at = rows
            .iter()
            .position(|r| r.attachment_id == *id)
            .ok_or_else(|| {
                AppError::Invalid(BodyError::new(
                    format!("attachments[{i}]"),
                    "not an attachment of this case: add the file first",
                ))
            })?;
        chosen.push(rows.swap_remove(at));
    }
    resealed(node, conn, peer, chosen).await
}

/// Records the files a peer's move brought (their blobs arrived sealed to us, and
/// are ours at rest as they are), under the ids the peer gave them; a file
/// already recorded is left as it is.
pub(super) async fn record_received(
    node: &Node,
    conn: &mut AnyConnection,
    case_id: &str,
    files: &[AttachmentRef],
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let existing: Vec<String> = cases::attachments(conn, case_id)
        .await?
        .into_iter()
        .map(|r| r.attachment_id)
        .collect();
    for f in files {
        let id =
            f.id.clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        if existing.contains(&id) {
            continue;
        }
        let meta = Meta {
            file_name: f.file_name.clone(),
            media_type: f.media_type.clone(),
            size: f.size,
        };
        cases::add_attachment(
            conn,
            &AttachmentRow {
                case_id: case_id.to_owned(),
                attachment_id: id,
                blob_sha256: f.sha256.clone(),
                len: i64::try_from(f.len).unwrap_or(i64::MAX),
                meta: seal_meta(node, &meta)?,
                created_at: millis(now),
            },
        )
        .await?;
    }
    Ok(())
}

fn invalid(field: &str, message: &str) -> AppError {
    AppError::Invalid(BodyError::new(field, message))
}

/// What an upload added: the attachment's id, its sealed blob, the file's size.
#[derive(Debug, Clone)]
pub struct Added {
    pub id: String,
    pub digest: Digest,
    pub size: u64,
}

/// Adds an attachment to a case of ours, at any stage (a document signed at the
/// handover, a photo of a follow-up): the bytes are sealed to this node while they
/// stream in. It reaches the peer with the referral, or with the move that names it.
pub async fn add_attachment<R>(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    file_name: &str,
    media_type: &str,
    bytes: R,
    now: time::OffsetDateTime,
) -> Result<Added, AppError>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    if file_name.trim().is_empty()
        || file_name.chars().count() > 255
        || file_name.contains(['/', '\\'])
        || file_name.chars().any(char::is_control)
    {
        return Err(invalid(
            "file_name",
            "a file name of 1 to 255 characters, without slashes or control characters",
        ));
    }
    if !is_media_type(media_type) {
        return Err(invalid("media_type", "a media type such as image/jpeg"));
    }
    {
        let mut conn = node.store.pool().acquire().await?;
        let row = cases::get(&mut conn, &case_id.to_string())
            .await?
            .ok_or(AppError::NotFound)?;
        if row.purged_at.is_some() {
            return Err(AppError::Conflict(
                "the sealed content of this case was destroyed by retention".into(),
            ));
        }
    }
    let max = node.config.federation.max_blob_bytes;
    let (digest, size) = node
        .blobs
        .seal_reader(&[node.age.identity().to_public()], bytes, max)
        .await
        .map_err(|e| match e {
            crate::blobs::BlobError::TooLarge(max) => AppError::TooLarge(max),
            e => AppError::Conflict(format!("attachment: {e}")),
        })?;
    let meta = Meta {
        file_name: file_name.to_owned(),
        media_type: media_type.to_owned(),
        size: Some(size),
    };
    let attachment_id = uuid::Uuid::now_v7().to_string();
    let mut tx = node.store.begin().await?;
    cases::add_attachment(
        &mut tx,
        &AttachmentRow {
            case_id: case_id.to_string(),
            attachment_id: attachment_id.clone(),
            blob_sha256: digest.sha256.clone(),
            len: digest.len as i64,
            meta: seal_meta(node, &meta)?,
            created_at: millis(now),
        },
    )
    .await?;
    let detail = format!("attachment={attachment_id} len={}", digest.len);
    let case_text = case_id.to_string();
    let entry = Entry {
        actor,
        action: "case.attach",
        case_id: Some(&case_text),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(Added {
        id: attachment_id,
        digest,
        size,
    })
}

/// What is attached to a case, names opened: a read of sealed content, audited.
pub async fn list(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
) -> Result<Vec<Attachment>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let case = cases::get(&mut conn, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = cases::attachments(&mut conn, &case.case_id).await?;
    drop(conn);
    read_entry(node, actor, &case.case_id, "attachment names").await?;
    Ok(rows.into_iter().map(|r| opened(node, r)).collect())
}

/// An attachment opened as it streams out.
pub struct Opened {
    pub file_name: String,
    pub media_type: String,
    /// The original file's size, in bytes.
    pub size: u64,
    pub bytes: crate::blobs::OpenedStream,
}

/// Opens attachment `aid` of a case for `actor`, audited. The blob is first
/// opened to nowhere: a damaged one (bytes changed on disk, a key that no longer
/// opens it) is `AppError::Damaged` before any byte is sent.
pub async fn open(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    aid: &str,
) -> Result<Opened, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let rows = cases::attachments(&mut conn, &case_id.to_string()).await?;
    drop(conn);
    let row = rows
        .into_iter()
        .find(|r| r.attachment_id == aid)
        .ok_or(AppError::NotFound)?;
    let meta = open_meta(node, &row.meta).ok_or_else(|| {
        tracing::error!(attachment = %row.attachment_id, "an attachment's name does not open");
        AppError::Damaged
    })?;
    let damaged = |e: crate::blobs::BlobError| {
        tracing::error!(attachment = %row.attachment_id, error = %e, "an attachment does not open: its stored blob is damaged or missing");
        AppError::Damaged
    };
    let size = node
        .blobs
        .verify_opens(&row.blob_sha256, node.age.all())
        .await
        .map_err(damaged)?;
    let bytes = node
        .blobs
        .open_stream(&row.blob_sha256, node.age.all())
        .await
        .map_err(damaged)?;
    read_entry(
        node,
        actor,
        &case_id.to_string(),
        &format!("attachment={aid}"),
    )
    .await?;
    Ok(Opened {
        file_name: meta.file_name,
        media_type: meta.media_type,
        size,
        bytes,
    })
}

/// A `case.read` audit entry in a transaction of its own (reads change nothing else).
pub(super) async fn read_entry(
    node: &Node,
    actor: &str,
    case_id: &str,
    detail: &str,
) -> Result<(), AppError> {
    let mut tx = node.store.begin().await?;
    let entry = Entry {
        actor,
        action: "case.read",
        case_id: Some(case_id),
        detail,
    };
    audit::record(&mut tx, entry, time::OffsetDateTime::now_utc()).await?;
    tx.commit().await?;
    Ok(())
}
