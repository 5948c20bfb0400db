//! Metering events: validation (pure, per event, so one bad event never drops the good ones),
//! idempotent recording (the idempotency key is unique per tenant in the database), daily
//! buckets updated in the same transaction (late events land in their own past day), and the
//! dead-letter table for rejected events.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::model::{Aggregation, Metric};
use crate::db::DbConn;
use crate::db::schema::{
    metrics as m, tenants as t, usage_daily as ud, usage_events as ue, usage_rejected as ur,
    usage_subjects as us, usage_uniques as uu,
};

/// Largest batch accepted in one request.
pub const MAX_BATCH: usize = 1000;
/// Largest `properties` object, serialized.
pub const MAX_PROPERTIES: usize = 4096;
/// How far in the future a timestamp may be (clock skew).
pub const FUTURE_SKEW_MINUTES: i64 = 5;
/// How late an event may arrive.
pub const LATE_WINDOW_DAYS: i64 = 35;

/// What validation needs to know: tenants by slug and id, metrics by key.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Upper-cased slug -> id.
    pub slugs: HashMap<String, i64>,
    /// id -> parent id.
    pub parents: HashMap<i64, Option<i64>>,
    /// key -> metric.
    pub metrics: HashMap<String, Metric>,
}

/// Reads the catalog (tenants and metrics).
pub fn catalog(c: &mut DbConn) -> QueryResult<Catalog> {
    let rows: Vec<(i64, String, Option<i64>)> = t::table.select((t::id, t::slug, t::parent_id)).load(c)?;
    let mut cat = Catalog::default();
    for (id, slug, parent) in rows {
        cat.slugs.insert(slug.to_uppercase(), id);
        cat.parents.insert(id, parent);
    }
    for metric in m::table.select(Metric::as_select()).load(c)? {
        cat.metrics.insert(metric.key.clone(), metric);
    }
    Ok(cat)
}

impl Catalog {
    /// The tenant an event names: a slug (any case) or a numeric id, as a string or a number.
    pub fn tenant(&self, v: &Value) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64().filter(|id| self.parents.contains_key(id)),
            Value::String(s) => {
                let s = s.trim();
                self.slugs
                    .get(&s.to_uppercase())
                    .copied()
                    .or_else(|| s.parse::<i64>().ok().filter(|id| self.parents.contains_key(id)))
            }
            _ => None,
        }
    }
}

/// A valid event, ready to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid {
    pub tenant_id: i64,
    pub metric_id: i64,
    pub agg: Aggregation,
    pub key: String,
    pub occurred_at: NaiveDateTime,
    pub value: f64,
    pub role: String,
    pub subject: String,
    pub properties: String,
}

/// Why an event was refused: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

fn refuse(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal { code, reason: reason.into() }
}

