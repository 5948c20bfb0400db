//! `/admin/status`: the operators' side of the status page. Platform admins create and resolve
//! incidents, schedule maintenance, write postmortems and manage components; support agents
//! post updates. Every change is audited and the public snapshot is rebuilt at once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::model::{Component, Incident, IncidentUpdate};
use super::service::{
    self, COMPONENT_STATUSES, IMPACTS, INCIDENT_STATUSES, MAINTENANCE_STATUSES, NewIncident, label,
};
use super::store;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/status", web::get().to(overview))
        .route("/admin/status/components", web::post().to(create_component))
        .route("/admin/status/components/{id}/status", web::post().to(set_component_status))
        .route("/admin/status/incidents/new", web::get().to(new_incident_page))
        .route("/admin/status/incidents", web::post().to(create_incident))
        .route("/admin/status/incidents/{id}", web::get().to(incident_detail))
        .route("/admin/status/incidents/{id}/updates", web::post().to(post_update))
        .route("/admin/status/incidents/{id}/postmortem", web::post().to(save_postmortem))
        .route("/admin/status/incidents/{id}/window", web::post().to(correct_window))
        .route("/admin/status/probes", web::post().to(create_probe))
        .route("/admin/status/probes/{id}/delete", web::post().to(delete_probe));
}

async fn refreshed(state: &AppState) {
    if let Err(e) = super::refresh(state).await {
        tracing::warn!(error = %e, "status snapshot refresh failed after a change");
    }
}

#[derive(Template)]
#[template(path = "status/admin.html")]
struct OverviewPage {
    ctx: PageCtx,
    components: Vec<Component>,
    open: Vec<Incident>,
    recent: Vec<Incident>,
    drafts: Vec<Incident>,
    statuses: Vec<(String, String)>,
    can_manage: bool,
    new_name: String,
    errors: FormErrors,
    probes: Vec<(super::probes::Probe, String)>,
    probe: ProbeForm,
    probe_errors: FormErrors,
}

async fn overview_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    new_name: String,
    errors: FormErrors,
) -> AppResult<OverviewPage> {
    overview_page_with(req, p, state, new_name, errors, ProbeForm::default(), FormErrors::new()).await
}

async fn overview_page_with(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    new_name: String,
    errors: FormErrors,
    probe: ProbeForm,
    probe_errors: FormErrors,
) -> AppResult<OverviewPage> {
    let (components, incidents, probes) =
        state.db(|c| Ok((store::components(c)?, store::incidents_all(c)?, super::probes::list(c)?))).await?;
    let name_of =
        |id: i64| components.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_default();
    let probes: Vec<(super::probes::Probe, String)> = probes
        .into_iter()
        .map(|pr| {
            let n = name_of(pr.component_id);
            (pr, n)
        })
        .collect();
    let open_states = |i: &Incident| !matches!(i.status.as_str(), "resolved" | "completed");
    Ok(OverviewPage {
        ctx: PageCtx::new(req, "Status page"),
        components,
        open: incidents.iter().filter(|i| i.published && open_states(i)).cloned().collect(),
        drafts: incidents.iter().filter(|i| !i.published).cloned().collect(),
        recent: incidents.iter().filter(|i| i.published && !open_states(i)).take(10).cloned().collect(),
        statuses: COMPONENT_STATUSES.iter().map(|(k, l)| (k.to_string(), l.to_string())).collect(),
        can_manage: p.can(Action::ManageIncidents),
        new_name,
        errors,
        probes,
        probe,
        probe_errors,
    })
}

async fn overview(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ViewStatusAdmin)?;
    render(&overview_page(&req, &p, &state, String::new(), FormErrors::new()).await?)
}

#[derive(Debug, Deserialize)]
struct ComponentForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    group_id: String,
}

