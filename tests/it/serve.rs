//! `mittaphap serve` as a process: it refuses a desk on a non-loopback address
//! without TLS, writes structured logs, and stops gracefully on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::{Backend, Databases, assert_fails, init_node, mittaphap_with};

#[test]
fn desk_on_a_network_address_without_tls_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let node = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let out = mittaphap_with(
        &["serve", "--dir", node.dir_str()],
        &[("MITTAPHAP_DESK_ADDR", "0.0.0.0:0")],
        None,
    );
    assert_fails(&out, 1, "over plain HTTP");
}

#[test]
fn serves_until_sigterm_then_stops_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let node = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mittaphap"))
        .args(["serve", "--dir", node.dir_str()])
        .env("MITTAPHAP_FEDERATION_ADDR", "127.0.0.1:0")
        .env("MITTAPHAP_DESK_ADDR", "127.0.0.1:0")
        .env("MITTAPHAP_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let federation = lines.next().unwrap().unwrap();
    let desk = lines.next().unwrap().unwrap();
    assert!(
        federation.starts_with("federation door: https://127.0.0.1:"),
        "{federation}"
    );
    let desk_url = desk.strip_prefix("desk: ").expect("desk line").to_owned();
    assert!(desk_url.starts_with("http://127.0.0.1:"), "{desk_url}");

    let status = reqwest::blocking_get(&format!("{desk_url}/healthz"));
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful exit, got {exit:?}");

    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let entries: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        entries.iter().any(|e| e["fields"]["message"] == "serving"),
        "{stderr}"
    );
    assert!(
        entries.iter().any(|e| e["level"] == "DEBUG"),
        "RUST_LOG=debug is honoured"
    );
    assert!(
        entries.iter().any(|e| e["fields"]["message"] == "stopping"),
        "{stderr}"
    );
}

mod reqwest {
    /// A plain GET from a synchronous test, on a runtime of its own.
    pub fn blocking_get(url: &str) -> u16 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { ::reqwest::get(url).await.unwrap().status().as_u16() })
    }
}
