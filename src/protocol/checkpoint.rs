//! Audit checkpoints on the wire (protocol §11a): the sealed body of an
//! `audit_checkpoint` envelope, and a checkpoint as a peer serves it back.

use serde::{Deserialize, Serialize};

pub const KIND: &str = "audit_checkpoint";
pub const SCHEMA: &str = "audit_checkpoint/1";

/// The sealed body of an `audit_checkpoint` envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    pub schema: String,
    /// The chain's length: the position of its last entry.
    pub position: i64,
    /// That entry's hash (lowercase hex SHA-256).
    pub hash: String,
    /// When the chain had this head (Unix milliseconds, the sender's clock).
    pub at: i64,
}

/// One checkpoint as a peer serves it back (`GET /fed/v1/audit/checkpoints`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Witnessed {
    pub position: i64,
    pub hash: String,
    pub at: i64,
    pub jti: String,
}
