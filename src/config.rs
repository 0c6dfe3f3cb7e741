//! Configuration: `DIR/node.toml`, then `MITTAPHAP_*` environment overrides.
//! This is the one source of truth; relative paths are relative to the node folder.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::{Country, NodeId};

pub const CONFIG_FILE: &str = "node.toml";
pub const DEFAULT_SQLITE_URL: &str = "sqlite:data/mittaphap.db";
pub const DEFAULT_FEDERATION_ADDR: &str = "127.0.0.1:7443";
pub const DEFAULT_DESK_ADDR: &str = "127.0.0.1:8080";
/// Default largest attachment ciphertext accepted from a peer: 2 GiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Default ceiling of the delivery backoff: 5 minutes.
pub const DEFAULT_RETRY_MAX_MS: u64 = 300_000;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node_id: NodeId,
    pub country: Country,
    pub name: String,
    /// The base URL peers use to reach our federation door (published in the descriptor).
    pub federation_url: String,
    pub database: DatabaseConfig,
    pub federation: FederationConfig,
    pub desk: DeskConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub stats: StatsConfig,
    #[serde(default)]
    pub workflow: WorkflowConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// What a node gives any one client before it stops listening to it: timeouts
/// and caps on both doors, per-peer shares of the federation door, how many
/// passwords are hashed at once, and how long a peer's blob may wait for the
/// envelope that names it. Every value has a default; docs/reliability.md
/// gives the attacks each one answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest a client may take to finish the TLS handshake.
    pub handshake_secs: u64,
    /// Longest a client may take to send a request's headers (HTTP/1).
    pub header_secs: u64,
    /// A connection with no request in progress for this long is closed.
    pub idle_secs: u64,
    /// An upload whose body sends nothing for this long is dropped.
    pub body_secs: u64,
    /// Open connections per door; at the cap the longest-idle one is closed to
    /// make room, and when every one is busy the new one is turned away.
    pub max_connections: usize,
    /// Requests one peer may have in progress on the federation door; more wait.
    pub peer_requests: usize,
    /// Envelope bytes one peer may have in this node's memory at once (MiB).
    pub peer_buffer_mib: u64,
    /// Passwords checked or hashed at once (argon2id takes 19 MiB each); more wait.
    pub hashing: usize,
    /// A blob a peer uploaded that no envelope names is deleted after this long.
    pub orphan_blob_secs: u64,
    /// Bytes of blobs from one peer that no envelope names yet (MiB); beyond it
    /// uploads are refused until an envelope names them or they are deleted.
    pub peer_blob_mib: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            handshake_secs: 10,
            header_secs: 10,
            idle_secs: 120,
            body_secs: 30,
            max_connections: 1024,
            peer_requests: 8,
            peer_buffer_mib: 32,
            hashing: 2,
            orphan_blob_secs: 86_400,
            peer_blob_mib: 8 * 1024,
        }
    }
}

impl LimitsConfig {
    pub fn secs(v: u64) -> std::time::Duration {
        std::time::Duration::from_secs(v.max(1))
    }
}

/// Notices by email: off until `smtp_url` is set.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS),
    /// `smtps://host:port` (TLS from the start), with `user:password@` when
    /// the server wants credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url: Option<String>,
    /// The sender, such as `Mittaphap <desk@shelter.example>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The desk's address as users open it, for the link in a notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk_url: Option<String>,
    /// At most one email per user this often: what arrives meanwhile waits
    /// for the next.
    #[serde(default = "default_batch_secs")]
    pub batch_secs: u64,
    /// How often the node looks for what waits.
    #[serde(default = "default_check_secs")]
    pub check_secs: u64,
    /// Admins are told of a channel undelivered for longer than this.
    #[serde(default = "default_undelivered_secs")]
    pub undelivered_secs: u64,
}

fn default_batch_secs() -> u64 {
    300
}

fn default_check_secs() -> u64 {
    60
}

fn default_undelivered_secs() -> u64 {
    3600
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: None,
            desk_url: None,
            batch_secs: default_batch_secs(),
            check_secs: default_check_secs(),
            undelivered_secs: default_undelivered_secs(),
        }
    }
}

