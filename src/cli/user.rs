//! `user add|email|disable|enable`: desk accounts, from the node's own machine.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::app::accounts::{self, AccountError, NewUser};
use crate::node::Node;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a desk account; the password is read from standard input.
    Add {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        #[arg(long)]
        username: String,
        /// officer, supervisor, legal_aid, admin or auditor.
        #[arg(long)]
        role: String,
        /// The legal-aid organisation (required with legal_aid).
        #[arg(long)]
        org: Option<String>,
        /// Read the password from standard input (its first line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Where notices go (see `[notify]` in docs/operations.md).
        #[arg(long)]
        email: Option<String>,
    },
    /// Set the email address notices go to; `--email ""` removes it.
    Email {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Disable an account: its sessions end at once and it cannot sign in.
    Disable {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again (it signs in anew).
    Enable {
        #[arg(long, env = "MITTAPHAP_DIR")]
        dir: PathBuf,
        #[arg(long)]
        username: String,
    },
}

fn cli_error(e: AccountError) -> CliError {
    match e {
        AccountError::Invalid { field, message } => {
            CliError::Usage(format!("--{}: {message}", field.replace('_', "-")))
        }
        AccountError::NotFound => CliError::Usage("no such user".into()),
        e => CliError::Failed(format!("refused: {e}")),
    }
}

pub async fn run(command: UserCommand) -> Result<(), CliError> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        UserCommand::Add {
            dir,
            username,
            role,
            org,
            password_stdin: _,
            email,
        } => {
            // Check what can be checked before reading a password or opening the node.
            accounts::check_username(&username).map_err(cli_error)?;
            if let Some(email) = &email {
                accounts::check_email(email).map_err(cli_error)?;
            }
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| CliError::Failed(format!("reading the password: {e}")))?;
            let password = input.lines().next().unwrap_or_default().to_owned();
            let node = Node::open(&dir).await?;
            let new = NewUser {
                username: &username,
                role: &role,
                org: org.as_deref(),
                password,
                email: email.as_deref(),
                // The operator, at the node's own console, is trusted as is.
                needs_confirmation: false,
            };
            let result = accounts::add(&node.store, "operator", new, now).await;
            node.store.close().await;
            let role = result.map_err(cli_error)?;
            println!("added user {username} ({})", role.as_str());
        }
        UserCommand::Email {
            dir,
            username,
            email,
        } => {
            let email = Some(email.as_str()).filter(|e| !e.is_empty());
            if let Some(email) = email {
                accounts::check_email(email).map_err(cli_error)?;
            }
            let node = Node::open(&dir).await?;
            let result = accounts::set_email(&node.store, "operator", &username, email, now).await;
            node.store.close().await;
            result.map_err(cli_error)?;
            match email {
                Some(_) => println!("notices for {username} go to the address given"),
                None => println!("{username} gets no notice email"),
            }
        }
        UserCommand::Disable { dir, username } => switch(&dir, &username, true, now).await?,
        UserCommand::Enable { dir, username } => switch(&dir, &username, false, now).await?,
    }
    Ok(())
}

async fn switch(
    dir: &std::path::Path,
    username: &str,
    disabled: bool,
    now: time::OffsetDateTime,
) -> Result<(), CliError> {
    let node = Node::open(dir).await?;
    let result =
        accounts::set_disabled(&node.store, "operator", username, disabled, false, now).await;
    node.store.close().await;
    result.map_err(cli_error)?;
    println!(
        "{} user {username}",
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}
