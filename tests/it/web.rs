//! The web pages: sessions and CSRF over plain HTTP, then a walk through both
//! nodes' pages in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), saving screenshots under `target/screenshots/`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::desk::add_user;
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, tls_provider, wait_for};
use mittaphap::app::moves::make_move;

pub const PASSWORD: &str = "a long password for tests";

/// A form body, as a browser sends it.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .finish()
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of a `Set-Cookie` named `name`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Signs in through the page and returns the session cookie's `name=value`.
pub async fn page_sign_in(http: &reqwest::Client, base: &str, user: &str) -> String {
    let r = http.get(format!("{base}/sign-in")).send().await.unwrap();
    let pre_cookie = set_cookie(&r, "mittaphap_pre").unwrap();
    assert!(pre_cookie.contains("HttpOnly") && pre_cookie.contains("SameSite=Strict"));
    let pre = pre_cookie.split(';').next().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let value = html
        .split("name=\"pre\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // Without the double-submit value the form is refused.
    let refused = http
        .post(format!("{base}/sign-in"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(encode(&[
            ("username", user),
            ("password", PASSWORD),
            ("pre", &value),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let r = http
        .post(format!("{base}/sign-in"))
        .header(reqwest::header::COOKIE, &pre)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(encode(&[
            ("username", user),
            ("password", PASSWORD),
            ("pre", &value),
            ("next", "/cases"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/cases");
    let session = set_cookie(&r, "mittaphap_session").expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(
        !session.contains("Secure"),
        "plain HTTP on loopback: {session}"
    );
    session.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_forms_their_token() {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, _la) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    let (_th, run) = th_dir.start().await;
    let base = format!("http://{}", run.desk_addr);
    let http = no_redirects();

    // Without a session, a page sends the visitor to sign in, and back after.
    for path in ["/cases", "/cases/new", "/admin", "/prosecution", "/"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.starts_with("/sign-in?next="), "{path} → {to}");
    }
    let cookie = page_sign_in(&http, &base, "somchai").await;
    // Signed in, `next` leads only to a path of this desk: not to another host
    // through a tab or a backslash, and a newline is no error.
    for next in [
        "%2F%09%2Fevil.example",
        "%2F%5C%2Fevil.example",
        "%2Fcases%0Ax",
        "%2F%2Fevil.example",
    ] {
        let r = http
            .get(format!("{base}/sign-in?next={next}"))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{next}");
        assert_eq!(r.headers()["location"], "/", "{next}");
    }
    let r = http
        .get(format!("{base}/cases?filter=all"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // A form without its CSRF token, or with another, is refused and changes nothing.
    let referral = [
        ("home_node", "la-molsw"),
        ("person.names.latin", "Nang Keomany"),
        ("person.gender", "Feminine"),
        ("origin.province", "LA-SV"),
        ("origin.district", "Kaysone Phomvihane"),
        ("origin.village", "Ban Nongdouang"),
        ("exploitation.types", "ForcedLabour"),
        ("exploitation.summary", "Garment workshop"),
        ("needs", "Counselling"),
    ];
    for token in [None, Some("00".repeat(32))] {
        let mut form: Vec<(&str, &str)> = referral.to_vec();
        if let Some(t) = &token {
            form.push(("csrf", t));
        }
        let r = http
            .post(format!("{base}/cases/new"))
            .header(reqwest::header::COOKIE, &cookie)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encode(&form))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
    }
    let mut conn = _th.store.pool().acquire().await.unwrap();
    assert!(
        mittaphap::store::cases::list(&mut conn)
            .await
            .unwrap()
            .is_empty()
    );
    drop(conn);
    // With it, the draft is made; a bad field comes back beside the field.
    let mut form: Vec<(&str, &str)> = referral.to_vec();
    form.push(("csrf", &csrf));
    let r = http
        .post(format!("{base}/cases/new"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(encode(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/cases/"), "{location}");
    let case_path = location
        .trim_start_matches("/cases/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "origin.province");
    let r = http
        .post(format!("{base}/cases/new"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(encode(&bad))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("field invalid"), "the province is marked");
    assert!(
        html.contains("value=\"Nang Keomany\""),
        "what was typed is kept"
    );

    // A large attachment through the page's plain form (multipart), beyond the
    // framework's 2 MiB default: sealed as it streams.
    let boundary = "mittaphapboundary7";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"scan.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'%', 5 << 20));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let r = http
        .post(format!("{base}/cases/{case_path}/attachments"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "{:?}", r.text().await);
    let mut conn = _th.store.pool().acquire().await.unwrap();
    let attached = mittaphap::store::cases::attachments(&mut conn, &case_path)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(attached.len(), 1);
    assert!(
        attached[0].len > 5 << 20,
        "sealed: a little larger than the file"
    );

    // Signing out ends the session at once.
    let r = http
        .post(format!("{base}/sign-out"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(encode(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let r = http
        .get(format!("{base}/cases"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    run.shutdown().await.unwrap();
}

/// Chromium under chromedriver, or `None` when they are not installed (and
/// `MITTAPHAP_REQUIRE_BROWSER` is not set).
struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    async fn start() -> Option<Self> {
        let present = std::path::Path::new("/usr/bin/chromedriver").exists()
            && std::path::Path::new("/usr/bin/chromium").exists();
        if !present {
            if std::env::var("MITTAPHAP_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
                panic!("chromium and chromedriver are required (MITTAPHAP_REQUIRE_BROWSER=1)");
            }
            eprintln!("skipped: chromium and chromedriver are not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1100,1300"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: each try is a real connection.
        let mut client = None;
        for _ in 0..100 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Some(Self {
            driver,
            client: client.expect("chromedriver answers"),
        })
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn select(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn sign_in(&self, base: &str, user: &str, lang: &str) {
        self.client
            .goto(&format!("{base}/sign-in?lang={lang}"))
            .await
            .unwrap();
        self.fill("input[name=username]", user).await;
        self.fill("input[name=password]", PASSWORD).await;
        self.click("form[action='/sign-in'] button").await;
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("header nav"))
            .await
            .unwrap();
    }

    async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_through_both_nodes_pages_in_chromium() {
    tls_provider();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    add_user(&th_dir, "lawyer.lpn", "legal_aid", Some("lpn"), PASSWORD);
    add_user(&th_dir, "admin1", "admin", None, PASSWORD);
    add_user(&la_dir, "keo", "officer", None, PASSWORD);
    add_user(&la_dir, "bounmy", "supervisor", None, PASSWORD);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    // Two host names, so each node keeps its own session cookie in one browser.
    let th_base = format!("http://127.0.0.1:{}", th_run.desk_addr.port());
    let la_base = format!("http://localhost:{}", la_run.desk_addr.port());
    let b = &browser;

    // A Thai officer signs in and drafts a referral.
    b.sign_in(&th_base, "somchai", "th").await;
    assert!(b.source().await.contains("lang=\"th\""));
    assert!(b.source().await.contains("กล่องงาน"), "Thai navigation");
    b.shot("th-inbox").await;
    b.client
        .goto(&format!("{th_base}/cases/new"))
        .await
        .unwrap();
    b.fill("#f-person\\.names\\.latin", "Nang Keomany").await;
    b.fill("#f-person\\.names\\.lo", "ນາງ ແກ້ວມະນີ").await;
    b.select("#f-person\\.gender", "Feminine").await;
    b.fill("#f-person\\.age_at_identification", "16").await;
    b.select("#f-origin\\.province", "LA-SV").await;
    b.fill("#f-origin\\.district", "Kaysone Phomvihane").await;
    b.fill("#f-origin\\.village", "Ban Nongdouang").await;
    b.click("input[name='exploitation.types'][value=ForcedLabour]")
        .await;
    b.fill("#f-exploitation\\.summary", "Garment workshop")
        .await;
    b.fill("#f-needs", "Counselling; continue schooling").await;
    b.fill("#f-family_contacts\\.0\\.relation", "mother").await;
    b.fill("#f-family_contacts\\.0\\.names\\.latin", "Mae Bouavanh")
        .await;
    b.fill("#f-family_contacts\\.0\\.phone", "+856 20 5555 1234")
        .await;
    b.fill("#f-family_contacts\\.1\\.relation", "aunt").await;
    b.fill("#f-family_contacts\\.1\\.names\\.latin", "Pa Noy")
        .await;
    b.shot("th-new-referral").await;

    // The session ends while the officer types (here: every session of theirs is
    // ended at once, as a password change does): the form they send is kept,
    // they sign in again, and it comes back as typed.
    sqlx::query("UPDATE users SET token_epoch = token_epoch + 1 WHERE username = 'somchai'")
        .execute(th.store.pool())
        .await
        .unwrap();
    b.click("form.referral button[type=submit]").await;
    b.client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("input[name=username]"))
        .await
        .unwrap();
    b.fill("input[name=username]", "somchai").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/sign-in'] button").await;
    b.client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("form.referral"))
        .await
        .unwrap();
    let kept = b.source().await;
    for typed in ["Nang Keomany", "Mae Bouavanh", "Pa Noy", "Garment workshop"] {
        assert!(kept.contains(typed), "{typed} kept across the sign-in");
    }
    b.shot("th-new-referral-kept").await;
    b.click("form.referral button[type=submit]").await;
    b.client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    let url = b.client.current_url().await.unwrap();
    let case_id = url.path().trim_start_matches("/cases/").to_owned();
    assert_eq!(case_id.len(), 36, "{url}");

    // Consent to repatriation and to legal aid, recorded on the draft.
    for purpose in ["repatriation", "legal_aid_sharing"] {
        b.client
            .execute(
                "document.querySelectorAll('details').forEach(d => d.open = true)",
                vec![],
            )
            .await
            .unwrap();
        b.select("form[action$='/consents'] select[name=purpose]", purpose)
            .await;
        b.click("form[action$='/consents'] input[name=granted]")
            .await;
        b.client
            .execute(
                "document.querySelector(\"form[action$='/consents'] input[name=given_on]\").value = '2026-11-20'",
                vec![],
            )
            .await
            .unwrap();
        b.select("form[action$='/consents'] select[name=language]", "lo")
            .await;
        b.fill(
            "form[action$='/consents'] input[name=witness]",
            "Shelter social worker",
        )
        .await;
        // The notice of the page before must not pass for the next one's.
        b.client
            .execute(
                "document.querySelectorAll('.notice').forEach(n => n.remove())",
                vec![],
            )
            .await
            .unwrap();
        b.click("form[action$='/consents'] button").await;
        b.client
            .wait()
            .for_element(Locator::Css(".notice"))
            .await
            .unwrap();
    }
    let page = b.source().await;
    assert!(
        page.contains("การส่งกลับ"),
        "repatriation consent listed in Thai"
    );

    // An attachment, uploaded with its progress bar.
    let file = root.path().join("family-book.jpg");
    std::fs::write(&file, vec![0xffu8; 300_000]).unwrap();
    let input = b
        .client
        .find(Locator::Css("form.upload input[type=file]"))
        .await
        .unwrap();
    input.send_keys(file.to_str().unwrap()).await.unwrap();
    b.click("form.upload button").await;
    b.client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath("//a[contains(., 'family-book.jpg')]"))
        .await
        .unwrap();

    // Send the referral.
    b.client
        .execute(
            "document.querySelectorAll('details').forEach(d => d.open = true)",
            vec![],
        )
        .await
        .unwrap();
    b.click("button[name=send][value=referral]").await;
    b.client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    b.shot("th-case-sent").await;
    wait_for(&la.events.accepted, 1, "the referral at the Lao node").await;

    // A Lao officer on the other node sees it in the inbox and acknowledges.
    b.sign_in(&la_base, "keo", "lo").await;
    b.client
        .goto(&format!("{la_base}/cases?filter=inbox"))
        .await
        .unwrap();
    let inbox = b.source().await;
    assert!(inbox.contains("lang=\"lo\""));
    assert!(inbox.contains("ກ່ອງວຽກ"), "Lao inbox title");
    assert!(
        inbox.contains(&case_id[..8]),
        "the case is in the Lao inbox"
    );
    b.shot("lo-inbox").await;
    b.client
        .goto(&format!("{la_base}/cases/{case_id}"))
        .await
        .unwrap();
    assert!(
        b.source().await.contains("Nang Keomany"),
        "the file opened on the home side"
    );
    b.client
        .execute(
            "document.querySelectorAll('details').forEach(d => d.open = true)",
            vec![],
        )
        .await
        .unwrap();
    b.fill(
        "form.move:has(input[value=acknowledgement]) input[name=receiving_organisation]",
        "MoLSW Vientiane transit centre",
    )
    .await;
    b.fill(
        "form.move:has(input[value=acknowledgement]) input[name=case_worker_ref]",
        "LA-CW-17",
    )
    .await;
    b.click("button[name=send][value=acknowledgement]").await;
    b.client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    b.shot("lo-case-acknowledged").await;
    wait_for(
        &th.events.accepted,
        1,
        "the acknowledgement at the Thai node",
    )
    .await;

    // The Thai side sees the acknowledgement on its timeline.
    b.client
        .goto(&format!("{th_base}/cases/{case_id}"))
        .await
        .unwrap();
    let page = b.source().await;
    assert!(
        page.contains("ตอบรับ"),
        "acknowledgement on the Thai timeline"
    );
    assert!(page.contains("รับทราบแล้ว"), "state acknowledged, in Thai");
    b.client
        .execute(
            "document.querySelector('ol.timeline').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
    b.shot("th-case-timeline").await;

    // The Lao side verifies and the Thai side plans the return (made through the
    // core: what is checked here is what each page shows of the other's move).
    let case = uuid::Uuid::parse_str(&case_id).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let verification = json!({"schema": "verification/1", "identity_confirmed": true, "family_traced": true, "family_assessment": "Mother and aunt, safe home", "placement": "family"});
    make_move(&la, "keo", case, "verification", &verification, now)
        .await
        .unwrap();
    wait_for(&th.events.accepted, 2, "the verification at the Thai node").await;
    let plan = json!({"schema": "return_plan/1", "date": "2030-12-15", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "Two MSDHS staff", "travel_document": "Certificate of identity CI-2231", "needs_on_arrival": "Wheelchair at the bridge"});
    make_move(&th, "somchai", case, "return_plan", &plan, now)
        .await
        .unwrap();
    wait_for(&la.events.accepted, 2, "the plan at the Lao node").await;

    // The Lao officer reads the plan before confirming: date, crossing, escorts,
    // in Lao; and the family contact the referral carried.
    b.client
        .goto(&format!("{la_base}/cases/{case_id}"))
        .await
        .unwrap();
    let page = b.source().await;
    for (what, text) in [
        ("the plan's date", "2030-12-15"),
        ("the crossing, in Lao", "ຊ່ອງເມັກ – ວັງເຕົ່າ"),
        ("the escorts", "Two MSDHS staff"),
        ("the travel document", "Certificate of identity CI-2231"),
        ("the needs on arrival", "Wheelchair at the bridge"),
        ("the family contact's name", "Mae Bouavanh"),
        ("the family contact's phone", "+856 20 5555 1234"),
        ("the plan in force, in Lao", "ແຜນທີ່ໃຊ້ຢູ່"),
    ] {
        assert!(page.contains(text), "{what} on the Lao case page");
    }
    assert!(
        page.contains("value=\"return_confirmation\""),
        "the Lao officer can confirm from here"
    );
    b.shot("lo-case-plan").await;

    // The Lao side proposes another date and writes a note; the Thai officer
    // reads both, dates in the Buddhist Era.
    let counter = json!({"schema": "return_counterproposal/1", "date": "2030-12-17", "reason": "Reception team in Savannakhet on the 15th"});
    make_move(&la, "keo", case, "return_counterproposal", &counter, now)
        .await
        .unwrap();
    let note = json!({"schema": "note/1", "text": "Mother will wait at the Vangtao checkpoint"});
    make_move(&la, "keo", case, "note", &note, now)
        .await
        .unwrap();
    wait_for(&th.events.accepted, 4, "the counterproposal and the note").await;
    b.client
        .goto(&format!("{th_base}/cases/{case_id}"))
        .await
        .unwrap();
    let page = b.source().await;
    for (what, text) in [
        ("the proposed date, Buddhist Era", "17/12/2573"),
        ("the reason", "Reception team in Savannakhet on the 15th"),
        ("the note", "Mother will wait at the Vangtao checkpoint"),
        ("the plan in force, in Thai", "แผนที่ใช้อยู่"),
    ] {
        assert!(page.contains(text), "{what} on the Thai case page");
    }
    b.shot("th-case-plan").await;

    // On a phone (360 px wide) no page scrolls sideways, in any language.
    b.client.set_window_size(360, 780).await.unwrap();
    for lang in ["th", "lo", "en"] {
        for path in [
            format!("/cases/{case_id}"),
            "/cases/new".to_owned(),
            "/cases?filter=inbox".to_owned(),
        ] {
            b.client
                .goto(&format!(
                    "{th_base}{path}{}lang={lang}",
                    if path.contains('?') { "&" } else { "?" }
                ))
                .await
                .unwrap();
            let width = b
                .client
                .execute("return document.documentElement.scrollWidth", vec![])
                .await
                .unwrap();
            let viewport = b
                .client
                .execute("return window.innerWidth", vec![])
                .await
                .unwrap();
            assert!(
                width.as_u64().unwrap() <= viewport.as_u64().unwrap().max(360),
                "{path} in {lang} is {width} px wide at {viewport} px"
            );
        }
    }
    b.client
        .goto(&format!("{th_base}/cases/{case_id}?lang=th"))
        .await
        .unwrap();
    b.shot("th-case-phone").await;
    b.client.set_window_size(1100, 1300).await.unwrap();
    b.client
        .goto(&format!("{th_base}/cases/{case_id}"))
        .await
        .unwrap();

    // On the Lao node the case waits in the team's queue until a supervisor
    // assigns it; the officer then finds it under "Mine", counted in the header.
    b.client
        .goto(&format!("{la_base}/cases?filter=team"))
        .await
        .unwrap();
    b.click("header form[action='/sign-out'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
        .unwrap();
    b.sign_in(&la_base, "bounmy", "lo").await;
    b.client
        .goto(&format!("{la_base}/cases/{case_id}"))
        .await
        .unwrap();
    b.select("form[action$='/assign'] select[name=username]", "keo")
        .await;
    b.click("form[action$='/assign'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    b.click("header form[action='/sign-out'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
        .unwrap();
    b.sign_in(&la_base, "keo", "lo").await;
    b.client
        .goto(&format!("{la_base}/cases?filter=mine"))
        .await
        .unwrap();
    let mine = b.source().await;
    assert!(mine.contains(&case_id[..8]), "the case under Mine");
    let badge = b
        .client
        .find(Locator::Css("a.count-mine .badge"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(badge, "1", "counted in the header");
    b.shot("lo-mine").await;

    // The return is confirmed: the Lao officer prints the handover record, one A4
    // page in Thai and Lao, and the Thai node's token verifies on the Lao desk.
    let plan2 = json!({"schema": "return_plan/1", "date": "2030-12-17", "crossing": {"point": "chong_mek_vangtao"}, "escorts": "Two MSDHS staff", "travel_document": "Certificate of identity CI-2231", "needs_on_arrival": "Wheelchair at the bridge"});
    make_move(&th, "somchai", case, "return_plan", &plan2, now)
        .await
        .unwrap();
    wait_for(&la.events.accepted, 3, "the second plan at the Lao node").await;
    let confirmation = json!({"schema": "return_confirmation/1", "reception_team": "Savannakhet LWU team", "transit_centre": "Vientiane transit centre"});
    make_move(&la, "keo", case, "return_confirmation", &confirmation, now)
        .await
        .unwrap();
    wait_for(&th.events.accepted, 5, "the confirmation at the Thai node").await;
    b.client
        .goto(&format!("{la_base}/cases/{case_id}"))
        .await
        .unwrap();
    b.click("a.handover-record").await;
    b.client
        .wait()
        .for_element(Locator::Css(".qr svg"))
        .await
        .unwrap();
    let record = b.source().await;
    for text in [
        "บันทึกการส่งมอบ",
        "ບົດບັນທຶກການສົ່ງມອບ",
        "ແກ້ວມະນີ",
        "17/12/2573",
        "Savannakhet LWU team",
    ] {
        assert!(record.contains(text), "the record shows {text:?}");
    }
    b.shot("lo-handover-record").await;
    let pdf = b
        .client
        .print(
            fantoccini::wd::PrintConfiguration::builder()
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let pdf_path = shots.join("handover-record.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let info = Command::new("pdfinfo").arg(&pdf_path).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(str::trim);
    assert_eq!(pages, Some("1"), "one page: {info}");
    assert!(info.contains("(A4)"), "A4: {info}");
    let text = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&pdf_path)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("บันทึกการส่งมอบ"), "Thai in the PDF: {text}");
    assert!(text.contains("ບົດບັນທຶກການສົ່ງມອບ"), "Lao in the PDF: {text}");
    assert!(text.contains("HR-"), "the reference in the PDF");
    let png = Command::new("pdftoppm")
        .args(["-png", "-r", "70", "-singlefile"])
        .arg(&pdf_path)
        .arg(shots.join("handover-record"))
        .status()
        .unwrap();
    assert!(png.success());
    let token = mittaphap::app::handover::print(&th, "somchai", case)
        .await
        .unwrap()
        .token;
    b.client
        .goto(&format!("{la_base}/verify-record"))
        .await
        .unwrap();
    b.fill("textarea[name=token]", &token).await;
    b.click("form[action='/verify-record'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".verdict"))
        .await
        .unwrap();
    let verdict = b.source().await;
    assert!(
        verdict.contains("verdict genuine"),
        "genuine on the Lao desk"
    );
    assert!(
        verdict.contains(&format!("/cases/{case_id}")),
        "with the case held here"
    );
    b.shot("lo-verify-record").await;
    b.client
        .goto(&format!("{th_base}/cases/{case_id}"))
        .await
        .unwrap();

    // Legal aid: granted on the case page, then the lawyer's board; the case
    // page itself is refused.
    b.fill("form[action$='/grants'] input[name=org]", "lpn")
        .await;
    b.click("form[action$='/grants'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    b.click("header form[action='/sign-out'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
        .unwrap();
    b.sign_in(&th_base, "lawyer.lpn", "en").await;
    b.client
        .goto(&format!("{th_base}/prosecution"))
        .await
        .unwrap();
    let board = b.source().await;
    assert!(
        board.contains("PR-"),
        "the case under the organisation's reference"
    );
    assert!(!board.contains(&case_id) && !board.contains("Keomany"));
    b.shot("en-board").await;
    b.client
        .goto(&format!("{th_base}/cases/{case_id}"))
        .await
        .unwrap();
    let refused = b.source().await;
    assert!(
        refused.contains("Your role may not open this page"),
        "{refused}"
    );

    // The language switch: Lao, then Thai, on the same page.
    b.client
        .goto(&format!("{th_base}/prosecution?lang=lo"))
        .await
        .unwrap();
    assert!(b.source().await.contains("ຕິດຕາມຄະດີອາຍາ"));
    b.shot("lo-board").await;
    b.click("a[href='/prosecution?lang=th']").await;
    assert!(b.source().await.contains("ติดตามคดีอาญา"));

    // The administrator's page: users, peers with fingerprints, the outbox.
    b.click("header form[action='/sign-out'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
        .unwrap();
    b.sign_in(&th_base, "admin1", "en").await;
    b.client.goto(&format!("{th_base}/admin")).await.unwrap();
    let admin = b.source().await;
    assert!(admin.contains("la-molsw") && admin.contains("Fingerprint"));
    b.shot("en-admin").await;

    browser.finish().await;
    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
}

/// Signing out of the pages ends every token of that sign-in, the earlier
/// (renewed) ones too, on the API as on the pages; signing in again gives a new
/// CSRF token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_whole_sign_in() {
    use base64::Engine;
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (mut th_dir, _la) = pair(root.path(), &dbs);
    add_user(&th_dir, "somchai", "officer", None, PASSWORD);
    let (th, run) = th_dir.start().await;
    let base = format!("http://{}", run.desk_addr);
    let http = no_redirects();
    let cookie = page_sign_in(&http, &base, "somchai").await;
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let sid = claims["sid"].as_str().expect("a session id").to_owned();
    // Another token of the same sign-in, as a page renewal makes one.
    let tokens = mittaphap::desk::auth::Tokens::new(
        mittaphap::crypto::keys::SigningKey::from_pkcs8_pem(th.session_key.pkcs8_pem()).unwrap(),
        "th-msdhs".into(),
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (earlier, _) = tokens
        .issue(
            "somchai",
            mittaphap::domain::policy::Role::Officer,
            claims["ep"].as_i64().unwrap(),
            Some(&sid),
            now,
        )
        .unwrap();
    let api = |t: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.get(format!("{base}/api/v1/cases"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(api(earlier.clone()).await, 200);
    let csrf_of = |html: String| {
        html.split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let page = http
        .get(format!("{base}/cases?filter=all"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(page);
    let out = http
        .post(format!("{base}/sign-out"))
        .header(reqwest::header::COOKIE, &cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(encode(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert_eq!(
        api(earlier).await,
        401,
        "the earlier token of the sign-in ended"
    );
    assert_eq!(api(token).await, 401);
    // Signed in again: another CSRF token.
    let again = page_sign_in(&http, &base, "somchai").await;
    let page = http
        .get(format!("{base}/cases?filter=all"))
        .header(reqwest::header::COOKIE, &again)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(csrf_of(page), csrf, "a new CSRF token for a new sign-in");
    run.shutdown().await.unwrap();
}

/// With `approve_accounts`, an officer an admin made is told in Lao that a
/// supervisor must confirm the account; a Lao supervisor confirms it on the
/// page, and the officer then signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lao_supervisor_confirms_an_account_in_chromium() {
    tls_provider();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&Backend::Sqlite);
    let (_th_dir, mut la_dir) = pair(root.path(), &dbs);
    let toml = la_dir.dir.join("node.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("approve_accounts = false", "approve_accounts = true"),
    )
    .unwrap();
    add_user(&la_dir, "admin1", "admin", None, PASSWORD);
    add_user(&la_dir, "bounmy", "supervisor", None, PASSWORD);
    let (_la, la_run) = la_dir.start().await;
    let base = format!("http://127.0.0.1:{}", la_run.desk_addr.port());
    let desk = crate::desk::Desk {
        base: base.clone(),
        http: reqwest::Client::new(),
    };
    let admin = desk.token("admin1", PASSWORD).await;
    let (status, _) = desk
        .post(
            &admin,
            "/api/v1/users",
            &json!({"username": "keo", "role": "officer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201);
    let b = &browser;

    // Keo's right password: the page says the account waits for a supervisor.
    b.client
        .goto(&format!("{base}/sign-in?lang=lo"))
        .await
        .unwrap();
    b.fill("input[name=username]", "keo").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/sign-in'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".error"))
        .await
        .unwrap();
    assert!(b.source().await.contains("ລໍຖ້າຫົວໜ້າງານຢືນຢັນ"));
    b.shot("lo-sign-in-awaiting-confirmation").await;

    // Bounmy sees the count in the header, opens the page, confirms.
    b.sign_in(&base, "bounmy", "lo").await;
    b.click("a.count-accounts").await;
    b.client
        .wait()
        .for_element(Locator::Css("form[action='/accounts/keo/confirm']"))
        .await
        .unwrap();
    b.shot("lo-accounts-to-confirm").await;
    b.click("form[action='/accounts/keo/confirm'] button").await;
    b.client
        .wait()
        .for_element(Locator::Css(".notice"))
        .await
        .unwrap();
    assert!(b.source().await.contains("ຢືນຢັນບັນຊີແລ້ວ"));
    b.shot("lo-account-confirmed").await;
    assert!(desk.login("keo", PASSWORD).await.0 == 200);
    browser.finish().await;
}
