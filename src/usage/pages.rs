//! `/usage`: one tenant's usage of each metric against its caps, with the last 30 days; and
//! `/usage/caps`: setting caps (district admins for their district and its schools, platform
//! admins for anyone). Cap changes are audited with before and after.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDate};
use diesel::prelude::*;
use serde::Deserialize;

use super::caps::{self, fmt_num};
use super::model::{Cap, Metric};
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::schema::{usage_caps as uc, usage_daily as ud};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render, render_status};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/usage", web::get().to(usage_page))
        .route("/usage/caps", web::get().to(caps_page))
        .route("/usage/caps", web::post().to(save_cap));
}

/// The tenants a principal may see for `action`, as (id, label) with schools under their
/// district ("Lincoln Public Schools › Lincoln High School").
pub async fn tenants_for(p: &Principal, state: &AppState, action: Action) -> AppResult<Vec<(i64, String)>> {
    let allowed = p.scope.tenants_for(action);
    if allowed.as_ref().is_some_and(|v| v.is_empty()) {
        return Ok(Vec::new());
    }
    state
        .db(move |c| {
            use crate::db::schema::tenants as t;
            let mut q = t::table.into_boxed();
            if let Some(ids) = &allowed {
                q = q.filter(t::id.eq_any(ids.clone()));
            }
            let rows: Vec<(i64, String, Option<i64>)> = q.select((t::id, t::name, t::parent_id)).load(c)?;
            let names = crate::tenancy::store::names(c, None)?;
            let name_of =
                |id: i64| names.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone()).unwrap_or_default();
            let mut out: Vec<(String, i64, String)> = rows
                .into_iter()
                .map(|(id, name, parent)| match parent {
                    Some(d) => (format!("{}\u{1}{name}", name_of(d)), id, format!("{} › {name}", name_of(d))),
                    None => (name.clone(), id, name),
                })
                .collect();
            out.sort();
            Ok(out.into_iter().map(|(_, id, label)| (id, label)).collect())
        })
        .await
}

/// One metric's line on the usage page.
pub struct MetricRow {
    pub metric: Metric,
    /// "1,500 included" when the tenant's plan includes some.
    pub included: String,
    pub current: String,
    pub basis: String,
    pub cap: Option<CapView>,
    pub spark: String,
    pub last30: String,
}

/// A cap as shown.
pub struct CapView {
    pub limit: String,
    pub mode: String,
    pub percent: u32,
    pub state: &'static str,
    pub own: bool,
    pub owner: String,
}

#[derive(Template)]
#[template(path = "usage/usage.html")]
struct UsagePage {
    ctx: PageCtx,
    tenants: Vec<(i64, String)>,
    tenant_id: i64,
    tenant_name: String,
    rows: Vec<MetricRow>,
    can_caps: bool,
    covers_schools: bool,
    rollup_owner: i64,
    plan: Option<PlanView>,
    plan_choices: Vec<(i64, String)>,
    can_assign: bool,
}

/// A tenant's plan as shown.
pub struct PlanView {
    pub label: String,
    pub price: String,
    pub seats: i32,
    pub plan_id: i64,
    pub features: Vec<String>,
    pub outdated: bool,
}

#[derive(Debug, Deserialize)]
struct TenantQuery {
    tenant: Option<i64>,
}

