//! Both doors' connections, accepted, handshaken and served under the node's
//! limits (`[limits]`): a TLS handshake, a request's headers and an upload's
//! body each have a deadline; a connection with no request in progress is
//! closed once idle; and each door holds at most `max_connections`, closing the
//! oldest connection that has no request in progress to make room for a new
//! one, so a flood of slow clients can neither exhaust file descriptors nor
//! keep a legitimate client (or `/readyz`) out. docs/reliability.md gives the
//! figures.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::config::LimitsConfig;

/// What is known about a connection once its handshake is done; handlers read it
/// through `ConnectInfo<ConnInfo>`.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The registered peer whose CA signed the client certificate (federation door).
    pub peer: Option<String>,
}

/// Turns an accepted TCP connection into the stream requests are read from, or
/// refuses it (`None`). The deadline is the door's, not the acceptor's.
pub trait Acceptor: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn handshake(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> impl Future<Output = Option<(Self::Io, ConnInfo)>> + Send;
}

/// Plain HTTP (the desk on loopback, behind a TLS proxy).
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    type Io = TcpStream;
    async fn handshake(&self, tcp: TcpStream, remote: SocketAddr) -> Option<(TcpStream, ConnInfo)> {
        Some((tcp, ConnInfo { remote, peer: None }))
    }
}

/// Server-authenticated TLS only (the desk door when TLS is configured).
pub struct PlainTls(pub Arc<ServerConfig>);

impl Acceptor for PlainTls {
    type Io = TlsStream<TcpStream>;
    async fn handshake(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, ConnInfo)> {
        match TlsAcceptor::from(self.0.clone()).accept(tcp).await {
            Ok(stream) => Some((stream, ConnInfo { remote, peer: None })),
            Err(e) => {
                tracing::debug!(%remote, error = %e, "TLS handshake failed");
                None
            }
        }
    }
}

/// A door's deadlines and cap.
#[derive(Debug, Clone, Copy)]
pub struct DoorLimits {
    pub handshake: Duration,
    pub header: Duration,
    pub idle: Duration,
    pub body: Duration,
    pub max_connections: usize,
}

impl DoorLimits {
    pub fn from_config(l: &LimitsConfig) -> Self {
        Self {
            handshake: LimitsConfig::secs(l.handshake_secs),
            header: LimitsConfig::secs(l.header_secs),
            idle: LimitsConfig::secs(l.idle_secs),
            body: LimitsConfig::secs(l.body_secs),
            max_connections: l.max_connections.max(1),
        }
    }
}

/// Counters of one door, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct DoorStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Closed for taking too long: handshake, headers, or idle.
    pub timed_out: AtomicU64,
    /// Closed to make room for a new connection at the cap.
    pub evicted: AtomicU64,
    /// Refused at the cap because every open connection was busy.
    pub turned_away: AtomicU64,
    /// Handshakes that failed (no registered peer's certificate, bad TLS).
    pub refused: AtomicU64,
}

/// Both doors' counters, held by the node.
#[derive(Debug, Default)]
pub struct Doors {
    pub desk: Arc<DoorStats>,
    pub federation: Arc<DoorStats>,
}

/// One open connection, as the door's cap sees it.
struct Slot {
    /// Requests in progress (a response still streaming counts).
    busy: AtomicUsize,
    /// When the last request ended, or the connection opened.
    last: Mutex<Instant>,
    /// Told when the connection must close to make room.
    close: Notify,
}

impl Slot {
    fn new() -> Self {
        Self {
            busy: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
            close: Notify::new(),
        }
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }
}

/// Marks a connection busy from a request's start until its response is sent.
struct Busy(Arc<Slot>);

