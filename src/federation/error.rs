//! The federation door's one error type and its one status mapping. Envelopes are
//! always answered with a signed receipt; these errors cover everything else.

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
    #[error("{0}")]
    BadRequest(String),
    #[error("the blob is larger than this node accepts ({0} bytes)")]
    TooLarge(u64),
    #[error("{0}")]
    Unprocessable(String),
    #[error("not found")]
    NotFound,
    /// The peer's share of the door is in use: try again shortly (not logged,
    /// so a peer that floods the door cannot flood the log).
    #[error("this peer has too many requests in progress")]
    Busy,
    /// Over a share of storage; retried once blobs are named or swept.
    #[error("{0}")]
    Full(String),
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// Our failure, worth retrying (database or blob store unreachable).
    #[error("temporarily unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl FedError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::UnknownPeer => (StatusCode::FORBIDDEN, "unknown_peer"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::Full(_) => (StatusCode::INSUFFICIENT_STORAGE, "over_share"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for FedError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) | Self::Unavailable(detail) = &self {
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
        for e in [
            FedError::Internal("db password=hunter2".into()),
            FedError::Unavailable("hunter2".into()),
        ] {
            let response = e.into_response();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let text = String::from_utf8(body.to_vec()).unwrap();
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn statuses() {
        let cases = [
            (FedError::Unauthenticated, 401),
            (FedError::UnknownPeer, 403),
            (FedError::BadRequest(String::new()), 400),
            (FedError::TooLarge(1), 413),
            (FedError::Unprocessable(String::new()), 422),
            (FedError::NotFound, 404),
            (FedError::Unavailable(String::new()), 503),
            (FedError::Internal(String::new()), 500),
        ];
        for (e, status) in cases {
            assert_eq!(e.status_and_code().0.as_u16(), status, "{e:?}");
        }
    }
}
