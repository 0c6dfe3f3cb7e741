//! The application core: the one place that does what a user or a peer asks. Both
//! doors call it (the desk's JSON handlers and the pages alike; the federation door
//! for what a peer's envelope carries); it alone works over `store`, `blobs`,
//! `crypto` and `domain`, and it imports no door.
//!
//! | file | what |
//! |---|---|
//! | `cases` | sealing to ourselves, clear columns, the timeline entry of a move; drafts and consents |
//! | `moves` | our moves: decide, seal, queue, record, audit in one transaction |
//! | `incoming` | the peer's moves, inside the transaction that accepts their envelope |
//! | `attachments` | files sealed as they stream in, resealed for the peer, opened as they stream out |
//! | `case_view` | the one audited reader of a case: file, timeline with delivery, track, attachments, turn |
//! | `handover` | the printed handover record: its content, the signed token its QR code holds, offline verification |
//! | `prosecution` | legal-aid grants and the board |
//! | `accounts` | accounts and password hashing |
//! | `approval` | four eyes: moves of the kinds `[workflow] approve` names held until a supervisor approves them |
//! | `assign` | who holds a case on this node: assignment and taking, audited, on the timeline |
//! | `session` | sign-in with lock-out, sign-out, password change, who a token speaks for |
//! | `held` | a form posted after its session ended, sealed until its user signs in again |
//! | `peers` | registering and listing peers |
//! | `recovery` | our own moves given back by the peer after a restore, applied as ours |
//! | `outbox` | queueing an envelope in the caller's transaction |
//! | `audit`, `checkpoint` | the hash-chained audit log and its peer-witnessed checkpoints |
//! | `notify` | notices by email: what newly waits for each user, with no personal data, batched and retried |
//! | `oversight` | what operators and auditors read: outbox health, audit log, readiness |
//! | `search` | the blind index: names, numbers and phones found without their text in the database |
//! | `retention`, `stats` | crypto-shredding of ended cases; suppressed statistics |

pub mod accounts;
pub mod approval;
pub mod assign;
pub mod attachments;
pub mod audit;
pub mod case_view;
pub mod cases;
pub mod checkpoint;
pub mod error;
pub mod handover;
pub mod held;
pub mod incoming;
pub mod moves;
pub mod notify;
pub mod outbox;
pub mod oversight;
pub mod peers;
pub mod prosecution;
pub mod recovery;
pub mod retention;
pub mod search;
pub mod session;
pub mod stats;

pub use error::AppError;
