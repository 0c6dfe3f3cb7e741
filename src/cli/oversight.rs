//! `audit verify|checkpoint`, `purge` and `stats`: what an auditor or an operator
//! runs on the node's own machine.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};

use super::CliError;
use crate::node::{Node, NodeError};
use crate::store::{StoreError, audit as store_audit, peers};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit chain, and check it against the checkpoints each peer
    /// witnessed; exit 1 naming the first entry that does not hold.
    Verify {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
    },
    /// Queue a checkpoint of the audit chain to every peer now (a running node
    /// delivers it).
    Checkpoint {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub async fn audit(command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify { dir } => verify(&dir).await,
        AuditCommand::Checkpoint { dir } => {
            let node = Node::open(&dir).await?;
            let now = time::OffsetDateTime::now_utc();
            let result =
                crate::app::checkpoint::send_due(&node, now, crate::app::checkpoint::Due::Now)
                    .await;
            node.store.close().await;
            let sent = result.map_err(NodeError::from)?;
            println!("queued an audit checkpoint for {sent} peer(s)");
            Ok(())
        }
    }
}

async fn verify(dir: &Path) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    let result = verify_node(&node).await;
    node.store.close().await;
    result
}

async fn verify_node(node: &Node) -> Result<(), CliError> {
    let loaded = async {
        let mut conn = node.store.pool().acquire().await?;
        let rows = store_audit::all(&mut conn).await?;
        let head = store_audit::head(&mut conn).await?;
        let peers = peers::list(&mut conn).await?;
        Ok::<_, StoreError>((rows, head, peers))
    }
    .await
    .map_err(NodeError::from)?;
    let (rows, head, peers) = loaded;
    let n = crate::app::audit::verify_with_head(&rows, (head.0, &head.1)).map_err(failed)?;
    println!("audit chain: {n} entries, each hash recomputed: intact");
    for peer in peers {
        let witnessed = crate::federation::client::witnessed_checkpoints(node, &peer.node_id)
            .await
            .map_err(CliError::Failed)?;
        let k = crate::app::checkpoint::check_against(&rows, &peer.node_id, &witnessed)
            .map_err(failed)?;
        let last = witnessed.iter().map(|w| w.position).max().unwrap_or(0);
        println!(
            "{}: {k} checkpoint(s) witnessed, up to entry {last}: all match",
            peer.node_id
        );
    }
    Ok(())
}

pub async fn purge(dir: &Path, dry_run: bool) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    let now = time::OffsetDateTime::now_utc();
    let result = crate::app::retention::purge(&node, now, dry_run).await;
    node.store.close().await;
    let Some(purged) = result.map_err(NodeError::from)? else {
        return Err(CliError::Usage(
            "retention.purge_sealed_after_days is not set in node.toml: nothing is ever purged"
                .into(),
        ));
    };
    let verb = if dry_run { "would purge" } else { "purged" };
    for p in &purged {
        println!(
            "{verb} {} (ended {}, {} blob(s))",
            p.case_id,
            crate::desk::json::rfc3339(p.ended_at),
            p.blobs
        );
    }
    println!("{} case(s) {verb}", purged.len());
    Ok(())
}

pub async fn stats(dir: &Path, format: Format) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    let result = crate::app::stats::stats(&node).await;
    node.store.close().await;
    let table = result.map_err(NodeError::from)?;
    match format {
        Format::Csv => print!("{}", table.to_csv()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&table).map_err(failed)?),
    }
    Ok(())
}

/// `verify-record`: prints what a genuine token covers (exit 0), or why it is
/// not genuine (exit 1).
pub async fn verify_record(dir: &Path, token: Option<String>) -> Result<(), CliError> {
    let token = match token {
        Some(t) => t,
        None => {
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
                .map_err(|e| CliError::Failed(format!("reading the token: {e}")))?;
            input
        }
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(CliError::Usage(
            "give the token as an argument or on standard input".into(),
        ));
    }
    let node = Node::open(dir).await?;
    let checked = crate::app::handover::verify(&node, "operator", token).await;
    node.store.close().await;
    match checked.map_err(|e| CliError::Failed(e.to_string()))? {
        Ok(g) => {
            let c = &g.claims;
            println!("genuine: signed by {}", c.iss);
            println!("reference: {}", c.reference);
            println!("crossing: {}", c.crossing);
            println!("date: {}", c.date);
            println!("stage: {}", c.stage);
            let printed = time::OffsetDateTime::from_unix_timestamp(c.iat)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            println!("printed: {printed}");
            println!("content sha256: {}", c.sha256);
            match &g.case_id {
                Some(id) => println!("content: matches case {id} held here"),
                None => {
                    println!("content: the case is not held here; only the signature was checked")
                }
            }
            Ok(())
        }
        Err(why) => Err(CliError::Failed(format!("not genuine: {why}"))),
    }
}
