//! A catalogue (every field of every body the desk takes), hence longer than the
//! ~400 lines a file otherwise keeps to.
//!
//! What each body holds, field by field: its path, the kind of value, whether it
//! is required. `check` walks a body against it and reports every field at
//! fault at once, each with a code the catalogues translate (`error.<code>`);
//! the typed parse (`messages::parse`) and the cross-field rules run after.
//! Forms mark the required fields from the same table.

use serde_json::Value;

use super::BodyError;
use super::sop::Kind;

pub const PLACEMENTS: &[&str] = &["family", "shelter", "other"];
pub const CROSSINGS: &[&str] = &[
    "nong_khai_vientiane",
    "mukdahan_savannakhet",
    "nakhon_phanom_thakhek",
    "chiang_khong_houayxay",
    "loei_xaignabouli",
    "chong_mek_vangtao",
    "bueng_kan_paksan",
    "other",
];
pub const CLOSURES: &[&str] = &["reintegrated", "lost_to_follow_up", "other"];
pub const WITHDRAWALS: &[&str] = &["consent_withdrawn", "absconded", "deceased", "other"];
pub const ARRANGEMENTS: &[&str] = &["video_link", "travel_with_escort", "declined"];
pub const MILESTONES: &[&str] = &[
    "complaint_filed",
    "investigation",
    "charges_filed",
    "trial_scheduled",
    "testimony_requested",
    "testimony_given",
    "verdict_convicted",
    "verdict_acquitted",
    "compensation_claimed",
    "compensation_awarded",
    "compensation_paid",
    "appeal",
    "prosecution_closed",
];
pub const GENDERS: &[&str] = &[
    "Feminine",
    "Masculine",
    "TransgenderFeminine",
    "TransgenderMasculine",
    "NonConforming",
    "NonSpecifiedUnknown",
];
pub const EXPLOITATION: &[&str] = &[
    "ForcedLabour",
    "SexualExploitation",
    "ChildLabour",
    "ForcedMarriage",
    "Servitude",
    "ForcedMilitaryByNonStateActors",
    "OrganRemoval",
    "ForcedBegging",
    "ForcedAdoption",
    "Surrogacy",
    "Other",
];
pub const MEANS: &[&str] = &[
    "DebtBondage",
    "WithholdsDocuments",
    "ThreatOfLawEnforcement",
    "PhysicalAbuse",
    "SexualAbuse",
    "PsychologicalAbuse",
    "RestrictsMovement",
    "WithholdsWages",
    "ThreatsToFamily",
    "Substances",
    "FalsePromises",
    "Other",
];
/// The provinces forms offer: Lao PDR's, then Thailand's (ISO 3166-2).
pub const PROVINCES: &[&str] = &[
    "LA-AT", "LA-BK", "LA-BL", "LA-CH", "LA-HO", "LA-KH", "LA-LM", "LA-LP", "LA-OU", "LA-PH",
    "LA-SL", "LA-SV", "LA-VI", "LA-VT", "LA-XA", "LA-XE", "LA-XI", "LA-XS", "TH-10", "TH-11",
    "TH-12", "TH-13", "TH-14", "TH-15", "TH-16", "TH-17", "TH-18", "TH-19", "TH-20", "TH-21",
    "TH-22", "TH-23", "TH-24", "TH-25", "TH-26", "TH-27", "TH-30", "TH-31", "TH-32", "TH-33",
    "TH-34", "TH-35", "TH-36", "TH-37", "TH-38", "TH-39", "TH-40", "TH-41", "TH-42", "TH-43",
    "TH-44", "TH-45", "TH-46", "TH-47", "TH-48", "TH-49", "TH-50", "TH-51", "TH-52", "TH-53",
    "TH-54", "TH-55", "TH-56", "TH-57", "TH-58", "TH-60", "TH-61", "TH-62", "TH-63", "TH-64",
    "TH-65", "TH-66", "TH-67", "TH-70", "TH-71", "TH-72", "TH-73", "TH-74", "TH-75", "TH-76",
    "TH-77", "TH-80", "TH-81", "TH-82", "TH-83", "TH-84", "TH-85", "TH-86", "TH-90", "TH-91",
    "TH-92", "TH-93", "TH-94", "TH-95", "TH-96", "TH-S",
];
pub const PURPOSES: &[&str] = &[
    "repatriation",
    "family_tracing",
    "health_information",
    "legal_aid_sharing",
];
pub const LANGUAGES: &[&str] = &["lo", "th", "en"];

