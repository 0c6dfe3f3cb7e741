use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::crypto::hash::group_hex;
use crate::node::{Node, NodeError};
use crate::protocol::descriptor::{DescriptorError, verify};
use crate::store::{StoreError, peers};

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Register a peer from its signed descriptor, after checking the fingerprint
    /// its operator gave you out of band.
    Add {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// The peer's descriptor JSON (`-` reads standard input).
        file: PathBuf,
        /// The fingerprint read out by the peer's operator (spaces optional).
        #[arg(long)]
        fingerprint: String,
    },
    /// Take a registered peer's new descriptor (new keys, address, name): taken
    /// when a key we already trust for that peer signed it, or when its
    /// fingerprint, read out by the peer's operator, is given.
    Update {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// The peer's new descriptor JSON (`-` reads standard input).
        file: PathBuf,
        /// The new descriptor's fingerprint, read out by the peer's operator.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// List registered peers.
    List {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
    },
    /// Call a peer's federation door over mutual TLS and check that its descriptor
    /// still has the registered fingerprint.
    Check {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// The peer's node id.
        #[arg(long)]
        peer: String,
    },
}

pub async fn run(command: PeerCommand) -> Result<(), CliError> {
    match command {
        PeerCommand::Add {
            dir,
            file,
            fingerprint,
        } => add(dir, file, &fingerprint).await,
        PeerCommand::Update {
            dir,
            file,
            fingerprint,
        } => update(dir, file, fingerprint.as_deref()).await,
        PeerCommand::List { dir } => list(dir).await,
        PeerCommand::Check { dir, peer } => check(dir, &peer).await,
    }
}

async fn add(dir: PathBuf, file: PathBuf, fingerprint: &str) -> Result<(), CliError> {
    let text = read_input(&file)?;
    if crate::crypto::hash::parse_fingerprint(fingerprint).is_none() {
        return Err(CliError::Usage(
            "--fingerprint must be 64 hex digits (spaces allowed)".into(),
        ));
    }
    let node = Node::open(&dir).await?;
    let result = crate::app::peers::register_peer(
        &node,
        &text,
        fingerprint,
        time::OffsetDateTime::now_utc(),
    )
    .await;
    node.store.close().await;
    let row = result.map_err(|e| match e {
        NodeError::Descriptor(DescriptorError::FingerprintMismatch) => CliError::Failed(format!(
            "refused: {e}; compare the fingerprint with the peer's operator again"
        )),
        e => CliError::Failed(format!("refused: {e}")),
    })?;
    println!(
        "added peer {} ({}, {}) at {}",
        row.node_id, row.country, row.name, row.federation_url
    );
    println!("fingerprint: {}", group_hex(&row.fingerprint));
    Ok(())
}

async fn update(dir: PathBuf, file: PathBuf, fingerprint: Option<&str>) -> Result<(), CliError> {
    let text = read_input(&file)?;
    if fingerprint.is_some_and(|f| crate::crypto::hash::parse_fingerprint(f).is_none()) {
        return Err(CliError::Usage(
            "--fingerprint must be 64 hex digits (spaces allowed)".into(),
        ));
    }
    let node = Node::open(&dir).await?;
    let result =
        crate::app::peers::update_peer(&node, &text, fingerprint, time::OffsetDateTime::now_utc())
            .await;
    node.store.close().await;
    let row = result.map_err(|e| CliError::Failed(format!("refused: {e}")))?;
    println!(
        "updated peer {} ({}, {}) at {}",
        row.node_id, row.country, row.name, row.federation_url
    );
    println!("fingerprint: {}", group_hex(&row.fingerprint));
    Ok(())
}

async fn list(dir: PathBuf) -> Result<(), CliError> {
    let node = Node::open(&dir).await?;
    let rows = async {
        let mut conn = node
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        peers::list(&mut conn).await
    }
    .await
    .map_err(NodeError::from);
    node.store.close().await;
    let rows = rows?;
    if rows.is_empty() {
        println!("no peers registered");
        return Ok(());
    }
    println!(
        "{:<20} {:<7} {:<32} {:<79} KEYS",
        "ID", "COUNTRY", "FEDERATION URL", "FINGERPRINT"
    );
    for row in rows {
        let kids = verify(&row.descriptor)
            .map(|d| {
                d.descriptor
                    .signing_keys
                    .iter()
                    .map(|k| k.kid.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_else(|_| "(unreadable descriptor)".into());
        println!(
            "{:<20} {:<7} {:<32} {:<79} {}",
            row.node_id,
            row.country,
            row.federation_url,
            group_hex(&row.fingerprint),
            kids
        );
    }
    Ok(())
}

async fn check(dir: PathBuf, peer_id: &str) -> Result<(), CliError> {
    let node = Node::open(&dir).await?;
    let result = check_peer(&node, peer_id).await;
    node.store.close().await;
    let fingerprint = result?;
    println!(
        "{peer_id} answers over mutual TLS; its descriptor has the registered fingerprint {}",
        group_hex(&fingerprint)
    );
    Ok(())
}

async fn check_peer(node: &Node, peer_id: &str) -> Result<String, CliError> {
    let row = async {
        let mut conn = node
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        peers::get(&mut conn, peer_id).await
    }
    .await
    .map_err(NodeError::from)?
    .ok_or_else(|| CliError::Failed(format!("{peer_id} is not a registered peer")))?;
    let registered = verify(&row.descriptor)
        .map_err(|e| CliError::Failed(format!("stored descriptor of {peer_id}: {e}")))?;
    let client = crate::federation::PeerClient::new(
        &row.federation_url,
        &registered.descriptor.tls_ca,
        &node.tls.identity_pem(),
    )
    .map_err(|e| CliError::Failed(e.to_string()))?;
    let live = client
        .descriptor()
        .await
        .map_err(|e| CliError::Failed(format!("{peer_id} at {}: {e}", row.federation_url)))?;
    if live.fingerprint != row.fingerprint {
        return Err(CliError::Failed(format!(
            "{peer_id} now serves a different descriptor than the one registered; compare fingerprints with its operator"
        )));
    }
    Ok(live.fingerprint)
}

fn read_input(file: &PathBuf) -> Result<String, CliError> {
    let mut text = String::new();
    let result = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map(|_| ())
    };
    result.map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    Ok(text)
}
