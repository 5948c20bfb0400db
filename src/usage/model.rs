//! Rows of the usage tables.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{ingest_keys, metrics, usage_caps, usage_rejected};

/// How a metric's events are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// One per event (a value, if sent, is ignored).
    Count,
    /// The sum of the events' values.
    Sum,
    /// The largest value.
    Max,
    /// The most recent value (by the event's timestamp).
    Latest,
    /// Distinct subjects (a property such as the user id) over the metric's window.
    UniqueCount,
}

impl Aggregation {
    /// Every aggregation, for forms.
    pub const ALL: [Aggregation; 5] = [
        Aggregation::Count,
        Aggregation::Sum,
        Aggregation::Max,
        Aggregation::Latest,
        Aggregation::UniqueCount,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Max => "max",
            Aggregation::Latest => "latest",
            Aggregation::UniqueCount => "unique_count",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Aggregation::Count => "Count of events",
            Aggregation::Sum => "Sum of values",
            Aggregation::Max => "Largest value",
            Aggregation::Latest => "Latest value",
            Aggregation::UniqueCount => "Distinct subjects over a window",
        }
    }

    /// Whether each event must carry a numeric `value`.
    pub fn needs_value(self) -> bool {
        matches!(self, Aggregation::Sum | Aggregation::Max | Aggregation::Latest)
    }
}

/// A metric of the catalog.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = metrics)]
pub struct Metric {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub unit: String,
    pub aggregation: String,
    /// The property whose distinct values are counted (unique_count).
    pub property: String,
    /// Days a unique count looks back (e.g. 30 for active users); 1 otherwise.
    pub window_days: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Metric {
    /// The metric's aggregation (count when the stored name is unknown).
    pub fn agg(&self) -> Aggregation {
        Aggregation::parse(&self.aggregation).unwrap_or(Aggregation::Count)
    }

    /// How a cap on this metric is measured, in words.
    pub fn cap_basis(&self) -> String {
        match self.agg() {
            Aggregation::Count | Aggregation::Sum => "this calendar month".into(),
            Aggregation::Max => "largest value this calendar month".into(),
            Aggregation::Latest => "latest value".into(),
            Aggregation::UniqueCount => format!("distinct in the last {} days", self.window_days),
        }
    }
}

/// An ingest API key (the secret itself is never stored).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ingest_keys)]
pub struct IngestKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, shown so people can tell keys apart.
    pub prefix: String,
    pub key_hash: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A cap on a tenant's use of a metric.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = usage_caps)]
pub struct Cap {
    pub id: i64,
    pub tenant_id: i64,
    pub metric_id: i64,
    pub limit_value: f64,
    /// `soft` (warn) or `hard` (block at 100 %).
    pub enforcement: String,
    pub updated_by: Option<i64>,
    pub updated_at: NaiveDateTime,
}

/// A rejected event, kept for re-submission.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = usage_rejected)]
pub struct Rejected {
    pub id: i64,
    pub received_at: NaiveDateTime,
    pub tenant_ref: String,
    pub metric_key: String,
    pub idempotency_key: String,
    pub code: String,
    pub reason: String,
    pub payload: String,
    pub resubmitted_at: Option<NaiveDateTime>,
    pub outcome: String,
}

/// The first day of the month of `d`.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(chrono::Datelike::year(&d), chrono::Datelike::month(&d), 1).unwrap_or(d)
}

/// The first day of the month after `d`'s.
pub fn next_month_start(d: NaiveDate) -> NaiveDate {
    month_start(d).checked_add_months(chrono::Months::new(1)).unwrap_or(d)
}
