//! The desk's case routes (DESIGN §7): thin handlers over `crate::cases`.

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Action, SignedInUser};
use super::error::ErrorBody;
use super::{ApiError, DeskState};
use crate::cases;
use crate::store::{cases as store_cases, outbox};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/api/v1/cases", get(list).post(create))
        .route("/api/v1/cases/{id}", get(read))
        .route("/api/v1/cases/{id}/consents", post(consent))
        .route("/api/v1/cases/{id}/messages", post(message))
        .route("/api/v1/cases/{id}/timeline", get(timeline))
        .route(
            "/api/v1/cases/{id}/attachments",
            get(list_attachments).post(upload),
        )
        .route("/api/v1/cases/{id}/attachments/{aid}", get(download))
        .route("/api/v1/openapi.json", get(openapi))
}

/// The OpenAPI document of this API, generated from the handlers and types.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Mittaphap desk API", description = "The case workers' API of a Mittaphap node (DESIGN §7)."),
    paths(
        super::session::sign_in, super::session::sign_out, super::session::change_password,
        list, create, read, consent, message, timeline, upload, list_attachments, download,
        super::admin::list_users, super::admin::add_user, super::admin::update_user,
        super::admin::list_peers, super::admin::outbox_health,
        super::oversight::audit_log, super::oversight::stats,
        super::prosecution::grant, super::prosecution::list_grants, super::prosecution::revoke,
        super::prosecution::board,
        openapi, super::healthz, super::readyz, super::metrics::metrics
    ),
    components(schemas(
        super::session::Credentials, super::session::PasswordChange, CaseSummary, NewCase, MoveRequest,
        super::admin::UserSummary, super::admin::NewAccount, super::admin::AccountUpdate,
        super::admin::PeerSummary, super::oversight::AuditEntry, super::prosecution::NewGrant, ErrorBody
    )),
    modifiers(&BearerAuth, &CommonErrors),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The errors any operation may answer besides those it lists: a malformed
/// request (400), a missing or refused session (401, 403), an unknown id (404),
/// a body too large (413) or invalid (422), and a database that does not answer
/// (503). Documented once here rather than on every handler.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_params = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                let public = op.security.as_ref().is_some_and(|s| {
                    s.iter()
                        .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
                });
                let body = op.request_body.is_some();
                let mut add = |code: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                add("400", "Malformed request");
                if !public {
                    add("401", "Sign in first");
                    add("403", "Your role may not do this");
                }
                if has_params {
                    add("404", "No such resource");
                }
                if body {
                    add("413", "Too large");
                }
                add("422", "A field is invalid");
                add("503", "The database does not answer");
            }
        }
    }
}

/// GET /api/v1/openapi.json: this document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1", body = Object)), security(()))]
async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

/// JSON bodies whose rejections are this API's errors (400/413/422 with JSON).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Invalid {
                field: "body".into(),
                message: crate::domain::messages::redact(&e.body_text()),
            }),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

fn case_id(id: &str) -> Result<uuid::Uuid, ApiError> {
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

/// A case as lists show it: clear columns only.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseSummary {
    id: String,
    host_node: String,
    home_node: String,
    our_side: String,
    state: String,
    turn: Option<String>,
    our_turn: bool,
    /// A testimony request waits for the home side's arrangement.
    testimony_pending: bool,
    /// In our inbox: our turn on the return, or a testimony request for us to answer.
    awaiting_us: bool,
    gender: Option<String>,
    age_at_identification: Option<i64>,
    exploitation_types: Option<String>,
    province_of_origin: Option<String>,
    crossing_point: Option<String>,
    prosecution_milestone: Option<String>,
    updated_at: String,
}

