//! The bare baseline: mutual TLS as the federation door, a handler that only
//! writes each body to a file and fsyncs it.

use std::path::PathBuf;
use std::sync::Arc;

use super::failed;
use crate::cli::CliError;
use crate::node::Node;

/// Serves the bare baseline: mutual TLS as the federation door, a handler that
/// writes each body to a file and fsyncs it.
pub(super) async fn baseline_server(
    th: Arc<Node>,
    dir: PathBuf,
) -> Result<(String, tokio::task::JoinHandle<()>), CliError> {
    use axum::routing::post as route_post;
    let trust = Arc::new(crate::federation::PeerTrust::new(
        th.store.clone(),
        th.tls.chain.clone(),
        th.tls.key.clone_key(),
    ));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(failed)?;
    let addr = tcp.local_addr().map_err(failed)?;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/fed/v1/envelopes",
        route_post(move |body: axum::body::Bytes| {
            let dir = dir.clone();
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = dir.join(format!("{n}.bin"));
                let written = async {
                    use tokio::io::AsyncWriteExt;
                    let mut f = tokio::fs::File::create(&path).await?;
                    f.write_all(&body).await?;
                    f.sync_all().await
                }
                .await;
                if written.is_ok() {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let limits = crate::net::DoorLimits::from_config(&Default::default());
    let task = tokio::spawn(async move {
        let (_running, stopped) = tokio::sync::watch::channel(false);
        let stats = Arc::new(crate::net::DoorStats::default());
        let _ = crate::net::serve(tcp, trust, app, limits, stats, stopped).await;
    });
    Ok((format!("https://{addr}"), task))
}
