//! The page routes: sign-in, lists, referral, board, admin, audit. Thin handlers
//! over the same core the API uses; the case page is in `case_page`.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use super::forms::{self, REFERRAL, first, posted};
use super::frame::{allowed, chrome, show, unavailable};
use super::render::*;
use super::visitor::{Page, with_cookies};
use crate::app::case_view::{self, Which};
use crate::app::peers::{self, PeerRow};
use crate::desk::auth::Action;
use crate::desk::{ApiError, DeskState};
use crate::domain::policy::{Start, start};
use crate::i18n::Words;

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/", get(home))
        .route("/cases", get(cases))
        .route("/cases/new", get(new_case_form).post(new_case))
        .route("/cases/{id}/edit", get(edit_form).post(edit_case))
        .route("/prosecution", get(board))
        .route("/static/style.css", get(style))
        .route("/static/upload.js", get(script))
}

/// GET /: where each role starts.
async fn home(page: Page) -> Response {
    let to = match start(page.user.role) {
        Start::Inbox => "/cases?filter=inbox",
        Start::Board => "/prosecution",
        Start::Admin => "/admin",
        Start::Audit => "/audit",
    };
    with_cookies(&page.visitor, Redirect::to(to).into_response())
}

#[derive(Deserialize)]
struct CasesQuery {
    filter: Option<String>,
    state: Option<String>,
    q: Option<String>,
}

/// GET /cases?filter=inbox|mine|team|waiting|approvals|all&state=
async fn cases(
    State(state): State<DeskState>,
    page: Page,
    Query(q): Query<CasesQuery>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ReadClear) {
        return r;
    }
    let w = page.visitor.words;
    let filter = q.filter.unwrap_or_else(|| "inbox".into());
    let wanted_state = q.state.unwrap_or_default();
    let which = match filter.as_str() {
        "inbox" => Which::Inbox,
        "waiting" => Which::Waiting,
        "approvals" => Which::Approvals,
        _ => Which::All,
    };
    // "Mine": the cases I hold; "team": the queue nobody has taken yet.
    let held = match filter.as_str() {
        "mine" => case_view::Held::By(&page.user.username),
        "team" => case_view::Held::Nobody,
        _ => case_view::Held::Any,
    };
    let state_filter = Some(wanted_state.as_str()).filter(|s| !s.is_empty());
    let rows = match case_view::list(&state.node, state_filter, None, which, held).await {
        Ok(r) => r,
        Err(e) => return unavailable(&w, e),
    };
    let searched = q.q.clone().unwrap_or_default();
    let rows = if searched.trim().is_empty() || allowed(&page, Action::ReadSealed).is_err() {
        rows
    } else {
        match case_view::search(&state.node, &page.user.username, &searched, rows).await {
            Ok(r) => r,
            Err(e) => return unavailable(&w, e),
        }
    };
    let views = rows
        .into_iter()
        .map(|r| CaseRowView {
            short: r.id.chars().take(8).collect(),
            state: w.opt("state", &r.state),
            side: w.opt("side", &r.our_side),
            awaiting_us: r.awaiting_us,
            testimony: r.testimony_pending,
            gender: r
                .gender
                .as_deref()
                .map(|g| w.opt("gender", g))
                .unwrap_or_default(),
            age: r
                .age_at_identification
                .map(|a| a.to_string())
                .unwrap_or_default(),
            province: r
                .province_of_origin
                .as_deref()
                .map(|p| w.opt("province", p))
                .unwrap_or_default(),
            updated: w.when(r.updated_at),
            owner: r
                .owner
                .clone()
                .unwrap_or_else(|| w.t("cases.team").to_owned()),
            overdue: !r.overdue.is_empty(),
            id: r.id,
        })
        .collect();
    let states = crate::domain::sop::State::ALL
        .iter()
        .map(|s| OptView {
            value: s.as_str().to_owned(),
            label: w.opt("state", s.as_str()),
            selected: s.as_str() == wanted_state,
        })
        .collect();
    let inbox = filter == "inbox";
    let title = if inbox {
        "cases.inbox_title"
    } else {
        "cases.all_title"
    };
    let t = CasesPage {
        c: chrome(&page, "/cases", title),
        rows: views,
        filter,
        states,
        inbox,
        q: searched,
    };
    show(&page, StatusCode::OK, &t)
}

fn peer_options(w: &Words, rows: Vec<PeerRow>, selected: &str) -> Vec<OptView> {
    let _ = w;
    rows.into_iter()
        .map(|p| OptView {
            selected: p.node_id == selected,
            label: format!("{} ({})", p.name, p.node_id),
            value: p.node_id,
        })
        .collect()
}

async fn new_case_page(
    state: &DeskState,
    page: &Page,
    values: &Value,
    home: &str,
    error: Option<&crate::domain::BodyError>,
) -> Response {
    referral_page(state, page, "/cases/new", values, home, error).await
}

