//! A catalogue (the form field table), hence longer than the ~400 lines a file
//! otherwise keeps to.
//!
//! The fields each form asks for, and turning a posted form into a message body.
//! A field is named by its path in the body (`crossing.point`,
//! `family_contacts.0.phone`), so a 422 naming a field lands beside that field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::sop::Kind;

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    Area,
    Date,
    /// A local date and time (Indochina Time, UTC+7, for both countries).
    DateTime,
    Number,
    /// Always sent: true when ticked, false when not.
    Bool,
    /// Sent (as true) only when ticked.
    Check,
    Select(&'static [&'static str]),
    /// Several ticked values, sent as a list.
    Multi(&'static [&'static str]),
    /// Comma-separated, sent as a list.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub path: &'static str,
    pub input: Input,
}

const fn f(path: &'static str, input: Input) -> Field {
    Field { path, input }
}

pub use crate::domain::fields::{
    ARRANGEMENTS, CLOSURES, CROSSINGS, EXPLOITATION, GENDERS, LANGUAGES, MEANS, MILESTONES,
    PLACEMENTS, PROVINCES, PURPOSES, WITHDRAWALS,
};

use Input::*;

/// The referral a host drafts.
pub const REFERRAL: &[Field] = &[
    f("person.names.lo", Text),
    f("person.names.th", Text),
    f("person.names.latin", Text),
    f("person.gender", Select(GENDERS)),
    f("person.birth_date.date", Date),
    f("person.birth_date.estimated", Check),
    f("person.age_at_identification", Number),
    f("identity_documents.0.kind", Text),
    f("identity_documents.0.number", Text),
    f("identity_documents.1.kind", Text),
    f("identity_documents.1.number", Text),
    f("origin.province", Select(PROVINCES)),
    f("origin.district", Text),
    f("origin.village", Text),
    f("family_contacts.0.relation", Text),
    f("family_contacts.0.names.latin", Text),
    f("family_contacts.0.phone", Text),
    f("family_contacts.1.relation", Text),
    f("family_contacts.1.names.latin", Text),
    f("family_contacts.1.phone", Text),
    f("exploitation.types", Multi(EXPLOITATION)),
    f("exploitation.means_of_control", Multi(MEANS)),
    f("exploitation.summary", Area),
    f("needs", Area),
    f("health", Area),
    f("legal_case", Area),
];

/// A consent record.
pub const CONSENT: &[Field] = &[
    f("purpose", Select(PURPOSES)),
    f("granted", Bool),
    f("given_on", Date),
    f("language", Select(LANGUAGES)),
    f("witness", Text),
];

/// The fields of each move (the referral is sent from its draft and has none).
pub fn move_fields(kind: Kind) -> &'static [Field] {
    match kind {
        // Corrections are made on the referral's own form (its edit page).
        Kind::Correction => &[],
        Kind::Referral => &[],
        Kind::Acknowledgement => &[
            Field {
                path: "receiving_organisation",
                input: Text,
            },
            Field {
                path: "case_worker_ref",
                input: Text,
            },
        ],
        Kind::Verification => &[
            Field {
                path: "identity_confirmed",
                input: Bool,
            },
            Field {
                path: "family_traced",
                input: Bool,
            },
            Field {
                path: "family_assessment",
                input: Area,
            },
            Field {
                path: "placement",
                input: Select(PLACEMENTS),
            },
        ],
        Kind::Decline => &[Field {
            path: "reason",
            input: Area,
        }],
        Kind::ReturnPlan => &[
            Field {
                path: "date",
                input: Date,
            },
            Field {
                path: "crossing.point",
                input: Select(CROSSINGS),
            },
            Field {
                path: "crossing.other",
                input: Text,
            },
            Field {
                path: "escorts",
                input: Text,
            },
            Field {
                path: "travel_document",
                input: Text,
            },
            Field {
                path: "needs_on_arrival",
                input: Area,
            },
        ],
        Kind::ReturnCounterproposal => &[
            Field {
                path: "date",
                input: Date,
            },
            Field {
                path: "crossing.point",
                input: Select(CROSSINGS),
            },
            Field {
                path: "crossing.other",
                input: Text,
            },
            Field {
                path: "reason",
                input: Area,
            },
        ],
        Kind::ReturnConfirmation => &[
            Field {
                path: "reception_team",
                input: Text,
            },
            Field {
                path: "transit_centre",
                input: Text,
            },
        ],
        Kind::Handover => &[
            Field {
                path: "at",
                input: DateTime,
            },
            Field {
                path: "crossing.point",
                input: Select(CROSSINGS),
            },
            Field {
                path: "crossing.other",
                input: Text,
            },
            Field {
                path: "escorts",
                input: Text,
            },
            Field {
                path: "record",
                input: Area,
            },
        ],
        Kind::Reception => &[
            Field {
                path: "at",
                input: DateTime,
            },
            Field {
                path: "transit_centre",
                input: Text,
            },
        ],
        Kind::ReintegrationUpdate => &[
            Field {
                path: "month",
                input: Number,
            },
            Field {
                path: "summary",
                input: Area,
            },
        ],
        Kind::Closure => &[
            Field {
                path: "outcome",
                input: Select(CLOSURES),
            },
            Field {
                path: "note",
                input: Area,
            },
        ],
        Kind::Withdrawal => &[
            Field {
                path: "reason",
                input: Select(WITHDRAWALS),
            },
            Field {
                path: "note",
                input: Area,
            },
        ],
        Kind::Note => &[Field {
            path: "text",
            input: Area,
        }],
        Kind::ProsecutionUpdate => &[
            Field {
                path: "milestone",
                input: Select(MILESTONES),
            },
            Field {
                path: "date",
                input: Date,
            },
            Field {
                path: "police_unit",
                input: Text,
            },
            Field {
                path: "police_case_number",
                input: Text,
            },
            Field {
                path: "court",
                input: Text,
            },
            Field {
                path: "court_case_number",
                input: Text,
            },
            Field {
                path: "charges",
                input: List,
            },
            Field {
                path: "next_hearing",
                input: Date,
            },
            Field {
                path: "amount_thb",
                input: Number,
            },
            Field {
                path: "details",
                input: Area,
            },
        ],
        Kind::TestimonyArrangement => &[
            Field {
                path: "arrangement",
                input: Select(ARRANGEMENTS),
            },
            Field {
                path: "note",
                input: Area,
            },
        ],
    }
}

