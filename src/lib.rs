//! Keel: a self-hosted reliability and procurement console for B2B SaaS vendors.
//!
//! [`AppState`] holds what every request needs; [`build_app`] is the one place routes are
//! mounted (the binary and the tests both call it). Each domain lives in one folder.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod fuzzing;
pub mod help;
pub mod integrity;
pub mod jobs;
pub mod notify;
pub mod status;
pub mod storage;
pub mod support;
pub mod tenancy;
pub mod usage;
pub mod web;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, web as aweb};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{DbConn, Pool};
use crate::error::AppError;
use crate::notify::mailer::Mailer;
use crate::storage::FileStore;

/// Keel's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Inner {
    config: Config,
    pool: Pool,
    mailer: Mailer,
    files: FileStore,
    clock: Arc<dyn Clock>,
    jobs: jobs::Registry,
    job_wakeup: Notify,
    status: std::sync::RwLock<Arc<status::snapshot::Snapshot>>,
    usage: usage::cache::Cache,
    recent: support::recent::RecentRequests,
    csp: web::csp::Violations,
}

/// Shared state of a running Keel: configuration, the pool, mail, files, the clock, jobs.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// Every job kind and schedule, from every domain.
pub fn job_registry() -> jobs::Registry {
    let mut reg = jobs::Registry::default();
    jobs::register_jobs(&mut reg);
    notify::register_jobs(&mut reg);
    auth::register_jobs(&mut reg);
    status::register_jobs(&mut reg);
    billing::register_jobs(&mut reg);
    usage::register_jobs(&mut reg);
    integrity::register_jobs(&mut reg);
    reg
}

impl AppState {
    /// Opens the database (migrating it), mail and file storage.
    pub fn open(config: Config) -> anyhow::Result<Self> {
        Self::open_with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`AppState::open`] with a given clock (tests move time with it).
    pub fn open_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::open_with(config, clock, job_registry())
    }

    /// Like [`AppState::open`] with a given clock and job registry (tests add job kinds).
    pub fn open_with(config: Config, clock: Arc<dyn Clock>, jobs: jobs::Registry) -> anyhow::Result<Self> {
        let pool = db::build_pool(&config.database_url, config.pool_size)?;
        {
            let mut conn = pool.get().map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
            let applied = db::run_migrations(&mut conn)?;
            if !applied.is_empty() {
                tracing::info!(count = applied.len(), "database migrations applied");
            }
        }
        let mailer = Mailer::from_config(&config.mail).map_err(|e| anyhow::anyhow!("KEEL_SMTP_URL: {e}"))?;
        let files =
            FileStore::open(&config.object_store).map_err(|e| anyhow::anyhow!("KEEL_OBJECT_STORE: {e}"))?;
        let snapshot = {
            let mut conn = pool.get().map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
            status::snapshot::build(&mut conn, clock.now())?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                pool,
                mailer,
                files,
                clock,
                jobs,
                job_wakeup: Notify::new(),
                status: std::sync::RwLock::new(Arc::new(snapshot)),
                usage: usage::cache::Cache::default(),
                recent: support::recent::RecentRequests::default(),
                csp: web::csp::Violations::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The current time (from the injectable clock).
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The mail backend.
    pub fn mailer(&self) -> &Mailer {
        &self.inner.mailer
    }

    /// File storage.
    pub fn files(&self) -> &FileStore {
        &self.inner.files
    }

    /// Job handlers and schedules.
    pub fn jobs(&self) -> &jobs::Registry {
        &self.inner.jobs
    }

    /// Wakes idle workers when a job is enqueued.
    pub fn job_wakeup(&self) -> &Notify {
        &self.inner.job_wakeup
    }

    /// The in-memory usage cache (entitlement checks).
    pub fn usage(&self) -> &usage::cache::Cache {
        &self.inner.usage
    }

    /// Each signed-in user's last few requests (attached to support requests).
    pub fn recent_requests(&self) -> &support::recent::RecentRequests {
        &self.inner.recent
    }

    /// Content-Security-Policy violations reported by browsers since start.
    pub fn csp_violations(&self) -> &web::csp::Violations {
        &self.inner.csp
    }

    /// The current public status snapshot (never touches the database).
    pub fn status_snapshot(&self) -> Arc<status::snapshot::Snapshot> {
        match self.inner.status.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the status snapshot.
    pub fn set_status_snapshot(&self, s: status::snapshot::Snapshot) {
        match self.inner.status.write() {
            Ok(mut g) => *g = Arc::new(s),
            Err(p) => *p.into_inner() = Arc::new(s),
        }
    }

    /// The pool (for CLI commands that run outside a request).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The one way to reach the database from async code: runs `f` with a pooled connection
    /// on the blocking pool. The connection is returned before the future completes, so it is
    /// never held across an `.await`. Pool exhaustion or a dead database gives `Unavailable` (503).
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.inner.pool.clone();
        let result = actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::internal(format!("blocking pool: {e}")))?;
        if result.as_ref().is_err_and(AppError::is_database_down) {
            // The public status page says so at once, rather than at its next refresh.
            status::mark_stale(self);
        }
        result
    }

    /// Runs CPU-heavy work (password hashing, PDF rendering) on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        actix_web::web::block(f).await.map_err(|e| AppError::internal(format!("blocking pool: {e}")))
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// Builds the application: middleware, body limits and every route. The binary and the
/// tests call this same function.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(aweb::Data::new(state))
        .app_data(aweb::FormConfig::default().limit(auth::extract::FORM_LIMIT))
        .app_data(aweb::JsonConfig::default().limit(1 << 20))
        .app_data(aweb::PayloadConfig::default().limit(1 << 20))
        .wrap(from_fn(web::middleware::render_errors))
        .wrap(Compress::default())
        .wrap(from_fn(web::middleware::security_headers))
        .wrap(from_fn(web::middleware::request_context))
        .route("/healthz", aweb::get().to(web::health::healthz))
        .route("/readyz", aweb::get().to(web::health::readyz))
        .route("/static/{path:.*}", aweb::get().to(web::assets::serve))
        .route("/favicon.ico", aweb::get().to(web::assets::favicon))
        .route("/csp-report", aweb::post().to(web::csp::report))
        // Routes are matched in order: the machine API and the public status page come first, so
        // a request for them is not tried against every page's pattern.
        .configure(usage::api::routes)
        .configure(status::routes)
        .configure(auth::routes)
        .configure(admin::routes)
        .configure(audit::routes)
        .configure(tenancy::admin::routes)
        .configure(tenancy::district::routes)
        .configure(billing::routes)
        .configure(help::routes)
        .configure(usage::routes)
        .configure(support::routes)
        .configure(notify::inapp::routes)
        .configure(jobs::admin::routes)
        .configure(notify::admin::routes)
        .default_service(aweb::to(not_found))
}
