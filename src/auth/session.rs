//! Server-side sessions: a random 256-bit id in an `HttpOnly; SameSite=Lax` cookie (with the
//! `__Host-` prefix and `Secure` behind https); the database keeps only its SHA-256, the
//! CSRF token, and the idle/absolute deadlines' inputs. Sign-in issues a fresh id.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use chrono::{Duration, NaiveDateTime};

use super::model::{NewSession, Session, User};
use super::store;
use crate::config::Config;
use crate::db::DbConn;
use crate::web::token;

/// How long sessions last (from `KEEL_SESSION_IDLE_MINUTES` and `KEEL_SESSION_MAX_HOURS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Sign out after this long without a request (default 30 minutes).
    pub idle: Duration,
    /// Sign out this long after sign-in, whatever happens (default 12 hours).
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self { idle: Duration::minutes(30), absolute: Duration::hours(12) }
    }
}
/// `last_seen_at` is written at most this often.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// The cookie name (`__Host-` prefixed behind https).
pub fn cookie_name(cfg: &Config) -> &'static str {
    if cfg.is_https() { "__Host-keel_session" } else { "keel_session" }
}

/// The session cookie for a new session.
pub fn cookie(cfg: &Config, token: &str) -> Cookie<'static> {
    Cookie::build(cookie_name(cfg), token.to_string())
        .path("/")
        .http_only(true)
        .secure(cfg.is_https())
        .same_site(SameSite::Lax)
        .finish()
}

/// A cookie that removes the session cookie.
pub fn removal_cookie(cfg: &Config) -> Cookie<'static> {
    let mut c = cookie(cfg, "");
    c.make_removal();
    c
}

/// The session token sent with this request, if any.
pub fn token_from(req: &HttpRequest, cfg: &Config) -> Option<String> {
    req.cookie(cookie_name(cfg)).map(|c| c.value().to_string()).filter(|v| v.len() == 64)
}

/// Creates a session for `user_id` at `stage` (`full`, `mfa` or `enroll`); returns the token
/// for the cookie.
pub fn create(
    conn: &mut DbConn,
    user_id: i64,
    stage: &str,
    ip: &str,
    user_agent: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<String> {
    let token = token::random_token();
    store::insert_session(
        conn,
        &NewSession {
            token_hash: token::sha256_hex(token.as_bytes()),
            user_id,
            csrf_token: token::random_token(),
            created_at: now,
            last_seen_at: now,
            ip: ip.chars().take(64).collect(),
            user_agent: user_agent.chars().take(256).collect(),
            stage: stage.to_string(),
        },
    )?;
    Ok(token)
}

/// Why a session is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No such session (signed out, or never existed).
    Unknown,
    /// Idle too long.
    Idle,
    /// Older than the absolute limit.
    Absolute,
    /// The user was disabled.
    Disabled,
}

/// Looks up a live session by token; expired ones are deleted. Touches `last_seen_at`.
pub fn load(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
    life: Lifetimes,
) -> diesel::QueryResult<Result<(Session, User), Expired>> {
    let hash = token::sha256_hex(token.as_bytes());
    let Some((session, user)) = store::session_with_user(conn, &hash)? else {
        return Ok(Err(Expired::Unknown));
    };
    let verdict = if user.status != "active" {
        Some(Expired::Disabled)
    } else if now - session.created_at > life.absolute {
        Some(Expired::Absolute)
    } else if now - session.last_seen_at > life.idle {
        Some(Expired::Idle)
    } else {
        None
    };
    if let Some(v) = verdict {
        store::delete_session(conn, session.id)?;
        return Ok(Err(v));
    }
    if now - session.last_seen_at > TOUCH_EVERY {
        store::touch_session(conn, session.id, now)?;
    }
    Ok(Ok((session, user)))
}
