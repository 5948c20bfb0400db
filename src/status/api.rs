//! The Statuspage API v2 compatible JSON (`/api/v2/*.json`) and `/api/status/health`, served
//! from the snapshot with `Access-Control-Allow-Origin: *`, so existing exporters, widgets and
//! aggregators work unchanged. Field names and enums follow Statuspage exactly.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDateTime, SecondsFormat};
use serde_json::{Value, json};

use super::model::Component;
use super::snapshot::{IncidentView, Snapshot};
use crate::AppState;
use crate::error::AppResult;

/// Lists are capped at this many, newest first.
const LIMIT: usize = 50;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, which) in [
        ("/api/v2/summary.json", Which::Summary),
        ("/api/v2/status.json", Which::Status),
        ("/api/v2/components.json", Which::Components),
        ("/api/v2/incidents.json", Which::Incidents),
        ("/api/v2/incidents/unresolved.json", Which::Unresolved),
        ("/api/v2/scheduled-maintenances.json", Which::Maintenances),
        ("/api/v2/scheduled-maintenances/upcoming.json", Which::Upcoming),
        ("/api/v2/scheduled-maintenances/active.json", Which::Active),
    ] {
        cfg.route(
            path,
            web::get().to(move |req: HttpRequest, state: web::Data<AppState>| serve(req, state, which)),
        );
    }
    cfg.route("/api/status/health", web::get().to(health))
        .route("/api/v1/heartbeat/{token}", web::post().to(heartbeat));
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Summary,
    Status,
    Components,
    Incidents,
    Unresolved,
    Maintenances,
    Upcoming,
    Active,
}

/// ISO 8601 with offset, as Statuspage writes it.
pub fn ts(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn opt_ts(t: Option<NaiveDateTime>) -> Value {
    t.map(|t| Value::String(ts(t))).unwrap_or(Value::Null)
}

/// The page identity every document carries.
pub fn page(state: &AppState, snap: &Snapshot) -> Value {
    json!({
        "id": "keel",
        "name": super::public::PAGE_NAME,
        "url": format!("{}/status", state.config().base_url),
        "time_zone": "Etc/UTC",
        "updated_at": ts(snap.built_at.naive_utc()),
        // Keel's addition: true while the database is unreachable and this is the last good
        // snapshot (as of `updated_at`).
        "stale": snap.stale_since.is_some(),
    })
}

/// One component, Statuspage-shaped.
pub fn component(snap: &Snapshot, c: &Component) -> Value {
    let mut v = json!({
        "id": c.public_id,
        "name": c.name,
        "status": c.status,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "position": c.position,
        "description": if c.description.is_empty() { Value::Null } else { Value::String(c.description.clone()) },
        "showcase": c.showcase,
        "start_date": c.start_date.map(|d| Value::String(d.format("%Y-%m-%d").to_string())).unwrap_or(Value::Null),
        "group_id": c.group_id.and_then(|g| snap.components.iter().find(|x| x.id == g)).map(|g| Value::String(g.public_id.clone())).unwrap_or(Value::Null),
        "page_id": "keel",
        "group": c.is_group,
        "only_show_if_degraded": c.only_show_if_degraded,
    });
    if c.is_group {
        v["components"] =
            Value::Array(snap.children(c.id).iter().map(|k| Value::String(k.public_id.clone())).collect());
    }
    v
}

/// One incident or maintenance, Statuspage-shaped.
pub fn incident(state: &AppState, snap: &Snapshot, i: &IncidentView) -> Value {
    let inc = &i.incident;
    let comps: Vec<Value> = i
        .affected
        .iter()
        .filter_map(|(id, _, _)| snap.components.iter().find(|c| c.id == *id))
        .map(|c| component(snap, c))
        .collect();
    let updates: Vec<Value> = i
        .updates
        .iter()
        .map(|u| {
            json!({
                "id": u.public_id,
                "status": u.status,
                "body": u.body,
                "incident_id": inc.public_id,
                "created_at": ts(u.created_at),
                "updated_at": ts(u.updated_at),
                "display_at": ts(u.display_at),
                "affected_components": Value::Null,
            })
        })
        .collect();
    let mut v = json!({
        "id": inc.public_id,
        "name": inc.name,
        "status": inc.status,
        "impact": inc.impact,
        "created_at": ts(inc.created_at),
        "updated_at": ts(inc.updated_at),
        "started_at": opt_ts(inc.started_at.or(Some(inc.created_at))),
        "monitoring_at": opt_ts(inc.monitoring_at),
        "resolved_at": opt_ts(inc.resolved_at),
        "shortlink": format!("{}/status/incidents/{}", state.config().base_url, inc.code),
        "page_id": "keel",
        "incident_updates": updates,
        "components": comps,
        "postmortem_body": match (&inc.postmortem_body, inc.postmortem_published_at) {
            (Some(b), Some(_)) => Value::String(b.clone()),
            _ => Value::Null,
        },
    });
    if inc.kind == "maintenance" {
        v["scheduled_for"] = opt_ts(inc.scheduled_for);
        v["scheduled_until"] = opt_ts(inc.scheduled_until);
    }
    v
}

fn incidents_of<'a>(it: impl Iterator<Item = &'a IncidentView>, state: &AppState, snap: &Snapshot) -> Value {
    Value::Array(it.take(LIMIT).map(|i| incident(state, snap, i)).collect())
}

