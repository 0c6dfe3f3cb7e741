//! The desk door: what users and their tools reach. Only this module serves users.

pub mod admin;
pub mod auth;
pub mod cases;
pub mod error;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod oversight;
pub mod prosecution;
pub mod session;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub use error::ApiError;

use crate::app::oversight::Readiness;
use crate::node::Node;

#[derive(Clone)]
pub struct DeskState {
    pub node: Arc<Node>,
    pub tokens: auth::SharedTokens,
    /// argon2id of a password nobody knows: checked when a user does not exist, so
    /// a sign-in takes as long either way.
    pub dummy_hash: Arc<str>,
    /// Page cookies are `Secure` when the desk is served over TLS.
    pub secure_cookies: bool,
}

impl DeskState {
    pub fn new(node: Arc<Node>) -> Result<Self, ApiError> {
        let secret = uuid::Uuid::new_v4().to_string();
        let dummy_hash =
            crate::app::accounts::hash_password(&secret).map_err(ApiError::Internal)?;
        let key = crate::crypto::keys::SigningKey::from_pkcs8_pem(node.session_key.pkcs8_pem())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let tokens = Arc::new(auth::Tokens::new(key, node.config.node_id.to_string()));
        Ok(Self {
            node,
            tokens,
            dummy_hash: dummy_hash.into(),
            secure_cookies: false,
        })
    }
}

pub fn router(state: DeskState) -> Router {
    let api = cases::router()
        .merge(session::router())
        .merge(admin::router())
        .merge(oversight::router())
        .merge(prosecution::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .with_state(state.clone());
    health(Readiness::of(&state.node)).merge(api)
}

/// Request tracing that names the route, never the URI: a query string can hold
/// sealed content (an attachment's file name), and a log line must not.
pub fn traced(router: Router) -> Router {
    fn span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned());
        tracing::debug_span!("request", method = %request.method(), %route)
    }
    router.layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(span))
}

/// Liveness and readiness, which need no sign-in.
pub fn health(ready: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(ready)
}

/// GET /healthz: the process is alive.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = Object)), security(()))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// GET /readyz: the database answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "Ready", body = Object), (status = 503, body = error::ErrorBody)), security(()))]
async fn readyz(State(ready): State<Readiness>) -> Result<Json<Value>, ApiError> {
    ready.check().await?;
    Ok(Json(json!({"status": "ready"})))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// An attachment's bytes, opened as they stream out, its media type from the
/// sealed name; the read is audited (the API and the case page both serve it).
pub async fn attachment_response(
    state: &DeskState,
    actor: &str,
    id: uuid::Uuid,
    aid: &str,
) -> Result<axum::response::Response, ApiError> {
    let opened = crate::app::attachments::open(&state.node, actor, id, aid).await?;
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, opened.media_type)
        .header(axum::http::header::CONTENT_DISPOSITION, "attachment")
        .body(axum::body::Body::from_stream(opened.bytes))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url, true).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
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
        let (store, _dir) = store().await;
        let app = health(Readiness::new(store.clone()));
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

        store.close().await;
        let (status, body) = get(app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "unavailable");
    }
}
