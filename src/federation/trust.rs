//! Which client certificates the federation door accepts: those that chain to the
//! CA of a registered peer. The handshake names the peer; handlers get it through
//! the `VerifiedPeer` extractor.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::crypto::certs::root_store;
use crate::crypto::tls_provider;
use crate::net::{Acceptor, ConnInfo, HANDSHAKE_TIMEOUT};
use crate::protocol::descriptor::verify;
use crate::store::{Store, peers};

/// Peers registered while the node serves are trusted within this delay.
const REFRESH: Duration = Duration::from_secs(2);

pub struct PeerTrust {
    store: Store,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cache: Mutex<Option<Arc<Snapshot>>>,
    refusals: Refusals,
}

/// Refused connections are logged at most once per `REFUSAL_LOG_EVERY`, with how
/// many were refused since: a flood of bad handshakes cannot flood the log.
#[derive(Default)]
struct Refusals {
    /// When the last line was written (Unix seconds).
    last: std::sync::atomic::AtomicI64,
    /// Refusals since that line.
    since: std::sync::atomic::AtomicU64,
}

const REFUSAL_LOG_EVERY: i64 = 10;

impl Refusals {
    fn note(&self, remote: SocketAddr, what: &str) {
        use std::sync::atomic::Ordering;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let last = self.last.load(Ordering::Relaxed);
        if now - last >= REFUSAL_LOG_EVERY
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let more = self.since.swap(0, Ordering::Relaxed);
            tracing::info!(%remote, refused_since_last_line = more, "federation connection refused: {what}");
        } else {
            self.since.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%remote, "federation connection refused: {what}");
        }
    }
}

struct Snapshot {
    taken: Instant,
    /// `None` while no peer is registered: every connection is then refused.
    config: Option<Arc<ServerConfig>>,
    peers: Vec<(String, Arc<dyn ClientCertVerifier>)>,
}

impl PeerTrust {
    pub fn new(
        store: Store,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        Self {
            store,
            chain,
            key,
            cache: Mutex::new(None),
            refusals: Refusals::default(),
        }
    }

    async fn snapshot(&self) -> Option<Arc<Snapshot>> {
        let mut cache = self.cache.lock().await;
        if let Some(s) = cache.as_ref().filter(|s| s.taken.elapsed() < REFRESH) {
            return Some(s.clone());
        }
        match self.build().await {
            Ok(s) => {
                let s = Arc::new(s);
                *cache = Some(s.clone());
                Some(s)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot load peers for the federation door");
                // Keep serving with the last good snapshot rather than locking peers out.
                cache.clone()
            }
        }
    }

    async fn build(&self) -> Result<Snapshot, String> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let rows = peers::list(&mut conn).await.map_err(|e| e.to_string())?;
        let provider = tls_provider();
        let mut all = rustls::RootCertStore::empty();
        let mut verifiers: Vec<(String, Arc<dyn ClientCertVerifier>)> = Vec::new();
        for row in rows {
            // The stored descriptor was verified when added; re-read its CA from it.
            let ca = match verify(&row.descriptor) {
                Ok(d) => d.descriptor.tls_ca,
                Err(e) => {
                    tracing::error!(peer = %row.node_id, error = %e, "stored descriptor unreadable; peer refused");
                    continue;
                }
            };
            let roots = root_store(&ca).map_err(|e| e.to_string())?;
            all.roots.extend(roots.roots.iter().cloned());
            let one =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
            verifiers.push((row.node_id, one));
        }
        let config = if verifiers.is_empty() {
            None
        } else {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(all), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
            let mut config = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(|e| e.to_string())?
                .with_client_cert_verifier(verifier)
                .with_single_cert(self.chain.clone(), self.key.clone_key())
                .map_err(|e| e.to_string())?;
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Some(Arc::new(config))
        };
        Ok(Snapshot {
            taken: Instant::now(),
            config,
            peers: verifiers,
        })
    }
}

impl Acceptor for PeerTrust {
    async fn handshake(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> Option<(TlsStream<TcpStream>, ConnInfo)> {
        let snapshot = self.snapshot().await?;
        let Some(config) = snapshot.config.clone() else {
            self.refusals.note(remote, "no peer is registered");
            return None;
        };
        let stream =
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(tcp))
                .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "federation handshake refused");
                    self.refusals.note(remote, "handshake refused");
                    return None;
                }
                Err(_) => {
                    self.refusals.note(remote, "handshake timed out");
                    return None;
                }
            };
        let chain = stream.get_ref().1.peer_certificates()?.to_vec();
        let (leaf, intermediates) = chain.split_first()?;
        let now = UnixTime::now();
        let peer = snapshot
            .peers
            .iter()
            .find(|(_, v)| v.verify_client_cert(leaf, intermediates, now).is_ok())
            .map(|(id, _)| id.clone())?;
        tracing::debug!(%remote, %peer, "federation connection");
        Some((
            stream,
            ConnInfo {
                remote,
                peer: Some(peer),
            },
        ))
    }
}

#[cfg(test)]
mod refusal_tests {
    use super::Refusals;

    #[test]
    fn a_flood_of_refusals_writes_one_line() {
        let r = Refusals::default();
        let remote = "127.0.0.1:9".parse().unwrap();
        for _ in 0..1000 {
            r.note(remote, "handshake refused");
        }
        // The first wrote a line; the other 999 wait for the next one.
        assert_eq!(r.since.load(std::sync::atomic::Ordering::Relaxed), 999);
    }
}
