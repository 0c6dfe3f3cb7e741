//! `mittaphap serve`: the federation door (mutual TLS) and the desk door, until
//! asked to stop; then both finish their requests and close.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::trace::TraceLayer;

use crate::crypto::certs::{parse_cert_chain, parse_private_key};
use crate::crypto::tls_provider;
use crate::desk::{self, DeskState};
use crate::federation::{self, FedState, PeerTrust};
use crate::net::{DoorLimits, PlainTcp, PlainTls};
use crate::node::{Node, NodeError, io_err};

/// Sockets bound before serving: `bind` uses the configured addresses; tests bind
/// port 0 themselves and read the ports back.
pub struct Listeners {
    pub federation: std::net::TcpListener,
    pub desk: std::net::TcpListener,
}

impl Listeners {
    pub fn bind(node: &Node) -> Result<Self, NodeError> {
        // Check the desk rule before taking any port.
        desk_tls(node, node.config.desk.listen)?;
        let bind = |addr: SocketAddr, what: &str| {
            std::net::TcpListener::bind(addr).map_err(|e| {
                NodeError::Invalid(format!("cannot listen for the {what} on {addr}: {e}"))
            })
        };
        Ok(Self {
            federation: bind(node.config.federation.listen, "federation door")?,
            desk: bind(node.config.desk.listen, "desk")?,
        })
    }
}

/// A serving node. Dropping it does not stop it: call `shutdown`.
pub struct Running {
    pub federation_addr: SocketAddr,
    pub desk_addr: SocketAddr,
    /// `https` when the desk is served over TLS, else `http`.
    pub desk_scheme: &'static str,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    courier: JoinHandle<()>,
    upkeep: JoinHandle<()>,
    notices: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets open requests finish, and waits for both doors.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        let _ = self.courier.await;
        let _ = self.upkeep.await;
        if let Some(notices) = self.notices {
            let _ = notices.await;
        }
        for task in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(NodeError::Invalid(format!("server error: {e}"))),
                Err(e) => return Err(NodeError::Invalid(format!("server task failed: {e}"))),
            }
        }
        Ok(())
    }
}

pub async fn start(node: Arc<Node>, listeners: Listeners) -> Result<Running, NodeError> {
    let federation_addr = listeners
        .federation
        .local_addr()
        .map_err(|e| NodeError::Invalid(e.to_string()))?;
    let desk_addr = listeners
        .desk
        .local_addr()
        .map_err(|e| NodeError::Invalid(e.to_string()))?;
    let desk_tls = desk_tls(&node, desk_addr)?;
    let notifier = crate::app::notify::Notifier::from_config(&node.config.notify)
        .map_err(NodeError::Invalid)?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let trust = Arc::new(PeerTrust::new(
        node.store.clone(),
        node.tls.chain.clone(),
        node.tls.key.clone_key(),
    ));
    let fed_state = FedState::new(node.clone(), node.signed_descriptor()?.into());
    let limits = DoorLimits::from_config(&node.config.limits);
    crate::net::raise_open_files(limits.max_connections);
    crate::app::accounts::set_hashing_threads(node.config.limits.hashing);
    let fed_app = federation::router(fed_state).layer(TraceLayer::new_for_http());
    tasks.push(tokio::spawn(crate::net::serve(
        tokio_listener(listeners.federation)?,
        trust,
        fed_app,
        limits,
        node.doors.federation.clone(),
        stopped.clone(),
    )));

    let mut desk_state =
        DeskState::new(node.clone()).map_err(|e| NodeError::Invalid(e.to_string()))?;
    desk_state.secure_cookies = desk_tls.is_some();
    // The desk door serves the JSON API and the pages, both over the same core.
    let pages = crate::web::router(desk_state.clone());
    let desk_app = desk::traced(
        desk::router(desk_state)
            .merge(pages)
            .method_not_allowed_fallback(|| async { desk::ApiError::MethodNotAllowed })
            .layer(axum::middleware::from_fn(crate::web::pages_for_browsers)),
    );
    let desk_tcp = tokio_listener(listeners.desk)?;
    let desk_stats = node.doors.desk.clone();
    let desk_scheme = if let Some(config) = desk_tls {
        tasks.push(tokio::spawn(crate::net::serve(
            desk_tcp,
            Arc::new(PlainTls(config)),
            desk_app,
            limits,
            desk_stats,
            stopped.clone(),
        )));
        "https"
    } else {
        tasks.push(tokio::spawn(crate::net::serve(
            desk_tcp,
            Arc::new(PlainTcp),
            desk_app,
            limits,
            desk_stats,
            stopped.clone(),
        )));
        "http"
    };
    let courier = crate::federation::outbox::spawn_courier(node.clone(), stopped.clone());
    let upkeep = spawn_upkeep(node.clone(), stopped.clone());
    let notices = notifier.map(|n| spawn_notices(node.clone(), n, stopped.clone()));
    tracing::info!(%federation_addr, %desk_addr, node = %node.config.node_id, "serving");
    node.warn_if_cert_expires(time::OffsetDateTime::now_utc());
    Ok(Running {
        federation_addr,
        desk_addr,
        desk_scheme,
        stop,
        tasks,
        courier,
        upkeep,
        notices,
    })
}

