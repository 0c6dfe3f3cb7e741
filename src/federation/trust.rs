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
use crate::net::{Acceptor, ConnInfo};
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

/// Refused handshakes are logged at most once a minute per client address,
/// with how many that address had refused since: a flood of bad handshakes
/// cannot flood the log. The count of all of them is on `/metrics`.
#[derive(Default)]
struct Refusals {
    /// Per address: when its last line was written (Unix seconds), and how many
    /// refusals since.
    seen: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (i64, u64)>>,
}

const REFUSAL_LOG_EVERY: i64 = 60;
/// Addresses remembered at most; beyond it the oldest memory is dropped.
const REFUSAL_ADDRESSES: usize = 4096;

impl Refusals {
    /// Whether this refusal gets a line, and how many went unlogged before it.
    fn note(&self, remote: SocketAddr, what: &str) -> Option<u64> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REFUSAL_ADDRESSES && !seen.contains_key(&remote.ip()) {
            seen.retain(|_, (last, _)| now - *last < REFUSAL_LOG_EVERY);
            if seen.len() >= REFUSAL_ADDRESSES {
                seen.clear();
            }
        }
        let entry = seen.entry(remote.ip()).or_insert((i64::MIN, 0));
        if now.saturating_sub(entry.0) >= REFUSAL_LOG_EVERY {
            let more = entry.1;
            *entry = (now, 0);
            tracing::info!(%remote, refused_since_last_line = more, "federation connection refused: {what}");
            Some(more)
        } else {
            entry.1 += 1;
            tracing::debug!(%remote, "federation connection refused: {what}");
            None
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
    type Io = TlsStream<TcpStream>;
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
        let stream = match TlsAcceptor::from(config).accept(tcp).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%remote, error = %e, "federation handshake refused");
                self.refusals.note(remote, "handshake refused");
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
    fn a_flood_of_refusals_writes_one_line_per_address() {
        let r = Refusals::default();
        let one = "127.0.0.1:9".parse().unwrap();
        let other = "127.0.0.2:9".parse().unwrap();
        let lines = (0..1000)
            .filter_map(|_| r.note(one, "handshake refused"))
            .count();
        assert_eq!(lines, 1, "the first wrote a line; the other 999 wait");
        assert_eq!(
            r.note(other, "handshake refused"),
            Some(0),
            "another address has its own line"
        );
        assert_eq!(r.seen.lock().unwrap()[&one.ip()].1, 999);
    }
}
