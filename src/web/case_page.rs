//! The case page: summary, the person (an audited read), consent, attachments, the
//! timeline of both sides with delivery state, the prosecution track, legal-aid
//! grants, and the next allowed moves as forms.

use axum::Router;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::forms::{self, CONSENT, first, move_fields, posted};
use super::pages::{allowed, chrome, show, unavailable};
use super::render::*;
use super::{Page, with_cookies};
use crate::desk::auth::Action;
use crate::desk::{ApiError, DeskState};
use crate::domain::sop::{self, Kind, Move, Side};
use crate::store::{cases as store_cases, outbox, prosecution as store_prosecution};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/cases/{id}", get(case))
        .route("/cases/{id}/consents", post(consent))
        // Uploads stream into sealing, which enforces the node's own limit.
        .route(
            "/cases/{id}/attachments",
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/cases/{id}/attachments/{aid}", get(download))
        .route("/cases/{id}/moves", post(make_move))
        .route("/cases/{id}/grants", post(grant))
        .route("/cases/{id}/grants/{org}/revoke", post(revoke))
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// What a form posted and why it was refused, to show it again.
struct Refused<'a> {
    /// The move kind, or `consent`.
    form: &'a str,
    values: &'a Value,
    field: Option<&'a str>,
    message: &'a str,
}

