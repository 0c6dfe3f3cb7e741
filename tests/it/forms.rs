//! Forms a case worker can fill in their own language: every field at fault in
//! one answer, in the reader's language; Buddhist-Era years typed on a Thai page;
//! dates nobody can mean refused; a draft edited and seen on its page.

use serde_json::{Value, json};

use crate::cases::referral;
use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider};
use crate::web::{PASSWORD, encode, no_redirects, page_sign_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_at_once_in_the_readers_language() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    let (_th, th_run) = th_dir.start().await;
    let (_la, la_run) = la_dir.start().await;
    let base = format!("http://{}", th_run.desk_addr);
    let desk = Desk {
        base: base.clone(),
        http: reqwest::Client::new(),
    };
    let token = desk.token("somchai", PASSWORD).await;
    let post = |lang: Option<&'static str>, body: Value| {
        let mut r = desk
            .http
            .post(format!("{base}/api/v1/cases"))
            .bearer_auth(&token)
            .json(&body);
        if let Some(lang) = lang {
            r = r.header("accept-language", lang);
        }
        r.send()
    };

    // An empty referral: one answer naming every required field.
    let empty = json!({"home_node": "la-molsw", "referral": {"schema": "referral/1"}});
    let r = post(None, empty.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "person.gender",
            "origin.province",
            "exploitation.types",
            "exploitation.summary",
            "needs"
        ],
        "{body}"
    );
    assert_eq!(body["field"], "person.gender");
    assert!(
        body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["code"] == "required")
    );
    assert_eq!(body["fields"][0]["message"], "Required: fill this in.");
    // In Lao, for a reader whose browser asks for it.
    let lao: Value = post(Some("lo-LA,lo;q=0.9"), empty)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lao["fields"][0]["message"], "ຈຳເປັນຕ້ອງປ້ອນຊ່ອງນີ້", "{lao}");
    assert!(lao["message"].as_str().unwrap().contains("ຈຳເປັນຕ້ອງປ້ອນຊ່ອງນີ້"));

    // A birth date in the Buddhist Era typed where the Common Era is meant, a
    // return planned in the past: refused, saying why.
    let mut r1 = referral();
    r1["person"]["birth_date"] = json!({"date": "2552-05-14", "estimated": false});
    let r = post(None, json!({"home_node": "la-molsw", "referral": r1}))
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["field"].as_str(), body["fields"][0]["code"].as_str()),
        (Some("person.birth_date.date"), Some("birth_future")),
        "{body}"
    );

    // The same year typed on a Thai page is read as the Buddhist Era.
    let http = no_redirects();
    let session = page_sign_in(&http, &base, "somchai").await;
    let cookies = format!("{session}; mittaphap_lang=th");
    let form = http
        .get(format!("{base}/cases/new"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("required"), "required fields are marked");
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let fields = [
        ("csrf", csrf.as_str()),
        ("home_node", "la-molsw"),
        ("person.names.latin", "Nang Keomany"),
        ("person.gender", "Feminine"),
        ("person.birth_date.date", "2552-05-14"),
        ("person.age_at_identification", "17"),
        ("origin.province", "LA-SV"),
        ("family_contacts.0.relation", "mother"),
        ("family_contacts.0.names.latin", "Mae Bouavanh"),
        ("family_contacts.1.relation", "aunt"),
        ("family_contacts.1.names.latin", "Pa Noy"),
        ("family_contacts.1.phone", "+856 20 7777 1234"),
        ("exploitation.types", "ForcedLabour"),
        ("exploitation.summary", "Garment workshop"),
        ("needs", "Counselling"),
    ];
    let r = http
        .post(format!("{base}/cases/new"))
        .header("cookie", &cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&fields))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let case = location
        .trim_start_matches("/cases/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (_, read) = desk.get(&token, &format!("/api/v1/cases/{case}")).await;
    assert_eq!(read["file"]["person"]["birth_date"]["date"], "2009-05-14");
    assert_eq!(
        read["file"]["family_contacts"][1]["phone"],
        "+856 20 7777 1234"
    );

    // The draft edited through the API: its page shows the edit.
    let mut edited = read["file"].clone();
    edited["needs"] = json!("Counselling; a place at the Savannakhet school");
    let (status, answer) = desk
        .call(
            reqwest::Method::PATCH,
            &token,
            &format!("/api/v1/cases/{case}"),
            Some(&json!({"referral": edited})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let page = http
        .get(format!("{base}/cases/{case}"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("a place at the Savannakhet school"),
        "the edit on the page"
    );
    assert!(
        page.contains("Pa Noy"),
        "the second family contact on the page"
    );

    // An address nobody serves: a page for a browser, in its language; JSON for
    // a program.
    let r = http
        .get(format!("{base}/no/such/page"))
        .header("accept", "text/html,application/xhtml+xml")
        .header("cookie", "mittaphap_lang=lo")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = r.text().await.unwrap();
    assert!(text.contains("lang=\"lo\""), "{text}");
    let r = http
        .get(format!("{base}/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}

/// A referral posted after its session ended comes back, filled as it was, once
/// its user has signed in again; in between it is sealed, never in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_typed_is_lost_when_the_session_ends() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, _la) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&th_dir, "malee", "officer", None, PASSWORD);
    let (th, th_run) = th_dir.start().await;
    let base = format!("http://{}", th_run.desk_addr);
    let http = no_redirects();
    // A session that ended an hour ago: a token of this node, expired.
    let state = mittaphap::desk::DeskState::new(th.clone()).unwrap();
    let hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let (expired, _) = state
        .tokens
        .issue(
            "somchai",
            mittaphap::domain::policy::Role::Officer,
            0,
            None,
            hour_ago,
        )
        .unwrap();
    let typed = [
        ("csrf", "whatever it was"),
        ("home_node", "la-molsw"),
        ("person.names.latin", "Nang Keomany"),
        ("person.gender", "Feminine"),
        ("origin.province", "LA-SV"),
        ("family_contacts.0.relation", "mother"),
        ("family_contacts.0.names.latin", "Mae Bouavanh"),
        ("family_contacts.1.relation", "aunt"),
        ("family_contacts.1.names.latin", "Pa Noy"),
        ("exploitation.types", "ForcedLabour"),
        ("exploitation.summary", "Twenty minutes of typing"),
        ("needs", "Counselling"),
    ];
    let r = http
        .post(format!("{base}/cases/new"))
        .header("cookie", format!("mittaphap_session={expired}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&typed))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Fcases%2Fnew");
    let held = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mittaphap_held="))
        .expect("the form is kept")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // Kept sealed: the typed words are nowhere on disk in the clear.
    for (path, (_, bytes)) in crate::helpers::snapshot(&th_dir.dir.join("data")) {
        assert!(
            !bytes.windows(6).any(|w| w == b"Pa Noy"),
            "the kept form in the clear in {}",
            path.display()
        );
    }
    // Another user signing in on that browser does not get it.
    let other = page_sign_in(&http, &base, "malee").await;
    let page = http
        .get(format!("{base}/cases/new"))
        .header("cookie", format!("{other}; {held}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Pa Noy"), "not another user's");
    // Its own user signs in again and finds the form as typed, once.
    let session = page_sign_in(&http, &base, "somchai").await;
    let get = || {
        http.get(format!("{base}/cases/new"))
            .header("cookie", format!("{session}; {held}"))
            .send()
    };
    let page = get().await.unwrap().text().await.unwrap();
    for typed in [
        "Nang Keomany",
        "Mae Bouavanh",
        "Pa Noy",
        "Twenty minutes of typing",
    ] {
        assert!(page.contains(typed), "{typed} kept");
    }
    let again = get().await.unwrap().text().await.unwrap();
    assert!(!again.contains("Pa Noy"), "given back once");
    th_run.shutdown().await.unwrap();
}
