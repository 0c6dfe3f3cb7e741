//! Calls to a peer's federation door: our node certificate as client identity, and
//! only the peer's own CA (from its verified descriptor) trusted for its server.

use std::time::Duration;

use crate::protocol::descriptor::{DescriptorError, VerifiedDescriptor, verify};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("TLS setup: {0}")]
    Setup(String),
    #[error("peer unreachable or refused the connection: {0}")]
    Transport(String),
    #[error("peer answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("peer descriptor: {0}")]
    Descriptor(#[from] DescriptorError),
}

/// A client bound to one peer.
#[derive(Clone, Debug)]
pub struct PeerClient {
    base: String,
    http: reqwest::Client,
}

impl PeerClient {
    /// `identity_pem`: our node certificate chain followed by its private key.
    pub fn new(
        peer_url: &str,
        peer_ca_pem: &str,
        identity_pem: &[u8],
    ) -> Result<Self, ClientError> {
        let ca = reqwest::Certificate::from_pem(peer_ca_pem.as_bytes())
            .map_err(|e| ClientError::Setup(format!("peer CA: {e}")))?;
        let identity = reqwest::Identity::from_pem(identity_pem)
            .map_err(|e| ClientError::Setup(format!("node identity: {e}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only([ca])
            .identity(identity)
            .tls_version_min(reqwest::tls::Version::TLS_1_3)
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Self {
            base: peer_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// GET /fed/v1/descriptor, verified.
    pub async fn descriptor(&self) -> Result<VerifiedDescriptor, ClientError> {
        let response = self
            .http
            .get(format!("{}/fed/v1/descriptor", self.base))
            .send()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        if !status.is_success() {
            return Err(ClientError::Status {
                status: status.as_u16(),
                body,
            });
        }
        Ok(verify(&body)?)
    }
}

/// reqwest hides the TLS reason in its source chain; show all of it on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