/// Validates one event against the catalog at `now`.
pub fn validate(ev: &Value, cat: &Catalog, now: DateTime<Utc>) -> Result<Valid, Refusal> {
    let Some(obj) = ev.as_object() else {
        return Err(refuse("invalid_event", "each event must be a JSON object"));
    };
    let key = match obj.get("idempotency_key") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.trim().to_string(),
        Some(Value::String(s)) if s.len() > 200 => {
            return Err(refuse("invalid_idempotency_key", "idempotency_key is longer than 200 characters"));
        }
        _ => {
            return Err(refuse(
                "missing_idempotency_key",
                "idempotency_key is required (a non-empty string)",
            ));
        }
    };
    let tenant_ref = obj.get("tenant").ok_or_else(|| refuse("missing_tenant", "tenant is required"))?;
    let tenant_id = cat.tenant(tenant_ref).ok_or_else(|| {
        refuse("unknown_tenant", format!("no tenant {}", tenant_ref.to_string().trim_matches('"')))
    })?;
    let metric_key = obj.get("metric").and_then(Value::as_str).unwrap_or("");
    if metric_key.is_empty() {
        return Err(refuse("missing_metric", "metric is required"));
    }
    let metric = cat
        .metrics
        .get(metric_key)
        .ok_or_else(|| refuse("unknown_metric", format!("no metric {metric_key}")))?;
    let ts = obj.get("timestamp").and_then(Value::as_str).unwrap_or("");
    let at = DateTime::parse_from_rfc3339(ts)
        .map_err(|_| refuse("invalid_timestamp", "timestamp must be RFC 3339, e.g. 2026-12-01T14:03:00Z"))?
        .with_timezone(&Utc);
    if at > now + Duration::minutes(FUTURE_SKEW_MINUTES) {
        return Err(refuse("timestamp_in_future", "timestamp is more than 5 minutes in the future"));
    }
    if at < now - Duration::days(LATE_WINDOW_DAYS) {
        return Err(refuse(
            "too_late",
            format!("timestamp is older than the {LATE_WINDOW_DAYS}-day late window"),
        ));
    }
    let agg = metric.agg();
    let value = match obj.get("value") {
        None | Some(Value::Null) if agg.needs_value() => {
            return Err(refuse("missing_value", format!("metric {metric_key} needs a numeric value")));
        }
        None | Some(Value::Null) => 1.0,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && v >= 0.0 => v,
            _ => return Err(refuse("invalid_value", "value must be a number of at least 0")),
        },
        Some(_) => return Err(refuse("invalid_value", "value must be a number of at least 0")),
    };
    let props = match obj.get("properties") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(refuse("invalid_properties", "properties must be a JSON object")),
    };
    let properties = Value::Object(props.clone()).to_string();
    if properties.len() > MAX_PROPERTIES {
        return Err(refuse("properties_too_large", "properties are larger than 4 KiB"));
    }
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let role: String = text(props.get("role")).chars().take(40).collect();
    let subject = if agg == Aggregation::UniqueCount {
        let s = text(props.get(metric.property.as_str()));
        if s.is_empty() {
            return Err(refuse(
                "missing_property",
                format!("metric {metric_key} counts distinct properties.{}: it is required", metric.property),
            ));
        }
        s.chars().take(200).collect()
    } else {
        String::new()
    };
    Ok(Valid {
        tenant_id,
        metric_id: metric.id,
        agg,
        key,
        occurred_at: at.naive_utc(),
        value: if agg == Aggregation::Count { 1.0 } else { value },
        role,
        subject,
        properties,
    })
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Accepted,
    Duplicate,
}

/// The change one batch makes to a daily bucket.
#[derive(Debug, Clone)]
struct Delta {
    agg: Aggregation,
    value: f64,
    events: i64,
    latest_at: NaiveDateTime,
}

/// An event row to insert.
#[derive(Insertable)]
#[diesel(table_name = ue)]
struct EventRow<'a> {
    tenant_id: i64,
    metric_id: i64,
    idempotency_key: &'a str,
    occurred_at: NaiveDateTime,
    value: f64,
    role: &'a str,
    subject: &'a str,
    properties: &'a str,
    received_at: NaiveDateTime,
}

/// A per-day subject row to insert.
#[derive(Insertable)]
#[diesel(table_name = uu)]
struct UniqueRow<'a> {
    tenant_id: i64,
    metric_id: i64,
    day: NaiveDate,
    role: &'a str,
    subject: &'a str,
}

/// Rows per multi-row INSERT (9 columns each: well under both backends' parameter limits).
const CHUNK: usize = 500;

