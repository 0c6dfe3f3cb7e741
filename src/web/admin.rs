//! The operator's and the auditor's pages: accounts, peers with fingerprints,
//! outbox health; the audit log.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::forms::{first, posted};
use super::frame::{allowed, chrome, show, unavailable};
use super::render::*;
use super::visitor::{Page, with_cookies};
use crate::app::oversight::{self, AuditFilter};
use crate::app::peers;
use crate::desk::DeskState;
use crate::desk::auth::{Action, Role};
use crate::i18n::Words;

pub fn router() -> Router<DeskState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/users", post(add_user))
        .route("/admin/users/{username}/{switch}", post(switch_user))
        .route("/audit", get(audit))
        .route("/accounts", get(accounts_waiting))
        .route("/accounts/{username}/confirm", post(confirm_account))
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn admin_page(
    state: &DeskState,
    page: &Page,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let w = page.visitor.words;
    let loaded = async {
        let users = crate::app::accounts::list(&state.node.store).await?;
        let peers = peers::list(&state.node).await?;
        let out = oversight::outbox_health(&state.node).await?;
        Ok::<_, crate::app::AppError>((users, peers, out))
    }
    .await;
    let (users, peers, outbox) = match loaded {
        Ok(l) => l,
        Err(e) => return unavailable(&w, e),
    };
    let now = oversight::now_ms();
    let left = state.node.tls.not_after - time::OffsetDateTime::now_utc();
    let t = AdminPage {
        cert_until: w.when(crate::domain::millis(state.node.tls.not_after)),
        cert_days: left.whole_days(),
        cert_soon: left < crate::node::CERT_WARNING,
        c: chrome(page, "/admin", "admin.title"),
        users: users
            .into_iter()
            .map(|u| UserRowView {
                name: u.username,
                role: u.role,
                org: u.org.unwrap_or_default(),
                email: u.email.unwrap_or_default(),
                disabled: u.disabled != 0,
                awaiting: crate::app::accounts::is_awaiting(u.disabled),
            })
            .collect(),
        peers: peers
            .into_iter()
            .map(|p| PeerView {
                fingerprint: crate::crypto::hash::group_hex(&p.fingerprint),
                id: p.node_id,
                name: p.name,
                url: p.federation_url,
            })
            .collect(),
        outbox: outbox
            .into_iter()
            .map(|(s, error)| OutboxView {
                peer: s.peer_id,
                queued: s.queued,
                oldest: s
                    .oldest_queued_at
                    .map(|t| format!("{} s", (now - t).max(0) / 1000))
                    .unwrap_or_else(|| "—".into()),
                rejected: s.rejected,
                delivered: s.delivered,
                attempts: s.max_attempts.unwrap_or(0),
                error: error
                    .as_deref()
                    .map(|e| delivery_problem(&w, e))
                    .unwrap_or_default(),
                error_detail: error.unwrap_or_default(),
            })
            .collect(),
        roles: Role::ALL
            .iter()
            .map(|r| OptView {
                value: r.as_str().to_owned(),
                label: w.opt("role", r.as_str()),
                selected: false,
            })
            .collect(),
        notice,
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    show(page, status, &t)
}

/// GET /admin: users, peers with fingerprints, outbox health.
async fn admin(
    State(state): State<DeskState>,
    page: Page,
    Query(q): Query<NoticeQuery>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ManageUsers) {
        return r;
    }
    let notice = q
        .notice
        .and_then(|n| page.visitor.words.known("notice", &n));
    admin_page(&state, &page, notice, None).await
}

/// POST /admin/users: a new account.
async fn add_user(
    State(state): State<DeskState>,
    page: Page,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ManageUsers) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let org = Some(first(&form, "org")).filter(|o| !o.is_empty());
    let new = crate::app::accounts::NewUser {
        username: first(&form, "username"),
        role: first(&form, "role"),
        org,
        password: form
            .get("password")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default(),
        email: Some(first(&form, "email")).filter(|e| !e.is_empty()),
        needs_confirmation: state.node.config.workflow.approve_accounts,
    };
    let now = time::OffsetDateTime::now_utc();
    match crate::app::accounts::add(&state.node.store, &page.user.username, new, now).await {
        Ok(_) => with_cookies(
            &page.visitor,
            Redirect::to("/admin?notice=user_added").into_response(),
        ),
        Err(e) => admin_page(&state, &page, None, Some(e.to_string())).await,
    }
}

