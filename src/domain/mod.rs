//! Pure rules and validated values. Nothing here does I/O or knows about
//! axum, sqlx, tokio or reqwest; time and ids arrive as parameters.

pub mod consent;
pub mod fields;
pub mod ids;
pub mod messages;
pub mod policy;
pub mod prosecution;
pub mod reminders;
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

/// A refused body: the field, and what is wrong with it (in English, and as a
/// code the catalogues translate, `error.<code>`); `more` holds every other
/// field at fault in the same body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BodyError {
    pub field: String,
    pub message: String,
    pub code: &'static str,
    pub more: Vec<BodyError>,
}

impl BodyError {
    /// One field at fault, without a code of its own (`invalid`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::coded(field, "invalid", message)
    }

    pub fn coded(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            code,
            more: Vec::new(),
        }
    }

    /// The first of `issues`, carrying the others; `None` when there are none.
    pub fn all(mut issues: Vec<BodyError>) -> Option<Self> {
        if issues.is_empty() {
            return None;
        }
        let mut first = issues.remove(0);
        first.more = issues;
        Some(first)
    }

    /// This field and every other at fault, in order.
    pub fn each(&self) -> impl Iterator<Item = &BodyError> {
        std::iter::once(self).chain(self.more.iter())
    }
}
