//! Demo usage: the four standard metrics, an ingest key, 90 days of events for every school
//! (weekday peaks, quiet weekends, each school its own size and habits; Roper Elementary close
//! to its own assessments cap), and caps, with the alerts they cause. Events go through the
//! same recording path as the API, so buckets, reconcile and rollups agree with them.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc, Weekday};
use diesel::prelude::*;
use serde_json::json;

use super::ingest::{self, Valid};
use super::model::Aggregation;
use super::store::{self, NewMetric};
use crate::audit::Actor;
use crate::db::DbConn;
use crate::db::schema::{tenants as t, usage_caps as uc};

/// The standard metrics (also what a fresh install is offered in the docs).
pub fn standard_metrics() -> Vec<NewMetric> {
    let m = |key: &str, name: &str, unit: &str, agg: &str, prop: &str, window: i32| NewMetric {
        key: key.into(),
        name: name.into(),
        unit: unit.into(),
        aggregation: agg.into(),
        property: prop.into(),
        window_days: window,
    };
    vec![
        m("assessments", "Assessments", "assessments", "count", "", 1),
        m("active_staff_users", "Active staff users", "users", "unique_count", "user_id", 30),
        m("storage_bytes", "Storage", "bytes", "latest", "", 1),
        m("audio_minutes", "Audio minutes", "minutes", "sum", "", 1),
    ]
}

/// A small deterministic generator (the demo is the same every time).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

/// A school's size and habits.
struct School {
    id: i64,
    slug: String,
    teachers: usize,
    /// Assessments per active teacher on a school day.
    per_teacher: f64,
    audio: bool,
}

