//! Controlled vocabularies: the Human Trafficking Case Data Standard (HTCDS 2.0) and
//! CTDC names where they exist, Lao provinces as ISO 3166-2 codes, the crossing
//! points of the Lao–Thai border, and dates that may be estimated.

use serde::{Deserialize, Serialize};

/// HTCDS gender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    Feminine,
    Masculine,
    TransgenderFeminine,
    TransgenderMasculine,
    NonConforming,
    NonSpecifiedUnknown,
}

/// HTCDS type of exploitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Exploitation {
    ForcedLabour,
    SexualExploitation,
    ChildLabour,
    ForcedMarriage,
    Servitude,
    ForcedMilitaryByNonStateActors,
    OrganRemoval,
    ForcedBegging,
    ForcedAdoption,
    Surrogacy,
    Other,
}

/// HTCDS means of control (the subset the data standard lists most often).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MeansOfControl {
    DebtBondage,
    WithholdsDocuments,
    ThreatOfLawEnforcement,
    PhysicalAbuse,
    SexualAbuse,
    PsychologicalAbuse,
    RestrictsMovement,
    WithholdsWages,
    ThreatsToFamily,
    Substances,
    FalsePromises,
    Other,
}

/// The 18 first-level divisions of Lao PDR (ISO 3166-2:LA).
pub const LAO_PROVINCES: [(&str, &str); 18] = [
    ("LA-AT", "Attapeu"),
    ("LA-BK", "Bokeo"),
    ("LA-BL", "Bolikhamxai"),
    ("LA-CH", "Champasak"),
    ("LA-HO", "Houaphan"),
    ("LA-KH", "Khammouan"),
    ("LA-LM", "Luang Namtha"),
    ("LA-LP", "Luang Prabang"),
    ("LA-OU", "Oudomxai"),
    ("LA-PH", "Phongsaly"),
    ("LA-SL", "Salavan"),
    ("LA-SV", "Savannakhet"),
    ("LA-VI", "Vientiane Province"),
    ("LA-VT", "Vientiane Capital"),
    ("LA-XA", "Xaignabouli"),
    ("LA-XE", "Xekong"),
    ("LA-XI", "Xiangkhouang"),
    ("LA-XS", "Xaisomboun"),
];

/// The 77 provinces of Thailand and Pattaya (ISO 3166-2:TH).
pub const THAI_PROVINCES: [(&str, &str); 78] = [
    ("TH-10", "Bangkok"),
    ("TH-11", "Samut Prakan"),
    ("TH-12", "Nonthaburi"),
    ("TH-13", "Pathum Thani"),
    ("TH-14", "Phra Nakhon Si Ayutthaya"),
    ("TH-15", "Ang Thong"),
    ("TH-16", "Lop Buri"),
    ("TH-17", "Sing Buri"),
    ("TH-18", "Chai Nat"),
    ("TH-19", "Saraburi"),
    ("TH-20", "Chon Buri"),
    ("TH-21", "Rayong"),
    ("TH-22", "Chanthaburi"),
    ("TH-23", "Trat"),
    ("TH-24", "Chachoengsao"),
    ("TH-25", "Prachin Buri"),
    ("TH-26", "Nakhon Nayok"),
    ("TH-27", "Sa Kaeo"),
    ("TH-30", "Nakhon Ratchasima"),
    ("TH-31", "Buri Ram"),
    ("TH-32", "Surin"),
    ("TH-33", "Si Sa Ket"),
    ("TH-34", "Ubon Ratchathani"),
    ("TH-35", "Yasothon"),
    ("TH-36", "Chaiyaphum"),
    ("TH-37", "Amnat Charoen"),
    ("TH-38", "Bueng Kan"),
    ("TH-39", "Nong Bua Lam Phu"),
    ("TH-40", "Khon Kaen"),
    ("TH-41", "Udon Thani"),
    ("TH-42", "Loei"),
    ("TH-43", "Nong Khai"),
    ("TH-44", "Maha Sarakham"),
    ("TH-45", "Roi Et"),
    ("TH-46", "Kalasin"),
    ("TH-47", "Sakon Nakhon"),
    ("TH-48", "Nakhon Phanom"),
    ("TH-49", "Mukdahan"),
    ("TH-50", "Chiang Mai"),
    ("TH-51", "Lamphun"),
    ("TH-52", "Lampang"),
    ("TH-53", "Uttaradit"),
    ("TH-54", "Phrae"),
    ("TH-55", "Nan"),
    ("TH-56", "Phayao"),
    ("TH-57", "Chiang Rai"),
    ("TH-58", "Mae Hong Son"),
    ("TH-60", "Nakhon Sawan"),
    ("TH-61", "Uthai Thani"),
    ("TH-62", "Kamphaeng Phet"),
    ("TH-63", "Tak"),
    ("TH-64", "Sukhothai"),
    ("TH-65", "Phitsanulok"),
    ("TH-66", "Phichit"),
    ("TH-67", "Phetchabun"),
    ("TH-70", "Ratchaburi"),
    ("TH-71", "Kanchanaburi"),
    ("TH-72", "Suphan Buri"),
    ("TH-73", "Nakhon Pathom"),
    ("TH-74", "Samut Sakhon"),
    ("TH-75", "Samut Songkhram"),
    ("TH-76", "Phetchaburi"),
    ("TH-77", "Prachuap Khiri Khan"),
    ("TH-80", "Nakhon Si Thammarat"),
    ("TH-81", "Krabi"),
    ("TH-82", "Phangnga"),
    ("TH-83", "Phuket"),
    ("TH-84", "Surat Thani"),
    ("TH-85", "Ranong"),
    ("TH-86", "Chumphon"),
    ("TH-90", "Songkhla"),
    ("TH-91", "Satun"),
    ("TH-92", "Trang"),
    ("TH-93", "Phatthalung"),
    ("TH-94", "Pattani"),
    ("TH-95", "Yala"),
    ("TH-96", "Narathiwat"),
    ("TH-S", "Pattaya"),
];