impl From<store_cases::CaseRow> for CaseSummary {
    fn from(r: store_cases::CaseRow) -> Self {
        let our_turn = r.turn.as_deref() == Some(r.our_side.as_str());
        let testimony_pending = r.testimony_pending != 0;
        Self {
            our_turn,
            testimony_pending,
            awaiting_us: our_turn || (testimony_pending && r.our_side == "home"),
            id: r.case_id,
            host_node: r.host_node,
            home_node: r.home_node,
            our_side: r.our_side,
            state: r.state,
            turn: r.turn,
            gender: r.gender,
            age_at_identification: r.age_at_identification,
            exploitation_types: r.exploitation_types,
            province_of_origin: r.province_of_origin,
            crossing_point: r.crossing_point,
            prosecution_milestone: r.prosecution_milestone,
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    /// `ours`: the inbox, cases where it is our turn or a testimony request waits
    /// for our answer; `theirs`: waiting for the peer.
    turn: Option<String>,
    /// RFC 3339.
    updated_since: Option<String>,
}

/// GET /api/v1/cases?state=&turn=ours|theirs&updated_since=: clear columns only.
#[utoipa::path(get, path = "/api/v1/cases", params(ListQuery), responses((status = 200, body = [CaseSummary]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(
    user: SignedInUser,
    State(state): State<DeskState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<CaseSummary>>, ApiError> {
    user.require(Action::ReadClear)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if let Some(s) = &q.state
        && crate::domain::sop::State::parse(s).is_none()
    {
        return Err(ApiError::Invalid {
            field: "state".into(),
            message: format!("unknown state {s:?}"),
        });
    }
    let since = time_param("updated_since", &q.updated_since)?;
    let mut conn = state.node.store.pool().acquire().await?;
    let rows = store_cases::list(&mut conn).await?;
    let out = rows
        .into_iter()
        .filter(|r| q.state.as_ref().is_none_or(|s| *s == r.state))
        .filter(|r| since.is_none_or(|t| r.updated_at >= t))
        .map(CaseSummary::from)
        .filter(|c| match q.turn.as_deref() {
            Some("ours") => c.awaiting_us,
            Some("theirs") => c.turn.is_some() && !c.awaiting_us,
            _ => true,
        })
        .collect();
    Ok(axum::Json(out))
}

/// An optional RFC 3339 query parameter, as Unix milliseconds; 422 naming it if bad.
pub fn time_param(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_ref()
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(crate::store::millis)
                .map_err(|_| ApiError::Invalid {
                    field: field.into(),
                    message: "an RFC 3339 time".into(),
                })
        })
        .transpose()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// The node id of the person's home country.
    home_node: String,
    /// A `referral/1` body (docs/sop.md).
    #[schema(value_type = Object)]
    referral: Value,
}

/// POST /api/v1/cases: a draft referral.
#[utoipa::path(post, path = "/api/v1/cases", request_body = NewCase, responses((status = 201, description = "The draft: id, state, turn", body = Object), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    user: SignedInUser,
    State(state): State<DeskState>,
    ApiJson(new): ApiJson<NewCase>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    user.require(Action::Move)?;
    let id = cases::create_draft(
        &state.node,
        &user.username,
        &new.home_node,
        &new.referral,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id.to_string(), "state": "draft", "turn": "host"})),
    ))
}

/// GET /api/v1/cases/{id}: the case, with its sealed file opened.
#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = String, Path, description = "Case id")), responses((status = 200, description = "Clear columns, consents, and the opened case file (audited)", body = Object), (status = 404, body = ErrorBody)))]
async fn read(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ReadSealed)?;
    let id = case_id(&id)?;
    let mut conn = state.node.store.pool().acquire().await?;
    let row = find_case(&mut conn, id).await?;
    let consents = store_cases::consents(&mut conn, &row.case_id).await?;
    let track = prosecution_of(&state, &mut conn, &row).await?;
    // Retention destroyed the file of a purged case: its clear columns remain.
    let file = if row.purged_at.is_some() {
        Value::Null
    } else {
        cases::open_sealed(&state.node, &row.sealed)
            .ok_or_else(|| ApiError::Internal("sealed file".into()))?
    };
    let purged_at = row.purged_at.map(rfc3339);
    audit_now(
        &state,
        &user.username,
        "case.read",
        Some(&row.case_id),
        "file",
    )
    .await?;
    let mut out = serde_json::to_value(CaseSummary::from(row))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    out["file"] = file;
    out["consents"] = json!(consents);
    out["purged_at"] = json!(purged_at);
    out["prosecution"] = track;
    Ok(axum::Json(out))
}

