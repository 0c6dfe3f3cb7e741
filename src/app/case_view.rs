//! The one reader of a case, for the API and the pages alike: its clear columns
//! and whose turn it is (`Summary`), the timeline of both sides with delivery
//! state, and, opened under one audit entry, the file, the attachment names and
//! the prosecution track (`CaseView`).

use serde_json::Value;

use super::AppError;
use super::audit::{self, Entry};
use super::cases::{open_sealed, parse_side, peer_of, status_of};
use crate::domain::messages::{Body, ProsecutionUpdate, parse};
use crate::domain::prosecution::{Track, summarise};
use crate::domain::reminders::{Due, Schedule, overdue};
use crate::domain::sop::{Kind, Side, Status};
use crate::node::Node;
use crate::store::cases::{self, CaseRow, EventRow};
use crate::store::{outbox, prosecution};

pub use crate::store::prosecution::GrantRow;

/// A case as lists show it: clear columns only, and whose turn it is.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: String,
    pub host_node: String,
    pub home_node: String,
    /// `host` or `home`.
    pub our_side: String,
    pub state: String,
    pub turn: Option<String>,
    /// The other party of the case.
    pub peer: String,
    pub status: Status,
    pub our_turn: bool,
    /// A testimony request waits for the home side's arrangement.
    pub testimony_pending: bool,
    /// In our inbox: our turn on the return, or a testimony request for us to answer.
    pub awaiting_us: bool,
    pub gender: Option<String>,
    pub age_at_identification: Option<i64>,
    pub exploitation_types: Option<String>,
    pub province_of_origin: Option<String>,
    pub crossing_point: Option<String>,
    pub prosecution_milestone: Option<String>,
    pub updated_at: i64,
    /// When retention destroyed the sealed content (the clear columns remain).
    pub purged_at: Option<i64>,
    /// Who holds the case on this node; none: the team's queue.
    pub owner: Option<String>,
    /// What is overdue on it (the home side's verification, follow-ups; a
    /// handover past the agreed day).
    pub overdue: Vec<Due>,
    /// The return date planned or agreed (`YYYY-MM-DD`).
    pub return_date: Option<String>,
    /// A step made here awaits a supervisor's approval.
    pub awaiting_approval: bool,
}

impl Summary {
    fn of(row: CaseRow) -> Self {
        let status = status_of(&row);
        let ours = parse_side(&row.our_side);
        let testimony_pending = row.testimony_pending != 0;
        Self {
            peer: peer_of(&row).to_owned(),
            our_turn: status.turn == Some(ours),
            awaiting_us: status.awaits(ours, testimony_pending),
            status,
            testimony_pending,
            id: row.case_id,
            host_node: row.host_node,
            home_node: row.home_node,
            our_side: row.our_side,
            state: row.state,
            turn: row.turn,
            gender: row.gender,
            age_at_identification: row.age_at_identification,
            exploitation_types: row.exploitation_types,
            province_of_origin: row.province_of_origin,
            crossing_point: row.crossing_point,
            prosecution_milestone: row.prosecution_milestone,
            updated_at: row.updated_at,
            purged_at: row.purged_at,
            owner: row.owner,
            overdue: Vec::new(),
            return_date: row.return_date,
            awaiting_approval: false,
        }
    }

    pub fn our_side(&self) -> Side {
        parse_side(&self.our_side)
    }

    pub fn is_draft(&self) -> bool {
        self.status.state == crate::domain::sop::State::Draft
    }
}

/// Which cases a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every case.
    All,
    /// The inbox: the cases awaiting us.
    Inbox,
    /// Waiting for the peer: a turn is due, and it is not ours.
    Waiting,
    /// A step made here awaits a supervisor's approval.
    Approvals,
}

/// Whose cases a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held<'a> {
    /// Anyone's, or no one's.
    Any,
    /// Held by this user.
    By(&'a str),
    /// In the team's queue: held by no one.
    Nobody,
}