async fn usage_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<TenantQuery>,
) -> AppResult<HttpResponse> {
    let tenants = tenants_for(&p, &state, Action::ViewUsage).await?;
    let (tid, name) = crate::tenancy::district::pick(&tenants, q.tenant)?;
    p.scope.require(Action::ViewUsage, tid)?;
    let today = state.now().date_naive();
    let parent = state.db(move |c| Ok(crate::tenancy::store::find(c, tid)?.parent_id)).await?;
    let rollup_owner = parent.filter(|d| p.scope.allows(Action::ViewUsage, *d)).unwrap_or(tid);
    let (plan, plan_choices, included) = state
        .db(move |c| {
            let all = super::plans::all(c)?;
            let mine = super::plans::of_tenant(c, tid)?;
            let latest_ids: Vec<i64> = {
                let mut seen = std::collections::HashSet::new();
                all.iter().filter(|p| seen.insert(p.key.clone())).map(|p| p.id).collect()
            };
            let choices: Vec<(i64, String)> = all
                .iter()
                .filter(|p| latest_ids.contains(&p.id))
                .map(|p| (p.id, format!("{} ({})", p.label(), p.price_label())))
                .collect();
            let (view, inc) = match mine {
                Some((t, p, inc)) => (
                    Some(PlanView {
                        label: p.label(),
                        price: p.price_label(),
                        seats: t.seats,
                        plan_id: p.id,
                        features: p.feature_list(),
                        outdated: !latest_ids.contains(&p.id),
                    }),
                    inc,
                ),
                None => (None, Vec::new()),
            };
            Ok((view, choices, inc))
        })
        .await?;
    let (rows, covers_schools) = state
        .db(move |c| {
            let covered = caps::covered(c, tid)?;
            let metrics = super::store::metrics(c)?;
            let applicable_owner = |cap: &Cap| cap.tenant_id;
            let mut rows = Vec::new();
            for m in metrics {
                let cur = caps::current(c, &covered, &m, today)?;
                let caps_here = caps::applicable(c, tid, m.id)?;
                // The binding cap: this tenant's own, else its district's (measured over the district).
                let cap =
                    caps_here.iter().find(|x| x.tenant_id == tid).or_else(|| caps_here.first()).cloned();
                let cap_view = match cap {
                    Some(cap) => {
                        let owner_cur = if cap.tenant_id == tid {
                            cur
                        } else {
                            let ids = caps::covered(c, applicable_owner(&cap))?;
                            caps::current(c, &ids, &m, today)?
                        };
                        let owner = crate::tenancy::store::find(c, cap.tenant_id)?.name;
                        Some(CapView {
                            limit: fmt_value(cap.limit_value, &m.unit),
                            mode: cap.enforcement.clone(),
                            percent: percent(owner_cur, cap.limit_value),
                            state: caps::threshold_state(owner_cur, cap.limit_value),
                            own: cap.tenant_id == tid,
                            owner,
                        })
                    }
                    None => None,
                };
                let series = daily(c, &covered, &m, today, 30)?;
                let total: f64 = series.iter().sum();
                let included = included
                    .iter()
                    .find(|i| i.metric_id == m.id)
                    .map(|i| format!("{} included", fmt_value(i.included, &m.unit)))
                    .unwrap_or_default();
                rows.push(MetricRow {
                    included,
                    spark: crate::web::charts::sparkline(
                        &format!("spark-{}", m.key),
                        &format!("{} per day, last 30 days", m.name),
                        &series,
                        160,
                        32,
                    ),
                    last30: match m.agg() {
                        super::model::Aggregation::Count | super::model::Aggregation::Sum => fmt_num(total),
                        _ => String::new(),
                    },
                    current: fmt_value(cur, &m.unit),
                    basis: m.cap_basis(),
                    cap: cap_view,
                    metric: m,
                });
            }
            Ok((rows, covered.len() > 1))
        })
        .await?;
    render(&UsagePage {
        ctx: PageCtx::new(&req, "Usage"),
        can_caps: p.scope.allows(Action::ManageCaps, tid),
        tenants,
        tenant_id: tid,
        tenant_name: name,
        rows,
        covers_schools,
        rollup_owner,
        plan,
        plan_choices,
        can_assign: p.can(Action::ManageMetering),
    })
}

/// Usage as a percentage of a limit, for bars (0 to 100).
pub fn percent(current: f64, limit: f64) -> u32 {
    if limit <= 0.0 {
        return 100;
    }
    ((current / limit) * 100.0).clamp(0.0, 100.0).round() as u32
}

