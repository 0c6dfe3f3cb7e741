//! The desk's case routes (DESIGN §7): extract, one `app::` call, map the result.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Action, SignedInUser};
use super::error::ErrorBody;
use super::json::{ApiJson, case_id, rfc3339, time_param};
use super::{ApiError, DeskState};
use crate::app::case_view::{self, Delivery, Summary, Which};
use crate::app::{attachments, cases, moves};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/api/v1/cases", get(list).post(create))
        .route("/api/v1/cases/{id}", get(read).patch(edit))
        .route("/api/v1/cases/{id}/consents", post(consent))
        .route("/api/v1/cases/{id}/assign", post(assign))
        .route("/api/v1/cases/{id}/approve", post(approve))
        .route("/api/v1/cases/{id}/return", post(return_to_author))
        .route("/api/v1/cases/{id}/messages", post(message))
        .route("/api/v1/cases/{id}/timeline", get(timeline))
        .route(
            "/api/v1/cases/{id}/attachments",
            get(list_attachments).post(upload),
        )
        .route("/api/v1/cases/{id}/attachments/{aid}", get(download))
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
    /// The user who holds the case on this node; null: the team's queue.
    owner: Option<String>,
    /// What is overdue: `verification`, `follow_up_<month>`, or `handover` (the
    /// agreed return day passed with no handover recorded).
    overdue: Vec<String>,
    /// A step made here awaits a supervisor's approval.
    awaiting_approval: bool,
    /// The return date planned or agreed (`YYYY-MM-DD`).
    return_date: Option<String>,
}

/// An overdue item as the API names it.
fn due_name(d: &crate::domain::reminders::Due) -> String {
    match d {
        crate::domain::reminders::Due::Verification { .. } => "verification".into(),
        crate::domain::reminders::Due::FollowUp { month, .. } => format!("follow_up_{month}"),
        crate::domain::reminders::Due::Handover { .. } => "handover".into(),
    }
}

