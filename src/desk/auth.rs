//! Who is at the desk: argon2id passwords, EdDSA session tokens (15 minutes),
//! and the `SignedInUser` extractor every case handler takes.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use super::{ApiError, DeskState};
use crate::crypto::keys::SigningKey;
use crate::store::users;

/// How long a session token is valid.
pub const TOKEN_SECONDS: i64 = 15 * 60;
pub const TOKEN_TYP: &str = "mittaphap-session+jwt";

/// The roles of DESIGN §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Officer,
    Supervisor,
    LegalAid,
    Admin,
    Auditor,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::Supervisor => "supervisor",
            Self::LegalAid => "legal_aid",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }

    /// Officers and supervisors work on cases.
    pub fn works_cases(self) -> bool {
        matches!(self, Self::Officer | Self::Supervisor)
    }
}

/// At least 12 characters (DESIGN: accounts).
pub const MIN_PASSWORD: usize = 12;

pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!("a password has at least {MIN_PASSWORD} characters"));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenClaims {
    iss: String,
    aud: String,
    sub: String,
    role: Role,
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

    /// A token for `username`, and when it expires (Unix seconds).
    pub fn issue(&self, username: &str, role: Role, now: i64) -> Result<(String, i64), ApiError> {
        let claims = TokenClaims {
            iss: self.node_id.clone(),
            aud: self.node_id.clone(),
            sub: username.to_owned(),
            role,
            iat: now,
            exp: now + TOKEN_SECONDS,
        };
        let token = crate::protocol::jws::sign(TOKEN_TYP, &claims, &self.key)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok((token, claims.exp))
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

/// A user with a valid token, whose account exists and is enabled.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub username: String,
    pub role: Role,
    pub org: Option<String>,
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
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = state
            .tokens
            .check(token, now)
            .ok_or(ApiError::Unauthorized)?;
        let mut conn = state.node.store.pool().acquire().await?;
        let user = users::get(&mut conn, &claims.sub)
            .await?
            .filter(|u| u.disabled == 0)
            .ok_or(ApiError::Unauthorized)?;
        let role = Role::parse(&user.role).ok_or(ApiError::Unauthorized)?;
        Ok(Self {
            username: user.username,
            role,
            org: user.org,
        })
    }
}

/// Shared token keys for the desk state.
pub type SharedTokens = Arc<Tokens>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_bind_to_the_node() {
        let tokens = Tokens::new(SigningKey::generate().unwrap(), "th-msdhs".into());
        let (token, exp) = tokens.issue("somchai", Role::Officer, 1_000).unwrap();
        assert_eq!(exp, 1_000 + TOKEN_SECONDS);
        assert!(tokens.check(&token, 1_001).is_some());
        assert!(tokens.check(&token, exp).is_none(), "expired");
        let other = Tokens::new(SigningKey::generate().unwrap(), "th-msdhs".into());
        assert!(other.check(&token, 1_001).is_none(), "another node's key");
        assert!(tokens.check("garbage", 1_001).is_none());
    }

    #[test]
    fn passwords() {
        assert!(hash_password("short").is_err());
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
    }
}