/// Daily values of a metric over tenants for the `days` days ending `today` (all roles). For a
/// `latest` metric each tenant's last report is carried forward over days without one, and the
/// tenants' values are added.
pub fn daily(
    c: &mut crate::db::DbConn,
    tenants: &[i64],
    metric: &Metric,
    today: NaiveDate,
    days: i64,
) -> QueryResult<Vec<f64>> {
    let from = today - Duration::days(days - 1);
    let latest = metric.agg() == super::model::Aggregation::Latest;
    let start = if latest { from - Duration::days(400) } else { from };
    let rows: Vec<(i64, NaiveDate, f64)> = ud::table
        .filter(ud::tenant_id.eq_any(tenants.to_vec()))
        .filter(ud::metric_id.eq(metric.id))
        .filter(ud::day.ge(start))
        .filter(ud::day.le(today))
        .order(ud::day)
        .select((ud::tenant_id, ud::day, ud::value))
        .load(c)?;
    let mut out = vec![0.0; days as usize];
    if !latest {
        for (_, d, v) in rows {
            let i = (d - from).num_days();
            if (0..days).contains(&i) {
                out[i as usize] += v;
            }
        }
        return Ok(out);
    }
    for t in tenants {
        let mut last = 0.0;
        let mut it = rows.iter().filter(|(tid, _, _)| tid == t).peekable();
        for (i, slot) in out.iter_mut().enumerate() {
            let day = from + Duration::days(i as i64);
            while let Some((_, d, v)) = it.peek() {
                if *d > day {
                    break;
                }
                last = *v;
                it.next();
            }
            *slot += last;
        }
    }
    Ok(out)
}

/// A figure with its unit: "13.7 GB", "26 users".
pub fn fmt_with_unit(v: f64, unit: &str) -> String {
    if unit == "bytes" && v >= 1e6 { fmt_value(v, unit) } else { format!("{} {unit}", fmt_num(v)) }
}

/// A figure in its unit, readable: bytes in GB/MB, the rest as numbers.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if unit == "bytes" {
        if v >= 1e12 {
            return format!("{:.1} TB", v / 1e12);
        }
        if v >= 1e9 {
            return format!("{:.1} GB", v / 1e9);
        }
        if v >= 1e6 {
            return format!("{:.1} MB", v / 1e6);
        }
    }
    fmt_num(v)
}

/// One metric's line on the caps page.
pub struct CapRow {
    pub metric: Metric,
    pub cap: Option<Cap>,
    pub limit: String,
    pub mode: String,
    pub current: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "usage/caps.html")]
struct CapsPage {
    ctx: PageCtx,
    tenants: Vec<(i64, String)>,
    tenant_id: i64,
    tenant_name: String,
    rows: Vec<CapRow>,
    covers_schools: bool,
}

async fn load_caps(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    tenant: Option<i64>,
    typed: Option<(i64, String, String, FormErrors)>,
) -> AppResult<CapsPage> {
    let tenants = tenants_for(p, state, Action::ManageCaps).await?;
    let (tid, name) = crate::tenancy::district::pick(&tenants, tenant)?;
    p.scope.require(Action::ManageCaps, tid)?;
    let today = state.now().date_naive();
    let (rows, covers) = state
        .db(move |c| {
            let covered = caps::covered(c, tid)?;
            let caps = super::store::caps_of(c, &[tid])?;
            let mut rows = Vec::new();
            for m in super::store::metrics(c)? {
                let cap = caps.iter().find(|x| x.metric_id == m.id).cloned();
                let cur = caps::current(c, &covered, &m, today)?;
                rows.push(CapRow {
                    limit: cap.as_ref().map(|x| edit_value(x.limit_value, &m.unit)).unwrap_or_default(),
                    mode: cap.as_ref().map(|x| x.enforcement.clone()).unwrap_or_else(|| "soft".into()),
                    current: fmt_with_unit(cur, &m.unit),
                    cap,
                    metric: m,
                    error: String::new(),
                });
            }
            Ok((rows, covered.len() > 1))
        })
        .await?;
    let mut rows = rows;
    if let Some((metric, limit, mode, errors)) = typed {
        for r in rows.iter_mut().filter(|r| r.metric.id == metric) {
            r.limit = limit.clone();
            r.mode = mode.clone();
            r.error = errors.get("limit").to_string();
        }
    }
    Ok(CapsPage {
        ctx: PageCtx::new(req, "Caps"),
        tenants,
        tenant_id: tid,
        tenant_name: name,
        rows,
        covers_schools: covers,
    })
}

async fn caps_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<TenantQuery>,
) -> AppResult<HttpResponse> {
    render(&load_caps(&req, &p, &state, q.tenant, None).await?)
}

#[derive(Debug, Deserialize)]
struct CapForm {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    metric_id: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    enforcement: String,
    #[serde(default)]
    remove: String,
}

/// A tenant's own cap on a metric, if set.
fn cap_of(c: &mut crate::db::DbConn, tenant: i64, metric: i64) -> QueryResult<Option<Cap>> {
    uc::table
        .filter(uc::tenant_id.eq(tenant))
        .filter(uc::metric_id.eq(metric))
        .select(Cap::as_select())
        .first(c)
        .optional()
}