/// Seeds the demo usage; returns the demo product's ingest key.
pub fn seed(c: &mut DbConn, now: DateTime<Utc>, base_url: &str) -> QueryResult<String> {
    let at = crate::db::now_micros(now);
    let actor = Actor::system("keel demo seed");
    for m in standard_metrics() {
        store::insert_metric(c, &m, at)?;
    }
    let (_, key) = super::keys::insert(c, &actor, "Assessment app (demo)", at)?;
    let cat = ingest::catalog(c)?;
    let schools: Vec<(i64, String)> =
        t::table.filter(t::parent_id.is_not_null()).order(t::id).select((t::id, t::slug)).load(c)?;
    let mut rng = Rng(20_261_201);
    let schools: Vec<School> = schools
        .into_iter()
        .enumerate()
        .map(|(i, (id, slug))| School {
            id,
            teachers: [64, 38, 22, 26, 18, 70, 55, 24, 31][i % 9],
            per_teacher: [0.9, 1.3, 0.7, 1.6, 0.8, 1.0, 1.2, 0.6, 1.1][i % 9],
            audio: i % 3 != 1,
            slug,
        })
        .collect();
    let metric = |k: &str| cat.metrics.get(k).map(|m| m.id).unwrap_or_default();
    let (assess, staff, storage, audio) = (
        metric("assessments"),
        metric("active_staff_users"),
        metric("storage_bytes"),
        metric("audio_minutes"),
    );
    let mut batch: Vec<Valid> = Vec::new();
    let mut n = 0u64;
    for day_ago in (0..90).rev() {
        let day = (now - Duration::days(day_ago)).date_naive();
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        // Thanksgiving-style break: a quiet week a month ago.
        let holiday = (29..34).contains(&day_ago);
        for s in &schools {
            let base = day.and_hms_opt(7, 30, 0).unwrap_or_default();
            let mut ev = |agg: Aggregation,
                          metric_id: i64,
                          t: NaiveDateTime,
                          value: f64,
                          role: &str,
                          subject: String| {
                n += 1;
                Valid {
                    tenant_id: s.id,
                    metric_id,
                    agg,
                    key: format!("demo-{n}"),
                    occurred_at: t,
                    value,
                    role: role.into(),
                    subject,
                    properties: json!({"role": role}).to_string(),
                }
            };
            let share = if weekend || holiday { 0.05 } else { 0.55 + 0.35 * rng.f() };
            let active = ((s.teachers as f64) * share).round() as usize;
            for k in 0..active {
                let teacher = (k * 7 + day_ago as usize) % s.teachers;
                let role = if teacher.is_multiple_of(9) { "specialist" } else { "teacher" };
                let t = base + Duration::minutes((rng.next() % 480) as i64);
                if !(day_ago == 0 && t > at) {
                    batch.push(ev(
                        Aggregation::UniqueCount,
                        staff,
                        t,
                        1.0,
                        role,
                        format!("{}-t{teacher:03}", s.slug.to_lowercase()),
                    ));
                }
                let count = (s.per_teacher * (0.5 + rng.f())).round() as usize;
                for _ in 0..count {
                    let t = base + Duration::minutes((rng.next() % 500) as i64);
                    if day_ago == 0 && t > at {
                        continue;
                    }
                    batch.push(ev(Aggregation::Count, assess, t, 1.0, role, String::new()));
                    if s.audio && rng.f() < 0.4 {
                        let minutes = (2.0 + 10.0 * rng.f()).round();
                        batch.push(ev(Aggregation::Sum, audio, t, minutes, role, String::new()));
                    }
                }
            }
            let gb = (s.teachers as f64) * 0.35 + (90 - day_ago) as f64 * 0.02 * s.teachers as f64 / 10.0;
            let t = base + Duration::hours(16);
            if !(day_ago == 0 && t > at) {
                batch.push(ev(
                    Aggregation::Latest,
                    storage,
                    t.with_minute(0).unwrap_or(t),
                    (gb * 1e9).round(),
                    "",
                    String::new(),
                ));
            }
        }
        if batch.len() > 2000 {
            ingest::record(c, &batch, at)?;
            batch.clear();
        }
    }
    ingest::record(c, &batch, at)?;
    // Two events the product sent that were refused: a school not yet set up in Keel, and a
    // report that came back from an offline device too late.
    for (ev, code, reason) in [
        (
            json!({"idempotency_key": "asg-9c1e-created", "tenant": "LINCOLN-NORTH-HS", "metric": "assessments",
                "timestamp": (now - Duration::hours(3)).to_rfc3339(), "properties": {"role": "teacher"}}),
            "unknown_tenant",
            "no tenant LINCOLN-NORTH-HS",
        ),
        (
            json!({"idempotency_key": "asg-77f0-created", "tenant": "ROPER-ES", "metric": "assessments",
                "timestamp": (now - Duration::days(41)).to_rfc3339(), "properties": {"role": "teacher"}}),
            "too_late",
            "timestamp is older than the 35-day late window",
        ),
    ] {
        ingest::reject(c, &ev, &ingest::Refusal { code, reason: reason.into() }, at)?;
    }
    // Caps: Lincoln's district-wide staff cap (hard) and monthly assessments budget (soft);
    // Roper Elementary's own staff cap, which it is close to; Riverside's storage budget.
    let slug_id = |c: &mut DbConn, s: &str| -> QueryResult<Option<i64>> {
        t::table.filter(t::slug.eq(s)).select(t::id).first(c).optional()
    };
    for (slug, metric_id, limit, mode) in [
        ("LINCOLN", staff, 260.0, "hard"),
        ("LINCOLN", assess, 9000.0, "soft"),
        ("ROPER-ES", staff, 28.0, "hard"),
        ("RIVERSIDE", storage, 150e9, "soft"),
    ] {
        if let Some(id) = slug_id(c, slug)? {
            diesel::insert_into(uc::table)
                .values((
                    uc::tenant_id.eq(id),
                    uc::metric_id.eq(metric_id),
                    uc::limit_value.eq(limit),
                    uc::enforcement.eq(mode),
                    uc::updated_at.eq(at),
                ))
                .execute(c)?;
        }
    }
    // Plans: Free, Standard (two versions: Lincoln stays on v1) and Enterprise.
    let plan = |key: &str, name: &str, price: &str, features: &str, inc: [(i64, f64, &str); 3]| {
        super::plans::NewPlan {
            key: key.into(),
            name: name.into(),
            currency: "USD".into(),
            seat_price: price.into(),
            period: "year".into(),
            features: features.into(),
            metrics: inc.iter().map(|(m, i, p)| (*m, *i, p.to_string())).collect(),
        }
    };
    let (_, _) = super::plans::save_version(
        c,
        &actor,
        &plan("free", "Free", "0", "", [(assess, 200.0, "0"), (staff, 5.0, "0"), (audio, 0.0, "0")]),
        at,
    )?;
    let (standard_v1, _) = super::plans::save_version(
        c,
        &actor,
        &plan(
            "standard",
            "Standard",
            "36.50",
            "audio_feedback",
            [(assess, 8000.0, "0.05"), (staff, 250.0, "0"), (audio, 5000.0, "0.012")],
        ),
        at,
    )?;
    super::plans::save_version(
        c,
        &actor,
        &plan(
            "standard",
            "Standard",
            "38.80",
            "audio_feedback",
            [(assess, 9000.0, "0.05"), (staff, 250.0, "0"), (audio, 6000.0, "0.012")],
        ),
        at,
    )?;
    let (enterprise, _) = super::plans::save_version(
        c,
        &actor,
        &plan(
            "enterprise",
            "Enterprise",
            "34.00",
            "audio_feedback, sso, district_rollups",
            [(assess, 50000.0, "0.03"), (staff, 1000.0, "0"), (audio, 40000.0, "0.01")],
        ),
        at,
    )?;
    if let Some(id) = slug_id(c, "LINCOLN")? {
        super::plans::assign(c, &actor, id, standard_v1, 1250, at)?;
    }
    if let Some(id) = slug_id(c, "RIVERSIDE")? {
        super::plans::assign(c, &actor, id, enterprise, 640, at)?;
    }
    let owners: Vec<i64> = store::all_caps(c)?.iter().map(|c| c.tenant_id).collect();
    super::caps::evaluate(c, &owners, base_url, at)?;
    Ok(key)
}
