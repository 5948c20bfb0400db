//! Rows of `users`, `memberships` and `sessions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{memberships, sessions, users};

/// A person who can sign in.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub platform_role: Option<String>,
    /// `active | disabled`.
    pub status: String,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub password_changed_at: Option<NaiveDateTime>,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The last TOTP step accepted (a code is never accepted twice).
    pub totp_last_step: Option<i64>,
}

/// Insert form of a user.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub platform_role: Option<String>,
    pub status: String,
    pub password_changed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A user's role in one tenant.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub id: i64,
    pub user_id: i64,
    pub tenant_id: i64,
    pub role: String,
    pub created_at: NaiveDateTime,
}

/// Insert form of a membership.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = memberships)]
pub struct NewMembership {
    pub user_id: i64,
    pub tenant_id: i64,
    pub role: String,
    pub created_at: NaiveDateTime,
}

/// A server-side session.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i64,
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
    /// `full`, `mfa` (waiting for the second factor) or `enroll` (must set one up).
    pub stage: String,
    /// The tenant being looked at, for users with several.
    pub tenant_id: Option<i64>,
}

/// Insert form of a session.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
    pub stage: String,
}