/// The largest cap or included quantity: 2^53, the last whole number an `f64` holds exactly (a
/// larger one would be shown and saved back as a different number).
pub const MAX_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Parses a cap limit typed by a person: a number of at least 0 ("1,500" allowed).
/// Parses a cap or an included quantity typed in a form. Byte metrics accept a size with its
/// unit ("500 GB", "1.5 TB", "750MB", "2 GiB"; a bare number is bytes), the rest a plain number,
/// at most [`MAX_LIMIT`].
pub fn parse_limit(raw: &str, unit: &str) -> Result<f64, &'static str> {
    let v = raw.trim().replace([',', '_', ' '], "");
    if v.is_empty() {
        return Err(if unit == "bytes" { "Enter a size, e.g. 500 GB." } else { "Enter a limit, e.g. 400." });
    }
    let (number, factor) = if unit == "bytes" {
        let lower = v.to_ascii_lowercase();
        let split = lower.find(|ch: char| ch.is_ascii_alphabetic()).unwrap_or(lower.len());
        let factor = match &lower[split..] {
            "" | "b" | "bytes" => 1.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err("Enter a size such as 500 GB, 1.5 TB or 750 MB."),
        };
        (v[..split].to_string(), factor)
    } else {
        (v, 1.0)
    };
    match number.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => match (x * factor).round().max(0.0) {
            v if v <= MAX_LIMIT => Ok(v),
            _ => Err("That is more than Keel can store; enter a smaller limit."),
        },
        Ok(x) if x < 0.0 => Err("A cap can't be below 0."),
        _ if unit == "bytes" => Err("Enter a size such as 500 GB, 1.5 TB or 750 MB."),
        _ => Err("Enter the limit as a number, e.g. 400."),
    }
}

