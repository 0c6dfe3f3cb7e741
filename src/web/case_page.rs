//! The case page: where the return stands now, the whole referral (an audited
//! read), consent, documents, the timeline of both sides with each move's content
//! and delivery state, the prosecution track, legal-aid grants, and the next
//! allowed moves as forms.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use super::content::content;
use super::forms::{self, CONSENT, move_fields};
use super::frame::{allowed, chrome, show, unavailable};
use super::render::*;
use super::visitor::{Page, with_cookies};
use crate::app::AppError;
use crate::app::case_view::{self, Delivery};
use crate::desk::auth::Action;
use crate::desk::{ApiError, DeskState};
use crate::domain::messages::Body;
use crate::domain::sop::{self, Kind, Move};
use crate::i18n::Words;

pub fn router() -> Router<DeskState> {
    Router::new().route("/cases/{id}", get(case))
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// What a form posted and why it was refused, to show it again.
pub(super) struct Refused<'a> {
    /// The move kind, or `consent`.
    form: &'a str,
    values: &'a Value,
    /// Each field at fault and its message.
    errors: Vec<(String, String)>,
    /// What no field of the form can show.
    general: Option<String>,
}

fn size(len: i64) -> String {
    match len {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// Where a move's envelope stands, in the reader's words.
fn delivery_text(w: &Words, d: &Delivery) -> String {
    match d {
        Delivery::Delivered { receipt_at } => format!(
            "{} {}",
            w.t("delivery.delivered"),
            receipt_at.map(|t| w.when(t)).unwrap_or_default()
        ),
        Delivery::Pending { state, attempts } => {
            format!("{} ({attempts})", w.opt("delivery", state))
        }
        Delivery::Received => w.t("delivery.received").to_owned(),
        Delivery::Local => w.t("delivery.local").to_owned(),
    }
}

pub(super) fn case_uuid(id: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(id).ok()
}

/// A body as the page shows it.
fn content_view(w: &Words, kind: &str, body: &Value) -> ContentView {
    let fields = match Kind::parse(kind) {
        Some(Kind::Referral) => forms::REFERRAL,
        Some(k) => move_fields(k),
        None => &[],
    };
    let order: Vec<&str> = fields.iter().map(|f| f.path).collect();
    let c = content(w, kind, body, &order);
    ContentView {
        rows: c.rows.into_iter().map(|r| (r.label, r.value)).collect(),
        files: c.files.into_iter().map(|f| (f.id, f.name)).collect(),
    }
}

/// A consent as the page lists it: the purpose, and when, in what language and
/// before whom it was given, where this node recorded it.
fn consent_line(w: &Words, purpose: &str, record: Option<&Value>) -> String {
    let name = w.opt("purpose", purpose);
    match record {
        Some(r) if r.get("given_on").is_some() => {
            let mut parts = Vec::new();
            if let Some(d) = r["given_on"].as_str() {
                parts.push(w.date(d));
            }
            if let Some(l) = r["language"].as_str() {
                parts.push(w.opt("language", l));
            }
            if let Some(witness) = r["witness"].as_str().filter(|s| !s.is_empty()) {
                parts.push(format!("{}: {witness}", w.t("field.witness")));
            }
            format!("{name} — {}", parts.join(", "))
        }
        _ => format!("{name} ({})", w.t("case.consent_by_peer")),
    }
}

async fn case_view(
    state: &DeskState,
    page: &Page,
    id: uuid::Uuid,
    notice: Option<String>,
    refused_form: Option<Refused<'_>>,
) -> Response {
    let w = page.visitor.words;
    // Opening the file and the attachment names is a read of sealed content.
    let view = match case_view::open(&state.node, &page.user.username, id, "file (page)").await {
        Ok(v) => v,
        Err(AppError::NotFound) => return refused(&w, StatusCode::NOT_FOUND, "error.not_found"),
        Err(e) => return unavailable(&w, e),
    };
    let c = &view.summary;
    let our_side = c.our_side();
    let status = c.status;
    let draft = c.is_draft();
    let testimony = c.testimony_pending;
    let mut moves = Vec::new();
    for kind in Kind::ALL {
        let possible = sop::decide(status, our_side, Move::of(kind)).is_ok()
            && (kind != Kind::Referral || draft)
            && (kind != Kind::TestimonyArrangement || testimony)
            && (kind != Kind::Note || !draft)
            // A correction is made on the referral's own form.
            && kind != Kind::Correction;
        if !possible {
            continue;
        }
        let (values, errors) = match &refused_form {
            Some(r) if r.form == kind.as_str() => (r.values.clone(), r.errors.clone()),
            _ => (Value::Null, Vec::new()),
        };
        moves.push(MoveForm {
            kind: kind.as_str().to_owned(),
            label: w.opt("kind", kind.as_str()),
            fields: field_views(
                &w,
                move_fields(kind),
                &values,
                &errors,
                &crate::domain::fields::of(kind),
            ),
            open: refused_form
                .as_ref()
                .is_some_and(|r| r.form == kind.as_str()),
            carries: Body::may_carry(kind) && !view.attachments.is_empty(),
        });
    }
    let (consent_values, consent_errors) = match &refused_form {
        Some(r) if r.form == "consent" => (r.values.clone(), r.errors.clone()),
        _ => (Value::Null, Vec::new()),
    };
    // A refusal no field can show is shown above the forms.
    let general = refused_form.as_ref().and_then(|r| r.general.clone());
    let names: Vec<AttachmentView> = view
        .attachments
        .iter()
        .map(|a| AttachmentView {
            id: a.id.clone(),
            name: a.file_name.clone().unwrap_or_else(|| "?".into()),
            media_type: a.media_type.clone().unwrap_or_default(),
            size: a
                .size
                .map(|n| size(n as i64))
                .unwrap_or_else(|| size(a.sealed_len)),
        })
        .collect();
    let track =
        (!view.prosecution.updates.is_empty()).then(|| TrackView::of(&w, &view.prosecution.track));
    let event = |e: &case_view::TimelineEntry| EventView {
        position: e.position,
        side: w.opt("side", &e.made_by),
        ours: e.ours,
        kind: w.opt("moved", &e.kind),
        outcome: e.outcome.clone(),
        state_after: w.opt("state", &e.state_after),
        at: w.when(e.at),
        delivery: delivery_text(&w, &e.delivery),
        content: e
            .body
            .as_ref()
            // The referral is shown whole above.
            .filter(|_| e.kind != Kind::Referral.as_str())
            .map(|b| content_view(&w, &e.kind, b))
            .unwrap_or_default(),
    };
    let timeline = view.timeline.iter().map(event).collect();
    let standing_entries = case_view::standing(&view.timeline);
    // The latest plan or counterproposal is the plan in force.
    let in_force = standing_entries
        .iter()
        .rfind(|e| {
            matches!(
                Kind::parse(&e.kind),
                Some(Kind::ReturnPlan | Kind::ReturnCounterproposal)
            )
        })
        .map(|e| e.position);
    let standing = standing_entries
        .into_iter()
        .map(|e| {
            let mut v = event(e);
            if in_force == Some(e.position) {
                v.kind = format!("{}: {}", w.t("case.plan_in_force"), v.kind);
            }
            v
        })
        .collect();
    let referral = view
        .file
        .as_ref()
        .map(|f| content_view(&w, "referral", f))
        .unwrap_or_default();
    let consents = view
        .consent_records
        .iter()
        .map(|(p, r)| consent_line(&w, p, r.as_ref()))
        .collect();
    // Who may be given the case, for a supervisor: everyone here who works cases.
    let assignees = if crate::domain::policy::allows(page.user.role, Action::Assign) {
        match crate::app::accounts::list(&state.node.store).await {
            Ok(users) => users
                .into_iter()
                .filter(|u| u.disabled == 0)
                .filter(|u| {
                    crate::domain::policy::Role::parse(&u.role)
                        .is_some_and(|r| crate::domain::policy::allows(r, Action::Move))
                })
                .map(|u| OptView {
                    selected: c.owner.as_deref() == Some(u.username.as_str()),
                    label: u.username.clone(),
                    value: u.username,
                })
                .collect(),
            Err(e) => return unavailable(&w, e),
        }
    } else {
        Vec::new()
    };
    let pending = match crate::app::approval::pending_of(&state.node, &c.id).await {
        Ok(p) => p,
        Err(e) => return unavailable(&w, e),
    };
    let can_approve = pending.as_ref().is_some_and(|(_, author)| {
        *author != page.user.username
            && crate::domain::policy::allows(page.user.role, Action::Assign)
    });
    let pending = pending.map(|(kind, author)| {
        format!(
            "{}: {} ({author})",
            w.t("case.pending"),
            w.opt("moved", &kind)
        )
    });
    let t = CasePage {
        c: chrome(page, &format!("/cases/{}", c.id), "case.title"),
        id: c.id.clone(),
        state: w.opt("state", &c.state),
        side: w.opt("side", &c.our_side),
        peer: c.peer.clone(),
        turn: c
            .turn
            .as_deref()
            .map(|t| w.opt("side", t))
            .unwrap_or_else(|| "—".into()),
        awaiting_us: c.awaiting_us,
        testimony,
        draft,
        purged: c.purged_at.is_some(),
        referral,
        owner: c
            .owner
            .clone()
            .unwrap_or_else(|| w.t("cases.team").to_owned()),
        can_take: c.owner.is_none() && crate::domain::policy::allows(page.user.role, Action::Move),
        assignees,
        me: page.user.username.clone(),
        pending,
        can_approve,
        overdue: c
            .overdue
            .iter()
            .map(|d| match d {
                crate::domain::reminders::Due::Verification { since } => {
                    format!("{} {}", w.t("due.verification"), w.when(*since))
                }
                crate::domain::reminders::Due::FollowUp { month, since } => {
                    format!("{} {month} ({})", w.t("due.follow_up"), w.when(*since))
                }
                crate::domain::reminders::Due::Handover { since } => {
                    format!("{} {}", w.t("due.handover"), w.when(*since))
                }
            })
            .collect(),
        handover_record: view
            .timeline
            .iter()
            .any(|e| e.outcome == "applied" && e.kind == Kind::ReturnConfirmation.as_str()),
        correctable: !draft
            && c.purged_at.is_none()
            && sop::decide(status, our_side, Move::of(Kind::Correction)).is_ok(),
        standing,
        consents,
        attachments: names,
        timeline,
        moves,
        consent_form: field_views(
            &w,
            CONSENT,
            &consent_values,
            &consent_errors,
            crate::domain::fields::consent(),
        ),
        grants: view
            .grants
            .iter()
            .map(|g| GrantView {
                standing: g.revoked_at.is_none(),
                org: g.org.clone(),
                by: g.granted_by.clone(),
                at: w.when(g.granted_at),
            })
            .collect(),
        track,
        notice,
        error: general,
    };
    let status = if refused_form.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    show(page, status, &t)
}

/// GET /cases/{id}
async fn case(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ReadSealed) {
        return r;
    }
    let Some(id) = case_uuid(&id) else {
        return refused(
            &page.visitor.words,
            StatusCode::NOT_FOUND,
            "error.not_found",
        );
    };
    let notice = q
        .notice
        .and_then(|n| page.visitor.words.known("notice", &n));
    case_view(&state, &page, id, notice, None).await
}

/// After a form that worked: back to the case, with a notice.
pub(super) fn back(page: &Page, id: uuid::Uuid, notice: &str) -> Response {
    with_cookies(
        &page.visitor,
        Redirect::to(&format!("/cases/{id}?notice={notice}")).into_response(),
    )
}

/// The refusal of a form as the case page shows it.
pub(super) async fn refused_with(
    state: &DeskState,
    page: &Page,
    id: uuid::Uuid,
    form: &str,
    values: &Value,
    e: ApiError,
) -> Response {
    let w = page.visitor.words;
    let fields = if form == "consent" {
        CONSENT
    } else {
        Kind::parse(form).map(move_fields).unwrap_or(&[])
    };
    let (errors, general) = match &e {
        ApiError::Invalid(b) => super::frame::issues(&w, b, fields),
        ApiError::Conflict(m) => (Vec::new(), Some(m.clone())),
        ApiError::NotFound => {
            return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
        }
        ApiError::TooLarge => (Vec::new(), Some(w.t("error.too_large").to_owned())),
        ApiError::Damaged => (Vec::new(), Some(w.t("error.damaged").to_owned())),
        other => return unavailable(&w, other),
    };
    let r = Refused {
        form,
        values,
        errors,
        general,
    };
    case_view(state, page, id, None, Some(r)).await
}
