//! The desk's one error type and its one status mapping. Internal details are
//! logged, never returned; a client's mistake is never a 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppError;
use crate::domain::BodyError;
use crate::i18n::{Lang, Words};

/// What every error answer holds.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: bad_request, unauthorized, bad_credentials, forbidden, not_found,
    /// conflict, invalid, too_large, locked, unavailable, internal, damaged.
    pub error: String,
    /// For people.
    pub message: String,
    /// With `invalid`: the first field at fault, as a path (`person.gender`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `invalid`: every field at fault, each with a stable code and a message
    /// in the reader's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldIssue>>,
}

/// One field at fault.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FieldIssue {
    /// The field, as a path (`identity_documents[0].kind`).
    pub field: String,
    /// A stable code: required, too_long, text, date, moment, number, range, bool,
    /// one_of, many_of, texts, province, unknown_field, object, list, schema,
    /// birth_future, birth_too_old, age_mismatch, date_past, invalid.
    pub code: String,
    pub message: String,
}

tokio::task_local! {
    /// The language of this request's error messages: the browser's
    /// `Accept-Language`, then the signed-in user's choice.
    pub static REPLY_LANG: std::cell::Cell<Lang>;
}

/// Runs a desk request with its reply language.
pub async fn with_reply_language(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let lang = req
        .headers()
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language)
        .unwrap_or(Lang::En);
    REPLY_LANG
        .scope(std::cell::Cell::new(lang), next.run(req))
        .await
}

/// Sets the reply language for the rest of this request (a signed-in user's).
pub fn reply_in(lang: Lang) {
    let _ = REPLY_LANG.try_with(|c| c.set(lang));
}

/// `issue` in `lang`: its code's text from the catalogues, else as written.
fn localized(words: Words, issue: &BodyError) -> String {
    let key = format!("error.{}", issue.code);
    match words.t(&key) {
        t if t != key => t.to_owned(),
        _ => issue.message.clone(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first: the session is missing, expired or revoked")]
    Unauthorized,
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("this account waits for a supervisor's confirmation")]
    AwaitingConfirmation,
    #[error("your role may not do this")]
    Forbidden,
    #[error("no such resource")]
    NotFound,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// Every field at fault (the first carries the others).
    #[error("{0}")]
    Invalid(BodyError),
    #[error("the request is too large")]
    TooLarge,
    #[error("too many failed sign-ins: try again after {0}")]
    Locked(String),
    #[error("a dependency of the service is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
    /// A stored file does not open: the node's own fault, logged with its id.
    #[error(
        "the stored file is damaged and cannot be opened; an administrator can restore it from a backup"
    )]
    Damaged,
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            Self::AwaitingConfirmation => (StatusCode::FORBIDDEN, "awaiting_confirmation"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Locked(_) => (StatusCode::TOO_MANY_REQUESTS, "locked"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::Damaged => (StatusCode::INTERNAL_SERVER_ERROR, "damaged"),
        }
    }
}

/// A failing database or blob store is ours to fix, not the client's: 503, details
/// logged.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound => Self::NotFound,
            AppError::UnknownKind(_) => Self::Invalid(BodyError::coded(
                "kind",
                "one_of",
                format!(
                    "one of {}",
                    crate::domain::sop::Kind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            AppError::Invalid(b) => Self::Invalid(b),
            AppError::Refused(r) => Self::Conflict(r.to_string()),
            AppError::Conflict(m) => Self::Conflict(m),
            AppError::Store(e) => Self::Unavailable(e.to_string()),
            AppError::Seal => Self::Internal("sealing failed".into()),
            AppError::TooLarge(_) => Self::TooLarge,
            AppError::Locked(until) => Self::Locked(super::json::rfc3339(until)),
            AppError::BadCredentials => Self::BadCredentials,
            AppError::AwaitingConfirmation => Self::AwaitingConfirmation,
            AppError::Unauthorized => Self::Unauthorized,
            AppError::Forbidden => Self::Forbidden,
            AppError::Unavailable(m) => Self::Unavailable(m),
            AppError::Internal(m) => Self::Internal(m),
            AppError::Damaged => Self::Damaged,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "desk: unavailable"),
            Self::Internal(detail) => tracing::error!(error = %detail, "desk: internal error"),
            _ => {}
        }
        let (status, code) = self.status_and_code();
        let words = Words::new(REPLY_LANG.try_with(|c| c.get()).unwrap_or(Lang::En));
        let (message, field, fields) = match &self {
            Self::Invalid(first) => {
                let fields: Vec<FieldIssue> = first
                    .each()
                    .map(|i| FieldIssue {
                        field: i.field.clone(),
                        code: i.code.to_owned(),
                        message: localized(words, i),
                    })
                    .collect();
                let message = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                (message, Some(first.field.clone()), Some(fields))
            }
            other => (other.to_string(), None, None),
        };
        (
            status,
            Json(ErrorBody {
                error: code.to_owned(),
                message,
                field,
                fields,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn details_stay_out_of_the_body() {
        for e in [
            ApiError::Unavailable("pg at 10.0.0.1 said no".into()),
            ApiError::Internal("secret".into()),
        ] {
            let response = e.into_response();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let text = String::from_utf8(body.to_vec()).unwrap();
            assert!(
                !text.contains("10.0.0.1") && !text.contains("secret"),
                "{text}"
            );
        }
    }

    #[test]
    fn statuses() {
        let cases = [
            (ApiError::BadRequest(String::new()), 400),
            (ApiError::Unauthorized, 401),
            (ApiError::BadCredentials, 401),
            (ApiError::AwaitingConfirmation, 403),
            (ApiError::Forbidden, 403),
            (ApiError::NotFound, 404),
            (ApiError::Conflict(String::new()), 409),
            (ApiError::Invalid(BodyError::new("f", "")), 422),
            (ApiError::TooLarge, 413),
            (ApiError::Locked(String::new()), 429),
            (ApiError::Unavailable(String::new()), 503),
            (ApiError::Internal(String::new()), 500),
        ];
        for (e, status) in cases {
            assert_eq!(e.status_and_code().0.as_u16(), status, "{e:?}");
        }
    }
}
