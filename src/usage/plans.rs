//! Plans (`/admin/usage/plans`): versioned price lists. A plan has a seat price per year or month,
//! and for each metric an included quantity and an overage unit price (decimals, sub-cent
//! allowed). Saving a plan whose key exists makes a new version; tenants stay on their version
//! until a platform admin moves them (from the tenant's usage page). Every change is audited.
//! A new invoice draft for a tenant on a plan starts with its licence line and last month's
//! overage.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Months, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::model::{Aggregation, Metric, month_start};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::billing::invoice::{NewLine, parse_decimal};
use crate::billing::money;
use crate::db::schema::{plan_metrics as pm, plans as pl, tenant_plans as tp};
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usage/plans", web::get().to(page))
        .route("/admin/usage/plans", web::post().to(save))
        .route("/usage/plan", web::post().to(assign_form));
}

/// A plan version.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = pl)]
pub struct Plan {
    pub id: i64,
    pub key: String,
    pub version: i32,
    pub name: String,
    pub currency: String,
    /// Decimal text in major units.
    pub seat_price: String,
    /// `year | month`.
    pub period: String,
    /// Comma-separated feature flags.
    pub features: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

impl Plan {
    /// "Standard v2".
    pub fn label(&self) -> String {
        format!("{} v{}", self.name, self.version)
    }

    /// The seat price for display ("$38.80 per seat per year").
    pub fn price_label(&self) -> String {
        let price = money::currency(&self.currency)
            .zip(parse_decimal(&self.seat_price))
            .map(|(c, d)| format!("{}{}", c.symbol, money::format_unit_price(d, c)))
            .unwrap_or_else(|| self.seat_price.clone());
        format!("{price} per seat per {}", self.period)
    }

    /// Feature flags as a list.
    pub fn feature_list(&self) -> Vec<String> {
        self.features.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect()
    }
}

/// What a plan includes of one metric.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = pm)]
pub struct PlanMetric {
    pub plan_id: i64,
    pub metric_id: i64,
    pub included: f64,
    pub overage_price: String,
}

/// A tenant's plan.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tp)]
pub struct TenantPlan {
    pub tenant_id: i64,
    pub plan_id: i64,
    pub seats: i32,
    pub assigned_by: Option<i64>,
    pub assigned_at: NaiveDateTime,
}

/// Every plan version, newest first.
pub fn all(c: &mut DbConn) -> QueryResult<Vec<Plan>> {
    pl::table.order((pl::key, pl::version.desc())).select(Plan::as_select()).load(c)
}

/// A plan version's included quantities.
pub fn metrics_of(c: &mut DbConn, plan: i64) -> QueryResult<Vec<PlanMetric>> {
    pm::table.filter(pm::plan_id.eq(plan)).select(PlanMetric::as_select()).load(c)
}

/// A tenant's plan, with its version and included quantities.
pub fn of_tenant(c: &mut DbConn, tenant: i64) -> QueryResult<Option<(TenantPlan, Plan, Vec<PlanMetric>)>> {
    let Some(t) = tp::table.find(tenant).select(TenantPlan::as_select()).first(c).optional()? else {
        return Ok(None);
    };
    let p = pl::table.find(t.plan_id).select(Plan::as_select()).first(c)?;
    let ms = metrics_of(c, p.id)?;
    Ok(Some((t, p, ms)))
}

/// A plan version to save.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewPlan {
    pub key: String,
    pub name: String,
    pub currency: String,
    pub seat_price: String,
    pub period: String,
    pub features: String,
    /// (metric id, included, overage unit price)
    pub metrics: Vec<(i64, f64, String)>,
}

