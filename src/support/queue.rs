//! The support queue for support agents and platform admins: `/admin/support` (filters, sorted
//! by the next due time, near and past breach highlighted), one request with everything Keel
//! attached, assign / reply / internal note / status, and the met-or-missed report per tier.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use super::pages::{Shown, shown};
use super::requests::{self, DueState, QueueFilter, Request, STATUSES, TierReport};
use super::tiers::{self, SEVERITIES};
use crate::AppState;
use crate::audit::Actor;
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::schema::users;
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/support", web::get().to(queue))
        .route("/admin/support/report", web::get().to(report))
        .route("/admin/support/requests/{id}", web::get().to(detail))
        .route("/admin/support/requests/{id}/assign", web::post().to(assign))
        .route("/admin/support/requests/{id}/message", web::post().to(message))
        .route("/admin/support/requests/{id}/status", web::post().to(status));
}

/// The queue's query string.
#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    breached: String,
}

/// One queue line.
pub struct QueueRow {
    pub r: Request,
    pub tenant: String,
    pub tier: String,
    pub assignee: String,
    pub response: DueState,
    pub resolution: DueState,
    /// "in 2 h 10 min" / "35 min ago" for the next due time.
    pub due_text: String,
    /// `alarm`, `near` or "".
    pub row_class: &'static str,
}

