//! The metering API for the vendor's product, authenticated by an ingest key
//! (`Authorization: Bearer keel_ik_...`):
//!
//! - `POST /api/v1/events`: one event or a batch of up to 1,000; answers per event
//!   `accepted | duplicate | rejected` (with a code and reason), so one bad event never drops the
//!   good ones. Rejected events go to the dead-letter table.
//! - `POST /api/v1/entitlements/check`: may the product add `increment` more of a metric for a
//!   tenant? Answered from memory (see `cache.rs`).
//!
//! Errors are JSON `{"error": {"code", "message"}}`: 401 `unauthorized` (missing, wrong or revoked
//! key), 400 `malformed_json` / `invalid_body` / `empty_batch`, 413 `payload_too_large` (over
//! 1 MiB) / `batch_too_large` (over 1,000 events).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::caps;
use super::ingest::{self, Catalog, Recorded};
use crate::AppState;
use crate::db::{now_micros, write_tx};
use crate::error::AppError;

/// Largest request body.
pub const MAX_BODY: usize = 1 << 20;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/events", web::post().to(events))
        .route("/api/v1/entitlements/check", web::post().to(check));
}

fn err(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

fn unauthorized() -> HttpResponse {
    err(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Send a valid ingest key: Authorization: Bearer keel_ik_... (keys are created under Usage → Ingest keys).",
    )
}

/// The ingest key in an `Authorization` header value (`Bearer keel_ik_...`), if it holds one.
pub fn bearer_key(authorization: &str) -> Option<&str> {
    authorization.strip_prefix("Bearer ").map(str::trim).filter(|k| k.starts_with(super::keys::PREFIX))
}

/// The ingest key id of the request, if its bearer key is valid and not revoked.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Option<i64>, AppError> {
    let Some(key) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_key)
    else {
        return Ok(None);
    };
    let hash = crate::web::token::sha256_hex(key.as_bytes());
    if let Some(id) = state.usage().key(&hash) {
        return Ok(Some(id));
    }
    let h = hash.clone();
    let now = now_micros(state.now());
    let found = state
        .db(move |c| {
            let k = super::store::key_by_hash(c, &h)?;
            if let Some(k) = &k {
                super::keys::touch(c, k, now)?;
            }
            Ok(k.map(|k| k.id))
        })
        .await?;
    if let Some(id) = found {
        state.usage().put_key(&hash, id);
    }
    Ok(found)
}

/// Reads the body up to the limit; `None` when it is larger.
async fn body(mut payload: web::Payload) -> Result<Option<Vec<u8>>, AppError> {
    let mut buf = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest("The body could not be read.".into()))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf))
}

/// The JSON body of a request with a valid ingest key, or the error response to send: 401
/// without a valid key, 413 over 1 MiB, 400 when it is not JSON.
async fn authenticated_json(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<Result<Value, HttpResponse>, AppError> {
    if authenticate(req, state).await?.is_none() {
        return Ok(Err(unauthorized()));
    }
    let Some(bytes) = body(payload).await? else {
        return Ok(Err(err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is larger than 1 MiB: send smaller batches.",
        )));
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut doc) => {
            crate::web::form::strip_bidi_json(&mut doc);
            Ok(Ok(doc))
        }
        Err(_) => Ok(Err(err(StatusCode::BAD_REQUEST, "malformed_json", "The body is not valid JSON."))),
    }
}

/// The catalog, refreshed when older than `max_age`.
async fn catalog(state: &AppState, max_age: std::time::Duration) -> Result<Arc<Catalog>, AppError> {
    if let Some(c) = state.usage().catalog(max_age) {
        return Ok(c);
    }
    let _one_loader = state.usage().loading().await;
    if let Some(c) = state.usage().catalog(max_age) {
        return Ok(c);
    }
    let cat = Arc::new(state.db(|c| Ok(ingest::catalog(c)?)).await?);
    state.usage().put_catalog(cat.clone());
    Ok(cat)
}

