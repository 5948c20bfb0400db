//! Queries on tenants used by platform-admin code, the CLI and the demo seeder.
//! Tenant-scoped reads for signed-in users go through the principal's scope.

use diesel::prelude::*;

use super::model::{NewTenant, Tenant};
use crate::db::DbConn;
use crate::db::schema::tenants;

/// Inserts a tenant and returns its id.
pub fn insert(conn: &mut DbConn, t: &NewTenant) -> QueryResult<i64> {
    diesel::insert_into(tenants::table).values(t).returning(tenants::id).get_result(conn)
}

/// A tenant by slug.
pub fn by_slug(conn: &mut DbConn, slug: &str) -> QueryResult<Option<Tenant>> {
    tenants::table.filter(tenants::slug.eq(slug)).select(Tenant::as_select()).first(conn).optional()
}

/// Number of tenants per kind (districts, schools).
pub fn counts(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    tenants::table.group_by(tenants::kind).select((tenants::kind, diesel::dsl::count_star())).load(conn)
}

/// (school id, district id) of the active schools linked to these districts.
pub fn active_children_of(conn: &mut DbConn, districts: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    if districts.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Option<i64>)> = tenants::table
        .filter(tenants::parent_id.eq_any(districts.to_vec()))
        .filter(tenants::status.eq("active"))
        .select((tenants::id, tenants::parent_id))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, p)| p.map(|p| (id, p))).collect())
}

/// (id, name) of tenants, limited to `only` when given, ordered by name.
pub fn names(conn: &mut DbConn, only: Option<&[i64]>) -> QueryResult<Vec<(i64, String)>> {
    let mut q = tenants::table.into_boxed();
    if let Some(ids) = only {
        q = q.filter(tenants::id.eq_any(ids.to_vec()));
    }
    q.order(tenants::name).select((tenants::id, tenants::name)).load(conn)
}
