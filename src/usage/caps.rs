//! Caps: how usage is measured against a cap, what an entitlement check answers, and the 80 % /
//! 100 % alerts, sent once per cap, period and threshold (a unique row in `cap_alerts`).
//!
//! A cap on a district covers the district and its linked schools together; a school may also
//! have its own cap, and a check must pass both. The period is the calendar month (UTC): counts
//! and sums are this month's, a unique count looks back over its metric's window, a `latest`
//! metric is its most recent value.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::dsl::{count, max, sum};
use diesel::prelude::*;
use serde::Serialize;

use super::model::{Aggregation, Cap, Metric, month_start, next_month_start};
use crate::audit::{self, Actor, Event};
use crate::db::DbConn;
use crate::db::schema::{
    cap_alerts as ca, memberships as ms, tenants as t, usage_caps as uc, usage_daily as ud,
    usage_events as ue, usage_subjects as us,
};

/// The metric whose caps also count staff that Keel itself manages.
pub const STAFF_METRIC: &str = "active_staff_users";

/// The tenants a cap on `tenant` covers: itself and, for a district, its linked schools.
pub fn covered(c: &mut DbConn, tenant: i64) -> QueryResult<Vec<i64>> {
    let mut ids: Vec<i64> = t::table.filter(t::parent_id.eq(tenant)).select(t::id).load(c)?;
    ids.push(tenant);
    Ok(ids)
}

/// The period a cap's alerts are counted in ("2026-12").
pub fn period_key(today: NaiveDate) -> String {
    format!("{:04}-{:02}", today.year(), today.month())
}

/// Usage of `metric` by `tenants` together, as a cap measures it, on `today`.
pub fn current(c: &mut DbConn, tenants: &[i64], metric: &Metric, today: NaiveDate) -> QueryResult<f64> {
    let ids = tenants.to_vec();
    let from = month_start(today);
    let reported = match metric.agg() {
        Aggregation::Count | Aggregation::Sum => ud::table
            .filter(ud::tenant_id.eq_any(ids.clone()))
            .filter(ud::metric_id.eq(metric.id))
            .filter(ud::day.ge(from))
            .select(sum(ud::value))
            .first::<Option<f64>>(c)?
            .unwrap_or(0.0),
        Aggregation::Max => ud::table
            .filter(ud::tenant_id.eq_any(ids.clone()))
            .filter(ud::metric_id.eq(metric.id))
            .filter(ud::day.ge(from))
            .select(max(ud::value))
            .first::<Option<f64>>(c)?
            .unwrap_or(0.0),
        Aggregation::Latest => {
            let mut total = 0.0;
            for id in &ids {
                let v: Option<f64> = ue::table
                    .filter(ue::tenant_id.eq(id))
                    .filter(ue::metric_id.eq(metric.id))
                    .order((ue::occurred_at.desc(), ue::id.desc()))
                    .select(ue::value)
                    .first(c)
                    .optional()?;
                total += v.unwrap_or(0.0);
            }
            total
        }
        Aggregation::UniqueCount => {
            // Each subject's last active day is kept, so "active in the window" is a count of
            // subjects whose last day is in it.
            let since = today - Duration::days(i64::from(metric.window_days.max(1)) - 1);
            us::table
                .filter(us::tenant_id.eq_any(ids.clone()))
                .filter(us::metric_id.eq(metric.id))
                .filter(us::last_day.ge(since))
                .select(count(us::subject).aggregate_distinct())
                .first::<i64>(c)? as f64
        }
    };
    if metric.key == STAFF_METRIC {
        // Staff Keel manages count too when the product reports fewer: the larger figure wins.
        return Ok(reported.max(managed_staff(c, tenants)? as f64));
    }
    Ok(reported)
}

/// Distinct users with a staff or school-admin membership in `tenants`.
pub fn managed_staff(c: &mut DbConn, tenants: &[i64]) -> QueryResult<i64> {
    ms::table
        .filter(ms::tenant_id.eq_any(tenants.to_vec()))
        .filter(ms::role.eq_any(["staff", "school_admin"]))
        .select(count(ms::user_id).aggregate_distinct())
        .first(c)
}

/// `ok` below 80 %, `warning` from 80 %, `reached` at 100 % or more.
pub fn threshold_state(current: f64, limit: f64) -> &'static str {
    if limit <= 0.0 || current >= limit {
        "reached"
    } else if current >= 0.8 * limit {
        "warning"
    } else {
        "ok"
    }
}

/// The answer to "may the product add `increment` more?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub current: f64,
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
    /// `hard`, `soft` or `none` (no cap).
    pub mode: &'static str,
    pub threshold_state: &'static str,
    pub period_end: NaiveDate,
}

