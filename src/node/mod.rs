//! A node opened from its folder (configuration, keys, certificates, database),
//! created by `init` and run by `serve`.

pub mod init;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, NodeConfig, NodePaths, connect_url};
use crate::crypto::CryptoError;
use crate::crypto::certs::{parse_cert_chain, parse_private_key};
use crate::crypto::keys::{AgeIdentity, SigningKey};
use crate::protocol::PROTOCOL_VERSIONS;
use crate::protocol::descriptor::{Descriptor, DescriptorError, PublishedKey};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} already holds a node; refusing to touch it")]
    AlreadyInitialised(String),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Everything a running node needs from its folder.
#[derive(Debug)]
pub struct Node {
    pub paths: NodePaths,
    pub config: NodeConfig,
    pub store: Store,
    pub signing: SigningKey,
    /// Earlier signing keys, oldest first, still published: they verify what they
    /// signed, and the oldest signs the descriptor so that peers trusting it take
    /// the new one (`keys rotate`, `keys retire`).
    pub earlier_signing: Vec<SigningKey>,
    /// Public keys retired from the descriptor: our own old envelopes and records
    /// still check against them.
    pub retired_signing: Vec<PublishedKey>,
    /// Signs desk session tokens; never used on the wire to peers.
    pub session_key: SigningKey,
    pub age: AgeIdentity,
    pub tls: NodeTls,
    pub blobs: crate::blobs::Blobs,
    /// Wakes the courier after a transaction that queued envelopes commits.
    pub outbox_ready: std::sync::Arc<tokio::sync::Notify>,
    pub events: Events,
    /// Both doors' connection counters (`/metrics`).
    pub doors: crate::net::Doors,
}

/// Counters that only grow, for whoever needs to wait for delivery (tests, the
/// demo) instead of polling.
#[derive(Debug, Default)]
pub struct Events {
    /// Envelopes this node delivered (accepted or duplicate receipt stored).
    pub delivered: tokio::sync::watch::Sender<u64>,
    /// Envelopes this node accepted from peers.
    pub accepted: tokio::sync::watch::Sender<u64>,
    /// Delivery attempts that failed and will be retried.
    pub failed_attempts: tokio::sync::watch::Sender<u64>,
    /// Envelopes a peer sent again that we had already accepted (answered from the
    /// inbox, applied nothing).
    pub duplicates: tokio::sync::watch::Sender<u64>,
    /// Comparisons of a peer's channel statement with our heads, done or failed.
    pub peer_checks: tokio::sync::watch::Sender<u64>,
    /// Our own envelopes recovered from a peer after a restore.
    pub recovered: tokio::sync::watch::Sender<u64>,
    /// Rounds of notices done (`app::notify::round`), whatever they sent.
    pub notice_rounds: tokio::sync::watch::Sender<u64>,
}

/// The node's TLS material: the CA peers trust, and our certificate and key.
pub struct NodeTls {
    /// When our node certificate stops being valid.
    pub not_after: time::OffsetDateTime,
    pub ca_pem: String,
    pub chain_pem: String,
    pub key_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls").finish_non_exhaustive()
    }
}

impl NodeTls {
    /// Certificate chain then key, the client identity form reqwest takes.
    pub fn identity_pem(&self) -> Vec<u8> {
        [self.chain_pem.as_bytes(), self.key_pem.as_bytes()].concat()
    }
}

/// A certificate is reported this long before it expires.
pub const CERT_WARNING: time::Duration = time::Duration::days(30);

impl Node {
    /// Seconds until our node certificate expires (negative once it has).
    pub fn cert_expires_in(&self, now: time::OffsetDateTime) -> i64 {
        (self.tls.not_after - now).whole_seconds()
    }

    /// Warns in the log when the node certificate expires within 30 days.
    pub fn warn_if_cert_expires(&self, now: time::OffsetDateTime) {
        let left = self.tls.not_after - now;
        if left < CERT_WARNING {
            tracing::warn!(
                days = left.whole_days(),
                "the node's TLS certificate expires soon; run `mittaphap certs renew`, then restart"
            );
        }
    }

