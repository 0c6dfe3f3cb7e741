//! `mittaphap init`: a new node folder with keys, certificates, configuration and a
//! migrated database. It never touches a folder that already holds a node, and
//! leaves nothing behind when it fails.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{NodeError, absolute, descriptor_for, io_err};
use crate::config::{
    DEFAULT_MAX_BLOB_BYTES, DEFAULT_RETRY_MAX_MS, DEFAULT_SQLITE_URL, DatabaseConfig, DeskConfig,
    FederationConfig, NodeConfig, NodePaths, connect_url,
};
use crate::crypto::certs;
use crate::crypto::keys::{AgeIdentity, SigningKey};
use crate::domain::{Country, NodeId};
use crate::protocol::descriptor::check_federation_url;
use crate::store::{Backend, Store, StoreError, millis};

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub node_id: NodeId,
    pub country: Country,
    pub name: String,
    /// Defaults to `https://` and the federation address.
    pub federation_url: Option<String>,
    pub federation_addr: SocketAddr,
    pub desk_addr: SocketAddr,
    /// Defaults to SQLite under `DIR/data/`.
    pub database_url: Option<String>,
}

#[derive(Debug)]
pub struct Initialised {
    pub dir: PathBuf,
    /// Fingerprint of the node's descriptor, hex.
    pub fingerprint: String,
    pub backend: Backend,
}

pub async fn init(opts: InitOptions, now: OffsetDateTime) -> Result<Initialised, NodeError> {
    let dir = absolute(&opts.dir)?;
    let paths = NodePaths::new(&dir);
    for existing in [paths.config(), paths.certs(), paths.data()] {
        if existing.exists() {
            return Err(NodeError::AlreadyInitialised(dir.display().to_string()));
        }
    }
    let config = config_for(&opts)?;
    let created_dir = !dir.exists();
    let result = create(&paths, &config, now).await;
    if result.is_err() {
        // Leave the folder as it was found.
        if created_dir {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let _ = std::fs::remove_dir_all(paths.certs());
            let _ = std::fs::remove_dir_all(paths.data());
            let _ = std::fs::remove_file(paths.config());
        }
    }
    result
}

fn config_for(opts: &InitOptions) -> Result<NodeConfig, NodeError> {
    let name =
        crate::domain::ids::parse_node_name(&opts.name).map_err(|e| NodeError::Invalid(e.0))?;
    let federation_url = match &opts.federation_url {
        Some(url) => url.clone(),
        None if opts.federation_addr.ip().is_unspecified() => {
            return Err(NodeError::Invalid(format!(
                "the federation address {} listens on every interface: give --federation-url, the address peers will use",
                opts.federation_addr
            )));
        }
        None => format!("https://{}", opts.federation_addr),
    };
    let url = check_federation_url(&federation_url).map_err(NodeError::Invalid)?;
    Ok(NodeConfig {
        node_id: opts.node_id.clone(),
        country: opts.country,
        name,
        // One spelling of the URL, without the trailing slash.
        federation_url: url.origin().ascii_serialization(),
        database: DatabaseConfig {
            url: opts
                .database_url
                .clone()
                .unwrap_or_else(|| DEFAULT_SQLITE_URL.into()),
        },
        federation: FederationConfig {
            listen: opts.federation_addr,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            retry_max_ms: DEFAULT_RETRY_MAX_MS,
            check_peer_secs: 300,
        },
        desk: DeskConfig {
            listen: opts.desk_addr,
            tls_cert: None,
            tls_key: None,
        },
        audit: Default::default(),
        retention: Default::default(),
        stats: Default::default(),
        workflow: Default::default(),
        notify: Default::default(),
        limits: Default::default(),
    })
}

/// The names the node certificate is valid for: the federation URL's host, and
/// this machine's loopback names.
pub(crate) fn cert_hosts(config: &NodeConfig) -> Result<Vec<String>, NodeError> {
    let url =
        url::Url::parse(&config.federation_url).map_err(|e| NodeError::Invalid(e.to_string()))?;
    let mut hosts: Vec<String> = url.host_str().map(str::to_owned).into_iter().collect();
    hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    Ok(hosts)
}

async fn create(
    paths: &NodePaths,
    config: &NodeConfig,
    now: OffsetDateTime,
) -> Result<Initialised, NodeError> {
    let hosts = cert_hosts(config)?;
    let tls = certs::generate(config.node_id.as_str(), &config.name, &hosts, now)?;
    let signing = SigningKey::generate()?;
    let age = AgeIdentity::generate();
    let created = now.format(&Rfc3339).unwrap_or_default();

    mkdir_private(&paths.dir)?;
    mkdir_private(&paths.data())?;
    let db_url = connect_url(paths, &config.database.url).map_err(NodeError::Invalid)?;
    let store = Store::connect(&db_url, true).await?;
    let stored = async {
        store.migrate().await?;
        let mut tx = store.begin().await?;
        crate::store::node::insert(
            &mut tx,
            config.node_id.as_str(),
            config.country.as_str(),
            millis(now),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    }
    .await;
    let backend = store.backend();
    store.close().await;
    stored?;
    if backend == Backend::Sqlite {
        restrict_sqlite_files(paths)?;
    }

    mkdir_private(&paths.certs())?;
    write_file(&paths.ca_pem(), &tls.ca_pem, 0o644)?;
    write_file(&paths.ca_key(), &tls.ca_key_pem, 0o600)?;
    write_file(&paths.node_pem(), &tls.node_pem, 0o644)?;
    write_file(&paths.node_key(), &tls.node_key_pem, 0o600)?;
    write_file(&paths.signing_key(), signing.pkcs8_pem(), 0o600)?;
    write_file(
        &paths.session_key(),
        SigningKey::generate()?.pkcs8_pem(),
        0o600,
    )?;
    write_file(&paths.age_identity(), &age.file_text(&created), 0o600)?;
    // node.toml may hold a database password.
    write_file(
        &paths.config(),
        &config.to_toml().map_err(NodeError::Invalid)?,
        0o600,
    )?;

    let fingerprint = descriptor_for(config, &tls.ca_pem, &signing, &age).fingerprint()?;
    Ok(Initialised {
        dir: paths.dir.clone(),
        fingerprint,
        backend,
    })
}

fn mkdir_private(path: &Path) -> Result<(), NodeError> {
    if path.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err(path))
}

pub(crate) fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), NodeError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(text.as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// The SQLite file holds only clear columns and sealed values, but still no one
/// else needs to read it; its WAL and shared-memory files inherit its mode.
fn restrict_sqlite_files(paths: &NodePaths) -> Result<(), NodeError> {
    use std::os::unix::fs::PermissionsExt;
    let data = paths.data();
    for entry in std::fs::read_dir(&data).map_err(io_err(&data))? {
        let path = entry.map_err(io_err(&data))?.path();
        if path.is_file() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err(&path))?;
        }
    }
    Ok(())
}
