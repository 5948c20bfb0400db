//! Sign-in throttling per account and per client address: after a few failures each further
//! attempt waits longer, then the key is locked for a while. The same rules apply to unknown
//! emails, so throttling reveals nothing about which accounts exist.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::login_attempts as la;

/// Failures per account before it is locked.
pub const ACCOUNT_LIMIT: i32 = 5;
/// Failures per address before it is locked (an office may share one address).
pub const ADDRESS_LIMIT: i32 = 30;

/// The throttle key of an account.
pub fn account_key(email: &str) -> String {
    format!("email:{}", email.trim().to_ascii_lowercase())
}

/// The throttle key of a client address.
pub fn address_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// How long after `failures` failures a key is locked (None: not locked yet).
pub fn lock_for(failures: i32, limit: i32) -> Option<Duration> {
    if failures < limit {
        return None;
    }
    let exp = (failures - limit).clamp(0, 6) as u32;
    Some(Duration::minutes((1i64 << exp).min(60)))
}

/// The delay before answering a failed attempt (grows with each failure, at most 2 s).
pub fn delay_for(failures: i32) -> std::time::Duration {
    let ms = 200u64.saturating_mul(1u64 << failures.clamp(0, 4) as u32).min(2000);
    std::time::Duration::from_millis(ms)
}

/// When the key is locked until (if it is locked at `now`).
pub fn locked_until(conn: &mut DbConn, key: &str, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    let row: Option<Option<NaiveDateTime>> =
        la::table.find(key).select(la::locked_until).first(conn).optional()?;
    Ok(row.flatten().filter(|t| *t > now))
}

/// Records a failure; returns the failure count.
pub fn record_failure(conn: &mut DbConn, key: &str, limit: i32, now: NaiveDateTime) -> QueryResult<i32> {
    match conn {
        DbConn::Pg(c) => diesel::insert_into(la::table)
            .values((la::key.eq(key), la::failures.eq(0), la::last_failure_at.eq(now)))
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(la::table)
            .values((la::key.eq(key), la::failures.eq(0), la::last_failure_at.eq(now)))
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    // Failures older than a day are forgotten.
    let (failures, last): (i32, NaiveDateTime) =
        la::table.find(key).select((la::failures, la::last_failure_at)).first(conn)?;
    let failures = if now - last > Duration::hours(24) { 1 } else { failures + 1 };
    let lock = lock_for(failures, limit).map(|d| now + d);
    diesel::update(la::table.find(key))
        .set((la::failures.eq(failures), la::last_failure_at.eq(now), la::locked_until.eq(lock)))
        .execute(conn)?;
    Ok(failures)
}

/// Forgets the failures of a key (after a successful sign-in).
pub fn clear(conn: &mut DbConn, key: &str) -> QueryResult<usize> {
    diesel::delete(la::table.find(key)).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_then_cap() {
        assert_eq!(lock_for(4, 5), None);
        assert_eq!(lock_for(5, 5), Some(Duration::minutes(1)));
        assert_eq!(lock_for(6, 5), Some(Duration::minutes(2)));
        assert_eq!(lock_for(50, 5), Some(Duration::minutes(60)));
        assert!(delay_for(1) < delay_for(3));
        assert_eq!(delay_for(20), std::time::Duration::from_millis(2000));
    }
}