/// Records valid events and their buckets; call inside one write transaction. Returns, per
/// event, whether it was new or a replay of a key already recorded for its tenant (a key twice
/// in one batch counts once). Events and per-day subjects go in with one multi-row INSERT per
/// 500, the buckets with one upsert per (tenant, metric, day, role) touched.
pub fn record(c: &mut DbConn, events: &[Valid], now: NaiveDateTime) -> QueryResult<Vec<Recorded>> {
    // The first occurrence of each (tenant, key) in the batch is the one that may be new.
    let mut first: HashMap<(i64, &str), usize> = HashMap::with_capacity(events.len());
    let mut candidates: Vec<usize> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        if let std::collections::hash_map::Entry::Vacant(v) = first.entry((e.tenant_id, e.key.as_str())) {
            v.insert(i);
            candidates.push(i);
        }
    }
    // Indexes (into `events`) of the events that were new.
    let mut accepted: HashSet<usize> = HashSet::with_capacity(candidates.len());
    for chunk in candidates.chunks(CHUNK) {
        let rows: Vec<EventRow<'_>> = chunk
            .iter()
            .map(|i| {
                let e = &events[*i];
                EventRow {
                    tenant_id: e.tenant_id,
                    metric_id: e.metric_id,
                    idempotency_key: &e.key,
                    occurred_at: e.occurred_at,
                    value: e.value,
                    role: &e.role,
                    subject: &e.subject,
                    properties: &e.properties,
                    received_at: now,
                }
            })
            .collect();
        match c {
            // PostgreSQL: one statement per chunk (a round trip per row would dominate).
            DbConn::Pg(pg) => {
                let new: Vec<(i64, String)> = diesel::insert_into(ue::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .returning((ue::tenant_id, ue::idempotency_key))
                    .get_results(pg)?;
                accepted.extend(new.iter().filter_map(|(t, k)| first.get(&(*t, k.as_str())).copied()));
            }
            // SQLite runs in process: a prepared single-row insert per event is as fast, and
            // tells directly whether the row was new.
            DbConn::Sqlite(sq) => {
                for (r, i) in rows.iter().zip(chunk) {
                    if diesel::insert_into(ue::table).values(r).on_conflict_do_nothing().execute(sq)? == 1 {
                        accepted.insert(*i);
                    }
                }
            }
        }
    }
    let out: Vec<Recorded> = (0..events.len())
        .map(|i| if accepted.contains(&i) { Recorded::Accepted } else { Recorded::Duplicate })
        .collect();
    // Per-day subjects of the new events of distinct-count metrics: which are new.
    let mut unique_keys: Vec<(i64, i64, NaiveDate, &str, &str)> = events
        .iter()
        .zip(&out)
        .filter(|(e, r)| **r == Recorded::Accepted && e.agg == Aggregation::UniqueCount)
        .map(|(e, _)| (e.tenant_id, e.metric_id, e.occurred_at.date(), e.role.as_str(), e.subject.as_str()))
        .collect();
    unique_keys.sort_unstable();
    unique_keys.dedup();
    let mut new_uniques: HashSet<(i64, i64, NaiveDate, String, String)> = HashSet::new();
    for chunk in unique_keys.chunks(CHUNK) {
        let rows: Vec<UniqueRow<'_>> = chunk
            .iter()
            .map(|(t, m, d, r, s)| UniqueRow { tenant_id: *t, metric_id: *m, day: *d, role: r, subject: s })
            .collect();
        match c {
            DbConn::Pg(pg) => new_uniques.extend(
                diesel::insert_into(uu::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .returning((uu::tenant_id, uu::metric_id, uu::day, uu::role, uu::subject))
                    .get_results::<(i64, i64, NaiveDate, String, String)>(pg)?,
            ),
            DbConn::Sqlite(sq) => {
                for r in &rows {
                    if diesel::insert_into(uu::table).values(r).on_conflict_do_nothing().execute(sq)? == 1 {
                        new_uniques.insert((
                            r.tenant_id,
                            r.metric_id,
                            r.day,
                            r.role.to_string(),
                            r.subject.to_string(),
                        ));
                    }
                }
            }
        }
    }
    let mut deltas: BTreeMap<(i64, i64, NaiveDate, String), Delta> = BTreeMap::new();
    // Subjects seen on a new day: (tenant, metric, subject) -> (day, role, time) of the latest.
    let mut seen: HashMap<(i64, i64, String), (NaiveDate, String, NaiveDateTime)> = HashMap::new();
    for (e, r) in events.iter().zip(&out) {
        if *r != Recorded::Accepted {
            continue;
        }
        let day = e.occurred_at.date();
        let contribution = match e.agg {
            Aggregation::UniqueCount => {
                // Counted once per (day, role, subject): the first event that made it new.
                let k = (e.tenant_id, e.metric_id, day, e.role.clone(), e.subject.clone());
                if new_uniques.remove(&k) {
                    let e2 = seen.entry((e.tenant_id, e.metric_id, e.subject.clone())).or_insert((
                        day,
                        e.role.clone(),
                        e.occurred_at,
                    ));
                    if (day, e.occurred_at) >= (e2.0, e2.2) {
                        *e2 = (day, e.role.clone(), e.occurred_at);
                    }
                    1.0
                } else {
                    0.0
                }
            }
            _ => e.value,
        };
        let d = deltas.entry((e.tenant_id, e.metric_id, day, e.role.clone())).or_insert(Delta {
            agg: e.agg,
            value: match e.agg {
                Aggregation::Max | Aggregation::Latest => f64::NEG_INFINITY,
                _ => 0.0,
            },
            events: 0,
            latest_at: e.occurred_at,
        });
        d.events += 1;
        match e.agg {
            Aggregation::Max => d.value = d.value.max(contribution),
            Aggregation::Latest => {
                if e.occurred_at >= d.latest_at || d.value == f64::NEG_INFINITY {
                    d.value = contribution;
                }
            }
            _ => d.value += contribution,
        }
        d.latest_at = d.latest_at.max(e.occurred_at);
    }
    let buckets: Vec<(Aggregation, BucketRow<'_>)> = deltas
        .iter()
        .map(|((tenant_id, metric_id, day, role), d)| {
            (
                d.agg,
                BucketRow {
                    tenant_id: *tenant_id,
                    metric_id: *metric_id,
                    day: *day,
                    role,
                    value: d.value,
                    events: d.events,
                    latest_at: d.latest_at,
                },
            )
        })
        .collect();
    for agg in Aggregation::ALL {
        let rows: Vec<&BucketRow<'_>> = buckets.iter().filter(|(a, _)| *a == agg).map(|(_, r)| r).collect();
        upsert_buckets(c, agg, &rows)?;
    }
    let subjects: Vec<SubjectRow<'_>> = seen
        .iter()
        .map(|((tenant_id, metric_id, subject), (day, role, _))| SubjectRow {
            tenant_id: *tenant_id,
            metric_id: *metric_id,
            subject,
            role,
            last_day: *day,
        })
        .collect();
    upsert_subjects(c, &subjects)?;
    Ok(out)
}

/// A daily bucket's change.
#[derive(Insertable)]
#[diesel(table_name = ud)]
struct BucketRow<'a> {
    tenant_id: i64,
    metric_id: i64,
    day: NaiveDate,
    role: &'a str,
    value: f64,
    events: i64,
    latest_at: NaiveDateTime,
}

/// A subject's latest active day.
#[derive(Insertable)]
#[diesel(table_name = us)]
struct SubjectRow<'a> {
    tenant_id: i64,
    metric_id: i64,
    subject: &'a str,
    role: &'a str,
    last_day: NaiveDate,
}

