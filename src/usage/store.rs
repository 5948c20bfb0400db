//! Queries on the usage tables. Tenant data: handlers check the principal's scope first.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{Cap, IngestKey, Metric, Rejected};
use crate::db::DbConn;
use crate::db::schema::{ingest_keys as ik, metrics as m, usage_caps as uc, usage_rejected as ur};

/// One metric.
pub fn metric(c: &mut DbConn, id: i64) -> QueryResult<Metric> {
    m::table.find(id).select(Metric::as_select()).first(c)
}

/// A metric by key.
pub fn metric_by_key(c: &mut DbConn, key: &str) -> QueryResult<Option<Metric>> {
    m::table.filter(m::key.eq(key)).select(Metric::as_select()).first(c).optional()
}

/// The catalog, by name.
pub fn metrics(c: &mut DbConn) -> QueryResult<Vec<Metric>> {
    m::table.order(m::name).select(Metric::as_select()).load(c)
}

/// Adds a metric (inside the caller's write transaction).
pub fn insert_metric(c: &mut DbConn, new: &NewMetric, now: NaiveDateTime) -> QueryResult<i64> {
    diesel::insert_into(m::table)
        .values((
            m::key.eq(&new.key),
            m::name.eq(&new.name),
            m::unit.eq(&new.unit),
            m::aggregation.eq(&new.aggregation),
            m::property.eq(&new.property),
            m::window_days.eq(new.window_days),
            m::created_at.eq(now),
            m::updated_at.eq(now),
        ))
        .returning(m::id)
        .get_result(c)
}

/// A metric to add.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewMetric {
    pub key: String,
    pub name: String,
    pub unit: String,
    pub aggregation: String,
    pub property: String,
    pub window_days: i32,
}

/// Every ingest key, newest first.
pub fn keys(c: &mut DbConn) -> QueryResult<Vec<IngestKey>> {
    ik::table.order(ik::id.desc()).select(IngestKey::as_select()).load(c)
}

/// The active key with this hash.
pub fn key_by_hash(c: &mut DbConn, hash: &str) -> QueryResult<Option<IngestKey>> {
    ik::table
        .filter(ik::key_hash.eq(hash))
        .filter(ik::revoked_at.is_null())
        .select(IngestKey::as_select())
        .first(c)
        .optional()
}

/// A tenant's caps.
pub fn caps_of(c: &mut DbConn, tenants: &[i64]) -> QueryResult<Vec<Cap>> {
    uc::table.filter(uc::tenant_id.eq_any(tenants.to_vec())).order(uc::id).select(Cap::as_select()).load(c)
}

/// Every cap (the entitlement cache holds them all).
pub fn all_caps(c: &mut DbConn) -> QueryResult<Vec<Cap>> {
    uc::table.select(Cap::as_select()).load(c)
}

/// Rejected events, newest first, open ones only unless `all`.
pub fn rejected(c: &mut DbConn, all: bool, offset: i64, limit: i64) -> QueryResult<(Vec<Rejected>, i64)> {
    let build = || {
        let mut q = ur::table.into_boxed();
        if !all {
            q = q.filter(ur::resubmitted_at.is_null());
        }
        q
    };
    let total = build().count().get_result(c)?;
    let rows =
        build().order(ur::id.desc()).offset(offset).limit(limit).select(Rejected::as_select()).load(c)?;
    Ok((rows, total))
}
