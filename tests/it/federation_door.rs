//! Two nodes that hold each other as peers talk over mutual TLS; a client without
//! a certificate, or with one from a CA that is not a registered peer's, gets no
//! HTTP answer at all.

use mittaphap::federation::PeerClient;

use crate::helpers::{Backend, Databases, assert_fails, init_node, mittaphap, tls_provider};
use crate::on_both_backends;

async fn mutual_tls_between_two_nodes(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let mut th = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let mut la = init_node(root.path(), "la-molsw", "LA", &dbs);
    let outsider = init_node(root.path(), "vn-outsider", "VN", &dbs);
    th.add_peer(&la);
    la.add_peer(&th);
    let (th_node, th_run) = th.start().await;
    let (la_node, la_run) = la.start().await;

    // Each node fetches the other's descriptor with its own node certificate,
    // trusting only the CA the other published.
    for (me, them, them_fp, them_id) in [
        (&th_node, &la_node, &la.fingerprint, "la-molsw"),
        (&la_node, &th_node, &th.fingerprint, "th-msdhs"),
    ] {
        let client = PeerClient::new(
            &them.config.federation_url,
            &them.tls.ca_pem,
            &me.tls.identity_pem(),
        )
        .unwrap();
        let got = client
            .descriptor()
            .await
            .expect("descriptor over mutual TLS");
        assert_eq!(got.node_id.as_str(), them_id);
        assert_eq!(got.fingerprint_grouped(), *them_fp);
        assert_eq!(got.descriptor, them.descriptor());
    }

    // No client certificate: the handshake is refused, no HTTP status comes back.
    let url = format!("{}/fed/v1/descriptor", la_node.config.federation_url);
    let bare = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(la_node.tls.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let err = bare
        .get(&url)
        .send()
        .await
        .expect_err("no certificate, no answer");
    assert!(err.status().is_none(), "{err:?}");

    // A well-formed certificate from a CA that is not a registered peer's.
    let stranger = mittaphap::node::Node::open(&outsider.dir).await.unwrap();
    let client = PeerClient::new(
        &la_node.config.federation_url,
        &la_node.tls.ca_pem,
        &stranger.tls.identity_pem(),
    )
    .unwrap();
    let err = client
        .descriptor()
        .await
        .expect_err("unknown CA, no answer");
    assert!(
        matches!(
            err,
            mittaphap::federation::client::ClientError::Transport(_)
        ),
        "{err:?}"
    );

    // The desk of each node answers liveness and readiness.
    for run in [&th_run, &la_run] {
        for path in ["healthz", "readyz"] {
            let r = reqwest::get(format!("http://{}/{path}", run.desk_addr))
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
        }
    }
    // What an operator runs to see the link is up, both ways.
    for (me, them) in [(&th, "la-molsw"), (&la, "th-msdhs")] {
        let out = mittaphap(&["peer", "check", "--dir", me.dir_str(), "--peer", them]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains("answers over mutual TLS"),
            "{}",
            out.stdout
        );
    }
    assert_fails(
        &mittaphap(&[
            "peer",
            "check",
            "--dir",
            th.dir_str(),
            "--peer",
            "vn-outsider",
        ]),
        1,
        "not a registered peer",
    );

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
    stranger.store.close().await;

    // With the peer down, the check fails with one clear line.
    assert_fails(
        &mittaphap(&["peer", "check", "--dir", th.dir_str(), "--peer", "la-molsw"]),
        1,
        "la-molsw at https://127.0.0.1:",
    );
}
on_both_backends!(mutual_tls_between_two_nodes);

/// A peer registered while the node serves is let in without a restart.
async fn peer_added_while_serving(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let mut th = init_node(root.path(), "th-msdhs", "TH", &dbs);
    let la = init_node(root.path(), "la-molsw", "LA", &dbs);
    la.add_peer(&th);
    let (th_node, th_run) = th.start().await;
    let la_node = mittaphap::node::Node::open(&la.dir).await.unwrap();
    let client = PeerClient::new(
        &th_node.config.federation_url,
        &th_node.tls.ca_pem,
        &la_node.tls.identity_pem(),
    )
    .unwrap();
    assert!(client.descriptor().await.is_err(), "not yet a peer of th");

    th.add_peer(&la);
    // The door re-reads its peers within two seconds; poll until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let client = PeerClient::new(
            &th_node.config.federation_url,
            &th_node.tls.ca_pem,
            &la_node.tls.identity_pem(),
        )
        .unwrap();
        match client.descriptor().await {
            Ok(d) => {
                assert_eq!(d.node_id.as_str(), "th-msdhs");
                break;
            }
            Err(e) if std::time::Instant::now() > deadline => panic!("peer never admitted: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    th_run.shutdown().await.unwrap();
    la_node.store.close().await;
}
on_both_backends!(peer_added_while_serving);
