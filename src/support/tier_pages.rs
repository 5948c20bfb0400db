//! The SLA tier pages for internal admins: the list (`/admin/support/tiers`), one tier's
//! targets, contacts, business calendar, holidays (with a yearly import) and uptime commitment,
//! and setting a tenant's tier from its admin page. Every change is audited.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;

use super::calendar;
use super::tiers::{self, SEVERITIES, TargetRow, Tier, TierFull, UNITS};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::schema::{sla_holidays as sh, sla_targets as stg, sla_tiers as tr, tenants};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/support/tiers", web::get().to(list))
        .route("/admin/support/tiers", web::post().to(create))
        .route("/admin/support/tiers/{id}", web::get().to(edit))
        .route("/admin/support/tiers/{id}", web::post().to(save))
        .route("/admin/support/tiers/{id}/holidays", web::post().to(import_holidays))
        .route("/admin/support/tiers/{id}/holidays/{hid}/delete", web::post().to(delete_holiday))
        .route("/admin/tenants/{id}/tier", web::post().to(set_tenant_tier));
}

/// A tier on the list.
pub struct TierRow {
    pub tier: Tier,
    pub tenants: i64,
    pub hours: String,
    pub p1: String,
    pub commitment: String,
}

#[derive(Template)]
#[template(path = "support/tiers.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<TierRow>,
    key: String,
    tier_name: String,
    errors: FormErrors,
    can_manage: bool,
}

async fn load_list(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    key: String,
    name: String,
    errors: FormErrors,
) -> AppResult<ListPage> {
    let rows = state
        .db(|c| {
            let mut rows = Vec::new();
            for t in tiers::all(c)? {
                let n: i64 = tenants::table.filter(tenants::sla_tier_id.eq(t.id)).count().get_result(c)?;
                let f = tiers::full(c, t.id)?;
                let cal = f.calendar();
                rows.push(TierRow {
                    hours: cal.describe(),
                    p1: f
                        .target("P1", tiers::Which::Response)
                        .map(|x| x.describe(&cal))
                        .unwrap_or_else(|| "best effort".into()),
                    commitment: f.commitment().map(|v| format!("{v}%")).unwrap_or_else(|| "none".into()),
                    tenants: n,
                    tier: t,
                });
            }
            Ok(rows)
        })
        .await?;
    Ok(ListPage {
        ctx: PageCtx::new(req, "SLA tiers"),
        rows,
        key,
        tier_name: name,
        errors,
        can_manage: p.can(Action::ManageSla),
    })
}

async fn list(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    render(&load_list(&req, &p, &state, String::new(), String::new(), FormErrors::new()).await?)
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<CreateForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageSla)?;
    let mut e = FormErrors::new();
    let key = f.key.trim().to_ascii_lowercase();
    if key.is_empty() {
        e.add("key", "Enter a key, e.g. premium.");
    } else if key.len() > 40
        || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        e.add("key", "Use lower-case letters, digits, - and _ only (at most 40).");
    }
    let name = form::required_text(&mut e, "name", "a name", &f.name, 60);
    if e.is_empty() {
        let k = key.clone();
        let taken =
            state.db(move |c| Ok(tr::table.filter(tr::key.eq(&k)).count().get_result::<i64>(c)? > 0)).await?;
        if taken {
            e.add("key", "A tier with this key exists already.");
        }
    }
    if !e.is_empty() {
        let page = load_list(&req, &p, &state, f.key, f.name, e).await?;
        return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let id = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let position: i32 = tr::table.count().get_result::<i64>(c)? as i32;
                let id: i64 = diesel::insert_into(tr::table)
                    .values((
                        tr::key.eq(&key),
                        tr::name.eq(&name),
                        tr::position.eq(position),
                        tr::created_at.eq(now),
                        tr::updated_at.eq(now),
                    ))
                    .returning(tr::id)
                    .get_result(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("sla_tier.create", "sla_tier", id)
                        .details(serde_json::json!({"key": key, "name": name})),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(id)
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/support/tiers/{id}"),
        "success",
        "Tier created: set its targets below.",
    ))
}

/// One severity's fields as typed.
pub struct TargetFields {
    pub severity: &'static str,
    pub definition: &'static str,
    pub response_amount: String,
    pub response_unit: String,
    pub resolution_amount: String,
    pub resolution_unit: String,
    pub error: String,
}

