//! English, Thai and Lao. The words live in `locales/{en,th,lo}.toml`, flat
//! `key = "text"` files a translator edits without touching code; a test checks
//! every key is in all three, and every key a page uses is in each.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Th,
    Lo,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Th, Lang::Lo];

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "th" => Some(Self::Th),
            "lo" => Some(Self::Lo),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Th => "th",
            Self::Lo => "lo",
        }
    }

    /// The best of ours for an `Accept-Language` header, by its weights.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut choices: Vec<(f32, Lang)> = header
            .split(',')
            .filter_map(|part| {
                let mut bits = part.split(';');
                let tag = bits.next()?.trim();
                let primary = tag.split('-').next()?;
                let lang = Lang::parse(primary)?;
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some((q, lang))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0));
        choices.first().map(|c| c.1)
    }
}

const SOURCES: [(Lang, &str); 3] = [
    (Lang::En, include_str!("../locales/en.toml")),
    (Lang::Th, include_str!("../locales/th.toml")),
    (Lang::Lo, include_str!("../locales/lo.toml")),
];

type Catalogs = HashMap<Lang, HashMap<String, String>>;

fn catalogs() -> &'static Catalogs {
    static CATALOGS: OnceLock<Catalogs> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(lang, text)| {
                let table: HashMap<String, String> = toml::from_str(text).unwrap_or_default();
                (*lang, table)
            })
            .collect()
    })
}

/// The words of one language, for a page.
#[derive(Debug, Clone, Copy)]
pub struct Words {
    pub lang: Lang,
}

impl Words {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The text for `key`; the key itself if a catalogue lacks it (a test keeps
    /// that from happening).
    pub fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        catalogs()
            .get(&self.lang)
            .and_then(|c| c.get(key))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// The text for `prefix.value` (a vocabulary code), or the code itself.
    pub fn opt(&self, prefix: &str, value: &str) -> String {
        self.known(prefix, value)
            .unwrap_or_else(|| value.to_owned())
    }

    /// The text for `prefix.value` when the catalogue has one: for a code that
    /// came from the visitor (a `?notice=`), which is never shown back as sent.
    pub fn known(&self, prefix: &str, value: &str) -> Option<String> {
        let key = format!("{prefix}.{value}");
        catalogs()
            .get(&self.lang)
            .and_then(|c| c.get(&key))
            .cloned()
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// A moment (Unix ms) in Indochina Time; Thai shows the Buddhist Era (CE + 543).
    pub fn when(&self, ms: i64) -> String {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        else {
            return String::new();
        };
        let t = t.to_offset(time::macros::offset!(+7));
        let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
        match self.lang {
            Lang::Th => format!(
                "{d:02}/{m:02}/{} {:02}:{:02}",
                y + 543,
                t.hour(),
                t.minute()
            ),
            _ => format!("{y}-{m:02}-{d:02} {:02}:{:02}", t.hour(), t.minute()),
        }
    }

    /// A date as this language writes it; on Thai pages the Common Era year
    /// follows, so either calendar reads it (`15/12/2569 (ค.ศ. 2026)`).
    pub fn date_both(&self, iso: &str) -> String {
        match (self.lang, iso.split('-').next()) {
            (Lang::Th, Some(y)) if y.len() == 4 => {
                format!("{} ({} {y})", self.date(iso), self.t("calendar.ce"))
            }
            _ => self.date(iso),
        }
    }

    /// A date `YYYY-MM-DD` as this language writes it.
    pub fn date(&self, iso: &str) -> String {
        let parts: Vec<&str> = iso.split('-').collect();
        match (self.lang, parts.as_slice()) {
            (Lang::Th, [y, m, d]) => match y.parse::<i32>() {
                Ok(y) => format!("{d}/{m}/{}", y + 543),
                Err(_) => iso.to_owned(),
            },
            _ => iso.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_every_language() {
        let all = catalogs();
        let en = &all[&Lang::En];
        assert!(en.len() > 50, "the catalogues parse");
        for lang in Lang::ALL {
            let c = &all[&lang];
            for key in en.keys() {
                assert!(c.contains_key(key), "{key} missing in {}", lang.code());
                assert!(!c[key].trim().is_empty(), "{key} empty in {}", lang.code());
            }
            assert_eq!(c.len(), en.len(), "{} has keys English lacks", lang.code());
        }
    }

    /// Every code a person may see has a name in each language.
    #[test]
    fn every_code_has_a_name_in_every_language() {
        use crate::domain::fields::*;
        let lists: [(&str, &[&str]); 12] = [
            ("gender", GENDERS),
            ("exploitation", EXPLOITATION),
            ("means", MEANS),
            ("placement", PLACEMENTS),
            ("closure", CLOSURES),
            ("withdrawal", WITHDRAWALS),
            ("arrangement", ARRANGEMENTS),
            ("milestone", MILESTONES),
            ("crossing", CROSSINGS),
            ("province", PROVINCES),
            ("purpose", PURPOSES),
            ("language", LANGUAGES),
        ];
        let mut missing = Vec::new();
        for lang in Lang::ALL {
            let c = &catalogs()[&lang];
            for (prefix, codes) in lists {
                for code in codes {
                    let key = format!("{prefix}.{code}");
                    if !c.contains_key(&key) {
                        missing.push(format!("{key} ({})", lang.code()));
                    }
                }
            }
            for kind in crate::domain::sop::Kind::ALL {
                for prefix in ["kind", "moved"] {
                    let key = format!("{prefix}.{}", kind.as_str());
                    if !c.contains_key(&key) {
                        missing.push(format!("{key} ({})", lang.code()));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "codes without a name: {missing:?}");
        assert_eq!(PROVINCES.len(), 18 + 78, "both countries' provinces");
    }

    #[test]
    fn every_key_a_page_uses_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let en = &catalogs()[&Lang::En];
        let mut used = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(
                    en.contains_key(key),
                    "{key} used in {} is in no catalogue",
                    path.display()
                );
                used += 1;
            }
        }
        assert!(used > 50);
    }

    #[test]
    fn languages_from_the_browser_and_thai_dates() {
        assert_eq!(
            Lang::from_accept_language("lo-LA,lo;q=0.9,en;q=0.5"),
            Some(Lang::Lo)
        );
        assert_eq!(
            Lang::from_accept_language("fr, th;q=0.8, en;q=0.9"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("fr"), None);
        let th = Words::new(Lang::Th);
        assert_eq!(th.date("2026-11-23"), "23/11/2569");
        // 2026-11-23T10:00Z is 17:00 in Bangkok and Vientiane.
        assert_eq!(th.when(1_795_428_000_000), "23/11/2569 17:00");
        assert_eq!(
            Words::new(Lang::En).when(1_795_428_000_000),
            "2026-11-23 17:00"
        );
    }
}