/// POST /api/v1/cases/{id}/consents: one consent record.
#[utoipa::path(post, path = "/api/v1/cases/{id}/consents", params(("id" = String, Path, description = "Case id")), request_body(content = Object, description = "purpose, granted, given_on, language, witness"), responses((status = 204, description = "Recorded"), (status = 422, body = ErrorBody)))]
async fn consent(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(record): ApiJson<Value>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::Move)?;
    cases::record_consent(
        &state.node,
        &user.username,
        case_id(&id)?,
        &record,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// A message kind of docs/sop.md.
    kind: String,
    /// The body of that kind (`{"schema": "KIND/1", …}`); empty for a referral.
    #[serde(default)]
    #[schema(value_type = Object)]
    body: Value,
}

/// POST /api/v1/cases/{id}/messages: our move (validated, applied, queued).
#[utoipa::path(post, path = "/api/v1/cases/{id}/messages", params(("id" = String, Path, description = "Case id")), request_body = MoveRequest, responses((status = 200, description = "The new state and turn, and the envelope id", body = Object), (status = 409, description = "Not your turn, wrong state, or no consent", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn message(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(m): ApiJson<MoveRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::Move)?;
    let moved = cases::make_move(
        &state.node,
        &user.username,
        case_id(&id)?,
        &m.kind,
        &m.body,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    tracing::info!(user = %user.username, case = %id, kind = %m.kind, "move made");
    Ok(axum::Json(json!({
        "state": moved.status.state.as_str(),
        "turn": moved.status.turn.map(|t| t.as_str()),
        "jti": moved.jti,
    })))
}

/// GET /api/v1/cases/{id}/timeline: every move of both sides, with delivery state.
#[utoipa::path(get, path = "/api/v1/cases/{id}/timeline", params(("id" = String, Path, description = "Case id")), responses((status = 200, description = "Every move of both sides, with delivery state", body = [Object]), (status = 404, body = ErrorBody)))]
async fn timeline(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ReadClear)?;
    let id = case_id(&id)?;
    let mut conn = state.node.store.pool().acquire().await?;
    let row = find_case(&mut conn, id).await?;
    let events = store_cases::events(&mut conn, &row.case_id).await?;
    let peer = if row.our_side == "host" {
        &row.home_node
    } else {
        &row.host_node
    };
    let mut out = Vec::new();
    for e in events {
        let ours = e.made_by == row.our_side;
        let delivery = match (&e.jti, ours) {
            (Some(jti), true) => {
                let sent = outbox::by_jti(&mut conn, peer, jti).await?;
                match sent {
                    Some(s) if s.state == "delivered" => {
                        json!({"state": "delivered", "receipt_at": s.delivered_at.map(rfc3339)})
                    }
                    Some(s) => json!({"state": s.state, "attempts": s.attempts}),
                    None => json!({"state": "local"}),
                }
            }
            (Some(_), false) => json!({"state": "received"}),
            (None, _) => json!({"state": "local"}),
        };
        out.push(json!({
            "position": e.position,
            "made_by": e.made_by,
            "ours": ours,
            "kind": e.kind,
            "outcome": e.outcome,
            "state_after": e.state_after,
            "at": rfc3339(e.at),
            "delivery": delivery,
        }));
    }
    Ok(axum::Json(Value::Array(out)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    file_name: String,
    media_type: String,
}

/// POST /api/v1/cases/{id}/attachments?file_name=…&media_type=…: the raw bytes,
/// streamed and sealed as they arrive.
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", params(("id" = String, Path, description = "Case id"), UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 201, description = "id, sha256 and len of the sealed blob", body = Object), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    user.require(Action::Move)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let stream =
        futures_util::TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let (aid, digest) = cases::add_attachment(
        &state.node,
        &user.username,
        case_id(&id)?,
        &q.file_name,
        &q.media_type,
        reader,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": aid, "sha256": digest.sha256, "len": digest.len})),
    ))
}

/// GET /api/v1/cases/{id}/attachments: what is attached (names opened).
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments", params(("id" = String, Path, description = "Case id")), responses((status = 200, body = [Object]), (status = 404, body = ErrorBody)))]
async fn list_attachments(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ReadSealed)?;
    let id = case_id(&id)?;
    let mut conn = state.node.store.pool().acquire().await?;
    let case = find_case(&mut conn, id).await?;
    let rows = store_cases::attachments(&mut conn, &case.case_id).await?;
    drop(conn);
    // File names are sealed: opening them is a read of sealed content.
    audit_now(
        &state,
        &user.username,
        "case.read",
        Some(&case.case_id),
        "attachment names",
    )
    .await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let meta = cases::open_sealed(&state.node, &r.meta).unwrap_or(Value::Null);
            json!({"id": r.attachment_id, "len": r.len, "file_name": meta["file_name"], "media_type": meta["media_type"], "created_at": rfc3339(r.created_at)})
        })
        .collect();
    Ok(axum::Json(Value::Array(out)))
}

