//! Test fixtures: the binary, node folders, databases, and running nodes.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use mittaphap::node::Node;
use mittaphap::serve::{Listeners, Running, start};

/// Runs each test body on SQLite and, when it answers, on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres().await {
                    super::$name(backend).await
                }
            }
        }
    };
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn mittaphap(args: &[&str]) -> Output {
    mittaphap_with(args, &[], None)
}

pub fn mittaphap_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mittaphap"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("MITTAPHAP_DATABASE_URL")
        .env_remove("MITTAPHAP_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn mittaphap");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A failed command says why in exactly one line.
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    assert_eq!(
        out.code, code,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line on stderr: {:?}",
        out.stderr
    );
    assert!(
        out.stderr.contains(needle),
        "{needle:?} not in {:?}",
        out.stderr
    );
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a reachable server; every node gets a database of its own.
    Postgres {
        admin: String,
    },
}

impl Backend {
    /// PostgreSQL from `MITTAPHAP_TEST_POSTGRES` (default the local server). When it
    /// does not answer the test is skipped, unless `MITTAPHAP_REQUIRE_POSTGRES=1`.
    pub async fn postgres() -> Option<Self> {
        let admin = std::env::var("MITTAPHAP_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        sqlx::any::install_default_drivers();
        let reachable = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::AnyPool::connect(&admin),
        )
        .await;
        match reachable {
            Ok(Ok(pool)) => {
                pool.close().await;
                Some(Self::Postgres { admin })
            }
            _ if std::env::var("MITTAPHAP_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                panic!("PostgreSQL at {admin} is required but does not answer")
            }
            _ => {
                eprintln!("skipped: PostgreSQL at {admin} does not answer");
                None
            }
        }
    }
}

/// Databases made for one test, dropped when it ends (pass or fail).
pub struct Databases {
    admin: Option<String>,
    names: std::sync::Mutex<Vec<String>>,
}

impl Databases {
    pub fn new(backend: &Backend) -> Self {
        let admin = match backend {
            Backend::Sqlite => None,
            Backend::Postgres { admin } => Some(admin.clone()),
        };
        Self {
            admin,
            names: Default::default(),
        }
    }

    /// A fresh database URL for one node, or `None` for SQLite in the node folder.
    pub fn url_for_new_node(&self) -> Option<String> {
        let admin = self.admin.as_ref()?;
        let name = format!("mittaphap_test_{}", uuid::Uuid::new_v4().simple());
        self.names.lock().unwrap().push(name.clone());
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
        Some(format!("{base}/{name}"))
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let (Some(admin), names) = (
            self.admin.clone(),
            std::mem::take(&mut *self.names.lock().unwrap()),
        ) else {
            return;
        };
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
                for name in names {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                }
                pool.close().await;
            })
        })
        .join();
    }
}

/// A node folder made by `mittaphap init`, with its ports bound in advance.
pub struct TestNode {
    pub id: String,
    pub dir: PathBuf,
    pub fingerprint: String,
    pub federation_port: u16,
    pub desk_port: u16,
    listeners: Option<Listeners>,
    /// Overrides `federation.max_blob_bytes` when the node is opened.
    pub max_blob_bytes: Option<u64>,
    /// Overrides `audit.checkpoint_every_secs` when the node is opened.
    pub checkpoint_every_secs: Option<u64>,
    /// Overrides `federation.check_peer_secs` when the node is opened.
    pub check_peer_secs: Option<u64>,
}

pub fn init_node(root: &Path, id: &str, country: &str, dbs: &Databases) -> TestNode {
    init_node_reached_at(root, id, country, dbs, None)
}

/// As `init_node`, but peers are told to call `federation_url` (a proxy, say).
pub fn init_node_reached_at(
    root: &Path,
    id: &str,
    country: &str,
    dbs: &Databases,
    federation_url: Option<&str>,
) -> TestNode {
    let federation = TcpListener::bind("127.0.0.1:0").unwrap();
    let desk = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = root.join(id);
    let fed_addr = federation.local_addr().unwrap().to_string();
    let desk_addr = desk.local_addr().unwrap().to_string();
    let name = format!("Test node {id}");
    let mut args = vec![
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--node-id",
        id,
        "--country",
        country,
        "--name",
        &name,
        "--federation-addr",
        &fed_addr,
        "--desk-addr",
        &desk_addr,
    ];
    if let Some(url) = federation_url {
        args.extend(["--federation-url", url]);
    }
    let url = dbs.url_for_new_node();
    if let Some(url) = &url {
        args.extend(["--database", url]);
    }
    let out = mittaphap(&args);
    assert_eq!(out.code, 0, "init {id}: {}", out.stderr);
    let fingerprint = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .expect("init prints the fingerprint")
        .to_owned();
    TestNode {
        id: id.into(),
        dir,
        fingerprint,
        federation_port: federation.local_addr().unwrap().port(),
        desk_port: desk.local_addr().unwrap().port(),
        listeners: Some(Listeners { federation, desk }),
        max_blob_bytes: None,
        checkpoint_every_secs: None,
        check_peer_secs: None,
    }
}

