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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            visitor::hold_forms_across_sign_in,
        ))
        .with_state(state)
}