/// Saves a plan: version 1 for a new key, the next version otherwise. Returns (id, version).
pub fn save_version(
    c: &mut DbConn,
    actor: &Actor,
    p: &NewPlan,
    now: NaiveDateTime,
) -> QueryResult<(i64, i32)> {
    let last: Option<i32> =
        pl::table.filter(pl::key.eq(&p.key)).select(diesel::dsl::max(pl::version)).first(c)?;
    let version = last.unwrap_or(0) + 1;
    let id = diesel::insert_into(pl::table)
        .values((
            pl::key.eq(&p.key),
            pl::version.eq(version),
            pl::name.eq(&p.name),
            pl::currency.eq(&p.currency),
            pl::seat_price.eq(&p.seat_price),
            pl::period.eq(&p.period),
            pl::features.eq(&p.features),
            pl::created_by.eq(actor.user_id),
            pl::created_at.eq(now),
        ))
        .returning(pl::id)
        .get_result(c)?;
    for (metric, included, price) in &p.metrics {
        diesel::insert_into(pm::table)
            .values((
                pm::plan_id.eq(id),
                pm::metric_id.eq(metric),
                pm::included.eq(included),
                pm::overage_price.eq(price),
            ))
            .execute(c)?;
    }
    audit::record(
        c,
        actor,
        Event::new("usage.plan_version", "plan", id)
            .details(serde_json::json!({"key": p.key, "version": version, "plan": p})),
        now,
    )?;
    Ok((id, version))
}

/// Puts a tenant on a plan version with a number of seats, audited with before and after.
pub fn assign(
    c: &mut DbConn,
    actor: &Actor,
    tenant: i64,
    plan: i64,
    seats: i32,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let before = tp::table.find(tenant).select(TenantPlan::as_select()).first(c).optional()?;
    if before.is_some() {
        diesel::update(tp::table.find(tenant))
            .set((
                tp::plan_id.eq(plan),
                tp::seats.eq(seats),
                tp::assigned_by.eq(actor.user_id),
                tp::assigned_at.eq(now),
            ))
            .execute(c)?;
    } else {
        diesel::insert_into(tp::table)
            .values((
                tp::tenant_id.eq(tenant),
                tp::plan_id.eq(plan),
                tp::seats.eq(seats),
                tp::assigned_by.eq(actor.user_id),
                tp::assigned_at.eq(now),
            ))
            .execute(c)?;
    }
    audit::record(
        c,
        actor,
        Event::new("usage.plan_assign", "tenant", tenant).tenant(Some(tenant)).details(serde_json::json!({
            "before": before.map(|b| serde_json::json!({"plan_id": b.plan_id, "seats": b.seats})),
            "after": {"plan_id": plan, "seats": seats},
        })),
        now,
    )?;
    Ok(())
}

/// The lines a new invoice for `tenant` starts with: its plan's seats at the seat price, and
/// for each counted or summed metric with an overage price, last calendar month's usage beyond
/// what the plan includes. Empty without a plan (or in another currency than the invoice's).
pub fn invoice_lines(
    c: &mut DbConn,
    tenant: i64,
    currency: &str,
    today: NaiveDate,
) -> QueryResult<Vec<NewLine>> {
    let Some((t, plan, included)) = of_tenant(c, tenant)? else { return Ok(Vec::new()) };
    if plan.currency != currency {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    if let Some(price) = parse_decimal(&plan.seat_price) {
        out.push(NewLine {
            description: format!("{} plan, {} seats, per {}", plan.name, t.seats, plan.period),
            kind: "license".into(),
            quantity: Decimal::from(t.seats),
            unit_price: price,
        });
    }
    let this_month = month_start(today);
    let last_month = this_month.checked_sub_months(Months::new(1)).unwrap_or(this_month);
    let covered = super::caps::covered(c, tenant)?;
    for inc in included {
        let Some(price) = parse_decimal(&inc.overage_price).filter(|p| *p > Decimal::ZERO) else { continue };
        let metric: Metric = super::store::metric(c, inc.metric_id)?;
        if !matches!(metric.agg(), Aggregation::Count | Aggregation::Sum) {
            continue;
        }
        use crate::db::schema::usage_daily as ud;
        let used: Option<f64> = ud::table
            .filter(ud::tenant_id.eq_any(covered.clone()))
            .filter(ud::metric_id.eq(metric.id))
            .filter(ud::day.ge(last_month))
            .filter(ud::day.lt(this_month))
            .select(diesel::dsl::sum(ud::value))
            .first(c)?;
        let over = used.unwrap_or(0.0) - inc.included;
        if over > 0.0 {
            out.push(NewLine {
                description: format!(
                    "{} above the {} included, {}",
                    metric.name,
                    super::caps::fmt_num(inc.included),
                    last_month.format("%B %Y")
                ),
                kind: "add_on".into(),
                quantity: Decimal::from_f64_retain(over.round()).unwrap_or_default(),
                unit_price: price,
            });
        }
    }
    Ok(out)
}

/// One plan version as listed.
pub struct PlanRow {
    pub plan: Plan,
    pub included: Vec<(String, String, String)>,
    pub tenants: i64,
    pub latest: bool,
}

#[derive(Template)]
#[template(path = "usage/plans.html")]
struct PlansPage {
    ctx: PageCtx,
    rows: Vec<PlanRow>,
    /// Per metric: the metric, the typed included and overage values and their errors.
    metric_rows: Vec<(Metric, String, String, String, String)>,
    f: PlanForm,
    errors: FormErrors,
    can_manage: bool,
    currencies: Vec<String>,
}

/// The plan form as typed: per-metric fields are `included_{id}` and `overage_{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub seat_price: String,
    #[serde(default)]
    pub period: String,
    #[serde(default)]
    pub features: String,
    #[serde(flatten)]
    pub rest: std::collections::HashMap<String, String>,
}