/// The longest short text (a name, a reference) and long text (a summary).
pub const SHORT: usize = 500;
pub const LONG: usize = 20_000;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Text of at most so many characters.
    Text(usize),
    /// `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 moment.
    Moment,
    /// A whole number from `min` to `max`.
    Number(u64, u64),
    Bool,
    /// One of these codes.
    OneOf(&'static [&'static str]),
    /// A list of these codes.
    ManyOf(&'static [&'static str]),
    /// A list of texts.
    Texts,
    /// An ISO 3166-2 subdivision code.
    Province,
    /// Set by the node, or checked elsewhere: any value.
    Any,
}

/// One field: `path` with `[]` for each item of a list (`family_contacts[].phone`).
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub path: &'static str,
    pub shape: Shape,
    pub required: bool,
}

const fn req(path: &'static str, shape: Shape) -> Spec {
    Spec {
        path,
        shape,
        required: true,
    }
}

const fn opt(path: &'static str, shape: Shape) -> Spec {
    Spec {
        path,
        shape,
        required: false,
    }
}

use Shape::*;

const CARRIED: [Spec; 2] = [opt("attachments", Any), opt("files", Any)];

const REFERRAL: &[Spec] = &[
    req("schema", Any),
    opt("person.names.lo", Text(SHORT)),
    opt("person.names.th", Text(SHORT)),
    opt("person.names.latin", Text(SHORT)),
    req("person.gender", OneOf(GENDERS)),
    opt("person.birth_date.date", Date),
    opt("person.birth_date.estimated", Bool),
    opt("person.age_at_identification", Number(0, 120)),
    req("identity_documents[].kind", Text(SHORT)),
    req("identity_documents[].number", Text(SHORT)),
    req("origin.province", Province),
    opt("origin.district", Text(SHORT)),
    opt("origin.village", Text(SHORT)),
    req("family_contacts[].relation", Text(SHORT)),
    opt("family_contacts[].names.lo", Text(SHORT)),
    opt("family_contacts[].names.th", Text(SHORT)),
    opt("family_contacts[].names.latin", Text(SHORT)),
    opt("family_contacts[].phone", Text(SHORT)),
    req("exploitation.types", ManyOf(EXPLOITATION)),
    opt("exploitation.means_of_control", ManyOf(MEANS)),
    req("exploitation.summary", Text(LONG)),
    req("needs", Text(LONG)),
    opt("health", Text(LONG)),
    opt("legal_case", Text(LONG)),
    opt("attachments", Any),
    opt("consented", Any),
];

const CONSENT: &[Spec] = &[
    req("purpose", OneOf(PURPOSES)),
    req("granted", Bool),
    req("given_on", Date),
    req("language", Text(35)),
    req("witness", Text(200)),
];

/// The fields of a consent record.
pub fn consent() -> &'static [Spec] {
    CONSENT
}

/// The fields of a `kind` body.
pub fn of(kind: Kind) -> Vec<Spec> {
    let own: &[Spec] = match kind {
        Kind::Referral => return REFERRAL.to_vec(),
        Kind::Acknowledgement => &[
            req("receiving_organisation", Text(SHORT)),
            req("case_worker_ref", Text(SHORT)),
        ],
        Kind::Verification => &[
            req("identity_confirmed", Bool),
            req("family_traced", Bool),
            req("family_assessment", Text(LONG)),
            req("placement", OneOf(PLACEMENTS)),
        ],
        Kind::Decline => &[req("reason", Text(LONG))],
        Kind::ReturnPlan => &[
            req("date", Date),
            req("crossing.point", OneOf(CROSSINGS)),
            opt("crossing.other", Text(SHORT)),
            req("escorts", Text(SHORT)),
            req("travel_document", Text(SHORT)),
            opt("needs_on_arrival", Text(LONG)),
        ],
        Kind::ReturnCounterproposal => &[
            opt("date", Date),
            opt("crossing.point", OneOf(CROSSINGS)),
            opt("crossing.other", Text(SHORT)),
            req("reason", Text(LONG)),
        ],
        Kind::ReturnConfirmation => &[
            req("reception_team", Text(SHORT)),
            req("transit_centre", Text(SHORT)),
        ],
        Kind::Handover => &[
            req("at", Moment),
            req("crossing.point", OneOf(CROSSINGS)),
            opt("crossing.other", Text(SHORT)),
            req("escorts", Text(SHORT)),
            req("record", Text(LONG)),
        ],
        Kind::Reception => &[req("at", Moment), req("transit_centre", Text(SHORT))],
        Kind::ReintegrationUpdate => &[req("month", Number(1, 60)), req("summary", Text(LONG))],
        Kind::Closure => &[req("outcome", OneOf(CLOSURES)), opt("note", Text(LONG))],
        Kind::Withdrawal => &[req("reason", OneOf(WITHDRAWALS)), opt("note", Text(LONG))],
        Kind::Note => &[req("text", Text(LONG))],
        Kind::ProsecutionUpdate => &[
            req("milestone", OneOf(MILESTONES)),
            req("date", Date),
            opt("details", Text(LONG)),
            opt("amount_thb", Number(0, u64::MAX)),
            opt("police_unit", Text(SHORT)),
            opt("police_case_number", Text(SHORT)),
            opt("court", Text(SHORT)),
            opt("court_case_number", Text(SHORT)),
            opt("charges", Texts),
            opt("next_hearing", Date),
        ],
        Kind::TestimonyArrangement => &[
            req("arrangement", OneOf(ARRANGEMENTS)),
            opt("note", Text(LONG)),
        ],
        Kind::Correction => &[req("changes", Any), opt("reason", Text(LONG))],
    };
    let mut all = vec![req("schema", Any)];
    all.extend_from_slice(own);
    if super::messages::Body::may_carry(kind) {
        all.extend_from_slice(&CARRIED);
    }
    all
}

