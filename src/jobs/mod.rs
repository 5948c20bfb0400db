//! The durable job queue: enqueue (in the caller's transaction), workers inside `keel serve`
//! that claim jobs safely across instances, exponential backoff with jitter, a dead-letter
//! state shown at `/admin/jobs` with a retry button, and a periodic scheduler whose per-period
//! dedupe keys make N instances run each period once.

pub mod model;
pub mod schedule;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use futures_util::future::LocalBoxFuture;

pub use model::{Job, NewJob};

use crate::AppState;
use crate::db::now_micros;
use crate::error::AppError;

/// How long a claim lasts without renewal: a job whose process died (killed, crashed, lost
/// its machine) is picked up again by another worker within this time.
pub const LEASE: StdDuration = StdDuration::from_secs(30);
/// A running job's lease is renewed this often while its handler works.
const RENEW_EVERY: StdDuration = StdDuration::from_secs(10);
/// The longest a handler may run before it is abandoned and retried.
pub const RUN_LIMIT: StdDuration = StdDuration::from_secs(290);

/// Why a job failed.
#[derive(Debug, Clone)]
pub struct JobError {
    /// Shown on `/admin/jobs`.
    pub message: String,
    /// True when retrying cannot help (bad payload): the job dies at once.
    pub permanent: bool,
}

impl JobError {
    /// A failure worth retrying.
    pub fn retry(message: impl std::fmt::Display) -> Self {
        Self { message: message.to_string(), permanent: false }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self { message: message.to_string(), permanent: true }
    }
}

impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        JobError::retry(format!("{e:#}"))
    }
}

/// A job handler: gets the app state and the claimed job.
pub type Handler = Arc<dyn Fn(AppState, Job) -> LocalBoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// Job kinds and their handlers, filled by each domain's `register_jobs`.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
    schedules: Vec<schedule::Schedule>,
}

impl Registry {
    /// Registers the handler for `kind`.
    pub fn add<F, Fut>(&mut self, kind: &'static str, f: F)
    where
        F: Fn(AppState, Job) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), JobError>> + 'static,
    {
        self.handlers.insert(kind, Arc::new(move |s, j| Box::pin(f(s, j))));
    }

    /// Registers a periodic schedule that enqueues `kind` once per cron period.
    pub fn every(&mut self, name: &'static str, cron: &'static str, kind: &'static str) {
        self.schedules.push(schedule::Schedule { name, cron, kind });
    }

    fn get(&self, kind: &str) -> Option<Handler> {
        self.handlers.get(kind).cloned()
    }

    /// The registered schedules.
    pub fn schedules(&self) -> &[schedule::Schedule] {
        &self.schedules
    }
}

/// Delay before attempt `attempts + 1`: 10 s × 2^(attempts−1), capped at one hour, ±50 % jitter.
pub fn backoff(attempts: i32) -> Duration {
    use rand::RngExt;
    let exp = attempts.clamp(1, 20) - 1;
    let base = (10i64 << exp).min(3600);
    let jitter = rand::rng().random_range(0.5..1.5);
    Duration::milliseconds((base as f64 * 1000.0 * jitter) as i64)
}

/// Claims and runs one due job. Returns false when none was due.
pub async fn run_one(state: &AppState, worker: &str) -> Result<bool, AppError> {
    let now = now_micros(state.now());
    let lease = Duration::from_std(LEASE).unwrap_or(Duration::minutes(5));
    let w = worker.to_string();
    let Some(job) = state.db(move |c| Ok(store::claim_next(c, now, lease, &w)?)).await? else {
        return Ok(false);
    };
    let result = if job.attempts > job.max_attempts {
        Err(JobError::permanent("the worker running it stopped (lease expired) too often"))
    } else {
        match state.jobs().get(&job.kind) {
            None => Err(JobError::permanent(format!("no handler for job kind '{}'", job.kind))),
            Some(handler) => {
                let run = tokio::time::timeout(RUN_LIMIT, handler(state.clone(), job.clone()));
                let (id, w) = (job.id, worker.to_string());
                let renew = async {
                    loop {
                        tokio::time::sleep(RENEW_EVERY).await;
                        let until = now_micros(state.now()) + lease;
                        let w = w.clone();
                        if let Err(e) = state.db(move |c| Ok(store::extend_lease(c, id, &w, until)?)).await {
                            tracing::warn!(job_id = id, error = %e, "could not renew a job's lease");
                        }
                    }
                };
                tokio::select! {
                    r = run => r.unwrap_or_else(|_| Err(JobError::retry("timed out"))),
                    () = renew => Err(JobError::retry("lease renewal stopped")),
                }
            }
        }
    };
    let now = now_micros(state.now());
    let w = worker.to_string();
    match result {
        Ok(()) => {
            state.db(move |c| Ok(store::mark_succeeded(c, job.id, &w, now)?)).await?;
        }
        Err(e) => {
            let retry_at = now + backoff(job.attempts);
            let (id, kind) = (job.id, job.kind.clone());
            let dead = state
                .db(move |c| Ok(store::mark_failed(c, &job, &w, &e.message, e.permanent, retry_at, now)?))
                .await?;
            if dead {
                tracing::error!(job_id = id, kind = %kind, "job is dead after its last attempt");
            } else {
                tracing::warn!(job_id = id, kind = %kind, "job failed; will retry");
            }
        }
    }
    Ok(true)
}

/// Runs due jobs until none is left (tests and `keel` commands use it instead of workers).
/// Returns how many ran. Stops after `limit` to avoid looping on jobs that keep re-queuing.
pub async fn run_due(state: &AppState, limit: usize) -> Result<usize, AppError> {
    let mut n = 0;
    while n < limit && run_one(state, "inline").await? {
        n += 1;
    }
    Ok(n)
}

/// Spawns `count` workers and the scheduler on the current actix runtime.
pub fn spawn_workers(state: AppState, count: usize) {
    if count == 0 {
        return;
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "keel".into());
    for i in 0..count {
        let state = state.clone();
        let name = format!("{host}:{}:{i}", std::process::id());
        actix_web::rt::spawn(async move {
            loop {
                match run_one(&state, &name).await {
                    Ok(true) => continue,
                    Ok(false) => {
                        let _ =
                            tokio::time::timeout(StdDuration::from_secs(1), state.job_wakeup().notified())
                                .await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "job worker could not reach the database");
                        tokio::time::sleep(StdDuration::from_secs(2)).await;
                    }
                }
            }
        });
    }
    actix_web::rt::spawn(async move {
        loop {
            if let Err(e) = schedule::enqueue_due(&state).await {
                tracing::warn!(error = %e, "scheduler could not enqueue periodic jobs");
            }
            tokio::time::sleep(StdDuration::from_secs(20)).await;
        }
    });
}

/// Registers the queue's own housekeeping.
pub fn register_jobs(reg: &mut Registry) {
    reg.add("jobs.purge", |state: AppState, _job| async move {
        let before = now_micros(state.now()) - Duration::days(30);
        state.db(move |c| Ok(store::purge_succeeded(c, before)?)).await?;
        Ok(())
    });
    reg.every("jobs.purge", "17 3 * * *", "jobs.purge");
}

pub mod admin;
