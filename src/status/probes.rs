//! Automatic status: an HTTP probe per component (expected status range, optional body text,
//! timeout, interval ≥ 30 s) and heartbeat URLs the vendor's job runners call. After a number
//! of consecutive failures (default 3) the component goes to major outage and a draft incident
//! is opened for an operator to confirm; recovery returns the component to operational.
//! Probes never run during announced maintenance of their component.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::model::Incident;
use super::service::{self, NewIncident};
use super::store;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::db::schema::{incident_components as ic, incidents, status_probes as sp};
use crate::db::{DbConn, now_micros, write_tx};
use crate::jobs::JobError;

/// A probe row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sp)]
pub struct Probe {
    pub id: i64,
    pub component_id: i64,
    /// `http | heartbeat`.
    pub kind: String,
    pub url: String,
    pub expect_min: i32,
    pub expect_max: i32,
    pub body_contains: String,
    pub timeout_ms: i32,
    pub interval_seconds: i32,
    pub failure_threshold: i32,
    pub heartbeat_token_hash: Option<String>,
    pub consecutive_failures: i32,
    pub last_checked_at: Option<NaiveDateTime>,
    pub last_ok_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    /// True while the probe holds its component in major outage.
    pub tripped: bool,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// All probes.
pub fn list(c: &mut DbConn) -> QueryResult<Vec<Probe>> {
    sp::table.order(sp::id).select(Probe::as_select()).load(c)
}

/// What a new probe looks like.
#[derive(Debug, Clone)]
pub struct NewProbe {
    pub component_id: i64,
    pub kind: String,
    pub url: String,
    pub expect_min: i32,
    pub expect_max: i32,
    pub body_contains: String,
    pub timeout_ms: i32,
    pub interval_seconds: i32,
    pub failure_threshold: i32,
    pub heartbeat_token_hash: Option<String>,
}

/// Inserts a probe (audited).
pub fn insert(c: &mut DbConn, actor: &Actor, p: &NewProbe, now: NaiveDateTime) -> QueryResult<i64> {
    let id = diesel::insert_into(sp::table)
        .values((
            sp::component_id.eq(p.component_id),
            sp::kind.eq(&p.kind),
            sp::url.eq(&p.url),
            sp::expect_min.eq(p.expect_min),
            sp::expect_max.eq(p.expect_max),
            sp::body_contains.eq(&p.body_contains),
            sp::timeout_ms.eq(p.timeout_ms),
            sp::interval_seconds.eq(p.interval_seconds),
            sp::failure_threshold.eq(p.failure_threshold),
            sp::heartbeat_token_hash.eq(&p.heartbeat_token_hash),
            sp::created_at.eq(now),
            sp::updated_at.eq(now),
        ))
        .returning(sp::id)
        .get_result(c)?;
    audit::record(
        c,
        actor,
        Event::new("probe.create", "probe", id)
            .details(serde_json::json!({"component_id": p.component_id, "kind": p.kind, "url": p.url})),
        now,
    )?;
    Ok(id)
}

/// Deletes a probe (audited).
pub fn delete(c: &mut DbConn, actor: &Actor, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    let n = diesel::delete(sp::table.find(id)).execute(c)?;
    if n > 0 {
        audit::record(c, actor, Event::new("probe.delete", "probe", id), now)?;
    }
    Ok(n)
}

/// True while an announced maintenance of the component is in progress.
pub fn in_maintenance(c: &mut DbConn, component: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n: i64 = incidents::table
        .inner_join(ic::table)
        .filter(ic::component_id.eq(component))
        .filter(incidents::kind.eq("maintenance"))
        .filter(incidents::scheduled_for.le(now))
        .filter(incidents::scheduled_until.gt(now))
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// Records one probe result; trips or recovers the component. Returns true when the
/// component's status changed.
pub fn record(c: &mut DbConn, probe: &Probe, ok: bool, error: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let actor = Actor::system("status probe");
    if ok {
        diesel::update(sp::table.find(probe.id))
            .set((
                sp::consecutive_failures.eq(0),
                sp::last_checked_at.eq(Some(now)),
                sp::last_ok_at.eq(Some(now)),
                sp::last_error.eq(None::<String>),
                sp::tripped.eq(false),
                sp::updated_at.eq(now),
            ))
            .execute(c)?;
        if probe.tripped {
            store::set_component_status(c, probe.component_id, "operational", "probe", None, None, now)?;
            audit::record(c, &actor, Event::new("probe.recovered", "probe", probe.id), now)?;
            return Ok(true);
        }
        return Ok(false);
    }
    let failures = probe.consecutive_failures + 1;
    let trip = failures >= probe.failure_threshold && !probe.tripped;
    let error: String = error.chars().take(500).collect();
    diesel::update(sp::table.find(probe.id))
        .set((
            sp::consecutive_failures.eq(failures),
            sp::last_checked_at.eq(Some(now)),
            sp::last_error.eq(Some(&error)),
            sp::tripped.eq(probe.tripped || trip),
            sp::updated_at.eq(now),
        ))
        .execute(c)?;
    if !trip {
        return Ok(false);
    }
    let comp = store::component(c, probe.component_id)?;
    store::set_component_status(c, probe.component_id, "major_outage", "probe", None, None, now)?;
    // A draft incident waits for an operator to confirm (publish) it.
    let open_draft: Option<Incident> = incidents::table
        .inner_join(ic::table)
        .filter(ic::component_id.eq(probe.component_id))
        .filter(incidents::published.eq(false))
        .filter(incidents::status.ne("resolved"))
        .select(Incident::as_select())
        .first(c)
        .optional()?;
    if open_draft.is_none() {
        service::create(
            c,
            &actor,
            &NewIncident {
                kind: "incident",
                name: format!("{} is not responding", comp.name),
                impact: "major".into(),
                status: "investigating".into(),
                body: format!(
                    "Automatic monitoring found {} failing {failures} times in a row (last error: {error}). We are investigating.",
                    comp.name
                ),
                components: vec![(probe.component_id, "major_outage".into())],
                started_at: Some(now),
                scheduled_for: None,
                scheduled_until: None,
                published: false,
            },
            now,
        )?;
    }
    audit::record(
        c,
        &actor,
        Event::new("probe.tripped", "probe", probe.id)
            .details(serde_json::json!({"failures": failures, "error": error})),
        now,
    )?;
    Ok(true)
}

/// Runs one HTTP check.
pub async fn check_http(client: &reqwest::Client, p: &Probe) -> Result<(), String> {
    let resp = client
        .get(&p.url)
        .timeout(std::time::Duration::from_millis(p.timeout_ms.clamp(100, 60_000) as u64))
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} ms", p.timeout_ms)
            } else {
                format!("request failed: {e}")
            }
        })?;
    let code = i32::from(resp.status().as_u16());
    if code < p.expect_min || code > p.expect_max {
        return Err(format!("HTTP {code}, expected {}–{}", p.expect_min, p.expect_max));
    }
    if !p.body_contains.is_empty() {
        let body = resp.text().await.map_err(|e| format!("reading the body: {e}"))?;
        if !body.contains(&p.body_contains) {
            return Err(format!("the body does not contain \"{}\"", p.body_contains));
        }
    }
    Ok(())
}

