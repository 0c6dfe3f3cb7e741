//! Attachments: sealed to this node while they stream in, sealed again to the
//! peer when the referral leaves, opened while they stream out.

use sqlx::AnyConnection;

use super::AppError;
use super::audit::{self, Entry};
use super::cases::{open_sealed, seal_to_self};
use crate::domain::messages::BodyError;
use crate::domain::sop::State;
use crate::node::Node;
use crate::store::{cases, millis, peers};

/// An attachment's file name and media type, sealed to this node.
pub(super) fn seal_meta(
    node: &Node,
    file_name: &str,
    media_type: &str,
) -> Result<String, AppError> {
    let meta = serde_json::json!({"file_name": file_name, "media_type": media_type});
    seal_to_self(
        node,
        &serde_json::to_vec(&meta).map_err(|_| AppError::Seal)?,
    )
}

/// The case's attachments sealed again to `peer`: as listed in the referral body,
/// and as blobs for the envelope.
pub(super) async fn attachments_for(
    node: &Node,
    conn: &mut AnyConnection,
    case_id: &str,
    peer: &str,
) -> Result<
    (
        Vec<serde_json::Value>,
        Vec<crate::protocol::envelope::Digest>,
    ),
    AppError,
> {
    let rows = cases::attachments(conn, case_id).await?;
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let descriptor = peers::get(conn, peer)
        .await?
        .and_then(|p| serde_json::from_str::<crate::protocol::Descriptor>(&p.descriptor).ok())
        .ok_or_else(|| AppError::Conflict(format!("{peer} is not a registered peer")))?;
    let recipients = super::outbox::peer_recipients(&descriptor)?;
    let (mut listed, mut digests) = (Vec::new(), Vec::new());
    for row in rows {
        let meta = open_sealed(node, &row.meta).ok_or(AppError::Seal)?;
        let digest = node
            .blobs
            .reseal(&row.blob_sha256, node.age.identity(), &recipients)
            .await
            .map_err(|e| AppError::Conflict(format!("attachment: {e}")))?;
        listed.push(serde_json::json!({
            "sha256": digest.sha256,
            "len": digest.len,
            "file_name": meta["file_name"],
            "media_type": meta["media_type"],
        }));
        digests.push(digest);
    }
    Ok((listed, digests))
}

/// Adds an attachment to a draft of ours: the bytes are sealed to this node while
/// they stream in.
pub async fn add_attachment<R>(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    file_name: &str,
    media_type: &str,
    bytes: R,
    now: time::OffsetDateTime,
) -> Result<(String, crate::protocol::envelope::Digest), AppError>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let bad = |field: &str, message: &str| {
        AppError::Invalid(BodyError {
            field: field.into(),
            message: message.into(),
        })
    };
    if file_name.trim().is_empty()
        || file_name.chars().count() > 255
        || file_name.contains(['/', '\\'])
    {
        return Err(bad(
            "file_name",
            "a file name of 1 to 255 characters, without slashes",
        ));
    }
    if !media_type.contains('/') || media_type.len() > 100 {
        return Err(bad("media_type", "a media type such as image/jpeg"));
    }
    {
        let mut conn = node.store.pool().acquire().await?;
        let row = cases::get(&mut conn, &case_id.to_string())
            .await?
            .ok_or(AppError::NotFound)?;
        if row.state != State::Draft.as_str() {
            return Err(AppError::Conflict(
                "attachments are added to a draft, before the referral".into(),
            ));
        }
    }
    let max = node.config.federation.max_blob_bytes;
    let digest = node
        .blobs
        .seal_reader(&[node.age.identity().to_public()], bytes, max)
        .await
        .map_err(|e| match e {
            crate::blobs::BlobError::TooLarge(max) => AppError::TooLarge(max),
            e => AppError::Conflict(format!("attachment: {e}")),
        })?;
    let meta = seal_meta(node, file_name, media_type)?;
    let attachment_id = uuid::Uuid::now_v7().to_string();
    let mut tx = node.store.begin().await?;
    cases::add_attachment(
        &mut tx,
        &cases::AttachmentRow {
            case_id: case_id.to_string(),
            attachment_id: attachment_id.clone(),
            blob_sha256: digest.sha256.clone(),
            len: digest.len as i64,
            meta,
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
    Ok((attachment_id, digest))
}

/// What is attached to a case, names opened: a read of sealed content, audited.
pub async fn list(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
) -> Result<Vec<super::case_view::Attachment>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let case = cases::get(&mut conn, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = cases::attachments(&mut conn, &case.case_id).await?;
    drop(conn);
    read_entry(node, actor, &case.case_id, "attachment names").await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let meta = open_sealed(node, &r.meta).unwrap_or(serde_json::Value::Null);
            super::case_view::Attachment {
                id: r.attachment_id,
                len: r.len,
                file_name: meta["file_name"].as_str().map(str::to_owned),
                media_type: meta["media_type"].as_str().map(str::to_owned),
                created_at: r.created_at,
            }
        })
        .collect())
}

/// An attachment opened as it streams out.
pub struct Opened {
    pub media_type: String,
    pub bytes: tokio_util::io::ReaderStream<tokio::io::DuplexStream>,
}

/// Opens attachment `aid` of a case for `actor`, audited.
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
    let meta =
        open_sealed(node, &row.meta).ok_or_else(|| AppError::Internal("attachment name".into()))?;
    let bytes = node
        .blobs
        .open_stream(&row.blob_sha256, node.age.identity())
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    read_entry(
        node,
        actor,
        &case_id.to_string(),
        &format!("attachment={aid}"),
    )
    .await?;
    let media_type = meta["media_type"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok(Opened { media_type, bytes })
}

/// A `case.read` audit entry in a transaction of its own (reads change nothing else).
async fn read_entry(node: &Node, actor: &str, case_id: &str, detail: &str) -> Result<(), AppError> {
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
