//! Rows of the `jobs` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::jobs;

/// A job as stored.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// Handler name, e.g. `send_email`.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// `queued | running | succeeded | dead`.
    pub status: String,
    /// Not before this time (UTC).
    pub run_at: NaiveDateTime,
    /// Attempts started so far.
    pub attempts: i32,
    /// After this many failed attempts the job is dead.
    pub max_attempts: i32,
    /// While running: the lease; a job whose lease passed is reclaimed.
    pub locked_until: Option<NaiveDateTime>,
    /// Which worker holds it.
    pub locked_by: Option<String>,
    /// Unique key: a second enqueue with the same key is ignored.
    pub dedupe_key: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Created (UTC).
    pub created_at: NaiveDateTime,
    /// Last changed (UTC).
    pub updated_at: NaiveDateTime,
    /// Succeeded or died at (UTC).
    pub finished_at: Option<NaiveDateTime>,
}

/// Insert form of a job.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJobRow {
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub run_at: NaiveDateTime,
    pub attempts: i32,
    pub max_attempts: i32,
    pub dedupe_key: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Handler name.
    pub kind: String,
    /// JSON payload.
    pub payload: serde_json::Value,
    /// Earliest run time; None means now.
    pub run_at: Option<NaiveDateTime>,
    /// Attempts before the job is dead (default 3).
    pub max_attempts: i32,
    /// Unique key; None for jobs that may repeat.
    pub dedupe_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` with `payload`, run now, 3 attempts, no dedupe key.
    pub fn new(kind: &str, payload: serde_json::Value) -> Self {
        Self { kind: kind.to_string(), payload, run_at: None, max_attempts: 3, dedupe_key: None }
    }

    /// Sets the dedupe key.
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Sets the maximum attempts.
    pub fn attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the earliest run time.
    pub fn at(mut self, t: NaiveDateTime) -> Self {
        self.run_at = Some(t);
        self
    }
}
