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

/// Why a tenant user may not sign in (every district or school they belong to is suspended).
pub fn sign_in_blocked_reason(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<String>> {
    let user = user_by_id(conn, user_id)?;
    if user.platform_role.is_some() {
        return Ok(None);
    }
    let ms = memberships_of(conn, user_id)?;
    if ms.is_empty() {
        return Ok(None);
    }
    let mut names = Vec::new();
    for m in &ms {
        let parent_status: Option<String> = match m.parent_id {
            Some(pid) => Some(tenants::table.find(pid).select(tenants::status).first(conn)?),
            None => None,
        };
        let suspended = m.tenant_status == "suspended" || parent_status.as_deref() == Some("suspended");
        if !suspended {
            return Ok(None);
        }
        names.push(m.tenant_name.clone());
    }
    Ok(Some(format!(
        "Keel access for {} is suspended, so you can't sign in. Your district's administrator can ask the vendor to restore it.",
        names.join(", ")
    )))
}

/// Remembers the last accepted TOTP step (codes are never accepted twice).
pub fn set_totp_last_step(conn: &mut DbConn, user_id: i64, step: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id)).set(users::totp_last_step.eq(Some(step))).execute(conn)
}

/// Uses one unused recovery code with this hash; true when one was found.
pub fn use_recovery_code(
    conn: &mut DbConn,
    user_id: i64,
    code_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    use crate::db::schema::user_recovery_codes as rc;
    let n = diesel::update(
        rc::table
            .filter(rc::user_id.eq(user_id))
            .filter(rc::code_hash.eq(code_hash))
            .filter(rc::used_at.is_null()),
    )
    .set(rc::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n > 0)
}

/// Unused recovery codes left.
pub fn recovery_codes_left(conn: &mut DbConn, user_id: i64) -> QueryResult<i64> {
    use crate::db::schema::user_recovery_codes as rc;
    rc::table.filter(rc::user_id.eq(user_id)).filter(rc::used_at.is_null()).count().get_result(conn)
}

/// Replaces a user's recovery codes.
pub fn replace_recovery_codes(conn: &mut DbConn, user_id: i64, hashes: &[String]) -> QueryResult<()> {
    use crate::db::schema::user_recovery_codes as rc;
    diesel::delete(rc::table.filter(rc::user_id.eq(user_id))).execute(conn)?;
    for h in hashes {
        diesel::insert_into(rc::table)
            .values((rc::user_id.eq(user_id), rc::code_hash.eq(h)))
            .execute(conn)?;
    }
    Ok(())
}

/// Stores a TOTP secret being set up (not yet enabled).
pub fn set_pending_totp(conn: &mut DbConn, user_id: i64, secret_b32: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id).filter(users::totp_enabled.eq(false)))
        .set(users::totp_secret.eq(Some(secret_b32)))
        .execute(conn)
}

/// Turns TOTP on after the first code was confirmed.
pub fn enable_totp(conn: &mut DbConn, user_id: i64, step: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set((users::totp_enabled.eq(true), users::totp_last_step.eq(Some(step)), users::updated_at.eq(now)))
        .execute(conn)
}

/// Turns TOTP off and forgets the secret and recovery codes.
pub fn disable_totp(conn: &mut DbConn, user_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    use crate::db::schema::user_recovery_codes as rc;
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_enabled.eq(false),
            users::totp_secret.eq(None::<String>),
            users::totp_last_step.eq(None::<i64>),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(rc::table.filter(rc::user_id.eq(user_id))).execute(conn)?;
    Ok(())
}

/// Sets a new password hash.
pub fn set_password(conn: &mut DbConn, user_id: i64, hash: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(Some(hash)),
            users::password_changed_at.eq(Some(now)),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

/// A user's sessions, newest first.
pub fn sessions_of(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order(sessions::last_seen_at.desc())
        .select(Session::as_select())
        .load(conn)
}

/// Ends one of the user's own sessions.
pub fn delete_session_of(conn: &mut DbConn, user_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(sessions::table.find(id).filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// A member as the members pages show them.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub membership_id: i64,
    pub user_id: i64,
    pub display_name: String,
    pub email: String,
    pub role: String,
    pub tenant_id: i64,
    pub tenant_name: String,
    pub status: String,
    pub last_sign_in_at: Option<NaiveDateTime>,
}

/// Members of these tenants, by tenant then name.
pub fn members_of(conn: &mut DbConn, tenant_ids: &[i64]) -> QueryResult<Vec<MemberRow>> {
    type Row = (i64, i64, String, String, String, i64, String, String, Option<NaiveDateTime>);
    let rows: Vec<Row> = memberships::table
        .inner_join(users::table)
        .inner_join(tenants::table)
        .filter(memberships::tenant_id.eq_any(tenant_ids.to_vec()))
        .order((tenants::name, users::display_name))
        .select((
            memberships::id,
            users::id,
            users::display_name,
            users::email,
            memberships::role,
            tenants::id,
            tenants::name,
            users::status,
            users::last_sign_in_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| MemberRow {
            membership_id: r.0,
            user_id: r.1,
            display_name: r.2,
            email: r.3,
            role: r.4,
            tenant_id: r.5,
            tenant_name: r.6,
            status: r.7,
            last_sign_in_at: r.8,
        })
        .collect())
}

/// One membership.
pub fn membership(conn: &mut DbConn, id: i64) -> QueryResult<Option<Membership>> {
    memberships::table.find(id).select(Membership::as_select()).first(conn).optional()
}

/// Changes a membership's role.
pub fn set_membership_role(conn: &mut DbConn, id: i64, role: &str) -> QueryResult<usize> {
    diesel::update(memberships::table.find(id)).set(memberships::role.eq(role)).execute(conn)
}

/// Removes a membership.
pub fn delete_membership(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(memberships::table.find(id)).execute(conn)
}

/// Users matching a search (name or email), by name, with the total.
pub fn search_users(
    conn: &mut DbConn,
    q: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<User>, i64)> {
    let build = || {
        let mut b = users::table.into_boxed();
        if let Some(q) = q {
            let pat = format!("%{}%", q.to_ascii_lowercase().replace(['%', '_'], ""));
            b = b.filter(users::email.like(pat.clone()).or(users::display_name.like(pat)));
        }
        b
    };
    let total = build().count().get_result(conn)?;
    let rows = build()
        .order(users::display_name)
        .offset(offset)
        .limit(limit)
        .select(User::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Sets a user's status (`active` or `disabled`); disabling ends every session.
pub fn set_user_status(conn: &mut DbConn, id: i64, status: &str, now: NaiveDateTime) -> QueryResult<usize> {
    let n = diesel::update(users::table.find(id))
        .set((users::status.eq(status), users::updated_at.eq(now)))
        .execute(conn)?;
    if status != "active" {
        delete_sessions_of(conn, id, None)?;
    }
    Ok(n)
}

impl MemberRow {
    /// The role in words.
    pub fn role_label(&self) -> &'static str {
        super::Role::parse(&self.role).map(|r| r.label()).unwrap_or("Unknown role")
    }
}

/// Deletes tokens that expired more than 30 days ago, and stale throttle rows.
pub fn purge_tokens(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    use crate::db::schema::{auth_tokens as at, login_attempts as la};
    let a = diesel::delete(at::table.filter(at::expires_at.lt(now - Duration::days(30)))).execute(conn)?;
    let b = diesel::delete(
        la::table
            .filter(la::last_failure_at.lt(now - Duration::days(2)))
            .filter(la::locked_until.is_null().or(la::locked_until.lt(now))),
    )
    .execute(conn)?;
    Ok(a + b)
}
