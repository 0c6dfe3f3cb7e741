//! Who visits a page: the session cookie (the API's own token, renewed while the
//! user is active), the language, the CSRF token of every form, and the cookies a
//! response sets.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::desk::DeskState;
use crate::desk::auth::{SignedInUser, authenticate};
use crate::i18n::{Lang, Words};

pub const SESSION_COOKIE: &str = "mittaphap_session";
pub const LANG_COOKIE: &str = "mittaphap_lang";
pub const PRE_COOKIE: &str = "mittaphap_pre";
/// A page session is renewed when its token is older than this (seconds).
const RENEW_AFTER: i64 = 5 * 60;

/// A cookie's value from the request.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

pub fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/`, `Secure` over TLS.
pub fn set_cookie(name: &str, value: &str, secure: bool, clear: bool) -> Option<HeaderValue> {
    let mut c = cookie::Cookie::build((name.to_owned(), value.to_owned()))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .secure(secure);
    if clear {
        c = c.max_age(cookie::time::Duration::ZERO);
    }
    HeaderValue::from_str(&c.build().to_string()).ok()
}

/// The language of a request: `?lang=`, else the user's choice, else the cookie,
/// else the browser's Accept-Language, else English.
fn language(parts: &Parts, user: Option<&SignedInUser>) -> (Lang, Option<Lang>) {
    let asked = parts
        .uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("lang="))
        .and_then(Lang::parse);
    let chosen = user.and_then(|u| u.lang.as_deref()).and_then(Lang::parse);
    let cookie = cookie(parts, LANG_COOKIE).and_then(|c| Lang::parse(&c));
    let browser = parts
        .headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language);
    let lang = asked.or(chosen).or(cookie).or(browser).unwrap_or(Lang::En);
    (lang, asked)
}

/// Whoever asks for a page, signed in or not, and in which language.
pub struct Visitor {
    pub user: Option<SignedInUser>,
    pub words: Words,
    /// Set when `?lang=` asked to switch: the cookie (and the user's choice) follow.
    pub switched: Option<Lang>,
    /// A renewed session token to set, when the old one was getting on.
    pub renewed: Option<String>,
    pub secure: bool,
}

impl FromRequestParts<DeskState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DeskState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(parts, SESSION_COOKIE);
        let user = match &token {
            Some(t) => authenticate(state, t).await.ok(),
            None => None,
        };
        let (lang, switched) = language(parts, user.as_ref());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let renewed = user
            .as_ref()
            .filter(|u| now - u.token_issued > RENEW_AFTER)
            .and_then(|u| {
                state
                    .tokens
                    .issue(&u.username, u.role, u.epoch, Some(&u.session_id), now)
                    .ok()
            })
            .map(|(t, _)| t);
        if let (Some(user), Some(lang)) = (&user, switched) {
            let _ = crate::app::accounts::set_lang(&state.node.store, &user.username, lang.code())
                .await;
        }
        Ok(Self {
            user,
            words: Words::new(lang),
            switched,
            renewed,
            secure: state.secure_cookies,
        })
    }
}

/// A visitor who must be signed in: anyone else is sent to the sign-in page.
pub struct Page {
    pub user: SignedInUser,
    pub visitor: Visitor,
    pub csrf: String,
    /// For whoever works cases: what waits for them, shown in the header.
    pub counts: Option<Counts>,
}

/// What waits, in the header of every page.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Cases I hold whose return has not ended.
    pub mine: usize,
    /// Cases in the team's queue, taken by nobody.
    pub team: usize,
    /// Of mine, those with something overdue.
    pub overdue: usize,
    /// For a supervisor: steps awaiting approval.
    pub approvals: Option<i64>,
    /// For a supervisor, with `[workflow] approve_accounts`: accounts waiting
    /// for a confirmation.
    pub accounts: Option<usize>,
}

/// The counts for `username` (none when the database does not answer: a page
/// still shows).
async fn counts(
    state: &DeskState,
    username: &str,
    role: crate::domain::policy::Role,
) -> Option<Counts> {
    use crate::app::case_view::{Held, Which, list};
    // One read of the case list: mine and the team's queue are both in it.
    let open: Vec<_> = list(&state.node, None, None, Which::All, Held::Any)
        .await
        .ok()?
        .into_iter()
        .filter(|c| !c.status.state.is_end())
        .collect();
    let held = |c: &&crate::app::case_view::Summary| c.owner.as_deref() == Some(username);
    let mine = open.iter().filter(held).count();
    let overdue = open
        .iter()
        .filter(held)
        .filter(|c| !c.overdue.is_empty())
        .count();
    let team = open.iter().filter(|c| c.owner.is_none()).count();
    let approvals = if crate::domain::policy::allows(role, crate::domain::policy::Action::Assign) {
        crate::app::approval::waiting(&state.node).await.ok()
    } else {
        None
    };
    let confirms =
        crate::domain::policy::allows(role, crate::domain::policy::Action::ConfirmAccounts);
    let accounts = if confirms && state.node.config.workflow.approve_accounts {
        crate::app::accounts::awaiting_confirmation(&state.node.store)
            .await
            .ok()
            .map(|a| a.len())
    } else {
        None
    };
    Some(Counts {
        mine,
        team,
        overdue,
        approvals,
        accounts,
    })
}

impl FromRequestParts<DeskState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &DeskState) -> Result<Self, Response> {
        let Ok(mut visitor) = Visitor::from_request_parts(parts, state).await;
        let Some(user) = visitor.user.take() else {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|p| p.starts_with('/') && !p.starts_with("//"))
                .unwrap_or("/");
            let to = format!(
                "/sign-in?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return Err(Redirect::to(&to).into_response());
        };
        let csrf = csrf_token(state, &user.username, &user.session_id);
        let counts =
            if crate::domain::policy::allows(user.role, crate::domain::policy::Action::Move) {
                counts(state, &user.username, user.role).await
            } else {
                None
            };
        Ok(Self {
            user,
            visitor,
            csrf,
            counts,
        })
    }
}

impl OptionalFromRequestParts<DeskState> for Page {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DeskState,
    ) -> Result<Option<Self>, Response> {
        Ok(
            <Page as FromRequestParts<DeskState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

fn csrf_key(state: &DeskState) -> String {
    format!("mittaphap csrf\n{}", state.node.session_key.pkcs8_pem())
}

/// The CSRF token of a user's forms: an HMAC of the user and their token epoch.
pub fn csrf_token(state: &DeskState, username: &str, session: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(csrf_key(state).as_bytes()) else {
        return String::new();
    };
    // Bound to the sign-in: a new one after signing in again.
    mac.update(format!("{username}\n{session}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl Page {
    /// Refuses a form whose CSRF token is missing or wrong (403, nothing done).
    // The error is the page to answer with, made at most once per request.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, state: &DeskState, posted: &str) -> Result<(), Response> {
        let ok = hex::decode(posted).ok().is_some_and(|bytes| {
            Hmac::<Sha256>::new_from_slice(csrf_key(state).as_bytes())
                .map(|mut mac| {
                    mac.update(
                        format!("{}\n{}", self.user.username, self.user.session_id).as_bytes(),
                    );
                    mac.verify_slice(&bytes).is_ok()
                })
                .unwrap_or(false)
        });
        if ok {
            Ok(())
        } else {
            Err(super::render::refused(
                &self.visitor.words,
                StatusCode::FORBIDDEN,
                "error.csrf",
            ))
        }
    }
}

/// Adds the cookies a visit calls for: a renewed session, a switched language.
pub fn with_cookies(visitor: &Visitor, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Some(token) = &visitor.renewed
        && let Some(v) = set_cookie(SESSION_COOKIE, token, visitor.secure, false)
    {
        headers.append(SET_COOKIE, v);
    }
    if let Some(lang) = visitor.switched
        && let Some(v) = set_cookie(LANG_COOKIE, lang.code(), visitor.secure, false)
    {
        headers.append(SET_COOKIE, v);
    }
    response
}

/// The cookie naming a form kept while its user signs in again.
pub const HELD_COOKIE: &str = "mittaphap_held";

/// Where a kept form is given back: the referral forms.
fn keeps_forms(path: &str) -> bool {
    path == "/cases/new"
        || path
            .strip_prefix("/cases/")
            .and_then(|p| p.strip_suffix("/edit"))
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
}

/// A referral form posted after its session ended is not lost: its fields are
/// sealed and kept for the user whose session it was, and the browser is sent to
/// sign in, then back to the form, filled as it was.
pub async fn hold_forms_across_sign_in(
    axum::extract::State(state): axum::extract::State<DeskState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let is_form = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if req.method() != axum::http::Method::POST || !is_form || !keeps_forms(&path) {
        return next.run(req).await;
    }
    let Some(token) = cookie_in(req.headers(), SESSION_COOKIE) else {
        return next.run(req).await;
    };
    if authenticate(&state, &token).await.is_ok() {
        return next.run(req).await;
    }
    let Some(username) = state.tokens.owner(&token) else {
        return next.run(req).await;
    };
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 1 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
        .filter(|(k, _)| k != "csrf")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let id = match crate::app::held::hold(&state.node, &username, &path, &pairs, now).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "a form could not be kept across sign-in");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let to = format!(
        "/sign-in?next={}",
        url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
    );
    let mut response = Redirect::to(&to).into_response();
    if let Some(v) = set_cookie(HELD_COOKIE, &id, state.secure_cookies, false) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// The form kept for this user at `path`, if the browser holds one: its fields,
/// given back once.
pub async fn held_form(
    state: &DeskState,
    headers: &axum::http::HeaderMap,
    username: &str,
    path: &str,
) -> Option<Vec<(String, String)>> {
    let id = cookie_in(headers, HELD_COOKIE)?;
    match crate::app::held::take(&state.node, username, &id).await {
        Ok(Some((held_at, pairs))) if held_at == path => Some(pairs),
        _ => None,
    }
}
