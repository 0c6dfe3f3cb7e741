//! Compact JWS as every signed object of the protocol uses it: EdDSA only, a
//! header of exactly `alg`, `typ` and `kid`, and the `typ` each object names.

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::descriptor::b64url_decode;
use crate::crypto::keys::SigningKey;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    /// `alg` is not `EdDSA` (`none`, `HS256`, …); refused before any key is used.
    #[error("algorithm must be EdDSA")]
    BadAlg,
    #[error("bad header: {0}")]
    BadHeader(String),
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("bad claims: {0}")]
    BadClaims(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

pub fn sign<T: Serialize>(typ: &str, claims: &T, key: &SigningKey) -> Result<String, JwsError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(typ.to_owned());
    header.kid = Some(key.kid());
    jsonwebtoken::encode(&header, claims, key.encoding_key())
        .map_err(|e| JwsError::Signing(e.to_string()))
}

/// The header's `kid`, after checking the header's shape, `alg` and `typ`.
pub fn header_kid(jws: &str, typ: &str) -> Result<String, JwsError> {
    let mut parts = jws.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let bytes = b64url_decode(head).ok_or(JwsError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(JwsError::BadAlg);
    }
    if let Some(extra) = header
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
    {
        return Err(JwsError::BadHeader(format!(
            "unexpected parameter {extra:?}"
        )));
    }
    if header.get("typ").and_then(Value::as_str) != Some(typ) {
        return Err(JwsError::BadHeader(format!("typ must be {typ:?}")));
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => Ok(kid.to_owned()),
        _ => Err(JwsError::BadHeader("kid is missing".into())),
    }
}

/// The claims, unverified: only to learn who claims to have sent it.
pub fn peek_claims<T: DeserializeOwned>(jws: &str) -> Result<T, JwsError> {
    let payload = jws.split('.').nth(1).ok_or(JwsError::Malformed)?;
    let bytes = b64url_decode(payload).ok_or(JwsError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|e| JwsError::BadClaims(e.to_string()))
}

/// Verifies `jws` (header, key, signature) and returns its claims.
pub fn verify<T: DeserializeOwned>(
    jws: &str,
    typ: &str,
    key_for: impl Fn(&str) -> Option<DecodingKey>,
) -> Result<T, JwsError> {
    let kid = header_kid(jws, typ)?;
    let key = key_for(&kid).ok_or_else(|| JwsError::UnknownKid(kid.clone()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    match jsonwebtoken::decode::<Value>(jws, &key, &validation) {
        Ok(data) => {
            serde_json::from_value(data.claims).map_err(|e| JwsError::BadClaims(e.to_string()))
        }
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Err(JwsError::BadSignature),
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Err(JwsError::BadAlg),
            _ => Err(JwsError::BadClaims(e.to_string())),
        },
    }
}

/// The verification keys a descriptor publishes, by kid.
pub fn keys_of(descriptor: &super::Descriptor) -> impl Fn(&str) -> Option<DecodingKey> + '_ {
    move |kid| {
        descriptor
            .signing_keys
            .iter()
            .find(|k| k.kid == kid)
            .and_then(|k| crate::crypto::keys::decoding_key_b64url(&k.public_key).ok())
            .map(|(key, _)| key)
    }
}