async fn create_component(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ComponentForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageComponents)?;
    let mut errors = FormErrors::new();
    let name = form::required_text(&mut errors, "name", "a name", &f.name, 80);
    let description = form::optional_text(&mut errors, "description", "the description", &f.description, 300)
        .unwrap_or_default();
    let group_id = f.group_id.trim().parse::<i64>().ok();
    if !errors.is_empty() {
        let page = overview_page(&req, &p, &state, f.name.clone(), errors).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let position = store::components(c)?.len() as i32;
                let id = store::insert_component(
                    c,
                    &super::model::NewComponent {
                        public_id: service::short_code(12),
                        name: name.clone(),
                        description,
                        group_id,
                        is_group: false,
                        position,
                        showcase: true,
                        only_show_if_degraded: false,
                        start_date: Some(now),
                        status: "operational".into(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                audit::record(
                    c,
                    &actor,
                    Event::new("component.create", "component", id)
                        .details(serde_json::json!({"name": name})),
                    now,
                )
            })?)
        })
        .await?;
    refreshed(&state).await;
    Ok(flash::redirect_with(&req, "/admin/status", "success", "The component was added to the status page."))
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
}

async fn set_component_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<StatusForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageComponents)?;
    let id = id.into_inner();
    let status = form.form.status.clone();
    if !COMPONENT_STATUSES.iter().any(|(k, _)| *k == status) {
        return Ok(flash::redirect_with(
            &req,
            "/admin/status",
            "error",
            "Choose one of the listed statuses.",
        ));
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let st = status.clone();
    let (name, changed) = state
        .db(move |c| {
            let comp = store::component(c, id)?;
            if comp.is_group {
                return Err(AppError::NotFound);
            }
            Ok((comp.name, write_tx(c, |c| service::set_component(c, &actor, id, &st, now))?))
        })
        .await?;
    refreshed(&state).await;
    let msg = if changed {
        format!("{name} is now {}.", label(&status).to_lowercase())
    } else {
        format!("{name} was already {}.", label(&status).to_lowercase())
    };
    Ok(flash::redirect_with(&req, "/admin/status", "success", msg))
}

/// The incident / maintenance form, as typed.
#[derive(Debug, Deserialize, Default, Clone)]
struct IncidentForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    scheduled_for: String,
    #[serde(default)]
    scheduled_until: String,
    /// `component_<id>` = status (or empty for not affected).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

#[derive(Template)]
#[template(path = "status/admin_new.html")]
struct NewPage {
    ctx: PageCtx,
    f: IncidentForm,
    components: Vec<(Component, String)>,
    impacts: Vec<(String, String)>,
    incident_statuses: Vec<(String, String)>,
    component_statuses: Vec<(String, String)>,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
struct KindQuery {
    #[serde(default)]
    kind: String,
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, l)| (k.to_string(), l.to_string())).collect()
}

async fn new_page(
    req: &HttpRequest,
    state: &AppState,
    f: IncidentForm,
    errors: FormErrors,
) -> AppResult<NewPage> {
    let components = state.db(|c| Ok(store::components(c)?)).await?;
    let chosen = |id: i64| f.rest.get(&format!("component_{id}")).cloned().unwrap_or_default();
    Ok(NewPage {
        ctx: PageCtx::new(req, if f.kind == "maintenance" { "Schedule maintenance" } else { "New incident" }),
        components: components
            .into_iter()
            .filter(|c| !c.is_group)
            .map(|c| {
                let s = chosen(c.id);
                (c, s)
            })
            .collect(),
        impacts: pairs(&IMPACTS),
        incident_statuses: pairs(&INCIDENT_STATUSES[..3]),
        component_statuses: pairs(&COMPONENT_STATUSES[1..4]),
        f,
        errors,
    })
}

async fn new_incident_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<KindQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ManageIncidents)?;
    let f = IncidentForm {
        kind: if q.kind == "maintenance" { "maintenance".into() } else { "incident".into() },
        impact: "minor".into(),
        status: "investigating".into(),
        ..Default::default()
    };
    render(&new_page(&req, &state, f, FormErrors::new()).await?)
}

/// Parses a `datetime-local` value (UTC) such as `2026-11-23T14:30`.
pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

