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

    /// HEAD /fed/v1/blobs/{sha256}: the stored length, if the peer has the blob.
    pub async fn head_blob(&self, sha256: &str) -> Result<Option<u64>, ClientError> {
        let response = self
            .http
            .head(format!("{}/fed/v1/blobs/{sha256}", self.base))
            .send()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        match response.status().as_u16() {
            200 => Ok(response.content_length()),
            404 => Ok(None),
            status => Err(ClientError::Status {
                status,
                body: String::new(),
            }),
        }
    }

    /// PUT /fed/v1/blobs/{sha256}, streaming the ciphertext.
    pub async fn put_blob<S, E>(&self, sha256: &str, len: u64, stream: S) -> Result<(), ClientError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let response = self
            .http
            .put(format!("{}/fed/v1/blobs/{sha256}", self.base))
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(Duration::from_secs(3600))
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(ClientError::Status {
            status: status.as_u16(),
            body,
        })
    }

    /// POST /fed/v1/envelopes: the HTTP status and the answer (a receipt JWS when
    /// the peer could sign one).
    pub async fn post_envelope(
        &self,
        jws: &str,
        body_b64: &str,
    ) -> Result<(u16, String), ClientError> {
        let request = serde_json::json!({"jws": jws, "body": body_b64});
        let response = self
            .http
            .post(format!("{}/fed/v1/envelopes", self.base))
            .json(&request)
            .send()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        Ok((status, text))
    }

    /// GET /fed/v1/channel: the peer's signed statement of both channel heads.
    pub async fn channel(&self) -> Result<String, ClientError> {
        self.get_text("/fed/v1/channel").await
    }

    /// GET /fed/v1/transcript: one page of the peer's transcript of our channel.
    pub async fn transcript(&self, direction: &str, after: u64) -> Result<String, ClientError> {
        self.get_text(&format!(
            "/fed/v1/transcript?direction={direction}&after={after}&limit=1000"
        ))
        .await
    }

    /// GET /fed/v1/recover: one page of the envelopes we sent that the peer holds.
    pub async fn recover(&self, after: u64) -> Result<String, ClientError> {
        self.get_text(&format!("/fed/v1/recover?after={after}&limit=100"))
            .await
    }

    /// GET /fed/v1/audit/checkpoints: the checkpoints of our audit chain the peer holds.
    pub async fn audit_checkpoints(
        &self,
    ) -> Result<Vec<crate::protocol::checkpoint::Witnessed>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            checkpoints: Vec<crate::protocol::checkpoint::Witnessed>,
        }
        let text = self.get_text("/fed/v1/audit/checkpoints").await?;
        let answer: Answer = serde_json::from_str(&text).map_err(|e| ClientError::Status {
            status: 200,
            body: format!("not a checkpoint list: {e}"),
        })?;
        Ok(answer.checkpoints)
    }

    async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
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
        Ok(body)
    }

    /// GET /fed/v1/descriptor, verified.
    pub async fn descriptor(&self) -> Result<VerifiedDescriptor, ClientError> {
        Ok(verify(&self.get_text("/fed/v1/descriptor").await?)?)
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

/// A client for a registered peer, from its stored descriptor, and that descriptor.
pub async fn for_registered_peer(
    node: &crate::node::Node,
    peer_id: &str,
) -> Result<(PeerClient, crate::protocol::Descriptor), String> {
    let mut conn = node
        .store
        .pool()
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    let row = crate::store::peers::get(&mut conn, peer_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{peer_id} is not a registered peer"))?;
    drop(conn);
    let descriptor: crate::protocol::Descriptor =
        serde_json::from_str(&row.descriptor).map_err(|e| e.to_string())?;
    let client = PeerClient::new(
        &row.federation_url,
        &descriptor.tls_ca,
        &node.tls.identity_pem(),
    )
    .map_err(|e| e.to_string())?;
    Ok((client, descriptor))
}

/// Fetches from `peer_id` the checkpoints of our chain it holds.
pub async fn witnessed_checkpoints(
    node: &crate::node::Node,
    peer_id: &str,
) -> Result<Vec<crate::protocol::checkpoint::Witnessed>, String> {
    let (client, _) = for_registered_peer(node, peer_id).await?;
    client
        .audit_checkpoints()
        .await
        .map_err(|e| format!("cannot fetch the checkpoints {peer_id} holds: {e}"))
}