/// Decides from each applicable cap and its current usage. A hard cap refuses when the
/// increment would take usage past its limit; the binding cap (least remaining, hard first) is
/// the one reported.
pub fn decide(caps: &[(Cap, f64)], increment: f64, today: NaiveDate) -> Decision {
    let period_end = next_month_start(today);
    let mut allowed = true;
    let mut best: Option<(&Cap, f64)> = None;
    for (cap, current) in caps {
        let hard = cap.enforcement == "hard";
        if hard && current + increment > cap.limit_value {
            allowed = false;
        }
        let remaining = cap.limit_value - current;
        let better = match best {
            None => true,
            Some((b, bc)) => {
                let (bh, br) = (b.enforcement == "hard", b.limit_value - bc);
                (hard && !bh) || (hard == bh && remaining < br)
            }
        };
        if better {
            best = Some((cap, *current));
        }
    }
    match best {
        None => Decision {
            allowed: true,
            current: 0.0,
            limit: None,
            remaining: None,
            mode: "none",
            threshold_state: "ok",
            period_end,
        },
        Some((cap, current)) => Decision {
            allowed,
            current,
            limit: Some(cap.limit_value),
            remaining: Some((cap.limit_value - current).max(0.0)),
            mode: if cap.enforcement == "hard" { "hard" } else { "soft" },
            threshold_state: threshold_state(current, cap.limit_value),
            period_end,
        },
    }
}

/// The caps that apply to `tenant` for `metric`: its own and its district's.
pub fn applicable(c: &mut DbConn, tenant: i64, metric: i64) -> QueryResult<Vec<Cap>> {
    let parent: Option<i64> = t::table.find(tenant).select(t::parent_id).first(c).optional()?.flatten();
    let mut ids = vec![tenant];
    ids.extend(parent);
    uc::table
        .filter(uc::tenant_id.eq_any(ids))
        .filter(uc::metric_id.eq(metric))
        .select(Cap::as_select())
        .load(c)
}

/// Decides from the database (Keel's own invite flow and the API on a cache miss).
pub fn check(
    c: &mut DbConn,
    tenant: i64,
    metric: &Metric,
    increment: f64,
    today: NaiveDate,
) -> QueryResult<Decision> {
    let mut with = Vec::new();
    for cap in applicable(c, tenant, metric.id)? {
        let tenants = covered(c, cap.tenant_id)?;
        let cur = current(c, &tenants, metric, today)?;
        with.push((cap, cur));
    }
    Ok(decide(&with, increment, today))
}

/// Finds caps that cover any of `tenants` and fires the 80 % / 100 % alerts not yet sent this
/// period. Call inside a write transaction. Returns how many alerts fired.
pub fn evaluate(c: &mut DbConn, tenants: &[i64], base_url: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let parents: Vec<Option<i64>> =
        t::table.filter(t::id.eq_any(tenants.to_vec())).select(t::parent_id).load(c)?;
    let mut owners: Vec<i64> = tenants.to_vec();
    owners.extend(parents.into_iter().flatten());
    owners.sort_unstable();
    owners.dedup();
    let caps: Vec<Cap> = uc::table.filter(uc::tenant_id.eq_any(owners)).select(Cap::as_select()).load(c)?;
    let today = now.date();
    let period = period_key(today);
    let mut fired = 0;
    for cap in caps {
        let metric = super::store::metric(c, cap.metric_id)?;
        let tenants = covered(c, cap.tenant_id)?;
        let cur = current(c, &tenants, &metric, today)?;
        for threshold in [80, 100] {
            if cap.limit_value > 0.0 && cur < cap.limit_value * f64::from(threshold) / 100.0 {
                continue;
            }
            if fire(c, &cap, &metric, &period, threshold, cur, base_url, now)? {
                fired += 1;
            }
        }
    }
    Ok(fired)
}

/// Records a crossing once (unique per cap, period, threshold); on the first time, tells the
/// tenant's district admins and procurement officers in the app, emails its verified billing
/// contacts, and audits it. Returns whether this call was the first.
#[allow(clippy::too_many_arguments)]
fn fire(
    c: &mut DbConn,
    cap: &Cap,
    metric: &Metric,
    period: &str,
    threshold: i32,
    value: f64,
    base_url: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    if !first_alert(c, cap.id, period, threshold, value, now)? {
        return Ok(false);
    }
    let tenant = crate::tenancy::store::find(c, cap.tenant_id)?;
    let district = tenant.parent_id.unwrap_or(tenant.id);
    let what = if threshold >= 100 { "has reached" } else { "is at 80% of" };
    let title = format!("{} {what} its {} cap", tenant.name, metric.name.to_lowercase());
    let body = format!(
        "{} of {} {} ({}, {} cap). {}",
        fmt_num(value),
        fmt_num(cap.limit_value),
        metric.unit,
        metric.cap_basis(),
        cap.enforcement,
        if threshold >= 100 && cap.enforcement == "hard" {
            "New usage is now blocked until the next period or a higher cap."
        } else if threshold >= 100 {
            "This is a soft cap: usage continues, and may be billed as overage."
        } else {
            "You may want to raise the cap or plan for more."
        }
    );
    let link = format!("/usage?tenant={}", cap.tenant_id);
    let users: Vec<i64> = ms::table
        .filter(ms::tenant_id.eq_any([district, tenant.id]))
        .filter(ms::role.eq_any(["district_admin", "procurement"]))
        .select(ms::user_id)
        .distinct()
        .load(c)?;
    for u in users {
        crate::notify::inapp::notify(c, u, Some(cap.tenant_id), "usage.cap", &title, &body, &link, now)?;
    }
    for contact in crate::billing::contacts::verified(c, district)? {
        let email = crate::notify::Email {
            to: contact.email.clone(),
            subject: title.clone(),
            text: format!(
                "Hello {},\n\n{title}.\n\n{body}\n\nSee usage and caps: {base_url}{link} (sign-in required).\n\n— Keel",
                contact.name
            ),
            html: None,
            headers: vec![],
            dedupe_key: Some(format!("cap-alert:{}:{period}:{threshold}:{}", cap.id, contact.id)),
        };
        crate::notify::queue(c, &email, now)?;
    }
    audit::record(
        c,
        &Actor::system("usage caps"),
        Event::new("usage.cap_threshold", "usage_cap", cap.id).tenant(Some(cap.tenant_id)).details(
            serde_json::json!({"metric": metric.key, "threshold_percent": threshold, "value": value,
                "limit": cap.limit_value, "enforcement": cap.enforcement, "period": period}),
        ),
        now,
    )?;
    Ok(true)
}

