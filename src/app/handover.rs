//! The handover record: the paper both escorts sign at the border, and the token
//! in its QR code that tells a genuine record from a forged one with no network.
//!
//! The record's **content** is what both nodes hold alike of the case: the
//! person's names and birth date (from the case file), the plan in force, the
//! confirmation and, once made, the handover move. Its SHA-256 (over the JSON
//! canonical form, RFC 8785) is what the token covers, with the case's
//! **handover reference** (a hash of the case id, never the id), the crossing and
//! the date: nothing that names the person. The token is a compact JWS signed by
//! the printing node's signing key (`kid` of its descriptor), typ
//! `mittaphap-handover-record+jwt` (docs/protocol.md §14).
//!
//! Verifying needs no network: the signature is checked with the descriptor
//! the verifying node registered for the printer (or its own), and when the case
//! is held here too, its content is computed again from this node's own copy and
//! compared.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppError;
use super::case_view::{self, CaseView, Held, Which};
use crate::crypto::hash::sha256_hex;
use crate::domain::sop::{Kind, State};
use crate::node::Node;
use crate::protocol::jws::{self, JwsError, keys_of};

/// The `typ` of a handover record token.
pub const RECORD_TYP: &str = "mittaphap-handover-record+jwt";

/// What a token covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordClaims {
    /// The node that printed the record.
    pub iss: String,
    /// The case's handover reference (`reference_of`), not its id.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The crossing point's code.
    pub crossing: String,
    /// The return date, `YYYY-MM-DD`.
    pub date: String,
    /// `plan` (printed before the handover move) or `handover` (after).
    pub stage: String,
    /// SHA-256 of the record's content, lowercase hex.
    pub sha256: String,
    /// When it was printed (Unix seconds).
    pub iat: i64,
}

/// The handover reference of a case: printed on the record and carried by its
/// token in place of the case id. Both nodes compute it from the case id.
pub fn reference_of(case_id: &str) -> String {
    let hex = sha256_hex(format!("mittaphap handover reference\n{case_id}").as_bytes())
        .to_ascii_uppercase();
    format!("HR-{}-{}-{}", &hex[0..4], &hex[4..8], &hex[8..12])
}

/// What the record shows, read from a case opened here.
#[derive(Debug, Clone)]
pub struct Record {
    pub case_id: String,
    pub host_node: String,
    pub home_node: String,
    pub reference: String,
    /// The content the token covers (see the module's comment).
    pub content: Value,
    pub sha256: String,
    /// `plan` or `handover`.
    pub stage: String,
    /// The signed token its QR code holds.
    pub token: String,
}

/// The content of the record at `stage` from a case opened here, or `None`
/// before the return is confirmed.
fn content_of(view: &CaseView, reference: &str, with_handover: bool) -> Option<(Value, String)> {
    let standing = case_view::standing(&view.timeline);
    let body = |kind: Kind| {
        standing
            .iter()
            .find(|e| Kind::parse(&e.kind) == Some(kind))
            .and_then(|e| e.body.clone())
    };
    let plan = body(Kind::ReturnPlan)?;
    let confirmation = body(Kind::ReturnConfirmation)?;
    let handover = if with_handover {
        Some(body(Kind::Handover)?)
    } else {
        None
    };
    let pick = |v: &Value, keys: &[&str]| {
        let mut out = serde_json::Map::new();
        for k in keys {
            if let Some(x) = v.get(*k) {
                out.insert((*k).to_owned(), x.clone());
            }
        }
        Value::Object(out)
    };
    let person = view
        .file
        .as_ref()
        .and_then(|f| f.get("person"))
        .map(|p| pick(p, &["names", "birth_date", "gender"]))
        .unwrap_or(Value::Null);
    let date = plan.get("date").and_then(Value::as_str)?.to_owned();
    let content = json!({
        "record": "handover_record/1",
        "ref": reference,
        "person": person,
        "plan": pick(&plan, &["date", "crossing", "escorts", "travel_document"]),
        "confirmation": pick(&confirmation, &["reception_team", "transit_centre"]),
        "handover": handover.map(|h| pick(&h, &["at", "crossing", "escorts", "record"])),
    });
    Some((content, date))
}

fn sha256_of(content: &Value) -> Result<String, AppError> {
    let canonical = serde_jcs::to_vec(content)
        .map_err(|e| AppError::Internal(format!("canonical JSON: {e}")))?;
    Ok(sha256_hex(&canonical))
}

