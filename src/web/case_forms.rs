//! The case page's forms: consent, a move, an upload (sealed as it streams in),
//! a download (opened as it streams out), a legal-aid grant and its revocation.
//! Each checks the role, the CSRF token and the id, makes one `app::` call, and
//! answers with the case page again: a notice, or the refusal beside its field.

use axum::Router;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::Value;

use super::case_page::{back, case_uuid, refused_with};
use super::forms::{self, CONSENT, first, move_fields, posted};
use super::frame::{allowed, unavailable};
use super::render::refused;
use super::visitor::Page;
use crate::desk::auth::Action;
use crate::desk::{ApiError, DeskState};
use crate::domain::messages::Body;
use crate::domain::sop::Kind;

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/cases/{id}/consents", post(consent))
        // Uploads stream into sealing, which enforces the node's own limit.
        .route(
            "/cases/{id}/attachments",
            post(upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/cases/{id}/attachments/{aid}", get(download))
        .route("/cases/{id}/moves", post(make_move))
        .route("/cases/{id}/grants", post(grant))
        .route("/cases/{id}/assign", post(assign))
        .route("/cases/{id}/approve", post(approve))
        .route("/cases/{id}/return", post(return_to_author))
        .route("/cases/{id}/grants/{org}/revoke", post(revoke))
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
    let mut record = forms::body_of(CONSENT, &form);
    if page.visitor.words.lang == crate::i18n::Lang::Th {
        forms::from_buddhist_era(CONSENT, &mut record);
    }
    let now = time::OffsetDateTime::now_utc();
    match crate::app::cases::record_consent(&state.node, &page.user.username, id, &record, now)
        .await
    {
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
    if page.visitor.words.lang == crate::i18n::Lang::Th {
        forms::from_buddhist_era(move_fields(kind), &mut body);
    }
    if kind != Kind::Referral {
        body["schema"] = Value::String(format!("{}/1", kind.as_str()));
    }
    // The documents ticked to go with this move, by attachment id.
    let carried: Vec<Value> = form
        .get("attachments")
        .into_iter()
        .flatten()
        .filter(|id| !id.is_empty())
        .map(|id| Value::String(id.clone()))
        .collect();
    if Body::may_carry(kind) && !carried.is_empty() {
        body["attachments"] = Value::Array(carried);
    }
    let now = time::OffsetDateTime::now_utc();
    match crate::app::moves::make_move(
        &state.node,
        &page.user.username,
        id,
        kind.as_str(),
        &body,
        now,
    )
    .await
    {
        Ok(m) if m.awaiting_approval => back(&page, id, "held"),
        Ok(_) => back(&page, id, "sent"),
        Err(e) => refused_with(&state, &page, id, kind.as_str(), &body, e.into()).await,
    }
}

/// POST /cases/{id}/attachments: `csrf`, then a file (multipart), sealed as it
/// streams in.
async fn upload(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    // The CSRF token comes first in the form (never in the address, where logs and
    // referrers would keep it), checked before a byte of the file is read.
    let posted = match multipart.next_field().await {
        Ok(Some(f)) if f.name() == Some("csrf") => f.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    if let Err(r) = page.check_csrf(&state, posted.trim()) {
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
    let add = crate::app::attachments::add_attachment(
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
    match crate::desk::attachment_response(&state, &page.user.username, id, &aid).await {
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
    match crate::app::prosecution::grant(
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
    match crate::app::prosecution::revoke(&state.node, &page.user.username, id, &org, now).await {
        Ok(()) => back(&page, id, "revoked"),
        Err(e) => refused_with(&state, &page, id, "grant", &Value::Null, e.into()).await,
    }
}

/// POST /cases/{id}/assign: a supervisor gives the case to someone; an officer
/// takes an unassigned one.
async fn assign(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, form) = match case_form(&state, &page, Action::Move, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = time::OffsetDateTime::now_utc();
    let assigned = crate::app::assign::assign(
        &state.node,
        &page.user.username,
        page.user.role,
        id,
        first(&form, "username"),
        now,
    )
    .await;
    match assigned.map_err(ApiError::from) {
        Ok(()) => back(&page, id, "assigned"),
        Err(ApiError::Forbidden) => refused(
            &page.visitor.words,
            StatusCode::FORBIDDEN,
            "error.forbidden",
        ),
        Err(e) => refused_with(&state, &page, id, "assign", &Value::Null, e).await,
    }
}

/// POST /cases/{id}/approve: a supervisor approves the step that awaits it.
async fn approve(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, _) = match case_form(&state, &page, Action::Assign, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = time::OffsetDateTime::now_utc();
    let approved =
        crate::app::approval::approve(&state.node, &page.user.username, page.user.role, id, now)
            .await;
    match approved {
        Ok(_) => back(&page, id, "sent"),
        Err(e) => refused_with(&state, &page, id, "approve", &Value::Null, e.into()).await,
    }
}

/// POST /cases/{id}/return: a supervisor returns the step to its author.
async fn return_to_author(
    State(state): State<DeskState>,
    page: Page,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (id, form) = match case_form(&state, &page, Action::Assign, &id, pairs) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = time::OffsetDateTime::now_utc();
    let returned = crate::app::approval::return_to_author(
        &state.node,
        &page.user.username,
        page.user.role,
        id,
        first(&form, "reason"),
        now,
    )
    .await;
    match returned {
        Ok(()) => back(&page, id, "returned"),
        Err(e) => refused_with(&state, &page, id, "return", &Value::Null, e.into()).await,
    }
}