/// Notices by email (`app::notify`) every `[notify] check_secs`, until stopped.
/// A failed round (the SMTP server down) is tried again the next time.
fn spawn_notices(
    node: Arc<Node>,
    notifier: crate::app::notify::Notifier,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs(node.config.notify.check_secs.max(1));
        let mut failing = false;
        loop {
            let now = crate::app::oversight::now_ms();
            match crate::app::notify::round(&node, &notifier, now).await {
                Ok(round) => {
                    if let Some(problem) = &round.failed {
                        if !failing {
                            tracing::warn!(problem = %problem, "notice email not sent; will retry");
                        }
                        failing = true;
                    } else {
                        if failing {
                            tracing::info!("notice emails are going out again");
                        }
                        failing = false;
                    }
                    if round.sent > 0 {
                        tracing::info!(sent = round.sent, "notice emails sent");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "notice round failed; will retry"),
            }
            node.events.notice_rounds.send_modify(|n| *n += 1);
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}

/// Checks at most every this often whether a checkpoint or a purge is due.
const UPKEEP_TICK: std::time::Duration = std::time::Duration::from_secs(60);
/// Retention sweeps run at most this often.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Audit checkpoints to peers (at least every `audit.checkpoint_every_secs` while
/// the chain grows) and the retention sweeper, until stopped.
fn spawn_upkeep(node: Arc<Node>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = node.config.audit.checkpoint_every_secs;
        let tick = UPKEEP_TICK.min(std::time::Duration::from_secs(every.max(1)));
        let gap_ms = i64::try_from(every.saturating_mul(1000)).unwrap_or(i64::MAX);
        let due = crate::app::checkpoint::Due::Every {
            min_gap_ms: gap_ms,
            since_ms: crate::store::millis(time::OffsetDateTime::now_utc()),
        };
        let mut last_sweep: Option<tokio::time::Instant> = None;
        // Cases made before the search index existed are indexed once.
        match crate::app::search::index_missing(&node).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(cases = n, "cases added to the search index"),
            Err(e) => tracing::warn!(error = %e, "the search index could not be completed"),
        }
        loop {
            let now = time::OffsetDateTime::now_utc();
            if let Err(e) = crate::app::checkpoint::send_due(&node, now, due).await {
                tracing::warn!(error = %e, "audit checkpoint not sent; will retry");
            }
            if let Err(e) = crate::app::retention::sweep_orphan_blobs(&node, now).await {
                tracing::warn!(error = %e, "orphan blob sweep failed; will retry");
            }
            if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                if last_sweep.is_some() {
                    node.warn_if_cert_expires(now);
                }
                match crate::app::retention::purge(&node, now, false).await {
                    Ok(_) => last_sweep = Some(tokio::time::Instant::now()),
                    Err(e) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(tick) => {}
            }
        }
    })
}

fn tokio_listener(l: std::net::TcpListener) -> Result<tokio::net::TcpListener, NodeError> {
    l.set_nonblocking(true)
        .map_err(|e| NodeError::Invalid(e.to_string()))?;
    tokio::net::TcpListener::from_std(l).map_err(|e| NodeError::Invalid(e.to_string()))
}

/// The desk's TLS configuration, if any. Plain HTTP is allowed on loopback only:
/// a desk reachable from a network without TLS is refused.
fn desk_tls(node: &Node, addr: SocketAddr) -> Result<Option<Arc<ServerConfig>>, NodeError> {
    let desk = &node.config.desk;
    match (&desk.tls_cert, &desk.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = node.paths.resolve(cert);
            let key = node.paths.resolve(key);
            let chain = parse_cert_chain(&std::fs::read_to_string(&cert).map_err(io_err(&cert))?)?;
            let key = parse_private_key(&std::fs::read_to_string(&key).map_err(io_err(&key))?)?;
            let mut config = ServerConfig::builder_with_provider(tls_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| NodeError::Invalid(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| NodeError::Invalid(format!("desk TLS certificate: {e}")))?;
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Ok(Some(Arc::new(config)))
        }
        (None, None) if addr.ip().is_loopback() => Ok(None),
        (None, None) => Err(NodeError::Invalid(format!(
            "refusing to serve the desk on {addr} over plain HTTP: it is not a loopback address; \
             set desk.tls_cert and desk.tls_key, or listen on 127.0.0.1 behind a TLS proxy"
        ))),
        _ => Err(NodeError::Invalid(
            "desk.tls_cert and desk.tls_key must be set together".into(),
        )),
    }
}