/// A province of origin as an ISO 3166-2 code: one of the 18 Lao codes or the 78
/// Thai ones (either country can be home), or another country's subdivision
/// (`KH-12`), so a third country can join.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProvinceCode(String);

impl ProvinceCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let known = |list: &[(&str, &str)]| list.iter().any(|(code, _)| *code == s);
        let ok = match s.split_once('-') {
            Some(("LA", _)) => known(&LAO_PROVINCES),
            Some(("TH", _)) => known(&THAI_PROVINCES),
            Some((country, sub)) => {
                country.len() == 2
                    && country.bytes().all(|b| b.is_ascii_uppercase())
                    && (1..=3).contains(&sub.len())
                    && sub
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            None => false,
        };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("unknown province: use an ISO 3166-2 code such as LA-VT, LA-SV or TH-43".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProvinceCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<ProvinceCode> for String {
    fn from(p: ProvinceCode) -> Self {
        p.0
    }
}

/// Official crossing points of the Lao–Thai border (Thai side – Lao side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossingPoint {
    /// Friendship Bridge 1.
    NongKhaiVientiane,
    /// Friendship Bridge 2.
    MukdahanSavannakhet,
    /// Friendship Bridge 3.
    NakhonPhanomThakhek,
    /// Friendship Bridge 4.
    ChiangKhongHouayxay,
    /// Nam Heuang bridge.
    LoeiXaignabouli,
    ChongMekVangtao,
    BuengKanPaksan,
    Other,
}

/// A crossing: one of the points, or `other` with a description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crossing {
    pub point: CrossingPoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
}

impl Crossing {
    pub fn check(&self, field: &str) -> Result<(), String> {
        match (self.point, self.other.as_deref().map(str::trim)) {
            (CrossingPoint::Other, Some(t)) if !t.is_empty() => Ok(()),
            (CrossingPoint::Other, _) => Err(format!("{field}.other: describe the crossing point")),
            (_, Some(_)) => Err(format!("{field}.other: only with point \"other\"")),
            (_, None) => Ok(()),
        }
    }
}

/// A calendar date (`YYYY-MM-DD`), possibly estimated (a birth date often is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuzzyDate {
    pub date: Date,
    #[serde(default)]
    pub estimated: bool,
}

/// `YYYY-MM-DD`, checked to be a real day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date(time::Date);

impl Date {
    pub fn parse(s: &str) -> Result<Self, String> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s, &format)
            .map(Self)
            .map_err(|_| "not a date YYYY-MM-DD".to_owned())
    }

    pub fn inner(self) -> time::Date {
        self.0
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from(*self))
    }
}

