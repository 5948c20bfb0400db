//! Queries on users, memberships and sessions. These are identity records, not tenant data:
//! tenant-scoped reads go through `tenancy::Scope`.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::model::{Membership, NewMembership, NewSession, NewUser, Session, User};
use crate::db::DbConn;
use crate::db::schema::{memberships, sessions, tenants, users};

/// A user by (lower-cased) email.
pub fn user_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email.to_ascii_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// A user by id.
pub fn user_by_id(conn: &mut DbConn, id: i64) -> QueryResult<User> {
    users::table.find(id).select(User::as_select()).first(conn)
}

/// Inserts a user and returns its id.
pub fn insert_user(conn: &mut DbConn, u: &NewUser) -> QueryResult<i64> {
    diesel::insert_into(users::table).values(u).returning(users::id).get_result(conn)
}

/// Adds a membership and returns its id.
pub fn insert_membership(conn: &mut DbConn, m: &NewMembership) -> QueryResult<i64> {
    diesel::insert_into(memberships::table).values(m).returning(memberships::id).get_result(conn)
}

/// A membership with the tenant it points at.
#[derive(Debug, Clone)]
pub struct MembershipWithTenant {
    /// The membership.
    pub membership: Membership,
    /// Tenant name.
    pub tenant_name: String,
    /// `district | school`.
    pub tenant_kind: String,
    /// The school's district.
    pub parent_id: Option<i64>,
    /// `active | suspended`.
    pub tenant_status: String,
}

/// A user's memberships with their tenants.
pub fn memberships_of(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<MembershipWithTenant>> {
    let rows: Vec<(Membership, String, String, Option<i64>, String)> = memberships::table
        .inner_join(tenants::table)
        .filter(memberships::user_id.eq(user_id))
        .order(memberships::id)
        .select((Membership::as_select(), tenants::name, tenants::kind, tenants::parent_id, tenants::status))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(membership, tenant_name, tenant_kind, parent_id, tenant_status)| MembershipWithTenant {
            membership,
            tenant_name,
            tenant_kind,
            parent_id,
            tenant_status,
        })
        .collect())
}

/// Records a successful sign-in (and an upgraded hash when given).
pub fn record_sign_in(
    conn: &mut DbConn,
    user_id: i64,
    new_hash: Option<String>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((users::last_sign_in_at.eq(Some(now)), users::updated_at.eq(now)))
        .execute(conn)?;
    if let Some(h) = new_hash {
        diesel::update(users::table.find(user_id)).set(users::password_hash.eq(Some(h))).execute(conn)?;
    }
    Ok(())
}

/// Creates a session row.
pub fn insert_session(conn: &mut DbConn, s: &NewSession) -> QueryResult<i64> {
    diesel::insert_into(sessions::table).values(s).returning(sessions::id).get_result(conn)
}

/// The session with this token hash and its user.
pub fn session_with_user(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<(Session, User)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .select((Session::as_select(), User::as_select()))
        .first(conn)
        .optional()
}

/// Moves `last_seen_at` forward.
pub fn touch_session(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id)).set(sessions::last_seen_at.eq(now)).execute(conn)
}

/// Ends one session.
pub fn delete_session(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(sessions::table.find(id)).execute(conn)
}

/// Ends every session of a user (except `keep`, when given).
pub fn delete_sessions_of(conn: &mut DbConn, user_id: i64, keep: Option<i64>) -> QueryResult<usize> {
    let q = sessions::table.filter(sessions::user_id.eq(user_id));
    match keep {
        Some(k) => diesel::delete(q.filter(sessions::id.ne(k))).execute(conn),
        None => diesel::delete(q).execute(conn),
    }
}

/// Deletes sessions idle or older than the limits.
pub fn purge_sessions(
    conn: &mut DbConn,
    now: NaiveDateTime,
    idle: Duration,
    absolute: Duration,
) -> QueryResult<usize> {
    diesel::delete(
        sessions::table
            .filter(sessions::last_seen_at.lt(now - idle).or(sessions::created_at.lt(now - absolute))),
    )
    .execute(conn)
}

/// Number of users (the demo seeder checks it).
pub fn count_users(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}
