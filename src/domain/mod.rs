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