async fn events(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let doc = match authenticated_json(&req, &state, payload).await? {
        Ok(doc) => doc,
        Err(refusal) => return Ok(refusal),
    };
    let Some(list) = ingest::events_of(&doc) else {
        return Ok(err(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "Send one event object, an array of events, or {\"events\": [...]}.",
        ));
    };
    if list.is_empty() {
        return Ok(err(StatusCode::BAD_REQUEST, "empty_batch", "The batch has no events."));
    }
    if list.len() > ingest::MAX_BATCH {
        return Ok(err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            &format!("A batch holds at most {} events; this one has {}.", ingest::MAX_BATCH, list.len()),
        ));
    }
    let now = state.now();
    let mut cat = catalog(&state, super::cache::META_TTL).await?;
    let mut checked: Vec<Result<ingest::Valid, ingest::Refusal>> =
        list.iter().map(|e| ingest::validate(e, &cat, now)).collect();
    // A tenant or metric created since the catalog was read: read it again and retry those.
    if checked.iter().any(|r| matches!(r, Err(x) if x.code == "unknown_tenant" || x.code == "unknown_metric"))
    {
        cat = catalog(&state, std::time::Duration::from_secs(1)).await?;
        checked = list.iter().map(|e| ingest::validate(e, &cat, now)).collect();
    }
    let at = now_micros(now);
    let valid: Vec<ingest::Valid> = checked.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    let refused: Vec<(Value, ingest::Refusal)> = list
        .iter()
        .zip(&checked)
        .filter_map(|(e, r)| r.as_ref().err().map(|x| (e.clone(), x.clone())))
        .collect();
    let recorded = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let rec = ingest::record(c, &valid, at)?;
                for (e, why) in &refused {
                    ingest::reject(c, e, why, at)?;
                }
                Ok::<_, diesel::result::Error>((rec, valid))
            })?)
        })
        .await?;
    let (rec, valid) = recorded;
    let mut affected: Vec<i64> =
        valid.iter().zip(&rec).filter(|(_, r)| **r == Recorded::Accepted).map(|(v, _)| v.tenant_id).collect();
    affected.sort_unstable();
    affected.dedup();
    after_ingest(&state, &cat, &affected).await?;
    let mut results = Vec::with_capacity(list.len());
    let (mut accepted, mut duplicates, mut rejected) = (0, 0, 0);
    let mut rec_iter = rec.iter();
    for (i, (e, r)) in list.iter().zip(&checked).enumerate() {
        let key = e.get("idempotency_key").cloned().unwrap_or(Value::Null);
        match r {
            Ok(_) => match rec_iter.next() {
                Some(Recorded::Accepted) => {
                    accepted += 1;
                    results.push(json!({"index": i, "idempotency_key": key, "status": "accepted"}));
                }
                _ => {
                    duplicates += 1;
                    results.push(json!({"index": i, "idempotency_key": key, "status": "duplicate"}));
                }
            },
            Err(x) => {
                rejected += 1;
                results.push(json!({"index": i, "idempotency_key": key, "status": "rejected", "code": x.code, "reason": x.reason}));
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "accepted": accepted, "duplicates": duplicates, "rejected": rejected, "results": results,
    })))
}

/// After events were recorded: the cached usage of the tenants (and their districts) is stale,
/// and caps covering them may have crossed a threshold.
pub async fn after_ingest(state: &AppState, cat: &Catalog, tenants: &[i64]) -> Result<(), AppError> {
    if tenants.is_empty() {
        return Ok(());
    }
    let mut touched: Vec<i64> = tenants.to_vec();
    touched.extend(tenants.iter().filter_map(|t| cat.parents.get(t).copied().flatten()));
    touched.sort_unstable();
    touched.dedup();
    state.usage().invalidate(&touched);
    let caps = all_caps(state).await?;
    if !caps.iter().any(|c| touched.contains(&c.tenant_id)) {
        return Ok(());
    }
    let base = state.config().base_url.clone();
    let now = now_micros(state.now());
    let fired = state.db(move |c| Ok(write_tx(c, |c| caps::evaluate(c, &touched, &base, now))?)).await?;
    if fired > 0 {
        state.job_wakeup().notify_waiters();
    }
    Ok(())
}

