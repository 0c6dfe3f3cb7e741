//! Notices by email through a real SMTP server (aiosmtpd, installed by
//! scripts/setup.sh): the right user is told once when a referral arrives for
//! the team; the email holds no name, number or case id; the node works on while
//! the SMTP server is down, and the notice arrives once it is back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::desk::{Desk, add_user};
use crate::exchange::pair;
use crate::helpers::{Backend, Databases, TestNode, mittaphap_with, tls_provider, wait_for};
use crate::on_both_backends;

const PW: &str = "a long password for notices";

/// An SMTP server on 127.0.0.1 keeping each message it accepts as a file.
struct Smtp {
    child: Child,
    maildir: PathBuf,
}

impl Smtp {
    async fn start(port: u16, maildir: &Path) -> Self {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/setup.sh installs aiosmtpd)");
        let smtp = Self {
            child,
            maildir: maildir.to_owned(),
        };
        // Ready when it accepts a connection.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not start: run scripts/setup.sh (pip install aiosmtpd)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        smtp
    }

    /// Every message received so far: its headers, then its body decoded.
    fn mails(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        dir.map(|e| decoded(&std::fs::read_to_string(e.unwrap().path()).unwrap()))
            .collect()
    }

    /// Waits (at most a minute) until `n` messages have arrived.
    async fn wait_for_mails(&self, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {n} emails (have {})",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-part text message as a reader sees it: headers, then the body decoded
/// from its transfer encoding (7bit, 8bit or base64).
fn decoded(raw: &str) -> String {
    use base64::Engine;
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").expect("headers, then a body");
    let encoding = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
        .unwrap_or("7bit");
    let text = match encoding.trim() {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .unwrap(),
        )
        .unwrap(),
        "7bit" | "8bit" => body.to_owned(),
        other => panic!("unexpected transfer encoding {other}"),
    };
    format!("{head}\n\n{text}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Turns notices on in the node's configuration file, as an operator would.
fn notify_to(node: &TestNode, port: u16) {
    let path = node.dir.join("node.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let notify: toml::Table = format!(
        "smtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"Mittaphap <desk@{id}.example>\"\n\
         desk_url = \"https://desk.{id}.example\"\ncheck_secs = 1\nbatch_secs = 0\n",
        id = node.id
    )
    .parse()
    .unwrap();
    config.insert("notify".into(), toml::Value::Table(notify));
    std::fs::write(path, toml::to_string(&config).unwrap()).unwrap();
}

fn user_with_email(node: &TestNode, username: &str, role: &str, email: &str) {
    let args = [
        "user",
        "add",
        "--dir",
        node.dir_str(),
        "--username",
        username,
        "--role",
        role,
        "--password-stdin",
        "--email",
        email,
    ];
    let out = mittaphap_with(&args, &[], Some(&format!("{PW}\n")));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

async fn a_referral_tells_the_team_once_even_after_the_mail_server_was_down(backend: Backend) {
    tls_provider();
    let root = tempfile::tempdir().unwrap();
    let dbs = Databases::new(&backend);
    let (mut th_dir, mut la_dir) = pair(root.path(), &dbs);
    user_with_email(&th_dir, "somchai", "officer", "somchai@th.example");
    user_with_email(&la_dir, "keo", "officer", "keo@la.example");
    user_with_email(&la_dir, "auditor1", "auditor", "audit@la.example");
    user_with_email(&la_dir, "root1", "admin", "root@la.example");
    add_user(&la_dir, "sisouk", "officer", None, PW);
    // A bad address is refused before anything is written.
    let out = mittaphap_with(
        &[
            "user",
            "add",
            "--dir",
            la_dir.dir_str(),
            "--username",
            "bad1",
            "--role",
            "officer",
            "--password-stdin",
            "--email",
            "keo at la",
        ],
        &[],
        Some(&format!("{PW}\n")),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--email"), "{}", out.stderr);

    let port = free_port();
    notify_to(&th_dir, port);
    notify_to(&la_dir, port);
    let (th, th_run) = th_dir.start().await;
    let (la, la_run) = la_dir.start().await;
    let http = reqwest::Client::new();
    let thd = Desk {
        base: format!("http://{}", th_run.desk_addr),
        http: http.clone(),
    };
    let lad = Desk {
        base: format!("http://{}", la_run.desk_addr),
        http,
    };
    let somchai = thd.token("somchai", PW).await;
    let keo = lad.token("keo", PW).await;

    // The SMTP server is down: the referral is made, sent, received and listed all
    // the same.
    let case = thd.refer(&somchai).await;
    wait_for(&la.events.accepted, 1, "the referral").await;
    let (status, queue) = lad.get(&keo, "/api/v1/cases?assigned=none").await;
    assert_eq!(status, 200);
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    // Rounds go on failing while the server is down, and nothing is lost.
    let rounds = *la.events.notice_rounds.borrow();
    wait_for(&la.events.notice_rounds, rounds + 2, "notice rounds").await;

    // The server comes back: the notice arrives, to the Lao officer only.
    let maildir = root.path().join("mail");
    let smtp = Smtp::start(port, &maildir).await;
    let mails = smtp.wait_for_mails(1).await;
    // A few more rounds on both nodes send nothing again.
    for node in [&la, &th] {
        let rounds = *node.events.notice_rounds.borrow();
        wait_for(&node.events.notice_rounds, rounds + 3, "notice rounds").await;
    }
    let mails_now = smtp.mails();
    assert_eq!(mails_now.len(), 1, "one email, once: {mails_now:#?}");
    let mail = &mails[0];
    assert!(mail.contains("To: keo@la.example"), "{mail}");
    assert!(mail.contains("https://desk.la-molsw.example"), "{mail}");
    // In the node's language (the officer chose none), readable as sent.
    assert!(mail.contains("ກໍລະນີໃນຄິວຂອງທີມ"), "{mail}");
    // Nothing of the case: no id (whole or short), no name, number, place or phone.
    let short: String = case.chars().take(8).collect();
    for secret in [
        case.as_str(),
        short.as_str(),
        "ແກ້ວມະນີ",
        "แก้วมณี",
        "Keomany",
        "SV-778812",
        "5555",
        "Kaysone",
        "Nongdouang",
        "Garment",
        "Bouavanh",
        "LA-SV",
    ] {
        assert!(!mail.contains(secret), "the email holds {secret:?}: {mail}");
    }

    // The officer takes the case from the team's queue: not news to him.
    let (status, _) = lad
        .post(
            &keo,
            &format!("/api/v1/cases/{case}/assign"),
            &json!({"username": "keo"}),
        )
        .await;
    assert_eq!(status, 204);
    let rounds = *la.events.notice_rounds.borrow();
    wait_for(&la.events.notice_rounds, rounds + 3, "notice rounds").await;
    assert_eq!(smtp.mails().len(), 1, "taking a case tells no one");

    th_run.shutdown().await.unwrap();
    la_run.shutdown().await.unwrap();
    drop(smtp);
}
on_both_backends!(a_referral_tells_the_team_once_even_after_the_mail_server_was_down);
