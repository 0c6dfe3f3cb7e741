//! A catalogue (every message schema), hence longer than the ~400 lines a file
//! otherwise keeps to.
//!
//! Message bodies, versioned by their `schema` (`KIND/1`), parsed at the boundary
//! into types: a body that parses is complete and uses the vocabularies. Errors
//! name the field (`person.gender`, `origin.province`, …).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::sop::Kind;
use super::vocab::{
    Crossing, Date, Exploitation, FuzzyDate, Gender, MeansOfControl, Names, ProvinceCode,
};

pub use super::BodyError;

fn err(field: impl Into<String>, message: impl Into<String>) -> BodyError {
    BodyError::new(field, message)
}

/// The body of each kind of message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    Referral(Box<Referral>),
    Acknowledgement(Acknowledgement),
    Verification(Verification),
    Decline(Reasoned),
    ReturnPlan(ReturnPlan),
    ReturnCounterproposal(Counterproposal),
    ReturnConfirmation(ReturnConfirmation),
    Handover(Handover),
    Reception(Reception),
    ReintegrationUpdate(ReintegrationUpdate),
    Closure(Closure),
    Withdrawal(Withdrawal),
    Note(Note),
    ProsecutionUpdate(ProsecutionUpdate),
    TestimonyArrangement(TestimonyArrangement),
    Correction(Correction),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    pub schema: String,
    pub person: Person,
    #[serde(default)]
    pub identity_documents: Vec<IdentityDocument>,
    pub origin: Origin,
    #[serde(default)]
    pub family_contacts: Vec<FamilyContact>,
    pub exploitation: ExploitationSummary,
    pub needs: String,
    /// Left out of what is sent without `health_information` consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_case: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
    /// The purposes the person consented to, as recorded by the host when sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consented: Vec<super::consent::Purpose>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub names: Names,
    pub gender: Gender,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<FuzzyDate>,
    /// Age when identified, in years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_at_identification: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocument {
    pub kind: String,
    pub number: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub province: ProvinceCode,
    #[serde(default)]
    pub district: String,
    #[serde(default)]
    pub village: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyContact {
    pub relation: String,
    pub names: Names,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExploitationSummary {
    pub types: Vec<Exploitation>,
    #[serde(default)]
    pub means_of_control: Vec<MeansOfControl>,
    pub summary: String,
}

/// An attachment listed in a body: the sealed blob and what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub sha256: String,
    /// Length of the sealed blob.
    pub len: u64,
    pub file_name: String,
    pub media_type: String,
    /// The attachment's id, the same on both nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Size of the original file, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// At most this many documents on one move. A move after the referral (a note, a
/// handover, a reception, a reintegration update, a prosecution update) names the
/// documents it carries in `attachments` (attachment ids, chosen by the case
/// worker); the sending node describes each in `files` as it sent it.
pub const MAX_CARRIED: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub schema: String,
    pub receiving_organisation: String,
    pub case_worker_ref: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    Family,
    Shelter,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub schema: String,
    /// Nationality and identity confirmed.
    pub identity_confirmed: bool,
    pub family_traced: bool,
    pub family_assessment: String,
    pub placement: Placement,
}