/// What a browser posted: each name with every value it was given, in order.
pub type Posted = BTreeMap<String, Vec<String>>;

pub fn posted(pairs: Vec<(String, String)>) -> Posted {
    let mut out = Posted::new();
    for (k, v) in pairs {
        out.entry(k).or_default().push(v);
    }
    out
}

/// The first value posted for `name`, trimmed.
pub fn first<'a>(posted: &'a Posted, name: &str) -> &'a str {
    posted
        .get(name)
        .and_then(|v| v.first())
        .map(|s| s.trim())
        .unwrap_or("")
}

/// Dates typed in the Buddhist Era (a year from 2400: Thai users write 2552 for
/// 2009) turned into the Common Era the body holds. Only for a Thai page: no
/// real date of this case lies four centuries ahead.
pub fn from_buddhist_era(fields: &[Field], body: &mut Value) {
    for field in fields {
        if !matches!(field.input, Date | DateTime) {
            continue;
        }
        let at = value_at(body, field.path);
        let Some(text) = at.as_str() else { continue };
        let Some((year, rest)) = text.split_once('-') else {
            continue;
        };
        if let Ok(y) = year.parse::<i32>()
            && y >= 2400
        {
            set_path(
                body,
                field.path,
                Value::String(format!("{:04}-{rest}", y - 543)),
            );
        }
    }
}

/// The body a form describes. Empty fields are left out, so a missing required
/// field is named by the body's own validation.
pub fn body_of(fields: &[Field], posted: &Posted) -> Value {
    let mut body = Value::Object(Map::new());
    for field in fields {
        let raw = first(posted, field.path);
        let value = match field.input {
            Bool => Some(Value::Bool(!raw.is_empty())),
            Check => (!raw.is_empty()).then_some(Value::Bool(true)),
            Multi(_) => {
                let all: Vec<Value> = posted
                    .get(field.path)
                    .into_iter()
                    .flatten()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| Value::String(v.trim().to_owned()))
                    .collect();
                (!all.is_empty()).then_some(Value::Array(all))
            }
            List => {
                let all: Vec<Value> = raw
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect();
                (!all.is_empty()).then_some(Value::Array(all))
            }
            _ if raw.is_empty() => None,
            // Not a number: sent as text, so validation names the field.
            Number => Some(
                raw.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(raw.to_owned())),
            ),
            DateTime => Some(Value::String(local_to_rfc3339(raw))),
            Text | Area | Date | Select(_) => Some(Value::String(raw.to_owned())),
        };
        if let Some(v) = value {
            set_path(&mut body, field.path, v);
        }
    }
    drop_empty_items(&mut body);
    body
}

