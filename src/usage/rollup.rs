//! The district rollup (`/district/rollups`): per linked school, active staff users (30 days),
//! assessments in the last 30 and 90 days and in the chosen range, storage used, each against
//! the school's own cap; the district's totals against its caps; charts (assessments per day
//! stacked by school, active staff by role); filters for schools, date range (7/30/90 days or
//! custom) and role, kept in the URL; CSV of exactly the rows shown. A school admin sees the
//! same page for their school only. Read from the daily buckets, never the raw events.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDate};
use diesel::dsl::count;
use diesel::prelude::*;

use super::caps::fmt_num;
use super::model::Cap;
use super::pages::percent;
use crate::AppState;
use crate::auth::{Action, Principal};
use crate::db::DbConn;
use crate::db::schema::{
    metrics as m, tenants as t, usage_daily as ud, usage_subjects as us, usage_uniques as uu,
};
use crate::error::{AppError, AppResult};
use crate::web::charts::{self, ChartOpts, Series};
use crate::web::layout::{PageCtx, render};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/district/rollups", web::get().to(page));
}

/// The filters, as in the URL (schools repeat: `school=3&school=5`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub tenant: Option<i64>,
    pub schools: Vec<i64>,
    /// `7`, `30`, `90` or `custom`.
    pub range: String,
    pub from: String,
    pub to: String,
    pub role: String,
    pub csv: bool,
}

