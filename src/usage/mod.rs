//! Usage and cost control: the metrics catalog, ingest keys, the metering API (idempotent
//! events, daily buckets, dead letters), caps with 80 % / 100 % alerts, entitlement checks
//! answered from memory, and the usage pages.

pub mod api;
pub mod cache;
pub mod caps;
pub mod demo;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod pages;
pub mod plans;
pub mod reconcile;
pub mod rejected;
pub mod rollup;
pub mod store;

use crate::AppState;
use crate::db::{now_micros, write_tx};

/// Mounts the routes.
/// (The API's routes are mounted first, by `build_app`.)
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    keys::routes(cfg);
    metrics::routes(cfg);
    rejected::routes(cfg);
    pages::routes(cfg);
    plans::routes(cfg);
    rollup::routes(cfg);
}

/// Registers the usage jobs: every 5 minutes, every cap is checked against its thresholds
/// (alerts normally fire as events arrive; this catches a window that passed or a change made
/// on another instance).
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("usage.evaluate_caps", |state: AppState, _job| async move {
        let now = now_micros(state.now());
        let base = state.config().base_url.clone();
        let fired = state
            .db(move |c| {
                let owners: Vec<i64> = store::all_caps(c)?.iter().map(|c| c.tenant_id).collect();
                Ok(write_tx(c, |c| caps::evaluate(c, &owners, &base, now))?)
            })
            .await?;
        if fired > 0 {
            state.job_wakeup().notify_waiters();
        }
        Ok(())
    });
    reg.every("usage.evaluate_caps", "*/5 * * * *", "usage.evaluate_caps");
}
