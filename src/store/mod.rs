//! All SQL lives here. Runtime queries through sqlx's `Any` driver, so one code
//! path and one set of portable SQL serve SQLite (WAL) and PostgreSQL alike.
//! Small functions take a connection or transaction; the caller commits.

pub mod audit;
pub mod bench;
pub mod cases;
pub mod channels;
pub mod held;
pub mod inbox;
pub mod node;
pub mod notices;
pub mod outbox;
pub mod peers;
pub mod pending;
pub mod prosecution;
pub mod received;
pub mod search;
pub mod sessions;
pub mod users;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool, Executor, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The node's database: a pool plus which backend it is.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers of this process take turns here,
    /// in order, instead of in SQLite's busy handler, which sleeps up to 100 ms
    /// between tries and left the processor idle under load.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction: derefs to the sqlx transaction; `commit` or `rollback`
/// (or drop) ends it and, on SQLite, hands the writer's turn on.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens the database at `url` (as returned by `config::connect_url`). With
    /// `create`, a missing PostgreSQL database is created first.
    pub async fn connect(url: &str, create: bool) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if create && backend == Backend::Postgres && !Any::database_exists(url).await? {
            Any::create_database(url).await?;
        }
        let options: AnyConnectOptions = url.parse()?;
        // A connection left inside a transaction (a commit that failed when the
        // disk was full leaves sqlx counting one open) must not be used again:
        // every later `BEGIN` on it would fail until the process restarts.
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_release(|conn, _meta| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .before_acquire(|conn, _meta| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Durable settings: WAL, fsync at every commit, enforced keys,
                        // and wait for a writer instead of failing at once.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            backend,
            writer: Default::default(),
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later fails
    /// with SQLITE_BUSY_SNAPSHOT whenever another connection wrote in between, and
    /// waiting cannot cure that.
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let turn = self.writer.clone().lock_owned().await;
                WriteTx {
                    tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
                    _turn: Some(turn),
                }
            }
            Backend::Postgres => WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            },
        })
    }

    /// Readiness: the database takes a write (a one-row probe, committed), so a
    /// full disk or a read-only database is not ready.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE write_probe SET at = $1 WHERE id = 1")
            .bind(millis(time::OffsetDateTime::now_utc()))
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Unix milliseconds of `t`, the form every timestamp column holds.
pub fn millis(t: time::OffsetDateTime) -> i64 {
    crate::domain::millis(t)
}