impl PlanForm {
    fn parse(&self, metrics: &[Metric]) -> Result<NewPlan, FormErrors> {
        let mut e = FormErrors::new();
        let key = self.key.trim().to_lowercase();
        if key.is_empty()
            || key.len() > 40
            || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            e.add(
                "key",
                "Use lower-case letters, digits, dashes or underscores (at most 40), e.g. standard.",
            );
        }
        let name = form::required_text(&mut e, "name", "a name", &self.name, 60);
        let cur = money::currency(&self.currency);
        if cur.is_none() {
            e.add("currency", "Choose a currency from the list.");
        }
        let price = match parse_decimal(&self.seat_price) {
            Some(p) if p >= Decimal::ZERO => p.normalize().to_string(),
            _ => {
                e.add("seat_price", "Enter the price per seat as a number of at least 0, e.g. 38.80.");
                String::new()
            }
        };
        let period = if self.period == "month" { "month" } else { "year" };
        let mut ms = Vec::new();
        for m in metrics {
            let inc = self.rest.get(&format!("included_{}", m.id)).cloned().unwrap_or_default();
            let over = self.rest.get(&format!("overage_{}", m.id)).cloned().unwrap_or_default();
            if inc.trim().is_empty() && over.trim().is_empty() {
                continue;
            }
            let included =
                match super::pages::parse_limit(if inc.trim().is_empty() { "0" } else { &inc }, &m.unit) {
                    Ok(v) => v,
                    Err(msg) => {
                        e.add(&format!("included_{}", m.id), msg);
                        0.0
                    }
                };
            let overage = match parse_decimal(if over.trim().is_empty() { "0" } else { &over }) {
                Some(p) if p >= Decimal::ZERO => p.normalize().to_string(),
                _ => {
                    e.add(&format!("overage_{}", m.id), "Enter a unit price of at least 0, e.g. 0.012.");
                    String::new()
                }
            };
            ms.push((m.id, included, overage));
        }
        let features: Vec<String> =
            self.features.split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
        e.finish(NewPlan {
            key,
            name,
            currency: cur.map(|c| c.code.to_string()).unwrap_or_default(),
            seat_price: price,
            period: period.into(),
            features: features.join(", "),
            metrics: ms,
        })
    }
}