/// GET /api/v1/cases/{id}/attachments/{aid}: the bytes, opened as they stream out.
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments/{aid}", params(("id" = String, Path, description = "Case id"), ("aid" = String, Path, description = "Attachment id")), responses((status = 200, description = "The bytes, opened as they stream (audited)", content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn download(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path((id, aid)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    user.require(Action::ReadSealed)?;
    attachment_response(&state, &user.username, case_id(&id)?, &aid).await
}

/// An attachment's bytes, opened as they stream out, its media type from the
/// sealed name; the read is audited (the API and the case page both serve it).
pub async fn attachment_response(
    state: &DeskState,
    actor: &str,
    id: uuid::Uuid,
    aid: &str,
) -> Result<axum::response::Response, ApiError> {
    let mut conn = state.node.store.pool().acquire().await?;
    let rows = store_cases::attachments(&mut conn, &id.to_string()).await?;
    drop(conn);
    let row = rows
        .into_iter()
        .find(|r| r.attachment_id == aid)
        .ok_or(ApiError::NotFound)?;
    let meta = cases::open_sealed(&state.node, &row.meta)
        .ok_or_else(|| ApiError::Internal("attachment name".into()))?;
    let stream = state
        .node
        .blobs
        .open_stream(&row.blob_sha256, state.node.age.identity())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    audit_now(
        state,
        actor,
        "case.read",
        Some(&id.to_string()),
        &format!("attachment={aid}"),
    )
    .await?;
    let media_type = meta["media_type"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_owned();
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, media_type)
        .header(axum::http::header::CONTENT_DISPOSITION, "attachment")
        .body(axum::body::Body::from_stream(stream))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The prosecution track of a case as officers see it: the summary, and every
/// update and arrangement opened (the caller audits the read).
async fn prosecution_of(
    state: &DeskState,
    conn: &mut sqlx::AnyConnection,
    row: &store_cases::CaseRow,
) -> Result<Value, ApiError> {
    use crate::domain::messages::Body;
    use crate::domain::sop::Kind;
    let mut updates = Vec::new();
    let mut entries = Vec::new();
    for e in store_cases::events(conn, &row.case_id).await? {
        let kind = Kind::parse(&e.kind);
        if e.outcome != "applied"
            || !matches!(
                kind,
                Some(Kind::ProsecutionUpdate | Kind::TestimonyArrangement)
            )
        {
            continue;
        }
        let Some(body) = cases::open_sealed(&state.node, &e.body) else {
            continue;
        };
        if let Some(Kind::ProsecutionUpdate) = kind
            && let Ok(Body::ProsecutionUpdate(u)) =
                crate::domain::messages::parse(Kind::ProsecutionUpdate, &body)
        {
            updates.push(u);
        }
        entries
            .push(json!({"kind": e.kind, "made_by": e.made_by, "at": rfc3339(e.at), "body": body}));
    }
    let summary = crate::domain::prosecution::summarise(&updates, row.testimony_pending != 0);
    Ok(json!({"track": summary, "entries": entries}))
}

/// The case, or 404.
async fn find_case(
    conn: &mut sqlx::AnyConnection,
    id: uuid::Uuid,
) -> Result<store_cases::CaseRow, ApiError> {
    store_cases::get(conn, &id.to_string())
        .await?
        .ok_or(ApiError::NotFound)
}

/// Records an audit entry in a transaction of its own (reads change nothing else).
pub async fn audit_now(
    state: &DeskState,
    actor: &str,
    action: &str,
    case: Option<&str>,
    detail: &str,
) -> Result<(), ApiError> {
    let unavailable = |e: crate::store::StoreError| ApiError::Unavailable(e.to_string());
    let mut tx = state.node.store.begin().await.map_err(unavailable)?;
    let entry = crate::audit::Entry {
        actor,
        action,
        case_id: case,
        detail,
    };
    crate::audit::record(&mut tx, entry, time::OffsetDateTime::now_utc())
        .await
        .map_err(unavailable)?;
    tx.commit().await?;
    Ok(())
}