/// The cases in `state` (any when `None`), updated at or after `since` (Unix ms),
/// held as `held` says.
pub async fn list(
    node: &Node,
    state: Option<&str>,
    since: Option<i64>,
    which: Which,
    held: Held<'_>,
) -> Result<Vec<Summary>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let rows = cases::list(&mut conn).await?;
    let held_back: std::collections::HashSet<String> = crate::store::pending::list(&mut conn)
        .await?
        .into_iter()
        .map(|p| p.case_id)
        .collect();
    let listed: Vec<Summary> = rows
        .into_iter()
        .filter(|r| state.is_none_or(|s| s == r.state))
        .filter(|r| since.is_none_or(|t| r.updated_at >= t))
        .filter(|r| match held {
            Held::Any => true,
            Held::By(user) => r.owner.as_deref() == Some(user),
            Held::Nobody => r.owner.is_none(),
        })
        .map(Summary::of)
        .map(|mut c| {
            c.awaiting_approval = held_back.contains(&c.id);
            c
        })
        .filter(|c| match which {
            Which::Inbox => c.awaiting_us,
            Which::Waiting => c.turn.is_some() && !c.awaiting_us,
            Which::Approvals => c.awaiting_approval,
            Which::All => true,
        })
        .collect();
    let mut out = Vec::with_capacity(listed.len());
    for mut c in listed {
        // The home side owes follow-ups and verification (its open cases' timelines
        // are read); either side may owe a handover (the return date suffices).
        if c.our_side() == Side::Home && !c.status.state.is_end() {
            let events = cases::events(&mut conn, &c.id).await?;
            c.overdue = due_on(node, &c, &events);
        } else if c.status.state == crate::domain::sop::State::ReturnConfirmed {
            c.overdue = due_on(node, &c, &[]);
        }
        out.push(c);
    }
    Ok(out)
}

/// What is overdue on a case now, by the node's schedule.
fn due_on(node: &Node, c: &Summary, events: &[EventRow]) -> Vec<Due> {
    let w = &node.config.workflow;
    let schedule = Schedule {
        follow_up_months: w.follow_up_months.clone(),
        verification_days: w.verification_days,
    };
    let moves: Vec<(Kind, i64)> = events
        .iter()
        .filter(|e| e.outcome == "applied")
        .filter_map(|e| Kind::parse(&e.kind).map(|k| (k, e.at)))
        .collect();
    let now = crate::domain::millis(time::OffsetDateTime::now_utc());
    let return_date = c
        .return_date
        .as_deref()
        .and_then(|d| crate::domain::vocab::Date::parse(d).ok())
        .map(crate::domain::vocab::Date::inner);
    overdue(
        &schedule,
        c.our_side(),
        c.status.state,
        &moves,
        return_date,
        now,
    )
}

/// The cases of `rows` that `q` finds: by a name, an identity document number or
/// a phone (the blind index, `search::find`, audited), by the start of the case
/// id, or by the province code.
pub async fn search(
    node: &Node,
    actor: &str,
    q: &str,
    rows: Vec<Summary>,
) -> Result<Vec<Summary>, AppError> {
    let found = super::search::find(node, actor, q).await?;
    let q = q.trim();
    let prefix = q.to_ascii_lowercase();
    let province = q.to_ascii_uppercase();
    Ok(rows
        .into_iter()
        .filter(|r| {
            found.contains(&r.id)
                || (prefix.len() >= 4 && r.id.starts_with(&prefix))
                || r.province_of_origin.as_deref() == Some(province.as_str())
        })
        .collect())
}

/// Where an envelope of a move stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Ours, and the peer's receipt is stored (when, Unix ms).
    Delivered { receipt_at: Option<i64> },
    /// Ours, not yet receipted: the outbox state and the attempts so far.
    Pending { state: String, attempts: i64 },
    /// The peer's, received.
    Received,
    /// Never left this node (a withdrawn draft).
    Local,
}

/// One move on the timeline, as both sides made them.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    pub position: i64,
    /// `host` or `home`.
    pub made_by: String,
    pub ours: bool,
    pub kind: String,
    /// `applied`, `superseded` or `conflict`.
    pub outcome: String,
    pub state_after: String,
    /// Unix ms.
    pub at: i64,
    pub delivery: Delivery,
    /// The move's content exactly as it was made, when opened for the reader.
    pub body: Option<Value>,
}

/// Who reads a timeline: a reader who may open sealed content sees each move's
/// body (one audit entry for the whole read); anyone else sees no content, and
/// nothing is audited.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    Opens(&'a str),
    ClearOnly,
}

