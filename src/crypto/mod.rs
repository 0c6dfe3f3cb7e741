//! Keys, signing, hashing and certificates. Only well-kept crates do the work
//! (aws-lc-rs through rcgen and jsonwebtoken, age); nothing here is hand-rolled.

pub mod certs;
pub mod hash;
pub mod keys;
pub mod seal;

/// Failures of key handling; messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("sealing failed: {0}")]
    Seal(String),
    /// Deliberately without detail: wrong key, truncation and tampering look alike.
    #[error("the sealed content could not be opened")]
    Open,
}

/// The one TLS crypto provider of the whole program (aws-lc-rs), passed explicitly
/// so no code depends on a process-wide default being installed first.
pub fn tls_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