/// POST /admin/users/{username}/disable|enable|email
async fn switch_user(
    State(state): State<DeskState>,
    page: Page,
    Path((username, switch)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ManageUsers) {
        return r;
    }
    let form = posted(pairs);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let now = time::OffsetDateTime::now_utc();
    if switch == "email" {
        let email = Some(first(&form, "email")).filter(|e| !e.is_empty());
        return match crate::app::accounts::set_email(
            &state.node.store,
            &page.user.username,
            &username,
            email,
            now,
        )
        .await
        {
            Ok(()) => with_cookies(
                &page.visitor,
                Redirect::to("/admin?notice=email_saved").into_response(),
            ),
            Err(e) => admin_page(&state, &page, None, Some(e.to_string())).await,
        };
    }
    let disable = match switch.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return refused(
                &page.visitor.words,
                StatusCode::NOT_FOUND,
                "error.not_found",
            );
        }
    };
    if disable && username == page.user.username {
        let message = page.visitor.words.t("admin.not_yourself").to_owned();
        return admin_page(&state, &page, None, Some(message)).await;
    }
    match crate::app::accounts::set_disabled(
        &state.node.store,
        &page.user.username,
        &username,
        disable,
        state.node.config.workflow.approve_accounts,
        now,
    )
    .await
    {
        Ok(()) => with_cookies(
            &page.visitor,
            Redirect::to(if disable {
                "/admin?notice=user_disabled"
            } else {
                "/admin?notice=user_enabled"
            })
            .into_response(),
        ),
        Err(e) => admin_page(&state, &page, None, Some(e.to_string())).await,
    }
}

/// GET /accounts: for supervisors, the accounts an admin made or enabled that
/// read case content and wait for a confirmation.
async fn accounts_waiting(
    State(state): State<DeskState>,
    page: Page,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let notice = q
        .notice
        .and_then(|n| page.visitor.words.known("notice", &n));
    accounts_page(&state, &page, notice, None).await
}

async fn accounts_page(
    state: &DeskState,
    page: &Page,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    if let Err(r) = allowed(page, Action::ConfirmAccounts) {
        return r;
    }
    let w = page.visitor.words;
    let waiting = match crate::app::accounts::awaiting_confirmation(&state.node.store).await {
        Ok(w) => w,
        Err(e) => return unavailable(&w, e),
    };
    let t = AccountsPage {
        c: chrome(page, "/accounts", "accounts.title"),
        notice,
        error,
        accounts: waiting
            .into_iter()
            .map(|u| WaitingAccount {
                name: u.username,
                role: u.role,
                org: u.org.unwrap_or_default(),
                since: w.when(u.created_at),
            })
            .collect(),
    };
    show(page, StatusCode::OK, &t)
}

/// POST /accounts/{username}/confirm: the account may sign in from now on.
async fn confirm_account(
    State(state): State<DeskState>,
    page: Page,
    Path(username): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ConfirmAccounts) {
        return r;
    }
    let form = posted(form);
    if let Err(r) = page.check_csrf(&state, first(&form, "csrf")) {
        return r;
    }
    let now = time::OffsetDateTime::now_utc();
    match crate::app::accounts::confirm(&state.node.store, &page.user.username, &username, now)
        .await
    {
        Ok(()) => with_cookies(
            &page.visitor,
            Redirect::to("/accounts?notice=account_confirmed").into_response(),
        ),
        Err(e) => {
            let message = match e {
                crate::app::accounts::AccountError::NotFound
                | crate::app::accounts::AccountError::Conflict(_) => {
                    page.visitor.words.t("accounts.not_waiting").to_owned()
                }
                e => e.to_string(),
            };
            accounts_page(&state, &page, None, Some(message)).await
        }
    }
}

/// A delivery error as an operator reads it in their language: what kind of
/// problem it is (the technical text stays beside it for whoever fixes it).
fn delivery_problem(w: &Words, raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let key = if let Some(reason) = raw.strip_prefix("rejected: ") {
        return format!("{} ({reason})", w.t("outbox.err.rejected"));
    } else if lower.contains("peer answered") {
        "outbox.err.peer"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "outbox.err.timeout"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "outbox.err.tls"
    } else if lower.contains("connect")
        || lower.contains("refused")
        || lower.contains("dns")
        || lower.contains("resolve")
    {
        "outbox.err.unreachable"
    } else {
        "outbox.err.other"
    };
    w.t(key).to_owned()
}

