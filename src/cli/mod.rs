//! The command line (DESIGN §6). Exit codes: 0 ok, 2 usage, 1 anything else, with
//! one line on stderr.

mod bench;
mod certs;
mod demo;
mod exchange;
mod init;
mod keys;
mod oversight;
mod peer;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::node::{Node, NodeError};

#[derive(Debug, Parser)]
#[command(
    name = "mittaphap",
    version,
    about = "Case exchange for the return of trafficking victims between Thailand and Lao PDR"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node: keys, certificates, configuration and database in DIR.
    Init(init::InitArgs),
    /// Print this node's signed descriptor (JSON), to give to a peer's operator.
    Descriptor {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// Print only the descriptor's fingerprint, to read out to the peer's operator.
        #[arg(long)]
        fingerprint: bool,
    },
    /// Register and list peer nodes.
    #[command(subcommand)]
    Peer(peer::PeerCommand),
    /// The node's signing keys: rotate, retire.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The node's TLS certificate: renew.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Delivery state per peer: queued envelopes, oldest age, attempts, last error.
    Outbox {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// Mend what can be mended: attachments whose sealed blob is lost are sealed
        /// again from the file at rest (and the envelopes signed again), and a held
        /// envelope is tried again at once. Says what it did and what it cannot.
        #[arg(long)]
        repair: bool,
    },
    /// Compare both channels' transcripts with a peer; exit 1 at the first difference.
    Reconcile {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// The peer's node id.
        #[arg(long)]
        peer: String,
    },
    /// Desk accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Two nodes on this machine, one complete return through both desks, then both
    /// serve until Ctrl-C.
    Demo {
        /// Where to create the two nodes [default: a new temporary folder].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Stop after the return instead of serving.
        #[arg(long)]
        exit: bool,
    },
    /// The audit log: verify the chain and the peers' checkpoints, or send one.
    #[command(subcommand)]
    Audit(oversight::AuditCommand),
    /// Destroy the sealed content and blobs of cases ended longer ago than
    /// `retention.purge_sealed_after_days` (one audit entry per case).
    Purge {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// List what would be purged, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Counts by year, gender, age band, exploitation type, province, crossing
    /// point and outcome, from clear columns only; small cells suppressed.
    Stats {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "json")]
        format: oversight::Format,
    },
    /// Measure: receipted messages per second and latency at 1, 8 and 64
    /// concurrent cases beside a bare mutual-TLS baseline, and one large
    /// attachment end to end with each node's peak memory.
    Bench {
        /// Where to create the two nodes [default: a new temporary folder].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Messages per concurrency level.
        #[arg(long, default_value_t = 1000)]
        messages: usize,
        /// Size of the attachment, in MiB.
        #[arg(long, default_value_t = 1024)]
        attachment_mib: u64,
    },
    /// Check a handover record's token (from its QR code) offline: the printing
    /// node's signature, and its content against this node's copy of the case.
    VerifyRecord {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        /// The token; read from standard input when absent.
        token: Option<String>,
    },
    /// Run the node: the federation door and the desk, until SIGINT or SIGTERM.
    Serve {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
    },
}

/// A command's failure: `Usage` exits 2, `Failed` exits 1.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(String),
}

impl From<NodeError> for CliError {
    fn from(e: NodeError) -> Self {
        Self::Failed(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            return fail(2, &clap_one_line(&e.to_string()));
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_logging(matches!(cli.command, Command::Serve { .. }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(m)) => fail(2, &m),
        Err(CliError::Failed(m)) => fail(1, &m),
    }
}

/// One line on stderr, whatever the message held.
fn fail(code: u8, message: &str) -> ExitCode {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed")
        .trim_start_matches("error: ");
    eprintln!("mittaphap: {line}");
    ExitCode::from(code)
}

/// clap spreads an error over several lines (the message, the arguments it
/// concerns, usage, a hint): keep what comes before the usage, on one line.
fn clap_one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Logs go to stderr; level from `RUST_LOG` (default `info` when serving, `warn`
/// otherwise); `MITTAPHAP_LOG_FORMAT=json` for one JSON object per line.
fn init_logging(serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = if std::env::var("MITTAPHAP_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Init(args) => init::run(args).await,
        Command::Descriptor { dir, fingerprint } => {
            let node = Node::open(&dir).await?;
            if fingerprint {
                let fp = node.descriptor().fingerprint().map_err(NodeError::from)?;
                println!("{}", crate::crypto::hash::group_hex(&fp));
            } else {
                print!("{}", node.signed_descriptor()?);
            }
            node.store.close().await;
            Ok(())
        }
        Command::Peer(command) => peer::run(command).await,
        Command::Keys(command) => keys::run(command).await,
        Command::Certs(command) => certs::run(command).await,
        Command::Outbox { dir, repair: false } => exchange::outbox(&dir).await,
        Command::Outbox { dir, repair: true } => exchange::repair(&dir).await,
        Command::Reconcile { dir, peer } => exchange::reconcile(&dir, &peer).await,
        Command::User(command) => user::run(command).await,
        Command::Demo { dir, exit } => demo::run(dir, exit).await,
        Command::Serve { dir } => serve::run(&dir).await,
        Command::Audit(command) => oversight::audit(command).await,
        Command::Bench {
            dir,
            messages,
            attachment_mib,
        } => {
            bench::run(bench::BenchArgs {
                dir,
                messages,
                attachment_mib,
            })
            .await
        }
        Command::Purge { dir, dry_run } => oversight::purge(&dir, dry_run).await,
        Command::Stats { dir, format } => oversight::stats(&dir, format).await,
        Command::VerifyRecord { dir, token } => oversight::verify_record(&dir, token).await,
    }
}
