//! The node's TLS certificates: its own CA, and one node certificate (server and
//! client) signed by it. Peers trust a node's CA, published in its descriptor.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use super::CryptoError;

/// PEM texts written by `init` under `certs/`.
pub struct NodeCertificates {
    pub ca_pem: String,
    pub ca_key_pem: String,
    pub node_pem: String,
    pub node_key_pem: String,
}

impl std::fmt::Debug for NodeCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCertificates").finish_non_exhaustive()
    }
}

const CA_YEARS: i64 = 20;
const NODE_YEARS: i64 = 5;

fn cert_err(e: rcgen::Error) -> CryptoError {
    CryptoError::Certificate(e.to_string())
}

/// Makes a CA for `node_id` and a node certificate valid for `hosts` (DNS names or
/// IP addresses), usable both as TLS server and as TLS client.
pub fn generate(
    node_id: &str,
    name: &str,
    hosts: &[String],
    now: OffsetDateTime,
) -> Result<NodeCertificates, CryptoError> {
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca.distinguished_name = dn(&format!("Mittaphap CA {node_id}"), name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - Duration::days(1);
    ca.not_after = now + Duration::days(365 * CA_YEARS);
    let ca_cert = ca.self_signed(&ca_key).map_err(cert_err)?;

    let issuer = Issuer::new(ca, &ca_key);
    let (node_pem, node_key_pem) = leaf(node_id, name, hosts, &issuer, now, 365 * NODE_YEARS)?;
    Ok(NodeCertificates {
        ca_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        node_pem,
        node_key_pem,
    })
}

/// A node certificate (and its new key) for `hosts`, signed by `issuer`.
fn leaf(
    node_id: &str,
    name: &str,
    hosts: &[String],
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    now: OffsetDateTime,
    days: i64,
) -> Result<(String, String), CryptoError> {
    let node_key = KeyPair::generate().map_err(cert_err)?;
    let mut leaf = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    leaf.distinguished_name = dn(node_id, name);
    leaf.subject_alt_names = sans(hosts)?;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = now - Duration::days(1);
    leaf.not_after = now + Duration::days(days);
    let node_cert = leaf.signed_by(&node_key, issuer).map_err(cert_err)?;
    Ok((node_cert.pem(), node_key.serialize_pem()))
}

/// The days a node certificate is valid for, unless told otherwise.
pub const NODE_DAYS: i64 = 365 * NODE_YEARS;

/// A new node certificate and key from the node's own CA (`certs renew`): the
/// same names, valid `days` from `now`. Peers need nothing: they trust the CA.
pub fn renew(
    node_id: &str,
    name: &str,
    hosts: &[String],
    ca_pem: &str,
    ca_key_pem: &str,
    now: OffsetDateTime,
    days: i64,
) -> Result<(String, String), CryptoError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)
        .map_err(|_| CryptoError::InvalidKey("certs/ca.key is not a PEM private key".into()))?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(cert_err)?;
    leaf(node_id, name, hosts, &issuer, now, days)
}

/// When the first certificate of a PEM chain stops being valid.
pub fn not_after(chain_pem: &str) -> Result<OffsetDateTime, CryptoError> {
    let first = parse_cert_chain(chain_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| CryptoError::Certificate("no certificate".into()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&first)
        .map_err(|_| CryptoError::Certificate("the certificate does not parse".into()))?;
    Ok(cert.validity().not_after.to_datetime())
}

fn dn(common_name: &str, organisation: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, organisation);
    dn
}

fn sans(hosts: &[String]) -> Result<Vec<SanType>, CryptoError> {
    let mut out: Vec<SanType> = Vec::new();
    for host in hosts {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.to_owned().try_into().map_err(cert_err)?),
        };
        if !out.contains(&san) {
            out.push(san);
        }
    }
    Ok(out)
}

/// Every certificate in a PEM text, in order; an error if there is none.
pub fn parse_cert_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, CryptoError> {
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CryptoError::Certificate("not a PEM certificate".into()))?;
    if chain.is_empty() {
        return Err(CryptoError::Certificate(
            "no certificate in PEM text".into(),
        ));
    }
    Ok(chain)
}

pub fn parse_private_key(pem: &str) -> Result<PrivateKeyDer<'static>, CryptoError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| CryptoError::InvalidKey("not a PEM private key".into()))
}

/// A root store holding exactly the CA certificates in `ca_pem`; fails unless each
/// parses as a trust anchor.
pub fn root_store(ca_pem: &str) -> Result<rustls::RootCertStore, CryptoError> {
    let mut roots = rustls::RootCertStore::empty();
    for der in parse_cert_chain(ca_pem)? {
        roots
            .add(der)
            .map_err(|e| CryptoError::Certificate(format!("CA certificate refused: {e}")))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_chain_parses() {
        let hosts = [
            "node.example.org".to_owned(),
            "127.0.0.1".into(),
            "localhost".into(),
        ];
        let certs = generate("th-msdhs", "MSDHS", &hosts, OffsetDateTime::now_utc()).unwrap();
        assert!(root_store(&certs.ca_pem).is_ok());
        assert_eq!(parse_cert_chain(&certs.node_pem).unwrap().len(), 1);
        assert!(parse_private_key(&certs.node_key_pem).is_ok());
        assert!(parse_cert_chain("garbage").is_err());
    }
}