/// A case's clear columns and its timeline with delivery state, each move's body
/// opened for a `Reader::Opens`.
pub async fn timeline(
    node: &Node,
    id: uuid::Uuid,
    reader: Reader<'_>,
) -> Result<(Summary, Vec<TimelineEntry>), AppError> {
    let (row, events) = load(node, id).await?;
    let summary = Summary::of(row);
    let mut entries = delivered(node, &summary, &events).await?;
    if let Reader::Opens(actor) = reader {
        open_bodies(node, &events, &mut entries);
        super::attachments::read_entry(node, actor, &summary.id, "timeline").await?;
    }
    Ok((summary, entries))
}

fn open_bodies(node: &Node, events: &[EventRow], entries: &mut [TimelineEntry]) {
    for (e, entry) in events.iter().zip(entries.iter_mut()) {
        entry.body = open_sealed(node, &e.body);
    }
}

async fn load(node: &Node, id: uuid::Uuid) -> Result<(CaseRow, Vec<EventRow>), AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let row = cases::get(&mut conn, &id.to_string())
        .await?
        .ok_or(AppError::NotFound)?;
    let events = cases::events(&mut conn, &row.case_id).await?;
    Ok((row, events))
}

async fn delivered(
    node: &Node,
    summary: &Summary,
    events: &[EventRow],
) -> Result<Vec<TimelineEntry>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let ours = e.made_by == summary.our_side;
        let delivery = match (&e.jti, ours) {
            (Some(jti), true) => match outbox::by_jti(&mut conn, &summary.peer, jti).await? {
                Some(s) if s.state == "delivered" => Delivery::Delivered {
                    receipt_at: s.delivered_at,
                },
                Some(s) => Delivery::Pending {
                    state: s.state,
                    attempts: s.attempts,
                },
                None => Delivery::Local,
            },
            (Some(_), false) => Delivery::Received,
            (None, _) => Delivery::Local,
        };
        out.push(TimelineEntry {
            position: e.position,
            made_by: e.made_by.clone(),
            ours,
            kind: e.kind.clone(),
            outcome: e.outcome.clone(),
            state_after: e.state_after.clone(),
            at: e.at,
            delivery,
            body: None,
        });
    }
    Ok(out)
}

/// An attachment, its name opened.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    /// Length of the sealed blob at rest.
    pub sealed_len: i64,
    pub file_name: Option<String>,
    pub media_type: Option<String>,
    /// The original file's size, in bytes (unknown for files recorded before it was kept).
    pub size: Option<u64>,
    pub created_at: i64,
}

/// A move of the prosecution track, opened.
#[derive(Debug, Clone)]
pub struct TrackEntry {
    pub kind: String,
    pub made_by: String,
    pub at: i64,
    pub body: Value,
}

/// The prosecution track as officers see it.
#[derive(Debug, Clone)]
pub struct Prosecution {
    /// The updates applied, in order.
    pub updates: Vec<ProsecutionUpdate>,
    /// What they add up to (`domain::prosecution::summarise`).
    pub track: Track,
    /// Every update and testimony arrangement applied, opened.
    pub entries: Vec<TrackEntry>,
}

/// A case opened for a case worker.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub summary: Summary,
    /// The case file; `None` when retention destroyed it or it does not open.
    pub file: Option<Value>,
    /// The purposes the person consented to.
    pub consents: Vec<String>,
    /// Each purpose consented to, with its record as this node keeps it (purpose,
    /// date, language, witness; on the home side only that the host recorded it).
    pub consent_records: Vec<(String, Option<Value>)>,
    pub attachments: Vec<Attachment>,
    pub timeline: Vec<TimelineEntry>,
    pub prosecution: Prosecution,
    pub grants: Vec<GrantRow>,
}

/// Opens a case for `actor`: one audit entry (`case.read`, with `detail`) for
/// everything sealed it opens (the file, each move's body, attachment names, the
/// prosecution track).
pub async fn open(
    node: &Node,
    actor: &str,
    id: uuid::Uuid,
    detail: &str,
) -> Result<CaseView, AppError> {
    open_as(node, actor, id, "case.read", detail).await
}

