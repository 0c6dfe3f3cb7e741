//! `outbox` and `reconcile`: what an operator looks at when messages do not arrive.

use std::path::Path;

use super::CliError;
use crate::node::{Node, NodeError};
use crate::store::{StoreError, outbox};

pub async fn outbox(dir: &Path) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    let result = async {
        let mut conn = node
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        let rows = outbox::summary(&mut conn).await?;
        let mut out = Vec::new();
        for row in rows {
            let error = outbox::last_error(&mut conn, &row.peer_id).await?;
            out.push((row, error));
        }
        Ok::<_, StoreError>(out)
    }
    .await
    .map_err(NodeError::from);
    node.store.close().await;
    let rows = result?;
    if rows.is_empty() {
        println!("no peers registered");
        return Ok(());
    }
    let now = crate::store::millis(time::OffsetDateTime::now_utc());
    println!(
        "{:<20} {:>7} {:>12} {:>9} {:>9} {:>10}  LAST ERROR",
        "PEER", "QUEUED", "OLDEST", "ATTEMPTS", "REJECTED", "DELIVERED"
    );
    for (row, error) in rows {
        let oldest = row
            .oldest_queued_at
            .map(|t| age((now - t).max(0) / 1000))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<20} {:>7} {:>12} {:>9} {:>9} {:>10}  {}",
            row.peer_id,
            row.queued,
            oldest,
            row.max_attempts.unwrap_or(0),
            row.rejected,
            row.delivered,
            error.unwrap_or_else(|| "-".into())
        );
    }
    Ok(())
}

/// `outbox --repair`: mends each undelivered envelope's attachments, and tries
/// held envelopes again now. Exit 1 when something cannot be mended here.
pub async fn repair(dir: &Path) -> Result<(), CliError> {
    use crate::app::outbox::{Mended, mend_blobs};
    let node = Node::open(dir).await?;
    let now = time::OffsetDateTime::now_utc();
    let result = async {
        let mut conn = node.store.pool().acquire().await.map_err(StoreError::from)?;
        let peers = crate::store::peers::list(&mut conn).await?;
        let mut lines = Vec::new();
        let mut stuck = 0;
        for peer in peers {
            let rows = outbox::undelivered(&mut conn, &peer.node_id, i64::MAX).await?;
            for row in rows {
                let mended = mend_blobs(&node, &peer.node_id, row.seq, false, now)
                    .await
                    .map_err(|e| StoreError::Conflict(e.to_string()))?;
                match mended {
                    Mended::Whole => {}
                    Mended::Resealed(ids) => lines.push(format!(
                        "{} seq {}: attachment(s) {} sealed again from the files at rest; this envelope and those after it signed again",
                        peer.node_id,
                        row.seq,
                        ids.join(", ")
                    )),
                    Mended::Not(why) => {
                        stuck += 1;
                        lines.push(format!("{} seq {}: cannot be mended here: {why}", peer.node_id, row.seq));
                    }
                }
                if row.state == "rejected" {
                    outbox::mark_failed(&mut conn, &peer.node_id, row.seq, "released by outbox --repair", 0)
                        .await?;
                    lines.push(format!(
                        "{} seq {}: held ({}); tried again now",
                        peer.node_id,
                        row.seq,
                        row.last_error.as_deref().unwrap_or("rejected")
                    ));
                }
            }
        }
        Ok::<_, StoreError>((lines, stuck))
    }
    .await;
    node.store.close().await;
    let (lines, stuck) = result.map_err(NodeError::from)?;
    if lines.is_empty() {
        println!("nothing to mend: every undelivered envelope has its attachments");
    }
    for l in &lines {
        println!("{l}");
    }
    if stuck > 0 {
        return Err(CliError::Failed(format!(
            "{stuck} envelope(s) cannot be mended on this node"
        )));
    }
    Ok(())
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub async fn reconcile(dir: &Path, peer: &str) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    let result = crate::federation::reconcile::reconcile(&node, peer).await;
    node.store.close().await;
    let reports = result.map_err(|e| CliError::Failed(format!("reconcile with {peer}: {e}")))?;
    let mut agree = true;
    for r in &reports {
        match r.first_difference {
            None if r.in_flight > 0 => println!(
                "{}: agree on {} envelopes; {} more queued, not yet received",
                r.channel, r.theirs.seq, r.in_flight
            ),
            None => println!(
                "{}: agree on {} envelopes (head {})",
                r.channel,
                r.ours.seq,
                short(&r.ours.sha256)
            ),
            Some(seq) => {
                agree = false;
                println!(
                    "{}: DIFFER from seq {seq} (ours: {} envelopes, head {}; theirs: {}, head {}){}",
                    r.channel,
                    r.ours.seq,
                    short(&r.ours.sha256),
                    r.theirs.seq,
                    short(&r.theirs.sha256),
                    r.why
                        .as_deref()
                        .map(|w| format!(": {w}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    if agree {
        Ok(())
    } else {
        Err(CliError::Failed(format!("transcripts with {peer} differ")))
    }
}

fn short(hash: &str) -> &str {
    if hash.is_empty() {
        "-"
    } else {
        &hash[..hash.len().min(16)]
    }
}
