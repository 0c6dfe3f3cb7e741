//! Finding a case by a name, an identity document number or a phone number,
//! without the text in the database and without opening every case: a blind
//! index. Each name, number and phone of the referral is normalised (lower case,
//! letters and digits only) and cut into overlapping three-character pieces; each
//! piece is stored as an HMAC-SHA256 under a key only this node holds. A search
//! cuts its words the same way and finds the cases that hold every piece.
//!
//! What it reveals to someone who reads the database but not the node's key:
//! which cases share a three-character piece of a name or number (so, roughly,
//! which share a name), and how many pieces each case has. Not the pieces.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use sqlx::AnyConnection;

use super::AppError;
use super::audit::{self, Entry};
use crate::node::Node;
use crate::store::search;

/// The index key: derived from the node's session key, never stored.
fn key(node: &Node) -> Vec<u8> {
    format!("mittaphap search index\n{}", node.session_key.pkcs8_pem()).into_bytes()
}

fn blind(node: &Node, piece: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key(node)) else {
        return String::new();
    };
    mac.update(piece.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The words of a text, lower case, letters and digits only (a phone number's
/// spaces and a document number's dashes go).
fn words(text: &str, joined: bool) -> Vec<String> {
    let lower = text.to_lowercase();
    let clean: String = lower
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    if joined {
        let one: String = clean.split_whitespace().collect();
        return (!one.is_empty()).then_some(one).into_iter().collect();
    }
    clean.split_whitespace().map(str::to_owned).collect()
}

/// A word's pieces: every three characters in a row, or the word if shorter.
fn pieces(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= 3 {
        return vec![word.to_owned()];
    }
    chars.windows(3).map(|w| w.iter().collect()).collect()
}

/// What the index holds of a referral: its names, numbers and phones, blinded.
fn tokens(node: &Node, file: &Value) -> Vec<String> {
    let mut texts: Vec<(String, bool)> = Vec::new();
    let mut names = |v: &Value| {
        for script in ["lo", "th", "latin"] {
            if let Some(n) = v[script].as_str() {
                texts.push((n.to_owned(), false));
            }
        }
    };
    names(&file["person"]["names"]);
    for c in file["family_contacts"].as_array().into_iter().flatten() {
        names(&c["names"]);
    }
    for c in file["family_contacts"].as_array().into_iter().flatten() {
        if let Some(p) = c["phone"].as_str() {
            texts.push((p.to_owned(), true));
        }
    }
    for d in file["identity_documents"].as_array().into_iter().flatten() {
        if let Some(n) = d["number"].as_str() {
            texts.push((n.to_owned(), true));
        }
    }
    let set: BTreeSet<String> = texts
        .iter()
        .flat_map(|(t, joined)| words(t, *joined))
        .flat_map(|w| pieces(&w))
        .map(|p| blind(node, &p))
        .collect();
    set.into_iter().collect()
}

/// Indexes (again) the case whose referral is `file`, in the caller's transaction.
pub(super) async fn index(
    conn: &mut AnyConnection,
    node: &Node,
    case_id: &str,
    file: &Value,
) -> Result<(), AppError> {
    search::replace(conn, case_id, &tokens(node, file)).await?;
    Ok(())
}

/// Indexes the cases made before the index existed (or whose index is empty);
/// returns how many. The upkeep task runs it once at start.
pub async fn index_missing(node: &Node) -> Result<usize, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let missing = search::unindexed(&mut conn).await?;
    drop(conn);
    let mut done = 0;
    for (case_id, sealed) in missing {
        let Some(file) = super::cases::open_sealed(node, &sealed) else {
            continue;
        };
        let mut tx = node.store.begin().await?;
        index(&mut tx, node, &case_id, &file).await?;
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}

/// The cases whose names, numbers or phones hold every word of `q` (any part of
/// a word of three characters or more), audited with the count, not the text.
pub async fn find(node: &Node, actor: &str, q: &str) -> Result<BTreeSet<String>, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let mut found: Option<BTreeSet<String>> = None;
    for word in words(q, false) {
        for piece in pieces(&word) {
            let cases: BTreeSet<String> = search::cases_with(&mut conn, &blind(node, &piece))
                .await?
                .into_iter()
                .collect();
            found = Some(match found {
                Some(f) => f.intersection(&cases).cloned().collect(),
                None => cases,
            });
        }
    }
    drop(conn);
    let found = found.unwrap_or_default();
    let mut tx = node.store.begin().await?;
    let detail = format!("results={}", found.len());
    let entry = Entry {
        actor,
        action: "case.search",
        case_id: None,
        detail: &detail,
    };
    audit::record(&mut tx, entry, time::OffsetDateTime::now_utc()).await?;
    tx.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_pieces() {
        assert_eq!(words("Nang KEOMANY", false), ["nang", "keomany"]);
        assert_eq!(
            words("+856 20 5555-1234", true),
            ["856205555 1234".replace(' ', "")]
        );
        assert_eq!(pieces("keo"), ["keo"]);
        assert_eq!(pieces("keom"), ["keo", "eom"]);
        assert_eq!(pieces("ແກ້ວ").len(), 2, "Lao by characters");
    }
}
