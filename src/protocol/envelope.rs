//! Envelopes, receipts and channel statements (docs/protocol.md §7–§9).

use serde::{Deserialize, Serialize};

use super::jws::{self, JwsError};
use crate::crypto::hash::sha256_hex;
use crate::crypto::keys::SigningKey;

pub const ENVELOPE_TYP: &str = "mittaphap-envelope+jwt";
pub const RECEIPT_TYP: &str = "mittaphap-receipt+jwt";
pub const CHANNEL_TYP: &str = "mittaphap-channel+jwt";
/// How far in the future an `iat` may lie, in seconds.
pub const MAX_IAT_SKEW: i64 = 300;

pub use crate::crypto::hash::Digest;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeClaims {
    pub iss: String,
    pub aud: String,
    pub jti: String,
    pub iat: i64,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    pub seq: u64,
    pub prev: String,
    pub body: Digest,
    pub blobs: Vec<Digest>,
}

impl EnvelopeClaims {
    pub fn sign(&self, key: &SigningKey) -> Result<String, JwsError> {
        jws::sign(ENVELOPE_TYP, self, key)
    }
}

/// The hash that chains a channel: SHA-256 of the compact JWS text.
pub fn envelope_sha256(jws: &str) -> String {
    sha256_hex(jws.as_bytes())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    Accepted,
    Duplicate,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptClaims {
    pub iss: String,
    pub aud: String,
    #[serde(rename = "for")]
    pub for_jti: String,
    pub envelope_sha256: String,
    pub status: ReceiptStatus,
    pub reason: String,
    pub expected_seq: u64,
    pub iat: i64,
    /// With `duplicate`: the receipt first given for this envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

impl ReceiptClaims {
    pub fn sign(&self, key: &SigningKey) -> Result<String, JwsError> {
        jws::sign(RECEIPT_TYP, self, key)
    }
}

/// One direction of a channel: the last sequence number and the SHA-256 of that
/// envelope (`0` and empty before the first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub seq: u64,
    pub sha256: String,
}

/// `GET /fed/v1/channel`: both heads of the channel between the signer and the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    /// Envelopes the signer has received from the caller (caller → signer).
    pub received: Head,
    /// Envelopes the signer has created for the caller (signer → caller).
    pub sent: Head,
}

impl ChannelClaims {
    pub fn sign(&self, key: &SigningKey) -> Result<String, JwsError> {
        jws::sign(CHANNEL_TYP, self, key)
    }
}

/// Why an envelope was refused: the `reason` of a rejected receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Malformed,
    BadAlg,
    BadHeader,
    WrongIssuer,
    UnknownKid,
    BadSignature,
    BadClaims,
    WrongAudience,
    IatInFuture,
    SeqGap,
    SeqConflict,
    PrevMismatch,
    BodyMismatch,
    MissingBlob,
    TooLarge,
    UnknownKind,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadAlg => "bad_alg",
            Self::BadHeader => "bad_header",
            Self::WrongIssuer => "wrong_issuer",
            Self::UnknownKid => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::BadClaims => "bad_claims",
            Self::WrongAudience => "wrong_audience",
            Self::IatInFuture => "iat_in_future",
            Self::SeqGap => "seq_gap",
            Self::SeqConflict => "seq_conflict",
            Self::PrevMismatch => "prev_mismatch",
            Self::BodyMismatch => "body_mismatch",
            Self::MissingBlob => "missing_blob",
            Self::TooLarge => "too_large",
            Self::UnknownKind => "unknown_kind",
        }
    }
}

impl From<&JwsError> for Reason {
    fn from(e: &JwsError) -> Self {
        match e {
            JwsError::Malformed | JwsError::Signing(_) => Self::Malformed,
            JwsError::BadAlg => Self::BadAlg,
            JwsError::BadHeader(_) => Self::BadHeader,
            JwsError::UnknownKid(_) => Self::UnknownKid,
            JwsError::BadSignature => Self::BadSignature,
            JwsError::BadClaims(_) => Self::BadClaims,
        }
    }
}

/// Message kinds a node accepts (DESIGN §2 and `audit_checkpoint`).
pub const KINDS: &[&str] = &[
    "referral",
    "acknowledgement",
    "verification",
    "decline",
    "return_plan",
    "return_counterproposal",
    "return_confirmation",
    "handover",
    "reception",
    "reintegration_update",
    "closure",
    "withdrawal",
    "note",
    "prosecution_update",
    "testimony_arrangement",
    "correction",
    "audit_checkpoint",
];