impl fmt::Debug for NotifyConfig {
    // The SMTP URL may carry a password: show whether it is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "…"))
            .field("from", &self.from)
            .field("desk_url", &self.desk_url)
            .field("batch_secs", &self.batch_secs)
            .finish_non_exhaustive()
    }
}

/// How case work is organised on this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    /// Move kinds a supervisor other than their author approves before they are
    /// sent (four eyes), such as `["referral", "closure", "withdrawal"]`.
    #[serde(default)]
    pub approve: Vec<String>,
    /// Reintegration follow-ups due this many months after reception.
    #[serde(default = "default_follow_up_months")]
    pub follow_up_months: Vec<u32>,
    /// Days the home side has to verify a referral before it is overdue.
    #[serde(default = "default_verification_days")]
    pub verification_days: u32,
    /// An account that can read sealed case content (a case worker), made by an
    /// admin or turned into one, signs in only once a supervisor has confirmed it.
    #[serde(default)]
    pub approve_accounts: bool,
}

fn default_follow_up_months() -> Vec<u32> {
    vec![1, 3, 6, 12]
}

fn default_verification_days() -> u32 {
    14
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        Self {
            approve: Vec::new(),
            follow_up_months: default_follow_up_months(),
            verification_days: default_verification_days(),
            approve_accounts: false,
        }
    }
}

/// Default least time between two audit checkpoints to a peer: one hour.
pub const DEFAULT_CHECKPOINT_EVERY_SECS: u64 = 3600;
/// Default smallest count a statistics cell may show.
pub const DEFAULT_STATS_K: u64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// A checkpoint goes to each peer at least this often while the chain grows.
    #[serde(default = "default_checkpoint_every_secs")]
    pub checkpoint_every_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_every_secs: DEFAULT_CHECKPOINT_EVERY_SECS,
        }
    }
}

fn default_checkpoint_every_secs() -> u64 {
    DEFAULT_CHECKPOINT_EVERY_SECS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Sealed content of a case that ended (closed, declined, withdrawn) longer
    /// ago than this is destroyed; unset keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_sealed_after_days: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsConfig {
    /// Cells counting fewer cases than this are suppressed.
    #[serde(default = "default_stats_k")]
    pub k: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self { k: DEFAULT_STATS_K }
    }
}

fn default_stats_k() -> u64 {
    DEFAULT_STATS_K
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite:PATH` (relative to the node folder) or `postgres://…`.
    pub url: String,
}