fn document(state: &AppState, snap: &Snapshot, which: Which) -> Value {
    let status = json!({"indicator": snap.overall.0, "description": snap.overall.1});
    let components = || Value::Array(snap.components.iter().map(|c| component(snap, c)).collect());
    let incidents = || snap.incidents.iter().filter(|i| i.incident.kind == "incident");
    let maintenances = || snap.incidents.iter().filter(|i| i.incident.kind == "maintenance");
    let unresolved = || incidents().filter(|i| i.is_open());
    let upcoming = || maintenances().filter(|i| i.incident.status == "scheduled");
    let active = || maintenances().filter(|i| i.is_open() && i.incident.status != "scheduled");
    let p = page(state, snap);
    match which {
        Which::Summary => json!({
            "page": p,
            "components": components(),
            "incidents": incidents_of(unresolved(), state, snap),
            "scheduled_maintenances": incidents_of(upcoming().chain(active()), state, snap),
            "status": status,
        }),
        Which::Status => json!({"page": p, "status": status}),
        Which::Components => json!({"page": p, "components": components()}),
        Which::Incidents => json!({"page": p, "incidents": incidents_of(incidents(), state, snap)}),
        Which::Unresolved => json!({"page": p, "incidents": incidents_of(unresolved(), state, snap)}),
        Which::Maintenances => {
            json!({"page": p, "scheduled_maintenances": incidents_of(maintenances(), state, snap)})
        }
        Which::Upcoming => {
            json!({"page": p, "scheduled_maintenances": incidents_of(upcoming(), state, snap)})
        }
        Which::Active => json!({"page": p, "scheduled_maintenances": incidents_of(active(), state, snap)}),
    }
}

fn json_response(
    req: &HttpRequest,
    snap: &Snapshot,
    tag: String,
    body: impl FnOnce() -> String,
) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut b = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    b.insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=30"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    if fresh {
        return b.finish();
    }
    let bytes = snap.cached(&tag, || Ok::<_, std::convert::Infallible>(body())).unwrap_or_default();
    b.content_type("application/json").body(bytes)
}

async fn serve(req: HttpRequest, state: web::Data<AppState>, which: Which) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let tag = format!(
        "\"{}-{}-{:?}\"",
        snap.built_at.timestamp_micros(),
        u8::from(snap.stale_since.is_some()),
        which
    );
    Ok(json_response(&req, &snap, tag, || document(&state, &snap, which).to_string()))
}

async fn health(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let worst = match snap.overall.0.as_str() {
        "none" => "operational",
        "maintenance" => "under_maintenance",
        "minor" => "degraded",
        _ => "outage",
    };
    let tag =
        format!("\"{}-{}-health\"", snap.built_at.timestamp_micros(), u8::from(snap.stale_since.is_some()));
    Ok(json_response(&req, &snap, tag, || {
        json!({
            "status": worst,
            "description": snap.overall.1,
            "components": snap.components.iter().filter(|c| !c.is_group).map(|c| json!({"name": c.name, "status": c.status})).collect::<Vec<_>>(),
            "updated_at": ts(snap.built_at.naive_utc()),
            "stale": snap.stale_since.is_some(),
        })
        .to_string()
    }))
}

/// `POST /api/v1/heartbeat/{token}`: the vendor's job runner says it is alive.
async fn heartbeat(state: web::Data<AppState>, token: web::Path<String>) -> AppResult<HttpResponse> {
    let token = token.into_inner();
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(crate::error::AppError::NotFound);
    }
    let now = crate::db::now_micros(state.now());
    let known =
        state.db(move |c| Ok(crate::db::write_tx(c, |c| super::probes::heartbeat(c, &token, now))?)).await?;
    if !known {
        return Err(crate::error::AppError::NotFound);
    }
    super::refresh(&state).await.ok();
    Ok(HttpResponse::Ok().json(json!({"ok": true, "received_at": ts(now)})))
}
