use serde_json::{Value, json};

use super::*;

pub fn referral() -> Value {
    json!({
        "schema": "referral/1",
        "person": {
            "names": {"lo": "ນາງ ແກ້ວ", "th": "นาง แก้ว", "latin": "Nang Keo"},
            "gender": "Feminine",
            "birth_date": {"date": "2009-03-01", "estimated": true},
            "age_at_identification": 16
        },
        "identity_documents": [{"kind": "family_book", "number": "VT-12345"}],
        "origin": {"province": "LA-SV", "district": "Kaysone Phomvihane", "village": "Ban Nongdouang"},
        "family_contacts": [{"relation": "mother", "names": {"latin": "Mae Phone"}, "phone": "+856 20 5555 1234"}],
        "exploitation": {"types": ["ForcedLabour"], "means_of_control": ["DebtBondage", "WithholdsDocuments"], "summary": "Garment workshop, Bangkok"},
        "needs": "Counselling; continue schooling",
        "health": "Needs follow-up for an injury",
        "legal_case": "Complaint filed at the provincial police"
    })
}

/// A valid body for every kind.
pub fn sample(kind: Kind) -> Value {
    let schema = format!("{}/1", kind.as_str());
    let mut body = match kind {
        Kind::Referral => return referral(),
        Kind::Acknowledgement => {
            json!({"receiving_organisation": "MoLSW", "case_worker_ref": "LA-CW-17"})
        }
        Kind::Verification => {
            json!({"identity_confirmed": true, "family_traced": true, "family_assessment": "Safe", "placement": "family"})
        }
        Kind::Decline => json!({"reason": "Not a Lao national"}),
        Kind::ReturnPlan => {
            json!({"date": "2026-12-10", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two shelter staff", "travel_document": "Certificate of identity"})
        }
        Kind::ReturnCounterproposal => {
            json!({"date": "2026-12-12", "reason": "Reception team available from the 12th"})
        }
        Kind::ReturnConfirmation => {
            json!({"reception_team": "Vientiane transit centre team", "transit_centre": "Vientiane"})
        }
        Kind::Handover => {
            json!({"at": "2026-12-12T09:30:00+07:00", "crossing": {"point": "nong_khai_vientiane"}, "escorts": "Two shelter staff", "record": "Signed handover form"})
        }
        Kind::Reception => {
            json!({"at": "2026-12-12T11:00:00+07:00", "transit_centre": "Vientiane"})
        }
        Kind::ReintegrationUpdate => json!({"month": 1, "summary": "Back at school"}),
        Kind::Closure => json!({"outcome": "reintegrated"}),
        Kind::Withdrawal => json!({"reason": "consent_withdrawn"}),
        Kind::Note => json!({"text": "ສະບາຍດີ"}),
        Kind::ProsecutionUpdate => json!({"milestone": "charges_filed", "date": "2026-11-30"}),
        Kind::TestimonyArrangement => json!({"arrangement": "video_link"}),
        Kind::Correction => {
            json!({"changes": [{"field": "family_contacts[0].phone", "from": null, "to": "+856 20 5555 9999"}], "reason": "Mother's new number"})
        }
    };
    body["schema"] = Value::String(schema);
    body
}

#[test]
fn every_kind_parses_its_sample() {
    for kind in Kind::ALL {
        let parsed = parse(kind, &sample(kind));
        assert!(parsed.is_ok(), "{kind}: {parsed:?}");
    }
}

fn refused(kind: Kind, edit: impl Fn(&mut Value)) -> BodyError {
    let mut body = sample(kind);
    edit(&mut body);
    parse(kind, &body).expect_err("refused")
}

#[test]
fn bad_bodies_name_the_field() {
    let e = refused(Kind::Referral, |b| {
        b["person"]
            .as_object_mut()
            .unwrap()
            .remove("gender")
            .map(drop)
            .unwrap()
    });
    assert_eq!(e.field, "person.gender", "{e}");
    assert!(e.message.contains("missing"), "{e}");
    let e = refused(Kind::Referral, |b| {
        b.as_object_mut()
            .unwrap()
            .remove("needs")
            .map(drop)
            .unwrap()
    });
    assert_eq!(e.field, "needs", "{e}");
    let e = refused(Kind::Referral, |b| b["person"]["gender"] = json!("F"));
    assert_eq!(e.field, "person.gender", "{e}");
    let e = refused(Kind::Referral, |b| b["origin"]["province"] = json!("LA-ZZ"));
    assert_eq!(e.field, "origin.province", "{e}");
    let e = refused(Kind::Referral, |b| {
        b["person"]["age_at_identification"] = json!("sixteen")
    });
    assert_eq!(e.field, "person.age_at_identification", "{e}");
    let e = refused(Kind::Referral, |b| b["exploitation"]["types"] = json!([]));
    assert_eq!(e.field, "exploitation.types", "{e}");
    let e = refused(Kind::Referral, |b| {
        b["exploitation"]["types"] = json!(["Slavery"])
    });
    assert_eq!(e.field, "exploitation.types[0]", "{e}");
    let e = refused(Kind::Referral, |b| {
        b["person"]["names"]["lo"] = json!("Keo")
    });
    assert_eq!(e.field, "person.names.lo", "{e}");
    let e = refused(Kind::Referral, |b| {
        b["person"]["birth_date"]["date"] = json!("2009-02-30")
    });
    assert_eq!(e.field, "person.birth_date.date", "{e}");
    // What was sent is never echoed: it may be a name typed in the wrong field.
    let e = refused(Kind::Referral, |b| b["Nang Keomany"] = json!(1));
    assert_eq!(e.field, "body", "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
    assert!(!e.message.contains("Keomany"), "{e}");
    let e = refused(Kind::Referral, |b| b["person"]["Nang Keomany"] = json!(1));
    assert_eq!(e.field, "person", "{e}");
    assert!(!e.to_string().contains("Keomany"), "{e}");
    let e = refused(Kind::Referral, |b| {
        b["person"]["gender"] = json!("Nang Keomany")
    });
    assert!(!e.message.contains("Keomany"), "{e}");
    assert!(e.message.contains("`Feminine`"), "{e}");
    let e = refused(Kind::Referral, |b| {
        b["person"]["age_at_identification"] = json!("Nang Keomany")
    });
    assert!(!e.message.contains("Keomany"), "{e}");
    let e = refused(Kind::ReturnPlan, |b| {
        b["crossing"] = json!({"point": "other"})
    });
    assert_eq!(e.field, "crossing.other", "{e}");
    let e = refused(Kind::ReturnPlan, |b| {
        b["crossing"] = json!({"point": "friendship_bridge_9"})
    });
    assert_eq!(e.field, "crossing.point", "{e}");
    let e = refused(Kind::ReturnCounterproposal, |b| {
        b.as_object_mut().unwrap().remove("date").map(drop).unwrap()
    });
    assert_eq!(e.field, "date", "{e}");
    let e = refused(Kind::Note, |b| b["schema"] = json!("note/2"));
    assert_eq!(e.field, "schema", "{e}");
    let e = refused(Kind::ProsecutionUpdate, |b| b["amount_thb"] = json!(-5));
    assert_eq!(e.field, "amount_thb", "{e}");
    let e = refused(Kind::ReintegrationUpdate, |b| b["month"] = json!(0));
    assert_eq!(e.field, "month", "{e}");
}

#[test]
fn verification_outcome_decides_the_move() {
    let confirmed = parse(Kind::Verification, &sample(Kind::Verification)).unwrap();
    assert!(confirmed.sop_move(Kind::Verification).confirmed);
    let mut body = sample(Kind::Verification);
    body["identity_confirmed"] = json!(false);
    let not = parse(Kind::Verification, &body).unwrap();
    assert!(!not.sop_move(Kind::Verification).confirmed);
}

#[test]
fn injection_strings_are_kept_literally() {
    let mut body = sample(Kind::Note);
    body["text"] = json!("'; DROP TABLE cases; -- <script>alert(1)</script>");
    let Body::Note(note) = parse(Kind::Note, &body).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        note.text,
        "'; DROP TABLE cases; -- <script>alert(1)</script>"
    );
}

#[test]
fn a_correction_changes_the_referral_and_keeps_it_one() {
    let file = referral();
    let Ok(Body::Correction(c)) = parse(Kind::Correction, &sample(Kind::Correction)) else {
        panic!("the sample parses");
    };
    let fixed = corrected(&file, &c.changes).unwrap();
    assert_eq!(fixed["family_contacts"][0]["phone"], "+856 20 5555 9999");
    // A field outside the referral, or a change that leaves no referral, is refused.
    let bad = |field: &str, to: Value| {
        let change = Change {
            field: field.into(),
            from: Value::Null,
            to,
        };
        corrected(&file, &[change]).map_err(|e| e.field)
    };
    assert_eq!(bad("consented", json!([])), Err("changes[0].field".into()));
    assert_eq!(
        bad("person.Keomany", json!(1)),
        Err("changes[0].field".into())
    );
    assert_eq!(bad("needs", Value::Null), Err("needs".into()));
    assert!(bad("origin.village", Value::Null).is_ok());
}
