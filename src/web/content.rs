//! A message body as a case worker reads it: each field under its label, codes by
//! their translated names, dates in the reader's calendar, documents as links.
//! One walk over the JSON serves the referral, the summary of where the return
//! stands, and every entry of the timeline.

use serde_json::Value;

use crate::i18n::Words;

/// One labelled value.
pub struct Row {
    pub label: String,
    pub value: String,
    /// Where it sits in the body (`family_contacts.1.phone`).
    pub path: String,
}

/// A document a body names, linked when this node holds it.
pub struct FileLink {
    pub id: Option<String>,
    pub name: String,
}

/// What a body says, ready for a page.
#[derive(Default)]
pub struct Content {
    pub rows: Vec<Row>,
    pub files: Vec<FileLink>,
}

/// The vocabulary a field's codes come from (its catalogue prefix), by the
/// field's path with list positions removed, and the kind of message.
fn vocabulary(kind: &str, path: &str) -> Option<&'static str> {
    Some(match path {
        "person.gender" => "gender",
        "origin.province" => "province",
        "crossing.point" => "crossing",
        "placement" => "placement",
        "outcome" => "closure",
        "arrangement" => "arrangement",
        "milestone" => "milestone",
        "exploitation.types" => "exploitation",
        "exploitation.means_of_control" => "means",
        "consented" => "purpose",
        "identity_documents.kind" => "document",
        "reason" if kind == "withdrawal" => "withdrawal",
        _ => return None,
    })
}

/// Fields shown as dates (`YYYY-MM-DD`) or moments (RFC 3339).
fn is_date(path: &str) -> bool {
    matches!(
        path,
        "date" | "next_hearing" | "person.birth_date.date" | "given_on"
    )
}

/// What the reader never needs to see: the schema tag, the ids a move names (its
/// files are listed instead).
fn hidden(kind: &str, path: &str) -> bool {
    path == "schema" || path == "files" || (path == "attachments" && kind != "referral")
}

/// The label of a field: `field.<path>` with list positions as `0`, else
/// `field.<last name>`, else the name itself; a second item of a list says so.
fn label(w: &Words, path: &str, index: Option<usize>) -> String {
    let zeroed: Vec<&str> = path
        .split('.')
        .map(|s| if s.parse::<usize>().is_ok() { "0" } else { s })
        .collect();
    let full = format!("field.{}", zeroed.join("."));
    let last = zeroed.last().copied().unwrap_or(path);
    let text = match w.t(&full) {
        t if t != full => t.to_owned(),
        _ => match w.t(&format!("field.{last}")) {
            t if !t.starts_with("field.") => t.to_owned(),
            _ => last.replace('_', " "),
        },
    };
    match index {
        Some(i) if i > 0 => format!("{text} ({})", i + 1),
        _ => text,
    }
}

fn scalar(w: &Words, kind: &str, path: &str, v: &Value) -> Option<String> {
    let plain: String = path
        .split('.')
        .filter(|s| s.parse::<usize>().is_err())
        .collect::<Vec<_>>()
        .join(".");
    Some(match v {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => match vocabulary(kind, &plain) {
            Some(prefix) => w.opt(prefix, s),
            None if is_date(&plain) => w.date_both(s),
            None if plain == "at" => moment(w, s),
            None => s.clone(),
        },
        Value::Bool(b) => w.t(if *b { "value.yes" } else { "value.no" }).to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    })
}

/// An RFC 3339 moment in the reader's calendar, in Indochina Time.
fn moment(w: &Words, s: &str) -> String {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| w.when(crate::domain::millis(t)))
        .unwrap_or_else(|_| s.to_owned())
}