/// Bodies that only give a reason (`decline/1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reasoned {
    pub schema: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnPlan {
    pub schema: String,
    pub date: Date,
    pub crossing: Crossing,
    pub escorts: String,
    pub travel_document: String,
    #[serde(default)]
    pub needs_on_arrival: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counterproposal {
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossing: Option<Crossing>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnConfirmation {
    pub schema: String,
    pub reception_team: String,
    pub transit_centre: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    pub schema: String,
    /// RFC 3339 time of the handover.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub crossing: Crossing,
    pub escorts: String,
    pub record: String,
    /// Documents this move carries, by attachment id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// What the sending node sent of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AttachmentRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reception {
    pub schema: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub transit_centre: String,
    /// Documents this move carries, by attachment id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// What the sending node sent of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AttachmentRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReintegrationUpdate {
    pub schema: String,
    /// Months since the return (follow-ups at 1, 3, 6 and 12 months).
    pub month: u8,
    pub summary: String,
    /// Documents this move carries, by attachment id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// What the sending node sent of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AttachmentRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosureOutcome {
    Reintegrated,
    LostToFollowUp,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    pub schema: String,
    pub outcome: ClosureOutcome,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalReason {
    ConsentWithdrawn,
    Absconded,
    Deceased,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    pub schema: String,
    pub reason: WithdrawalReason,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub schema: String,
    pub text: String,
    /// Documents this move carries, by attachment id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// What the sending node sent of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AttachmentRef>,
}

/// Milestones of the criminal case (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    ComplaintFiled,
    Investigation,
    ChargesFiled,
    TrialScheduled,
    TestimonyRequested,
    TestimonyGiven,
    VerdictConvicted,
    VerdictAcquitted,
    CompensationClaimed,
    CompensationAwarded,
    CompensationPaid,
    Appeal,
    ProsecutionClosed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProsecutionUpdate {
    pub schema: String,
    pub milestone: Milestone,
    pub date: Date,
    #[serde(default)]
    pub details: String,
    /// The amount of a compensation milestone, in Thai baht, whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_thb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police_case_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub court: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub court_case_number: Option<String>,
    /// Sections of the Anti-Trafficking in Persons Act B.E. 2551 charged, such as `s.6`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hearing: Option<Date>,
    /// Documents this move carries, by attachment id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// What the sending node sent of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<AttachmentRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrangement {
    VideoLink,
    TravelWithEscort,
    Declined,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestimonyArrangement {
    pub schema: String,
    pub arrangement: Arrangement,
    #[serde(default)]
    pub note: String,
}

/// A change to the referral after it was sent (`correction/1`): each field that
/// changed, what it was and what it is now (`null`: absent), and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub schema: String,
    pub changes: Vec<Change>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The referral's field, as a path (`family_contacts[0].phone`).
    pub field: String,
    /// What it was; set by the sending node from its copy of the file.
    #[serde(default)]
    pub from: serde_json::Value,
    /// What it is now.
    #[serde(default)]
    pub to: serde_json::Value,
}

/// At most this many fields in one correction.
pub const MAX_CHANGES: usize = 100;

/// The referral `file` with `changes` made (`to` set at each field; `null`
/// removes it), checked to be a referral still. Fields outside the referral's
/// field table are refused.
pub fn corrected(
    file: &serde_json::Value,
    changes: &[Change],
) -> Result<serde_json::Value, BodyError> {
    let specs = super::fields::of(Kind::Referral);
    let mut out = file.clone();
    for (i, c) in changes.iter().enumerate() {
        let segments = super::fields::path_segments(&c.field)
            .filter(|_| super::fields::is_field(&specs, &c.field))
            .ok_or_else(|| {
                BodyError::coded(
                    format!("changes[{i}].field"),
                    "one_of",
                    "a field of the referral, such as family_contacts[0].phone",
                )
            })?;
        super::fields::set_at(&mut out, &segments, c.to.clone());
    }
    parse(Kind::Referral, &out)?;
    Ok(out)
}

/// Parses and checks the body of a `kind` message: every field at fault is
/// reported at once (`fields::check`), then the rules across fields.
pub fn parse(kind: Kind, json: &serde_json::Value) -> Result<Body, BodyError> {
    parse_checked(kind, json, None)
}

/// As `parse`, for a body a case worker makes now: also refuses the dates they
/// cannot mean as of `today` (`fields::check_dates`). A peer's move is parsed
/// without: it was checked where it was made.
pub fn parse_on(
    kind: Kind,
    json: &serde_json::Value,
    today: time::Date,
) -> Result<Body, BodyError> {
    parse_checked(kind, json, Some(today))
}

fn parse_checked(
    kind: Kind,
    json: &serde_json::Value,
    today: Option<time::Date>,
) -> Result<Body, BodyError> {
    let expected = format!("{}/1", kind.as_str());
    let mut issues = super::fields::check(&super::fields::of(kind), json);
    if let Some(today) = today {
        issues.extend(super::fields::check_dates(kind, json, today));
    }
    match json.get("schema").and_then(serde_json::Value::as_str) {
        Some(s) if s == expected => {}
        Some(_) => issues.insert(
            0,
            BodyError::coded("schema", "schema", format!("must be {expected}")),
        ),
        None => {
            issues.retain(|e| e.field != "schema");
            issues.insert(
                0,
                BodyError::coded("schema", "schema", format!("required: {expected}")),
            );
        }
    }
    if let Some(all) = BodyError::all(issues) {
        return Err(all);
    }
    let body = match kind {
        Kind::Referral => Body::Referral(Box::new(typed(json)?)),
        Kind::Acknowledgement => Body::Acknowledgement(typed(json)?),
        Kind::Verification => Body::Verification(typed(json)?),
        Kind::Decline => Body::Decline(typed(json)?),
        Kind::ReturnPlan => Body::ReturnPlan(typed(json)?),
        Kind::ReturnCounterproposal => Body::ReturnCounterproposal(typed(json)?),
        Kind::ReturnConfirmation => Body::ReturnConfirmation(typed(json)?),
        Kind::Handover => Body::Handover(typed(json)?),
        Kind::Reception => Body::Reception(typed(json)?),
        Kind::ReintegrationUpdate => Body::ReintegrationUpdate(typed(json)?),
        Kind::Closure => Body::Closure(typed(json)?),
        Kind::Withdrawal => Body::Withdrawal(typed(json)?),
        Kind::Note => Body::Note(typed(json)?),
        Kind::ProsecutionUpdate => Body::ProsecutionUpdate(typed(json)?),
        Kind::TestimonyArrangement => Body::TestimonyArrangement(typed(json)?),
        Kind::Correction => Body::Correction(typed(json)?),
    };
    body.check()?;
    Ok(body)
}

fn typed<T: DeserializeOwned>(json: &serde_json::Value) -> Result<T, BodyError> {
    serde_path_to_error::deserialize(json).map_err(|e| path_error(&e))
}

/// A deserialisation error as the field at fault and what is wrong with it,
/// without the value or any name that was sent.
pub fn path_error<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> BodyError {
    let raw = e.inner().to_string();
    // An unknown field's name is whatever was sent: name its parent instead.
    let path = if raw.starts_with("unknown field") {
        let segments: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
        match segments.split_last() {
            Some((_, [])) | None => ".".to_owned(),
            Some((_, parent)) => parent.join("."),
        }
    } else {
        e.path().to_string()
    };
    let message = redact(&raw);
    // serde names a missing field in the message, at its parent's path.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
        .map(str::to_owned);
    let field = match (path.as_str(), missing) {
        (".", Some(name)) => name,
        (".", None) => "body".to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (parent, None) => parent.to_owned(),
    };
    err(field, message)
}

/// What a query string's rejection may say: that a parameter does not fit, and
/// which parameters are expected, never the names or values sent.
pub fn query_message(text: &str) -> String {
    match text.find(", expected") {
        Some(i) => format!("a query parameter is unknown or invalid{}", &text[i..]),
        None => "a query parameter is unknown or invalid".to_owned(),
    }
}

/// A deserialisation message without the value that was sent: serde quotes it
/// (`unknown variant \`…\``, `invalid type: string "…"`), and the value may be a
/// person's name typed in the wrong field. What was expected stays; so do the
/// names of missing or duplicate fields, which are the schema's own.
pub fn redact(message: &str) -> String {
    if message.starts_with("missing field") || message.starts_with("duplicate field") {
        return message.to_owned();
    }
    let (head, tail) = match message.find(", expected") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    for c in head.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => {
                quote = Some(c);
                out.push('…');
            }
            None => out.push(c),
        }
    }
    out.push_str(tail);
    out
}

/// A file as a body describes it: its sealed blob, a name and a media type.
fn check_file(field: &str, a: &AttachmentRef) -> Result<(), BodyError> {
    if !crate::domain::is_sha256_hex(&a.sha256) {
        return Err(err(format!("{field}.sha256"), "64 lowercase hex digits"));
    }
    text(&format!("{field}.file_name"), &a.file_name, SHORT)?;
    if !is_media_type(&a.media_type) {
        return Err(err(
            format!("{field}.media_type"),
            "a media type such as image/jpeg",
        ));
    }
    Ok(())
}

/// A media type as recorded: `type/subtype` with optional parameters, printable
/// ASCII only (no control characters), at most 100 characters.
pub fn is_media_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let (essence, params) = s.split_once(';').unwrap_or((s, ""));
    s.len() <= 100
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence
            .trim()
            .split_once('/')
            .is_some_and(|(t, sub)| token(t) && token(sub))
        && !params.contains(['"', '\\'])
}

