//! The federation door (mutual TLS, TLS 1.3 only) and the client that calls peers.
//! Only this module talks to peers.

pub mod client;
pub mod error;
pub mod outbox;
pub mod peer;
pub mod receive;
pub mod reconcile;
pub mod recover;
pub mod server;
pub mod trust;

pub use client::PeerClient;
pub use error::FedError;
pub use peer::{FedState, VerifiedPeer};
pub use server::router;
pub use trust::PeerTrust;
