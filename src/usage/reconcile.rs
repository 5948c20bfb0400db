//! `keel usage reconcile` and `keel usage backfill`: recompute the daily buckets (and the
//! per-day distinct subjects) from the raw events, report every mismatch and fix it; import
//! historical events from a JSON-lines file through the same validation as the API.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::ingest::{self, Valid};
use super::model::{Aggregation, Metric};
use crate::db::DbConn;
use crate::db::schema::{usage_daily as ud, usage_events as ue, usage_subjects as us, usage_uniques as uu};

/// What a reconcile found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub tenants: usize,
    pub buckets_checked: usize,
    /// Buckets whose value or event count differed, that were missing, or that should not exist.
    pub mismatches: usize,
    /// Per-day distinct subjects that were missing or extra.
    pub unique_mismatches: usize,
    /// A few examples, for the operator.
    pub examples: Vec<String>,
}

type BucketKey = (i64, NaiveDate, String);

/// Recomputes tenant `tenant`'s buckets for `from..=to` from its events; with `fix`, rewrites
/// them. Call inside a write transaction when fixing.
pub fn reconcile_tenant(
    c: &mut DbConn,
    tenant: i64,
    metrics: &[Metric],
    from: NaiveDate,
    to: NaiveDate,
    fix: bool,
    report: &mut Report,
) -> QueryResult<()> {
    let start = from.and_time(chrono::NaiveTime::MIN);
    let end = to.succ_opt().unwrap_or(to).and_time(chrono::NaiveTime::MIN);
    let events: Vec<(i64, i64, NaiveDateTime, f64, String, String)> = ue::table
        .filter(ue::tenant_id.eq(tenant))
        .filter(ue::occurred_at.ge(start))
        .filter(ue::occurred_at.lt(end))
        .order((ue::occurred_at, ue::id))
        .select((ue::id, ue::metric_id, ue::occurred_at, ue::value, ue::role, ue::subject))
        .load(c)?;
    let agg_of = |id: i64| metrics.iter().find(|m| m.id == id).map(|m| m.agg()).unwrap_or(Aggregation::Count);
    // Expected buckets: (value, events, latest_at); expected distinct subjects per day and role.
    let mut want: BTreeMap<BucketKey, (f64, i64, NaiveDateTime)> = BTreeMap::new();
    let mut want_u: BTreeSet<(i64, NaiveDate, String, String)> = BTreeSet::new();
    for (_, mid, at, value, role, subject) in &events {
        let day = at.date();
        let agg = agg_of(*mid);
        let e = want.entry((*mid, day, role.clone())).or_insert((
            match agg {
                Aggregation::Max | Aggregation::Latest => f64::NEG_INFINITY,
                _ => 0.0,
            },
            0,
            *at,
        ));
        e.1 += 1;
        match agg {
            Aggregation::UniqueCount => {
                if want_u.insert((*mid, day, role.clone(), subject.clone())) {
                    e.0 += 1.0;
                }
            }
            Aggregation::Max => e.0 = e.0.max(*value),
            Aggregation::Latest => {
                // Events are in time order, so the last one seen is the latest.
                e.0 = *value;
            }
            _ => e.0 += *value,
        }
        e.2 = e.2.max(*at);
    }
    let have: Vec<(i64, NaiveDate, String, f64, i64)> = ud::table
        .filter(ud::tenant_id.eq(tenant))
        .filter(ud::day.ge(from))
        .filter(ud::day.le(to))
        .select((ud::metric_id, ud::day, ud::role, ud::value, ud::events))
        .load(c)?;
    let have: BTreeMap<BucketKey, (f64, i64)> =
        have.into_iter().map(|(m, d, r, v, n)| ((m, d, r), (v, n))).collect();
    let keys: BTreeSet<&BucketKey> = want.keys().chain(have.keys()).collect();
    let mut bad = false;
    for k in keys {
        report.buckets_checked += 1;
        let ok = match (want.get(k), have.get(k)) {
            (Some((wv, wn, _)), Some((hv, hn))) => (wv - hv).abs() < 1e-6 && wn == hn,
            _ => false,
        };
        if !ok {
            report.mismatches += 1;
            bad = true;
            if report.examples.len() < 10 {
                report.examples.push(format!(
                    "tenant {tenant} metric {} day {} role '{}': expected {:?}, found {:?}",
                    k.0,
                    k.1,
                    k.2,
                    want.get(k).map(|(v, n, _)| (v, n)),
                    have.get(k)
                ));
            }
        }
    }
    let have_u: BTreeSet<(i64, NaiveDate, String, String)> = uu::table
        .filter(uu::tenant_id.eq(tenant))
        .filter(uu::day.ge(from))
        .filter(uu::day.le(to))
        .select((uu::metric_id, uu::day, uu::role, uu::subject))
        .load::<(i64, NaiveDate, String, String)>(c)?
        .into_iter()
        .collect();
    let mut unique_diff = want_u.symmetric_difference(&have_u).count();
    // Each subject's last active day, over all of the tenant's events (not only the range).
    let unique_metrics: Vec<i64> =
        metrics.iter().filter(|m| m.agg() == Aggregation::UniqueCount).map(|m| m.id).collect();
    let subject_events: Vec<(i64, NaiveDateTime, String, String)> = ue::table
        .filter(ue::tenant_id.eq(tenant))
        .filter(ue::metric_id.eq_any(unique_metrics))
        .order((ue::occurred_at, ue::id))
        .select((ue::metric_id, ue::occurred_at, ue::subject, ue::role))
        .load(c)?;
    let mut want_s: BTreeMap<(i64, String), (NaiveDate, String)> = BTreeMap::new();
    for (mid, at, subject, role) in subject_events {
        let e = want_s.entry((mid, subject)).or_insert((at.date(), role.clone()));
        if at.date() >= e.0 {
            *e = (at.date(), role);
        }
    }
    let have_s: BTreeMap<(i64, String), NaiveDate> = us::table
        .filter(us::tenant_id.eq(tenant))
        .select((us::metric_id, us::subject, us::last_day))
        .load::<(i64, String, NaiveDate)>(c)?
        .into_iter()
        .map(|(m, s, d)| ((m, s), d))
        .collect();
    let subject_diff = want_s
        .keys()
        .chain(have_s.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| want_s.get(*k).map(|w| w.0) != have_s.get(*k).copied())
        .count();
    unique_diff += subject_diff;
    report.unique_mismatches += unique_diff;
    if fix && subject_diff > 0 {
        diesel::delete(us::table.filter(us::tenant_id.eq(tenant))).execute(c)?;
        for ((mid, subject), (day, role)) in &want_s {
            diesel::insert_into(us::table)
                .values((
                    us::tenant_id.eq(tenant),
                    us::metric_id.eq(mid),
                    us::subject.eq(subject),
                    us::role.eq(role),
                    us::last_day.eq(day),
                ))
                .execute(c)?;
        }
    }
    if fix && (bad || unique_diff > 0) {
        diesel::delete(
            ud::table.filter(ud::tenant_id.eq(tenant)).filter(ud::day.ge(from)).filter(ud::day.le(to)),
        )
        .execute(c)?;
        diesel::delete(
            uu::table.filter(uu::tenant_id.eq(tenant)).filter(uu::day.ge(from)).filter(uu::day.le(to)),
        )
        .execute(c)?;
        for ((mid, day, role), (value, n, latest)) in &want {
            diesel::insert_into(ud::table)
                .values((
                    ud::tenant_id.eq(tenant),
                    ud::metric_id.eq(mid),
                    ud::day.eq(day),
                    ud::role.eq(role),
                    ud::value.eq(value),
                    ud::events.eq(n),
                    ud::latest_at.eq(latest),
                ))
                .execute(c)?;
        }
        for (mid, day, role, subject) in &want_u {
            diesel::insert_into(uu::table)
                .values((
                    uu::tenant_id.eq(tenant),
                    uu::metric_id.eq(mid),
                    uu::day.eq(day),
                    uu::role.eq(role),
                    uu::subject.eq(subject),
                ))
                .execute(c)?;
        }
    }
    report.tenants += 1;
    Ok(())
}

