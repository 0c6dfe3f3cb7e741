//! Cases: the moves our case workers make and the moves that arrive from the peer,
//! decided by the same state machine (`domain::sop`) on both nodes. A move, its
//! timeline entry and the envelope it sends commit in one transaction. What
//! identifies a person is sealed to this node before it reaches the database.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::AnyConnection;

use crate::audit::{self, Entry};
use crate::crypto::seal::{open_bytes, seal_bytes};
use crate::domain::consent::{ConsentRecord, Purpose, referral_to_send};
use crate::domain::messages::{self, Body, BodyError, Milestone};
use crate::domain::prosecution::{check_next, milestone_name};
use crate::domain::sop::{self, Arrival, Kind, Refusal, Side, State, Status};
use crate::federation::outbox::{Message, SendError, send};
use crate::node::Node;
use crate::store::cases::{self, CaseRow, EventRow};
use crate::store::{StoreError, millis, peers, prosecution};

#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("no such case")]
    NotFound,
    #[error("unknown message kind {0:?}")]
    UnknownKind(String),
    #[error(transparent)]
    Invalid(#[from] BodyError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing failed")]
    Seal,
    #[error("larger than {0} bytes")]
    TooLarge(u64),
}

impl From<sqlx::Error> for CaseError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl From<SendError> for CaseError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Store(e) => Self::Store(e),
            SendError::Invalid(m) => Self::Conflict(m),
        }
    }
}

fn side_name(side: Side) -> String {
    side.as_str().to_owned()
}

fn parse_side(s: &str) -> Side {
    if s == "home" { Side::Home } else { Side::Host }
}

pub fn status_of(row: &CaseRow) -> Status {
    Status {
        state: State::parse(&row.state).unwrap_or(State::Draft),
        turn: row.turn.as_deref().map(parse_side),
    }
}

fn seal_to_self(node: &Node, plaintext: &[u8]) -> Result<String, CaseError> {
    let sealed =
        seal_bytes(&[node.age.identity().to_public()], plaintext).map_err(|_| CaseError::Seal)?;
    Ok(STANDARD.encode(sealed))
}

/// Opens a value this node sealed to itself (an authorised read; audit it).
pub fn open_sealed(node: &Node, sealed: &str) -> Option<serde_json::Value> {
    let bytes = STANDARD.decode(sealed).ok()?;
    serde_json::from_slice(&open_bytes(node.age.identity(), &bytes).ok()?).ok()
}

/// Copies into the clear columns what the statistics may know of a body.
fn clear_facts(row: &mut CaseRow, body: &Body) {
    fn name<T: serde::Serialize>(v: &T) -> Option<String> {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }
    match body {
        Body::Referral(r) => {
            row.gender = name(&r.person.gender);
            row.age_at_identification = r.person.age_at_identification.map(i64::from);
            row.exploitation_types = Some(
                r.exploitation
                    .types
                    .iter()
                    .filter_map(name)
                    .collect::<Vec<_>>()
                    .join(","),
            );
            row.province_of_origin = Some(r.origin.province.as_str().to_owned());
        }
        Body::ReturnPlan(p) => row.crossing_point = name(&p.crossing.point),
        Body::ReturnCounterproposal(c) => {
            if let Some(c) = &c.crossing {
                row.crossing_point = name(&c.point);
            }
        }
        Body::Handover(h) => row.crossing_point = name(&h.crossing.point),
        Body::ProsecutionUpdate(p) => row.prosecution_milestone = name(&p.milestone),
        _ => {}
    }
}

/// A case as it begins on either side: a draft, the host's turn. The home side's
/// copy is then moved to `referred` by the referral it began with.
fn draft_row(
    case_id: &str,
    host: &str,
    home: &str,
    ours: Side,
    sealed: String,
    now: time::OffsetDateTime,
) -> CaseRow {
    CaseRow {
        case_id: case_id.to_owned(),
        host_node: host.to_owned(),
        home_node: home.to_owned(),
        our_side: side_name(ours),
        state: State::Draft.as_str().to_owned(),
        turn: Some(side_name(Side::Host)),
        gender: None,
        age_at_identification: None,
        exploitation_types: None,
        province_of_origin: None,
        crossing_point: None,
        prosecution_milestone: None,
        sealed,
        created_at: millis(now),
        updated_at: millis(now),
        purged_at: None,
        testimony_pending: 0,
    }
}

