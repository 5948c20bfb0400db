//! Periodic work: each schedule's current cron period becomes one job with the dedupe key
//! `schedule:{name}:{period start}`, so any number of instances enqueue it exactly once.

use chrono::{DateTime, Utc};
use croner::Cron;

use super::model::NewJob;
use super::store;
use crate::AppState;
use crate::db::now_micros;
use crate::error::AppError;

/// One recurring job.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Stable name, part of the dedupe key.
    pub name: &'static str,
    /// Standard 5-field cron expression, evaluated in UTC.
    pub cron: &'static str,
    /// Job kind to enqueue.
    pub kind: &'static str,
}

/// The start of the period that contains `now`, or None when the expression is invalid.
pub fn current_period(cron: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let c: Cron = cron.parse().ok()?;
    c.find_previous_occurrence(&now, true).ok()
}

/// The job for `s` in the period containing `now`.
pub fn job_for(s: &Schedule, now: DateTime<Utc>) -> Option<NewJob> {
    let period = current_period(s.cron, now)?;
    Some(
        NewJob::new(s.kind, serde_json::json!({"period": period.to_rfc3339()}))
            .dedupe(format!("schedule:{}:{}", s.name, period.format("%Y-%m-%dT%H:%M")))
            .at(now_micros(period)),
    )
}

/// Enqueues the current period of every schedule (already enqueued periods are skipped).
pub async fn enqueue_due(state: &AppState) -> Result<usize, AppError> {
    let now = state.now();
    let jobs: Vec<NewJob> = state.jobs().schedules().iter().filter_map(|s| job_for(s, now)).collect();
    if jobs.is_empty() {
        return Ok(0);
    }
    let at = now_micros(now);
    let n = state
        .db(move |c| {
            let mut n = 0;
            for j in &jobs {
                if store::enqueue(c, j, at)?.is_some() {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await?;
    if n > 0 {
        state.job_wakeup().notify_waiters();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn period_is_latest_occurrence() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 7, 30).single();
        let p = now.and_then(|n| current_period("*/5 * * * *", n));
        assert_eq!(p, Utc.with_ymd_and_hms(2026, 11, 23, 10, 5, 0).single());
        let daily = now.and_then(|n| current_period("17 3 * * *", n));
        assert_eq!(daily, Utc.with_ymd_and_hms(2026, 11, 23, 3, 17, 0).single());
        assert_eq!(now.and_then(|n| current_period("not a cron", n)), None);
    }

    #[test]
    fn same_period_same_key() {
        let s = Schedule { name: "x", cron: "0 * * * *", kind: "x" };
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 10, 1, 0).single().and_then(|t| job_for(&s, t));
        let b = Utc.with_ymd_and_hms(2026, 1, 1, 10, 59, 0).single().and_then(|t| job_for(&s, t));
        let c = Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).single().and_then(|t| job_for(&s, t));
        let key = |j: Option<NewJob>| j.and_then(|j| j.dedupe_key);
        assert_eq!(key(a.clone()), key(b));
        assert_ne!(key(a), key(c));
    }
}