/// Adds the buckets' changes (`value` combined as the aggregation says, events added, latest
/// time kept). Typed statements: prepared once and cached on SQLite, one statement per chunk
/// on PostgreSQL.
fn upsert_buckets(c: &mut DbConn, agg: Aggregation, rows: &[&BucketRow<'_>]) -> QueryResult<()> {
    use diesel::dsl::case_when;
    use diesel::upsert::excluded;
    if rows.is_empty() {
        return Ok(());
    }
    let latest = case_when(excluded(ud::latest_at).gt(ud::latest_at), excluded(ud::latest_at))
        .otherwise(ud::latest_at);
    let events = ud::events + excluded(ud::events);
    let target = (ud::tenant_id, ud::metric_id, ud::day, ud::role);
    macro_rules! run {
        ($value:expr) => {
            match c {
                DbConn::Pg(pg) => {
                    for chunk in rows.chunks(CHUNK) {
                        let owned: Vec<&BucketRow<'_>> = chunk.to_vec();
                        diesel::insert_into(ud::table)
                            .values(owned)
                            .on_conflict(target)
                            .do_update()
                            .set((ud::value.eq($value), ud::events.eq(events), ud::latest_at.eq(latest)))
                            .execute(pg)?;
                    }
                }
                DbConn::Sqlite(sq) => {
                    for r in rows {
                        diesel::insert_into(ud::table)
                            .values(*r)
                            .on_conflict(target)
                            .do_update()
                            .set((ud::value.eq($value), ud::events.eq(events), ud::latest_at.eq(latest)))
                            .execute(sq)?;
                    }
                }
            }
        };
    }
    match agg {
        Aggregation::Max => {
            run!(case_when(excluded(ud::value).gt(ud::value), excluded(ud::value)).otherwise(ud::value))
        }
        Aggregation::Latest => {
            run!(
                case_when(excluded(ud::latest_at).ge(ud::latest_at), excluded(ud::value))
                    .otherwise(ud::value)
            )
        }
        _ => run!(ud::value + excluded(ud::value)),
    }
    Ok(())
}

/// Records subjects' latest active days (and their role then).
fn upsert_subjects(c: &mut DbConn, rows: &[SubjectRow<'_>]) -> QueryResult<()> {
    use diesel::dsl::case_when;
    use diesel::upsert::excluded;
    if rows.is_empty() {
        return Ok(());
    }
    let role = case_when(excluded(us::last_day).ge(us::last_day), excluded(us::role)).otherwise(us::role);
    let day =
        case_when(excluded(us::last_day).gt(us::last_day), excluded(us::last_day)).otherwise(us::last_day);
    let target = (us::tenant_id, us::metric_id, us::subject);
    match c {
        DbConn::Pg(pg) => {
            for chunk in rows.chunks(CHUNK) {
                diesel::insert_into(us::table)
                    .values(chunk)
                    .on_conflict(target)
                    .do_update()
                    .set((us::role.eq(role), us::last_day.eq(day)))
                    .execute(pg)?;
            }
        }
        DbConn::Sqlite(sq) => {
            for r in rows {
                diesel::insert_into(us::table)
                    .values(r)
                    .on_conflict(target)
                    .do_update()
                    .set((us::role.eq(role), us::last_day.eq(day)))
                    .execute(sq)?;
            }
        }
    }
    Ok(())
}

/// Keeps a refused event in the dead-letter table.
pub fn reject(c: &mut DbConn, ev: &Value, why: &Refusal, now: NaiveDateTime) -> QueryResult<i64> {
    let text = |k: &str| match ev.get(k) {
        Some(Value::String(s)) => s.chars().take(200).collect(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut payload = ev.to_string();
    if payload.len() > 16 * 1024 {
        // On a character boundary: JSON keeps non-ASCII text as it is.
        payload.truncate(payload.floor_char_boundary(16 * 1024));
    }
    diesel::insert_into(ur::table)
        .values((
            ur::received_at.eq(now),
            ur::tenant_ref.eq(text("tenant")),
            ur::metric_key.eq(text("metric")),
            ur::idempotency_key.eq(text("idempotency_key")),
            ur::code.eq(why.code),
            ur::reason.eq(&why.reason),
            ur::payload.eq(payload),
        ))
        .returning(ur::id)
        .get_result(c)
}

/// The events of a request body: `{"events": [...]}`, a bare array, or one event object.
pub fn events_of(body: &Value) -> Option<Vec<Value>> {
    match body {
        Value::Array(a) => Some(a.clone()),
        Value::Object(o) => match o.get("events") {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(_) => None,
            None => Some(vec![body.clone()]),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cat() -> Catalog {
        let mut cat = Catalog::default();
        cat.slugs.insert("LINCOLN-HIGH".into(), 2);
        cat.parents.insert(2, Some(1));
        cat.parents.insert(1, None);
        let at = chrono::NaiveDateTime::default();
        for (id, key, agg, prop) in [
            (1, "assessments", "count", ""),
            (2, "active_staff_users", "unique_count", "user_id"),
            (3, "storage_bytes", "latest", ""),
        ] {
            cat.metrics.insert(
                key.into(),
                Metric {
                    id,
                    key: key.into(),
                    name: key.into(),
                    unit: "".into(),
                    aggregation: agg.into(),
                    property: prop.into(),
                    window_days: 30,
                    created_at: at,
                    updated_at: at,
                },
            );
        }
        cat
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap_or_default().with_timezone(&Utc)
    }

    #[test]
    fn validates_each_field() {
        let c = cat();
        let ok = json!({"idempotency_key": "a1", "tenant": "lincoln-high", "metric": "assessments",
            "timestamp": "2026-12-01T11:00:00Z", "properties": {"role": "teacher"}});
        let v = validate(&ok, &c, now()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((v.tenant_id, v.value, v.role.as_str()), (2, 1.0, "teacher"));
        let code = |ev: Value| validate(&ev, &c, now()).err().map(|r| r.code);
        let mut e = ok.clone();
        e["tenant"] = json!("NOPE");
        assert_eq!(code(e), Some("unknown_tenant"));
        let mut e = ok.clone();
        e["metric"] = json!("nope");
        assert_eq!(code(e), Some("unknown_metric"));
        let mut e = ok.clone();
        e["timestamp"] = json!("2026-12-01T12:06:00Z");
        assert_eq!(code(e), Some("timestamp_in_future"));
        let mut e = ok.clone();
        e["timestamp"] = json!("2026-10-26T11:59:00Z");
        assert_eq!(code(e), Some("too_late"));
        let mut e = ok.clone();
        e["timestamp"] = json!("2026-10-27T12:01:00Z");
        assert_eq!(code(e), None, "34 days late is fine");
        let mut e = ok.clone();
        e["metric"] = json!("storage_bytes");
        assert_eq!(code(e.clone()), Some("missing_value"));
        e["value"] = json!("12");
        assert_eq!(code(e), Some("invalid_value"));
        let mut e = ok.clone();
        e["metric"] = json!("active_staff_users");
        assert_eq!(code(e.clone()), Some("missing_property"));
        e["properties"] = json!({"user_id": 42});
        assert_eq!(validate(&e, &c, now()).map(|v| v.subject).ok(), Some("42".to_string()));
        let mut e = ok.clone();
        e["properties"] = json!({"blob": "x".repeat(5000)});
        assert_eq!(code(e), Some("properties_too_large"));
        assert_eq!(code(json!("x")), Some("invalid_event"));
        let mut e = ok;
        e["idempotency_key"] = json!("");
        assert_eq!(code(e), Some("missing_idempotency_key"));
    }

    #[test]
    fn long_dead_letters_are_cut_between_characters() {
        let mut c = crate::db::ConnManager::new("sqlite://:memory:").and_then(|m| m.connect_once()).unwrap();
        crate::db::run_migrations(&mut c).unwrap();
        let why = refuse("properties_too_large", "properties are larger than 4 KiB");
        // A two-byte character across the 16 KiB cut used to panic (whichever offset it lands on).
        for pad in 0..3 {
            let ev =
                json!({"idempotency_key": "k", "properties": {"note": "x".repeat(pad) + &"é".repeat(9000)}});
            let id = reject(&mut c, &ev, &why, chrono::NaiveDateTime::default()).unwrap();
            let kept: String = ur::table.find(id).select(ur::payload).first(&mut c).unwrap();
            assert!(kept.len() <= 16 * 1024 && kept.len() >= 16 * 1024 - 1, "{}", kept.len());
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(events_of(&json!({"events": [1, 2]})).map(|v| v.len()), Some(2));
        assert_eq!(events_of(&json!([1])).map(|v| v.len()), Some(1));
        assert_eq!(events_of(&json!({"metric": "x"})).map(|v| v.len()), Some(1));
        assert_eq!(events_of(&json!({"events": 3})), None);
        assert_eq!(events_of(&json!(3)), None);
    }
}