/// The referral form: a new draft (`/cases/new`) or a draft being edited.
async fn referral_page(
    state: &DeskState,
    page: &Page,
    action: &str,
    values: &Value,
    home: &str,
    error: Option<&crate::domain::BodyError>,
) -> Response {
    let w = page.visitor.words;
    let peers = match peers::list(&state.node).await {
        Ok(p) => p,
        Err(e) => return unavailable(&w, e),
    };
    let (errors, general) = match error {
        Some(e) => super::frame::issues(&w, e, REFERRAL),
        None => (Vec::new(), None),
    };
    let specs = crate::domain::fields::of(crate::domain::sop::Kind::Referral);
    let title = if action == "/cases/new" {
        "new.title"
    } else {
        "edit.title"
    };
    let t = NewCasePage {
        c: chrome(page, action, title),
        action: action.to_owned(),
        peers: peer_options(&w, peers, home),
        fields: field_views(&w, REFERRAL, values, &errors, &specs),
        error: general,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    show(page, status, &t)
}

/// GET /cases/new: the referral form (filled as it was, when it was posted after
/// the session had ended).
async fn new_case_form(
    State(state): State<DeskState>,
    page: Page,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    if let Some((values, home)) = restored(&state, &page, &headers, "/cases/new").await {
        let response = referral_page(&state, &page, "/cases/new", &values, &home, None).await;
        return kept_notice_sent(&state, response);
    }
    new_case_page(&state, &page, &Value::Null, "", None).await
}

/// A referral form kept while its user signed in again, as a body and a home node.
async fn restored(
    state: &DeskState,
    page: &Page,
    headers: &axum::http::HeaderMap,
    path: &str,
) -> Option<(Value, String)> {
    let pairs = super::visitor::held_form(state, headers, &page.user.username, path).await?;
    let form = posted(pairs);
    let mut body = forms::body_of(REFERRAL, &form);
    if page.visitor.words.lang == crate::i18n::Lang::Th {
        forms::from_buddhist_era(REFERRAL, &mut body);
    }
    Some((body, first(&form, "home_node").to_owned()))
}

/// A restored form's page: the kept form is forgotten by the browser too.
fn kept_notice_sent(state: &DeskState, mut response: Response) -> Response {
    if let Some(v) =
        super::visitor::set_cookie(super::visitor::HELD_COOKIE, "", state.secure_cookies, true)
    {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, v);
    }
    response
}

/// POST /cases/new: a draft, then its page (consent, attachments, send).
async fn new_case(
    State(state): State<DeskState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let mut body = forms::body_of(REFERRAL, &form);
    if page.visitor.words.lang == crate::i18n::Lang::Th {
        forms::from_buddhist_era(REFERRAL, &mut body);
    }
    body["schema"] = Value::String("referral/1".into());
    let home = first(&form, "home_node").to_owned();
    let created = crate::app::cases::create_draft(
        &state.node,
        &page.user.username,
        &home,
        &body,
        time::OffsetDateTime::now_utc(),
    )
    .await;
    match created.map_err(ApiError::from) {
        Ok(id) => with_cookies(
            &page.visitor,
            Redirect::to(&format!("/cases/{id}?notice=drafted")).into_response(),
        ),
        Err(ApiError::Invalid(e)) => new_case_page(&state, &page, &body, &home, Some(&e)).await,
        Err(ApiError::Conflict(m)) => {
            let e = crate::domain::BodyError::new("home_node", m);
            new_case_page(&state, &page, &body, &home, Some(&e)).await
        }
        Err(e) => unavailable(&page.visitor.words, e),
    }
}

/// GET /cases/{id}/edit: the draft's referral in the form, to change.
async fn edit_form(
    State(state): State<DeskState>,
    page: Page,
    headers: axum::http::HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    let w = page.visitor.words;
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
    };
    let view = match crate::app::case_view::open(
        &state.node,
        &page.user.username,
        id,
        "file (edit)",
    )
    .await
    {
        Ok(v) => v,
        Err(crate::app::AppError::NotFound) => {
            return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
        }
        Err(e) => return unavailable(&w, e),
    };
    let action = format!("/cases/{id}/edit");
    if let Some((values, home)) = restored(&state, &page, &headers, &action).await {
        let response = referral_page(&state, &page, &action, &values, &home, None).await;
        return kept_notice_sent(&state, response);
    }
    let file = view.file.unwrap_or(Value::Null);
    referral_page(&state, &page, &action, &file, &view.summary.home_node, None).await
}

