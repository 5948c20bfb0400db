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
