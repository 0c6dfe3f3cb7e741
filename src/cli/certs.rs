//! `certs renew`: a new node certificate (and key) from the node's own CA, before
//! the old one expires. Peers trust the CA, so they need nothing.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CliError;
use crate::config::NodePaths;
use crate::node::{Node, NodeError, io_err};

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Issue a new TLS certificate and key for this node from its CA; restart
    /// `serve` afterwards.
    Renew {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// Days the new certificate is valid [default: five years].
        #[arg(long, default_value_t = crate::crypto::certs::NODE_DAYS)]
        days: i64,
    },
}

pub async fn run(command: CertsCommand) -> Result<(), CliError> {
    match command {
        CertsCommand::Renew { dir, days } => renew(&dir, days).await,
    }
}

/// Writes `text` to `path` through a staged file renamed over it.
fn replace(path: &Path, text: &str, mode: u32) -> Result<(), NodeError> {
    let staged = path.with_extension("new");
    let _ = std::fs::remove_file(&staged);
    crate::node::init::write_file(&staged, text, mode)?;
    std::fs::rename(&staged, path).map_err(io_err(path))
}

async fn renew(dir: &Path, days: i64) -> Result<(), CliError> {
    if !(1..=3650).contains(&days) {
        return Err(CliError::Usage("--days: from 1 to 3650".into()));
    }
    let node = Node::open(dir).await?;
    node.store.close().await;
    let paths = NodePaths::new(crate::node::absolute(dir)?);
    let ca_key = std::fs::read_to_string(paths.certs().join("ca.key"))
        .map_err(io_err(&paths.certs().join("ca.key")))?;
    let hosts = crate::node::init::cert_hosts(&node.config)?;
    let now = time::OffsetDateTime::now_utc();
    let (pem, key) = crate::crypto::certs::renew(
        node.config.node_id.as_str(),
        &node.config.name,
        &hosts,
        &node.tls.ca_pem,
        &ca_key,
        now,
        days,
    )
    .map_err(NodeError::from)?;
    replace(&paths.node_key(), &key, 0o600)?;
    replace(&paths.node_pem(), &pem, 0o644)?;
    let renewed = Node::open(dir).await?;
    renewed.store.close().await;
    let until = renewed
        .tls
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    println!("new TLS certificate, valid until {until}; restart `serve` to use it");
    Ok(())
}