/// Audits a hard cap refusing usage, once per cap and period (marker threshold 999).
pub fn record_enforcement(
    c: &mut DbConn,
    cap: &Cap,
    metric: &Metric,
    value: f64,
    source: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let period = period_key(now.date());
    if first_alert(c, cap.id, &period, ENFORCED, value, now)? {
        audit::record(
            c,
            &Actor::system("usage caps"),
            Event::new("usage.cap_enforced", "usage_cap", cap.id)
                .tenant(Some(cap.tenant_id))
                .details(serde_json::json!({"metric": metric.key, "value": value, "limit": cap.limit_value,
                    "period": period, "first_refusal_from": source})),
            now,
        )?;
    }
    Ok(())
}

/// Records a cap's alert for a period and threshold; true only the first time (the row is
/// unique per cap, period and threshold, so concurrent callers agree on who was first).
fn first_alert(
    c: &mut DbConn,
    cap: i64,
    period: &str,
    threshold: i32,
    value: f64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let row = (
        ca::cap_id.eq(cap),
        ca::period.eq(period),
        ca::threshold.eq(threshold),
        ca::value.eq(value),
        ca::fired_at.eq(now),
    );
    let n = match c {
        DbConn::Pg(pg) => diesel::insert_into(ca::table).values(row).on_conflict_do_nothing().execute(pg)?,
        DbConn::Sqlite(sq) => {
            diesel::insert_into(ca::table).values(row).on_conflict_do_nothing().execute(sq)?
        }
    };
    Ok(n == 1)
}

/// The `cap_alerts.threshold` that marks "a hard cap refused usage this period".
pub const ENFORCED: i32 = 999;

/// A number for people: whole numbers without decimals, others with one.
pub fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        let s = format!("{}", v.round() as i64);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 && ch != '-' && !out.ends_with('-') {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(id: i64, limit: f64, mode: &str) -> Cap {
        Cap {
            id,
            tenant_id: id,
            metric_id: 1,
            limit_value: limit,
            enforcement: mode.into(),
            updated_by: None,
            updated_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn decisions() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 15).unwrap_or_default();
        let d = decide(&[], 1.0, today);
        assert!(d.allowed && d.mode == "none" && d.limit.is_none());
        assert_eq!(d.period_end, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default());
        let d = decide(&[(cap(1, 100.0, "hard"), 99.0)], 1.0, today);
        assert!(d.allowed);
        assert_eq!((d.threshold_state, d.remaining), ("warning", Some(1.0)));
        let d = decide(&[(cap(1, 100.0, "hard"), 100.0)], 1.0, today);
        assert!(!d.allowed && d.threshold_state == "reached" && d.remaining == Some(0.0));
        let d = decide(&[(cap(1, 100.0, "soft"), 150.0)], 1.0, today);
        assert!(d.allowed && d.mode == "soft" && d.threshold_state == "reached");
        // A school's soft cap and its district's hard cap: the hard one binds.
        let d = decide(&[(cap(1, 10.0, "soft"), 9.0), (cap(2, 500.0, "hard"), 500.0)], 1.0, today);
        assert!(!d.allowed && d.mode == "hard" && d.limit == Some(500.0));
    }

    #[test]
    fn states_and_numbers() {
        assert_eq!(threshold_state(79.9, 100.0), "ok");
        assert_eq!(threshold_state(80.0, 100.0), "warning");
        assert_eq!(threshold_state(100.0, 100.0), "reached");
        assert_eq!(fmt_num(1_250_000.0), "1,250,000");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(period_key(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default()), "2026-03");
    }
}
