//! Desk accounts, managed from the command line (`user add|disable|enable`) and by
//! admins on the desk: each change audited in its own transaction.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;

use super::audit::{self, Entry};
use crate::domain::policy::{Role, acts_for_org, reads_case_content};
use crate::store::{Store, StoreError, millis, users};

/// At least 12 characters (DESIGN: accounts).
pub const MIN_PASSWORD: usize = 12;

/// The argon2id hash of a password of at least `MIN_PASSWORD` characters.
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!("a password has at least {MIN_PASSWORD} characters"));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Password hashing runs on a few threads of its own (`[limits] hashing`,
/// default 2), one hash at a time each, others queued: argon2id takes 19 MiB
/// per hash, so concurrent sign-ins cannot take the node's memory, and each
/// thread reuses its own 19 MiB instead of the allocator keeping one per
/// blocking thread.
mod pool {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::sync::{Arc, Mutex, OnceLock};

    type Job = Box<dyn FnOnce() + Send>;

    static WORKERS: AtomicUsize = AtomicUsize::new(2);
    static POOL: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();

    /// How many threads hash; takes effect if no password was hashed yet.
    pub fn set_workers(n: usize) {
        WORKERS.store(n.max(1), Ordering::Relaxed);
    }

    fn start() -> Mutex<Sender<Job>> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WORKERS.load(Ordering::Relaxed) {
            let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hashing-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Mutex::new(tx)
    }

    /// Runs `f` on a hashing thread; `None` if none runs.
    pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        POOL.get_or_init(start)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .ok()?;
        rx.await.ok()
    }
}

pub use pool::set_workers as set_hashing_threads;

/// Whether `password` matches the argon2 `hash`, checked on a hashing thread in
/// that thread's own argon2 memory.
pub async fn check_password(password: String, hash: String) -> bool {
    pool::run(move || MEMORY.with_borrow_mut(|m| verify_reusing(m, &password, &hash)))
        .await
        .unwrap_or(false)
}

thread_local! {
    /// Each hashing thread's argon2 working memory, allocated once and reused:
    /// the allocator does not always give back memory freed by a hash.
    static MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `password` matches `hash`, working in `memory` (grown to the hash's
/// cost once).
fn verify_reusing(memory: &mut Vec<argon2::Block>, password: &str, hash: &str) -> bool {
    use argon2::password_hash::phc::{Output, PasswordHash};
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm.as_str()),
    ) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() != blocks {
        *memory = vec![argon2::Block::new(); blocks];
    }
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
        .is_ok()
        && Output::new(out).is_ok_and(|got| got == *expected)
}

/// `hash_password` on a hashing thread.
pub async fn make_password_hash(password: String) -> Result<String, String> {
    pool::run(move || hash_password(&password))
        .await
        .unwrap_or_else(|| Err("password hashing is not running".into()))
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

fn invalid(field: &str, message: impl Into<String>) -> AccountError {
    AccountError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A new account. `org` is given for `legal_aid` users, and only for them.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub role: &'a str,
    pub org: Option<&'a str>,
    pub password: String,
    /// Where notices go (none: no email).
    pub email: Option<&'a str>,
    /// An account that reads case content waits for a supervisor's
    /// confirmation before it can sign in (an admin's, with
    /// `[workflow] approve_accounts`; never the operator's).
    pub needs_confirmation: bool,
}

/// Checks an email address for notices: one address, such as
/// `somchai@shelter.example`.
pub fn check_email(email: &str) -> Result<(), AccountError> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.parse::<lettre::Address>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "email",
            "one email address, such as name@example.org",
        ))
    }
}

pub fn check_username(username: &str) -> Result<(), AccountError> {
    let ok = (3..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "username",
            "3 to 64 lowercase letters, digits, '.', '_' or '-'",
        ))
    }
}

