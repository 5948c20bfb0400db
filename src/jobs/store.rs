//! Queries on the `jobs` table. Claiming is backend-specific: `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, an immediate transaction on SQLite.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::model::{Job, NewJob, NewJobRow};
use crate::db::schema::jobs;
use crate::db::{DbConn, write_tx};

/// Inserts a job unless one with the same dedupe key exists. Returns the new id, or None
/// when the key was taken. Safe inside a caller's transaction on both backends.
pub fn enqueue(conn: &mut DbConn, job: &NewJob, now: NaiveDateTime) -> QueryResult<Option<i64>> {
    let row = NewJobRow {
        kind: job.kind.clone(),
        payload: job.payload.to_string(),
        status: "queued".into(),
        run_at: job.run_at.unwrap_or(now),
        attempts: 0,
        max_attempts: job.max_attempts,
        dedupe_key: job.dedupe_key.clone(),
        created_at: now,
        updated_at: now,
    };
    match conn {
        DbConn::Pg(c) => diesel::insert_into(jobs::table)
            .values(&row)
            .on_conflict_do_nothing()
            .returning(jobs::id)
            .get_result(c)
            .optional(),
        DbConn::Sqlite(c) => diesel::insert_into(jobs::table)
            .values(&row)
            .on_conflict_do_nothing()
            .returning(jobs::id)
            .get_result(c)
            .optional(),
    }
}

/// Moves a running job's lease forward, while `worker` still holds it.
pub fn extend_lease(c: &mut DbConn, id: i64, worker: &str, until: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(jobs::table.find(id).filter(jobs::locked_by.eq(worker)).filter(jobs::status.eq("running")))
        .set(jobs::locked_until.eq(Some(until)))
        .execute(c)
}

/// Claims the next due job (or one whose worker's lease expired) for `worker`.
pub fn claim_next(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease: Duration,
    worker: &str,
) -> QueryResult<Option<Job>> {
    let until = now + lease;
    match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, \
             locked_by = $2, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs \
                 WHERE (status = 'queued' AND run_at <= $3) OR (status = 'running' AND locked_until < $3) \
                 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(now)
        .get_result::<Job>(c)
        .optional(),
        DbConn::Sqlite(_) => write_tx(conn, |conn| {
            let next: Option<i64> = jobs::table
                .filter(
                    (jobs::status.eq("queued").and(jobs::run_at.le(now)))
                        .or(jobs::status.eq("running").and(jobs::locked_until.lt(now))),
                )
                .order((jobs::run_at, jobs::id))
                .select(jobs::id)
                .first(conn)
                .optional()?;
            let Some(id) = next else { return Ok(None) };
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::status.eq("running"),
                    jobs::attempts.eq(jobs::attempts + 1),
                    jobs::locked_until.eq(Some(until)),
                    jobs::locked_by.eq(Some(worker)),
                    jobs::updated_at.eq(now),
                ))
                .execute(conn)?;
            jobs::table.find(id).select(Job::as_select()).first(conn).optional()
        }),
    }
}

/// Marks a claimed job done.
pub fn mark_succeeded(conn: &mut DbConn, id: i64, worker: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(jobs::table.find(id).filter(jobs::locked_by.eq(worker)))
        .set((
            jobs::status.eq("succeeded"),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::finished_at.eq(Some(now)),
            jobs::updated_at.eq(now),
            jobs::last_error.eq(None::<String>),
        ))
        .execute(conn)
}

/// Records a failure: back to `queued` at `retry_at`, or `dead` when attempts are used up
/// (or `permanent` is set).
pub fn mark_failed(
    conn: &mut DbConn,
    job: &Job,
    worker: &str,
    error: &str,
    permanent: bool,
    retry_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let dead = permanent || job.attempts >= job.max_attempts;
    let error: String = error.chars().take(2000).collect();
    diesel::update(jobs::table.find(job.id).filter(jobs::locked_by.eq(worker)))
        .set((
            jobs::status.eq(if dead { "dead" } else { "queued" }),
            jobs::run_at.eq(if dead { job.run_at } else { retry_at }),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(Some(error)),
            jobs::finished_at.eq(if dead { Some(now) } else { None }),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(dead)
}

/// Puts a dead (or queued) job back in the queue now with fresh attempts.
pub fn retry(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(jobs::table.find(id).filter(jobs::status.eq_any(["dead", "queued"])))
        .set((
            jobs::status.eq("queued"),
            jobs::attempts.eq(0),
            jobs::run_at.eq(now),
            jobs::finished_at.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Retries the job with the given dedupe key (e.g. an email's send job).
pub fn retry_by_key(conn: &mut DbConn, key: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let id: Option<i64> =
        jobs::table.filter(jobs::dedupe_key.eq(key)).select(jobs::id).first(conn).optional()?;
    match id {
        Some(id) => retry(conn, id, now),
        None => Ok(0),
    }
}

/// Jobs filtered by status (None = all), newest first.
pub fn list(
    conn: &mut DbConn,
    status: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Job>, i64)> {
    let mut q = jobs::table.into_boxed();
    let mut c = jobs::table.into_boxed();
    if let Some(s) = status {
        q = q.filter(jobs::status.eq(s.to_string()));
        c = c.filter(jobs::status.eq(s.to_string()));
    }
    let total = c.count().get_result(conn)?;
    let rows = q.order(jobs::id.desc()).offset(offset).limit(limit).select(Job::as_select()).load(conn)?;
    Ok((rows, total))
}

/// Count of jobs per status.
pub fn counts(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    jobs::table.group_by(jobs::status).select((jobs::status, diesel::dsl::count_star())).load(conn)
}

/// One job.
pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Job> {
    jobs::table.find(id).select(Job::as_select()).first(conn)
}

/// Deletes finished (succeeded) jobs older than `before`; keeps dead ones for inspection.
pub fn purge_succeeded(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(jobs::table.filter(jobs::status.eq("succeeded")).filter(jobs::finished_at.lt(before)))
        .execute(conn)
}

/// Number of jobs with a dedupe key (used by tests and the admin page).
pub fn count_with_key(conn: &mut DbConn, key: &str) -> QueryResult<i64> {
    jobs::table.filter(jobs::dedupe_key.eq(key)).count().get_result(conn)
}