/// The record of case `id` for `actor` to print, signed now: audited as
/// `case.handover_record`. `Conflict` before the return is confirmed.
pub async fn print(node: &Node, actor: &str, id: uuid::Uuid) -> Result<Record, AppError> {
    // Confirmed? Asked of the clear timeline first: nothing is opened before.
    let mut conn = node.store.pool().acquire().await?;
    if crate::store::cases::get(&mut conn, &id.to_string())
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    let events = crate::store::cases::events(&mut conn, &id.to_string()).await?;
    drop(conn);
    if !events
        .iter()
        .any(|e| e.outcome == "applied" && e.kind == Kind::ReturnConfirmation.as_str())
    {
        return Err(AppError::Conflict(
            "the handover record exists once the return is confirmed".into(),
        ));
    }
    let view = case_view::open_as(node, actor, id, "case.handover_record", "").await?;
    let reference = reference_of(&view.summary.id);
    let handed_over = view
        .timeline
        .iter()
        .any(|e| e.outcome == "applied" && e.kind == Kind::Handover.as_str());
    let (content, date) = content_of(&view, &reference, handed_over).ok_or_else(|| {
        AppError::Conflict("the handover record exists once the return is confirmed".into())
    })?;
    let sha256 = sha256_of(&content)?;
    let crossing = content["handover"]["crossing"]["point"]
        .as_str()
        .or(content["plan"]["crossing"]["point"].as_str())
        .unwrap_or_default()
        .to_owned();
    let stage = if handed_over { "handover" } else { "plan" };
    let claims = RecordClaims {
        iss: node.config.node_id.to_string(),
        reference: reference.clone(),
        crossing,
        date,
        stage: stage.into(),
        sha256: sha256.clone(),
        iat: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let token = jws::sign(RECORD_TYP, &claims, &node.signing)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Record {
        case_id: view.summary.id,
        host_node: view.summary.host_node,
        home_node: view.summary.home_node,
        reference,
        content,
        sha256,
        stage: stage.into(),
        token,
    })
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotGenuine {
    #[error("this is not a handover record token")]
    Malformed,
    #[error("printed by node {0:?}, which is not registered here")]
    UnknownIssuer(String),
    #[error("signed with a key node {0:?} has not published (kid {1:?})")]
    UnknownKey(String, String),
    #[error("the signature does not verify: the token was altered or forged")]
    BadSignature,
    #[error("the record's content differs from what this node holds of the case")]
    ContentDiffers,
}

impl NotGenuine {
    /// A short code for pages and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::UnknownKey(..) => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::ContentDiffers => "content_differs",
        }
    }
}

/// A token that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genuine {
    pub claims: RecordClaims,
    /// The case, when this node holds it (and its content matched).
    pub case_id: Option<String>,
}

/// Checks `token` offline: signature, then content against this node's copy of
/// the case when it holds it. Opening that copy is audited for `actor` as
/// `case.handover_verify`.
pub async fn verify(
    node: &Node,
    actor: &str,
    token: &str,
) -> Result<Result<Genuine, NotGenuine>, AppError> {
    let token = token.trim();
    if jws::header_kid(token, RECORD_TYP).is_err() {
        return Ok(Err(NotGenuine::Malformed));
    }
    let Ok(peeked) = jws::peek_claims::<RecordClaims>(token) else {
        return Ok(Err(NotGenuine::Malformed));
    };
    let descriptor = if peeked.iss == node.config.node_id.as_str() {
        node.own_keys()
    } else {
        let mut conn = node.store.pool().acquire().await?;
        let Some(row) = crate::store::peers::get(&mut conn, &peeked.iss).await? else {
            return Ok(Err(NotGenuine::UnknownIssuer(peeked.iss)));
        };
        crate::protocol::descriptor::verify(&row.descriptor)
            .map_err(|e| AppError::Internal(format!("registered descriptor: {e}")))?
            .descriptor
    };
    let claims: RecordClaims = match jws::verify(token, RECORD_TYP, keys_of(&descriptor)) {
        Ok(c) => c,
        Err(JwsError::UnknownKid(kid)) => return Ok(Err(NotGenuine::UnknownKey(peeked.iss, kid))),
        Err(JwsError::BadSignature) => return Ok(Err(NotGenuine::BadSignature)),
        Err(_) => return Ok(Err(NotGenuine::Malformed)),
    };
    // The case, if held here: the one whose reference the token carries.
    let cases = case_view::list(node, None, None, Which::All, Held::Any).await?;
    let Some(held) = cases.into_iter().find(|c| {
        reference_of(&c.id) == claims.reference
            && !matches!(c.status.state, State::Draft | State::Referred)
    }) else {
        return Ok(Ok(Genuine {
            claims,
            case_id: None,
        }));
    };
    let id = uuid::Uuid::parse_str(&held.id).map_err(|e| AppError::Internal(e.to_string()))?;
    let view = case_view::open_as(node, actor, id, "case.handover_verify", "").await?;
    let content = content_of(&view, &claims.reference, claims.stage == "handover");
    let matches = match content {
        Some((content, _)) => sha256_of(&content)? == claims.sha256,
        None => false,
    };
    if !matches {
        return Ok(Err(NotGenuine::ContentDiffers));
    }
    Ok(Ok(Genuine {
        claims,
        case_id: Some(held.id),
    }))
}

/// The QR code of `token` as an SVG element (no script, nothing fetched).
pub fn qr_svg(token: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_names_the_case_without_its_id() {
        let id = "0190f0e2-7c1a-7000-8000-000000000001";
        let r = reference_of(id);
        assert_eq!(r.len(), "HR-0000-0000-0000".len());
        assert!(r.starts_with("HR-"));
        assert_eq!(r, reference_of(id), "both nodes compute the same");
        assert_ne!(r, reference_of("0190f0e2-7c1a-7000-8000-000000000002"));
        assert!(!r.to_ascii_lowercase().contains("0190f0e2"));
    }

    #[test]
    fn the_qr_code_is_svg() {
        let svg = qr_svg(&"x".repeat(420)).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("<script"));
    }
}
