//! Notices by email: when something newly waits for a user (a turn on a case
//! they hold, a case in the team's queue, a step awaiting their approval, a
//! reminder fallen due; for admins, a channel undelivered too long), one email
//! says what kind of thing waits and links to the desk. It never holds a name,
//! a case id or anything else of a case.
//!
//! The notifier only reads: it compares what waits now with what each user
//! was already told of (`notices_sent`), so a move never waits for it, never
//! fails because of it, and a notice missed while the SMTP server was down is
//! sent on a later round. At most one email per user per `[notify] batch_secs`.

use std::collections::BTreeSet;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::AppError;
use super::case_view::{self, Held, Summary, Which};
use crate::config::NotifyConfig;
use crate::domain::policy::{Action, Role, allows};
use crate::i18n::{Lang, Words};
use crate::node::Node;
use crate::store::pending::PendingRow;
use crate::store::users::UserRow;
use crate::store::{notices, outbox, pending, users};

/// The kinds of things that wait, in the order an email lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    /// A case the user holds is at our turn.
    Turn,
    /// A case nobody on this node holds yet (a referral arrived for the team).
    Team,
    /// A step another user made awaits the user's approval.
    Approval,
    /// Something on a case the user holds (or, held by nobody, the team) is overdue.
    Reminder,
    /// A channel to a peer has been undelivered for too long (admins).
    Channel,
}

impl What {
    const ALL: [What; 5] = [
        Self::Turn,
        Self::Team,
        Self::Approval,
        Self::Reminder,
        Self::Channel,
    ];

    fn key(self) -> &'static str {
        match self {
            Self::Turn => "notify.turn",
            Self::Team => "notify.team",
            Self::Approval => "notify.approval",
            Self::Reminder => "notify.reminder",
            Self::Channel => "notify.channel",
        }
    }
}

/// One thing that waits, named by ids of this node (stored, never emailed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Item {
    pub what: What,
    pub key: String,
}

/// What the node knows now, read once per round.
pub struct Now<'a> {
    /// Cases whose return has not ended.
    pub open: &'a [Summary],
    /// Steps awaiting approval.
    pub pending: &'a [PendingRow],
    /// Peers whose channel has been undelivered too long.
    pub stalled: &'a [String],
}

/// What waits for a user of `role` named `username` now.
pub fn waiting_for(username: &str, role: Role, now: &Now<'_>) -> BTreeSet<Item> {
    let mut out = BTreeSet::new();
    let mut add = |what, key: String| {
        out.insert(Item { what, key });
    };
    if allows(role, Action::Move) {
        for c in now.open {
            let mine = c.owner.as_deref() == Some(username);
            // One key for "this case waits in this state", whoever holds it: a
            // case taken from the team's queue is not news to whoever took it;
            // the peer's next move is. A draft is its drafter's work in hand.
            let key = format!("wait:{}:{}", c.id, c.state);
            if mine && c.awaiting_us && !c.is_draft() {
                add(What::Turn, key);
            } else if c.owner.is_none() && !c.is_draft() {
                add(What::Team, key);
            }
            if mine || c.owner.is_none() {
                for due in &c.overdue {
                    add(What::Reminder, format!("due:{}:{due:?}", c.id));
                }
            }
        }
    }
    if allows(role, Action::Assign) {
        for p in now.pending.iter().filter(|p| p.author != username) {
            add(
                What::Approval,
                format!("approve:{}:{}", p.case_id, p.created_at),
            );
        }
    }
    if allows(role, Action::ManagePeers) {
        for peer in now.stalled {
            add(What::Channel, format!("channel:{peer}"));
        }
    }
    out
}

/// The email for `items`: counts by kind and the desk's address, nothing else.
pub fn compose(words: &Words, username: &str, items: &[Item], desk_url: &str) -> (String, String) {
    let subject = words.t("notify.subject").to_owned();
    let mut body = format!(
        "{} {username},\n\n{}\n\n",
        words.t("notify.hello"),
        words.t("notify.intro")
    );
    for what in What::ALL {
        let n = items.iter().filter(|i| i.what == what).count();
        if n > 0 {
            body.push_str(&format!("- {}: {n}\n", words.t(what.key())));
        }
    }
    body.push_str(&format!(
        "\n{} {desk_url}\n\n{}\n",
        words.t("notify.open"),
        words.t("notify.no_details")
    ));
    (subject, body)
}