    /// Opens the node in `dir`: reads its configuration (with environment
    /// overrides), keys and certificates, connects to and migrates its database,
    /// and checks that the database belongs to this node.
    pub async fn open(dir: &Path) -> Result<Self, NodeError> {
        let dir = absolute(dir)?;
        let paths = NodePaths::new(&dir);
        if !paths.config().exists() {
            return Err(NodeError::Invalid(format!(
                "{} holds no node (no {}); create one with `mittaphap init`",
                dir.display(),
                crate::config::CONFIG_FILE
            )));
        }
        let config = NodeConfig::load(&dir)?;
        let signing = SigningKey::from_pkcs8_pem(&read_private(&paths.signing_key())?)?;
        let earlier_signing = keys_in(&paths.signing_keys_earlier())?;
        let retired_signing = keys_in(&paths.signing_keys_retired())?
            .iter()
            .map(published)
            .collect();
        let age = AgeIdentity::from_file_text(&read_private(&paths.age_identity())?)?
            .with_earlier(age_in(&paths.age_identities_earlier())?);
        let session_key = session_key(&paths.session_key())?;
        let key_pem = read_private(&paths.node_key())?;
        let chain_pem = read(&paths.node_pem())?;
        let tls = NodeTls {
            not_after: crate::crypto::certs::not_after(&chain_pem)?,
            ca_pem: read(&paths.ca_pem())?,
            chain: parse_cert_chain(&chain_pem)?,
            key: parse_private_key(&key_pem)?,
            chain_pem,
            key_pem,
        };
        let url = connect_url(&paths, &config.database.url).map_err(NodeError::Invalid)?;
        let store = Store::connect(&url, false).await?;
        store.migrate().await?;
        let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
        match crate::store::node::get(&mut conn).await? {
            Some(id) if id == config.node_id.as_str() => {}
            Some(id) => {
                return Err(NodeError::Invalid(format!(
                    "the database belongs to node {id}, not {}",
                    config.node_id
                )));
            }
            None => {
                return Err(NodeError::Invalid(
                    "the database holds no node; was `mittaphap init` interrupted?".into(),
                ));
            }
        }
        drop(conn);
        let blobs = crate::blobs::Blobs::local(&paths.data())
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        Ok(Self {
            paths,
            config,
            store,
            signing,
            earlier_signing,
            retired_signing,
            session_key,
            age,
            tls,
            blobs,
            outbox_ready: Default::default(),
            events: Events::default(),
            doors: Default::default(),
        })
    }

    /// Our descriptor (unsigned members), built from configuration and keys: the
    /// current signing key first, then earlier ones still published.
    pub fn descriptor(&self) -> Descriptor {
        let mut d = descriptor_for(&self.config, &self.tls.ca_pem, &self.signing, &self.age);
        d.signing_keys
            .extend(self.earlier_signing.iter().rev().map(published));
        d
    }

    /// The descriptor as published: signed with the oldest key it publishes, so
    /// a peer that trusts that key takes a new one from it (`peer update`).
    pub fn signed_descriptor(&self) -> Result<String, NodeError> {
        let by = self.earlier_signing.first().unwrap_or(&self.signing);
        Ok(self.descriptor().sign(by)?)
    }

    /// Every key that ever signed for us (published or retired): to check our own
    /// envelopes and records.
    pub fn own_keys(&self) -> Descriptor {
        let mut d = self.descriptor();
        d.signing_keys.extend(self.retired_signing.iter().cloned());
        d
    }
}

pub(crate) fn descriptor_for(
    config: &NodeConfig,
    ca_pem: &str,
    signing: &SigningKey,
    age: &AgeIdentity,
) -> Descriptor {
    Descriptor {
        node_id: config.node_id.to_string(),
        country: config.country.to_string(),
        name: config.name.clone(),
        federation_url: config.federation_url.clone(),
        tls_ca: ca_pem.to_owned(),
        signing_keys: vec![PublishedKey {
            kid: signing.kid(),
            alg: "EdDSA".into(),
            public_key: signing.public_b64url(),
        }],
        age_recipients: vec![age.recipient()],
        protocol: PROTOCOL_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
    }
}

pub(crate) fn absolute(dir: &Path) -> Result<PathBuf, NodeError> {
    std::path::absolute(dir).map_err(io_err(dir))
}

fn published(key: &SigningKey) -> PublishedKey {
    PublishedKey {
        kid: key.kid(),
        alg: "EdDSA".into(),
        public_key: key.public_b64url(),
    }
}

/// The files in `dir` ending in `.ext`, in name order (names begin with the
/// seconds at which the key stopped being current); none without the folder.
fn key_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, NodeError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err(dir))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(ext) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The signing keys in `dir` (`SECONDS-KID.key`), oldest first.
fn keys_in(dir: &Path) -> Result<Vec<SigningKey>, NodeError> {
    key_files(dir, "key")?
        .iter()
        .map(|p| Ok(SigningKey::from_pkcs8_pem(&read_private(p)?)?))
        .collect()
}

/// The age identities in `dir` (`SECONDS-….txt`), newest first.
fn age_in(dir: &Path) -> Result<Vec<AgeIdentity>, NodeError> {
    key_files(dir, "txt")?
        .iter()
        .rev()
        .map(|p| Ok(AgeIdentity::from_file_text(&read_private(p)?)?))
        .collect()
}

/// The desk's session key, made on first use (nodes made before it existed).
fn session_key(path: &Path) -> Result<SigningKey, NodeError> {
    if path.exists() {
        return Ok(SigningKey::from_pkcs8_pem(&read_private(path)?)?);
    }
    let key = SigningKey::generate()?;
    init::write_file(path, key.pkcs8_pem(), 0o600)?;
    Ok(key)
}

fn read(path: &Path) -> Result<String, NodeError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Reads a private key file, refusing one that others may read.
fn read_private(path: &Path) -> Result<String, NodeError> {
    let mode = std::fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(NodeError::Invalid(format!(
            "{} is readable by others (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        )));
    }
    read(path)
}
