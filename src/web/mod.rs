//! The web pages of the desk (DESIGN §8): server-rendered with askama, plain
//! forms that work without JavaScript, in English, Thai and Lao.
//!
//! A page session is the same signed token the API uses, carried in an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS) and renewed while the
//! user is active, so it ends after 15 idle minutes. Every form carries a CSRF
//! token bound to the user and the account's token epoch; the sign-in form, before
//! any session, uses a double-submit cookie.

mod admin;
mod case_forms;
mod case_page;
mod content;
pub mod forms;
mod frame;
mod handover;
mod pages;
mod render;
mod sign_in;
mod visitor;

use axum::Router;

use crate::desk::DeskState;
pub use visitor::{Page, Visitor};

/// Every page route, with the forms kept across a sign-in.
pub fn router(state: DeskState) -> Router {
    pages::router()
        .merge(sign_in::router())
        .merge(admin::router())
        .merge(case_page::router())
        .merge(case_forms::router())
        .merge(handover::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            visitor::hold_forms_across_sign_in,
        ))
        .with_state(state)
}

/// A browser that asks for an address nobody serves (or with a method it does
/// not take) gets a page in its language, not the API's JSON.
pub async fn pages_for_browsers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::{ACCEPT, CONTENT_TYPE};
    let wants_page = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !wants_page {
        return next.run(req).await;
    }
    let lang = visitor::cookie_in(req.headers(), visitor::LANG_COOKIE)
        .and_then(|c| crate::i18n::Lang::parse(&c))
        .or_else(|| {
            req.headers()
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::i18n::Lang::from_accept_language)
        })
        .unwrap_or(crate::i18n::Lang::En);
    let response = next.run(req).await;
    let status = response.status();
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if json
        && (status == axum::http::StatusCode::NOT_FOUND
            || status == axum::http::StatusCode::METHOD_NOT_ALLOWED)
    {
        return render::refused(&crate::i18n::Words::new(lang), status, "error.not_found");
    }
    response
}
