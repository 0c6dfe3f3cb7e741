//! `keys rotate|retire`: the node's signing keys over the years. A new key signs
//! from then on; earlier ones stay published (they verify what they signed, and
//! the oldest signs the descriptor so peers take the new key from a key they
//! trust) until retired.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CliError;
use crate::config::NodePaths;
use crate::crypto::hash::group_hex;
use crate::crypto::keys::SigningKey;
use crate::node::{Node, NodeError, io_err};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key that signs from now on (the current one stays
    /// published until retired) and a new age identity that peers seal to (the
    /// current one is kept to open what was sealed to it). Restart `serve`
    /// afterwards, and give the peers the new descriptor (`peer update`).
    Rotate {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
    },
    /// Stop publishing an earlier signing key (after every peer has taken the new
    /// descriptor); what it signed still checks here.
    Retire {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// The key id, as `peer list` and the descriptor show it.
        kid: String,
    },
}

pub async fn run(command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Rotate { dir } => rotate(&dir).await,
        KeysCommand::Retire { dir, kid } => retire(&dir, &kid).await,
    }
}

fn private_dir(path: &Path) -> Result<(), NodeError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err(path))
}

async fn rotate(dir: &Path) -> Result<(), CliError> {
    // Open first: the node folder and its keys are checked as `serve` would.
    let node = Node::open(dir).await?;
    node.store.close().await;
    let paths = NodePaths::new(&crate::node::absolute(dir)?);
    let current = node.signing.kid();
    let earlier = paths.signing_keys_earlier();
    private_dir(&earlier)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let kept = earlier.join(format!("{now:020}-{current}.key"));
    crate::node::init::write_file(&kept, node.signing.pkcs8_pem(), 0o600)?;
    // The age identity: the current one kept to open what was sealed to it.
    let age_earlier = paths.age_identities_earlier();
    private_dir(&age_earlier)?;
    let recipient = node.age.recipient();
    let short: String = recipient.chars().skip(4).take(12).collect();
    let kept_age = age_earlier.join(format!("{now:020}-{short}.txt"));
    let current_age =
        std::fs::read_to_string(paths.age_identity()).map_err(io_err(&paths.age_identity()))?;
    crate::node::init::write_file(&kept_age, &current_age, 0o600)?;
    let fresh_age = crate::crypto::keys::AgeIdentity::generate();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let staged_age = paths.certs().join("age-identity.txt.new");
    let _ = std::fs::remove_file(&staged_age);
    crate::node::init::write_file(&staged_age, &fresh_age.file_text(&created), 0o600)?;
    std::fs::rename(&staged_age, paths.age_identity()).map_err(io_err(&paths.age_identity()))?;

    let fresh = SigningKey::generate().map_err(NodeError::from)?;
    let staged = paths.certs().join("signing.key.new");
    let _ = std::fs::remove_file(&staged);
    crate::node::init::write_file(&staged, fresh.pkcs8_pem(), 0o600)?;
    let target = paths.signing_key();
    std::fs::rename(&staged, &target).map_err(io_err(&target))?;
    let node = Node::open(dir).await?;
    node.store.close().await;
    let fingerprint = node.descriptor().fingerprint().map_err(NodeError::from)?;
    println!("new signing key: {}", fresh.kid());
    println!(
        "new age recipient: {} (the earlier identity is kept to open what was sealed to it)",
        fresh_age.recipient()
    );
    println!(
        "still published: {current} (retire it with `mittaphap keys retire` once every peer has the new descriptor)"
    );
    println!("descriptor fingerprint: {}", group_hex(&fingerprint));
    println!(
        "next: restart `serve`; send `mittaphap descriptor` to each peer's operator for `mittaphap peer update`"
    );
    Ok(())
}

async fn retire(dir: &Path, kid: &str) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    node.store.close().await;
    if node.signing.kid() == kid {
        return Err(CliError::Usage(format!(
            "{kid} is the current signing key: rotate first (`mittaphap keys rotate`)"
        )));
    }
    let paths = NodePaths::new(&crate::node::absolute(dir)?);
    let earlier = paths.signing_keys_earlier();
    let found = std::fs::read_dir(&earlier)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&format!("-{kid}.key")))
        });
    let Some(path) = found else {
        return Err(CliError::Usage(format!(
            "{kid} is not an earlier signing key of this node (see `mittaphap descriptor`)"
        )));
    };
    let retired = paths.signing_keys_retired();
    private_dir(&retired)?;
    let to = retired.join(path.file_name().unwrap_or_default());
    std::fs::rename(&path, &to).map_err(io_err(&to))?;
    let node = Node::open(dir).await?;
    node.store.close().await;
    let fingerprint = node.descriptor().fingerprint().map_err(NodeError::from)?;
    println!("retired {kid}: no longer published; what it signed still checks here");
    println!("descriptor fingerprint: {}", group_hex(&fingerprint));
    println!(
        "next: restart `serve`; send `mittaphap descriptor` to each peer's operator for `mittaphap peer update`"
    );
    Ok(())
}