/// A shared HTTP client for probes (rustls with the ring provider and the system's roots).
pub fn http_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("Keel status probe/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| e.to_string())
}

/// Runs the probes that are due (the `status.probes` job, every minute).
pub async fn run_due(state: &AppState) -> Result<usize, JobError> {
    let now = now_micros(state.now());
    let probes = state.db(|c| Ok(list(c)?)).await?;
    let client = http_client().map_err(JobError::retry)?;
    let mut changed = 0;
    for p in probes.into_iter().filter(|p| p.enabled) {
        let due =
            p.last_checked_at.is_none_or(|t| now - t >= Duration::seconds(i64::from(p.interval_seconds) - 5));
        if !due {
            continue;
        }
        let cid = p.component_id;
        if state.db(move |c| Ok(in_maintenance(c, cid, now)?)).await? {
            continue;
        }
        let result = match p.kind.as_str() {
            "http" => check_http(&client, &p).await,
            _ => {
                let since = p.last_ok_at.unwrap_or(p.created_at);
                if now - since > Duration::seconds(i64::from(p.interval_seconds)) {
                    Err(format!("no heartbeat since {} UTC", since.format("%Y-%m-%d %H:%M:%S")))
                } else {
                    Ok(())
                }
            }
        };
        // Heartbeats that are on time are recorded when they arrive; only misses are recorded here.
        if p.kind == "heartbeat" && result.is_ok() {
            continue;
        }
        let (ok, err) = match result {
            Ok(()) => (true, String::new()),
            Err(e) => (false, e),
        };
        if state.db(move |c| Ok(write_tx(c, |c| record(c, &p, ok, &err, now))?)).await? {
            changed += 1;
        }
    }
    if changed > 0 {
        super::refresh(state).await.map_err(JobError::from)?;
    }
    Ok(changed)
}

/// A heartbeat arrived for the probe with this token; false when the token is unknown.
pub fn heartbeat(c: &mut DbConn, token: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let hash = crate::web::token::sha256_hex(token.as_bytes());
    let probe: Option<Probe> = sp::table
        .filter(sp::heartbeat_token_hash.eq(hash))
        .filter(sp::kind.eq("heartbeat"))
        .select(Probe::as_select())
        .first(c)
        .optional()?;
    match probe {
        Some(p) => {
            record(c, &p, true, "", now)?;
            Ok(true)
        }
        None => Ok(false),
    }
}
