use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use super::CliError;
use crate::desk::auth::{Role, hash_password};
use crate::node::Node;
use crate::store::users;

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
    },
}

pub async fn run(command: UserCommand) -> Result<(), CliError> {
    let UserCommand::Add {
        dir,
        username,
        role,
        org,
        password_stdin: _,
    } = command;
    let valid_name = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid_name {
        return Err(CliError::Usage(
            "--username: 3 to 64 lowercase letters, digits, '.', '_' or '-'".into(),
        ));
    }
    let role = Role::parse(&role).ok_or_else(|| {
        CliError::Usage(format!(
            "--role {role:?}: use officer, supervisor, legal_aid, admin or auditor"
        ))
    })?;
    if (role == Role::LegalAid) != org.is_some() {
        return Err(CliError::Usage(
            "--org is given for legal_aid users, and only for them".into(),
        ));
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| CliError::Failed(format!("reading the password: {e}")))?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?
        .map_err(CliError::Usage)?;
    let node = Node::open(&dir).await?;
    let row = users::UserRow {
        username: username.clone(),
        role: role.as_str().to_owned(),
        org,
        password_hash: hash,
        disabled: 0,
        created_at: crate::store::millis(time::OffsetDateTime::now_utc()),
    };
    let result = async {
        let mut tx = node.store.begin().await?;
        users::insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok::<_, crate::store::StoreError>(())
    }
    .await;
    node.store.close().await;
    result.map_err(|e| CliError::Failed(format!("refused: {e}")))?;
    println!("added user {username} ({})", role.as_str());
    Ok(())
}
