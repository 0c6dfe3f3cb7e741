//! The core's one error type; each door maps it to its own answers.

use super::outbox::SendError;
use crate::domain::messages::BodyError;
use crate::domain::sop::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no such case")]
    NotFound,
    #[error("not a message kind")]
    UnknownKind(String),
    #[error(transparent)]
    Invalid(#[from] BodyError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing failed")]
    Seal,
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// Too many failed sign-ins: locked until then (Unix milliseconds).
    #[error("too many failed sign-ins")]
    Locked(i64),
    #[error("wrong user name or password")]
    BadCredentials,
    /// The right password, for an account a supervisor has not confirmed yet.
    #[error("this account waits for a supervisor's confirmation")]
    AwaitingConfirmation,
    /// The user's role may not do this here.
    #[error("your role may not do this")]
    Forbidden,
    /// The session's account no longer exists.
    #[error("sign in first")]
    Unauthorized,
    /// A dependency (the blob store) does not answer: logged, never shown.
    #[error("unavailable")]
    Unavailable(String),
    /// A stored attachment does not open (its bytes changed on disk, or the key
    /// that sealed it is gone): logged with its id, restored from a backup.
    #[error("the stored file is damaged and cannot be opened")]
    Damaged,
    /// Ours to fix, never the client's: logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl From<SendError> for AppError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Store(e) => Self::Store(e),
            SendError::Invalid(m) => Self::Conflict(m),
        }
    }
}