/// Sends notices through one SMTP server.
pub struct Notifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    desk_url: String,
    batch_ms: i64,
    undelivered_ms: i64,
}

/// How long one SMTP conversation may take before the round gives up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

impl Notifier {
    /// The notifier `[notify]` describes; `None` when no `smtp_url` is set.
    pub fn from_config(config: &NotifyConfig) -> Result<Option<Self>, String> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        // The URL may hold a password: errors name the setting, never the value.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| {
                "[notify] smtp_url: not an SMTP URL such as smtp://mail.example.org:587?tls=required"
                    .to_owned()
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = config
            .from
            .as_deref()
            .ok_or("[notify] from: set the sender address when smtp_url is set")?
            .parse::<Mailbox>()
            .map_err(|_| "[notify] from: not an address such as Desk <desk@example.org>")?;
        let desk_url = config
            .desk_url
            .clone()
            .ok_or("[notify] desk_url: set the desk's address users open when smtp_url is set")?;
        let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(Some(Self {
            transport,
            from,
            desk_url,
            batch_ms: secs(config.batch_secs),
            undelivered_ms: secs(config.undelivered_secs),
        }))
    }

    async fn send(&self, to: &str, subject: String, body: String) -> Result<(), String> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|_| "a stored address no longer parses".to_owned())?;
        // UTF-8 text, in the transfer encoding lettre finds best for it (base64
        // for Thai and Lao): a forced one that does not fit would panic.
        let part = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(lettre::message::Body::new(body));
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .singlepart(part)
            .map_err(|e| format!("building the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| smtp_problem(&e))
    }
}

/// An SMTP failure as the log says it: its kind, never an address or a password.
fn smtp_problem(e: &lettre::transport::smtp::Error) -> String {
    if e.is_timeout() {
        "the SMTP server did not answer in time".into()
    } else if e.is_permanent() {
        format!(
            "the SMTP server refused (code {})",
            e.status().map(|c| c.to_string()).unwrap_or_default()
        )
    } else if e.is_transient() {
        "the SMTP server asked to try later".into()
    } else if e.is_tls() {
        "TLS with the SMTP server failed".into()
    } else {
        "the SMTP server could not be reached".into()
    }
}

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Emails sent.
    pub sent: usize,
    /// Users with something new whose email waits for the batch window.
    pub deferred: usize,
    /// Why sending stopped, if it did (tried again next round).
    pub failed: Option<String>,
}

/// One round: tells each user with an address of what newly waits for them.
pub async fn round(node: &Node, notifier: &Notifier, now: i64) -> Result<Round, AppError> {
    let mut conn = node.store.pool().acquire().await?;
    let people: Vec<UserRow> = users::list(&mut conn)
        .await?
        .into_iter()
        .filter(|u| u.disabled == 0 && u.email.is_some())
        .collect();
    let mut done = Round::default();
    if people.is_empty() {
        return Ok(done);
    }
    let open: Vec<Summary> = case_view::list(node, None, None, Which::All, Held::Any)
        .await?
        .into_iter()
        .filter(|c| !c.status.state.is_end())
        .collect();
    let waiting = pending::list(&mut conn).await?;
    let stalled: Vec<String> = outbox::summary(&mut conn)
        .await?
        .into_iter()
        .filter(|p| {
            p.oldest_queued_at
                .is_some_and(|t| now - t >= notifier.undelivered_ms)
        })
        .map(|p| p.peer_id)
        .collect();
    let state = Now {
        open: &open,
        pending: &waiting,
        stalled: &stalled,
    };
    for user in people {
        let Some(role) = Role::parse(&user.role) else {
            continue;
        };
        let items = waiting_for(&user.username, role, &state);
        let told: BTreeSet<String> = notices::told(&mut conn, &user.username)
            .await?
            .into_iter()
            .collect();
        // What no longer waits is forgotten: told again if it comes back.
        for gone in told.iter().filter(|k| !items.iter().any(|i| &i.key == *k)) {
            notices::forget(&mut conn, &user.username, gone).await?;
        }
        let new: Vec<Item> = items
            .into_iter()
            .filter(|i| !told.contains(&i.key))
            .collect();
        if new.is_empty() || done.failed.is_some() {
            continue;
        }
        if user
            .notified_at
            .is_some_and(|t| now - t < notifier.batch_ms)
        {
            done.deferred += 1;
            continue;
        }
        let lang = user
            .lang
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_else(|| node_lang(node));
        let (subject, body) = compose(&Words::new(lang), &user.username, &new, &notifier.desk_url);
        let Some(address) = user.email.as_deref() else {
            continue;
        };
        match notifier.send(address, subject, body).await {
            Ok(()) => {
                for item in &new {
                    notices::mark(&mut conn, &user.username, &item.key, now).await?;
                }
                users::set_notified(&mut conn, &user.username, now).await?;
                done.sent += 1;
            }
            Err(problem) => done.failed = Some(problem),
        }
    }
    Ok(done)
}

