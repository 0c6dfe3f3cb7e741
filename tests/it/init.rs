//! `init` writes a complete node, keeps keys private, and never touches a folder
//! (or database) that already belongs to a node.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::{
    Backend, Databases, assert_fails, init_node, mittaphap, mittaphap_with, snapshot,
};
use crate::on_both_backends;

async fn init_refuses_an_existing_node(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let node = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let before = snapshot(&node.dir);
    let out = mittaphap(&[
        "init",
        "--dir",
        node.dir_str(),
        "--node-id",
        "th-other",
        "--country",
        "TH",
        "--name",
        "Other",
    ]);
    assert_fails(&out, 1, "already holds a node");
    assert_eq!(
        snapshot(&node.dir),
        before,
        "a refused init changes nothing"
    );

    // The node still opens and is the one first made.
    let out = mittaphap(&["descriptor", "--dir", node.dir_str(), "--fingerprint"]);
    assert_eq!(out.stdout.trim(), node.fingerprint);

    if let Backend::Postgres { .. } = backend {
        // A database that already belongs to a node is refused too, and the new
        // folder is not left behind half made.
        let db_url = toml_value(
            &std::fs::read_to_string(node.dir.join("node.toml")).unwrap(),
            "url",
        );
        let fresh = root.path().join("second");
        let out = mittaphap(&[
            "init",
            "--dir",
            fresh.to_str().unwrap(),
            "--node-id",
            "th-second",
            "--country",
            "TH",
            "--name",
            "Second",
            "--database",
            &db_url,
        ]);
        assert_fails(&out, 1, "already belongs to node th-msdhs");
        assert!(!fresh.exists(), "nothing left behind");
    }
}
on_both_backends!(init_refuses_an_existing_node);

fn toml_value(text: &str, key: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap();
    line.split_once(" = ")
        .unwrap()
        .1
        .trim_matches('"')
        .to_owned()
}

#[test]
fn key_files_are_private() {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let node = init_node(root.path(), "la-molsw", "LA", &dbs);
    let mode = |p: &str| {
        std::fs::metadata(node.dir.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for key in [
        "certs/node.key",
        "certs/signing.key",
        "certs/age-identity.txt",
        "certs/ca.key",
        "node.toml",
    ] {
        assert_eq!(mode(key), 0o600, "{key}");
    }
    for public in ["certs/ca.pem", "certs/node.pem"] {
        assert_eq!(mode(public), 0o644, "{public}");
    }
    for dir in ["certs", "data"] {
        assert_eq!(mode(dir), 0o700, "{dir}");
    }
    assert_eq!(mode("data/mittaphap.db"), 0o600);
    let identity = std::fs::read_to_string(node.dir.join("certs/age-identity.txt")).unwrap();
    assert!(identity.lines().any(|l| l.starts_with("AGE-SECRET-KEY-1")));
    assert!(identity.contains("# public key: age1"));
    let signing = std::fs::read_to_string(node.dir.join("certs/signing.key")).unwrap();
    assert!(
        signing.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8 PEM"
    );

    // A key file that others may read is refused when the node is opened.
    std::fs::set_permissions(
        node.dir.join("certs/signing.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = mittaphap(&["descriptor", "--dir", node.dir_str()]);
    assert_fails(&out, 1, "readable by others");
}

#[test]
fn node_certificate_names_the_federation_host() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("th");
    let out = mittaphap(&[
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--node-id",
        "th-msdhs",
        "--country",
        "TH",
        "--name",
        "MSDHS",
        "--federation-url",
        "https://fed.example.org:7443",
        "--federation-addr",
        "0.0.0.0:7443",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pem = std::fs::read_to_string(dir.join("certs/node.pem")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|d: rustls::pki_types::CertificateDer| d.to_vec())
        .unwrap();
    for name in [b"fed.example.org".as_slice(), b"localhost".as_slice()] {
        assert!(
            der.windows(name.len()).any(|w| w == name),
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    // Listening on every interface without saying where peers reach us is a usage error.
    let other = root.path().join("la");
    let out = mittaphap(&[
        "init",
        "--dir",
        other.to_str().unwrap(),
        "--node-id",
        "la-molsw",
        "--country",
        "LA",
        "--name",
        "MoLSW",
        "--federation-addr",
        "0.0.0.0:7443",
    ]);
    assert_fails(&out, 2, "--federation-url");
    assert!(!other.exists());
}

#[test]
fn database_url_from_the_environment() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("th");
    let db = root.path().join("elsewhere.db");
    let url = format!("sqlite://{}", db.display());
    let out = mittaphap_with(
        &[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--node-id",
            "th-msdhs",
            "--country",
            "TH",
            "--name",
            "MSDHS",
        ],
        &[("MITTAPHAP_DATABASE_URL", &url)],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(db.exists(), "the database is where the environment said");
    assert!(
        std::fs::read_to_string(dir.join("node.toml"))
            .unwrap()
            .contains(&url)
    );
}

/// Every private key `init` writes loads with the standard tools an independent
/// implementer would use: `openssl pkey` (OpenSSL 3.0) and Python's
/// `cryptography` (both installed by scripts/setup.sh).
#[test]
fn private_keys_load_in_openssl_and_python() {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let node = init_node(root.path(), "th-msdhs", "TH", &dbs);
    for key in [
        "certs/signing.key",
        "certs/session.key",
        "certs/node.key",
        "certs/ca.key",
    ] {
        let path = node.dir.join(key);
        let openssl = std::process::Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&path)
            .output()
            .expect("openssl is installed (scripts/setup.sh)");
        assert!(
            openssl.status.success(),
            "openssl pkey {key}: {}",
            String::from_utf8_lossy(&openssl.stderr)
        );
        let python = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys\nfrom cryptography.hazmat.primitives.serialization import load_pem_private_key\nload_pem_private_key(open(sys.argv[1], 'rb').read(), None)",
            ])
            .arg(&path)
            .output()
            .expect("python3 is installed");
        assert!(
            python.status.success(),
            "cryptography {key}: {}",
            String::from_utf8_lossy(&python.stderr)
        );
    }
}