#[derive(Deserialize)]
struct AuditQuery {
    case: Option<String>,
    user: Option<String>,
    action: Option<String>,
    /// `YYYY-MM-DD`, the first day shown.
    since: Option<String>,
    /// `YYYY-MM-DD`, the last day shown.
    until: Option<String>,
    /// Entries after this position (the next page).
    after: Option<i64>,
}

/// Entries on one page of the audit log.
const AUDIT_PAGE: i64 = 100;

/// The actions the audit log records, for the filter and its names.
const AUDIT_ACTIONS: &[&str] = &[
    "case.create",
    "case.edit",
    "case.consent",
    "case.attach",
    "case.move",
    "case.receive",
    "case.read",
    "case.grant",
    "case.revoke",
    "case.purge",
    "prosecution.read",
    "session.sign_in",
    "session.sign_out",
    "user.add",
    "user.disable",
    "user.enable",
    "user.password",
    "peer.add",
    "case.assign",
    "case.search",
    "case.approval_asked",
    "case.approve",
    "case.return",
    "case.handover_record",
    "case.handover_verify",
    "user.email",
    crate::app::accounts::CASE_ACCESS,
    "user.confirm",
];

/// A day's first (or, with `end`, last) millisecond in Indochina Time.
fn day_bound(day: &str, end: bool) -> Option<i64> {
    let date = crate::domain::vocab::Date::parse(day).ok()?.inner();
    let time = if end {
        time::Time::from_hms_milli(23, 59, 59, 999).ok()?
    } else {
        time::Time::MIDNIGHT
    };
    let at = time::PrimitiveDateTime::new(date, time).assume_offset(time::macros::offset!(+7));
    Some(crate::domain::millis(at))
}

/// GET /audit: the audit log, newest last, filtered.
async fn audit(
    State(state): State<DeskState>,
    page: Page,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Err(r) = allowed(&page, Action::ReadAudit) {
        return r;
    }
    let w = page.visitor.words;
    let filter = AuditFilter {
        case_id: q.case.clone().unwrap_or_default(),
        actor: q.user.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        since: q.since.as_deref().and_then(|d| day_bound(d, false)),
        until: q.until.as_deref().and_then(|d| day_bound(d, true)),
        after: q.after.unwrap_or(0).max(0),
        limit: AUDIT_PAGE,
    };
    let rows = match oversight::audit_log(&state.node, &filter).await {
        Ok(r) => r,
        Err(e) => return unavailable(&w, e),
    };
    let case_access = match oversight::case_access_grants(&state.node).await {
        Ok(n) => n,
        Err(e) => return unavailable(&w, e),
    };
    // The next page starts after the last entry shown, with the same filter.
    let next = (rows.len() as i64 == AUDIT_PAGE)
        .then(|| rows.last().map(|r| r.position))
        .flatten()
        .map(|after| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("case", &q.case),
                ("user", &q.user),
                ("action", &q.action),
                ("since", &q.since),
                ("until", &q.until),
            ] {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    query.append_pair(k, v);
                }
            }
            query.append_pair("after", &after.to_string());
            format!("/audit?{}", query.finish())
        });
    let chosen = q.action.clone().unwrap_or_default();
    let t = AuditPage {
        c: chrome(&page, "/audit", "audit.title"),
        rows: rows
            .into_iter()
            .map(|r| AuditView {
                position: r.position,
                at: w.when(r.at),
                actor: r.actor,
                action: w.opt("audit_action", &r.action),
                case: r.case_id.unwrap_or_default(),
                detail: r.detail,
            })
            .collect(),
        case: q.case.unwrap_or_default(),
        actor: q.user.unwrap_or_default(),
        actions: AUDIT_ACTIONS
            .iter()
            .map(|a| OptView {
                value: (*a).to_owned(),
                label: w.opt("audit_action", a),
                selected: *a == chosen,
            })
            .collect(),
        since: q.since.unwrap_or_default(),
        until: q.until.unwrap_or_default(),
        next,
        paged: q.after.is_some(),
        case_access,
    };
    show(&page, StatusCode::OK, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn delivery_errors_read_in_the_operators_language() {
        let lo = Words::new(Lang::Lo);
        assert_eq!(
            delivery_problem(&lo, "connect: error sending request: Connection refused"),
            lo.t("outbox.err.unreachable")
        );
        let th = Words::new(Lang::Th);
        assert!(delivery_problem(&th, "rejected: seq_conflict").ends_with("(seq_conflict)"));
        assert_eq!(
            delivery_problem(&th, "peer answered 503"),
            th.t("outbox.err.peer")
        );
        assert_ne!(th.t("outbox.err.peer"), "outbox.err.peer");
    }
}