impl From<Summary> for CaseSummary {
    fn from(c: Summary) -> Self {
        Self {
            our_turn: c.our_turn,
            testimony_pending: c.testimony_pending,
            awaiting_us: c.awaiting_us,
            awaiting_approval: c.awaiting_approval,
            return_date: c.return_date.clone(),
            id: c.id,
            host_node: c.host_node,
            home_node: c.home_node,
            our_side: c.our_side,
            state: c.state,
            turn: c.turn,
            gender: c.gender,
            age_at_identification: c.age_at_identification,
            exploitation_types: c.exploitation_types,
            province_of_origin: c.province_of_origin,
            crossing_point: c.crossing_point,
            prosecution_milestone: c.prosecution_milestone,
            updated_at: rfc3339(c.updated_at),
            overdue: c.overdue.iter().map(due_name).collect(),
            owner: c.owner,
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
    /// `me`: cases I hold; `none`: the team's queue; a user name: theirs.
    assigned: Option<String>,
    /// Words of a name (any script, any part), an identity document or phone
    /// number, the start of a case id, or a province code (audited, by count).
    q: Option<String>,
}

/// GET /api/v1/cases?state=&turn=ours|theirs&updated_since=&assigned=me|none|USER:
/// clear columns only.
#[utoipa::path(get, path = "/api/v1/cases", params(ListQuery), responses((status = 200, body = [CaseSummary]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    user: SignedInUser,
    State(state): State<DeskState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<Vec<CaseSummary>>, ApiError> {
    user.require(Action::ReadClear)?;
    let Query(q) = query.map_err(super::json::query_rejection)?;
    if let Some(s) = &q.state
        && crate::domain::sop::State::parse(s).is_none()
    {
        return Err(ApiError::Invalid(crate::domain::BodyError::new(
            "state",
            format!(
                "one of {}",
                crate::domain::sop::State::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )));
    }
    let since = time_param("updated_since", &q.updated_since)?;
    let which = match q.turn.as_deref() {
        Some("ours") => Which::Inbox,
        Some("theirs") => Which::Waiting,
        _ => Which::All,
    };
    let held = match q.assigned.as_deref() {
        None | Some("") => case_view::Held::Any,
        Some("me") => case_view::Held::By(&user.username),
        Some("none") => case_view::Held::Nobody,
        Some(name) => case_view::Held::By(name),
    };
    let mut rows = case_view::list(&state.node, q.state.as_deref(), since, which, held).await?;
    if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
        user.require(Action::ReadSealed)?;
        rows = case_view::search(&state.node, &user.username, text, rows).await?;
    }
    Ok(axum::Json(
        rows.into_iter().map(CaseSummary::from).collect(),
    ))
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
pub async fn create(
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftEdit {
    /// Another home node, while the case is a draft.
    #[serde(default)]
    home_node: Option<String>,
    /// The whole `referral/1` body, replacing the draft's.
    #[schema(value_type = Object)]
    referral: Value,
}

/// PATCH /api/v1/cases/{id}: edits a draft (the whole referral, and the home node).
#[utoipa::path(patch, path = "/api/v1/cases/{id}", params(("id" = String, Path, description = "Case id")), request_body = DraftEdit, responses((status = 204, description = "Edited"), (status = 404, body = ErrorBody), (status = 409, description = "Not a draft of ours, or not a registered peer", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn edit(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(e): ApiJson<DraftEdit>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::Move)?;
    cases::edit_draft(
        &state.node,
        &user.username,
        case_id(&id)?,
        e.home_node.as_deref(),
        &e.referral,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/cases/{id}: the case, with its sealed file opened.
#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = String, Path, description = "Case id")), responses((status = 200, description = "Clear columns, consents, and the opened case file (audited)", body = Object), (status = 404, body = ErrorBody)))]
pub async fn read(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ReadSealed)?;
    let view = case_view::open(&state.node, &user.username, case_id(&id)?, "file").await?;
    // Retention destroyed the file of a purged case: its clear columns remain.
    let purged_at = view.summary.purged_at.map(rfc3339);
    let file = match view.file {
        Some(file) => file,
        None if purged_at.is_some() => Value::Null,
        None => return Err(ApiError::Internal("sealed file".into())),
    };
    let entries: Vec<Value> = view
        .prosecution
        .entries
        .into_iter()
        .map(|e| json!({"kind": e.kind, "made_by": e.made_by, "at": rfc3339(e.at), "body": e.body}))
        .collect();
    let mut out = serde_json::to_value(CaseSummary::from(view.summary))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    out["file"] = file;
    out["consents"] = json!(view.consents);
    out["purged_at"] = json!(purged_at);
    out["prosecution"] = json!({"track": view.prosecution.track, "entries": entries});
    Ok(axum::Json(out))
}

/// POST /api/v1/cases/{id}/approve: a supervisor other than its author approves
/// the step that awaits approval; it is then decided again and sent.
#[utoipa::path(post, path = "/api/v1/cases/{id}/approve", params(("id" = String, Path, description = "Case id")), responses((status = 200, description = "The new state and turn, and the envelope id", body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Nothing awaits approval, or its author asks", body = ErrorBody)))]
pub async fn approve(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::Assign)?;
    let moved = crate::app::approval::approve(
        &state.node,
        &user.username,
        user.role,
        case_id(&id)?,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(axum::Json(json!({
        "state": moved.status.state.as_str(),
        "turn": moved.status.turn.map(|t| t.as_str()),
        "jti": moved.jti,
        "awaiting_approval": moved.awaiting_approval,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Returned {
    /// Why the step goes back to its author.
    reason: String,
}

/// POST /api/v1/cases/{id}/return: a supervisor returns the step that awaits
/// approval to its author, with a reason; nothing is sent.
#[utoipa::path(post, path = "/api/v1/cases/{id}/return", params(("id" = String, Path, description = "Case id")), request_body = Returned, responses((status = 204, description = "Returned"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn return_to_author(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<Returned>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::Assign)?;
    crate::app::approval::return_to_author(
        &state.node,
        &user.username,
        user.role,
        case_id(&id)?,
        &r.reason,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The officer or supervisor of this node who is to hold the case.
    username: String,
}

/// POST /api/v1/cases/{id}/assign: who holds the case (supervisors; an officer
/// takes an unassigned case for themselves).
#[utoipa::path(post, path = "/api/v1/cases/{id}/assign", params(("id" = String, Path, description = "Case id")), request_body = Assignment, responses((status = 204, description = "Assigned"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(a): ApiJson<Assignment>,
) -> Result<StatusCode, ApiError> {
    user.require(Action::Move)?;
    crate::app::assign::assign(
        &state.node,
        &user.username,
        user.role,
        case_id(&id)?,
        &a.username,
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/v1/cases/{id}/consents: one consent record.
#[utoipa::path(post, path = "/api/v1/cases/{id}/consents", params(("id" = String, Path, description = "Case id")), request_body(content = Object, description = "purpose, granted, given_on, language, witness"), responses((status = 204, description = "Recorded"), (status = 422, body = ErrorBody)))]
pub async fn consent(
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
pub async fn message(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    ApiJson(m): ApiJson<MoveRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::Move)?;
    let moved = moves::make_move(
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
        "awaiting_approval": moved.awaiting_approval,
    })))
}

/// GET /api/v1/cases/{id}/timeline: every move of both sides, with delivery state.
#[utoipa::path(get, path = "/api/v1/cases/{id}/timeline", params(("id" = String, Path, description = "Case id")), responses((status = 200, description = "Every move of both sides, with delivery state, and its body (the content as made) for a reader who may open sealed content (audited)", body = [Object]), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ReadClear)?;
    // Each move's content is sealed: a reader who may open it sees it (audited once).
    let reader = if crate::domain::policy::allows(user.role, Action::ReadSealed) {
        case_view::Reader::Opens(&user.username)
    } else {
        case_view::Reader::ClearOnly
    };
    let (_, entries) = case_view::timeline(&state.node, case_id(&id)?, reader).await?;
    let out = entries
        .into_iter()
        .map(|e| {
            let delivery = match e.delivery {
                Delivery::Delivered { receipt_at } => {
                    json!({"state": "delivered", "receipt_at": receipt_at.map(rfc3339)})
                }
                Delivery::Pending { state, attempts } => {
                    json!({"state": state, "attempts": attempts})
                }
                Delivery::Received => json!({"state": "received"}),
                Delivery::Local => json!({"state": "local"}),
            };
            let mut entry = json!({
                "position": e.position,
                "made_by": e.made_by,
                "ours": e.ours,
                "kind": e.kind,
                "outcome": e.outcome,
                "state_after": e.state_after,
                "at": rfc3339(e.at),
                "delivery": delivery,
            });
            if let Some(body) = e.body {
                entry["body"] = body;
            }
            entry
        })
        .collect();
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
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", params(("id" = String, Path, description = "Case id"), UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 201, description = "id, sha256 and len of the sealed blob, size of the file", body = Object), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: axum::body::Body,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    user.require(Action::Move)?;
    let Query(q) = query.map_err(super::json::query_rejection)?;
    let stream =
        futures_util::TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let added = attachments::add_attachment(
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
        axum::Json(
            json!({"id": added.id, "sha256": added.digest.sha256, "len": added.digest.len, "size": added.size}),
        ),
    ))
}

/// GET /api/v1/cases/{id}/attachments: what is attached (names opened).
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments", params(("id" = String, Path, description = "Case id")), responses((status = 200, description = "id, file_name, media_type, size (bytes of the original file), len (of the sealed blob), created_at", body = [Object]), (status = 404, body = ErrorBody)))]
pub async fn list_attachments(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    user.require(Action::ReadSealed)?;
    let rows = attachments::list(&state.node, &user.username, case_id(&id)?).await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({"id": r.id, "size": r.size, "len": r.sealed_len, "file_name": r.file_name, "media_type": r.media_type, "created_at": rfc3339(r.created_at)})
        })
        .collect();
    Ok(axum::Json(Value::Array(out)))
}

/// GET /api/v1/cases/{id}/attachments/{aid}: the bytes, opened as they stream out.
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments/{aid}", params(("id" = String, Path, description = "Case id"), ("aid" = String, Path, description = "Attachment id")), responses((status = 200, description = "The bytes, opened as they stream (audited)", content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn download(
    user: SignedInUser,
    State(state): State<DeskState>,
    Path((id, aid)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    user.require(Action::ReadSealed)?;
    super::attachment_response(&state, &user.username, case_id(&id)?, &aid).await
}
