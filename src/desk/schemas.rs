//! Every body the desk takes as JSON Schema, generated from the field tables the
//! desk validates with (`domain::fields`), so a client can be built from
//! `/api/v1/openapi.json` alone and the API fuzzer sends real bodies.

use serde_json::{Value, json};

use crate::domain::fields::{self, Shape, Spec};
use crate::domain::sop::Kind;

/// `return_plan` → `ReturnPlanBody`.
fn component(kind: Kind) -> String {
    let camel: String = kind
        .as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{camel}Body")
}

fn leaf(shape: Shape) -> Value {
    match shape {
        Shape::Text(max) => json!({"type": "string", "minLength": 1, "maxLength": max}),
        Shape::Date => json!({"type": "string", "format": "date"}),
        Shape::Moment => json!({"type": "string", "format": "date-time"}),
        Shape::Number(min, max) if max == u64::MAX => json!({"type": "integer", "minimum": min}),
        Shape::Number(min, max) => json!({"type": "integer", "minimum": min, "maximum": max}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::OneOf(list) => json!({"type": "string", "enum": list}),
        Shape::ManyOf(list) => json!({"type": "array", "items": {"type": "string", "enum": list}}),
        Shape::Texts => json!({"type": "array", "items": {"type": "string", "maxLength": 100}}),
        Shape::Province => json!({"type": "string", "pattern": "^[A-Z]{2}-[A-Z0-9]{1,3}$"}),
        Shape::Any => json!({}),
    }
}

fn object() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

/// Puts `schema` at `path` (`a.b[].c`) under `root`, an object schema, marking
/// it required where it is.
fn place(root: &mut Value, path: &str, schema: Value, required: bool) {
    let mut node = root;
    let steps: Vec<&str> = path.split('.').collect();
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let (name, list) = match step.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*step, false),
        };
        // A required field makes each object on its way required too.
        if required {
            match node.get_mut("required").and_then(Value::as_array_mut) {
                Some(r) if r.contains(&json!(name)) => {}
                Some(r) => r.push(json!(name)),
                None => {
                    if let Some(m) = node.as_object_mut() {
                        m.insert("required".into(), json!([name]));
                    }
                }
            }
        }
        let Some(props) = node.get_mut("properties").and_then(Value::as_object_mut) else {
            return;
        };
        if last {
            props.insert(name.to_owned(), schema);
            return;
        }
        let child = props.entry(name.to_owned()).or_insert_with(|| {
            if list {
                json!({"type": "array", "items": object()})
            } else {
                object()
            }
        });
        node = if list {
            match child.get_mut("items") {
                Some(items) => items,
                None => return,
            }
        } else {
            child
        };
    }
}

fn schema_of(specs: &[Spec], schema: Option<String>) -> Value {
    let mut root = object();
    for spec in specs {
        let mut s = leaf(spec.shape);
        if spec.path == "schema"
            && let Some(name) = &schema
        {
            s = json!({"type": "string", "enum": [name]});
        }
        // Only top-level fields are always required; a list item's, once given.
        place(
            &mut root,
            spec.path,
            s,
            spec.required && !spec.path.contains("[]."),
        );
    }
    root
}

/// Adds a component per body, and points the requests that take them at them.
pub fn add_bodies(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut refs = Vec::new();
    for kind in Kind::ALL {
        let name = component(kind);
        schemas.insert(
            name.clone(),
            schema_of(&fields::of(kind), Some(format!("{}/1", kind.as_str()))),
        );
        refs.push(json!({"$ref": format!("#/components/schemas/{name}")}));
    }
    schemas.insert("ConsentRecord".into(), schema_of(fields::consent(), None));
    let referral = json!({"$ref": "#/components/schemas/ReferralBody"});
    for (schema, property) in [("NewCase", "referral"), ("DraftEdit", "referral")] {
        if let Some(p) = schemas
            .get_mut(schema)
            .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
        {
            *p = referral.clone();
        }
    }
    // A referral move sends the draft: its body is empty.
    refs.push(json!({"type": "object", "maxProperties": 0}));
    if let Some(p) = schemas
        .get_mut("MoveRequest")
        .and_then(|s| s.pointer_mut("/properties/body"))
    {
        *p = json!({"oneOf": refs});
    }
    let consent = doc.pointer_mut(
        "/paths/~1api~1v1~1cases~1{id}~1consents/post/requestBody/content/application~1json/schema",
    );
    if let Some(c) = consent {
        *c = json!({"$ref": "#/components/schemas/ConsentRecord"});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_described() {
        let doc = super::super::openapi::document();
        let referral = &doc["components"]["schemas"]["ReferralBody"];
        assert_eq!(
            referral["properties"]["schema"]["enum"],
            json!(["referral/1"])
        );
        let required: Vec<&str> = referral["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in ["schema", "person", "origin", "exploitation", "needs"] {
            assert!(required.contains(&field), "{field} in {required:?}");
        }
        assert_eq!(
            referral["properties"]["person"]["properties"]["gender"]["enum"][0],
            "Feminine"
        );
        assert_eq!(
            referral["properties"]["family_contacts"]["items"]["properties"]["phone"]["type"],
            "string"
        );
        assert!(
            doc["components"]["schemas"]["ReturnPlanBody"]["properties"]["date"]["format"]
                == "date"
        );
        assert_eq!(
            doc["components"]["schemas"]["NewCase"]["properties"]["referral"]["$ref"],
            "#/components/schemas/ReferralBody"
        );
        assert!(
            doc["components"]["schemas"]["MoveRequest"]["properties"]["body"]["oneOf"].is_array()
        );
    }
}
