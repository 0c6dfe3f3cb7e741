//! Pure rules and validated values. Nothing here does I/O or knows about
//! axum, sqlx, tokio or reqwest; time and ids arrive as parameters.

pub mod consent;
pub mod ids;
pub mod messages;
pub mod policy;
pub mod prosecution;
pub mod sop;
pub mod stats;
pub mod throttle;
pub mod vocab;

pub use ids::{Country, NodeId};

/// A SHA-256 digest as the protocol writes it: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A time as every stored and compared time is kept: Unix milliseconds.
pub fn millis(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A refused body: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BodyError {
    pub field: String,
    pub message: String,
}