/// Whether the form field at `path` must always be filled. A field of a list item
/// (`family_contacts.0.relation`) is required only once its item is given, which
/// a form cannot say in advance: it is not marked.
pub fn is_required(specs: &[Spec], path: &str) -> bool {
    if path.split('.').any(|s| s.parse::<usize>().is_ok()) {
        return false;
    }
    let generic: Vec<&str> = path
        .split('.')
        .map(|s| if s.parse::<usize>().is_ok() { "[]" } else { s })
        .collect();
    let generic = generic.join(".").replace(".[]", "[]");
    specs.iter().any(|s| s.required && s.path == generic)
}

fn issue(field: String, code: &'static str, message: String) -> BodyError {
    BodyError::coded(field, code, message)
}

/// Every field of `body` at fault against `specs`: missing, of the wrong kind,
/// not one of its codes, too long, or not a field of this body. Empty when the
/// body fits.
pub fn check(specs: &[Spec], body: &Value) -> Vec<BodyError> {
    let mut out = Vec::new();
    if !body.is_object() {
        out.push(issue("body".into(), "object", "a JSON object".into()));
        return out;
    }
    unknown(specs, body, "", "", &mut out);
    for spec in specs {
        field(spec, body, spec.path, String::new(), &mut out);
    }
    out
}

/// Fields the table does not know, at any depth (reported at their parent: the
/// name sent is never repeated).
fn unknown(specs: &[Spec], v: &Value, generic: &str, at: &str, out: &mut Vec<BodyError>) {
    let Value::Object(fields) = v else { return };
    for (k, child) in fields {
        let g = if generic.is_empty() {
            k.clone()
        } else {
            format!("{generic}.{k}")
        };
        let shown = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        let known = specs.iter().any(|s| {
            s.path == g
                || s.path.starts_with(&format!("{g}."))
                || s.path.starts_with(&format!("{g}[]"))
        });
        if !known {
            let parent = if at.is_empty() {
                "body".to_owned()
            } else {
                at.to_owned()
            };
            out.push(issue(
                parent,
                "unknown_field",
                "unknown field: holds a field this body does not have".into(),
            ));
            continue;
        }
        if specs.iter().any(|s| s.path == g && s.shape == Any) {
            continue;
        }
        match child {
            Value::Object(_) => unknown(specs, child, &g, &shown, out),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    unknown(
                        specs,
                        item,
                        &format!("{g}[]"),
                        &format!("{shown}[{i}]"),
                        out,
                    );
                }
            }
            _ => {}
        }
    }
}

