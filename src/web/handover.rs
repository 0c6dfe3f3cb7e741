//! The handover record as printed at the border (`GET /cases/{id}/handover-record`,
//! one A4 page, both countries' languages side by side, a QR code of its signed
//! token), and the page that checks a token (`/verify-record`).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::Value;

use super::case_page::case_uuid;
use super::forms::{first, posted};
use super::frame::{allowed, chrome, show, unavailable};
use super::render::{Chrome, refused};
use super::visitor::Page;
use crate::app::handover::{self, NotGenuine};
use crate::app::{AppError, peers};
use crate::desk::DeskState;
use crate::desk::auth::Action;
use crate::i18n::{Lang, Words};

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/cases/{id}/handover-record", get(record))
        .route("/verify-record", get(verify_form).post(verify))
}

/// A label in both languages of the record ("ชื่อ · ຊື່"), once when they are one.
pub struct Both {
    pub a: Words,
    pub b: Words,
}

impl Both {
    pub fn l(&self, key: &str) -> String {
        if self.a.lang == self.b.lang {
            self.a.t(key).to_owned()
        } else {
            format!("{} · {}", self.a.t(key), self.b.t(key))
        }
    }

    /// A vocabulary code in both languages.
    pub fn opt(&self, prefix: &str, value: &str) -> String {
        let (x, y) = (self.a.opt(prefix, value), self.b.opt(prefix, value));
        if x == y { x } else { format!("{x} · {y}") }
    }

    /// A date in both calendars where they differ (Buddhist Era for Thai).
    pub fn date(&self, iso: &str) -> String {
        let (x, y) = (self.a.date(iso), self.b.date(iso));
        if x == y { x } else { format!("{x} · {y}") }
    }
}

#[derive(Template)]
#[template(path = "handover_record.html")]
pub struct RecordPage {
    pub both: Both,
    /// The viewer's language, for what only the screen shows.
    pub w: Words,
    pub lang: &'static str,
    pub id: String,
    pub reference: String,
    pub names: Vec<(String, String)>,
    pub birth_date: String,
    pub gender: String,
    pub travel_document: String,
    pub date: String,
    pub time: String,
    pub crossing: String,
    pub host_escorts: String,
    pub reception_team: String,
    pub transit_centre: String,
    pub form_number: String,
    pub handed_over: bool,
    pub host_country: String,
    pub home_country: String,
    pub printed_by: String,
    pub printed_at: String,
    pub qr: String,
}

fn lang_of(country: &str) -> Lang {
    match country {
        "TH" => Lang::Th,
        "LA" => Lang::Lo,
        _ => Lang::En,
    }
}

fn text(v: &Value, path: &[&str]) -> String {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_str().unwrap_or_default().to_owned()
}

/// The country of `node_id`: ours, or a registered peer's.
async fn country_of(state: &DeskState, node_id: &str) -> Result<String, AppError> {
    if node_id == state.node.config.node_id.as_str() {
        return Ok(state.node.config.country.as_str().to_owned());
    }
    Ok(peers::list(&state.node)
        .await?
        .into_iter()
        .find(|p| p.node_id == node_id)
        .map(|p| p.country)
        .unwrap_or_default())
}