async fn load(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    f: PlanForm,
    errors: FormErrors,
) -> AppResult<PlansPage> {
    let (plans, metrics, counts, inc) = state
        .db(|c| {
            let plans = all(c)?;
            let metrics = super::store::metrics(c)?;
            let counts: Vec<(i64, i64)> = tp::table
                .group_by(tp::plan_id)
                .select((tp::plan_id, diesel::dsl::count(tp::tenant_id)))
                .load(c)?;
            let inc: Vec<PlanMetric> = pm::table.select(PlanMetric::as_select()).load(c)?;
            Ok((plans, metrics, counts, inc))
        })
        .await?;
    let mut seen = std::collections::HashSet::new();
    let rows = plans
        .into_iter()
        .map(|plan| {
            let latest = seen.insert(plan.key.clone());
            let included = inc
                .iter()
                .filter(|i| i.plan_id == plan.id)
                .filter_map(|i| {
                    let m = metrics.iter().find(|m| m.id == i.metric_id)?;
                    Some((
                        m.name.clone(),
                        super::pages::fmt_value(i.included, &m.unit),
                        i.overage_price.clone(),
                    ))
                })
                .collect();
            let tenants = counts.iter().find(|(id, _)| *id == plan.id).map(|(_, n)| *n).unwrap_or(0);
            PlanRow { plan, included, tenants, latest }
        })
        .collect();
    let metric_rows = metrics
        .into_iter()
        .map(|m| {
            let (inc, over) = (format!("included_{}", m.id), format!("overage_{}", m.id));
            (
                m.clone(),
                f.rest.get(&inc).cloned().unwrap_or_default(),
                f.rest.get(&over).cloned().unwrap_or_default(),
                errors.get(&inc).to_string(),
                errors.get(&over).to_string(),
            )
        })
        .collect();
    Ok(PlansPage {
        ctx: PageCtx::new(req, "Plans"),
        rows,
        metric_rows,
        f,
        errors,
        can_manage: p.can(Action::ManageMetering),
        currencies: money::CURRENCIES.iter().map(|c| c.code.to_string()).collect(),
    })
}

async fn page(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ViewMetering)?;
    let f = PlanForm { currency: "USD".into(), period: "year".into(), ..PlanForm::default() };
    render(&load(&req, &p, &state, f, FormErrors::new()).await?)
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<PlanForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageMetering)?;
    let metrics = state.db(|c| Ok(super::store::metrics(c)?)).await?;
    let plan = match f.parse(&metrics) {
        Ok(plan) => plan,
        Err(errors) => {
            return render_status(
                &load(&req, &p, &state, f, errors).await?,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let name = plan.name.clone();
    let (_, version) = state.db(move |c| Ok(write_tx(c, |c| save_version(c, &actor, &plan, now))?)).await?;
    let msg = if version == 1 {
        format!("{name} was created.")
    } else {
        format!("{name} v{version} was saved. Tenants on earlier versions keep theirs until you move them.")
    };
    Ok(flash::redirect_with(&req, "/admin/usage/plans", "success", msg))
}

#[derive(Debug, Deserialize)]
struct AssignForm {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    plan_id: String,
    #[serde(default)]
    seats: String,
}

async fn assign_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<AssignForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageMetering)?;
    let tenant: i64 = f.tenant_id.trim().parse().map_err(|_| AppError::NotFound)?;
    let back = format!("/usage?tenant={tenant}");
    let Ok(plan) = f.plan_id.trim().parse::<i64>() else {
        return Ok(flash::redirect_with(&req, &back, "error", "Choose a plan."));
    };
    let mut e = FormErrors::new();
    let seats = form::integer(&mut e, "seats", "the number of seats", &f.seats, 0, 1_000_000);
    let Some(seats) = seats.filter(|_| e.is_empty()) else {
        return Ok(flash::redirect_with(&req, &back, "error", e.get("seats").to_string()));
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let label = state
        .db(move |c| {
            crate::tenancy::store::find(c, tenant)?;
            let pl = pl::table.find(plan).select(Plan::as_select()).first(c)?;
            write_tx(c, |c| assign(c, &actor, tenant, plan, seats as i32, now))?;
            Ok(pl.label())
        })
        .await?;
    Ok(flash::redirect_with(&req, &back, "success", format!("Now on {label} with {seats} seats.")))
}