impl Busy {
    fn enter(slot: Arc<Slot>) -> Self {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        Self(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections of a door, oldest first.
#[derive(Default)]
struct Registry {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next: AtomicU64,
}

impl Registry {
    /// Room for a new connection: at the cap, the oldest connection with no
    /// request in progress is told to close; when all are busy, `None`.
    fn admit(&self, max: usize, stats: &DoorStats) -> Option<(u64, Arc<Slot>)> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= max {
            let victim = slots
                .iter()
                .find(|(_, s)| !s.is_busy())
                .map(|(id, s)| (*id, s.clone()));
            let (id, slot) = match victim {
                Some(v) => v,
                None => {
                    stats.turned_away.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            };
            slots.remove(&id);
            slot.close.notify_one();
            stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new());
        slots.insert(id, slot.clone());
        Some((id, slot))
    }

    fn leave(&self, id: u64) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Takes a connection off the registry and the open count when it ends.
struct Leave {
    registry: Arc<Registry>,
    stats: Arc<DoorStats>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.registry.leave(self.id);
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// HTTP/2 streams per connection, and the bytes each may have unread.
const H2_STREAMS: u32 = 64;
const H2_STREAM_WINDOW: u32 = 256 * 1024;

/// How long a stopping door waits for requests in progress.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `tcp` until `stopped` turns true, then lets requests in
/// progress finish (at most `DRAIN`).
pub async fn serve<A: Acceptor>(
    tcp: TcpListener,
    acceptor: Arc<A>,
    app: Router,
    limits: DoorLimits,
    stats: Arc<DoorStats>,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let tracker = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop_asked(&mut stopped) => break,
        };
        let Some((id, slot)) = registry.admit(limits.max_connections, &stats) else {
            drop(stream);
            continue;
        };
        stats.open.fetch_add(1, Ordering::Relaxed);
        let leave = Leave {
            registry: registry.clone(),
            stats: stats.clone(),
            id,
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(
            acceptor.clone(),
            stream,
            remote,
            slot,
            leave,
            app.clone(),
            limits,
            stopped.clone(),
        ));
    }
    tracker.close();
    let _ = tokio::time::timeout(DRAIN, tracker.wait()).await;
    Ok(())
}

async fn stop_asked(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

#[allow(clippy::too_many_arguments)]
async fn connection<A: Acceptor>(
    acceptor: Arc<A>,
    tcp: TcpStream,
    remote: SocketAddr,
    slot: Arc<Slot>,
    leave: Leave,
    app: Router,
    limits: DoorLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let stats = leave.stats.clone();
    let handshake = tokio::time::timeout(limits.handshake, acceptor.handshake(tcp, remote));
    let (io, info) = tokio::select! {
        done = handshake => match done {
            Ok(Some(pair)) => pair,
            Ok(None) => {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => {
                stats.timed_out.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
        _ = slot.close.notified() => return,
    };
    slot.touch();
    let service = {
        let slot = slot.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let busy = Busy::enter(slot.clone());
            req.extensions_mut().insert(ConnectInfo(info.clone()));
            let req = req.map(|body| Body::new(TimeoutBody::new(limits.body, body)));
            let app = app.clone();
            async move {
                let response = match app.oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                // The connection stays busy until the response's last byte is out.
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _still = &busy;
                        frame
                    }))
                }))
            }
        })
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.idle))
        .keep_alive_timeout(limits.header)
        .max_concurrent_streams(H2_STREAMS)
        // A stream waiting for its turn (a peer's share) must not hold the
        // window the others need: each stream's window is small, the
        // connection's holds all of them (16 MiB buffered at most).
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_STREAMS * H2_STREAM_WINDOW);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let check_in = limits.idle.saturating_sub(slot.idle_for());
        tokio::select! {
            done = conn.as_mut() => {
                // Headers that took too long (hyper's own deadline).
                let slow = done.as_ref().err().and_then(|e| e.downcast_ref::<hyper::Error>()).is_some_and(hyper::Error::is_timeout);
                if slow {
                    stats.timed_out.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
            _ = slot.close.notified() => break,
            _ = stop_asked(&mut stopped), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(check_in.max(Duration::from_millis(50))) => {
                if !slot.is_busy() && slot.idle_for() >= limits.idle {
                    stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    drop(leave);
}

/// Raises this process's open-file limit to its hard limit (as Go does), and
/// warns when even that leaves too few for both doors' caps.
pub fn raise_open_files(max_connections: usize) {
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .saturating_add(256);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            open_files = limit,
            wanted,
            "the open-file limit is below what both doors may hold; set LimitNOFILE (docs/operations.md) or lower limits.max_connections"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let registry = Registry::default();
        let stats = DoorStats::default();
        let (_, first) = registry.admit(2, &stats).unwrap();
        let (_, second) = registry.admit(2, &stats).unwrap();
        let _working = Busy::enter(first.clone());
        let (_, _third) = registry.admit(2, &stats).unwrap();
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 1);
        // The busy first one stays; the idle second one was told to close.
        assert!(
            futures_util::FutureExt::now_or_never(second.close.notified()).is_some(),
            "the idle connection is told to close"
        );
        assert!(
            futures_util::FutureExt::now_or_never(first.close.notified()).is_none(),
            "the busy one is not"
        );
    }

    #[test]
    fn when_every_connection_is_busy_a_new_one_is_turned_away() {
        let registry = Registry::default();
        let stats = DoorStats::default();
        let (_, only) = registry.admit(1, &stats).unwrap();
        let _working = Busy::enter(only);
        assert!(registry.admit(1, &stats).is_none());
        assert_eq!(stats.turned_away.load(Ordering::Relaxed), 1);
    }
}
