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
use super::i18n::Words;
use super::render::*;
use super::visitor::{Page, with_cookies};
use crate::app::case_view::{self, Which};
use crate::app::peers::{self, PeerRow};
use crate::desk::auth::Action;
use crate::desk::{ApiError, DeskState};
use crate::domain::policy::{Start, start};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/", get(home))
        .route("/cases", get(cases))
        .route("/cases/new", get(new_case_form).post(new_case))
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
}

/// GET /cases?filter=inbox|waiting|all&state=
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
        _ => Which::All,
    };
    let state_filter = Some(wanted_state.as_str()).filter(|s| !s.is_empty());
    let rows = match case_view::list(&state.node, state_filter, None, which).await {
        Ok(r) => r,
        Err(e) => return unavailable(&w, e),
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
    error: Option<(&str, &str)>,
) -> Response {
    let w = page.visitor.words;
    let peers = match peers::list(&state.node).await {
        Ok(p) => p,
        Err(e) => return unavailable(&w, e),
    };
    let general = error
        .filter(|(f, _)| !REFERRAL.iter().any(|x| x.path == forms::form_path(f)))
        .map(|(_, m)| m.to_owned());
    let t = NewCasePage {
        c: chrome(page, "/cases/new", "new.title"),
        peers: peer_options(&w, peers, home),
        fields: field_views(&w, REFERRAL, values, error),
        error: general,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    show(page, status, &t)
}

/// GET /cases/new: the referral form.
async fn new_case_form(State(state): State<DeskState>, page: Page) -> Response {
    if let Err(r) = allowed(&page, Action::Move) {
        return r;
    }
    new_case_page(&state, &page, &Value::Null, "", None).await
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
        Err(ApiError::Invalid { field, message }) => {
            new_case_page(&state, &page, &body, &home, Some((&field, &message))).await
        }
        Err(ApiError::Conflict(m)) => {
            new_case_page(&state, &page, &body, &home, Some(("home_node", &m))).await
        }
        Err(e) => unavailable(&page.visitor.words, e),
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