/// Reconciles the given tenants (or every tenant with events) over `from..=to`.
pub fn reconcile(
    c: &mut DbConn,
    tenants: Option<&[i64]>,
    from: NaiveDate,
    to: NaiveDate,
    fix: bool,
) -> QueryResult<Report> {
    let metrics = super::store::metrics(c)?;
    let ids: Vec<i64> = match tenants {
        Some(t) => t.to_vec(),
        None => {
            let mut a: Vec<i64> = ue::table.select(ue::tenant_id).distinct().load(c)?;
            let b: Vec<i64> = ud::table.select(ud::tenant_id).distinct().load(c)?;
            a.extend(b);
            a.sort_unstable();
            a.dedup();
            a
        }
    };
    let mut report = Report::default();
    for t in ids {
        if fix {
            crate::db::write_tx(c, |c| reconcile_tenant(c, t, &metrics, from, to, true, &mut report))?;
        } else {
            reconcile_tenant(c, t, &metrics, from, to, false, &mut report)?;
        }
    }
    Ok(report)
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfill {
    pub lines: usize,
    pub accepted: usize,
    pub duplicates: usize,
    /// (line number, code, reason)
    pub rejected: Vec<(usize, String, String)>,
}

/// Imports events, one JSON object per line, validated like the API (at `now`), in batches of
/// 500. Blank lines are skipped; a line that is not JSON is rejected with its number.
pub fn backfill<R: BufRead>(c: &mut DbConn, input: R, now: DateTime<Utc>) -> anyhow::Result<Backfill> {
    let cat = ingest::catalog(c)?;
    let at = crate::db::now_micros(now);
    let mut out = Backfill::default();
    let mut batch: Vec<Valid> = Vec::new();
    let flush = |c: &mut DbConn, batch: &mut Vec<Valid>, out: &mut Backfill| -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let rec = crate::db::write_tx(c, |c| ingest::record(c, batch, at))?;
        out.accepted += rec.iter().filter(|r| **r == ingest::Recorded::Accepted).count();
        out.duplicates += rec.iter().filter(|r| **r == ingest::Recorded::Duplicate).count();
        batch.clear();
        Ok(())
    };
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.lines += 1;
        match serde_json::from_str::<serde_json::Value>(&line) {
            Err(_) => {
                out.rejected.push((i + 1, "malformed_json".into(), "the line is not valid JSON".into()))
            }
            Ok(v) => match ingest::validate(&v, &cat, now) {
                Ok(valid) => batch.push(valid),
                Err(r) => out.rejected.push((i + 1, r.code.into(), r.reason)),
            },
        }
        if batch.len() >= 500 {
            flush(c, &mut batch, &mut out)?;
        }
    }
    flush(c, &mut batch, &mut out)?;
    Ok(out)
}