async fn create_incident(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<IncidentForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageIncidents)?;
    let maintenance = f.kind == "maintenance";
    let now = now_micros(state.now());
    let mut errors = FormErrors::new();
    let name = form::required_text(&mut errors, "name", "a title", &f.name, 160);
    let body = form::required_text(&mut errors, "body", "a message for customers", &f.body, 10_000);
    let components_all = state.db(|c| Ok(store::components(c)?)).await?;
    let mut affected = Vec::new();
    for (key, value) in &f.rest {
        let Some(id) = key.strip_prefix("component_").and_then(|s| s.parse::<i64>().ok()) else { continue };
        if value.is_empty() {
            continue;
        }
        if !components_all.iter().any(|c| c.id == id && !c.is_group) {
            errors.add("components", "One of the chosen components doesn't exist any more; reload the page.");
            continue;
        }
        let status = if maintenance { "under_maintenance".to_string() } else { value.clone() };
        if !COMPONENT_STATUSES.iter().any(|(k, _)| *k == status) {
            errors.add("components", "Choose a listed status for each affected component.");
        }
        affected.push((id, status));
    }
    affected.sort();
    let (impact, status, started_at, scheduled_for, scheduled_until);
    if maintenance {
        impact = "maintenance".to_string();
        status = "scheduled".to_string();
        started_at = None;
        scheduled_for = parse_local(&f.scheduled_for);
        scheduled_until = parse_local(&f.scheduled_until);
        if scheduled_for.is_none() {
            errors.add("scheduled_for", "Enter when the maintenance starts (UTC).");
        }
        if scheduled_until.is_none() {
            errors.add("scheduled_until", "Enter when the maintenance ends (UTC).");
        }
        if let (Some(a), Some(b)) = (scheduled_for, scheduled_until)
            && b <= a
        {
            errors.add("scheduled_until", "The end must be after the start.");
        }
        if affected.is_empty() {
            errors.add("components", "Choose at least one component under maintenance.");
        }
    } else {
        impact = f.impact.clone();
        status = f.status.clone();
        if !IMPACTS.iter().any(|(k, _)| *k == impact) {
            errors.add("impact", "Choose the impact.");
        }
        if !INCIDENT_STATUSES.iter().any(|(k, _)| *k == status) || status == "resolved" {
            errors.add("status", "Choose investigating, identified or monitoring.");
        }
        started_at = if f.started_at.trim().is_empty() { Some(now) } else { parse_local(&f.started_at) };
        if started_at.is_none() {
            errors.add(
                "started_at",
                "Enter a date and time like 2026-11-23T14:30 (UTC), or leave it empty for now.",
            );
        }
        if started_at.is_some_and(|t| t > now) {
            errors.add("started_at", "Customers can't have been affected in the future.");
        }
        scheduled_for = None;
        scheduled_until = None;
    }
    if !errors.is_empty() {
        let page = new_page(&req, &state, f, errors).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let actor = Actor::of(&req, &p);
    let n = NewIncident {
        kind: if maintenance { "maintenance" } else { "incident" },
        name,
        impact,
        status,
        body,
        components: affected,
        started_at,
        scheduled_for,
        scheduled_until,
        published: true,
    };
    let inc = state.db(move |c| Ok(write_tx(c, |c| service::create(c, &actor, &n, now))?)).await?;
    refreshed(&state).await;
    let what = if maintenance {
        "The maintenance is scheduled and shown on the status page."
    } else {
        "The incident is published on the status page."
    };
    Ok(flash::redirect_with(&req, &format!("/admin/status/incidents/{}", inc.id), "success", what))
}

#[derive(Template)]
#[template(path = "status/admin_incident.html")]
struct DetailPage {
    ctx: PageCtx,
    i: Incident,
    updates: Vec<(IncidentUpdate, String)>,
    affected: Vec<(i64, String, String)>,
    statuses: Vec<(String, String)>,
    component_statuses: Vec<(String, String)>,
    can_manage: bool,
    can_update: bool,
    errors: FormErrors,
    body: String,
    postmortem: String,
    started_value: String,
    resolved_value: String,
}

async fn detail_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    id: i64,
    errors: FormErrors,
    body: String,
) -> AppResult<DetailPage> {
    let (i, updates, affected, components) = state
        .db(move |c| {
            Ok((
                store::incident(c, id)?,
                store::updates_of(c, &[id])?,
                store::affected_of(c, &[id])?,
                store::components(c)?,
            ))
        })
        .await?;
    let name_of =
        |cid: i64| components.iter().find(|c| c.id == cid).map(|c| c.name.clone()).unwrap_or_default();
    let statuses =
        if i.kind == "maintenance" { pairs(&MAINTENANCE_STATUSES) } else { pairs(&INCIDENT_STATUSES) };
    Ok(DetailPage {
        ctx: PageCtx::new(req, i.name.clone()),
        updates: updates
            .into_iter()
            .rev()
            .map(|u| {
                let who = label(&u.status).to_string();
                (u, who)
            })
            .collect(),
        affected: affected
            .iter()
            .map(|a| (a.component_id, name_of(a.component_id), a.status.clone()))
            .collect(),
        statuses,
        component_statuses: pairs(&COMPONENT_STATUSES[1..4]),
        can_manage: p.can(Action::ManageIncidents),
        can_update: p.can(Action::PostIncidentUpdate),
        errors,
        body,
        postmortem: i.postmortem_body.clone().unwrap_or_default(),
        started_value: i.started_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
        resolved_value: i.resolved_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
        i,
    })
}

