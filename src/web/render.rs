//! The typed templates (askama, checked at compile time) and what they show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

use super::forms::{Field, Input};
use crate::desk::auth::SignedInUser;
use crate::domain::policy::{Action, allows};
use crate::i18n::Words;

/// What every page shows around its content.
pub struct Chrome {
    pub w: Words,
    pub user: Option<UserView>,
    pub csrf: String,
    /// This page's path, for the language links.
    pub here: String,
    pub title: String,
    /// What waits for a user who works cases.
    pub counts: Option<super::visitor::Counts>,
}

pub struct UserView {
    pub name: String,
    pub role: String,
    pub works_cases: bool,
    pub legal_aid: bool,
    pub admin: bool,
    pub auditor: bool,
}

impl UserView {
    pub fn of(u: &SignedInUser) -> Self {
        Self {
            name: u.username.clone(),
            role: u.role.as_str().to_owned(),
            works_cases: allows(u.role, Action::Move),
            legal_aid: allows(u.role, Action::ReadProsecution),
            admin: allows(u.role, Action::ManageUsers),
            auditor: allows(u.role, Action::ReadAudit),
        }
    }
}

/// A form field as a page shows it.
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// text, area, date, datetime, number, bool, select, multi
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<OptView>,
    pub error: Option<String>,
    /// Must be filled (marked before the user submits).
    pub required: bool,
}

pub struct OptView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Which vocabulary a select's values come from (for their translated names).
fn vocabulary(path: &str) -> &'static str {
    match path {
        "exploitation.types" => return "exploitation",
        "exploitation.means_of_control" => return "means",
        _ => {}
    }
    match path.rsplit('.').next().unwrap_or(path) {
        "gender" => "gender",
        "point" => "crossing",
        "placement" => "placement",
        "outcome" => "closure",
        "reason" => "withdrawal",
        "arrangement" => "arrangement",
        "milestone" => "milestone",
        "purpose" => "purpose",
        "language" => "language",
        "province" => "province",
        _ => "code",
    }
}

/// The views of `fields`, showing `values` (a body) and the error of one field.
pub fn field_views(
    w: &Words,
    fields: &[Field],
    values: &Value,
    errors: &[(String, String)],
    specs: &[crate::domain::fields::Spec],
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| {
            let v = super::forms::value_at(values, f.path);
            let text = match &v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let listed: Vec<String> = match &v {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let vocab = vocabulary(f.path);
            let options = |values: &[&str], multi: bool| {
                values
                    .iter()
                    .map(|o| OptView {
                        value: (*o).to_owned(),
                        label: w.opt(vocab, o),
                        selected: if multi {
                            listed.iter().any(|l| l == o)
                        } else {
                            text == *o
                        },
                    })
                    .collect()
            };
            let (kind, options) = match f.input {
                Input::Text => ("text", Vec::new()),
                Input::Area => ("area", Vec::new()),
                Input::Date => ("date", Vec::new()),
                Input::DateTime => ("datetime", Vec::new()),
                Input::Number => ("number", Vec::new()),
                Input::Bool | Input::Check => ("bool", Vec::new()),
                Input::Select(values) => ("select", options(values, false)),
                Input::Multi(values) => ("multi", options(values, true)),
                Input::List => ("text", Vec::new()),
            };
            let value = match f.input {
                Input::List => listed.join(", "),
                Input::DateTime => text.chars().take(16).collect(),
                _ => text,
            };
            FieldView {
                name: f.path.to_owned(),
                label: field_label(w, f),
                kind,
                checked: v == Value::Bool(true),
                value,
                options,
                error: errors
                    .iter()
                    .find(|(field, _)| super::forms::form_path(field) == f.path)
                    .map(|(_, m)| m.to_owned()),
                required: crate::domain::fields::is_required(specs, f.path),
            }
        })
        .collect()
}

