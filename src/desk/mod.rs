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
pub mod schemas;
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
    health(Readiness::of(&state.node))
        .merge(api)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(error::with_reply_language))
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

/// An attachment's bytes, opened as they stream out, saved under the original
/// file name (RFC 6266, the name RFC 5987-encoded so any script survives), never
/// sniffed into another type; the read is audited (the API and the case page
/// both serve it). A damaged file is an error before the first byte.
pub async fn attachment_response(
    state: &DeskState,
    actor: &str,
    id: uuid::Uuid,
    aid: &str,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    let opened = crate::app::attachments::open(&state.node, actor, id, aid).await?;
    axum::response::Response::builder()
        .header(header::CONTENT_TYPE, opened.media_type)
        .header(header::CONTENT_LENGTH, opened.size)
        .header(
            header::CONTENT_DISPOSITION,
            content_disposition(&opened.file_name),
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(axum::body::Body::from_stream(opened.bytes))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII stand-in for old
/// clients, and the name itself percent-encoded.
pub fn content_disposition(file_name: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~" stay as they are.
    const ATTR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(file_name, ATTR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn readiness() -> (Readiness, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        (Readiness::connect(&url).await.unwrap(), dir)
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

    #[test]
    fn content_disposition_keeps_any_name_safe() {
        let lao = content_disposition("ໃບສົ່ງຕົວ 1.pdf");
        assert!(lao.starts_with("attachment; filename=\"_"), "{lao}");
        assert!(
            lao.ends_with("filename*=UTF-8''%E0%BB%83%E0%BA%9A%E0%BA%AA%E0%BA%BB%E0%BB%88%E0%BA%87%E0%BA%95%E0%BA%BB%E0%BA%A7%201.pdf"),
            "{lao}"
        );
        let tricky = content_disposition("a\"b;c\\d.txt");
        assert!(
            tricky.starts_with(
                "attachment; filename=\"a_b;c_d.txt\"; filename*=UTF-8''a%22b%3Bc%5Cd.txt"
            ),
            "{tricky}"
        );
    }

    #[tokio::test]
    async fn health_and_readiness() {
        let (ready, _dir) = readiness().await;
        let app = health(ready.clone());
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

        ready.close().await;
        let (status, body) = get(app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "unavailable");
    }
}
