//! The node descriptor: who a node is, where it listens, which keys it uses.
//!
//! Signed form: the descriptor's JSON object with one more member, `signature`, a
//! compact JWS (EdDSA) whose payload is the RFC 8785 canonical JSON of the descriptor
//! without `signature`. The fingerprint is SHA-256 of those same canonical bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crypto::certs::root_store;
use crate::crypto::hash::{group_hex, sha256_hex};
use crate::crypto::keys::{SigningKey, decoding_key_b64url, parse_age_recipient};
use crate::domain::{Country, NodeId};

/// JWS `typ` of a descriptor signature.
pub const DESCRIPTOR_TYP: &str = "mittaphap-descriptor+jwt";

/// A descriptor as it travels (the unsigned members).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    pub node_id: String,
    pub country: String,
    pub name: String,
    pub federation_url: String,
    pub tls_ca: String,
    pub signing_keys: Vec<PublishedKey>,
    pub age_recipients: Vec<String>,
    pub protocol: Vec<String>,
}

/// One verification key: `public_key` is the raw 32-byte Ed25519 key, base64url
/// without padding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedKey {
    pub kid: String,
    pub alg: String,
    pub public_key: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DescriptorError {
    #[error("descriptor is not valid JSON: {0}")]
    Json(String),
    #[error("descriptor field {field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("descriptor has no signature")]
    Unsigned,
    #[error("descriptor signature is invalid: {0}")]
    BadSignature(String),
    #[error("descriptor is signed with key {0:?}, which it does not publish")]
    UnknownKid(String),
    /// The actual fingerprint is deliberately not in the message: an operator must
    /// compare with the value obtained out of band, not copy the one shown.
    #[error("fingerprint mismatch: this descriptor is not the one whose fingerprint was given")]
    FingerprintMismatch,
    #[error("could not sign the descriptor: {0}")]
    Signing(String),
}

fn field(field: &'static str, message: impl Into<String>) -> DescriptorError {
    DescriptorError::Field {
        field,
        message: message.into(),
    }
}

/// A descriptor whose self-signature and fields have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedDescriptor {
    pub node_id: NodeId,
    pub country: Country,
    pub descriptor: Descriptor,
    /// SHA-256 of the canonical unsigned descriptor, lowercase hex (no spaces).
    pub fingerprint: String,
    /// The signed JSON exactly as received.
    pub signed_json: String,
    /// The key that signed it (one of those it publishes).
    pub signed_by: PublishedKey,
}

impl VerifiedDescriptor {
    pub fn fingerprint_grouped(&self) -> String {
        group_hex(&self.fingerprint)
    }
}

impl Descriptor {
    /// RFC 8785 canonical JSON of the unsigned descriptor.
    pub fn canonical(&self) -> Result<Vec<u8>, DescriptorError> {
        serde_jcs::to_vec(self).map_err(|e| DescriptorError::Json(e.to_string()))
    }

    pub fn fingerprint(&self) -> Result<String, DescriptorError> {
        Ok(sha256_hex(&self.canonical()?))
    }

    /// The signed descriptor as pretty JSON: every member plus `signature`.
    pub fn sign(&self, key: &SigningKey) -> Result<String, DescriptorError> {
        let canonical = String::from_utf8(self.canonical()?)
            .map_err(|e| DescriptorError::Signing(e.to_string()))?;
        let payload = serde_json::value::RawValue::from_string(canonical)
            .map_err(|e| DescriptorError::Signing(e.to_string()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(DESCRIPTOR_TYP.to_owned());
        header.kid = Some(key.kid());
        let jws = jsonwebtoken::encode(&header, &payload, key.encoding_key())
            .map_err(|e| DescriptorError::Signing(e.to_string()))?;
        let mut object = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(DescriptorError::Signing(
                    "descriptor is not an object".into(),
                ));
            }
        };
        object.insert("signature".into(), Value::String(jws));
        let mut out = serde_json::to_string_pretty(&Value::Object(object))
            .map_err(|e| DescriptorError::Signing(e.to_string()))?;
        out.push('\n');
        Ok(out)
    }

    /// Checks every field; returns the parsed node id and country.
    fn check(&self) -> Result<(NodeId, Country), DescriptorError> {
        let node_id = NodeId::parse(&self.node_id).map_err(|e| field("node_id", e.0))?;
        let country = Country::parse(&self.country).map_err(|e| field("country", e.0))?;
        let name =
            crate::domain::ids::parse_node_name(&self.name).map_err(|e| field("name", e.0))?;
        if name != self.name {
            return Err(field("name", "must not start or end with white space"));
        }
        check_federation_url(&self.federation_url).map_err(|m| field("federation_url", m))?;
        root_store(&self.tls_ca).map_err(|e| field("tls_ca", e.to_string()))?;
        if self.signing_keys.is_empty() {
            return Err(field("signing_keys", "at least one key is required"));
        }
        for (i, key) in self.signing_keys.iter().enumerate() {
            if key.alg != "EdDSA" {
                return Err(field(
                    "signing_keys",
                    format!("key {i}: alg must be \"EdDSA\""),
                ));
            }
            if key.kid.is_empty() || key.kid.len() > 64 {
                return Err(field(
                    "signing_keys",
                    format!("key {i}: kid must be 1 to 64 characters"),
                ));
            }
            if self.signing_keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(field(
                    "signing_keys",
                    format!("kid {:?} appears twice", key.kid),
                ));
            }
            decoding_key_b64url(&key.public_key)
                .map_err(|e| field("signing_keys", format!("key {i}: {e}")))?;
        }
        if self.age_recipients.is_empty() {
            return Err(field(
                "age_recipients",
                "at least one recipient is required",
            ));
        }
        for r in &self.age_recipients {
            parse_age_recipient(r).map_err(|e| field("age_recipients", e.to_string()))?;
        }
        if !self.protocol.iter().any(|p| p == "1") {
            return Err(field("protocol", "the node does not speak protocol \"1\""));
        }
        Ok((node_id, country))
    }
}