/// GET /cases/{id}/handover-record
async fn record(State(state): State<DeskState>, page: Page, Path(id): Path<String>) -> Response {
    let w = page.visitor.words;
    if let Err(r) = allowed(&page, Action::ReadSealed) {
        return r;
    }
    let Some(id) = case_uuid(&id) else {
        return refused(&w, StatusCode::NOT_FOUND, "error.not_found");
    };
    let printed = match handover::print(&state.node, &page.user.username, id).await {
        Ok(r) => r,
        Err(AppError::NotFound) => return refused(&w, StatusCode::NOT_FOUND, "error.not_found"),
        Err(AppError::Conflict(_)) => {
            return refused(&w, StatusCode::CONFLICT, "record.not_yet");
        }
        Err(e) => return unavailable(&w, e),
    };
    let (host_country, home_country) = match async {
        Ok::<_, AppError>((
            country_of(&state, &printed.host_node).await?,
            country_of(&state, &printed.home_node).await?,
        ))
    }
    .await
    {
        Ok(c) => c,
        Err(e) => return unavailable(&w, e),
    };
    let qr = match handover::qr_svg(&printed.token) {
        Ok(q) => q,
        Err(e) => return unavailable(&w, e),
    };
    let both = Both {
        a: Words::new(lang_of(&host_country)),
        b: Words::new(lang_of(&home_country)),
    };
    let c = &printed.content;
    let names = ["lo", "th", "latin"]
        .iter()
        .filter_map(|s| {
            let n = text(c, &["person", "names", s]);
            (!n.is_empty()).then(|| ((*s).to_owned(), n))
        })
        .collect();
    let birth = text(c, &["person", "birth_date", "date"]);
    let birth_date = if birth.is_empty() {
        String::new()
    } else if c["person"]["birth_date"]["estimated"].as_bool() == Some(true) {
        format!("{} ({})", both.date(&birth), both.l("record.estimated"))
    } else {
        both.date(&birth)
    };
    let handed_over = !c["handover"].is_null();
    let at = text(c, &["handover", "at"]);
    let time = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
        .map(|t| w.when(crate::domain::millis(t)))
        .unwrap_or_default();
    let crossing_code = if handed_over {
        text(c, &["handover", "crossing", "point"])
    } else {
        text(c, &["plan", "crossing", "point"])
    };
    let mut crossing = both.opt("crossing", &crossing_code);
    let other = text(c, &["plan", "crossing", "other"]);
    if !other.is_empty() {
        crossing = format!("{crossing}: {other}");
    }
    let host_escorts = if handed_over {
        text(c, &["handover", "escorts"])
    } else {
        text(c, &["plan", "escorts"])
    };
    let now = crate::app::oversight::now_ms();
    let t = RecordPage {
        w,
        lang: w.code(),
        id: printed.case_id.clone(),
        reference: printed.reference.clone(),
        names,
        birth_date,
        gender: both.opt("gender", &text(c, &["person", "gender"])),
        travel_document: text(c, &["plan", "travel_document"]),
        date: both.date(&text(c, &["plan", "date"])),
        time,
        crossing,
        host_escorts,
        reception_team: text(c, &["confirmation", "reception_team"]),
        transit_centre: text(c, &["confirmation", "transit_centre"]),
        form_number: text(c, &["handover", "record"]),
        handed_over,
        host_country,
        home_country,
        printed_by: state.node.config.name.clone(),
        printed_at: w.when(now),
        qr,
        both,
    };
    show(&page, StatusCode::OK, &t)
}

#[derive(Template)]
#[template(path = "verify_record.html")]
pub struct VerifyPage {
    pub c: Chrome,
    pub token: String,
    pub verdict: Option<Verdict>,
}

pub struct Verdict {
    pub genuine: bool,
    /// Why not, in the reader's language.
    pub reason: String,
    pub reference: String,
    pub crossing: String,
    pub date: String,
    pub stage: String,
    pub issuer: String,
    pub case_id: Option<String>,
}

/// GET /verify-record
async fn verify_form(page: Page) -> Response {
    if let Err(r) = allowed(&page, Action::ReadSealed) {
        return r;
    }
    let t = VerifyPage {
        c: chrome(&page, "/verify-record", "record.verify_title"),
        token: String::new(),
        verdict: None,
    };
    show(&page, StatusCode::OK, &t)
}

/// POST /verify-record: the verdict on a pasted or scanned token.
async fn verify(
    State(state): State<DeskState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let w = page.visitor.words;
    if let Err(r) = allowed(&page, Action::ReadSealed) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let token = first(&form, "token").to_owned();
    let checked = match handover::verify(&state.node, &page.user.username, &token).await {
        Ok(v) => v,
        Err(e) => return unavailable(&w, e),
    };
    let verdict = match checked {
        Ok(g) => Verdict {
            genuine: true,
            reason: String::new(),
            crossing: w.opt("crossing", &g.claims.crossing),
            date: w.date(&g.claims.date),
            stage: w.t(&format!("record.stage_{}", g.claims.stage)).to_owned(),
            issuer: g.claims.iss,
            reference: g.claims.reference,
            case_id: g.case_id,
        },
        Err(why) => Verdict {
            genuine: false,
            reason: w.t(&format!("record.refused.{}", why.code())).to_owned(),
            crossing: String::new(),
            date: String::new(),
            stage: String::new(),
            issuer: match &why {
                NotGenuine::UnknownIssuer(n) | NotGenuine::UnknownKey(n, _) => n.clone(),
                _ => String::new(),
            },
            reference: String::new(),
            case_id: None,
        },
    };
    let status = if verdict.genuine {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let t = VerifyPage {
        c: chrome(&page, "/verify-record", "record.verify_title"),
        // A token is not echoed back: the form is empty again.
        token: String::new(),
        verdict: Some(verdict),
    };
    show(&page, status, &t)
}