/// POST /cases/{id}/edit: the draft's referral replaced, then its page.
async fn edit_case(
    State(state): State<DeskState>,
    page: Page,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let w = page.visitor.words;
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
    };
    let mut body = forms::body_of(REFERRAL, &form);
    if w.lang == crate::i18n::Lang::Th {
        forms::from_buddhist_era(REFERRAL, &mut body);
    }
    body["schema"] = Value::String("referral/1".into());
    let home = first(&form, "home_node").to_owned();
    let now = time::OffsetDateTime::now_utc();
    // After the referral, what changed travels to the other side as a correction.
    let sent = match crate::app::case_view::timeline(
        &state.node,
        id,
        crate::app::case_view::Reader::ClearOnly,
    )
    .await
    {
        Ok((summary, _)) => !summary.is_draft(),
        Err(crate::app::AppError::NotFound) => {
            return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
        }
        Err(e) => return unavailable(&w, e),
    };
    if sent {
        return correct_referral(&state, &page, id, &body, &home, now).await;
    }
    let edited = crate::app::cases::edit_draft(
        &state.node,
        &page.user.username,
        id,
        Some(&home),
        &body,
        now,
    )
    .await;
    let action = format!("/cases/{id}/edit");
    match edited.map_err(ApiError::from) {
        Ok(()) => with_cookies(
            &page.visitor,
            Redirect::to(&format!("/cases/{id}?notice=edited")).into_response(),
        ),
        Err(ApiError::Invalid(e)) => {
            referral_page(&state, &page, &action, &body, &home, Some(&e)).await
        }
        Err(ApiError::Conflict(m)) => {
            let e = crate::domain::BodyError::new("home_node", m);
            referral_page(&state, &page, &action, &body, &home, Some(&e)).await
        }
        Err(ApiError::NotFound) => refused(&w, StatusCode::NOT_FOUND, "error.not_found"),
        Err(e) => unavailable(&w, e),
    }
}

/// The referral form posted for a case already referred: every field the form
/// shows that changed is sent as one correction.
async fn correct_referral(
    state: &DeskState,
    page: &Page,
    id: uuid::Uuid,
    body: &Value,
    home: &str,
    now: time::OffsetDateTime,
) -> Response {
    let w = page.visitor.words;
    let action = format!("/cases/{id}/edit");
    let file = match crate::app::case_view::open(
        &state.node,
        &page.user.username,
        id,
        "file (correction)",
    )
    .await
    {
        Ok(v) => v.file.unwrap_or(Value::Null),
        Err(e) => return unavailable(&w, e),
    };
    let changes: Vec<Value> = REFERRAL
        .iter()
        .filter_map(|f| {
            let (old, new) = (
                forms::value_at(&file, f.path),
                forms::value_at(body, f.path),
            );
            let blank = |v: &Value| v.is_null() || v.as_str().is_some_and(str::is_empty);
            (old != new && !(blank(&old) && blank(&new))).then(|| {
                let field = f
                    .path
                    .split('.')
                    .map(|s| match s.parse::<usize>() {
                        Ok(i) => format!("[{i}]"),
                        Err(_) => format!(".{s}"),
                    })
                    .collect::<String>()
                    .trim_start_matches('.')
                    .to_owned();
                serde_json::json!({"field": field, "to": new})
            })
        })
        .collect();
    if changes.is_empty() {
        let e = crate::domain::BodyError::new("changes", w.t("correct.nothing"));
        return referral_page(state, page, &action, body, home, Some(&e)).await;
    }
    let correction = serde_json::json!({"schema": "correction/1", "changes": changes});
    let moved = crate::app::moves::make_move(
        &state.node,
        &page.user.username,
        id,
        "correction",
        &correction,
        now,
    )
    .await;
    match moved.map_err(ApiError::from) {
        Ok(m) => with_cookies(
            &page.visitor,
            Redirect::to(&format!(
                "/cases/{id}?notice={}",
                if m.awaiting_approval { "held" } else { "sent" }
            ))
            .into_response(),
        ),
        Err(ApiError::Invalid(e)) => {
            referral_page(state, page, &action, body, home, Some(&e)).await
        }
        Err(ApiError::Conflict(m)) => {
            let e = crate::domain::BodyError::new("changes", m);
            referral_page(state, page, &action, body, home, Some(&e)).await
        }
        Err(e) => unavailable(&w, e),
    }
}

/// GET /prosecution: the legal-aid board.
async fn board(State(state): State<DeskState>, page: Page) -> Response {
    if let Err(r) = allowed(&page, Action::ReadProsecution) {
        return r;
    }
    let w = page.visitor.words;
    let Some(org) = page.user.org.clone() else {
        return refused(&w, StatusCode::FORBIDDEN, "error.forbidden");
    };
    let entries = match crate::app::prosecution::board(&state.node, &page.user.username, &org).await
    {
        Ok(e) => e,
        Err(e) => return unavailable(&w, e),
    };
    let rows = entries
        .into_iter()
        .map(|e| BoardView {
            reference: e.reference,
            state: w.opt("state", &e.state),
            track: TrackView::of(&w, &e.track),
        })
        .collect();
    let t = BoardPage {
        c: chrome(&page, "/prosecution", "board.title"),
        rows,
    };
    show(&page, StatusCode::OK, &t)
}

/// GET /static/style.css
async fn style() -> Response {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/style.css"),
    )
        .into_response()
}

/// GET /static/upload.js
async fn script() -> Response {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/upload.js"),
    )
        .into_response()
}