/// An attachment's file name and media type, sealed to this node.
fn seal_meta(node: &Node, file_name: &str, media_type: &str) -> Result<String, CaseError> {
    let meta = serde_json::json!({"file_name": file_name, "media_type": media_type});
    seal_to_self(
        node,
        &serde_json::to_vec(&meta).map_err(|_| CaseError::Seal)?,
    )
}

/// Opens a draft referral on our (host) side, for `home_node`. Returns the case id.
pub async fn create_draft(
    node: &Node,
    actor: &str,
    home_node: &str,
    referral: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<uuid::Uuid, CaseError> {
    let body = messages::parse(Kind::Referral, referral)?;
    let case_id = uuid::Uuid::now_v7();
    let plaintext = serde_json::to_vec(referral).map_err(|_| CaseError::Seal)?;
    let mut tx = node.store.begin().await?;
    if peers::get(&mut tx, home_node).await?.is_none() {
        return Err(CaseError::Conflict(
            "home_node is not a registered peer".into(),
        ));
    }
    let host = node.config.node_id.to_string();
    let sealed = seal_to_self(node, &plaintext)?;
    let mut row = draft_row(
        &case_id.to_string(),
        &host,
        home_node,
        Side::Host,
        sealed,
        now,
    );
    clear_facts(&mut row, &body);
    cases::insert(&mut tx, &row).await?;
    let detail = format!("home_node={home_node}");
    let entry = Entry {
        actor,
        action: "case.create",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(case_id)
}

/// What a move did.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub status: Status,
    /// The envelope that carries it to the peer (none for a withdrawn draft).
    pub jti: Option<String>,
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
) -> Result<Moved, CaseError> {
    let kind = Kind::parse(kind).ok_or_else(|| CaseError::UnknownKind(kind.to_owned()))?;
    let mut tx = node.store.begin().await?;
    let mut row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(CaseError::NotFound)?;
    let draft;
    let body = if kind == Kind::Referral {
        // What is sent is the draft, as far as the person consented.
        let consented: Vec<Purpose> = cases::consents(&mut tx, &row.case_id)
            .await?
            .iter()
            .filter_map(|p| serde_json::from_value(serde_json::Value::String(p.clone())).ok())
            .collect();
        let file = open_sealed(node, &row.sealed).ok_or(CaseError::Seal)?;
        draft = referral_to_send(&file, &consented).ok_or_else(|| {
            CaseError::Conflict(
                "the referral cannot be sent without the person's consent to repatriation".into(),
            )
        })?;
        &draft
    } else {
        body
    };
    let our_side = parse_side(&row.our_side);
    let peer = if our_side == Side::Host {
        row.home_node.clone()
    } else {
        row.host_node.clone()
    };
    // A referral carries the case's attachments, sealed again to the peer.
    let with_files;
    let mut blobs = Vec::new();
    let body = if kind == Kind::Referral {
        let (listed, digests) = attachments_for(node, &mut tx, &row.case_id, &peer).await?;
        let mut b = body.clone();
        b["attachments"] = serde_json::Value::Array(listed);
        blobs = digests;
        with_files = b;
        &with_files
    } else {
        body
    };
    let parsed = messages::parse(kind, body)?;
    let next = sop::decide(status_of(&row), our_side, parsed.sop_move(kind))?;
    check_track(&mut tx, &row, &parsed).await?;
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
    Ok(Moved { status: next, jti })
}

/// The prosecution track's own rules: milestones in order; an arrangement only
/// for a testimony requested.
async fn check_track(
    conn: &mut AnyConnection,
    row: &CaseRow,
    parsed: &Body,
) -> Result<(), CaseError> {
    match parsed {
        Body::ProsecutionUpdate(u) => {
            let history: Vec<Milestone> = prosecution::milestones(conn, &row.case_id)
                .await?
                .into_iter()
                .filter_map(|m| serde_json::from_value(serde_json::Value::String(m)).ok())
                .collect();
            check_next(&history, u.milestone).map_err(|e| CaseError::Conflict(e.0))
        }
        Body::TestimonyArrangement(_) if row.testimony_pending == 0 => Err(CaseError::Conflict(
            "no testimony has been requested: there is nothing to arrange".into(),
        )),
        _ => Ok(()),
    }
}

/// What an applied move does to the prosecution track, on either side.
async fn advance_track(
    conn: &mut AnyConnection,
    row: &mut CaseRow,
    parsed: &Body,
    now: time::OffsetDateTime,
) -> Result<(), CaseError> {
    match parsed {
        Body::ProsecutionUpdate(u) => {
            prosecution::append_milestone(
                conn,
                &row.case_id,
                &milestone_name(u.milestone),
                millis(now),
            )
            .await?;
            match u.milestone {
                Milestone::TestimonyRequested => row.testimony_pending = 1,
                Milestone::TestimonyGiven => row.testimony_pending = 0,
                _ => {}
            }
        }
        Body::TestimonyArrangement(_) => row.testimony_pending = 0,
        _ => {}
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn record(
    conn: &mut AnyConnection,
    node: &Node,
    row: &mut CaseRow,
    made_by: Side,
    kind: Kind,
    parsed: &Body,
    next: Status,
    outcome: &str,
    jti: Option<String>,
    body: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), CaseError> {
    if outcome == "applied" {
        row.state = next.state.as_str().to_owned();
        row.turn = next.turn.map(side_name);
        clear_facts(row, parsed);
        advance_track(conn, row, parsed, now).await?;
    }
    row.updated_at = millis(now);
    cases::update(conn, row).await?;
    let plaintext = serde_json::to_vec(body).map_err(|_| CaseError::Seal)?;
    cases::append_event(
        conn,
        &EventRow {
            case_id: row.case_id.clone(),
            position: 0,
            made_by: side_name(made_by),
            kind: kind.as_str().to_owned(),
            outcome: outcome.to_owned(),
            state_after: row.state.clone(),
            jti,
            body: seal_to_self(node, &plaintext)?,
            at: millis(now),
        },
    )
    .await?;
    Ok(())
}

/// Applies a move the peer made, inside the transaction that accepts its envelope.
/// Returns what it did (`applied`, `superseded`, `conflict`), or `None` for a
/// message that concerns no case.
#[allow(clippy::too_many_arguments)]
pub async fn apply_incoming(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    kind: &str,
    case: Option<&str>,
    sealed_body: &[u8],
    jti: &str,
    now: time::OffsetDateTime,
) -> Result<Option<&'static str>, CaseError> {
    let outcome = apply_move(conn, node, peer, kind, case, sealed_body, jti, now).await?;
    if let Some(outcome) = outcome {
        let actor = format!("peer:{peer}");
        let detail = format!("kind={kind} outcome={outcome}");
        let entry = Entry {
            actor: &actor,
            action: "case.receive",
            case_id: case,
            detail: &detail,
        };
        audit::record(conn, entry, now).await?;
    }
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn apply_move(
    conn: &mut AnyConnection,
    node: &Node,
    peer: &str,
    kind: &str,
    case: Option<&str>,
    sealed_body: &[u8],
    jti: &str,
    now: time::OffsetDateTime,
) -> Result<Option<&'static str>, CaseError> {
    let (Some(kind), Some(case_id)) = (Kind::parse(kind), case) else {
        return Ok(None);
    };
    let body: Option<serde_json::Value> = open_bytes(node.age.identity(), sealed_body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let parsed = body.as_ref().map(|b| messages::parse(kind, b));
    let existing = cases::get_for_update(conn, case_id).await?;
    let (Some(body), Some(Ok(parsed))) = (body, parsed) else {
        tracing::warn!(%peer, kind = kind.as_str(), "a move arrived with a body that does not open or parse; flagged");
        return Ok(Some("conflict"));
    };
    let Some(mut row) = existing else {
        if kind != Kind::Referral {
            tracing::warn!(%peer, kind = kind.as_str(), "a move arrived for an unknown case; flagged");
            return Ok(Some("conflict"));
        }
        // The home side's copy of the case begins with the referral.
        let plaintext = serde_json::to_vec(&body).map_err(|_| CaseError::Seal)?;
        let next = Status {
            state: State::Referred,
            turn: Some(Side::Home),
        };
        let home = node.config.node_id.to_string();
        let sealed = seal_to_self(node, &plaintext)?;
        let mut row = draft_row(case_id, peer, &home, Side::Home, sealed, now);
        cases::insert(conn, &row).await?;
        if let Body::Referral(r) = &parsed {
            // What the person consented to, as the host recorded it.
            let record = seal_to_self(node, br#"{"received_with_referral":true}"#)?;
            for purpose in &r.consented {
                cases::set_consent(conn, case_id, purpose.as_str(), true, &record, millis(now))
                    .await?;
            }
            // The blobs arrived sealed to us: they are ours at rest as they are.
            for a in &r.attachments {
                let meta = seal_meta(node, &a.file_name, &a.media_type)?;
                cases::add_attachment(
                    conn,
                    &cases::AttachmentRow {
                        case_id: case_id.to_owned(),
                        attachment_id: uuid::Uuid::now_v7().to_string(),
                        blob_sha256: a.sha256.clone(),
                        len: a.len as i64,
                        meta,
                        created_at: millis(now),
                    },
                )
                .await?;
            }
        }
        record(
            conn,
            node,
            &mut row,
            Side::Host,
            kind,
            &parsed,
            next,
            "applied",
            Some(jti.to_owned()),
            &body,
            now,
        )
        .await?;
        return Ok(Some("applied"));
    };
    let peer_side = parse_side(&row.our_side).other();
    let peer_is_party = if peer_side == Side::Host {
        row.host_node == peer
    } else {
        row.home_node == peer
    };
    let (outcome, next) = match sop::receive(status_of(&row), peer_side, parsed.sop_move(kind)) {
        _ if !peer_is_party => ("conflict", status_of(&row)),
        Arrival::Apply(next) => ("applied", next),
        Arrival::Superseded => ("superseded", status_of(&row)),
        Arrival::Conflict(refusal) => {
            tracing::warn!(%peer, kind = kind.as_str(), reason = %refusal, "a move that fits nothing arrived; flagged");
            ("conflict", status_of(&row))
        }
    };
    record(
        conn,
        node,
        &mut row,
        peer_side,
        kind,
        &parsed,
        next,
        outcome,
        Some(jti.to_owned()),
        &body,
        now,
    )
    .await?;
    Ok(Some(outcome))
}

/// Records a consent on a case of ours (the draft, usually). The record is sealed.
pub async fn record_consent(
    node: &Node,
    actor: &str,
    case_id: uuid::Uuid,
    record: &serde_json::Value,
    now: time::OffsetDateTime,
) -> Result<(), CaseError> {
    let record: ConsentRecord =
        serde_path_to_error::deserialize(record).map_err(|e| BodyError {
            field: e.path().to_string(),
            message: messages::redact(&e.into_inner().to_string()),
        })?;
    record.check()?;
    let sealed = seal_to_self(
        node,
        &serde_json::to_vec(&record).map_err(|_| CaseError::Seal)?,
    )?;
    let mut tx = node.store.begin().await?;
    let row = cases::get_for_update(&mut tx, &case_id.to_string())
        .await?
        .ok_or(CaseError::NotFound)?;
    if row.our_side != "host" {
        return Err(CaseError::Conflict(
            "consent is recorded by the host side, where the person is".into(),
        ));
    }
    cases::set_consent(
        &mut tx,
        &row.case_id,
        record.purpose.as_str(),
        record.granted,
        &sealed,
        millis(now),
    )
    .await?;
    let detail = format!(
        "purpose={} granted={}",
        record.purpose.as_str(),
        record.granted
    );
    let entry = Entry {
        actor,
        action: "case.consent",
        case_id: Some(&row.case_id),
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The case's attachments sealed again to `peer`: as listed in the referral body,
/// and as blobs for the envelope.
async fn attachments_for(
    node: &Node,
    conn: &mut AnyConnection,
    case_id: &str,
    peer: &str,
) -> Result<
    (
        Vec<serde_json::Value>,
        Vec<crate::protocol::envelope::Digest>,
    ),
    CaseError,
> {
    let rows = cases::attachments(conn, case_id).await?;
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let descriptor = peers::get(conn, peer)
        .await?
        .and_then(|p| serde_json::from_str::<crate::protocol::Descriptor>(&p.descriptor).ok())
        .ok_or_else(|| CaseError::Conflict(format!("{peer} is not a registered peer")))?;
    let recipients = crate::federation::outbox::peer_recipients(&descriptor)?;
    let (mut listed, mut digests) = (Vec::new(), Vec::new());
    for row in rows {
        let meta = open_sealed(node, &row.meta).ok_or(CaseError::Seal)?;
        let digest = node
            .blobs
            .reseal(&row.blob_sha256, node.age.identity(), &recipients)
            .await
            .map_err(|e| CaseError::Conflict(format!("attachment: {e}")))?;
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
) -> Result<(String, crate::protocol::envelope::Digest), CaseError>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let bad = |field: &str, message: &str| {
        CaseError::Invalid(BodyError {
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
            .ok_or(CaseError::NotFound)?;
        if row.state != State::Draft.as_str() {
            return Err(CaseError::Conflict(
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
            crate::blobs::BlobError::TooLarge(max) => CaseError::TooLarge(max),
            e => CaseError::Conflict(format!("attachment: {e}")),
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
