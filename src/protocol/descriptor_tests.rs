use super::*;

fn sample(key: &SigningKey) -> Descriptor {
    let certs = crate::crypto::certs::generate(
        "th-msdhs",
        "MSDHS",
        &["127.0.0.1".into()],
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    Descriptor {
        node_id: "th-msdhs".into(),
        country: "TH".into(),
        name: "MSDHS shelter".into(),
        federation_url: "https://127.0.0.1:7443".into(),
        tls_ca: certs.ca_pem,
        signing_keys: vec![PublishedKey {
            kid: key.kid(),
            alg: "EdDSA".into(),
            public_key: key.public_b64url(),
        }],
        age_recipients: vec![crate::crypto::keys::AgeIdentity::generate().recipient()],
        protocol: vec!["1".into()],
    }
}

#[test]
fn sign_then_verify() {
    let key = SigningKey::generate().unwrap();
    let d = sample(&key);
    let signed = d.sign(&key).unwrap();
    let v = verify(&signed).unwrap();
    assert_eq!(v.descriptor, d);
    assert_eq!(v.fingerprint, d.fingerprint().unwrap());
    assert!(verify_with_fingerprint(&signed, &v.fingerprint_grouped()).is_ok());
}

#[test]
fn any_changed_member_breaks_the_signature() {
    let key = SigningKey::generate().unwrap();
    let signed = sample(&key).sign(&key).unwrap();
    let tampered = signed.replace("MSDHS shelter", "MSDHS shelteR");
    assert!(matches!(
        verify(&tampered),
        Err(DescriptorError::BadSignature(_))
    ));
    // An added member is covered too.
    let added = signed.replacen('{', "{\"extra\": 1,", 1);
    assert!(matches!(
        verify(&added),
        Err(DescriptorError::BadSignature(_))
    ));
}

#[test]
fn signature_by_an_unpublished_key_is_refused() {
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let d = sample(&key);
    // Signed by another key under its own kid: that kid is not published.
    assert!(matches!(
        verify(&d.sign(&other).unwrap()),
        Err(DescriptorError::UnknownKid(_))
    ));
    // Signed by another key claiming the published kid: the signature fails.
    let mut forged: Map<String, Value> = serde_json::from_str(&d.sign(&other).unwrap()).unwrap();
    let jws = forged["signature"].as_str().unwrap().to_owned();
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let mut header: Value = serde_json::from_slice(&b64url_decode(&parts[0]).unwrap()).unwrap();
    header["kid"] = Value::String(key.kid());
    parts[0] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    forged.insert("signature".into(), Value::String(parts.join(".")));
    let forged = serde_json::to_string(&forged).unwrap();
    assert!(matches!(
        verify(&forged),
        Err(DescriptorError::BadSignature(_))
    ));
}

#[test]
fn wrong_fingerprint_is_refused() {
    let key = SigningKey::generate().unwrap();
    let signed = sample(&key).sign(&key).unwrap();
    let wrong = "0".repeat(64);
    assert!(matches!(
        verify_with_fingerprint(&signed, &wrong),
        Err(DescriptorError::FingerprintMismatch)
    ));
    assert!(matches!(
        verify_with_fingerprint(&signed, "abc"),
        Err(DescriptorError::Field { .. })
    ));
}

#[test]
fn malformed_descriptors_are_refused_with_the_field_named() {
    let key = SigningKey::generate().unwrap();
    let mut d = sample(&key);
    d.federation_url = "http://x".into();
    assert!(matches!(
        verify(&d.sign(&key).unwrap()),
        Err(DescriptorError::Field {
            field: "federation_url",
            ..
        })
    ));
    let mut d = sample(&key);
    d.age_recipients = vec!["age1bogus".into()];
    assert!(matches!(
        verify(&d.sign(&key).unwrap()),
        Err(DescriptorError::Field {
            field: "age_recipients",
            ..
        })
    ));
    let mut d = sample(&key);
    d.tls_ca = "not a cert".into();
    assert!(matches!(
        verify(&d.sign(&key).unwrap()),
        Err(DescriptorError::Field {
            field: "tls_ca",
            ..
        })
    ));
    assert!(matches!(verify("[]"), Err(DescriptorError::Json(_))));
    assert!(matches!(verify("{"), Err(DescriptorError::Json(_))));
    let unsigned = serde_json::to_string(&sample(&key)).unwrap();
    assert_eq!(verify(&unsigned).unwrap_err(), DescriptorError::Unsigned);
}

#[test]
fn alg_none_and_hs256_are_refused() {
    let key = SigningKey::generate().unwrap();
    let signed = sample(&key).sign(&key).unwrap();
    let mut object: Map<String, Value> = serde_json::from_str(&signed).unwrap();
    let jws = object["signature"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = jws.split('.').collect();
    for alg in ["none", "HS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{alg}","typ":"{DESCRIPTOR_TYP}","kid":"{}"}}"#,
            key.kid()
        ));
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        object.insert("signature".into(), Value::String(forged));
        let text = serde_json::to_string(&object).unwrap();
        assert!(
            matches!(verify(&text), Err(DescriptorError::BadSignature(_))),
            "{alg}"
        );
    }
}

#[test]
fn extra_header_parameters_and_padded_names_are_refused() {
    let key = SigningKey::generate().unwrap();
    let d = sample(&key);
    let signed = d.sign(&key).unwrap();
    let mut object: Map<String, Value> = serde_json::from_str(&signed).unwrap();
    let jws = object["signature"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = jws.split('.').collect();
    let header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"EdDSA","typ":"{DESCRIPTOR_TYP}","kid":"{}","crit":["x"]}}"#,
        key.kid()
    ));
    object.insert(
        "signature".into(),
        Value::String(format!("{header}.{}.{}", parts[1], parts[2])),
    );
    let err = verify(&serde_json::to_string(&object).unwrap()).unwrap_err();
    assert!(
        matches!(&err, DescriptorError::BadSignature(m) if m.contains("crit")),
        "{err}"
    );

    let mut d = sample(&key);
    d.name = " padded ".into();
    assert!(matches!(
        verify(&d.sign(&key).unwrap()),
        Err(DescriptorError::Field { field: "name", .. })
    ));
}