fn text(field: &str, value: &str, max: usize) -> Result<(), BodyError> {
    if value.trim().is_empty() {
        return Err(BodyError::coded(field, "required", "required"));
    }
    if value.chars().count() > max {
        return Err(BodyError::coded(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    Ok(())
}

/// An optional text: empty is fine, too long is not.
fn text_opt(field: &str, value: &str, max: usize) -> Result<(), BodyError> {
    if value.chars().count() > max {
        return Err(err(field, format!("at most {max} characters")));
    }
    Ok(())
}

const SHORT: usize = 500;
const LONG: usize = 20_000;

impl Body {
    /// The documents a move after the referral carries: ids, and files as sent.
    pub fn carried(&self) -> (&[String], &[AttachmentRef]) {
        match self {
            Body::Handover(b) => (&b.attachments, &b.files),
            Body::Reception(b) => (&b.attachments, &b.files),
            Body::ReintegrationUpdate(b) => (&b.attachments, &b.files),
            Body::Note(b) => (&b.attachments, &b.files),
            Body::ProsecutionUpdate(b) => (&b.attachments, &b.files),
            _ => (&[], &[]),
        }
    }

    /// Carried documents: ids in canonical form, each once, at most `MAX_CARRIED`;
    /// every file described is one of them, well formed.
    fn check_carried(&self) -> Result<(), BodyError> {
        let (ids, files) = self.carried();
        if ids.len() > MAX_CARRIED {
            return Err(err(
                "attachments",
                format!("at most {MAX_CARRIED} documents on one move"),
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            let canonical = uuid::Uuid::parse_str(id)
                .ok()
                .is_some_and(|u| u.hyphenated().to_string() == *id);
            if !canonical || ids[..i].contains(id) {
                return Err(err(
                    format!("attachments[{i}]"),
                    "an attachment id of this case, once",
                ));
            }
        }
        for (i, f) in files.iter().enumerate() {
            if !f.id.as_ref().is_some_and(|id| ids.contains(id)) {
                return Err(err(
                    format!("files[{i}].id"),
                    "one of the attachments this move names",
                ));
            }
            check_file(&format!("files[{i}]"), f)?;
        }
        Ok(())
    }

    /// The kinds that may carry documents after the referral.
    pub fn may_carry(kind: Kind) -> bool {
        matches!(
            kind,
            Kind::Handover
                | Kind::Reception
                | Kind::ReintegrationUpdate
                | Kind::Note
                | Kind::ProsecutionUpdate
        )
    }

    /// Checks beyond types: required texts, at least one exploitation type, …
    fn check(&self) -> Result<(), BodyError> {
        self.check_carried()?;
        match self {
            Body::Referral(r) => {
                r.person
                    .names
                    .check("person.names")
                    .map_err(|m| split(&m))?;
                if r.person.age_at_identification.is_some_and(|a| a > 120) {
                    return Err(err("person.age_at_identification", "at most 120"));
                }
                if r.exploitation.types.is_empty() {
                    return Err(err(
                        "exploitation.types",
                        "at least one type of exploitation",
                    ));
                }
                text("exploitation.summary", &r.exploitation.summary, LONG)?;
                text("needs", &r.needs, LONG)?;
                for (i, c) in r.family_contacts.iter().enumerate() {
                    c.names
                        .check(&format!("family_contacts[{i}].names"))
                        .map_err(|m| split(&m))?;
                    text(
                        &format!("family_contacts[{i}].relation"),
                        &c.relation,
                        SHORT,
                    )?;
                }
                for (i, a) in r.attachments.iter().enumerate() {
                    check_file(&format!("attachments[{i}]"), a)?;
                }
                Ok(())
            }
            Body::Acknowledgement(a) => {
                text("receiving_organisation", &a.receiving_organisation, SHORT)?;
                text("case_worker_ref", &a.case_worker_ref, SHORT)
            }
            Body::Verification(v) => text("family_assessment", &v.family_assessment, LONG),
            Body::Decline(d) => text("reason", &d.reason, LONG),
            Body::ReturnPlan(p) => {
                p.crossing.check("crossing").map_err(|m| split(&m))?;
                text("escorts", &p.escorts, SHORT)?;
                text("travel_document", &p.travel_document, SHORT)
            }
            Body::ReturnCounterproposal(c) => {
                if c.date.is_none() && c.crossing.is_none() {
                    return Err(BodyError::coded(
                        "date",
                        "date_or_crossing",
                        "propose another date or crossing",
                    ));
                }
                if let Some(crossing) = &c.crossing {
                    crossing.check("crossing").map_err(|m| split(&m))?;
                }
                text("reason", &c.reason, LONG)
            }
            Body::ReturnConfirmation(c) => {
                text("reception_team", &c.reception_team, SHORT)?;
                text("transit_centre", &c.transit_centre, SHORT)
            }
            Body::Handover(h) => {
                h.crossing.check("crossing").map_err(|m| split(&m))?;
                text("record", &h.record, LONG)
            }
            Body::Reception(r) => text("transit_centre", &r.transit_centre, SHORT),
            Body::ReintegrationUpdate(u) => {
                if !(1..=60).contains(&u.month) {
                    return Err(err("month", "months since the return, 1 to 60"));
                }
                text("summary", &u.summary, LONG)
            }
            Body::Note(n) => text("text", &n.text, LONG),
            Body::ProsecutionUpdate(p) => {
                text_opt("details", &p.details, LONG)?;
                for (field, v) in [
                    ("police_unit", &p.police_unit),
                    ("police_case_number", &p.police_case_number),
                    ("court", &p.court),
                    ("court_case_number", &p.court_case_number),
                ] {
                    if let Some(v) = v {
                        text(field, v, SHORT)?;
                    }
                }
                for (i, c) in p.charges.iter().enumerate() {
                    text(&format!("charges[{i}]"), c, 100)?;
                }
                let compensation = matches!(
                    p.milestone,
                    Milestone::CompensationClaimed
                        | Milestone::CompensationAwarded
                        | Milestone::CompensationPaid
                );
                match (compensation, p.amount_thb) {
                    (true, None) => Err(BodyError::coded(
                        "amount_thb",
                        "amount_required",
                        "required with a compensation milestone",
                    )),
                    (false, Some(_)) => Err(err(
                        "amount_thb",
                        "only with compensation_claimed, _awarded or _paid",
                    )),
                    _ => Ok(()),
                }
            }
            Body::TestimonyArrangement(a) => text_opt("note", &a.note, LONG),
            Body::Correction(c) => {
                if c.changes.is_empty() || c.changes.len() > MAX_CHANGES {
                    return Err(err("changes", format!("1 to {MAX_CHANGES} changed fields")));
                }
                let specs = super::fields::of(Kind::Referral);
                for (i, change) in c.changes.iter().enumerate() {
                    if !super::fields::is_field(&specs, &change.field) {
                        return Err(err(
                            format!("changes[{i}].field"),
                            "a field of the referral, such as family_contacts[0].phone",
                        ));
                    }
                }
                text_opt("reason", &c.reason, LONG)
            }
            Body::Closure(_) | Body::Withdrawal(_) => Ok(()),
        }
    }

    /// The move this body makes, for the state machine.
    pub fn sop_move(&self, kind: Kind) -> super::sop::Move {
        match self {
            Body::Verification(v) => super::sop::Move::verification(v.identity_confirmed),
            _ => super::sop::Move::of(kind),
        }
    }
}

/// Vocabulary checks report "field: message"; keep the two apart.
/// A rule's message `field: what` as an error, with the code the catalogues
/// translate it by.
fn split(message: &str) -> BodyError {
    let (field, rest) = message.split_once(": ").unwrap_or(("body", message));
    let code = if rest.contains("describe the crossing") {
        "crossing_other"
    } else if rest.contains("only with point") {
        "crossing_other_only"
    } else if rest.contains("give the name") {
        "names_one"
    } else if rest.contains("script") || rest.contains("letters") {
        "names_script"
    } else {
        "invalid"
    };
    BodyError::coded(field, code, rest)
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