impl TestNode {
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    pub fn descriptor(&self) -> String {
        let out = mittaphap(&["descriptor", "--dir", self.dir_str()]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    }

    /// Registers `other` as a peer of this node, as an operator would.
    pub fn add_peer(&self, other: &TestNode) {
        let file = self.dir.join(format!("{}.json", other.id));
        std::fs::write(&file, other.descriptor()).unwrap();
        let out = mittaphap(&[
            "peer",
            "add",
            "--dir",
            self.dir_str(),
            file.to_str().unwrap(),
            "--fingerprint",
            &other.fingerprint,
        ]);
        assert_eq!(out.code, 0, "peer add: {}", out.stderr);
    }

    /// Opens the node as `serve` would, retrying deliveries at least every 300 ms.
    pub async fn open(&self) -> Node {
        let mut node = Node::open(&self.dir).await.expect("open node");
        node.config.federation.retry_max_ms = 300;
        if let Some(max) = self.max_blob_bytes {
            node.config.federation.max_blob_bytes = max;
        }
        if let Some(secs) = self.checkpoint_every_secs {
            node.config.audit.checkpoint_every_secs = secs;
        }
        if let Some(secs) = self.check_peer_secs {
            node.config.federation.check_peer_secs = secs;
        }
        node
    }

    /// Serves the node in this process on its own ports (again, after a stop).
    pub async fn start(&mut self) -> (Arc<Node>, Running) {
        let node = Arc::new(self.open().await);
        let listeners = match self.listeners.take() {
            Some(l) => l,
            None => Listeners {
                federation: TcpListener::bind(("127.0.0.1", self.federation_port)).unwrap(),
                desk: TcpListener::bind(("127.0.0.1", self.desk_port)).unwrap(),
            },
        };
        let running = start(node.clone(), listeners).await.expect("start node");
        (node, running)
    }

    /// Frees the pre-bound ports so the node is unreachable until `start`.
    pub fn release_ports(&mut self) {
        self.listeners = None;
    }
}

/// Path → (mode, bytes) of every file under `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.clone(),
                    (meta.permissions().mode(), std::fs::read(&path).unwrap()),
                );
            }
        }
    }
    out
}

/// Installs the process-wide TLS provider once for clients made in tests.
pub fn tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Waits (at most a minute) until a counter reaches `n`.
pub async fn wait_for(counter: &tokio::sync::watch::Sender<u64>, n: u64, what: &str) {
    let mut rx = counter.subscribe();
    let reached =
        tokio::time::timeout(std::time::Duration::from_secs(60), rx.wait_for(|v| *v >= n)).await;
    assert!(
        matches!(reached, Ok(Ok(_))),
        "timed out waiting for {what} to reach {n} (at {})",
        *counter.borrow()
    );
}

/// Writes `mib` MiB of varied bytes to `path` without holding them in memory;
/// returns their SHA-256.
pub fn write_test_file(path: &Path, mib: usize) -> String {
    use sha2::Digest;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = sha2::Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    for i in 0..mib {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (i.wrapping_mul(31) ^ j.wrapping_mul(7)) as u8;
        }
        hasher.update(&block);
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
    hex::encode(hasher.finalize())
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path).unwrap();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

/// What `fut` logs while it runs (every level, plain text): to check what a log
/// line names, and what it never holds.
pub async fn captured_log<F: std::future::Future<Output = ()>>(fut: F) -> String {
    use tracing::instrument::WithSubscriber;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    fut.with_subscriber(subscriber).await;
    String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned()
}

/// `mittaphap serve` on a node folder, as a process of its own.
pub struct Serve(pub std::process::Child);

impl Serve {
    pub async fn start(node: &TestNode) -> Self {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_mittaphap"))
            .args(["serve", "--dir", node.dir_str()])
            .env("MITTAPHAP_RETRY_MAX_MS", "300")
            .env_remove("MITTAPHAP_DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(if std::env::var_os("MITTAPHAP_TEST_SERVE_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{}/readyz", node.desk_port);
        until("serve to be ready", || async {
            reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        Self(child)
    }

    pub fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (a minute at most) until `check` holds: the processes are not ours, so
/// their state is read until it shows.
pub async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub async fn inbox_len(node: &mittaphap::node::Node, peer: &str) -> usize {
    crate::exchange::inbox_of(node, peer).await.len()
}

/// A memory figure (`VmRSS`, `VmHWM`, …) of a process (`self` or a pid) in kB.
pub fn proc_status_kib(process: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|v| v.trim_start_matches(':').trim().strip_suffix(" kB"))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