/// The language of the node's country, for users who chose none.
fn node_lang(node: &Node) -> Lang {
    match node.config.country.as_str() {
        "TH" => Lang::Th,
        "LA" => Lang::Lo,
        _ => Lang::En,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sop::{Side, State, Status};

    fn case(id: &str, owner: Option<&str>, awaiting: bool) -> Summary {
        Summary {
            id: id.into(),
            host_node: "th-a".into(),
            home_node: "la-a".into(),
            our_side: "home".into(),
            state: "referred".into(),
            turn: Some("home".into()),
            peer: "th-a".into(),
            status: Status {
                state: State::Referred,
                turn: Some(Side::Home),
            },
            our_turn: awaiting,
            testimony_pending: false,
            awaiting_us: awaiting,
            gender: None,
            age_at_identification: None,
            exploitation_types: None,
            province_of_origin: None,
            crossing_point: None,
            prosecution_milestone: None,
            updated_at: 0,
            purged_at: None,
            owner: owner.map(str::to_owned),
            overdue: Vec::new(),
            return_date: None,
            awaiting_approval: false,
        }
    }

    #[test]
    fn each_role_is_told_of_its_own_work() {
        let open = [
            case("c1", Some("noy"), true),
            case("c2", None, true),
            case("c3", Some("bua"), true),
        ];
        let pending = [PendingRow {
            case_id: "c3".into(),
            kind: "closure".into(),
            body: String::new(),
            author: "bua".into(),
            created_at: 5,
        }];
        let stalled = ["th-a".to_owned()];
        let now = Now {
            open: &open,
            pending: &pending,
            stalled: &stalled,
        };
        let whats = |user, role| {
            waiting_for(user, role, &now)
                .into_iter()
                .map(|i| i.what)
                .collect::<Vec<_>>()
        };
        assert_eq!(whats("noy", Role::Officer), [What::Turn, What::Team]);
        assert_eq!(whats("sup", Role::Supervisor), [What::Team, What::Approval]);
        assert_eq!(
            whats("bua", Role::Supervisor),
            [What::Turn, What::Team],
            "not their own step"
        );
        assert_eq!(whats("root", Role::Admin), [What::Channel]);
        assert!(whats("law", Role::LegalAid).is_empty());
    }

    #[test]
    fn an_email_holds_counts_and_the_link_only() {
        let items = [
            Item {
                what: What::Team,
                key: "team:0190aaaa-bbbb".into(),
            },
            Item {
                what: What::Team,
                key: "team:0190cccc-dddd".into(),
            },
        ];
        let (subject, body) = compose(
            &Words::new(Lang::En),
            "noy",
            &items,
            "https://desk.example.org",
        );
        assert!(!subject.is_empty());
        assert!(body.contains(": 2\n"), "{body}");
        assert!(body.contains("https://desk.example.org"));
        assert!(!body.contains("0190"), "no case id: {body}");
    }
}
