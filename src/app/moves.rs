//! Our moves on a case: decided with `domain::sop`, sealed, queued for the peer,
//! recorded on the timeline and audited, in one transaction.

use sqlx::AnyConnection;

use super::AppError;
use super::attachments::{attachments_for, files_for};
use super::audit::{self, Entry};
use super::cases::{open_sealed, parse_side, peer_of, record, status_of};
use super::outbox::{Message, send};
use crate::domain::consent::{Purpose, referral_to_send};
use crate::domain::messages::{self, Body, Milestone};
use crate::domain::prosecution::check_next;
use crate::domain::sop::{self, Kind, State, Status};
use crate::node::Node;
use crate::store::cases::{self, CaseRow};
use crate::store::prosecution;

/// What a move did.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub status: Status,
    /// The envelope that carries it to the peer (none for a withdrawn draft, or a
    /// move awaiting approval).
    pub jti: Option<String>,
    /// Held until a supervisor approves it (`[workflow] approve`): nothing sent.
    pub awaiting_approval: bool,
}

/// Makes our move `kind` on a case. A referral sends the draft's own content; any
/// other move sends `body`, which must be that kind's schema.
pub async fn make_move(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    kind: &str,
    body: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<Moved, AppError> {
    move_as(node, actor, case_id, kind, body, now, None).await
}

/// As `make_move`; `approved_by` names the supervisor who approved a held move.
pub(super) async fn move_as(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    kind: &str,
    body: &serde_json::Value,
    now: time::OffsetDateTime,
    approved_by: Option<&str>,
) -> Result<Moved, AppError> {
    let kind = Kind::parse(kind).ok_or_else(|| AppError::UnknownKind(kind.to_owned()))?;
    let original = body;
    let mut tx = node.store.begin().await?;
    let mut row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    if approved_by.is_none()
        && crate::store::pending::get(&mut tx, &row.case_id)
            .await?
            .is_some()
    {
        return Err(AppError::Conflict(
            "a step of this case awaits a supervisor's approval".into(),
        ));
    }
    let draft;
    let correction;
    let mut corrected_file = None;
    let body = if kind == Kind::Correction {
        // What each field was is taken from our copy of the file, and the file
        // corrected with the rest.
        let (b, file) = correct(node, &mut tx, &row, body).await?;
        correction = b;
        corrected_file = Some(file);
        &correction
    } else if kind == Kind::Referral {
        // What is sent is the draft, as far as the person consented.
        let consented: Vec<Purpose> = cases::consents(&mut tx, &row.case_id)
            .await?
            .iter()
            .filter_map(|p| serde_json::from_value(serde_json::Value::String(p.clone())).ok())
            .collect();
        let file = open_sealed(node, &row.sealed).ok_or(AppError::Seal)?;
        draft = referral_to_send(&file, &consented).ok_or_else(|| {
            AppError::Conflict(
                "the referral cannot be sent without the person's consent to repatriation".into(),
            )
        })?;
        &draft
    } else {
        body
    };
    let our_side = parse_side(&row.our_side);
    let peer = peer_of(&row).to_owned();
    // A referral carries all the case's attachments, a later move those it names,
    // sealed again to the peer; what was sent is described in the body.
    let with_files;
    let mut blobs = Vec::new();
    let body = if kind == Kind::Referral {
        let (listed, digests) = attachments_for(node, &mut tx, &row.case_id, &peer).await?;
        let mut b = body.clone();
        b["attachments"] = serde_json::Value::Array(listed);
        blobs = digests;
        with_files = b;
        &with_files
    } else if let Some(ids) = named_attachments(kind, body)? {
        let (files, digests) = files_for(node, &mut tx, &row.case_id, &peer, &ids).await?;
        let mut b = body.clone();
        if let Some(fields) = b.as_object_mut() {
            fields.remove("files");
            if !files.is_empty() {
                fields.insert("files".into(), serde_json::Value::Array(files));
            }
        }
        blobs = digests;
        with_files = b;
        &with_files
    } else {
        body
    };
    // What the case worker makes now is held to today's calendar; the referral
    // was when it was drafted.
    let parsed = if kind == Kind::Referral {
        messages::parse(kind, body)?
    } else {
        messages::parse_on(kind, body, super::cases::today(now))?
    };
    let next = sop::decide(status_of(&row), our_side, parsed.sop_move(kind))?;
    check_track(&mut tx, &row, &parsed).await?;
    // Four eyes: a move of a kind this node has approved first is held, checked,
    // until a supervisor other than its author approves it.
    if approved_by.is_none() && super::approval::needed(node, kind) {
        super::approval::hold(&mut tx, node, &row, actor, kind, original, now).await?;
        tx.commit().await?;
        return Ok(Moved {
            status: status_of(&row),
            jti: None,
            awaiting_approval: true,
        });
    }
    if let Some(file) = &corrected_file {
        super::search::index(&mut tx, node, &row.case_id, file).await?;
        row.sealed = super::cases::seal_to_self(
            node,
            &serde_json::to_vec(file).map_err(|_| AppError::Seal)?,
        )?;
        if let Ok(referral) = messages::parse(Kind::Referral, file) {
            super::cases::clear_facts(&mut row, &referral);
        }
    }
    // A draft never left this node: withdrawing it tells nobody.
    let jti = if row.state == State::Draft.as_str() && kind == Kind::Withdrawal {
        None
    } else {
        let message = Message {
            kind: kind.as_str(),
            case: Some(case_id),
            body,
            blobs: &blobs,
        };
        Some(send(&mut tx, node, &peer, message, now).await?.jti)
    };
    record(
        &mut tx,
        node,
        &mut row,
        our_side,
        kind,
        &parsed,
        next,
        "applied",
        jti.clone(),
        body,
        now,
    )
    .await?;
    let detail = format!("kind={} state={}", kind.as_str(), next.state.as_str());
    let case_text = case_id.to_string();
    let entry = Entry {
        actor,
        action: "case.move",
        case_id: Some(&case_text),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    node.outbox_ready.notify_one();
    Ok(Moved {
        status: next,
        jti,
        awaiting_approval: false,
    })
}

/// The attachment ids a move names, for a kind that may carry documents. `files`
/// is the sending node's to write: one given by the case worker is refused.
fn named_attachments(
    kind: Kind,
    body: &serde_json::Value,
) -> Result<Option<Vec<String>>, AppError> {
    let bad =
        |field: &str, message: &str| AppError::Invalid(messages::BodyError::new(field, message));
    if !Body::may_carry(kind) {
        return Ok(None);
    }
    if body.get("files").is_some() {
        return Err(bad(
            "files",
            "set by the node when it sends: name documents in attachments",
        ));
    }
    match body.get("attachments") {
        None => Ok(None),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(&format!("attachments[{i}]"), "an attachment id"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad("attachments", "a list of attachment ids")),
    }
}

/// A correction as it is sent: each change's `from` set from our copy of the
/// referral, and that copy corrected. Health information is corrected only with
/// the person's consent to share it (the other side never had it otherwise).
async fn correct(
    node: &Node,
    conn: &mut AnyConnection,
    row: &CaseRow,
    body: &serde_json::Value,
) -> Result<(serde_json::Value, serde_json::Value), AppError> {
    let Body::Correction(c) = messages::parse(Kind::Correction, body)? else {
        return Err(AppError::UnknownKind(String::new()));
    };
    let file = open_sealed(node, &row.sealed).ok_or(AppError::Seal)?;
    let consented = cases::consents(conn, &row.case_id).await?;
    let mut sent = body.clone();
    for (i, change) in c.changes.iter().enumerate() {
        if change.field.starts_with("health")
            && !consented.iter().any(|p| p == "health_information")
        {
            return Err(AppError::Invalid(messages::BodyError::coded(
                format!("changes[{i}].field"),
                "invalid",
                "health information is shared only with the person's consent",
            )));
        }
        let steps = crate::domain::fields::path_segments(&change.field).unwrap_or_default();
        sent["changes"][i]["from"] = crate::domain::fields::value_at(&file, &steps);
    }
    let corrected = messages::corrected(&file, &c.changes)?;
    Ok((sent, corrected))
}

/// The prosecution track's own rules: milestones in order; an arrangement only
/// for a testimony requested.
async fn check_track(
    conn: &mut AnyConnection,
    row: &CaseRow,
    parsed: &Body,
) -> Result<(), AppError> {
    match parsed {
        Body::ProsecutionUpdate(u) => {
            let history: Vec<Milestone> = prosecution::milestones(conn, &row.case_id)
                .await?
                .into_iter()
                .filter_map(|m| serde_json::from_value(serde_json::Value::String(m)).ok())
                .collect();
            check_next(&history, u.milestone).map_err(|e| AppError::Conflict(e.0))
        }
        Body::TestimonyArrangement(_) if row.testimony_pending == 0 => Err(AppError::Conflict(
            "no testimony has been requested: there is nothing to arrange".into(),
        )),
        _ => Ok(()),
    }
}