/// The tier form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
struct TierForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    support_email: String,
    #[serde(default)]
    support_phone: String,
    #[serde(default)]
    routing_email: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    working_days: String,
    #[serde(default)]
    opens: String,
    #[serde(default)]
    closes: String,
    #[serde(default)]
    uptime_commitment: String,
    #[serde(default)]
    credit_schedule: String,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl TierForm {
    fn of(f: &TierFull) -> Self {
        let t = &f.tier;
        let mut rest = HashMap::new();
        for r in &f.targets {
            let s = &r.severity;
            rest.insert(format!("resp_{s}"), r.response_amount.map(|v| v.to_string()).unwrap_or_default());
            rest.insert(format!("resp_unit_{s}"), r.response_unit.clone());
            rest.insert(format!("res_{s}"), r.resolution_amount.map(|v| v.to_string()).unwrap_or_default());
            rest.insert(format!("res_unit_{s}"), r.resolution_unit.clone());
        }
        TierForm {
            name: t.name.clone(),
            support_email: t.support_email.clone(),
            support_phone: t.support_phone.clone(),
            routing_email: t.routing_email.clone(),
            time_zone: t.time_zone.clone(),
            working_days: t.working_days.clone(),
            opens: t.opens.clone(),
            closes: t.closes.clone(),
            uptime_commitment: t.uptime_commitment.clone(),
            credit_schedule: tiers::format_schedule(&f.schedule()),
            rest,
        }
    }

    fn get(&self, k: &str) -> String {
        self.rest.get(k).map(|v| v.trim().to_string()).unwrap_or_default()
    }

    fn fields(&self, e: &FormErrors) -> Vec<TargetFields> {
        SEVERITIES
            .iter()
            .map(|s| TargetFields {
                severity: s,
                definition: tiers::severity_definition(s),
                response_amount: self.get(&format!("resp_{s}")),
                response_unit: unit_or(&self.get(&format!("resp_unit_{s}")), "business_hours"),
                resolution_amount: self.get(&format!("res_{s}")),
                resolution_unit: unit_or(&self.get(&format!("res_unit_{s}")), "business_days"),
                error: e.get(&format!("target_{s}")).to_string(),
            })
            .collect()
    }
}

fn unit_or(u: &str, default: &str) -> String {
    if UNITS.iter().any(|(k, _)| *k == u) { u.to_string() } else { default.to_string() }
}

/// A validated tier form.
struct Parsed {
    name: String,
    support_email: String,
    support_phone: String,
    routing_email: String,
    time_zone: String,
    working_days: String,
    opens: String,
    closes: String,
    uptime_commitment: String,
    credit_schedule: String,
    targets: Vec<TargetRow>,
}

fn parse(f: &TierForm, tier_id: i64) -> Result<Parsed, FormErrors> {
    let mut e = FormErrors::new();
    let name = form::required_text(&mut e, "name", "a name", &f.name, 60);
    let email = |e: &mut FormErrors, field: &str, raw: &str| {
        let v = raw.trim().to_ascii_lowercase();
        if !v.is_empty() && !form::is_email(&v) {
            e.add(field, "Enter an email address like support@vendor.com, or leave it empty.");
        }
        v
    };
    let support_email = email(&mut e, "support_email", &f.support_email);
    let routing_email = email(&mut e, "routing_email", &f.routing_email);
    let support_phone =
        form::optional_text(&mut e, "support_phone", "the phone number", &f.support_phone, 40)
            .unwrap_or_default();
    let time_zone = f.time_zone.trim().to_string();
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        e.add("time_zone", "Enter an IANA time zone, e.g. America/Chicago.");
    }
    let working_days = match calendar::parse_days(&f.working_days) {
        Ok(d) => calendar::format_days(&d),
        Err(m) => {
            e.add("working_days", m);
            f.working_days.clone()
        }
    };
    let (opens, closes) = (tiers::parse_time(&f.opens), tiers::parse_time(&f.closes));
    if opens.is_none() {
        e.add("opens", "Enter the opening time as HH:MM, e.g. 08:00.");
    }
    if closes.is_none() {
        e.add("closes", "Enter the closing time as HH:MM, e.g. 18:00.");
    }
    if let (Some(o), Some(c)) = (opens, closes)
        && c <= o
    {
        e.add("closes", "Closing time must be after opening time.");
    }
    let commitment = f.uptime_commitment.trim().trim_end_matches('%').trim().to_string();
    if !commitment.is_empty() && commitment.parse::<f64>().ok().filter(|v| *v > 0.0 && *v <= 100.0).is_none()
    {
        e.add("uptime_commitment", "Enter a percent between 0 and 100, e.g. 99.9, or leave it empty.");
    }
    let schedule = match tiers::parse_schedule(&f.credit_schedule) {
        Ok(s) => s,
        Err(m) => {
            e.add("credit_schedule", m);
            Vec::new()
        }
    };
    if commitment.is_empty() && !schedule.is_empty() {
        e.add("credit_schedule", "A credit schedule needs an uptime commitment.");
    }
    let mut targets = Vec::new();
    for s in SEVERITIES {
        let amount = |raw: String| -> Result<Option<i32>, ()> {
            if raw.is_empty() {
                return Ok(None);
            }
            match raw.parse::<i32>() {
                Ok(v) if (1..=1000).contains(&v) => Ok(Some(v)),
                _ => Err(()),
            }
        };
        let resp = amount(f.get(&format!("resp_{s}")));
        let res = amount(f.get(&format!("res_{s}")));
        match (resp, res) {
            (Ok(r1), Ok(r2)) => targets.push(TargetRow {
                tier_id,
                severity: s.to_string(),
                response_amount: r1,
                response_unit: unit_or(&f.get(&format!("resp_unit_{s}")), "business_hours"),
                resolution_amount: r2,
                resolution_unit: unit_or(&f.get(&format!("res_unit_{s}")), "business_days"),
            }),
            _ => e.add(
                &format!("target_{s}"),
                format!("{s}: enter whole numbers from 1 to 1000, or leave empty for no target."),
            ),
        }
    }
    e.finish(Parsed {
        name,
        support_email,
        support_phone,
        routing_email,
        time_zone,
        working_days,
        opens: opens.map(|t| t.format("%H:%M").to_string()).unwrap_or_default(),
        closes: closes.map(|t| t.format("%H:%M").to_string()).unwrap_or_default(),
        uptime_commitment: commitment,
        credit_schedule: serde_json::to_string(&schedule).unwrap_or_else(|_| "[]".into()),
        targets,
    })
}

