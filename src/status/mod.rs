//! The public status page and its operator side: components and their history, incidents with
//! timelines and postmortems, scheduled maintenance, measured uptime, and the Statuspage-
//! compatible JSON API. Public pages are served from an in-memory snapshot (`snapshot.rs`)
//! that is rebuilt after every change and polled by every instance.
//!
//! - `uptime.rs`: the time-based uptime method (pure, unit-tested).
//! - `service.rs`: state changes (always audited).
//! - `public.rs`, `api.rs`: pages and JSON without sign-in. `admin.rs`: `/admin/status`.

pub mod admin;
pub mod api;
pub mod demo;
pub mod feeds;
pub mod markdown;
pub mod model;
pub mod probes;
pub mod public;
pub mod reliability;
pub mod service;
pub mod snapshot;
pub mod statement;
pub mod store;
pub mod subscriptions;
pub mod uptime;

use std::time::Duration as StdDuration;

use actix_web::web;

use crate::AppState;
use crate::db::{now_micros, write_tx};
use crate::error::AppError;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    public::routes(cfg);
    subscriptions::routes(cfg);
    api::routes(cfg);
    admin::routes(cfg);
    reliability::routes(cfg);
}

/// Rebuilds the snapshot from the database. On failure the last good snapshot stays and is
/// marked stale.
pub async fn refresh(state: &AppState) -> Result<(), AppError> {
    let now = state.now();
    match state.db(move |c| Ok(snapshot::build(c, now)?)).await {
        Ok(s) => {
            state.set_status_snapshot(s);
            Ok(())
        }
        Err(e) => {
            mark_stale(state);
            Err(e)
        }
    }
}

/// Marks the snapshot stale (the database could not be reached), once: the public pages then
/// carry the notice and the JSON `"stale": true` until a refresh succeeds.
pub fn mark_stale(state: &AppState) {
    let current = state.status_snapshot();
    if current.stale_since.is_none() {
        let mut stale = (*current).clone();
        stale.stale_since = Some(state.now());
        // The stale pages carry a notice: render them afresh.
        stale.rendered = Default::default();
        state.set_status_snapshot(stale);
    }
}

/// Keeps the snapshot fresh on every instance (changes made by another instance appear
/// within the interval), whether or not this instance runs job workers.
pub fn spawn_refresher(state: AppState, every: StdDuration) {
    actix_web::rt::spawn(async move {
        loop {
            // While the snapshot is stale, try every second so the notice goes away as soon as
            // the database is back.
            let stale = state.status_snapshot().stale_since.is_some();
            tokio::time::sleep(if stale { every.min(StdDuration::from_secs(1)) } else { every }).await;
            if let Err(e) = refresh(&state).await {
                tracing::warn!(error = %e, "status snapshot refresh failed; serving the last good one");
            }
        }
    });
}

/// Registers the status jobs: maintenance moves by itself at its scheduled times.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("status.maintenance", |state: AppState, _job| async move {
        let now = now_micros(state.now());
        let n = state
            .db(move |c| {
                Ok(write_tx(c, |c| {
                    subscriptions::maintenance_reminders(c, now)?;
                    service::advance_maintenance(c, now)
                })?)
            })
            .await?;
        state.job_wakeup().notify_waiters();
        if n > 0 {
            refresh(&state).await?;
        }
        Ok(())
    });
    reg.every("status.maintenance", "* * * * *", "status.maintenance");
    subscriptions::register_jobs(reg);
    reg.add("status.probes", |state: AppState, _job| async move {
        probes::run_due(&state).await?;
        Ok(())
    });
    reg.every("status.probes", "* * * * *", "status.probes");
}
