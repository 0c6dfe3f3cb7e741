//! Who is at the desk: EdDSA session tokens (15 minutes, revocable), issued once
//! the core (`app::session`) has checked the password, and the `SignedInUser`
//! extractor every handler takes, which checks the policy table
//! (`domain::policy`) for each action. The API and the pages share all of it.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use super::{ApiError, DeskState};
use crate::app::session;
use crate::crypto::keys::SigningKey;
pub use crate::domain::policy::{Action, Role};

/// How long a session token is valid.
pub const TOKEN_SECONDS: i64 = 15 * 60;
pub const TOKEN_TYP: &str = "mittaphap-session+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenClaims {
    iss: String,
    aud: String,
    sub: String,
    role: Role,
    /// The user's token epoch when issued: a password change or a disable bumps it.
    ep: i64,
    jti: String,
    /// The sign-in this token continues: renewals keep it, signing out ends every
    /// token of it. (Tokens made before it existed carry none.)
    #[serde(default)]
    sid: String,
    iat: i64,
    exp: i64,
}

/// The key that signs session tokens (its own, not the federation key).
pub struct Tokens {
    key: SigningKey,
    node_id: String,
}

impl Tokens {
    pub fn new(key: SigningKey, node_id: String) -> Self {
        Self { key, node_id }
    }

    /// A token for `username` in its token epoch, continuing sign-in `session`
    /// (a new one when `None`), and when it expires (Unix seconds).
    pub fn issue(
        &self,
        username: &str,
        role: Role,
        epoch: i64,
        session: Option<&str>,
        now: i64,
    ) -> Result<(String, i64), ApiError> {
        let claims = TokenClaims {
            iss: self.node_id.clone(),
            aud: self.node_id.clone(),
            sub: username.to_owned(),
            role,
            ep: epoch,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            iat: now,
            exp: now + TOKEN_SECONDS,
        };
        let token = crate::protocol::jws::sign(TOKEN_TYP, &claims, &self.key)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok((token, claims.exp))
    }

    /// The user a token of ours was issued to, even if it has expired (a form
    /// posted after the session ended is kept for them, and only them).
    pub fn owner(&self, token: &str) -> Option<String> {
        self.check(token, i64::MIN).map(|c| c.sub)
    }

    fn check(&self, token: &str, now: i64) -> Option<TokenClaims> {
        let key = jsonwebtoken::DecodingKey::from_ed_der(self.key.public_raw());
        let kid = self.key.kid();
        let claims: TokenClaims =
            crate::protocol::jws::verify(token, TOKEN_TYP, |k| (k == kid).then(|| key.clone()))
                .ok()?;
        (claims.aud == self.node_id && claims.iss == self.node_id && claims.exp > now)
            .then_some(claims)
    }
}

/// A user with a valid token (not expired, not signed out, from the account's
/// current epoch), whose account exists and is enabled.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub username: String,
    pub role: Role,
    pub org: Option<String>,
    /// The token's id, issue and expiry times (Unix seconds), for signing out and
    /// for renewing a page session.
    pub token_id: String,
    /// The sign-in the token continues (its renewals share it).
    pub session_id: String,
    pub token_issued: i64,
    pub token_expires: i64,
    /// The account's token epoch (CSRF tokens of the pages are bound to it).
    pub epoch: i64,
    /// The language the user chose for pages.
    pub lang: Option<String>,
}

impl SignedInUser {
    /// 403 unless the policy table lets this user's role do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if crate::domain::policy::allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequestParts<DeskState> for SignedInUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &DeskState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized)?;
        authenticate(state, token).await
    }
}

/// The user a token speaks for: signed by this node, not expired, not signed
/// out, from the account's current epoch, the account enabled.
pub async fn authenticate(state: &DeskState, token: &str) -> Result<SignedInUser, ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = state
        .tokens
        .check(token, now)
        .ok_or(ApiError::Unauthorized)?;
    // A token from before sessions had ids stands for itself.
    let session_id = if claims.sid.is_empty() {
        claims.jti.clone()
    } else {
        claims.sid.clone()
    };
    let user = crate::app::session::account_for(
        &state.node,
        &claims.sub,
        claims.ep,
        &[&claims.jti, &session_id],
    )
    .await?
    .ok_or(ApiError::Unauthorized)?;
    // Error messages in the user's own language from here on.
    if let Some(lang) = user.lang.as_deref().and_then(crate::i18n::Lang::parse) {
        super::error::reply_in(lang);
    }
    Ok(SignedInUser {
        username: user.username,
        role: user.role,
        org: user.org,
        token_id: claims.jti,
        session_id,
        token_issued: claims.iat,
        token_expires: claims.exp,
        epoch: user.epoch,
        lang: user.lang,
    })
}

/// Shared token keys for the desk state.
pub type SharedTokens = Arc<Tokens>;

/// The client's address, when the connection has one (not in `oneshot` tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::ConnectInfo;
        let plain = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let tls = parts
            .extensions
            .get::<ConnectInfo<crate::net::ConnInfo>>()
            .map(|c| c.0.remote.ip());
        Ok(Self(plain.or(tls)))
    }
}

/// A successful sign-in.
pub struct Issued {
    pub username: String,
    pub role: Role,
    pub token: String,
    /// Unix seconds.
    pub expires: i64,
    /// The account's chosen language, if any.
    pub lang: Option<String>,
}

/// Checks a user name and password (throttled and audited) and issues a token.
pub async fn password_sign_in(
    state: &DeskState,
    username: &str,
    password: String,
    addr: ClientAddr,
) -> Result<Issued, ApiError> {
    let account =
        session::sign_in(&state.node, username, password, addr.0, &state.dummy_hash).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (token, expires) =
        state
            .tokens
            .issue(&account.username, account.role, account.epoch, None, now)?;
    Ok(Issued {
        username: account.username,
        role: account.role,
        token,
        expires,
        lang: account.lang,
    })
}

/// Ends a token at once (sign-out), and every other token of its sign-in (a
/// page session's earlier, renewed ones), audited.
pub async fn revoke_token(state: &DeskState, user: &SignedInUser) -> Result<(), ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    session::sign_out(
        &state.node,
        &user.username,
        &user.token_id,
        &user.session_id,
        user.token_expires * 1000,
        (now + TOKEN_SECONDS).max(user.token_expires) * 1000,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_bind_to_the_node() {
        let tokens = Tokens::new(SigningKey::generate().unwrap(), "th-msdhs".into());
        let (token, exp) = tokens
            .issue("somchai", Role::Officer, 0, None, 1_000)
            .unwrap();
        assert_eq!(exp, 1_000 + TOKEN_SECONDS);
        assert!(tokens.check(&token, 1_001).is_some());
        assert!(tokens.check(&token, exp).is_none(), "expired");
        let other = Tokens::new(SigningKey::generate().unwrap(), "th-msdhs".into());
        assert!(other.check(&token, 1_001).is_none(), "another node's key");
        assert!(tokens.check("garbage", 1_001).is_none());
    }
}
