//! The desk's one error type and its one status mapping. Internal details are
//! logged, never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such resource")]
    NotFound,
    #[error("a dependency of the service is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "desk: unavailable"),
            Self::Internal(detail) => tracing::error!(error = %detail, "desk: internal error"),
            Self::NotFound => {}
        }
        let (status, code) = self.status_and_code();
        (
            status,
            Json(json!({"error": code, "message": self.to_string()})),
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
}