/// A field's label: `field.<path>`, the second item of a list as the first's
/// label with "(2)"; a date states its calendar.
fn field_label(w: &Words, f: &Field) -> String {
    let mut index = None;
    let zeroed: Vec<&str> = f
        .path
        .split('.')
        .map(|s| match s.parse::<usize>() {
            Ok(i) => {
                index = Some(i);
                "0"
            }
            Err(_) => s,
        })
        .collect();
    let mut label = w.t(&format!("field.{}", zeroed.join("."))).to_owned();
    if let Some(i) = index.filter(|i| *i > 0) {
        label = format!("{label} ({})", i + 1);
    }
    if matches!(f.input, Input::Date | Input::DateTime) {
        label = format!("{label} {}", w.t("field.calendar"));
    }
    label
}

/// Renders a template as a page, or a plain 500 if a template fails.
pub fn page<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub message: String,
}

/// A page that says no (403, 404, …) in the visitor's language.
pub fn refused(w: &Words, status: StatusCode, key: &str) -> Response {
    let c = Chrome {
        w: *w,
        user: None,
        csrf: String::new(),
        here: "/".into(),
        title: w.t("app.name").to_owned(),
        counts: None,
    };
    page(
        status,
        &MessagePage {
            message: w.t(key).to_owned(),
            c,
        },
    )
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub c: Chrome,
    pub pre: String,
    pub next: String,
    pub username: String,
    pub error: Option<String>,
}

pub struct CaseRowView {
    pub id: String,
    pub short: String,
    pub state: String,
    pub side: String,
    pub awaiting_us: bool,
    pub testimony: bool,
    pub gender: String,
    pub age: String,
    pub province: String,
    pub updated: String,
    /// Who holds it; empty: the team's queue.
    pub owner: String,
    /// Something is overdue on it.
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "cases.html")]
pub struct CasesPage {
    pub c: Chrome,
    pub rows: Vec<CaseRowView>,
    pub filter: String,
    pub states: Vec<OptView>,
    pub inbox: bool,
    /// What was searched for.
    pub q: String,
}

pub struct EventView {
    pub position: i64,
    pub side: String,
    pub ours: bool,
    pub kind: String,
    pub outcome: String,
    pub state_after: String,
    pub at: String,
    pub delivery: String,
    /// What the move said, labelled and translated.
    pub content: ContentView,
}

/// A message body on a page: labelled values, and the documents it names (their
/// id when this node holds them, and their name).
#[derive(Default)]
pub struct ContentView {
    pub rows: Vec<(String, String)>,
    pub files: Vec<(Option<String>, String)>,
}

pub struct AttachmentView {
    pub id: String,
    pub name: String,
    pub media_type: String,
    pub size: String,
}

pub struct MoveForm {
    pub kind: String,
    pub label: String,
    pub fields: Vec<FieldView>,
    pub open: bool,
    /// This kind of move can carry the case's documents to the other side.
    pub carries: bool,
}

pub struct GrantView {
    pub org: String,
    pub standing: bool,
    pub by: String,
    pub at: String,
}

pub struct TrackView {
    pub current: String,
    pub milestones: Vec<(String, String)>,
    pub next_hearing: String,
    pub court: String,
    pub charges: String,
    pub claimed: String,
    pub awarded: String,
    pub paid: String,
    pub turn: String,
}