async fn incident_detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewStatusAdmin)?;
    render(&detail_page(&req, &p, &state, id.into_inner(), FormErrors::new(), String::new()).await?)
}

#[derive(Debug, Deserialize)]
struct UpdateForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    body: String,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

async fn post_update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<UpdateForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::PostIncidentUpdate)?;
    let id = id.into_inner();
    let inc = state.db(move |c| Ok(store::incident(c, id)?)).await?;
    let allowed = if inc.kind == "maintenance" { &MAINTENANCE_STATUSES } else { &INCIDENT_STATUSES };
    let mut errors = FormErrors::new();
    if !allowed.iter().any(|(k, _)| *k == f.status) {
        errors.add("status", "Choose a status.");
    }
    let body = form::required_text(&mut errors, "body", "a message for customers", &f.body, 10_000);
    let mut components = Vec::new();
    for (key, value) in &f.rest {
        if let Some(cid) = key.strip_prefix("component_").and_then(|s| s.parse::<i64>().ok())
            && COMPONENT_STATUSES.iter().any(|(k, _)| k == value)
        {
            components.push((cid, value.clone()));
        }
    }
    if !errors.is_empty() {
        let page = detail_page(&req, &p, &state, id, errors, f.body.clone()).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let status = f.status.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| service::post_update(c, &actor, &inc, &status, &body, &components, now))?)
        })
        .await?;
    refreshed(&state).await;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/status/incidents/{id}"),
        "success",
        format!("Update posted: {}.", label(&f.status)),
    ))
}

#[derive(Debug, Deserialize)]
struct PostmortemForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    publish: String,
}

async fn save_postmortem(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<PostmortemForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageIncidents)?;
    let id = id.into_inner();
    let inc = state.db(move |c| Ok(store::incident(c, id)?)).await?;
    let mut errors = FormErrors::new();
    let body = form::required_text(&mut errors, "postmortem", "the postmortem", &f.body, 50_000);
    if !errors.is_empty() {
        let page = detail_page(&req, &p, &state, id, errors, String::new()).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let publish = f.publish == "yes";
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| Ok(write_tx(c, |c| service::save_postmortem(c, &actor, &inc, &body, publish, now))?))
        .await?;
    refreshed(&state).await;
    let msg = if publish {
        "The postmortem is published on the incident's page."
    } else {
        "The postmortem draft is saved (not public)."
    };
    Ok(flash::redirect_with(&req, &format!("/admin/status/incidents/{id}"), "success", msg))
}

#[derive(Debug, Deserialize)]
struct WindowForm {
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    resolved_at: String,
}

async fn correct_window(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<WindowForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageIncidents)?;
    let id = id.into_inner();
    let inc = state.db(move |c| Ok(store::incident(c, id)?)).await?;
    if inc.kind != "incident" {
        return Err(AppError::NotFound);
    }
    let mut errors = FormErrors::new();
    let started = parse_local(&f.started_at);
    if started.is_none() {
        errors.add("started_at", "Enter when customers started to be affected, like 2026-11-23T14:30 (UTC).");
    }
    let resolved = if f.resolved_at.trim().is_empty() { None } else { parse_local(&f.resolved_at) };
    if !f.resolved_at.trim().is_empty() && resolved.is_none() {
        errors.add(
            "resolved_at",
            "Enter a date and time like 2026-11-23T15:10 (UTC), or leave it empty while ongoing.",
        );
    }
    if let (Some(a), Some(b)) = (started, resolved)
        && b <= a
    {
        errors.add("resolved_at", "The end of the impact must be after its start.");
    }
    if !errors.is_empty() {
        let page = detail_page(&req, &p, &state, id, errors, String::new()).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| Ok(write_tx(c, |c| service::correct_window(c, &actor, &inc, started, resolved, now))?))
        .await?;
    refreshed(&state).await;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/status/incidents/{id}"),
        "success",
        "The customer-impact window was corrected (audited).",
    ))
}