impl Filters {
    /// Parses a query string (repeated keys allowed).
    pub fn parse(query: &str) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut f = Filters { range: "30".into(), ..Filters::default() };
        for (k, v) in pairs {
            match k.as_str() {
                "tenant" => f.tenant = v.parse().ok(),
                "school" => f.schools.extend(v.parse::<i64>().ok()),
                "range" if ["7", "30", "90", "custom"].contains(&v.as_str()) => f.range = v,
                "from" => f.from = v.chars().take(10).collect(),
                "to" => f.to = v.chars().take(10).collect(),
                // Roles are stored without bidi controls (see `web::form::strip_bidi`): match them so.
                "role" => f.role = crate::web::form::strip_bidi(&v).chars().take(40).collect(),
                "format" => f.csv = v == "csv",
                _ => {}
            }
        }
        f
    }

    /// The date range asked for (custom dates are clamped to the last 400 days and ordered).
    pub fn dates(&self, today: NaiveDate) -> (NaiveDate, NaiveDate, Option<String>) {
        let days = |n: i64| (today - Duration::days(n - 1), today, None);
        match self.range.as_str() {
            "7" => days(7),
            "90" => days(90),
            "custom" => {
                let p = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
                match (p(&self.from), p(&self.to)) {
                    (Some(a), Some(b)) => {
                        let (a, b) = if a <= b { (a, b) } else { (b, a) };
                        let earliest = today - Duration::days(399);
                        let b = b.min(today);
                        let a = a.max(earliest).min(b);
                        (a, b, None)
                    }
                    _ => {
                        let (a, b, _) = days(30);
                        (a, b, Some("Enter both dates like 2026-11-01; showing the last 30 days.".into()))
                    }
                }
            }
            _ => days(30),
        }
    }

    /// The query string of these filters (without the format), for links.
    pub fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(t) = self.tenant {
            pairs.push(("tenant", t.to_string()));
        }
        for s in &self.schools {
            pairs.push(("school", s.to_string()));
        }
        pairs.push(("range", self.range.clone()));
        if self.range == "custom" {
            pairs.push(("from", self.from.clone()));
            pairs.push(("to", self.to.clone()));
        }
        if !self.role.is_empty() {
            pairs.push(("role", self.role.clone()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// One row (a school, or the total).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub tenant_id: i64,
    pub name: String,
    pub staff_30: f64,
    pub assessments_30: f64,
    pub assessments_90: f64,
    pub assessments_range: f64,
    pub storage_bytes: f64,
    pub audio_range: f64,
    /// (metric key, percent, state, "63% of 400 (hard)") for the tenant's own caps.
    pub caps: Vec<(String, u32, &'static str, String)>,
}

/// What the page shows.
#[derive(Debug, Clone, Default)]
pub struct Rollup {
    pub rows: Vec<Row>,
    pub total: Row,
    pub days: Vec<NaiveDate>,
    /// Assessments per day per school (aligned with `days`).
    pub per_day: Vec<(String, Vec<f64>)>,
    /// Distinct active staff per role over the range.
    pub by_role: Vec<(String, f64)>,
    pub roles: Vec<String>,
    pub any_usage: bool,
}

fn metric_id(c: &mut DbConn, key: &str) -> QueryResult<Option<i64>> {
    m::table.filter(m::key.eq(key)).select(m::id).first(c).optional()
}

/// Computes the rollup of `owner` (a district, or one school) for `schools` (already checked to
/// be in scope) over `from..=to`, as of `today`.
pub fn compute(
    c: &mut DbConn,
    owner: i64,
    schools: &[(i64, String)],
    from: NaiveDate,
    to: NaiveDate,
    role: &str,
    today: NaiveDate,
) -> QueryResult<Rollup> {
    let ids: Vec<i64> = schools.iter().map(|(id, _)| *id).collect();
    let (assess, staff, storage, audio) = (
        metric_id(c, "assessments")?,
        metric_id(c, super::caps::STAFF_METRIC)?,
        metric_id(c, "storage_bytes")?,
        metric_id(c, "audio_minutes")?,
    );
    let d90 = today - Duration::days(89);
    let d30 = today - Duration::days(29);
    let earliest = from.min(d90);
    // Daily buckets of the counted metrics, in one query.
    let wanted: Vec<i64> = [assess, storage, audio].into_iter().flatten().collect();
    let mut q = ud::table
        .filter(ud::tenant_id.eq_any(ids.clone()))
        .filter(ud::metric_id.eq_any(wanted))
        .filter(ud::day.ge(earliest))
        .filter(ud::day.le(today.max(to)))
        .into_boxed();
    if !role.is_empty() {
        // Storage has no role: keep its rows whatever the role filter.
        q = q.filter(ud::role.eq(role.to_string()).or(ud::role.eq("")));
    }
    let buckets: Vec<(i64, i64, NaiveDate, String, f64)> =
        q.select((ud::tenant_id, ud::metric_id, ud::day, ud::role, ud::value)).load(c)?;
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let mut rows: BTreeMap<i64, Row> = schools
        .iter()
        .map(|(id, name)| (*id, Row { tenant_id: *id, name: name.clone(), ..Row::default() }))
        .collect();
    let mut per_day: HashMap<i64, Vec<f64>> = ids.iter().map(|id| (*id, vec![0.0; days.len()])).collect();
    let mut storage_day: HashMap<i64, NaiveDate> = HashMap::new();
    let mut any = false;
    for (tid, mid, day, _role, value) in buckets {
        let Some(r) = rows.get_mut(&tid) else { continue };
        any = true;
        if Some(mid) == assess {
            if day >= d30 && day <= today {
                r.assessments_30 += value;
            }
            if day >= d90 && day <= today {
                r.assessments_90 += value;
            }
            if day >= from && day <= to {
                r.assessments_range += value;
                if let Some(v) = per_day.get_mut(&tid) {
                    v[(day - from).num_days() as usize] += value;
                }
            }
        } else if Some(mid) == audio {
            if day >= from && day <= to {
                r.audio_range += value;
            }
        } else if Some(mid) == storage && day <= today && storage_day.get(&tid).is_none_or(|d| day >= *d) {
            storage_day.insert(tid, day);
            r.storage_bytes = value;
        }
    }
    // Distinct active staff: 30 days per school and overall, and per role over the range.
    let mut roles: BTreeSet<String> = BTreeSet::new();
    let mut by_role = Vec::new();
    let mut total_staff = 0.0;
    if let Some(staff) = staff {
        // Roles seen, from the daily buckets (small), for the filter's choices.
        let all_roles: Vec<String> = ud::table
            .filter(ud::tenant_id.eq_any(ids.clone()))
            .filter(ud::metric_id.eq(staff))
            .select(ud::role)
            .distinct()
            .load(c)?;
        let wanted_roles: Vec<String> =
            if role.is_empty() { all_roles.clone() } else { vec![role.to_string()] };
        // Active in the last 30 days: subjects whose last active day is in them (their role then).
        let recent = || {
            us::table
                .filter(us::tenant_id.eq_any(ids.clone()))
                .filter(us::metric_id.eq(staff))
                .filter(us::role.eq_any(wanted_roles.clone()))
        };
        let per_school: Vec<(i64, i64)> = recent()
            .filter(us::last_day.ge(d30))
            .group_by(us::tenant_id)
            .select((us::tenant_id, count(us::subject)))
            .load(c)?;
        for (tid, n) in per_school {
            if let Some(r) = rows.get_mut(&tid) {
                r.staff_30 = n as f64;
                any = true;
            }
        }
        total_staff = recent()
            .filter(us::last_day.ge(d30))
            .select(count(us::subject).aggregate_distinct())
            .first::<i64>(c)? as f64;
        // By role over the range: from the subjects' last day when the range ends today (the
        // presets), else from the per-day records.
        let role_rows: Vec<(String, i64)> = if to >= today {
            recent()
                .filter(us::last_day.ge(from))
                .group_by(us::role)
                .select((us::role, count(us::subject).aggregate_distinct()))
                .load(c)?
        } else {
            uu::table
                .filter(uu::tenant_id.eq_any(ids.clone()))
                .filter(uu::metric_id.eq(staff))
                .filter(uu::role.eq_any(wanted_roles.clone()))
                .filter(uu::day.ge(from))
                .filter(uu::day.le(to))
                .group_by(uu::role)
                .select((uu::role, count(uu::subject).aggregate_distinct()))
                .load(c)?
        };
        by_role = role_rows
            .into_iter()
            .map(|(r, n)| (if r.is_empty() { "unspecified".into() } else { r }, n as f64))
            .collect();
        roles.extend(all_roles.into_iter().filter(|r| !r.is_empty()));
    }
    // Caps: each school's own, and the owner's (the district total row).
    let mut cap_owners = ids.clone();
    cap_owners.push(owner);
    let caps: Vec<Cap> = super::store::caps_of(c, &cap_owners)?;
    let mut total = Row { tenant_id: owner, name: "Total".into(), staff_30: total_staff, ..Row::default() };
    for r in rows.values() {
        total.assessments_30 += r.assessments_30;
        total.assessments_90 += r.assessments_90;
        total.assessments_range += r.assessments_range;
        total.storage_bytes += r.storage_bytes;
        total.audio_range += r.audio_range;
    }
    for cap in &caps {
        let metric = super::store::metric(c, cap.metric_id)?;
        let covered =
            if cap.tenant_id == owner { super::caps::covered(c, owner)? } else { vec![cap.tenant_id] };
        let current = super::caps::current(c, &covered, &metric, today)?;
        let label = format!(
            "{}: {}% of {} ({})",
            metric.name,
            percent(current, cap.limit_value),
            super::pages::fmt_value(cap.limit_value, &metric.unit),
            cap.enforcement
        );
        let entry = (
            metric.key.clone(),
            percent(current, cap.limit_value),
            super::caps::threshold_state(current, cap.limit_value),
            label,
        );
        if cap.tenant_id == owner && !ids.contains(&owner) {
            total.caps.push(entry);
        } else if let Some(r) = rows.get_mut(&cap.tenant_id) {
            r.caps.push(entry);
        }
    }
    let per_day =
        rows.values().map(|r| (r.name.clone(), per_day.remove(&r.tenant_id).unwrap_or_default())).collect();
    Ok(Rollup {
        rows: rows.into_values().collect(),
        total,
        days,
        per_day,
        by_role,
        roles: roles.into_iter().collect(),
        any_usage: any,
    })
}

/// The district (or school) to roll up and its schools in the principal's scope.
async fn scope_of(
    p: &Principal,
    state: &AppState,
    wanted: Option<i64>,
) -> AppResult<(Vec<(i64, String)>, i64, String, Vec<(i64, String)>)> {
    let visible = p.scope.tenants_for(Action::ViewUsage);
    let (owners, rows) = state
        .db(move |c| {
            let mut q = t::table.into_boxed();
            if let Some(ids) = &visible {
                q = q.filter(t::id.eq_any(ids.clone()));
            }
            let rows: Vec<(i64, String, String, Option<i64>)> =
                q.order(t::name).select((t::id, t::name, t::kind, t::parent_id)).load(c)?;
            Ok((rows.clone(), rows))
        })
        .await?;
    // A district visible as a whole is an owner; a school is one only when its district is not visible.
    let visible_ids: BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
    let choices: Vec<(i64, String)> = owners
        .iter()
        .filter(|(_, _, kind, parent)| kind == "district" || parent.is_none_or(|d| !visible_ids.contains(&d)))
        .map(|(id, name, _, _)| (*id, name.clone()))
        .collect();
    let (owner, name) = match wanted {
        Some(w) => choices.iter().find(|(id, _)| *id == w).cloned().ok_or(AppError::NotFound)?,
        None => choices.first().cloned().ok_or(AppError::NotFound)?,
    };
    p.scope.require(Action::ViewUsage, owner)?;
    let schools: Vec<(i64, String)> = rows
        .iter()
        .filter(|(id, _, _, parent)| *parent == Some(owner) || (*id == owner && parent.is_some()))
        .map(|(id, name, _, _)| (*id, name.clone()))
        .collect();
    Ok((choices, owner, name, schools))
}

#[derive(Template)]
#[template(path = "usage/rollups.html")]
struct RollupPage {
    ctx: PageCtx,
    owners: Vec<(i64, String)>,
    owner: i64,
    owner_name: String,
    all_schools: Vec<(i64, String, bool)>,
    f: Filters,
    range_note: Option<String>,
    from: NaiveDate,
    to: NaiveDate,
    r: Rollup,
    rows: Vec<RowView>,
    total: RowView,
    stacked: String,
    roles_chart: String,
    query: String,
}

/// A row formatted for the page.
pub struct RowView {
    pub name: String,
    pub staff_30: String,
    pub assessments_30: String,
    pub assessments_90: String,
    pub assessments_range: String,
    pub storage: String,
    pub audio_range: String,
    pub caps: Vec<(String, u32, &'static str, String)>,
}

fn view(r: &Row) -> RowView {
    RowView {
        name: r.name.clone(),
        staff_30: fmt_num(r.staff_30),
        assessments_30: fmt_num(r.assessments_30),
        assessments_90: fmt_num(r.assessments_90),
        assessments_range: fmt_num(r.assessments_range),
        storage: format!("{:.1} GB", r.storage_bytes / 1e9),
        audio_range: fmt_num(r.audio_range),
        caps: r.caps.clone(),
    }
}

/// The rollup as CSV: the rows shown, then the total.
pub fn csv(r: &Rollup, from: NaiveDate, to: NaiveDate) -> String {
    let range = format!("assessments_{from}_to_{to}");
    let audio = format!("audio_minutes_{from}_to_{to}");
    let mut out = crate::web::csv::line(&[
        "school",
        "active_staff_30d",
        "assessments_30d",
        "assessments_90d",
        range.as_str(),
        "storage_bytes",
        audio.as_str(),
    ]);
    for row in r.rows.iter().chain(std::iter::once(&r.total)) {
        out.push_str(&crate::web::csv::line(&[
            row.name.clone(),
            format!("{}", row.staff_30),
            format!("{}", row.assessments_30),
            format!("{}", row.assessments_90),
            format!("{}", row.assessments_range),
            format!("{}", row.storage_bytes),
            format!("{}", row.audio_range),
        ]));
    }
    out
}

async fn page(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let f = Filters::parse(req.query_string());
    let (owners, owner, owner_name, schools) = scope_of(&p, &state, f.tenant).await?;
    let today = state.now().date_naive();
    let (from, to, range_note) = f.dates(today);
    // Schools asked for must be among the owner's; none asked means all.
    let chosen: Vec<(i64, String)> = if f.schools.is_empty() {
        schools.clone()
    } else {
        let picked: Vec<(i64, String)> =
            schools.iter().filter(|(id, _)| f.schools.contains(id)).cloned().collect();
        if picked.len() != f.schools.len() {
            return Err(AppError::NotFound);
        }
        picked
    };
    let role = f.role.clone();
    let ch = chosen.clone();
    let r = state.db(move |c| Ok(compute(c, owner, &ch, from, to, &role, today)?)).await?;
    if f.csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"keel-rollup-{owner}-{from}-to-{to}.csv\""),
            ))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(csv(&r, from, to)));
    }
    let labels: Vec<String> = r.days.iter().map(|d| d.format("%b %-d").to_string()).collect();
    let series: Vec<Series> = r.per_day.iter().map(|(n, v)| Series::new(n, v.clone())).collect();
    let stacked = charts::stacked_bar_chart(
        &ChartOpts::new("rollup-assessments", "Assessments per day, by school", "assessments")
            .with_size(900, 300),
        &labels,
        &series,
    );
    let role_labels: Vec<String> = r.by_role.iter().map(|(k, _)| k.clone()).collect();
    let role_values: Vec<f64> = r.by_role.iter().map(|(_, v)| *v).collect();
    let roles_chart = charts::bar_chart(
        &ChartOpts::new("rollup-roles", "Active staff by role in the range", "users").with_size(420, 240),
        &role_labels,
        &role_values,
    );
    render(&RollupPage {
        ctx: PageCtx::new(&req, "Usage by school"),
        all_schools: schools.iter().map(|(id, n)| (*id, n.clone(), f.schools.contains(id))).collect(),
        owners,
        owner,
        owner_name,
        range_note,
        from,
        to,
        rows: r.rows.iter().map(view).collect(),
        total: view(&r.total),
        stacked,
        roles_chart,
        query: f.query(),
        f,
        r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip() {
        let f = Filters::parse(
            "tenant=4&school=5&school=7&range=custom&from=2026-11-01&to=2026-10-01&role=teacher",
        );
        assert_eq!(
            (f.tenant, f.schools.clone(), f.range.as_str(), f.role.as_str()),
            (Some(4), vec![5, 7], "custom", "teacher")
        );
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
        let (a, b, note) = f.dates(today);
        assert_eq!(
            (a.to_string(), b.to_string(), note),
            ("2026-10-01".into(), "2026-11-01".into(), None),
            "ordered"
        );
        assert_eq!(Filters::parse(&f.query()), f);
        let bad = Filters::parse("range=custom&from=x");
        assert!(bad.dates(today).2.is_some());
        assert_eq!(Filters::parse("range=1000").range, "30");
    }
}
