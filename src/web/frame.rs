//! What every page handler shares: the frame of a page, rendering with the
//! visit's cookies, and the refusals (403 by the policy table, 503 when the core
//! cannot answer) in the user's language.

use axum::http::StatusCode;
use axum::response::Response;

use super::render::*;
use super::visitor::{Page, with_cookies};
use crate::desk::auth::Action;
use crate::i18n::Words;

/// The frame of a page for a signed-in user.
pub fn chrome(page: &Page, here: &str, title_key: &str) -> Chrome {
    let w = page.visitor.words;
    Chrome {
        w,
        user: Some(UserView::of(&page.user)),
        csrf: page.csrf.clone(),
        here: here.to_owned(),
        title: w.t(title_key).to_owned(),
        counts: page.counts,
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

/// A refusal as a form shows it: each field at fault with its message in the
/// reader's language, and what no field of `fields` can show, above the form.
pub fn issues(
    w: &Words,
    e: &crate::domain::BodyError,
    fields: &[super::forms::Field],
) -> (Vec<(String, String)>, Option<String>) {
    let each: Vec<(String, String)> = e
        .each()
        .map(|i| {
            let key = format!("error.{}", i.code);
            let message = match w.t(&key) {
                t if t != key => t.to_owned(),
                _ => i.message.clone(),
            };
            (i.field.clone(), message)
        })
        .collect();
    let general: Vec<String> = each
        .iter()
        .filter(|(f, _)| !fields.iter().any(|x| x.path == super::forms::form_path(f)))
        .map(|(_, m)| m.clone())
        .collect();
    (each, (!general.is_empty()).then(|| general.join(" ")))
}