#[derive(Template)]
#[template(path = "support/tier.html")]
struct EditPage {
    ctx: PageCtx,
    t: TierFull,
    f: TierForm,
    targets: Vec<TargetFields>,
    sentences: Vec<String>,
    errors: FormErrors,
    holidays_text: String,
    holiday_errors: Vec<(usize, String)>,
    can_manage: bool,
    units: [(&'static str, &'static str); 3],
}

#[allow(clippy::too_many_arguments)]
async fn load_edit(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    id: i64,
    f: Option<TierForm>,
    errors: FormErrors,
    holidays_text: String,
    holiday_errors: Vec<(usize, String)>,
) -> AppResult<EditPage> {
    let t = state.db(move |c| Ok(tiers::full(c, id)?)).await?;
    let f = f.unwrap_or_else(|| TierForm::of(&t));
    Ok(EditPage {
        ctx: PageCtx::new(req, format!("{} tier", t.tier.name)),
        targets: f.fields(&errors),
        sentences: SEVERITIES.iter().map(|s| t.sentence(s)).collect(),
        t,
        f,
        errors,
        holidays_text,
        holiday_errors,
        can_manage: p.can(Action::ManageSla),
        units: UNITS,
    })
}

async fn edit(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    render(
        &load_edit(&req, &p, &state, id.into_inner(), None, FormErrors::new(), String::new(), Vec::new())
            .await?,
    )
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<TierForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageSla)?;
    let id = id.into_inner();
    let parsed = match parse(&f, id) {
        Ok(v) => v,
        Err(e) => {
            let page = load_edit(&req, &p, &state, id, Some(f), e, String::new(), Vec::new()).await?;
            return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let name = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let before = tiers::full(c, id)?;
                diesel::update(tr::table.find(id))
                    .set((
                        tr::name.eq(&parsed.name),
                        tr::support_email.eq(&parsed.support_email),
                        tr::support_phone.eq(&parsed.support_phone),
                        tr::routing_email.eq(&parsed.routing_email),
                        tr::time_zone.eq(&parsed.time_zone),
                        tr::working_days.eq(&parsed.working_days),
                        tr::opens.eq(&parsed.opens),
                        tr::closes.eq(&parsed.closes),
                        tr::uptime_commitment.eq(&parsed.uptime_commitment),
                        tr::credit_schedule.eq(&parsed.credit_schedule),
                        tr::updated_at.eq(now),
                    ))
                    .execute(c)?;
                diesel::delete(stg::table.filter(stg::tier_id.eq(id))).execute(c)?;
                for t in &parsed.targets {
                    diesel::insert_into(stg::table).values(t).execute(c)?;
                }
                let targets = |rows: &[TargetRow]| -> serde_json::Value {
                    rows.iter()
                        .map(|r| {
                            serde_json::json!({"severity": r.severity, "response": [r.response_amount, r.response_unit],
                                "resolution": [r.resolution_amount, r.resolution_unit]})
                        })
                        .collect()
                };
                audit::record(
                    c,
                    &actor,
                    Event::new("sla_tier.update", "sla_tier", id).details(serde_json::json!({
                        "before": {"name": before.tier.name, "hours": [before.tier.working_days, before.tier.opens, before.tier.closes, before.tier.time_zone],
                            "commitment": before.tier.uptime_commitment, "credit_schedule": before.tier.credit_schedule, "targets": targets(&before.targets),
                            "routing_email": before.tier.routing_email},
                        "after": {"name": parsed.name, "hours": [parsed.working_days, parsed.opens, parsed.closes, parsed.time_zone],
                            "commitment": parsed.uptime_commitment, "credit_schedule": parsed.credit_schedule, "targets": targets(&parsed.targets),
                            "routing_email": parsed.routing_email},
                    })),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(parsed.name.clone())
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/support/tiers/{id}"),
        "success",
        format!("{name} saved. New requests get the new targets; open ones keep theirs."),
    ))
}