/// Checks the field `rest` (the rest of its path) under `v`; `at` is where `v` is.
fn field(spec: &Spec, v: &Value, rest: &str, at: String, out: &mut Vec<BodyError>) {
    // A list on the way: each of its items.
    if let Some((list, tail)) = rest.split_once("[].") {
        let (parent, name) = match list.rsplit_once('.') {
            Some((p, n)) => (lookup(v, p), n),
            None => (Some(v), list),
        };
        let path = join(&at, list);
        match parent.and_then(|p| p.get(name)) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    field(spec, item, tail, format!("{path}[{i}]"), out);
                }
            }
            Some(_) => out.push(issue(path, "list", "a list".into())),
        }
        return;
    }
    let path = join(&at, rest);
    let value = lookup(v, rest);
    let present = match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    // A parent that is not an object is reported once, at the parent.
    if let Some((parent, _)) = rest.rsplit_once('.')
        && let Some(p) = lookup(v, parent)
        && !p.is_object()
    {
        if spec.path.ends_with(rest) && !out.iter().any(|e| e.field == join(&at, parent)) {
            out.push(issue(
                join(&at, parent),
                "object",
                "a group of fields".into(),
            ));
        }
        return;
    }
    if !present {
        if spec.required {
            out.push(issue(path, "required", "required: missing".into()));
        }
        return;
    }
    let Some(value) = value else { return };
    // A list of codes or texts: each item at its own place.
    if let (ManyOf(list), Value::Array(items)) = (spec.shape, value) {
        for (i, item) in items.iter().enumerate() {
            if let Some(e) = shape(OneOf(list), item) {
                out.push(issue(format!("{path}[{i}]"), e.0, e.1));
            }
        }
        return;
    }
    if let (Texts, Value::Array(items)) = (spec.shape, value) {
        for (i, item) in items.iter().enumerate() {
            if let Some(e) = shape(Text(100), item) {
                out.push(issue(format!("{path}[{i}]"), e.0, e.1));
            }
        }
        return;
    }
    if let Some(e) = shape(spec.shape, value) {
        out.push(issue(path, e.0, e.1));
    }
}