fn walk(w: &Words, kind: &str, path: &str, index: Option<usize>, v: &Value, out: &mut Content) {
    if hidden(kind, path) {
        return;
    }
    match v {
        Value::Object(fields) => {
            for (k, child) in fields {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(w, kind, &p, index, child, out);
            }
        }
        // The referral's documents.
        Value::Array(items) if kind == "referral" && path == "attachments" => {
            for a in items {
                out.files.push(FileLink {
                    id: a["id"].as_str().map(str::to_owned),
                    name: a["file_name"].as_str().unwrap_or("?").to_owned(),
                });
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let values: Vec<String> = items
                .iter()
                .filter_map(|i| scalar(w, kind, path, i))
                .collect();
            if !values.is_empty() {
                out.rows.push(Row {
                    label: label(w, path, index),
                    value: values.join(", "),
                    path: path.to_owned(),
                });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(w, kind, &format!("{path}.{i}"), Some(i), item, out);
            }
        }
        v => {
            if let Some(value) = scalar(w, kind, path, v) {
                out.rows.push(Row {
                    label: label(w, path, index),
                    value,
                    path: path.to_owned(),
                });
            }
        }
    }
}

/// Where a row goes: in the order of `order` (the paths of the kind's form, list
/// items as `0`), each item of a list whole before the next; fields the form does
/// not ask for after the rest.
fn place(order: &[&str], path: &str) -> (usize, usize, usize) {
    let segments: Vec<&str> = path.split('.').collect();
    let item = segments.iter().find_map(|s| s.parse::<usize>().ok());
    let zeroed: Vec<&str> = segments
        .iter()
        .map(|s| if s.parse::<usize>().is_ok() { "0" } else { s })
        .collect();
    let zeroed = zeroed.join(".");
    let pos = order
        .iter()
        .position(|o| *o == zeroed || zeroed.starts_with(&format!("{o}.")))
        .unwrap_or(usize::MAX);
    let group = match item {
        Some(_) => order
            .iter()
            .position(|o| o.split('.').next() == segments.first().copied())
            .unwrap_or(pos),
        None => pos,
    };
    (group, item.unwrap_or(0), pos)
}

/// A correction: each field that changed, from what to what.
fn corrections(w: &Words, body: &Value) -> Content {
    let mut out = Content::default();
    for change in body["changes"].as_array().into_iter().flatten() {
        let field = change["field"].as_str().unwrap_or("?");
        let path = field.replace('[', ".").replace(']', "");
        let index = path.split('.').find_map(|s| s.parse::<usize>().ok());
        let shown = |v: &Value| match v {
            Value::Array(items) => items
                .iter()
                .filter_map(|i| scalar(w, "referral", &path, i))
                .collect::<Vec<_>>()
                .join(", "),
            v => scalar(w, "referral", &path, v).unwrap_or_else(|| "—".to_owned()),
        };
        out.rows.push(Row {
            label: label(w, &path, index),
            value: format!("{} → {}", shown(&change["from"]), shown(&change["to"])),
            path,
        });
    }
    if let Some(reason) = body["reason"].as_str().filter(|r| !r.trim().is_empty()) {
        out.rows.push(Row {
            label: w.t("field.reason").to_owned(),
            value: reason.to_owned(),
            path: "reason".into(),
        });
    }
    out
}

/// The body of a `kind` message as rows and document links, rows in the order of
/// `order` (the paths of the kind's form).
pub fn content(w: &Words, kind: &str, body: &Value, order: &[&str]) -> Content {
    if kind == "correction" {
        return corrections(w, body);
    }
    let mut out = Content::default();
    walk(w, kind, "", None, body, &mut out);
    out.rows.sort_by_key(|r| place(order, &r.path));
    if let Some(files) = body["files"].as_array() {
        for f in files {
            out.files.push(FileLink {
                id: f["id"].as_str().map(str::to_owned),
                name: f["file_name"].as_str().unwrap_or("?").to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn a_plan_reads_in_each_language() {
        let plan = serde_json::json!({"schema": "return_plan/1", "date": "2026-12-15", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "Two staff", "travel_document": "CI-1", "needs_on_arrival": ""});
        let order = [
            "date",
            "crossing.point",
            "crossing.other",
            "escorts",
            "travel_document",
        ];
        let en = content(&Words::new(Lang::En), "return_plan", &plan, &order);
        let rows: Vec<(String, String)> = en
            .rows
            .iter()
            .map(|r| (r.label.clone(), r.value.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                ("Date".into(), "2026-12-15".into()),
                ("Crossing point".into(), "Chong Mek – Vangtao".into()),
                ("Escorts".into(), "Two staff".into()),
                ("Travel document".into(), "CI-1".into()),
            ]
        );
        let th = content(&Words::new(Lang::Th), "return_plan", &plan, &order);
        assert_eq!(th.rows[0].value, "15/12/2569 (ค.ศ. 2026)");
    }

    #[test]
    fn lists_of_objects_number_their_items_and_documents_link() {
        let body = serde_json::json!({"schema": "note/1", "text": "See the record",
            "attachments": ["0192f0c4-0000-7000-8000-000000000001"],
            "files": [{"id": "0192f0c4-0000-7000-8000-000000000001", "file_name": "record.pdf", "sha256": "x", "len": 1, "media_type": "application/pdf"}]});
        let c = content(&Words::new(Lang::En), "note", &body, &["text"]);
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.files[0].name, "record.pdf");
        let referral = serde_json::json!({"family_contacts": [
            {"relation": "mother", "names": {"latin": "Mae"}},
            {"relation": "aunt", "names": {"latin": "Pa"}, "phone": "+856 20 1"}]});
        let order = [
            "family_contacts.0.relation",
            "family_contacts.0.names.latin",
            "family_contacts.0.phone",
        ];
        let c = content(&Words::new(Lang::En), "referral", &referral, &order);
        let labels: Vec<&str> = c.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Family contact: relation",
                "Family contact: name",
                "Family contact: relation (2)",
                "Family contact: name (2)",
                "Family contact: telephone (2)"
            ]
        );
    }
}
