//! The page routes: sign-in, lists, referral, board, admin, audit. Thin handlers
//! over the same core the API uses; the case page is in `case_page`.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::case_page;
use super::forms::{self, REFERRAL, first, posted};
use super::i18n::Words;
use super::render::*;
use super::{
    LANG_COOKIE, PRE_COOKIE, Page, SESSION_COOKIE, Visitor, cookie_in, set_cookie, with_cookies,
};
use crate::desk::auth::{Action, ClientAddr, Role};
use crate::desk::{ApiError, DeskState};
use crate::store::{audit as store_audit, outbox, peers, users};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/cases", get(cases))
        .route("/cases/new", get(new_case_form).post(new_case))
        .route("/prosecution", get(board))
        .route("/admin", get(admin))
        .route("/admin/users", post(add_user))
        .route("/admin/users/{username}/{switch}", post(switch_user))
        .route("/audit", get(audit))
        .route("/static/style.css", get(style))
        .route("/static/upload.js", get(script))
        .merge(case_page::router())
}

/// The frame of a page for a signed-in user.
pub fn chrome(page: &Page, here: &str, title_key: &str) -> Chrome {
    let w = page.visitor.words;
    Chrome {
        w,
        user: Some(UserView::of(&page.user)),
        csrf: page.csrf.clone(),
        here: here.to_owned(),
        title: w.t(title_key).to_owned(),
    }
}

/// Renders for a signed-in user, with the cookies the visit calls for.
pub fn show<T: askama::Template>(page: &Page, status: StatusCode, t: &T) -> Response {
    with_cookies(&page.visitor, super::render::page(status, t))
}

/// 403 in the user's language when the policy table says no.
// The error is the page to answer with, made at most once per request.
#[allow(clippy::result_large_err)]
pub fn allowed(page: &Page, action: Action) -> Result<(), Response> {
    page.user.require(action).map_err(|_| {
        refused(
            &page.visitor.words,
            StatusCode::FORBIDDEN,
            "error.forbidden",
        )
    })
}

/// A store failure as a page (503): details logged, never shown.
pub fn unavailable(w: &Words, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "a page could not reach the database");
    refused(w, StatusCode::SERVICE_UNAVAILABLE, "error.unavailable")
}