fn join(at: &str, rest: &str) -> String {
    if at.is_empty() {
        rest.to_owned()
    } else {
        format!("{at}.{rest}")
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// What is wrong with a present value, as a code and an English message.
fn shape(shape: Shape, v: &Value) -> Option<(&'static str, String)> {
    let codes = |list: &[&str]| {
        list.iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (shape, v) {
        (Any, _) => None,
        (Text(max), Value::String(s)) if s.chars().count() > max => {
            Some(("too_long", format!("at most {max} characters")))
        }
        (Text(_), Value::String(_)) => None,
        (Text(_), _) => Some(("text", "a text".into())),
        (Date, Value::String(s)) => super::vocab::Date::parse(s)
            .err()
            .map(|_| ("date", "a date YYYY-MM-DD".into())),
        (Date, _) => Some(("date", "a date YYYY-MM-DD".into())),
        (Moment, Value::String(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .err()
                .map(|_| ("moment", "a date and time with its offset".into()))
        }
        (Moment, _) => Some(("moment", "a date and time with its offset".into())),
        (Number(min, max), Value::Number(n)) => match n.as_u64() {
            Some(n) if (min..=max).contains(&n) => None,
            _ if max == u64::MAX => Some(("number", format!("a whole number from {min}"))),
            _ => Some(("range", format!("a whole number from {min} to {max}"))),
        },
        (Number(..), _) => Some(("number", "a whole number".into())),
        (Bool, Value::Bool(_)) => None,
        (Bool, _) => Some(("bool", "true or false".into())),
        (OneOf(list), Value::String(s)) if list.contains(&s.as_str()) => None,
        (OneOf(list), _) => Some(("one_of", format!("one of {}", codes(list)))),
        (ManyOf(list), Value::Array(items))
            if items
                .iter()
                .all(|i| i.as_str().is_some_and(|s| list.contains(&s))) =>
        {
            None
        }
        (ManyOf(list), _) => Some(("many_of", format!("a list of {}", codes(list)))),
        (Texts, Value::Array(items))
            if items
                .iter()
                .all(|i| i.as_str().is_some_and(|s| s.chars().count() <= 100)) =>
        {
            None
        }
        (Texts, _) => Some(("texts", "a list of texts of at most 100 characters".into())),
        (Province, Value::String(s)) => super::vocab::ProvinceCode::parse(s).err().map(|_| {
            (
                "province",
                "an ISO 3166-2 code such as LA-VT, LA-SV or TH-10".into(),
            )
        }),
        (Province, _) => Some((
            "province",
            "an ISO 3166-2 code such as LA-VT, LA-SV or TH-10".into(),
        )),
    }
}

/// The dates a case worker cannot mean, as of `today` (the node's calendar day):
/// a birth in the future or before 1900, an age at identification more than a
/// year above what the birth date makes the person today, a return planned or
/// proposed for a day that has passed.
pub fn check_dates(kind: Kind, body: &Value, today: time::Date) -> Vec<BodyError> {
    let date = |path: &str| {
        lookup(body, path)
            .and_then(Value::as_str)
            .and_then(|s| super::vocab::Date::parse(s).ok())
            .map(super::vocab::Date::inner)
    };
    let mut out = Vec::new();
    match kind {
        Kind::Referral => {
            if let Some(birth) = date("person.birth_date.date") {
                let field = "person.birth_date.date".to_owned();
                if birth > today {
                    out.push(issue(
                        field,
                        "birth_future",
                        "the date of birth is in the future".into(),
                    ));
                } else if birth.year() < 1900 {
                    out.push(issue(
                        field,
                        "birth_too_old",
                        "the date of birth is before 1900".into(),
                    ));
                } else if let Some(age) =
                    lookup(body, "person.age_at_identification").and_then(Value::as_u64)
                {
                    let mut years = i64::from(today.year() - birth.year());
                    if (u8::from(today.month()), today.day())
                        < (u8::from(birth.month()), birth.day())
                    {
                        years -= 1;
                    }
                    // Identified at that age, at the latest today: no older than
                    // the birth date makes the person now (identification may be
                    // years ago, so younger is no contradiction).
                    if age as i64 > years + 1 {
                        out.push(issue(
                            "person.age_at_identification".into(),
                            "age_mismatch",
                            format!("the date of birth gives an age of {years}"),
                        ));
                    }
                }
            }
        }
        Kind::ReturnPlan | Kind::ReturnCounterproposal
            if date("date").is_some_and(|d| d < today) =>
        {
            out.push(issue(
                "date".into(),
                "date_past",
                "this date has already passed".into(),
            ));
        }
        _ => {}
    }
    out
}

/// A field path as written (`family_contacts[1].names.latin`) as its steps:
/// names, and list positions.
pub fn path_segments(path: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return None;
        }
        out.push(Step::Name(name.to_owned()));
        if !rest.is_empty() {
            let index = rest.strip_suffix(']')?.parse::<usize>().ok()?;
            if index >= 100 {
                return None;
            }
            out.push(Step::Item(index));
        }
    }
    Some(out)
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Name(String),
    Item(usize),
}

/// Whether `path` (with list positions) is a field of `specs` that holds a
/// value (not one set by the node).
pub fn is_field(specs: &[Spec], path: &str) -> bool {
    let Some(steps) = path_segments(path) else {
        return false;
    };
    let mut generic = String::new();
    for step in steps {
        match step {
            Step::Name(n) => {
                if !generic.is_empty() {
                    generic.push('.');
                }
                generic.push_str(&n);
            }
            Step::Item(_) => generic.push_str("[]"),
        }
    }
    specs.iter().any(|s| s.path == generic && s.shape != Any)
}

/// Sets `value` at `steps` in `target` (`null` removes the field), making the
/// objects and list items on the way.
pub fn set_at(target: &mut Value, steps: &[Step], value: Value) {
    let Some((last, path)) = steps.split_last() else {
        return;
    };
    let mut node = target;
    for (i, step) in path.iter().enumerate() {
        let next_is_item = matches!(steps.get(i + 1), Some(Step::Item(_)));
        node = match step {
            Step::Name(n) => {
                let Value::Object(map) = node else { return };
                map.entry(n.clone()).or_insert_with(|| {
                    if next_is_item {
                        Value::Array(Vec::new())
                    } else {
                        Value::Object(serde_json::Map::new())
                    }
                })
            }
            Step::Item(i) => {
                let Value::Array(items) = node else { return };
                while items.len() <= *i {
                    items.push(Value::Object(serde_json::Map::new()));
                }
                &mut items[*i]
            }
        };
    }
    match (last, node) {
        (Step::Name(n), Value::Object(map)) if value.is_null() => {
            map.remove(n);
        }
        (Step::Name(n), Value::Object(map)) => {
            map.insert(n.clone(), value);
        }
        (Step::Item(i), Value::Array(items)) if *i < items.len() && value.is_null() => {
            items.remove(*i);
        }
        (Step::Item(i), Value::Array(items)) => {
            while items.len() <= *i {
                items.push(Value::Null);
            }
            items[*i] = value;
        }
        _ => {}
    }
}

/// The value at `steps` in `v`, if any.
pub fn value_at(v: &Value, steps: &[Step]) -> Value {
    let mut node = v;
    for step in steps {
        node = match (step, node) {
            (Step::Name(n), Value::Object(map)) => match map.get(n) {
                Some(x) => x,
                None => return Value::Null,
            },
            (Step::Item(i), Value::Array(items)) => match items.get(*i) {
                Some(x) => x,
                None => return Value::Null,
            },
            _ => return Value::Null,
        };
    }
    node.clone()
}