fn size(len: i64) -> String {
    match len {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

fn case_uuid(id: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(id).ok()
}

/// The person's main facts from the opened file, labelled.
fn person_of(page: &Page, file: &Value) -> Vec<(String, String)> {
    let w = page.visitor.words;
    let mut out = Vec::new();
    for path in [
        "person.names.lo",
        "person.names.th",
        "person.names.latin",
        "person.gender",
        "person.birth_date.date",
        "person.age_at_identification",
        "origin.province",
        "origin.district",
        "origin.village",
        "needs",
        "health",
    ] {
        let v = forms::value_at(file, path);
        let text = match v {
            Value::String(s) if path == "person.gender" => w.opt("gender", &s),
            Value::String(s) if path == "person.birth_date.date" => w.date(&s),
            Value::String(s) if path == "origin.province" => w.opt("province", &s),
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        out.push((w.t(&format!("field.{path}")).to_owned(), text));
    }
    let types = forms::value_at(file, "exploitation.types");
    if let Value::Array(items) = types {
        let list: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        out.push((w.t("field.exploitation.types").to_owned(), list.join(", ")));
    }
    out
}

async fn case_view(
    state: &DeskState,
    page: &Page,
    id: uuid::Uuid,
    notice: Option<String>,
    refused_form: Option<Refused<'_>>,
) -> Response {
    let w = page.visitor.words;
    let node = &state.node;
    let case_id = id.to_string();
    let loaded = async {
        let mut conn = node.store.pool().acquire().await?;
        let Some(row) = store_cases::get(&mut conn, &case_id).await? else {
            return Ok(None);
        };
        let consents = store_cases::consents(&mut conn, &case_id).await?;
        let attachments = store_cases::attachments(&mut conn, &case_id).await?;
        let events = store_cases::events(&mut conn, &case_id).await?;
        let peer = if row.our_side == "host" {
            row.home_node.clone()
        } else {
            row.host_node.clone()
        };
        let mut delivery = Vec::new();
        for e in &events {
            let state = match (&e.jti, e.made_by == row.our_side) {
                (Some(jti), true) => match outbox::by_jti(&mut conn, &peer, jti).await? {
                    Some(s) if s.state == "delivered" => {
                        format!(
                            "{} {}",
                            w.t("delivery.delivered"),
                            s.delivered_at.map(|t| w.when(t)).unwrap_or_default()
                        )
                    }
                    Some(s) => format!("{} ({})", w.opt("delivery", &s.state), s.attempts),
                    None => w.t("delivery.local").to_owned(),
                },
                (Some(_), false) => w.t("delivery.received").to_owned(),
                (None, _) => w.t("delivery.local").to_owned(),
            };
            delivery.push(state);
        }
        let grants = store_prosecution::grants(&mut conn, &case_id).await?;
        Ok::<_, crate::store::StoreError>(Some((
            row,
            consents,
            attachments,
            events,
            delivery,
            grants,
            peer,
        )))
    }
    .await;
    let (row, consents, attachments, events, delivery, grants, peer) = match loaded {
        Ok(Some(l)) => l,
        Ok(None) => return refused(&w, StatusCode::NOT_FOUND, "error.not_found"),
        Err(e) => return unavailable(&w, e),
    };
    // Opening the file and the attachment names is a read of sealed content.
    let file = if row.purged_at.is_none() {
        crate::cases::open_sealed(node, &row.sealed).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if let Err(e) = crate::desk::cases::audit_now(
        state,
        &page.user.username,
        "case.read",
        Some(&case_id),
        "file (page)",
    )
    .await
    {
        return unavailable(&w, e);
    }
    let our_side = if row.our_side == "home" {
        Side::Home
    } else {
        Side::Host
    };
    let status = crate::cases::status_of(&row);
    let draft = row.state == "draft";
    let testimony = row.testimony_pending != 0;
    let our_turn = row.turn.as_deref() == Some(row.our_side.as_str());
    let mut moves = Vec::new();
    for kind in Kind::ALL {
        let possible = sop::decide(status, our_side, Move::of(kind)).is_ok()
            && (kind != Kind::Referral || draft)
            && (kind != Kind::TestimonyArrangement || testimony)
            && (kind != Kind::Note || !draft);
        if !possible {
            continue;
        }
        let (values, error) = match &refused_form {
            Some(r) if r.form == kind.as_str() => {
                (r.values.clone(), r.field.map(|f| (f, r.message)))
            }
            _ => (Value::Null, None),
        };
        moves.push(MoveForm {
            kind: kind.as_str().to_owned(),
            label: w.opt("kind", kind.as_str()),
            fields: field_views(&w, move_fields(kind), &values, error),
            open: refused_form
                .as_ref()
                .is_some_and(|r| r.form == kind.as_str()),
        });
    }
    let (consent_values, consent_error) = match &refused_form {
        Some(r) if r.form == "consent" => (r.values.clone(), r.field.map(|f| (f, r.message))),
        _ => (Value::Null, None),
    };
    // A refusal no field can show is shown above the forms.
    let general = refused_form
        .as_ref()
        .filter(|r| {
            r.field.is_none_or(|f| {
                let fields = if r.form == "consent" {
                    CONSENT
                } else {
                    Kind::parse(r.form).map(move_fields).unwrap_or(&[])
                };
                !fields.iter().any(|x| x.path == forms::form_path(f))
            })
        })
        .map(|r| r.message.to_owned());
    let names: Vec<AttachmentView> = attachments
        .into_iter()
        .map(|a| {
            let meta = crate::cases::open_sealed(node, &a.meta).unwrap_or(Value::Null);
            AttachmentView {
                id: a.attachment_id,
                name: meta["file_name"].as_str().unwrap_or("?").to_owned(),
                media_type: meta["media_type"].as_str().unwrap_or("").to_owned(),
                size: size(a.len),
            }
        })
        .collect();
    let track = {
        let updates = crate::prosecution::updates_of(node, &events);
        (!updates.is_empty()).then(|| {
            TrackView::of(
                &w,
                &crate::domain::prosecution::summarise(&updates, testimony),
            )
        })
    };
    let timeline = events
        .iter()
        .zip(delivery)
        .map(|(e, delivery)| EventView {
            position: e.position,
            side: w.opt("side", &e.made_by),
            ours: e.made_by == row.our_side,
            kind: w.opt("kind", &e.kind),
            outcome: e.outcome.clone(),
            state_after: w.opt("state", &e.state_after),
            at: w.when(e.at),
            delivery,
        })
        .collect();
    let t = CasePage {
        c: chrome(page, &format!("/cases/{case_id}"), "case.title"),
        id: case_id.clone(),
        state: w.opt("state", &row.state),
        side: w.opt("side", &row.our_side),
        peer,
        turn: row
            .turn
            .as_deref()
            .map(|t| w.opt("side", t))
            .unwrap_or_else(|| "—".into()),
        awaiting_us: our_turn || (testimony && row.our_side == "home"),
        testimony,
        draft,
        purged: row.purged_at.is_some(),
        person: person_of(page, &file),
        consents: consents.iter().map(|p| w.opt("purpose", p)).collect(),
        attachments: names,
        timeline,
        moves,
        consent_form: field_views(&w, CONSENT, &consent_values, consent_error),
        grants: grants
            .into_iter()
            .map(|g| GrantView {
                standing: g.revoked_at.is_none(),
                org: g.org,
                by: g.granted_by,
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
    let notice = q.notice.map(|n| page.visitor.words.opt("notice", &n));
    case_view(&state, &page, id, notice, None).await
}

/// After a form that worked: back to the case, with a notice.
fn back(page: &Page, id: uuid::Uuid, notice: &str) -> Response {
    with_cookies(
        &page.visitor,
        Redirect::to(&format!("/cases/{id}?notice={notice}")).into_response(),
    )
}

/// The refusal of a form as the case page shows it.
async fn refused_with(
    state: &DeskState,
    page: &Page,
    id: uuid::Uuid,
    form: &str,
    values: &Value,
    e: ApiError,
) -> Response {
    let (field, message) = match &e {
        ApiError::Invalid { field, message } => (Some(field.as_str()), message.clone()),
        ApiError::Conflict(m) => (None, m.clone()),
        ApiError::NotFound => {
            return refused(
                &page.visitor.words,
                StatusCode::NOT_FOUND,
                "error.not_found",
            );
        }
        ApiError::TooLarge => (None, page.visitor.words.t("error.too_large").to_owned()),
        other => return unavailable(&page.visitor.words, other),
    };
    let r = Refused {
        form,
        values,
        field,
        message: &message,
    };
    case_view(state, page, id, None, Some(r)).await
}

/// What every case form checks first: the role may, the CSRF token is right, and
/// the id is a case id.
// The error is the page to answer with, made at most once per request.
#[allow(clippy::result_large_err)]
fn case_form(
    state: &DeskState,
    page: &Page,
    action: Action,
    id: &str,
    pairs: Vec<(String, String)>,
) -> Result<(uuid::Uuid, forms::Posted), Response> {
    allowed(page, action)?;
    let form = posted(pairs);
    page.check_csrf(state, first(&form, "csrf"))?;
    let id = case_uuid(id).ok_or_else(|| {
        refused(
            &page.visitor.words,
            StatusCode::NOT_FOUND,
            "error.not_found",
        )
    })?;
    Ok((id, form))
}

/// POST /cases/{id}/consents
async fn consent(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, form) = match case_form(&state, &page, Action::Move, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let record = forms::body_of(CONSENT, &form);
    let now = time::OffsetDateTime::now_utc();
    match crate::cases::record_consent(&state.node, &page.user.username, id, &record, now).await {
        Ok(()) => back(&page, id, "consent"),
        Err(e) => refused_with(&state, &page, id, "consent", &record, e.into()).await,
    }
}

/// POST /cases/{id}/moves: the move a form describes.
async fn make_move(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, form) = match case_form(&state, &page, Action::Move, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let kind_text = first(&form, "kind").to_owned();
    let Some(kind) = Kind::parse(&kind_text) else {
        return refused(
            &page.visitor.words,
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.bad_form",
        );
    };
    let mut body = forms::body_of(move_fields(kind), &form);
    if kind != Kind::Referral {
        body["schema"] = Value::String(format!("{}/1", kind.as_str()));
    }
    let now = time::OffsetDateTime::now_utc();
    match crate::cases::make_move(
        &state.node,
        &page.user.username,
        id,
        kind.as_str(),
        &body,
        now,
    )
    .await
    {
        Ok(_) => back(&page, id, "sent"),
        Err(e) => refused_with(&state, &page, id, kind.as_str(), &body, e.into()).await,
    }
}

#[derive(Deserialize)]
struct CsrfQuery {
    csrf: Option<String>,
}

/// POST /cases/{id}/attachments?csrf=…: a file (multipart), sealed as it streams in.
async fn upload(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Query(q): Query<CsrfQuery>,
    mut multipart: Multipart,
) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    if let Err(r) = page.check_csrf(&state, q.csrf.as_deref().unwrap_or("")) {
        return r;
    }
    let Some(id) = case_uuid(&id) else {
        return refused(
            &page.visitor.words,
            StatusCode::NOT_FOUND,
            "error.not_found",
        );
    };
    let field = match multipart.next_field().await {
        Ok(Some(f)) if f.name() == Some("file") => f,
        _ => {
            return refused(
                &page.visitor.words,
                StatusCode::BAD_REQUEST,
                "error.bad_form",
            );
        }
    };
    let file_name = field.file_name().unwrap_or("file").to_owned();
    let media_type = field
        .content_type()
        .filter(|m| m.contains('/'))
        .unwrap_or("application/octet-stream")
        .to_owned();
    // The field borrows the request; its bytes go through a channel to a reader
    // the sealing can own, a chunk at a time.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let pump = async move {
        let mut field = field;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(c)) => Ok(c),
                Ok(None) => break,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    };
    let stream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let reader = tokio_util::io::StreamReader::new(stream);
    let now = time::OffsetDateTime::now_utc();
    let add = crate::cases::add_attachment(
        &state.node,
        &page.user.username,
        id,
        &file_name,
        &media_type,
        reader,
        now,
    );
    let ((), added) = tokio::join!(pump, add);
    match added {
        Ok(_) => back(&page, id, "attached"),
        Err(e) => refused_with(&state, &page, id, "attachment", &Value::Null, e.into()).await,
    }
}

/// GET /cases/{id}/attachments/{aid}: the file, opened as it streams (audited).
async fn download(
    State(state): State<DeskState>,
    page: Page,
    Path((id, aid)): Path<(String, String)>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ReadSealed) {
        return r;
    }
    let w = page.visitor.words;
    let Some(id) = case_uuid(&id) else {
        return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
    };
    match crate::desk::cases::attachment_response(&state, &page.user.username, id, &aid).await {
        Ok(r) => r,
        Err(ApiError::NotFound) => refused(&w, StatusCode::NOT_FOUND, "error.not_found"),
        Err(e) => unavailable(&w, e),
    }
}

/// POST /cases/{id}/grants
async fn grant(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, form) = match case_form(&state, &page, Action::Grant, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = time::OffsetDateTime::now_utc();
    match crate::prosecution::grant(
        &state.node,
        &page.user.username,
        id,
        first(&form, "org"),
        now,
    )
    .await
    {
        Ok(()) => back(&page, id, "granted"),
        Err(e) => refused_with(&state, &page, id, "grant", &Value::Null, e.into()).await,
    }
}

/// POST /cases/{id}/grants/{org}/revoke
async fn revoke(
    State(state): State<DeskState>,
    page: Page,
    Path((id, org)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, _) = match case_form(&state, &page, Action::Grant, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = time::OffsetDateTime::now_utc();
    match crate::prosecution::revoke(&state.node, &page.user.username, id, &org, now).await {
        Ok(()) => back(&page, id, "revoked"),
        Err(e) => refused_with(&state, &page, id, "grant", &Value::Null, e.into()).await,
    }
}