impl TrackView {
    /// The prosecution track in the reader's language.
    pub fn of(w: &Words, t: &crate::domain::prosecution::Track) -> Self {
        use crate::domain::prosecution::milestone_name;
        let milestone = |m| w.opt("milestone", &milestone_name(m));
        let baht = |v: Option<u64>| v.map(|n| format!("฿{n}")).unwrap_or_else(|| "—".into());
        Self {
            current: t.current.map(milestone).unwrap_or_default(),
            milestones: t
                .milestones
                .iter()
                .map(|m| (milestone(m.milestone), w.date(&m.date)))
                .collect(),
            next_hearing: t
                .next_hearing
                .as_deref()
                .map(|d| w.date(d))
                .unwrap_or_default(),
            court: [t.court.clone(), t.court_case_number.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            charges: t.charges.join(", "),
            claimed: baht(t.compensation.claimed_thb),
            awarded: baht(t.compensation.awarded_thb),
            paid: baht(t.compensation.paid_thb),
            turn: w.opt("side", t.turn),
        }
    }
}

#[derive(Template)]
#[template(path = "case.html")]
pub struct CasePage {
    pub c: Chrome,
    pub id: String,
    pub state: String,
    pub side: String,
    pub peer: String,
    pub turn: String,
    pub awaiting_us: bool,
    pub testimony: bool,
    pub draft: bool,
    pub purged: bool,
    /// The whole referral, from the opened file.
    pub referral: ContentView,
    /// The host may correct the referral it sent.
    pub correctable: bool,
    /// The return is confirmed: the handover record can be printed.
    pub handover_record: bool,
    /// Who holds the case here; the team's queue when nobody.
    pub owner: String,
    /// For a supervisor: whom the case can be given to.
    pub assignees: Vec<OptView>,
    /// An officer may take the case: nobody holds it.
    pub can_take: bool,
    /// The signed-in user's name (to take the case).
    pub me: String,
    /// The step that awaits a supervisor's approval, and who made it.
    pub pending: Option<String>,
    /// What is overdue, in the reader's words.
    pub overdue: Vec<String>,
    /// A supervisor other than its author may approve or return it.
    pub can_approve: bool,
    /// Where the return stands now: the latest of each kind of move.
    pub standing: Vec<EventView>,
    pub consents: Vec<String>,
    pub attachments: Vec<AttachmentView>,
    pub timeline: Vec<EventView>,
    pub moves: Vec<MoveForm>,
    pub consent_form: Vec<FieldView>,
    pub grants: Vec<GrantView>,
    pub track: Option<TrackView>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "new_case.html")]
pub struct NewCasePage {
    pub c: Chrome,
    /// `/cases/new`, or `/cases/{id}/edit` for a draft.
    pub action: String,
    pub peers: Vec<OptView>,
    pub fields: Vec<FieldView>,
    pub error: Option<String>,
}

pub struct BoardView {
    pub reference: String,
    pub state: String,
    pub track: TrackView,
}

#[derive(Template)]
#[template(path = "board.html")]
pub struct BoardPage {
    pub c: Chrome,
    pub rows: Vec<BoardView>,
}

pub struct UserRowView {
    pub name: String,
    pub role: String,
    pub org: String,
    pub email: String,
    pub disabled: bool,
    /// Waits for a supervisor's confirmation (`[workflow] approve_accounts`).
    pub awaiting: bool,
}

pub struct PeerView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub fingerprint: String,
}

pub struct OutboxView {
    pub peer: String,
    pub queued: i64,
    pub oldest: String,
    pub rejected: i64,
    pub delivered: i64,
    pub attempts: i64,
    pub error: String,
    /// The technical text of the error, for whoever fixes it.
    pub error_detail: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    pub c: Chrome,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub accounts: Vec<WaitingAccount>,
}

/// An account waiting for a supervisor's confirmation.
pub struct WaitingAccount {
    pub name: String,
    pub role: String,
    pub org: String,
    pub since: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub c: Chrome,
    pub users: Vec<UserRowView>,
    pub peers: Vec<PeerView>,
    pub outbox: Vec<OutboxView>,
    pub roles: Vec<OptView>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// When the node's TLS certificate expires, as the reader writes dates.
    pub cert_until: String,
    /// Days left on it.
    pub cert_days: i64,
    /// Within 30 days: shown as a warning.
    pub cert_soon: bool,
}

pub struct AuditView {
    pub position: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub case: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub rows: Vec<AuditView>,
    pub case: String,
    pub actor: String,
    /// Every action, by its name in the reader's language; the chosen one selected.
    pub actions: Vec<OptView>,
    pub since: String,
    pub until: String,
    /// The address of the next page, when there is one.
    pub next: Option<String>,
    /// Showing a page after the first.
    pub paged: bool,
    /// Accounts made or enabled that read case content, ever.
    pub case_access: i64,
}