/// A list item left blank (the second family contact not filled in) is not an
/// item: dropped, so the next one takes its place.
fn drop_empty_items(v: &mut Value) {
    match v {
        Value::Object(map) => map.values_mut().for_each(drop_empty_items),
        Value::Array(items) => {
            items.retain(|i| !matches!(i, Value::Object(m) if m.is_empty()));
            items.iter_mut().for_each(drop_empty_items);
        }
        _ => {}
    }
}

/// `2026-12-12T09:30` (a browser's datetime-local) → RFC 3339 at UTC+7.
fn local_to_rfc3339(raw: &str) -> String {
    match raw.len() {
        16 => format!("{raw}:00+07:00"),
        19 => format!("{raw}+07:00"),
        _ => raw.to_owned(),
    }
}

fn set_path(target: &mut Value, path: &str, value: Value) {
    let mut node = target;
    let segments: Vec<&str> = path.split('.').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let next_is_index = segments
            .get(i + 1)
            .is_some_and(|s| s.parse::<usize>().is_ok());
        let fresh = || {
            if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        };
        node = match (seg.parse::<usize>(), node) {
            (Ok(index), Value::Array(items)) => {
                while items.len() <= index {
                    items.push(Value::Object(Map::new()));
                }
                if last {
                    items[index] = value;
                    return;
                }
                &mut items[index]
            }
            (_, Value::Object(map)) => {
                if last {
                    map.insert((*seg).to_owned(), value);
                    return;
                }
                map.entry((*seg).to_owned()).or_insert_with(fresh)
            }
            _ => return,
        };
    }
}

/// A validation error's field (`family_contacts[0].phone`) as a form names it
/// (`family_contacts.0.phone`).
pub fn form_path(field: &str) -> String {
    field.replace('[', ".").replace(']', "")
}

/// The value a field shows: what was posted, else what the body holds.
pub fn value_at(body: &Value, path: &str) -> Value {
    let mut node = body;
    for seg in path.split('.') {
        node = match (seg.parse::<usize>(), node) {
            (Ok(i), Value::Array(items)) => match items.get(i) {
                Some(v) => v,
                None => return Value::Null,
            },
            (_, Value::Object(map)) => match map.get(seg) {
                Some(v) => v,
                None => return Value::Null,
            },
            _ => return Value::Null,
        };
    }
    node.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Posted {
        posted(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_referral_form_becomes_a_referral_body() {
        let p = form(&[
            ("person.names.latin", "Nang Keomany"),
            ("person.gender", "Feminine"),
            ("person.age_at_identification", "16"),
            ("origin.province", "LA-SV"),
            ("family_contacts.0.phone", "+856 20 5555 1234"),
            ("exploitation.types", "ForcedLabour"),
            ("exploitation.types", "DebtBondage"),
            ("needs", "  Counselling "),
            ("health", ""),
        ]);
        let body = body_of(REFERRAL, &p);
        assert_eq!(body["person"]["names"]["latin"], "Nang Keomany");
        assert_eq!(body["person"]["age_at_identification"], 16);
        assert_eq!(body["family_contacts"][0]["phone"], "+856 20 5555 1234");
        assert_eq!(
            body["exploitation"]["types"],
            json!(["ForcedLabour", "DebtBondage"])
        );
        assert_eq!(body["needs"], "Counselling");
        assert!(body.get("health").is_none(), "empty fields are left out");
        assert!(body["person"].get("birth_date").is_none());
        assert_eq!(
            value_at(&body, "family_contacts.0.phone"),
            "+856 20 5555 1234"
        );
    }

    #[test]
    fn moves_take_their_types() {
        let p = form(&[("identity_confirmed", "on"), ("placement", "family")]);
        let body = body_of(move_fields(Kind::Verification), &p);
        assert_eq!(body["identity_confirmed"], true);
        assert_eq!(body["family_traced"], false);
        let p = form(&[("at", "2026-12-12T09:30"), ("crossing.point", "other")]);
        let body = body_of(move_fields(Kind::Handover), &p);
        assert_eq!(body["at"], "2026-12-12T09:30:00+07:00");
        assert_eq!(body["crossing"]["point"], "other");
        let p = form(&[("charges", "s.6, s.52,"), ("amount_thb", "lots")]);
        let body = body_of(move_fields(Kind::ProsecutionUpdate), &p);
        assert_eq!(body["charges"], json!(["s.6", "s.52"]));
        assert_eq!(body["amount_thb"], "lots", "left for validation to name");
        assert_eq!(
            form_path("family_contacts[0].phone"),
            "family_contacts.0.phone"
        );
    }
}
