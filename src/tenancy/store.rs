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

/// A tenant by id (platform-admin code and scope-checked handlers only).
pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Tenant> {
    tenants::table.find(id).select(Tenant::as_select()).first(conn)
}

/// A tenant with its district's name and member count, for lists.
#[derive(Debug, Clone)]
pub struct TenantRow {
    /// The tenant.
    pub tenant: Tenant,
    /// The district's name, for a linked school.
    pub district: Option<String>,
    /// Number of memberships.
    pub members: i64,
}

fn decorate(conn: &mut DbConn, rows: Vec<Tenant>) -> QueryResult<Vec<TenantRow>> {
    use crate::db::schema::memberships;
    let parent_ids: Vec<i64> = rows.iter().filter_map(|t| t.parent_id).collect();
    let parents: Vec<(i64, String)> = tenants::table
        .filter(tenants::id.eq_any(parent_ids))
        .select((tenants::id, tenants::name))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
    let counts: Vec<(i64, i64)> = memberships::table
        .filter(memberships::tenant_id.eq_any(ids))
        .group_by(memberships::tenant_id)
        .select((memberships::tenant_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|t| TenantRow {
            district: t
                .parent_id
                .and_then(|p| parents.iter().find(|(id, _)| *id == p).map(|(_, n)| n.clone())),
            members: counts.iter().find(|(id, _)| *id == t.id).map(|(_, n)| *n).unwrap_or(0),
            tenant: t,
        })
        .collect())
}

/// Tenants matching a search (name or slug) and kind, by name, with the total.
pub fn search(
    conn: &mut DbConn,
    q: Option<&str>,
    kind: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<TenantRow>, i64)> {
    let build = || {
        let mut b = tenants::table.into_boxed();
        if let Some(q) = q {
            let pat = format!("%{}%", q.replace(['%', '_'], ""));
            b = b.filter(tenants::name.like(pat.clone()).or(tenants::slug.like(pat.to_uppercase())));
        }
        if let Some(k) = kind {
            b = b.filter(tenants::kind.eq(k.to_string()));
        }
        b
    };
    let total = build().count().get_result(conn)?;
    let rows =
        build().order(tenants::name).offset(offset).limit(limit).select(Tenant::as_select()).load(conn)?;
    Ok((decorate(conn, rows)?, total))
}

/// The schools of these districts (any status), by name.
pub fn schools_of(conn: &mut DbConn, districts: &[i64]) -> QueryResult<Vec<TenantRow>> {
    let rows = tenants::table
        .filter(tenants::parent_id.eq_any(districts.to_vec()))
        .order(tenants::name)
        .select(Tenant::as_select())
        .load(conn)?;
    decorate(conn, rows)
}

/// Schools not linked to any district, by name.
pub fn unlinked_schools(conn: &mut DbConn) -> QueryResult<Vec<Tenant>> {
    tenants::table
        .filter(tenants::kind.eq("school"))
        .filter(tenants::parent_id.is_null())
        .order(tenants::name)
        .select(Tenant::as_select())
        .load(conn)
}

/// All districts, by name.
pub fn districts(conn: &mut DbConn) -> QueryResult<Vec<Tenant>> {
    tenants::table
        .filter(tenants::kind.eq("district"))
        .order(tenants::name)
        .select(Tenant::as_select())
        .load(conn)
}

/// Sets a school's district (None unlinks it).
pub fn set_parent(
    conn: &mut DbConn,
    school: i64,
    district: Option<i64>,
    now: chrono::NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(tenants::table.find(school).filter(tenants::kind.eq("school")))
        .set((tenants::parent_id.eq(district), tenants::updated_at.eq(now)))
        .execute(conn)
}

/// Sets a tenant's status.
pub fn set_status(
    conn: &mut DbConn,
    id: i64,
    status: &str,
    now: chrono::NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(tenants::table.find(id))
        .set((tenants::status.eq(status), tenants::updated_at.eq(now)))
        .execute(conn)
}

/// True when a slug is taken.
pub fn slug_taken(conn: &mut DbConn, slug: &str) -> QueryResult<bool> {
    Ok(by_slug(conn, slug)?.is_some())
}