/// A stored limit as a form shows it again: byte sizes in GB or MB (as `parse_limit` reads them
/// back), the rest as plain numbers.
pub fn edit_value(v: f64, unit: &str) -> String {
    if unit == "bytes" && v >= 1e6 {
        let (n, suffix) = if v >= 1e12 {
            (v / 1e12, "TB")
        } else if v >= 1e9 {
            (v / 1e9, "GB")
        } else {
            (v / 1e6, "MB")
        };
        let text = format!("{n:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return format!("{text} {suffix}");
    }
    fmt_num(v).replace(',', "")
}

async fn save_cap(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<CapForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let tid: i64 = f.tenant_id.trim().parse().map_err(|_| AppError::NotFound)?;
    p.scope.require(Action::ManageCaps, tid)?;
    let mid: i64 = f.metric_id.trim().parse().map_err(|_| AppError::NotFound)?;
    let metric = state.db(move |c| Ok(super::store::metric(c, mid)?)).await?;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let back = format!("/usage/caps?tenant={tid}");
    if f.remove == "1" {
        let m = metric.clone();
        let removed = state
            .db(move |c| {
                Ok(write_tx(c, |c| {
                    let Some(before) = cap_of(c, tid, mid)? else { return Ok(false) };
                    diesel::delete(uc::table.find(before.id)).execute(c)?;
                    audit::record(
                        c,
                        &actor,
                        Event::new("usage.cap_remove", "usage_cap", before.id).tenant(Some(tid)).details(
                            serde_json::json!({"metric": m.key, "before": {"limit": before.limit_value, "enforcement": before.enforcement}}),
                        ),
                        now,
                    )?;
                    Ok::<_, diesel::result::Error>(true)
                })?)
            })
            .await?;
        state.usage().clear_caps();
        let msg = if removed {
            format!("The {} cap was removed.", metric.name.to_lowercase())
        } else {
            "There was no cap to remove.".into()
        };
        return Ok(flash::redirect_with(&req, &back, "success", msg));
    }
    let mode = if f.enforcement == "hard" { "hard" } else { "soft" };
    let limit = match parse_limit(&f.limit, &metric.unit) {
        Ok(l) => l,
        Err(msg) => {
            let mut e = FormErrors::new();
            e.add("limit", msg);
            let page =
                load_caps(&req, &p, &state, Some(tid), Some((mid, f.limit.clone(), mode.into(), e))).await?;
            return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let m = metric.clone();
    let base = state.config().base_url.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let before = cap_of(c, tid, mid)?;
                let id = match &before {
                    Some(b) => {
                        diesel::update(uc::table.find(b.id))
                            .set((
                                uc::limit_value.eq(limit),
                                uc::enforcement.eq(mode),
                                uc::updated_by.eq(actor.user_id),
                                uc::updated_at.eq(now),
                            ))
                            .execute(c)?;
                        b.id
                    }
                    None => diesel::insert_into(uc::table)
                        .values((
                            uc::tenant_id.eq(tid),
                            uc::metric_id.eq(mid),
                            uc::limit_value.eq(limit),
                            uc::enforcement.eq(mode),
                            uc::updated_by.eq(actor.user_id),
                            uc::updated_at.eq(now),
                        ))
                        .returning(uc::id)
                        .get_result(c)?,
                };
                audit::record(
                    c,
                    &actor,
                    Event::new("usage.cap_set", "usage_cap", id).tenant(Some(tid)).details(serde_json::json!({
                        "metric": m.key,
                        "before": before.as_ref().map(|b| serde_json::json!({"limit": b.limit_value, "enforcement": b.enforcement})),
                        "after": {"limit": limit, "enforcement": mode},
                    })),
                    now,
                )?;
                // A cap set below current usage crosses its thresholds at once.
                caps::evaluate(c, &[tid], &base, now)?;
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
    state.usage().clear_caps();
    state.job_wakeup().notify_waiters();
    Ok(flash::redirect_with(
        &req,
        &back,
        "success",
        format!("{} cap set to {} ({}).", metric.name, fmt_num(limit), mode),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit("1,500", "assessments"), Ok(1500.0));
        assert_eq!(parse_limit("0", "users"), Ok(0.0));
        assert_eq!(parse_limit("-1", "users"), Err("A cap can't be below 0."));
        assert_eq!(parse_limit("lots", "users"), Err("Enter the limit as a number, e.g. 400."));
        assert_eq!(parse_limit("", "users"), Err("Enter a limit, e.g. 400."));
        assert_eq!(parse_limit("1GB", "users"), Err("Enter the limit as a number, e.g. 400."));
        assert_eq!(parse_limit("500 GB", "bytes"), Ok(500e9));
        assert_eq!(parse_limit("1.5 tb", "bytes"), Ok(1.5e12));
        assert_eq!(parse_limit("750MB", "bytes"), Ok(750e6));
        assert_eq!(parse_limit("2 GiB", "bytes"), Ok(2147483648.0));
        assert_eq!(parse_limit("1,000,000", "bytes"), Ok(1e6));
        assert_eq!(parse_limit("-2 GB", "bytes"), Err("A cap can't be below 0."));
        assert_eq!(parse_limit("5 parsecs", "bytes"), Err("Enter a size such as 500 GB, 1.5 TB or 750 MB."));
        assert_eq!(parse_limit("", "bytes"), Err("Enter a size, e.g. 500 GB."));
        assert_eq!(edit_value(500e9, "bytes"), "500 GB");
        assert_eq!(edit_value(1.25e9, "bytes"), "1.25 GB");
        assert_eq!(edit_value(750e6, "bytes"), "750 MB");
        assert_eq!(edit_value(1200.0, "users"), "1200");
        for v in [500e9, 1.25e9, 750e6, 3.5e12] {
            assert_eq!(parse_limit(&edit_value(v, "bytes"), "bytes"), Ok(v));
        }
        // Found by fuzzing: a huge limit was kept, then shown in the form as i64::MAX (or as
        // infinity for a byte size), so saving the form again changed it.
        let too_large = Err("That is more than Keel can store; enter a smaller limit.");
        assert_eq!(parse_limit("9999999999999999999999", "users"), too_large);
        assert_eq!(parse_limit(&format!("{} TB", "9".repeat(300)), "bytes"), too_large);
        assert_eq!(parse_limit("9,007,199,254,740,992", "users"), Ok(MAX_LIMIT));
        assert_eq!(parse_limit(&edit_value(MAX_LIMIT, "users"), "users"), Ok(MAX_LIMIT));
        assert_eq!(percent(50.0, 200.0), 25);
        assert_eq!(percent(500.0, 200.0), 100);
    }
}
