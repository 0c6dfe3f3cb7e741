//! The node's signing key (Ed25519, PKCS#8 PEM) and its age identity (X25519).

use std::fmt;

use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};

use super::CryptoError;
use super::hash::sha256_hex;

/// An Ed25519 signing key. Its `Debug` shows the key id only.
pub struct SigningKey {
    pem: String,
    public_raw: [u8; 32],
    encoding: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key, written in the PKCS#8 v1 layout of RFC 8410 (the seed only),
    /// which OpenSSL 3.0, Python's `cryptography` and every other common tool
    /// load; keys in the v2 layout (with the public key) still open.
    pub fn generate() -> Result<Self, CryptoError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| CryptoError::InvalidKey("could not generate an Ed25519 key".into()))?;
        let pair = rcgen::KeyPair::try_from(der.as_ref())
            .map_err(|e| CryptoError::InvalidKey(e.to_string()))?;
        Self::from_pkcs8_pem(&pair.serialize_pem())
    }

    /// Reads a PKCS#8 PEM Ed25519 private key (the form of `certs/signing.key`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        let pair = rcgen::KeyPair::from_pem(pem)
            .map_err(|_| CryptoError::InvalidKey("not a PKCS#8 PEM private key".into()))?;
        if !pair.is_compatible(&rcgen::PKCS_ED25519) {
            return Err(CryptoError::InvalidKey(
                "the signing key must be Ed25519".into(),
            ));
        }
        let public_raw: [u8; 32] = pair
            .public_key_raw()
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("Ed25519 public key is not 32 bytes".into()))?;
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| {
            CryptoError::InvalidKey("signing key rejected by the JWS library".into())
        })?;
        Ok(Self {
            pem: pem.to_owned(),
            public_raw,
            encoding,
        })
    }

    pub fn pkcs8_pem(&self) -> &str {
        &self.pem
    }

    pub fn public_raw(&self) -> &[u8; 32] {
        &self.public_raw
    }

    /// The public key as it is published: raw 32 bytes, base64url without padding.
    pub fn public_b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_raw)
    }

    /// Key id: `ed25519-` and the first 16 hex digits of SHA-256 of the raw public key.
    pub fn kid(&self) -> String {
        kid_for(&self.public_raw)
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

pub fn kid_for(public_raw: &[u8]) -> String {
    let h = sha256_hex(public_raw);
    format!("ed25519-{}", &h[..16])
}

/// A peer's published verification key, decoded from base64url.
pub fn decoding_key_b64url(public_key: &str) -> Result<(DecodingKey, [u8; 32]), CryptoError> {
    let raw = URL_SAFE_NO_PAD.decode(public_key).map_err(|_| {
        CryptoError::InvalidKey("public_key is not base64url without padding".into())
    })?;
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| CryptoError::InvalidKey("public_key is not 32 bytes".into()))?;
    Ok((DecodingKey::from_ed_der(&raw), raw))
}

/// The node's age identity: the text of a standard age identity file, and the
/// recipient (`age1…`) that peers seal to.
pub struct AgeIdentity {
    identity: age::x25519::Identity,
    /// The current identity first, then earlier ones kept to open what was
    /// sealed to them (`keys rotate`).
    all: Vec<age::x25519::Identity>,
}

impl fmt::Debug for AgeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgeIdentity")
            .field("recipient", &self.recipient())
            .finish()
    }
}

impl AgeIdentity {
    pub fn generate() -> Self {
        let identity = age::x25519::Identity::generate();
        Self {
            all: vec![identity.clone()],
            identity,
        }
    }

    /// Keeps `earlier` identities to open what was sealed to them.
    pub fn with_earlier(mut self, earlier: Vec<AgeIdentity>) -> Self {
        self.all.extend(earlier.into_iter().map(|e| e.identity));
        self
    }

    /// Every identity, the current first: what opens sealed data.
    pub fn all(&self) -> &[age::x25519::Identity] {
        &self.all
    }

    /// Reads an age identity file (comment lines starting with `#` are skipped).
    pub fn from_file_text(text: &str) -> Result<Self, CryptoError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| CryptoError::InvalidKey("age identity file holds no key".into()))?;
        let identity = line
            .parse::<age::x25519::Identity>()
            .map_err(|_| CryptoError::InvalidKey("age identity file holds no X25519 key".into()))?;
        Ok(Self {
            all: vec![identity.clone()],
            identity,
        })
    }

    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// The identity file as `age-keygen` writes it.
    pub fn file_text(&self, created: &str) -> String {
        format!(
            "# created: {created}\n# public key: {}\n{}\n",
            self.recipient(),
            self.identity.to_string().expose_secret()
        )
    }

    pub fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }
}

/// Checks that `s` is an age X25519 recipient (`age1…`).
pub fn parse_age_recipient(s: &str) -> Result<age::x25519::Recipient, CryptoError> {
    s.parse::<age::x25519::Recipient>()
        .map_err(|_| CryptoError::InvalidKey(format!("{s:?} is not an age X25519 recipient")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_round_trips_through_pem() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8_pem(key.pkcs8_pem()).unwrap();
        assert_eq!(key.public_raw(), again.public_raw());
        assert!(key.kid().starts_with("ed25519-") && key.kid().len() == 24);
        let (_, raw) = decoding_key_b64url(&key.public_b64url()).unwrap();
        assert_eq!(&raw, key.public_raw());
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn new_keys_use_the_v1_layout_and_v2_keys_still_open() {
        use base64::engine::general_purpose::STANDARD;
        let key = SigningKey::generate().unwrap();
        let b64: String = key
            .pkcs8_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(b64).unwrap();
        // RFC 8410's v1 layout: version 0, the algorithm, the 32-byte seed; 48 bytes.
        assert_eq!(der.len(), 48, "{der:02x?}");
        assert_eq!(der[4], 0, "version 0 (v1)");
        // A key written by earlier versions (v2, with the public key) still opens.
        let v2 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let old = SigningKey::from_pkcs8_pem(&v2.serialize_pem()).unwrap();
        assert_eq!(old.public_raw().as_slice(), v2.public_key_raw());
    }

    #[test]
    fn ecdsa_key_is_not_a_signing_key() {
        let ec = rcgen::KeyPair::generate().unwrap();
        assert!(SigningKey::from_pkcs8_pem(&ec.serialize_pem()).is_err());
    }

    #[test]
    fn age_identity_file_round_trips() {
        let id = AgeIdentity::generate();
        let text = id.file_text("2026-11-22T00:00:00Z");
        assert!(text.contains("AGE-SECRET-KEY-1"));
        let again = AgeIdentity::from_file_text(&text).unwrap();
        assert_eq!(id.recipient(), again.recipient());
        assert!(parse_age_recipient(&id.recipient()).is_ok());
        assert!(parse_age_recipient("age1nope").is_err());
        assert!(!format!("{id:?}").contains("SECRET"));
    }
}
