//! SHA-256 as lowercase hex, the form used on the wire and in paths.

use sha2::{Digest as _, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A fingerprint for people to compare out of band: SHA-256 hex in groups of 4,
/// separated by single spaces.
pub fn group_hex(hex: &str) -> String {
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a fingerprint as an operator may type it: any case, with or without the
/// spaces, colons or dashes between groups. `None` unless it is 64 hex digits.
pub fn parse_fingerprint(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '-' | '\t'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// SHA-256 (lowercase hex) and length in bytes of an age ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub sha256: String,
    pub len: u64,
}

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            sha256: sha256_hex(bytes),
            len: bytes.len() as u64,
        }
    }

    pub fn is_well_formed(&self) -> bool {
        crate::domain::is_sha256_hex(&self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fingerprints_round_trip() {
        let h = sha256_hex(b"abc");
        let grouped = group_hex(&h);
        assert_eq!(grouped.len(), 64 + 15);
        assert!(grouped.starts_with("ba78 16bf 8f01 "));
        assert_eq!(parse_fingerprint(&grouped), Some(h.clone()));
        assert_eq!(parse_fingerprint(&grouped.to_uppercase()), Some(h.clone()));
        assert_eq!(parse_fingerprint(&grouped.replace(' ', ":")), Some(h));
        assert_eq!(parse_fingerprint("ba78"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }
}
