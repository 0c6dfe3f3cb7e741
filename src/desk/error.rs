//! The desk's one error type and its one status mapping. Internal details are
//! logged, never returned; a client's mistake is never a 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppError;

/// What every error answer holds.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code: bad_request, unauthorized, bad_credentials, forbidden, not_found,
    /// conflict, invalid, too_large, locked, unavailable, internal, damaged.
    pub error: String,
    /// For people.
    pub message: String,
    /// With `invalid`: the field at fault, as a path (`person.gender`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first: the session is missing, expired or revoked")]
    Unauthorized,
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("your role may not do this")]
    Forbidden,
    #[error("no such resource")]
    NotFound,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
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
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
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
            AppError::UnknownKind(_) => Self::Invalid {
                field: "kind".into(),
                message: format!(
                    "one of {}",
                    crate::domain::sop::Kind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            AppError::Invalid(b) => Self::Invalid {
                field: b.field,
                message: b.message,
            },
            AppError::Refused(r) => Self::Conflict(r.to_string()),
            AppError::Conflict(m) => Self::Conflict(m),
            AppError::Store(e) => Self::Unavailable(e.to_string()),
            AppError::Seal => Self::Internal("sealing failed".into()),
            AppError::TooLarge(_) => Self::TooLarge,
            AppError::Locked(until) => Self::Locked(super::json::rfc3339(until)),
            AppError::BadCredentials => Self::BadCredentials,
            AppError::Unauthorized => Self::Unauthorized,
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
        let field = match &self {
            Self::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        (
            status,
            Json(ErrorBody {
                error: code.to_owned(),
                message: self.to_string(),
                field,
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
            (ApiError::Forbidden, 403),
            (ApiError::NotFound, 404),
            (ApiError::Conflict(String::new()), 409),
            (
                ApiError::Invalid {
                    field: "f".into(),
                    message: String::new(),
                },
                422,
            ),
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
