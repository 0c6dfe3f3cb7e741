//! The handover record: printed on either side once the return is confirmed, its
//! QR token verified offline on the other node (`verify-record`), and refused when
//! altered, signed by a key nobody registered, or covering another content.

use base64::Engine;
use mittaphap::app::cases::create_draft;
use mittaphap::app::handover::{self, RECORD_TYP, RecordClaims};
use mittaphap::crypto::keys::SigningKey;
use mittaphap::protocol::jws;
use serde_json::json;

use crate::cases::{consent, referral, step};
use crate::desk::add_user;
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, TestNode, mittaphap_with, tls_provider};
use crate::on_both_backends;
use crate::web::{PASSWORD, page_sign_in};

fn verify_on(node: &TestNode, token: &str) -> (i32, String, String) {
    let out = mittaphap_with(
        &["verify-record", "--dir", node.dir_str()],
        &[],
        Some(token),
    );
    (out.code, out.stdout, out.stderr)
}

async fn a_record_verifies_offline_on_the_other_side(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&la_dir, "keo", "officer", None, PASSWORD);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let now = time::OffsetDateTime::now_utc();
    let case = create_draft(&th, "somchai", "la-molsw", &referral(), now)
        .await
        .unwrap();
    consent(&th, case, "repatriation").await;
    step(&th, &la, case, "referral", json!({}), "referred").await;

    // Not before the return is confirmed.
    assert!(matches!(
        handover::print(&th, "somchai", case).await,
        Err(mittaphap::app::AppError::Conflict(_))
    ));
    step(
        &la,
        &th,
        case,
        "acknowledgement",
        json!({"receiving_organisation": "MoLSW", "case_worker_ref": "CW-17"}),
        "acknowledged",
    )
    .await;
    step(&la, &th, case, "verification", json!({"identity_confirmed": true, "family_traced": true, "family_assessment": "Safe", "placement": "family"}), "verified").await;
    let plan = json!({"date": "2030-12-15", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "Two MSDHS staff", "travel_document": "Certificate of identity CI-2231"});
    step(&th, &la, case, "return_plan", plan, "return_planned").await;
    step(&la, &th, case, "return_confirmation", json!({"reception_team": "Savannakhet LWU team", "transit_centre": "Vientiane transit centre"}), "return_confirmed").await;

    // The Thai officer prints it; the Lao node checks its token offline.
    let printed = handover::print(&th, "somchai", case).await.unwrap();
    assert_eq!(printed.stage, "plan");
    let (code, out, err) = verify_on(&la_dir, &printed.token);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("genuine: signed by th-msdhs"), "{out}");
    assert!(
        out.contains(&format!("reference: {}", printed.reference)),
        "{out}"
    );
    assert!(out.contains("crossing: chong_mek_vangtao"), "{out}");
    assert!(out.contains("date: 2030-12-15"), "{out}");
    assert!(out.contains(&format!("matches case {case}")), "{out}");
    // The printing node verifies its own, too.
    assert_eq!(verify_on(&th_dir, &printed.token).0, 0);

    // The token names nobody: nothing sealed in it, not even the case id.
    let payload = printed.token.split('.').nth(1).unwrap();
    let claims = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    for secret in [
        "ແກ້ວມະນີ",
        "แก้วมณี",
        "Keomany",
        "2009-03-01",
        "SV-778812",
        "CI-2231",
        "MSDHS staff",
        "Savannakhet LWU",
        "Kaysone",
        &case.to_string(),
        &case.to_string()[..8],
    ] {
        assert!(
            !claims.contains(secret),
            "the token holds {secret:?}: {claims}"
        );
        assert!(!printed.token.contains(secret));
    }

    // One byte changed: refused, saying why.
    let mut bytes = printed.token.clone().into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(bytes).unwrap();
    let (code, _, err) = verify_on(&la_dir, &altered);
    assert_eq!(code, 1);
    assert!(
        err.contains("not genuine")
            && (err.contains("signature") || err.contains("not a handover record")),
        "{err}"
    );

    // Signed by a key nobody registered (a forger who copied the claims).
    let genuine: RecordClaims = jws::peek_claims(&printed.token).unwrap();
    let forger = SigningKey::generate().unwrap();
    let forged = jws::sign(RECORD_TYP, &genuine, &forger).unwrap();
    let (code, _, err) = verify_on(&la_dir, &forged);
    assert_eq!(code, 1);
    assert!(err.contains("not genuine: signed with a key"), "{err}");
    // Claiming to come from a node not registered here.
    let mut stranger = genuine.clone();
    stranger.iss = "vn-molisa".into();
    let (code, _, err) = verify_on(&la_dir, &jws::sign(RECORD_TYP, &stranger, &forger).unwrap());
    assert_eq!(code, 1);
    assert!(err.contains("not registered here"), "{err}");

    // Signed by the right key, but for another content (a paper altered, say).
    let mut other = genuine.clone();
    other.sha256 = "0".repeat(64);
    let (code, _, err) = verify_on(
        &la_dir,
        &jws::sign(RECORD_TYP, &other, &th.signing).unwrap(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("content differs"), "{err}");

    // After the handover the record covers it too, and still verifies.
    step(&th, &la, case, "handover", json!({"at": "2030-12-15T09:30:00+07:00", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "Two MSDHS staff", "record": "Form 7"}), "handed_over").await;
    let after = handover::print(&la, "keo", case).await.unwrap();
    assert_eq!(after.stage, "handover");
    assert_eq!(
        after.reference, printed.reference,
        "one reference for the case"
    );
    assert_ne!(after.sha256, printed.sha256);
    let (code, out, err) = verify_on(&th_dir, &after.token);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("genuine: signed by la-molsw") && out.contains("stage: handover"),
        "{out}"
    );

    // The page, in both countries' languages side by side, with its QR code;
    // printing it is audited.
    let http = crate::web::no_redirects();
    let base = format!("http://{}", th_run.desk_addr);
    let cookie = page_sign_in(&http, &base, "somchai").await;
    let page = http
        .get(format!("{base}/cases/{case}/handover-record"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for text in [
        "บันทึกการส่งมอบ",
        "ບົດບັນທຶກການສົ່ງມອບ",
        "<svg",
        &printed.reference,
        "ແກ້ວມະນີ",
        "15/12/2573",
        "Form 7",
    ] {
        assert!(html.contains(text), "the record shows {text:?}");
    }
    assert!(!html.contains("<form"), "no form on paper");
    let mut conn = th.store.pool().acquire().await.unwrap();
    let printed_entries = mittaphap::store::audit::list(
        &mut conn,
        &mittaphap::store::audit::Filter {
            case_id: case.to_string(),
            actor: String::new(),
            action: "case.handover_record".into(),
            since: None,
            until: None,
            after: 0,
            limit: 100,
        },
    )
    .await
    .unwrap();
    assert_eq!(printed_entries.len(), 2, "each print audited");
    drop(conn);

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}
on_both_backends!(a_record_verifies_offline_on_the_other_side);
