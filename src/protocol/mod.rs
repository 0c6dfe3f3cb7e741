//! Wire types of federation protocol v1 (docs/protocol.md is the normative text).

pub mod checkpoint;
pub mod descriptor;
pub mod envelope;
pub mod jws;

pub use descriptor::{Descriptor, DescriptorError, PublishedKey, VerifiedDescriptor};

/// The protocol versions this node speaks.
pub const PROTOCOL_VERSIONS: &[&str] = &["1"];