/// Every cap, from memory when fresh.
pub async fn all_caps(state: &AppState) -> Result<Arc<Vec<super::model::Cap>>, AppError> {
    if let Some(c) = state.usage().caps() {
        return Ok(c);
    }
    let _one_loader = state.usage().loading().await;
    if let Some(c) = state.usage().caps() {
        return Ok(c);
    }
    let caps = Arc::new(state.db(|c| Ok(super::store::all_caps(c)?)).await?);
    state.usage().put_caps(caps.clone());
    Ok(caps)
}

/// Decides an entitlement from memory, reading what is missing or stale.
pub async fn entitlement(
    state: &AppState,
    cat: &Catalog,
    tenant: i64,
    metric: &super::model::Metric,
    increment: f64,
) -> Result<caps::Decision, AppError> {
    let today = state.now().date_naive();
    let parent = cat.parents.get(&tenant).copied().flatten();
    let all = all_caps(state).await?;
    let applicable: Vec<super::model::Cap> = all
        .iter()
        .filter(|c| c.metric_id == metric.id && (c.tenant_id == tenant || Some(c.tenant_id) == parent))
        .cloned()
        .collect();
    let mut with = Vec::with_capacity(applicable.len());
    for cap in applicable {
        let v = match state.usage().value(cap.tenant_id, metric.id, today) {
            Some(v) => v,
            None => {
                let _one_loader = state.usage().loading().await;
                if let Some(v) = state.usage().value(cap.tenant_id, metric.id, today) {
                    with.push((cap, v));
                    continue;
                }
                let (owner, m) = (cap.tenant_id, metric.clone());
                let v = state
                    .db(move |c| {
                        let tenants = caps::covered(c, owner)?;
                        Ok(caps::current(c, &tenants, &m, today)?)
                    })
                    .await?;
                state.usage().put_value(cap.tenant_id, metric.id, today, v);
                v
            }
        };
        with.push((cap, v));
    }
    let d = caps::decide(&with, increment, today);
    if !d.allowed {
        let period = caps::period_key(today);
        for (cap, v) in with.iter().filter(|(c, v)| c.enforcement == "hard" && v + increment > c.limit_value)
        {
            if state.usage().first_enforcement(cap.id, &period) {
                let (cap, m, v) = (cap.clone(), metric.clone(), *v);
                let now = now_micros(state.now());
                state
                    .db(move |c| {
                        Ok(write_tx(c, |c| caps::record_enforcement(c, &cap, &m, v, "entitlement API", now))?)
                    })
                    .await?;
            }
        }
    }
    Ok(d)
}

async fn check(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let doc = match authenticated_json(&req, &state, payload).await? {
        Ok(doc) => doc,
        Err(refusal) => return Ok(refusal),
    };
    let increment = match doc.get("increment") {
        None | Some(Value::Null) => 1.0,
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => x,
            _ => {
                return Ok(err(
                    StatusCode::BAD_REQUEST,
                    "invalid_increment",
                    "increment must be a number of at least 0.",
                ));
            }
        },
    };
    let tenant_ref = doc.get("tenant").cloned().unwrap_or(Value::Null);
    let metric_key = doc.get("metric").and_then(Value::as_str).unwrap_or("").to_string();
    let mut cat = catalog(&state, super::cache::META_TTL).await?;
    if cat.tenant(&tenant_ref).is_none() || !cat.metrics.contains_key(&metric_key) {
        cat = catalog(&state, std::time::Duration::from_secs(1)).await?;
    }
    let Some(tenant) = cat.tenant(&tenant_ref) else {
        return Ok(err(StatusCode::NOT_FOUND, "unknown_tenant", "No such tenant (send its slug or id)."));
    };
    let Some(metric) = cat.metrics.get(&metric_key).cloned() else {
        return Ok(err(StatusCode::NOT_FOUND, "unknown_metric", "No such metric (see Usage → Metrics)."));
    };
    let d = entitlement(&state, &cat, tenant, &metric, increment).await?;
    Ok(HttpResponse::Ok().json(json!({
        "allowed": d.allowed,
        "current": d.current,
        "limit": d.limit,
        "remaining": d.remaining,
        "mode": d.mode,
        "threshold_state": d.threshold_state,
        "period_end": d.period_end,
        "tenant": tenant,
        "metric": metric.key,
    })))
}