/// Checks and adds an account; returns its role.
pub async fn add(
    store: &Store,
    actor: &str,
    new: NewUser<'_>,
    now: time::OffsetDateTime,
) -> Result<Role, AccountError> {
    check_username(new.username)?;
    let role = Role::parse(new.role).ok_or_else(|| {
        invalid(
            "role",
            "one of officer, supervisor, legal_aid, admin or auditor",
        )
    })?;
    let org_ok = new.org.is_some_and(|o| {
        (2..=64).contains(&o.len())
            && o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    if acts_for_org(role) != new.org.is_some() || (new.org.is_some() && !org_ok) {
        return Err(invalid(
            "org",
            "an organisation (2 to 64 letters, digits, '.', '_' or '-') is given for legal_aid users, and only for them",
        ));
    }
    if let Some(email) = new.email {
        check_email(email)?;
    }
    let awaiting = new.needs_confirmation && reads_case_content(role);
    let hash = make_password_hash(new.password)
        .await
        .map_err(|m| invalid("password", m))?;
    let row = users::UserRow {
        username: new.username.to_owned(),
        role: role.as_str().to_owned(),
        org: new.org.map(str::to_owned),
        password_hash: hash,
        disabled: if awaiting {
            users::AWAITING_CONFIRMATION
        } else {
            users::ACTIVE
        },
        created_at: millis(now),
        token_epoch: 0,
        lang: None,
        email: new.email.map(str::to_owned),
        notified_at: None,
    };
    let mut tx = store.begin().await?;
    users::insert(&mut tx, &row).await.map_err(|e| match e {
        StoreError::Conflict(m) => AccountError::Conflict(m),
        e => AccountError::Store(e),
    })?;
    let detail = format!(
        "user={} role={} org={}",
        row.username,
        row.role,
        row.org.as_deref().unwrap_or("")
    );
    let entry = Entry {
        actor,
        action: "user.add",
        case_id: None,
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    record_case_access(&mut tx, actor, &row.username, role, awaiting, now).await?;
    tx.commit().await?;
    Ok(role)
}

/// The audit action of an account made or enabled that reads case content,
/// shown to auditors on their page and counted on `/metrics`.
pub const CASE_ACCESS: &str = "user.case_access";

/// Records, beside `user.add` or `user.enable`, that the account now reads case
/// content, when its role does.
async fn record_case_access(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    username: &str,
    role: Role,
    awaiting: bool,
    now: time::OffsetDateTime,
) -> Result<(), StoreError> {
    if !reads_case_content(role) {
        return Ok(());
    }
    let mut detail = format!("user={username} role={}", role.as_str());
    if awaiting {
        detail.push_str(" awaiting_confirmation");
    }
    let entry = Entry {
        actor,
        action: CASE_ACCESS,
        case_id: None,
        detail: &detail,
    };
    audit::record(conn, entry, now).await?;
    Ok(())
}

/// Disables or re-enables an account. Either way its tokens stop working at
/// once. Re-enabled with `needs_confirmation`, an account that reads case
/// content waits for a supervisor's confirmation.
pub async fn set_disabled(
    store: &Store,
    actor: &str,
    username: &str,
    disabled: bool,
    needs_confirmation: bool,
    now: time::OffsetDateTime,
) -> Result<(), AccountError> {
    let mut tx = store.begin().await?;
    let role = users::get(&mut tx, username)
        .await?
        .ok_or(AccountError::NotFound)?
        .role;
    let reads = Role::parse(&role).filter(|r| reads_case_content(*r));
    let awaiting = !disabled && needs_confirmation && reads.is_some();
    let state = match (disabled, awaiting) {
        (true, _) => users::DISABLED,
        (false, true) => users::AWAITING_CONFIRMATION,
        (false, false) => users::ACTIVE,
    };
    if !users::set_state(&mut tx, username, state).await? {
        return Err(AccountError::NotFound);
    }
    let detail = format!("user={username}");
    let entry = Entry {
        actor,
        action: if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        case_id: None,
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    if let (false, Some(role)) = (disabled, reads) {
        record_case_access(&mut tx, actor, username, role, awaiting, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A supervisor confirms an account waiting for it: it may sign in from now on.
pub async fn confirm(
    store: &Store,
    actor: &str,
    username: &str,
    now: time::OffsetDateTime,
) -> Result<(), AccountError> {
    let mut tx = store.begin().await?;
    let user = users::get(&mut tx, username)
        .await?
        .ok_or(AccountError::NotFound)?;
    if user.disabled != users::AWAITING_CONFIRMATION {
        return Err(AccountError::Conflict(
            "this account is not waiting for a confirmation".into(),
        ));
    }
    users::set_state(&mut tx, username, users::ACTIVE).await?;
    let detail = format!("user={username} role={}", user.role);
    let entry = Entry {
        actor,
        action: "user.confirm",
        case_id: None,
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether an account in this state (`UserRow::disabled`) waits for a
/// supervisor's confirmation.
pub fn is_awaiting(state: i64) -> bool {
    state == users::AWAITING_CONFIRMATION
}

/// Accounts waiting for a supervisor's confirmation.
pub async fn awaiting_confirmation(store: &Store) -> Result<Vec<UserRow>, super::AppError> {
    Ok(list(store)
        .await?
        .into_iter()
        .filter(|u| is_awaiting(u.disabled))
        .collect())
}

/// Sets or clears (`None`) the email address notices go to.
pub async fn set_email(
    store: &Store,
    actor: &str,
    username: &str,
    email: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<(), AccountError> {
    if let Some(email) = email {
        check_email(email)?;
    }
    let mut tx = store.begin().await?;
    if !users::set_email(&mut tx, username, email).await? {
        return Err(AccountError::NotFound);
    }
    // The address itself stays out of the audit log.
    let detail = format!(
        "user={username} email={}",
        if email.is_some() { "set" } else { "cleared" }
    );
    let entry = Entry {
        actor,
        action: "user.email",
        case_id: None,
        detail: &detail,
    };
    audit::record(&mut tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// An account as operators see it (never its password hash).
pub use crate::store::users::UserRow;

/// Every account.
pub async fn list(store: &Store) -> Result<Vec<UserRow>, super::AppError> {
    let mut conn = store.pool().acquire().await?;
    Ok(users::list(&mut conn).await?)
}

/// Remembers the language a user chose for pages.
pub async fn set_lang(store: &Store, username: &str, lang: &str) -> Result<(), super::AppError> {
    let mut conn = store.pool().acquire().await?;
    users::set_lang(&mut conn, username, lang).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        assert!(hash_password("short").is_err());
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let mut memory = Vec::new();
        assert!(verify_reusing(&mut memory, "correct horse battery", &hash));
        assert!(!verify_reusing(
            &mut memory,
            "correct horse battery!",
            &hash
        ));
        assert!(!verify_reusing(
            &mut memory,
            "correct horse battery",
            "$argon2id$v=19$bad"
        ));
    }

    #[test]
    fn email_addresses() {
        assert!(check_email("somchai@shelter.example").is_ok());
        for bad in [
            "",
            "somchai",
            "a@b@c",
            "a b@c.example",
            "a@c.example\nBcc: x@y.example",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }
}
