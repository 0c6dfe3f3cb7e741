use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::config::{DEFAULT_DESK_ADDR, DEFAULT_FEDERATION_ADDR};
use crate::domain::{Country, NodeId};
use crate::node::NodeError;
use crate::node::init::{InitOptions, init};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder of the new node (created if missing; refused if it holds a node).
    #[arg(long, env = "MITTAPHAP_DIR")]
    dir: PathBuf,
    /// The node's id, e.g. th-msdhs or la-molsw.
    #[arg(long)]
    node_id: NodeId,
    /// ISO 3166-1 alpha-2 country code, e.g. TH or LA.
    #[arg(long)]
    country: Country,
    /// The operating organisation's name, shown to peers.
    #[arg(long)]
    name: String,
    /// Base URL peers use to reach the federation door [default: https://FEDERATION_ADDR].
    #[arg(long)]
    federation_url: Option<String>,
    /// Address of the desk (users' door).
    #[arg(long, default_value = DEFAULT_DESK_ADDR)]
    desk_addr: SocketAddr,
    /// Address of the federation door (mutual TLS).
    #[arg(long, default_value = DEFAULT_FEDERATION_ADDR)]
    federation_addr: SocketAddr,
    /// postgres://… to use PostgreSQL [default: SQLite in DIR/data/].
    #[arg(long, env = "MITTAPHAP_DATABASE_URL")]
    database: Option<String>,
}

pub async fn run(args: InitArgs) -> Result<(), CliError> {
    let options = InitOptions {
        dir: args.dir,
        node_id: args.node_id,
        country: args.country,
        name: args.name,
        federation_url: args.federation_url,
        federation_addr: args.federation_addr,
        desk_addr: args.desk_addr,
        database_url: args.database,
    };
    match init(options, time::OffsetDateTime::now_utc()).await {
        Ok(done) => {
            println!("initialised node in {}", done.dir.display());
            println!(
                "fingerprint: {}",
                crate::crypto::hash::group_hex(&done.fingerprint)
            );
            Ok(())
        }
        // Bad values given on the command line are usage errors.
        Err(NodeError::Invalid(m)) => Err(CliError::Usage(m)),
        Err(e) => Err(e.into()),
    }
}