/// `https://host[:port]` with no path, query or fragment (a trailing `/` is allowed).
pub fn check_federation_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!("{s:?} must use https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?} must not have a path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{s:?} must not hold credentials"));
    }
    Ok(url)
}

/// Verifies a signed descriptor: its JSON, every field, that the signature was made
/// by one of the keys it publishes, and that the signed payload is this descriptor.
pub fn verify(signed_json: &str) -> Result<VerifiedDescriptor, DescriptorError> {
    let mut object: Map<String, Value> = match serde_json::from_str(signed_json) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(DescriptorError::Json("not a JSON object".into())),
        Err(e) => return Err(DescriptorError::Json(e.to_string())),
    };
    let jws = match object.remove("signature") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(field("signature", "must be a string")),
        None => return Err(DescriptorError::Unsigned),
    };
    let unsigned = Value::Object(object);
    let descriptor: Descriptor = serde_json::from_value(unsigned.clone())
        .map_err(|e| DescriptorError::Json(e.to_string()))?;
    let (node_id, country) = descriptor.check()?;

    check_header_members(&jws)?;
    let header = jsonwebtoken::decode_header(&jws)
        .map_err(|e| DescriptorError::BadSignature(format!("header: {e}")))?;
    if header.alg != Algorithm::EdDSA {
        return Err(DescriptorError::BadSignature("alg must be EdDSA".into()));
    }
    if header.typ.as_deref() != Some(DESCRIPTOR_TYP) {
        return Err(DescriptorError::BadSignature(format!(
            "typ must be {DESCRIPTOR_TYP:?}"
        )));
    }
    let kid = header.kid.unwrap_or_default();
    let key = descriptor
        .signing_keys
        .iter()
        .find(|k| k.kid == kid)
        .cloned()
        .ok_or_else(|| DescriptorError::UnknownKid(kid.clone()))?;
    let (decoding, _) = decoding_key_b64url(&key.public_key)
        .map_err(|e| DescriptorError::BadSignature(e.to_string()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let payload = jsonwebtoken::decode::<Value>(&jws, &decoding, &validation)
        .map_err(|e| DescriptorError::BadSignature(e.to_string()))?
        .claims;

    // Every unsigned member (known or not) must be exactly what was signed.
    let signed = serde_jcs::to_vec(&payload).map_err(|e| DescriptorError::Json(e.to_string()))?;
    let canonical =
        serde_jcs::to_vec(&unsigned).map_err(|e| DescriptorError::Json(e.to_string()))?;
    if signed != canonical {
        return Err(DescriptorError::BadSignature(
            "the signed payload differs from the descriptor".into(),
        ));
    }
    Ok(VerifiedDescriptor {
        node_id,
        country,
        descriptor,
        fingerprint: sha256_hex(&canonical),
        signed_json: signed_json.to_owned(),
        signed_by: key,
    })
}

/// The descriptor's JOSE header holds `alg`, `typ` and `kid` and nothing else (a
/// `crit` or `jwk` the JWS library might skip over is refused outright).
fn check_header_members(jws: &str) -> Result<(), DescriptorError> {
    let bad = |m: &str| DescriptorError::BadSignature(format!("header: {m}"));
    let encoded = jws.split('.').next().unwrap_or_default();
    let bytes = b64url_decode(encoded).ok_or_else(|| bad("not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| bad("not a JSON object"))?;
    match header
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
    {
        Some(extra) => Err(bad(&format!("unexpected parameter {extra:?}"))),
        None => Ok(()),
    }
}

/// Verifies a signed descriptor and checks it against the fingerprint an operator
/// obtained out of band (any case, spaces optional).
pub fn verify_with_fingerprint(
    signed_json: &str,
    expected: &str,
) -> Result<VerifiedDescriptor, DescriptorError> {
    let expected = crate::crypto::hash::parse_fingerprint(expected)
        .ok_or_else(|| field("fingerprint", "must be 64 hex digits (spaces allowed)"))?;
    let verified = verify(signed_json)?;
    if verified.fingerprint != expected {
        return Err(DescriptorError::FingerprintMismatch);
    }
    Ok(verified)
}

/// Decodes a base64url (no padding) value, as used for JWS parts and keys.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
#[path = "descriptor_tests.rs"]
mod tests;
