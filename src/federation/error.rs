//! The federation door's one error type and its one status mapping.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum FedError {
    /// The connection carries no verified peer (cannot happen behind `PeerTrust`).
    #[error("no verified peer on this connection")]
    Unauthenticated,
    /// The peer was removed after its connection was opened.
    #[error("the peer is not registered")]
    UnknownPeer,
    #[error("internal error")]
    Internal(String),
}

impl FedError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::UnknownPeer => (StatusCode::FORBIDDEN, "unknown_peer"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for FedError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            // Details stay in the log; the peer only learns that something failed.
            tracing::error!(error = %detail, "federation request failed");
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
    async fn internal_details_are_not_returned() {
        let response = FedError::Internal("db password=hunter2".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2"));
        assert!(text.contains("\"error\":\"internal\""));
    }

    #[test]
    fn statuses() {
        assert_eq!(
            FedError::Unauthenticated.status_and_code().0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            FedError::UnknownPeer.status_and_code().0,
            StatusCode::FORBIDDEN
        );
    }
}
