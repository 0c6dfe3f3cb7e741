//! Mittaphap: the case exchange for the cross-border return of victims of human
//! trafficking between Thailand and Lao PDR. One node per country; see docs/architecture.md.

pub mod accounts; // desk accounts: add, disable, enable (audited)
pub mod audit; // the hash-chained audit log and its checkpoints
pub mod blobs; // sealed attachments, content-addressed in an object store
pub mod cases; // moves on cases: ours and the peer's, one state machine
pub mod cli; // command line: init, descriptor, peer, serve
pub mod config; // node.toml plus MITTAPHAP_* environment overrides
pub mod crypto; // keys, signing, hashing, certificates
pub mod desk; // the users' door: health, readiness (and later the desk API)
pub mod domain; // pure rules and validated identifiers; no I/O
pub mod federation; // the mutual-TLS door to peers, and the client that calls them
pub mod net; // the TLS listener both doors share
pub mod node; // a node opened from its folder, and serving it
pub mod prosecution; // legal-aid grants and the board they see
pub mod protocol; // wire types: node descriptor
pub mod retention; // crypto-shredding of ended cases
pub mod stats; // counts from clear columns, small cells suppressed
pub mod store; // all SQL: node, peers
pub mod web; // the desk's web pages, in English, Thai and Lao
