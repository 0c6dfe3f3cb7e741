//! The OpenAPI document of the desk API, generated from the handlers and types
//! (utoipa), with the bearer scheme and the errors every operation may answer.

use axum::Router;
use axum::routing::get;

use super::DeskState;

pub fn router() -> Router<DeskState> {
    Router::new().route("/api/v1/openapi.json", get(openapi))
}

/// The OpenAPI document of this API, generated from the handlers and types.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Mittaphap desk API", description = "The case workers' API of a Mittaphap node (DESIGN §7)."),
    paths(
        super::session::sign_in, super::session::sign_out, super::session::change_password,
        super::cases::list, super::cases::assign, super::cases::approve, super::cases::return_to_author, super::cases::create, super::cases::read, super::cases::edit, super::cases::consent,
        super::cases::message, super::cases::timeline, super::cases::upload,
        super::cases::list_attachments, super::cases::download,
        super::admin::list_users, super::admin::add_user, super::admin::update_user, super::admin::confirm_user,
        super::admin::list_peers, super::admin::outbox_health,
        super::oversight::audit_log, super::oversight::stats,
        super::prosecution::grant, super::prosecution::list_grants, super::prosecution::revoke,
        super::prosecution::board,
        openapi, super::healthz, super::readyz, super::metrics::metrics
    ),
    components(schemas(
        super::session::Credentials, super::session::PasswordChange, super::cases::CaseSummary,
        super::cases::NewCase, super::cases::MoveRequest, super::cases::DraftEdit, super::cases::Assignment, super::cases::Returned,
        super::admin::UserSummary, super::admin::NewAccount, super::admin::AccountUpdate,
        super::admin::PeerSummary, super::oversight::AuditEntry, super::prosecution::NewGrant, super::error::ErrorBody,
        super::error::FieldIssue
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
pub async fn openapi() -> axum::Json<serde_json::Value> {
    axum::Json(document())
}

/// The document, with every body the desk takes described as JSON Schema from
/// the field tables the desk validates with (`domain::fields`).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(<ApiDoc as utoipa::OpenApi>::openapi())
        .unwrap_or(serde_json::Value::Null);
    super::schemas::add_bodies(&mut doc);
    doc
}