/// The probe form, as typed.
#[derive(Debug, Deserialize, Default, Clone)]
struct ProbeForm {
    #[serde(default)]
    component_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    expect: String,
    #[serde(default)]
    body_contains: String,
    #[serde(default)]
    interval_seconds: String,
    #[serde(default)]
    failure_threshold: String,
    #[serde(default)]
    timeout_ms: String,
}

async fn create_probe(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ProbeForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageComponents)?;
    let mut errors = FormErrors::new();
    let comps = state.db(|c| Ok(store::components(c)?)).await?;
    let component_id = f
        .component_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| comps.iter().any(|c| c.id == *id && !c.is_group));
    if component_id.is_none() {
        errors.add("probe_component_id", "Choose a component.");
    }
    let kind = if f.kind == "heartbeat" { "heartbeat" } else { "http" };
    let url = f.url.trim().to_string();
    if kind == "http" {
        match reqwest::Url::parse(&url) {
            Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => {}
            _ => errors.add("probe_url", "Enter a full address like https://app.example.com/healthz."),
        }
    }
    let (expect_min, expect_max) = match f.expect.trim() {
        "" => (200, 299),
        s => match s.split_once('-').map(|(a, b)| (a.trim().parse::<i32>(), b.trim().parse::<i32>())) {
            Some((Ok(a), Ok(b))) if (100..=599).contains(&a) && (100..=599).contains(&b) && a <= b => (a, b),
            _ => match s.parse::<i32>() {
                Ok(a) if (100..=599).contains(&a) => (a, a),
                _ => {
                    errors.add("probe_expect", "Use a status code or a range like 200-299.");
                    (200, 299)
                }
            },
        },
    };
    let num = |errors: &mut FormErrors,
               field: &str,
               raw: &str,
               default: i64,
               min: i64,
               max: i64,
               label: &str|
     -> i32 {
        if raw.trim().is_empty() {
            return default as i32;
        }
        form::integer(errors, field, label, raw, min, max).unwrap_or(default) as i32
    };
    let interval =
        num(&mut errors, "probe_interval_seconds", &f.interval_seconds, 60, 30, 86_400, "the interval");
    let threshold =
        num(&mut errors, "probe_failure_threshold", &f.failure_threshold, 3, 1, 20, "the failure threshold");
    let timeout = num(&mut errors, "probe_timeout_ms", &f.timeout_ms, 5000, 100, 60_000, "the timeout");
    let body_contains =
        form::optional_text(&mut errors, "probe_body_contains", "the expected text", &f.body_contains, 200)
            .unwrap_or_default();
    let Some(component_id) = component_id.filter(|_| errors.is_empty()) else {
        let page = overview_page_with(&req, &p, &state, String::new(), FormErrors::new(), f, errors).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let token = (kind == "heartbeat").then(crate::web::token::random_token);
    let probe = super::probes::NewProbe {
        component_id,
        kind: kind.into(),
        url: if kind == "http" { url } else { String::new() },
        expect_min,
        expect_max,
        body_contains,
        timeout_ms: timeout,
        interval_seconds: interval,
        failure_threshold: threshold,
        heartbeat_token_hash: token.as_ref().map(|t| crate::web::token::sha256_hex(t.as_bytes())),
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state.db(move |c| Ok(write_tx(c, |c| super::probes::insert(c, &actor, &probe, now))?)).await?;
    let msg = match token {
        Some(t) => format!(
            "Heartbeat added. Have your job POST to {}/api/v1/heartbeat/{t} at least every {interval} seconds. Copy this address now: it is shown only once.",
            state.config().base_url
        ),
        None => "Probe added. It runs every minute it is due, except during announced maintenance.".into(),
    };
    Ok(flash::redirect_with(&req, "/admin/status", "success", msg))
}

async fn delete_probe(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageComponents)?;
    let id = id.into_inner();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let n = state.db(move |c| Ok(write_tx(c, |c| super::probes::delete(c, &actor, id, now))?)).await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(flash::redirect_with(&req, "/admin/status", "success", "The probe was removed."))
}
