//! Consent, per purpose (DESIGN §2): what it gates.

use serde::{Deserialize, Serialize};

use super::vocab::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Required to send the referral.
    Repatriation,
    FamilyTracing,
    /// Without it, health needs are left out of the referral.
    HealthInformation,
    /// Required to grant a legal-aid organisation access.
    LegalAidSharing,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Repatriation => "repatriation",
            Self::FamilyTracing => "family_tracing",
            Self::HealthInformation => "health_information",
            Self::LegalAidSharing => "legal_aid_sharing",
        }
    }
}

/// A consent as recorded: for one purpose, given or refused, when, in which
/// language it was explained, and who witnessed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    pub purpose: Purpose,
    pub granted: bool,
    pub given_on: Date,
    /// `lo`, `th`, `en`, or another BCP 47 tag.
    pub language: String,
    pub witness: String,
}

impl ConsentRecord {
    pub fn check(&self) -> Result<(), super::BodyError> {
        let bad = |field: &str, message: &str| super::BodyError::new(field, message);
        let tag_ok = (2..=35).contains(&self.language.len())
            && self
                .language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !tag_ok {
            return Err(bad("language", "a language tag such as lo, th or en"));
        }
        if self.witness.trim().is_empty() || self.witness.chars().count() > 200 {
            return Err(bad(
                "witness",
                "who witnessed the consent, 1 to 200 characters",
            ));
        }
        Ok(())
    }
}

/// The referral as it may be sent, given the purposes consented to: `None` when
/// repatriation is not consented (the referral must not be sent at all); without
/// `health_information`, health is left out. The purposes travel with it
/// (`consented`), replacing whatever the draft said, so the home side knows what
/// it may do (grant legal aid, trace the family).
pub fn referral_to_send(
    referral: &serde_json::Value,
    consented: &[Purpose],
) -> Option<serde_json::Value> {
    if !consented.contains(&Purpose::Repatriation) {
        return None;
    }
    let mut out = referral.clone();
    let object = out.as_object_mut()?;
    if !consented.contains(&Purpose::HealthInformation) {
        object.remove("health");
    }
    let mut purposes: Vec<&str> = consented.iter().map(|p| p.as_str()).collect();
    purposes.sort_unstable();
    purposes.dedup();
    object.insert("consented".into(), serde_json::json!(purposes));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consent_gates_the_referral() {
        let r = json!({"schema": "referral/1", "health": "HIV test result", "needs": "x"});
        assert_eq!(referral_to_send(&r, &[]), None);
        assert_eq!(referral_to_send(&r, &[Purpose::HealthInformation]), None);
        let sent = referral_to_send(&r, &[Purpose::Repatriation]).unwrap();
        assert!(sent.get("health").is_none());
        let sent =
            referral_to_send(&r, &[Purpose::Repatriation, Purpose::HealthInformation]).unwrap();
        assert_eq!(sent["health"], "HIV test result");
    }

    #[test]
    fn records_are_checked() {
        let record: ConsentRecord = serde_json::from_value(json!({
            "purpose": "repatriation", "granted": true, "given_on": "2026-11-20", "language": "lo", "witness": "Shelter social worker"
        }))
        .unwrap();
        assert!(record.check().is_ok());
        let mut bad = record.clone();
        bad.language = "Lao language".into();
        assert_eq!(bad.check().unwrap_err().field, "language");
    }
}
