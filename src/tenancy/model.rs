//! Rows of `tenants`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::tenants;

/// A district or a school.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: i64,
    /// `district | school`.
    pub kind: String,
    /// The school's district.
    pub parent_id: Option<i64>,
    pub name: String,
    /// Unique, used in invoice numbers and URLs.
    pub slug: String,
    /// `active | suspended`.
    pub status: String,
    pub region: String,
    /// IANA zone, e.g. `America/Chicago`.
    pub time_zone: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The SLA tier set on this tenant (a school without one has its district's).
    pub sla_tier_id: Option<i64>,
}

/// Insert form.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tenants)]
pub struct NewTenant {
    pub kind: String,
    pub parent_id: Option<i64>,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub region: String,
    pub time_zone: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