impl fmt::Debug for DatabaseConfig {
    // A PostgreSQL URL may carry a password: show the scheme only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or("");
        f.debug_struct("DatabaseConfig")
            .field("url", &format!("{scheme}:…"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    pub listen: SocketAddr,
    #[serde(default = "default_max_blob_bytes")]
    pub max_blob_bytes: u64,
    /// Longest wait between two delivery attempts (the backoff's ceiling).
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// How often each peer's statement of our channels is compared with our
    /// heads (a peer restored from a backup gets what it lost again).
    #[serde(default = "default_check_peer_secs")]
    pub check_peer_secs: u64,
}

fn default_check_peer_secs() -> u64 {
    300
}

fn default_retry_max_ms() -> u64 {
    DEFAULT_RETRY_MAX_MS
}

fn default_max_blob_bytes() -> u64 {
    DEFAULT_MAX_BLOB_BYTES
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain and key for serving the desk over TLS. Required when
    /// `listen` is not a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

impl NodeConfig {
    /// Reads `DIR/node.toml` and applies the process environment's overrides.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        config.apply_overrides(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        crate::domain::ids::parse_node_name(&config.name).map_err(|e| e.0)?;
        crate::protocol::descriptor::check_federation_url(&config.federation_url)?;
        Ok(config)
    }

    pub fn to_toml(&self) -> Result<String, String> {
        let body = toml::to_string(self).map_err(|e| e.to_string())?;
        Ok(format!(
            "# Mittaphap node configuration, written by `mittaphap init`.\n\
             # Every value can be overridden by a MITTAPHAP_* environment variable\n\
             # (see docs/operations.md). Relative paths are relative to this folder.\n\n{body}"
        ))
    }

    /// Overrides: `MITTAPHAP_DATABASE_URL`, `MITTAPHAP_FEDERATION_ADDR`,
    /// `MITTAPHAP_MAX_BLOB_BYTES`, `MITTAPHAP_RETRY_MAX_MS`, `MITTAPHAP_DESK_ADDR`, `MITTAPHAP_DESK_TLS_CERT`,
    /// `MITTAPHAP_DESK_TLS_KEY`, `MITTAPHAP_AUDIT_CHECKPOINT_EVERY_SECS`,
    /// `MITTAPHAP_PURGE_SEALED_AFTER_DAYS`, `MITTAPHAP_STATS_K`,
    /// `MITTAPHAP_NOTIFY_SMTP_URL` (keeps an SMTP password out of the file).
    pub fn apply_overrides(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = get("MITTAPHAP_DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = get("MITTAPHAP_FEDERATION_ADDR") {
            self.federation.listen = parse_addr("MITTAPHAP_FEDERATION_ADDR", &v)?;
        }
        if let Some(v) = get("MITTAPHAP_MAX_BLOB_BYTES") {
            self.federation.max_blob_bytes = v.parse().map_err(|_| ConfigError::Env {
                name: "MITTAPHAP_MAX_BLOB_BYTES",
                message: format!("{v:?} is not a number of bytes"),
            })?;
        }
        if let Some(v) = get("MITTAPHAP_RETRY_MAX_MS") {
            self.federation.retry_max_ms = v.parse().map_err(|_| ConfigError::Env {
                name: "MITTAPHAP_RETRY_MAX_MS",
                message: format!("{v:?} is not a number of milliseconds"),
            })?;
        }
        if let Some(v) = get("MITTAPHAP_DESK_ADDR") {
            self.desk.listen = parse_addr("MITTAPHAP_DESK_ADDR", &v)?;
        }
        if let Some(v) = get("MITTAPHAP_DESK_TLS_CERT") {
            self.desk.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = get("MITTAPHAP_DESK_TLS_KEY") {
            self.desk.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("MITTAPHAP_AUDIT_CHECKPOINT_EVERY_SECS") {
            self.audit.checkpoint_every_secs = v.parse().map_err(|_| ConfigError::Env {
                name: "MITTAPHAP_AUDIT_CHECKPOINT_EVERY_SECS",
                message: format!("{v:?} is not a number of seconds"),
            })?;
        }
        if let Some(v) = get("MITTAPHAP_PURGE_SEALED_AFTER_DAYS") {
            self.retention.purge_sealed_after_days =
                Some(v.parse().map_err(|_| ConfigError::Env {
                    name: "MITTAPHAP_PURGE_SEALED_AFTER_DAYS",
                    message: format!("{v:?} is not a number of days"),
                })?);
        }
        if let Some(v) = get("MITTAPHAP_NOTIFY_SMTP_URL") {
            self.notify.smtp_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = get("MITTAPHAP_STATS_K") {
            self.stats.k = v
                .parse()
                .ok()
                .filter(|k| *k >= 1)
                .ok_or_else(|| ConfigError::Env {
                    name: "MITTAPHAP_STATS_K",
                    message: format!("{v:?} is not a whole number of at least 1"),
                })?;
        }
        Ok(())
    }
}

fn parse_addr(name: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| ConfigError::Env {
        name,
        message: format!("{v:?} is not an address such as 127.0.0.1:8080"),
    })
}

/// The files of a node folder.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub dir: PathBuf,
}

impl NodePaths {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
    pub fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn ca_pem(&self) -> PathBuf {
        self.certs().join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.certs().join("ca.key")
    }
    pub fn node_pem(&self) -> PathBuf {
        self.certs().join("node.pem")
    }
    pub fn node_key(&self) -> PathBuf {
        self.certs().join("node.key")
    }
    pub fn signing_key(&self) -> PathBuf {
        self.certs().join("signing.key")
    }
    /// Earlier signing keys still published (verify only), `KID.key` each.
    pub fn signing_keys_earlier(&self) -> PathBuf {
        self.certs().join("signing-earlier")
    }
    /// Signing keys retired from the descriptor, kept to check what they signed.
    pub fn signing_keys_retired(&self) -> PathBuf {
        self.certs().join("signing-retired")
    }
    pub fn session_key(&self) -> PathBuf {
        self.certs().join("session.key")
    }
    pub fn age_identity(&self) -> PathBuf {
        self.certs().join("age-identity.txt")
    }
    /// Earlier age identities, kept to open what was sealed to them.
    pub fn age_identities_earlier(&self) -> PathBuf {
        self.certs().join("age-earlier")
    }
    /// A path from the configuration, resolved against the node folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.dir.join(p)
        }
    }
}

/// Turns the configured database URL into one sqlx can open: a relative SQLite
/// path is resolved against the node folder (and created if missing).
pub fn connect_url(paths: &NodePaths, url: &str) -> Result<String, String> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, _query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" {
            return Err("the SQLite database must be a file".into());
        }
        let abs = paths.resolve(Path::new(path));
        let file_url = url::Url::from_file_path(&abs)
            .map_err(|_| format!("cannot use {} as a database path", abs.display()))?;
        let encoded = file_url.as_str().trim_start_matches("file://");
        return Ok(format!("sqlite://{encoded}?mode=rwc"));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(url.to_owned());
    }
    Err("the database URL must start with sqlite: or postgres://".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig {
            node_id: NodeId::parse("th-msdhs").unwrap(),
            country: Country::parse("TH").unwrap(),
            name: "MSDHS".into(),
            federation_url: "https://127.0.0.1:7443".into(),
            database: DatabaseConfig {
                url: DEFAULT_SQLITE_URL.into(),
            },
            federation: FederationConfig {
                listen: DEFAULT_FEDERATION_ADDR.parse().unwrap(),
                max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
                retry_max_ms: DEFAULT_RETRY_MAX_MS,
                check_peer_secs: 300,
            },
            desk: DeskConfig {
                listen: DEFAULT_DESK_ADDR.parse().unwrap(),
                tls_cert: None,
                tls_key: None,
            },
            audit: AuditConfig::default(),
            retention: RetentionConfig::default(),
            stats: StatsConfig::default(),
            workflow: WorkflowConfig::default(),
            notify: NotifyConfig::default(),
            limits: LimitsConfig::default(),
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let config = sample();
        let text = config.to_toml().unwrap();
        assert_eq!(NodeConfig::parse(&text).unwrap(), config);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let text = sample().to_toml().unwrap();
        assert!(NodeConfig::parse(&format!("{text}\n[extra]\nx = 1\n")).is_err());
        assert!(NodeConfig::parse(&text.replace("th-msdhs", "TH MSDHS")).is_err());
        assert!(NodeConfig::parse(&text.replace("https://", "http://")).is_err());
    }

    #[test]
    fn environment_overrides() {
        let mut config = sample();
        config
            .apply_overrides(|name| match name {
                "MITTAPHAP_DATABASE_URL" => Some("postgres://db/x".into()),
                "MITTAPHAP_DESK_ADDR" => Some("127.0.0.1:9999".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.database.url, "postgres://db/x");
        assert_eq!(config.desk.listen.port(), 9999);
        let err = config.apply_overrides(|name| {
            (name == "MITTAPHAP_FEDERATION_ADDR").then(|| "nowhere".to_owned())
        });
        assert!(err.is_err());
    }

    #[test]
    fn database_password_is_not_debug_printed() {
        let db = DatabaseConfig {
            url: "postgres://u:secret@h/db".into(),
        };
        assert!(!format!("{db:?}").contains("secret"));
    }

    #[test]
    fn sqlite_urls_resolve_against_the_folder() {
        let paths = NodePaths::new("/srv/node a");
        let url = connect_url(&paths, DEFAULT_SQLITE_URL).unwrap();
        assert_eq!(url, "sqlite:///srv/node%20a/data/mittaphap.db?mode=rwc");
        assert_eq!(
            connect_url(&paths, "sqlite:///abs/x.db").unwrap(),
            "sqlite:///abs/x.db?mode=rwc"
        );
        assert!(connect_url(&paths, "mysql://x").is_err());
        assert!(connect_url(&paths, "sqlite::memory:").is_err());
    }
}
