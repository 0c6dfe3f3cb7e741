//! A TLS listener for axum, shared by both doors. The accept loop hands every TCP
//! connection to its own task for the handshake (so one slow client cannot stall
//! the others), and yields finished TLS streams with what the handshake proved.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What is known about a connection once its handshake is done; handlers read it
/// through `ConnectInfo<ConnInfo>`.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The registered peer whose CA signed the client certificate (federation door).
    pub peer: Option<String>,
}

/// Turns an accepted TCP connection into a TLS stream, or refuses it (`None`).
pub trait Acceptor: Send + Sync + 'static {
    fn handshake(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> impl Future<Output = Option<(TlsStream<TcpStream>, ConnInfo)>> + Send;
}

/// Server-authenticated TLS only (the desk door when TLS is configured).
pub struct PlainTls(pub Arc<ServerConfig>);

impl Acceptor for PlainTls {
    async fn handshake(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, ConnInfo)> {
        let accept = TlsAcceptor::from(self.0.clone()).accept(tcp);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
            Ok(Ok(stream)) => Some((stream, ConnInfo { remote, peer: None })),
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%remote, "TLS handshake timed out");
                None
            }
        }
    }
}

pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, ConnInfo)>,
    accept_loop: JoinHandle<()>,
}

impl TlsListener {
    pub fn new<A: Acceptor>(tcp: TcpListener, acceptor: Arc<A>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let accept_loop = tokio::spawn(accept_loop(tcp, acceptor, tx));
        Ok(Self {
            local,
            ready,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop<A: Acceptor>(
    tcp: TcpListener,
    acceptor: Arc<A>,
    tx: mpsc::Sender<(TlsStream<TcpStream>, ConnInfo)>,
) {
    loop {
        let (stream, remote) = match tcp.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Some(done) = acceptor.handshake(stream, remote).await {
                let _ = tx.send(done).await;
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept loop only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo {
            remote: self.local,
            peer: None,
        })
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}