/// As `open`, audited under `action` (a handover record printed, say).
pub async fn open_as(
    node: &Node,
    actor: &str,
    id: uuid::Uuid,
    action: &str,
    detail: &str,
) -> Result<CaseView, AppError> {
    let (row, events) = load(node, id).await?;
    let sealed = row.sealed.clone();
    let mut summary = Summary::of(row);
    summary.overdue = due_on(node, &summary, &events);
    let mut timeline = delivered(node, &summary, &events).await?;
    open_bodies(node, &events, &mut timeline);
    let mut conn = node.store.pool().acquire().await?;
    let consents = cases::consents(&mut conn, &summary.id).await?;
    let records = cases::consent_records(&mut conn, &summary.id).await?;
    let attachment_rows = cases::attachments(&mut conn, &summary.id).await?;
    let grants = prosecution::grants(&mut conn, &summary.id).await?;
    drop(conn);
    let file = if summary.purged_at.is_none() {
        open_sealed(node, &sealed)
    } else {
        None
    };
    let attachments = attachment_rows
        .into_iter()
        .map(|a| super::attachments::opened(node, a))
        .collect();
    let prosecution = track_of(node, &events, summary.testimony_pending);
    let consent_records = records
        .into_iter()
        .map(|(purpose, sealed)| (purpose, open_sealed(node, &sealed)))
        .collect();
    let mut tx = node.store.begin().await?;
    let entry = Entry {
        actor,
        action,
        case_id: Some(&summary.id),
        detail,
    };
    audit::record(&mut tx, entry, time::OffsetDateTime::now_utc()).await?;
    tx.commit().await?;
    Ok(CaseView {
        summary,
        file,
        consents,
        consent_records,
        attachments,
        timeline,
        prosecution,
        grants,
    })
}

/// Where the return stands now, from the moves applied: the verification, the
/// latest plan (and a counterproposal made after it), the confirmation, the
/// handover, the reception, every follow-up, and how it ended; each the latest of
/// its kind, in that order.
pub fn standing(timeline: &[TimelineEntry]) -> Vec<&TimelineEntry> {
    let applied = || {
        timeline
            .iter()
            .filter(|e| e.outcome == "applied" && e.body.is_some())
    };
    let last = |kinds: &[Kind]| {
        applied().rfind(|e| Kind::parse(&e.kind).is_some_and(|k| kinds.contains(&k)))
    };
    let plan = last(&[Kind::ReturnPlan]);
    // A counterproposal made after the latest plan stands beside it.
    let counter = last(&[Kind::ReturnCounterproposal])
        .filter(|c| plan.is_none_or(|p| c.position > p.position));
    let mut out: Vec<&TimelineEntry> = [
        last(&[Kind::Verification]),
        plan,
        counter,
        last(&[Kind::ReturnConfirmation]),
        last(&[Kind::Handover]),
        last(&[Kind::Reception]),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(applied().filter(|e| e.kind == Kind::ReintegrationUpdate.as_str()));
    out.extend(last(&[Kind::Closure, Kind::Withdrawal, Kind::Decline]));
    out
}

/// The prosecution track of a case's timeline, opened (a read of sealed content:
/// the caller audits it).
pub fn track_of(node: &Node, events: &[EventRow], testimony_pending: bool) -> Prosecution {
    let mut updates = Vec::new();
    let mut entries = Vec::new();
    for e in events {
        let kind = Kind::parse(&e.kind);
        if e.outcome != "applied"
            || !matches!(
                kind,
                Some(Kind::ProsecutionUpdate | Kind::TestimonyArrangement)
            )
        {
            continue;
        }
        let Some(body) = open_sealed(node, &e.body) else {
            continue;
        };
        if kind == Some(Kind::ProsecutionUpdate)
            && let Ok(Body::ProsecutionUpdate(u)) = parse(Kind::ProsecutionUpdate, &body)
        {
            updates.push(u);
        }
        entries.push(TrackEntry {
            kind: e.kind.clone(),
            made_by: e.made_by.clone(),
            at: e.at,
            body,
        });
    }
    let track = summarise(&updates, testimony_pending);
    Prosecution {
        updates,
        track,
        entries,
    }
}
