//! Queries on the email outbox.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{NewEmailRow, OutboundEmail};
use crate::db::DbConn;
use crate::db::schema::outbound_emails as oe;

/// Inserts an email unless its dedupe key exists; returns the new id or None.
pub fn insert(conn: &mut DbConn, row: &NewEmailRow) -> QueryResult<Option<i64>> {
    match conn {
        DbConn::Pg(c) => diesel::insert_into(oe::table)
            .values(row)
            .on_conflict_do_nothing()
            .returning(oe::id)
            .get_result(c)
            .optional(),
        DbConn::Sqlite(c) => diesel::insert_into(oe::table)
            .values(row)
            .on_conflict_do_nothing()
            .returning(oe::id)
            .get_result(c)
            .optional(),
    }
}

/// One email.
pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<OutboundEmail> {
    oe::table.find(id).select(OutboundEmail::as_select()).first(conn)
}

/// Records a delivery (status `sent` or `logged`).
pub fn mark_delivered(conn: &mut DbConn, id: i64, status: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(oe::table.find(id))
        .set((
            oe::status.eq(status),
            oe::attempts.eq(oe::attempts + 1),
            oe::sent_at.eq(Some(now)),
            oe::last_error.eq(None::<String>),
            oe::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Records a failed attempt; `dead` when no attempts are left.
pub fn mark_failed(
    conn: &mut DbConn,
    id: i64,
    error: &str,
    dead: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let error: String = error.chars().take(2000).collect();
    diesel::update(oe::table.find(id))
        .set((
            oe::status.eq(if dead { "dead" } else { "queued" }),
            oe::attempts.eq(oe::attempts + 1),
            oe::last_error.eq(Some(error)),
            oe::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Back to `queued` (before a resend).
pub fn requeue(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(oe::table.find(id).filter(oe::status.eq("dead")))
        .set((oe::status.eq("queued"), oe::updated_at.eq(now)))
        .execute(conn)
}

/// Emails filtered by status, newest first, with the total.
pub fn list(
    conn: &mut DbConn,
    status: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<OutboundEmail>, i64)> {
    let mut q = oe::table.into_boxed();
    let mut c = oe::table.into_boxed();
    if let Some(s) = status {
        q = q.filter(oe::status.eq(s.to_string()));
        c = c.filter(oe::status.eq(s.to_string()));
    }
    let total = c.count().get_result(conn)?;
    let rows =
        q.order(oe::id.desc()).offset(offset).limit(limit).select(OutboundEmail::as_select()).load(conn)?;
    Ok((rows, total))
}

/// Count per status.
pub fn counts(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    oe::table.group_by(oe::status).select((oe::status, diesel::dsl::count_star())).load(conn)
}
