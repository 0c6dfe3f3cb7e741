//! What every desk handler shares: JSON bodies whose rejections are this API's
//! errors, case ids from paths, and RFC 3339 times in and out.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use super::ApiError;

/// JSON bodies whose rejections are this API's errors: 400 for what is not JSON,
/// 413 for too large, 422 naming the field at fault; never a value or a name
/// that was sent.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json {
            return Err(ApiError::BadRequest(
                "send a JSON body (Content-Type: application/json)".into(),
            ));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::TooLarge);
            }
            Err(_) => return Err(ApiError::BadRequest("the body could not be read".into())),
        };
        let not_json = |e: &serde_json::Error| {
            ApiError::BadRequest(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        };
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(v) => v,
            Err(e) if e.inner().is_syntax() || e.inner().is_eof() => {
                return Err(not_json(e.inner()));
            }
            Err(e) => {
                let b = crate::domain::messages::path_error(&e);
                return Err(ApiError::Invalid(crate::domain::BodyError::new(
                    b.field, b.message,
                )));
            }
        };
        de.end().map_err(|e| not_json(&e))?;
        Ok(Self(value))
    }
}

pub fn case_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::NotFound)
}

pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An optional RFC 3339 query parameter, as Unix milliseconds; 422 naming it if bad.
pub fn time_param(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_ref()
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(crate::domain::millis)
                .map_err(|_| {
                    ApiError::Invalid(crate::domain::BodyError::new(field, "an RFC 3339 time"))
                })
        })
        .transpose()
}

/// A query string that does not fit: 400, its text without the values sent (a
/// parameter's name can be anything a client typed).
pub fn query_rejection(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::BadRequest(crate::domain::messages::query_message(&e.body_text()))
}
