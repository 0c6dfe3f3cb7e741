use std::path::Path;
use std::sync::Arc;

use super::CliError;
use crate::node::Node;
use crate::serve::{Listeners, start};

pub async fn run(dir: &Path) -> Result<(), CliError> {
    let node = Arc::new(Node::open(dir).await?);
    let listeners = Listeners::bind(&node)?;
    let running = start(node.clone(), listeners).await?;
    // Plain lines on stdout, for operators and scripts that wait for readiness.
    println!("federation door: https://{}", running.federation_addr);
    println!("desk: {}://{}", running.desk_scheme, running.desk_addr);
    wait_for_signal().await?;
    tracing::info!("stopping");
    running.shutdown().await?;
    node.store.close().await;
    Ok(())
}

async fn wait_for_signal() -> Result<(), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CliError::Failed(format!("cannot watch SIGTERM: {e}")))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| CliError::Failed(format!("cannot watch SIGINT: {e}"))),
        _ = term.recv() => Ok(()),
    }
}
