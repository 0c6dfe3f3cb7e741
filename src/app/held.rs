//! Nothing typed is lost: a form posted after its session ended is sealed to this
//! node and kept for the user whose session it was, for at most a day, until they
//! sign in again and it is given back, once.

use super::AppError;
use super::cases::{open_sealed, seal_to_self};
use crate::node::Node;
use crate::store::held::{self, HeldRow};
use crate::store::millis;

/// How long a held form waits for its user.
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// Keeps the fields `pairs` posted to `path` by `username`; returns its id.
pub async fn hold(
    node: &Node,
    username: &str,
    path: &str,
    pairs: &[(String, String)],
    now: time::OffsetDateTime,
) -> Result<String, AppError> {
    let plaintext = serde_json::to_vec(pairs).map_err(|_| AppError::Seal)?;
    let row = HeldRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        username: username.to_owned(),
        path: path.to_owned(),
        sealed: seal_to_self(node, &plaintext)?,
        created_at: millis(now),
    };
    let mut tx = node.store.begin().await?;
    held::purge(&mut tx, millis(now) - KEEP_MS).await?;
    held::insert(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row.id)
}

/// The form `id` held for `username`, given back once: where it was posted, and
/// its fields.
pub async fn take(
    node: &Node,
    username: &str,
    id: &str,
) -> Result<Option<(String, Vec<(String, String)>)>, AppError> {
    let mut tx = node.store.begin().await?;
    let row = held::take(&mut tx, id, username).await?;
    tx.commit().await?;
    Ok(row.and_then(|r| {
        let pairs = open_sealed(node, &r.sealed)
            .and_then(|v| serde_json::from_value::<Vec<(String, String)>>(v).ok())?;
        Some((r.path, pairs))
    }))
}
