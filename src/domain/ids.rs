//! Identifiers parsed once at the boundary, so a bad value cannot travel inward.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value was refused; the message names the rule, never echoes secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A node's id: 3–63 characters, lowercase ASCII letters, digits and `-`,
/// starting with a letter and not ending with `-` (e.g. `th-msdhs`, `la-molsw`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok_len = (3..=63).contains(&s.len());
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ok_ends = s.starts_with(|c: char| c.is_ascii_lowercase()) && !s.ends_with('-');
        if ok_len && ok_chars && ok_ends {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "invalid node id {s:?}: use 3 to 63 lowercase letters, digits and '-', starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodeId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for NodeId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> Self {
        id.0
    }
}

/// An ISO 3166-1 alpha-2 country code in upper case (`TH`, `LA`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country([u8; 2]);

impl Country {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Self([*a, *b])),
            _ => Err(InvalidValue(format!(
                "invalid country {s:?}: use an ISO 3166-1 alpha-2 code in capitals, such as TH or LA"
            ))),
        }
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII capitals by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Country {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Country {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Country> for String {
    fn from(c: Country) -> Self {
        c.as_str().to_owned()
    }
}

/// A node's human name as shown to operators: 1–200 characters, no control characters.
pub fn parse_node_name(s: &str) -> Result<String, InvalidValue> {
    let trimmed = s.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        return Err(InvalidValue(
            "invalid node name: use 1 to 200 characters, without control characters".into(),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        for good in ["th-msdhs", "la-molsw", "abc", "a1-b2"] {
            assert!(NodeId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", "ab", "TH-msdhs", "-th", "th-", "1th", "th_msdhs", "th msdhs", "ท-th",
        ] {
            assert!(NodeId::parse(bad).is_err(), "{bad}");
        }
        assert!(NodeId::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn countries() {
        assert_eq!(Country::parse("LA").map(|c| c.to_string()), Ok("LA".into()));
        for bad in ["la", "L", "LAO", "", "1A"] {
            assert!(Country::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_node_name("  MSDHS  "), Ok("MSDHS".into()));
        assert!(parse_node_name("a\nb").is_err());
        assert!(parse_node_name(" ").is_err());
        assert!(parse_node_name("ກະຊວງ ແຮງງານ").is_ok());
    }
}