#[derive(Template)]
#[template(path = "support/queue.html")]
struct QueuePage {
    ctx: PageCtx,
    rows: Vec<QueueRow>,
    q: QueueQuery,
    tiers: Vec<(i64, String)>,
    tenants: Vec<(i64, String)>,
    agents: Vec<(i64, String)>,
    statuses: [(&'static str, &'static str); 5],
    severities: [&'static str; 4],
    breached_count: usize,
}

/// "in 2 h 10 min" or "35 min ago".
pub fn relative(due: NaiveDateTime, now: NaiveDateTime) -> String {
    let mins = (due - now).num_minutes();
    let span = |m: i64| {
        let m = m.abs();
        if m >= 48 * 60 {
            format!("{} days", m / (24 * 60))
        } else if m >= 60 {
            format!("{} h {} min", m / 60, m % 60)
        } else {
            format!("{m} min")
        }
    };
    if mins >= 0 { format!("in {}", span(mins)) } else { format!("{} ago", span(mins)) }
}

/// Internal users who work the queue: (id, name).
fn agents(c: &mut crate::db::DbConn) -> QueryResult<Vec<(i64, String)>> {
    users::table
        .filter(users::platform_role.eq_any(["platform_admin", "support_agent"]))
        .filter(users::status.eq("active"))
        .order(users::display_name)
        .select((users::id, users::display_name))
        .load(c)
}

async fn queue(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<QueueQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    let q = q.into_inner();
    let f = QueueFilter {
        status: q.status.clone(),
        tier: q.tier.parse().ok(),
        severity: if SEVERITIES.contains(&q.severity.as_str()) { q.severity.clone() } else { String::new() },
        tenant: q.tenant.parse().ok(),
        assignee: q.assignee.clone(),
        breached: q.breached == "1",
    };
    let now = now_micros(state.now());
    let me = p.user_id;
    let (rows, tiers_list, tenants, agents) = state
        .db(move |c| {
            let reqs = requests::queue(c, &f, me, now)?;
            let tiers_list: Vec<(i64, String)> = tiers::all(c)?.into_iter().map(|t| (t.id, t.name)).collect();
            let tenants = crate::tenancy::store::names(c, None)?;
            let agents = agents(c)?;
            let name = |list: &[(i64, String)], id: Option<i64>| {
                id.and_then(|i| list.iter().find(|(x, _)| *x == i))
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default()
            };
            let rows = reqs
                .into_iter()
                .map(|r| {
                    let response = r.response_state(now);
                    let resolution = r.resolution_state(now);
                    let next = requests::next_due(&r);
                    let alarm = [response, resolution].contains(&DueState::Breached);
                    let near = [response, resolution].contains(&DueState::Near);
                    QueueRow {
                        tenant: name(&tenants, Some(r.tenant_id)),
                        tier: name(&tiers_list, r.tier_id),
                        assignee: name(&agents, r.assignee_id),
                        response,
                        resolution,
                        due_text: next.map(|d| relative(d, now)).unwrap_or_default(),
                        row_class: if alarm && r.is_active() {
                            "row-alarm"
                        } else if near && r.is_active() {
                            "row-near"
                        } else {
                            ""
                        },
                        r,
                    }
                })
                .collect::<Vec<_>>();
            Ok((rows, tiers_list, tenants, agents))
        })
        .await?;
    let breached_count = rows.iter().filter(|r| r.row_class == "row-alarm").count();
    render(&QueuePage {
        ctx: PageCtx::new(&req, "Support queue"),
        rows,
        q,
        tiers: tiers_list,
        tenants,
        agents,
        statuses: STATUSES,
        severities: SEVERITIES,
        breached_count,
    })
}

#[derive(Template)]
#[template(path = "support/queue_request.html")]
struct DetailPage {
    ctx: PageCtx,
    r: Request,
    tenant: String,
    tenant_status: String,
    tier: String,
    requester: String,
    requester_email: String,
    messages: Vec<Shown>,
    metadata: Vec<(String, String)>,
    recent: Vec<crate::support::recent::Seen>,
    agents: Vec<(i64, String)>,
    statuses: [(&'static str, &'static str); 5],
    response: DueState,
    resolution: DueState,
    response_text: String,
    resolution_text: String,
    body: String,
    kind: String,
    errors: FormErrors,
}

async fn load_detail(
    req: &HttpRequest,
    state: &AppState,
    id: i64,
    body: String,
    kind: String,
    errors: FormErrors,
) -> AppResult<DetailPage> {
    let (r, tenant, tier, requester, messages, agents) = state
        .db(move |c| {
            let r = requests::find(c, id).optional()?.ok_or(AppError::NotFound)?;
            let tenant = crate::tenancy::store::find(c, r.tenant_id)?;
            let tier = match r.tier_id {
                Some(t) => tiers::full(c, t)?.tier.name,
                None => "No tier (best effort)".into(),
            };
            let requester = crate::auth::store::user_by_id(c, r.requester_id)?;
            let msgs = requests::messages(c, id, true)?;
            Ok((r, tenant, tier, requester, shown(c, msgs)?, agents(c)?))
        })
        .await?;
    let now = now_micros(state.now());
    let meta: serde_json::Value = serde_json::from_str(&r.metadata).unwrap_or_default();
    let mut metadata = Vec::new();
    let mut recent = Vec::new();
    if let Some(o) = meta.as_object() {
        recent =
            o.get("recent_requests").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
        for (key, label) in [
            ("tenant", "District or school"),
            ("tenant_id", "Tenant id"),
            ("user_email", "User"),
            ("user_id", "User id"),
            ("page", "Came from page"),
            ("user_agent", "Browser"),
            ("time_zone", "Browser time zone"),
            ("app_version", "Keel version"),
            ("request_id", "Request id of the form"),
        ] {
            let text = match o.get(key) {
                None => continue,
                Some(serde_json::Value::String(s)) if s.is_empty() => "—".to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            metadata.push((label.to_string(), text));
        }
    }
    let target_text =
        |due: Option<NaiveDateTime>, done: Option<NaiveDateTime>, st: DueState| match (due, done) {
            (None, _) => "No target (best effort)".to_string(),
            (Some(d), Some(x)) => format!(
                "Due {} UTC, done {} UTC: {}",
                d.format("%b %-d %H:%M"),
                x.format("%b %-d %H:%M"),
                st.label().to_lowercase()
            ),
            (Some(d), None) => format!("Due {} UTC ({})", d.format("%b %-d %H:%M"), relative(d, now)),
        };
    Ok(DetailPage {
        ctx: PageCtx::new(req, format!("{} · queue", r.number())),
        response: r.response_state(now),
        resolution: r.resolution_state(now),
        response_text: target_text(r.response_due_at, r.first_response_at, r.response_state(now)),
        resolution_text: target_text(r.resolution_due_at, r.resolved_at, r.resolution_state(now)),
        tenant: tenant.name,
        tenant_status: tenant.status,
        tier,
        requester: requester.display_name,
        requester_email: requester.email,
        messages,
        metadata,
        recent,
        agents,
        statuses: STATUSES,
        body,
        kind,
        errors,
        r,
    })
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    render(
        &load_detail(&req, &state, id.into_inner(), String::new(), "reply".into(), FormErrors::new()).await?,
    )
}

async fn find(state: &AppState, id: i64) -> AppResult<Request> {
    state.db(move |c| Ok(requests::find(c, id).optional()?)).await?.ok_or(AppError::NotFound)
}

#[derive(Debug, Deserialize)]
struct AssignForm {
    #[serde(default)]
    assignee: String,
}

async fn assign(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<AssignForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::WorkSupportQueue)?;
    let r = find(&state, id.into_inner()).await?;
    let to: Option<i64> = match f.assignee.as_str() {
        "" => None,
        "me" => Some(p.user_id),
        v => Some(v.parse().map_err(|_| AppError::BadRequest("Unknown agent.".into()))?),
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let rid = r.id;
    let name = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let name = match to {
                    Some(u) => {
                        let u = agents(c)?
                            .into_iter()
                            .find(|(i, _)| *i == u)
                            .ok_or(diesel::result::Error::NotFound)?;
                        Some(u.1)
                    }
                    None => None,
                };
                requests::assign(c, &actor, &r, to, now)?;
                Ok::<_, diesel::result::Error>(name)
            })?)
        })
        .await?;
    let msg = match name {
        Some(n) => format!("Assigned to {n}."),
        None => "Unassigned.".into(),
    };
    Ok(flash::redirect_with(&req, &format!("/admin/support/requests/{rid}"), "success", msg))
}

