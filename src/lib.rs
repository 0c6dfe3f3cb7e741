//! Mittaphap: the case exchange for the cross-border return of victims of human
//! trafficking between Thailand and Lao PDR. One node per country; see docs/architecture.md.

pub mod app; // the application core: everything a user or a peer asks, over store, blobs, crypto, domain
pub mod blobs; // sealed attachments, content-addressed in an object store
pub mod cli; // command line: init, descriptor, peer, serve, and the operator's tools
pub mod config; // node.toml plus MITTAPHAP_* environment overrides
pub mod crypto; // keys, signing, hashing, certificates
pub mod desk; // the users' door: the JSON API, health, readiness, metrics
pub mod domain; // pure rules and validated values; no I/O
pub mod federation; // the mutual-TLS door to peers, the courier, and the client that calls them
pub mod i18n; // the words of the pages and of error messages, in English, Thai and Lao
pub mod net; // the TLS listener both doors share
pub mod node; // a node opened from its folder (the context everyone needs), and `init`
pub mod protocol; // wire types: descriptor, envelopes, receipts, checkpoints, JWS
pub mod serve; // the composition root: both doors, the courier and the upkeep task
pub mod store; // every SQL statement
pub mod web; // the desk's web pages, in English, Thai and Lao