impl From<Date> for String {
    fn from(d: Date) -> Self {
        format!(
            "{:04}-{:02}-{:02}",
            d.0.year(),
            u8::from(d.0.month()),
            d.0.day()
        )
    }
}

/// A person's name in the scripts it is written in: at least one of Lao, Thai and a
/// Latin transliteration. Each is checked to be in its script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub th: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latin: Option<String>,
}

impl Names {
    pub fn check(&self, field: &str) -> Result<(), String> {
        if self.lo.is_none() && self.th.is_none() && self.latin.is_none() {
            return Err(format!(
                "{field}: give the name in Lao, Thai or Latin script"
            ));
        }
        let in_script = |s: &str, range: std::ops::RangeInclusive<char>| {
            s.chars()
                .all(|c| range.contains(&c) || c == ' ' || c == '-' || c == '.' || c == '\u{200b}')
        };
        let checks = [
            ("lo", &self.lo, '\u{0E80}'..='\u{0EFF}'),
            ("th", &self.th, '\u{0E00}'..='\u{0E7F}'),
        ];
        for (key, value, range) in checks {
            if let Some(v) = value
                && (v.trim().is_empty() || v.chars().count() > 200 || !in_script(v, range))
            {
                return Err(format!("{field}.{key}: 1 to 200 characters of that script"));
            }
        }
        if let Some(v) = &self.latin {
            let ok =
                v.chars().all(|c| c.is_alphabetic() || " -.'".contains(c)) && !v.trim().is_empty();
            if !ok || v.chars().count() > 200 {
                return Err(format!("{field}.latin: 1 to 200 letters"));
            }
        }
        Ok(())
    }
}

/// CTDC age bands (as published, k-anonymised).
pub fn age_band(age: u8) -> &'static str {
    match age {
        0..=8 => "0-8",
        9..=17 => "9-17",
        18..=20 => "18-20",
        21..=23 => "21-23",
        24..=26 => "24-26",
        27..=29 => "27-29",
        30..=38 => "30-38",
        39..=47 => "39-47",
        _ => "48+",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provinces() {
        assert!(ProvinceCode::parse("LA-VT").is_ok());
        assert!(ProvinceCode::parse("LA-XS").is_ok());
        assert!(ProvinceCode::parse("TH-43").is_ok());
        for bad in ["LA-ZZ", "la-vt", "Vientiane", "TH-4", ""] {
            assert!(ProvinceCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(LAO_PROVINCES.len(), 18);
    }

    #[test]
    fn names_in_their_scripts() {
        let n = |lo: Option<&str>, th: Option<&str>, latin: Option<&str>| Names {
            lo: lo.map(String::from),
            th: th.map(String::from),
            latin: latin.map(String::from),
        };
        assert!(
            n(Some("ນາງ ແກ້ວ"), Some("นาง แก้ว"), Some("Nang Keo"))
                .check("person.names")
                .is_ok()
        );
        assert!(n(None, None, None).check("person.names").is_err());
        let err = n(Some("Keo"), None, None)
            .check("person.names")
            .unwrap_err();
        assert!(err.starts_with("person.names.lo"), "{err}");
        assert!(
            n(None, Some("ແກ້ວ"), None).check("x").is_err(),
            "Lao letters are not Thai"
        );
        assert!(
            n(None, None, Some("Robert'); DROP TABLE cases;--"))
                .check("x")
                .is_err()
        );
    }

    #[test]
    fn dates_and_crossings() {
        assert!(Date::parse("2009-02-29").is_err());
        assert_eq!(
            String::from(Date::parse("2008-02-29").unwrap()),
            "2008-02-29"
        );
        let other = Crossing {
            point: CrossingPoint::Other,
            other: None,
        };
        assert!(other.check("plan.crossing").is_err());
        let bridge = Crossing {
            point: CrossingPoint::NongKhaiVientiane,
            other: None,
        };
        assert!(bridge.check("plan.crossing").is_ok());
        assert_eq!(
            serde_json::to_string(&bridge).unwrap(),
            r#"{"point":"nong_khai_vientiane"}"#
        );
        assert_eq!(age_band(16), "9-17");
        assert_eq!(age_band(48), "48+");
    }
}
