//! The database: one connection type over SQLite and PostgreSQL, the pool, pragmas,
//! embedded migrations (run under a lock) and the write-transaction helper.
//!
//! The backend is chosen from the URL scheme, never by trying connections in order:
//! a `postgres://` URL with the server down fails, it never creates a SQLite file.

pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Migrations for SQLite (`migrations/sqlite`).
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// Migrations for PostgreSQL (`migrations/postgres`), same names as the SQLite ones.
pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Advisory lock key held while migrating PostgreSQL ("keel" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6b65_656c;

/// One connection to either backend. PostgreSQL comes first: SQLite accepts any string as a path.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL (production and scale-out).
    Pg(PgConnection),
    /// SQLite (the embedded default).
    Sqlite(SqliteConnection),
}

/// Which database engine is behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://path`
    Sqlite,
    /// `postgres://` or `postgresql://`
    Postgres,
}

impl Backend {
    /// The name reported by `/readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Pg(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Splits a database URL into its backend and the string the driver expects
/// (a file path for SQLite, the URL itself for PostgreSQL).
pub fn parse_database_url(url: &str) -> Result<(Backend, String), String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err("sqlite:// needs a file path, e.g. sqlite://./data/keel.db".into());
        }
        Ok((Backend::Sqlite, path.to_string()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_string()))
    } else {
        let scheme = url.split("://").next().unwrap_or(url);
        Err(format!("unsupported scheme '{scheme}'; use sqlite://PATH or postgres://USER@HOST/DB"))
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is not usable.
    #[error("KEEL_DATABASE_URL: {0}")]
    Url(String),
    /// The server did not answer or refused the connection.
    #[error("cannot connect to the {backend} database: {message}")]
    Connect {
        /// Which backend.
        backend: &'static str,
        /// The driver's first line, without credentials.
        message: String,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

/// Creates connections of the configured backend and prepares each one.
#[derive(Debug, Clone)]
pub struct ConnManager {
    backend: Backend,
    target: String,
}

impl ConnManager {
    /// A manager for the given URL.
    pub fn new(url: &str) -> Result<Self, DbError> {
        let (backend, target) = parse_database_url(url).map_err(DbError::Url)?;
        if backend == Backend::Sqlite
            && let Some(parent) = std::path::Path::new(&target).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Connect {
                backend: "sqlite",
                message: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        Ok(Self { backend, target })
    }

    /// Opens one connection (with SQLite pragmas applied).
    pub fn connect_once(&self) -> Result<DbConn, DbError> {
        let map = |e: ConnectionError| DbError::Connect {
            backend: self.backend.name(),
            message: first_line(&e.to_string()),
        };
        match self.backend {
            Backend::Postgres => Ok(DbConn::Pg(PgConnection::establish(&self.target).map_err(map)?)),
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.target).map_err(map)?;
                c.batch_execute(
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA synchronous = FULL;",
                )
                .map_err(|e| DbError::Connect { backend: "sqlite", message: first_line(&e.to_string()) })?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

impl r2d2::ManageConnection for ConnManager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.connect_once()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::sql_query("SELECT 1").execute(conn).map(|_| ()).map_err(DbError::Query)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// The pool type used everywhere.
pub type Pool = r2d2::Pool<ConnManager>;
/// A connection checked out of the pool.
pub type PooledConn = r2d2::PooledConnection<ConnManager>;

/// Builds the pool. Checks one connection first, so an unreachable database fails with one clear line.
pub fn build_pool(url: &str, max_size: u32) -> Result<Pool, DbError> {
    let manager = ConnManager::new(url)?;
    // Fail fast and clearly at start-up rather than through r2d2's retry loop.
    drop(manager.connect_once()?);
    // A PostgreSQL connection whose server went away looks healthy until it is used, and
    // nothing marks it broken afterwards: without a check on checkout, a pool that lived
    // through an outage kept handing out dead connections after the database came back (found
    // by the outage test in tests/it/reliability.rs). The check is one `SELECT 1` round trip.
    // A SQLite connection is a file handle and cannot go away.
    let check = manager.backend == Backend::Postgres;
    Ok(r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(3))
        .test_on_check_out(check)
        .error_handler(Box::new(PoolErrorLogger))
        .build_unchecked(manager))
}

#[derive(Debug)]
struct PoolErrorLogger;

impl r2d2::HandleError<DbError> for PoolErrorLogger {
    fn handle_error(&self, error: DbError) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

/// Runs all pending migrations, holding a lock so that two instances never migrate at once.
/// Returns the names of the migrations applied.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let mig = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migrate(e.to_string());
    match conn {
        DbConn::Pg(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(c)?;
            let result = c.run_pending_migrations(PG_MIGRATIONS).map(names).map_err(mig);
            let unlock =
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(c);
            let applied = result?;
            unlock?;
            Ok(applied)
        }
        DbConn::Sqlite(c) => {
            // BEGIN IMMEDIATE takes SQLite's write lock; each migration runs in a savepoint inside it.
            c.immediate_transaction(|c| {
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(names)
                    .map_err(diesel::result::Error::QueryBuilderError)
            })
            .map_err(|e| DbError::Migrate(e.to_string()))
        }
    }
}

fn names(v: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    v.into_iter().map(|m| m.to_string()).collect()
}

/// Number of applied migrations and whether any is still pending.
pub fn migration_status(conn: &mut DbConn) -> Result<(usize, bool), DbError> {
    let mig = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migrate(e.to_string());
    match conn {
        DbConn::Pg(c) => Ok((
            c.applied_migrations().map_err(mig)?.len(),
            c.has_pending_migration(PG_MIGRATIONS).map_err(mig)?,
        )),
        DbConn::Sqlite(c) => Ok((
            c.applied_migrations().map_err(mig)?.len(),
            c.has_pending_migration(SQLITE_MIGRATIONS).map_err(mig)?,
        )),
    }
}

/// Reverts every migration (used by the migration round-trip test).
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<usize, DbError> {
    let mig = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migrate(e.to_string());
    match conn {
        DbConn::Pg(c) => Ok(c.revert_all_migrations(PG_MIGRATIONS).map_err(mig)?.len()),
        DbConn::Sqlite(c) => Ok(c.revert_all_migrations(SQLITE_MIGRATIONS).map_err(mig)?.len()),
    }
}

/// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken up
/// front, so two writers never deadlock on a lock upgrade), an ordinary transaction on PostgreSQL.
/// Use it for every write that must serialize with other writers.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if let DbConn::Sqlite(inner) = conn {
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
        match f(conn) {
            Ok(v) => match <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
                Err(e)
            }
        }
    } else {
        conn.transaction(f)
    }
}

/// Current UTC time truncated to microseconds (both backends store the same value).
pub fn now_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let n = t.naive_utc();
    n.with_nanosecond(n.nanosecond() / 1_000 * 1_000).unwrap_or(n)
}

/// True when the error is a unique-constraint violation.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes() {
        assert_eq!(parse_database_url("sqlite://./d/k.db"), Ok((Backend::Sqlite, "./d/k.db".into())));
        assert_eq!(parse_database_url("sqlite:///abs/k.db"), Ok((Backend::Sqlite, "/abs/k.db".into())));
        assert!(matches!(parse_database_url("postgresql://u@h/d"), Ok((Backend::Postgres, _))));
        assert!(parse_database_url("mysql://u@h/d").is_err());
        assert!(parse_database_url("keel.db").is_err());
        assert!(parse_database_url("sqlite://").is_err());
    }
}
