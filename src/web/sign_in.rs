//! Signing in and out of the pages: the sign-in form with its double-submit
//! cookie, the session cookie set and cleared, and only local redirects after.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::forms::{first, posted};
use super::frame::unavailable;
use super::render::*;
use super::visitor::{
    LANG_COOKIE, PRE_COOKIE, Page, SESSION_COOKIE, Visitor, cookie_in, set_cookie, with_cookies,
};
use crate::desk::auth::ClientAddr;
use crate::desk::{ApiError, DeskState};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/session/alive", get(alive))
}

/// A local path to return to after signing in (never another site). Browsers
/// drop tabs and newlines from a location and read a backslash as a slash, so
/// `/\t/host` or `/%09/host` would lead elsewhere: any of those, raw or
/// percent-encoded, and anything not starting with a single `/`, give `/`.
fn safe_next(next: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(next).decode_utf8_lossy();
    let clean = |s: &str| {
        s.starts_with('/')
            && !s.starts_with("//")
            && !s
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    };
    if clean(next) && clean(&decoded) {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_returned_to() {
        for ok in [
            "/",
            "/cases?filter=inbox",
            "/cases/0190abcd-0000-7000-8000-000000000001",
        ] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "/%5C/evil.example",
            "/%2F/evil.example",
            "/cases\nLocation: x",
            "/cases%0d%0aSet-Cookie: x",
            "https://evil.example",
            "evil",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
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
        counts: None,
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
    match crate::desk::auth::password_sign_in(&state, &username, password, addr).await {
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
            // The time the lock ends, in the reader's calendar and zone.
            let until =
                time::OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
                    .map(|t| w.when(crate::domain::millis(t)))
                    .unwrap_or(until);
            let message = format!("{} {until}", w.t("signin.locked"));
            sign_in_page(&visitor, &next, &username, Some(message))
        }
        Err(ApiError::BadCredentials) => {
            sign_in_page(&visitor, &next, &username, Some(w.t("signin.bad").into()))
        }
        Err(ApiError::AwaitingConfirmation) => sign_in_page(
            &visitor,
            &next,
            &username,
            Some(w.t("signin.awaiting").into()),
        ),
        Err(e) => unavailable(&w, e),
    }
}

/// GET /session/alive: nothing but the session renewed (a page being typed in
/// calls it, so the session does not end under the typing).
async fn alive(page: super::visitor::Page) -> Response {
    with_cookies(&page.visitor, StatusCode::NO_CONTENT.into_response())
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
    if let Err(e) = crate::desk::auth::revoke_token(&state, &page.user).await {
        return unavailable(&page.visitor.words, e);
    }
    let mut response = Redirect::to("/sign-in").into_response();
    if let Some(v) = set_cookie(SESSION_COOKIE, "", state.secure_cookies, true) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}