/// A local path to return to after signing in (never another site).
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// GET /: where each role starts.
async fn home(page: Page) -> Response {
    let to = match page.user.role {
        Role::Officer | Role::Supervisor => "/cases?filter=inbox",
        Role::LegalAid => "/prosecution",
        Role::Admin => "/admin",
        Role::Auditor => "/audit",
    };
    with_cookies(&page.visitor, Redirect::to(to).into_response())
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn sign_in_page(visitor: &Visitor, next: &str, username: &str, error: Option<String>) -> Response {
    let w = visitor.words;
    let pre = uuid::Uuid::new_v4().simple().to_string();
    let c = Chrome {
        w,
        user: None,
        csrf: String::new(),
        here: "/sign-in".into(),
        title: w.t("signin.title").to_owned(),
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = with_cookies(
        visitor,
        super::render::page(
            status,
            &SignInPage {
                c,
                pre: pre.clone(),
                next: safe_next(next),
                username: username.to_owned(),
                error,
            },
        ),
    );
    if let Some(v) = set_cookie(PRE_COOKIE, &pre, visitor.secure, false) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// GET /sign-in
async fn sign_in_form(visitor: Visitor, Query(q): Query<NextQuery>) -> Response {
    let next = q.next.unwrap_or_else(|| "/".into());
    if visitor.user.is_some() {
        return Redirect::to(&safe_next(&next)).into_response();
    }
    sign_in_page(&visitor, &next, "", None)
}

/// POST /sign-in: the double-submit cookie, then the same check as the API.
async fn sign_in(
    State(state): State<DeskState>,
    visitor: Visitor,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form = posted(pairs);
    let w = visitor.words;
    let next = first(&form, "next").to_owned();
    let username = first(&form, "username").to_owned();
    let pre_ok =
        cookie_in(&headers, PRE_COOKIE).is_some_and(|c| !c.is_empty() && c == first(&form, "pre"));
    if !pre_ok {
        return refused(&w, StatusCode::FORBIDDEN, "error.csrf");
    }
    let password = form
        .get("password")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    match crate::desk::session::password_sign_in(&state, &username, password, addr).await {
        Ok(issued) => {
            let mut response = Redirect::to(&safe_next(&next)).into_response();
            let h = response.headers_mut();
            if let Some(v) = set_cookie(SESSION_COOKIE, &issued.token, state.secure_cookies, false)
            {
                h.append(SET_COOKIE, v);
            }
            if let Some(lang) = issued.lang.as_deref()
                && let Some(v) = set_cookie(LANG_COOKIE, lang, state.secure_cookies, false)
            {
                h.append(SET_COOKIE, v);
            }
            if let Some(v) = set_cookie(PRE_COOKIE, "", state.secure_cookies, true) {
                h.append(SET_COOKIE, v);
            }
            response
        }
        Err(ApiError::Locked(until)) => {
            let message = format!("{} {until}", w.t("signin.locked"));
            sign_in_page(&visitor, &next, &username, Some(message))
        }
        Err(ApiError::BadCredentials) => {
            sign_in_page(&visitor, &next, &username, Some(w.t("signin.bad").into()))
        }
        Err(e) => unavailable(&w, e),
    }
}

/// POST /sign-out: the session ends at once.
async fn sign_out(
    State(state): State<DeskState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    if let Err(e) = crate::desk::session::revoke_token(&state, &page.user).await {
        return unavailable(&page.visitor.words, e);
    }
    let mut response = Redirect::to("/sign-in").into_response();
    if let Some(v) = set_cookie(SESSION_COOKIE, "", state.secure_cookies, true) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
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
    let rows = match state.node.store.pool().acquire().await {
        Ok(mut conn) => crate::store::cases::list(&mut conn).await,
        Err(e) => return unavailable(&w, e),
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return unavailable(&w, e),
    };
    let views = rows
        .into_iter()
        .filter(|r| wanted_state.is_empty() || r.state == wanted_state)
        .filter_map(|r| {
            let our_turn = r.turn.as_deref() == Some(r.our_side.as_str());
            let testimony = r.testimony_pending != 0;
            let awaiting_us = our_turn || (testimony && r.our_side == "home");
            let keep = match filter.as_str() {
                "inbox" => awaiting_us,
                "waiting" => r.turn.is_some() && !awaiting_us,
                _ => true,
            };
            keep.then(|| CaseRowView {
                short: r.case_id.chars().take(8).collect(),
                state: w.opt("state", &r.state),
                side: w.opt("side", &r.our_side),
                awaiting_us,
                testimony,
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
                id: r.case_id,
            })
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

fn peer_options(w: &Words, rows: Vec<peers::PeerRow>, selected: &str) -> Vec<OptView> {
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
    let peers = match state.node.store.pool().acquire().await {
        Ok(mut conn) => peers::list(&mut conn).await,
        Err(e) => return unavailable(&w, e),
    };
    let peers = match peers {
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
    let created = crate::cases::create_draft(
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
    let entries = match crate::prosecution::board(&state.node, &page.user.username, &org).await {
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

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn admin_page(
    state: &DeskState,
    page: &Page,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let w = page.visitor.words;
    let loaded = async {
        let mut conn = state.node.store.pool().acquire().await?;
        let users = users::list(&mut conn).await?;
        let peers = peers::list(&mut conn).await?;
        let summary = outbox::summary(&mut conn).await?;
        let mut out = Vec::new();
        for s in summary {
            let error = outbox::last_error(&mut conn, &s.peer_id).await?;
            out.push((s, error));
        }
        Ok::<_, crate::store::StoreError>((users, peers, out))
    }
    .await;
    let (users, peers, outbox) = match loaded {
        Ok(l) => l,
        Err(e) => return unavailable(&w, e),
    };
    let now = crate::store::millis(time::OffsetDateTime::now_utc());
    let t = AdminPage {
        c: chrome(page, "/admin", "admin.title"),
        users: users
            .into_iter()
            .map(|u| UserRowView {
                name: u.username,
                role: u.role,
                org: u.org.unwrap_or_default(),
                disabled: u.disabled != 0,
            })
            .collect(),
        peers: peers
            .into_iter()
            .map(|p| PeerView {
                fingerprint: crate::crypto::hash::group_hex(&p.fingerprint),
                id: p.node_id,
                name: p.name,
                url: p.federation_url,
            })
            .collect(),
        outbox: outbox
            .into_iter()
            .map(|(s, error)| OutboxView {
                peer: s.peer_id,
                queued: s.queued,
                oldest: s
                    .oldest_queued_at
                    .map(|t| format!("{} s", (now - t).max(0) / 1000))
                    .unwrap_or_else(|| "—".into()),
                rejected: s.rejected,
                delivered: s.delivered,
                attempts: s.max_attempts.unwrap_or(0),
                error: error.unwrap_or_default(),
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| OptView {
                value: r.as_str().to_owned(),
                label: w.opt("role", r.as_str()),
                selected: false,
            })
            .collect(),
        notice,
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    show(page, status, &t)
}

/// GET /admin: users, peers with fingerprints, outbox health.
async fn admin(
    State(state): State<DeskState>,
    page: Page,
    Query(q): Query<NoticeQuery>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ManageUsers) {
        return r;
    }
    let notice = q.notice.map(|n| page.visitor.words.opt("notice", &n));
    admin_page(&state, &page, notice, None).await
}

/// POST /admin/users: a new account.
async fn add_user(
    State(state): State<DeskState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ManageUsers) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let org = Some(first(&form, "org")).filter(|o| !o.is_empty());
    let new = crate::accounts::NewUser {
        username: first(&form, "username"),
        role: first(&form, "role"),
        org,
        password: form
            .get("password")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default(),
    };
    let now = time::OffsetDateTime::now_utc();
    match crate::accounts::add(&state.node.store, &page.user.username, new, now).await {
        Ok(_) => with_cookies(
            &page.visitor,
            Redirect::to("/admin?notice=user_added").into_response(),
        ),
        Err(e) => admin_page(&state, &page, None, Some(e.to_string())).await,
    }
}

/// POST /admin/users/{username}/disable|enable
async fn switch_user(
    State(state): State<DeskState>,
    page: Page,
    Path((username, switch)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ManageUsers) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let disable = match switch.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return refused(
                &page.visitor.words,
                StatusCode::NOT_FOUND,
                "error.not_found",
            );
        }
    };
    if disable && username == page.user.username {
        let message = page.visitor.words.t("admin.not_yourself").to_owned();
        return admin_page(&state, &page, None, Some(message)).await;
    }
    let now = time::OffsetDateTime::now_utc();
    match crate::accounts::set_disabled(
        &state.node.store,
        &page.user.username,
        &username,
        disable,
        now,
    )
    .await
    {
        Ok(()) => with_cookies(
            &page.visitor,
            Redirect::to(if disable {
                "/admin?notice=user_disabled"
            } else {
                "/admin?notice=user_enabled"
            })
            .into_response(),
        ),
        Err(e) => admin_page(&state, &page, None, Some(e.to_string())).await,
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    case: Option<String>,
    user: Option<String>,
    action: Option<String>,
}

/// GET /audit: the audit log, newest last, filtered.
async fn audit(
    State(state): State<DeskState>,
    page: Page,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ReadAudit) {
        return r;
    }
    let w = page.visitor.words;
    let filter = store_audit::Filter {
        case_id: q.case.clone().unwrap_or_default(),
        actor: q.user.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        since: None,
        until: None,
        after: 0,
        limit: 1000,
    };
    let rows = match state.node.store.pool().acquire().await {
        Ok(mut conn) => store_audit::list(&mut conn, &filter).await,
        Err(e) => return unavailable(&w, e),
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return unavailable(&w, e),
    };
    let t = AuditPage {
        c: chrome(&page, "/audit", "audit.title"),
        rows: rows
            .into_iter()
            .map(|r| AuditView {
                position: r.position,
                at: w.when(r.at),
                actor: r.actor,
                action: r.action,
                case: r.case_id.unwrap_or_default(),
                detail: r.detail,
            })
            .collect(),
        case: q.case.unwrap_or_default(),
        actor: q.user.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
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
