//! The desk door: what users and their tools reach. Only this module serves users.

pub mod error;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub use error::ApiError;

use crate::store::Store;

#[derive(Clone)]
pub struct DeskState {
    pub store: Store,
}

pub fn router(state: DeskState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

/// GET /healthz: the process is alive.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// GET /readyz: the database answers.
async fn readyz(State(state): State<DeskState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({"status": "ready"})))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn state() -> (DeskState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url, true).await.unwrap();
        store.migrate().await.unwrap();
        (DeskState { store }, dir)
    }

    async fn get(app: Router, path: &str) -> (StatusCode, Value) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn health_and_readiness() {
        let (state, _dir) = state().await;
        let app = router(state.clone());
        assert_eq!(
            get(app.clone(), "/healthz").await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
        assert_eq!(
            get(app.clone(), "/readyz").await,
            (StatusCode::OK, json!({"status": "ready"}))
        );
        let (status, body) = get(app.clone(), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");

        state.store.close().await;
        let (status, body) = get(app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "unavailable");
    }
}