#[derive(Debug, Deserialize)]
struct HolidaysForm {
    #[serde(default)]
    holidays: String,
}

async fn import_holidays(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<HolidaysForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageSla)?;
    let id = id.into_inner();
    let list = match calendar::parse_holidays(&f.holidays) {
        Ok(l) if !l.is_empty() => l,
        Ok(_) => vec![],
        Err(errs) => {
            let page = load_edit(&req, &p, &state, id, None, FormErrors::new(), f.holidays, errs).await?;
            return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    if list.is_empty() {
        let errs = vec![(1, "Paste at least one holiday, e.g. 2027-01-01 New Year's Day.".to_string())];
        let page = load_edit(&req, &p, &state, id, None, FormErrors::new(), f.holidays, errs).await?;
        return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let (added, updated) = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                tiers::full(c, id)?;
                let (mut added, mut updated) = (0, 0);
                for (day, name) in &list {
                    let n = diesel::update(sh::table.filter(sh::tier_id.eq(id)).filter(sh::day.eq(day)))
                        .set(sh::name.eq(name))
                        .execute(c)?;
                    if n == 0 {
                        diesel::insert_into(sh::table)
                            .values((sh::tier_id.eq(id), sh::day.eq(day), sh::name.eq(name)))
                            .execute(c)?;
                        added += 1;
                    } else {
                        updated += 1;
                    }
                }
                audit::record(
                    c,
                    &actor,
                    Event::new("sla_tier.holidays_import", "sla_tier", id).details(serde_json::json!({
                        "holidays": list.iter().map(|(d, n)| format!("{d} {n}")).collect::<Vec<_>>(),
                    })),
                    now,
                )?;
                Ok::<_, diesel::result::Error>((added, updated))
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/support/tiers/{id}#holidays-h"),
        "success",
        format!("{added} holidays added, {updated} renamed."),
    ))
}

async fn delete_holiday(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
    form: CsrfForm<form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageSla)?;
    let (id, hid) = path.into_inner();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let h: tiers::HolidayRow = sh::table
                    .find(hid)
                    .filter(sh::tier_id.eq(id))
                    .select(tiers::HolidayRow::as_select())
                    .first(c)?;
                diesel::delete(sh::table.find(hid)).execute(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("sla_tier.holiday_delete", "sla_tier", id)
                        .details(serde_json::json!({"day": h.day.to_string(), "name": h.name})),
                    now,
                )
            })?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/support/tiers/{id}#holidays-h"),
        "success",
        "Holiday removed.",
    ))
}

#[derive(Debug, Deserialize)]
struct TenantTierForm {
    #[serde(default)]
    tier_id: String,
}

async fn set_tenant_tier(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<TenantTierForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageSla)?;
    let id = id.into_inner();
    let tier: Option<i64> = match f.tier_id.trim() {
        "" => None,
        v => Some(v.parse().map_err(|_| AppError::BadRequest("Unknown tier.".into()))?),
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let msg = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let t = crate::tenancy::store::find(c, id)?;
                let name = match tier {
                    Some(tid) => Some(tr::table.find(tid).select(tr::name).first::<String>(c)?),
                    None => None,
                };
                let before = match t.sla_tier_id {
                    Some(b) => tr::table.find(b).select(tr::name).first::<String>(c).optional()?,
                    None => None,
                };
                diesel::update(tenants::table.find(id))
                    .set((tenants::sla_tier_id.eq(tier), tenants::updated_at.eq(now)))
                    .execute(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("tenant.sla_tier", "tenant", id)
                        .tenant(Some(id))
                        .details(serde_json::json!({"before": before, "after": name})),
                    now,
                )?;
                Ok::<_, diesel::result::Error>(match (name, t.kind.as_str()) {
                    (Some(n), _) => format!("{} now has the {n} tier.", t.name),
                    (None, "school") => format!("{} now follows its district's tier.", t.name),
                    (None, _) => {
                        format!("{} has no tier: best-effort support, no uptime commitment.", t.name)
                    }
                })
            })?)
        })
        .await?;
    Ok(flash::redirect_with(&req, &format!("/admin/tenants/{id}#tier-h"), "success", msg))
}