#[derive(Debug, Deserialize)]
struct MessageForm {
    #[serde(default)]
    body: String,
    /// `reply` or `note`.
    #[serde(default)]
    kind: String,
    /// Status after a reply (optional): e.g. `waiting_on_customer`.
    #[serde(default)]
    then: String,
}

async fn message(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<MessageForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::WorkSupportQueue)?;
    let id = id.into_inner();
    let r = find(&state, id).await?;
    let kind = if f.kind == "note" { "note" } else { "reply" };
    let body = f.body.trim().to_string();
    let mut e = FormErrors::new();
    if body.is_empty() {
        e.add("body", if kind == "note" { "Write the note first." } else { "Write the reply first." });
    } else if body.chars().count() > 20_000 {
        e.add("body", "Keep a message under 20,000 characters.");
    }
    let then = f.then.trim().to_string();
    if !then.is_empty() && !STATUSES.iter().any(|(k, _)| *k == then) {
        e.add("body", "Unknown status.");
    }
    if !e.is_empty() {
        let page = load_detail(&req, &state, id, f.body, kind.into(), e).await?;
        return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                requests::add_message(c, &actor, &r, kind, &body, &base, now)?;
                if !then.is_empty() {
                    let fresh = requests::find(c, r.id)?;
                    requests::set_status(c, &actor, &fresh, &then, &base, now)?;
                }
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
    let msg = if kind == "note" {
        "Internal note added (the customer does not see it)."
    } else {
        "Reply sent to the requester."
    };
    Ok(flash::redirect_with(&req, &format!("/admin/support/requests/{id}"), "success", msg))
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<StatusForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::WorkSupportQueue)?;
    let r = find(&state, id.into_inner()).await?;
    let Some((st, label)) = STATUSES.iter().find(|(k, _)| *k == f.status).copied() else {
        return Err(AppError::BadRequest("Unknown status.".into()));
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    let rid = r.id;
    state.db(move |c| Ok(write_tx(c, |c| requests::set_status(c, &actor, &r, st, &base, now))?)).await?;
    let label = if st == "waiting_on_customer" { "Waiting on customer" } else { label };
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/support/requests/{rid}"),
        "success",
        format!("Status: {label}."),
    ))
}

#[derive(Template)]
#[template(path = "support/report.html")]
struct ReportPage {
    ctx: PageCtx,
    periods: Vec<(&'static str, Vec<TierReport>)>,
}

async fn report(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    let now = now_micros(state.now());
    let (d30, d90) = state
        .db(move |c| {
            Ok((
                requests::report(c, now - Duration::days(30), now)?,
                requests::report(c, now - Duration::days(90), now)?,
            ))
        })
        .await?;
    render(&ReportPage {
        ctx: PageCtx::new(&req, "Support targets report"),
        periods: vec![("Last 30 days", d30), ("Last 90 days", d90)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn relative_times() {
        let now =
            NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap_or_default();
        assert_eq!(relative(now + Duration::minutes(130), now), "in 2 h 10 min");
        assert_eq!(relative(now - Duration::minutes(35), now), "35 min ago");
        assert_eq!(relative(now + Duration::days(3), now), "in 3 days");
    }
}
