//! Invoice numbers: `{TENANT-SLUG}-{YYYY}-{NNNN}` per tenant and calendar year of the issue
//! date, starting at 0001, gapless and never reused. The next number is taken from a counter
//! row locked inside the issuing transaction (`SELECT … FOR UPDATE` on PostgreSQL; the
//! immediate transaction on SQLite), so concurrent issuing on several instances can neither
//! duplicate nor skip, and an issue that fails rolls the counter back with it.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::invoice_counters as ic;

/// The number of the `n`th invoice of `year` for the tenant with this slug.
pub fn format_number(slug: &str, year: i32, n: i64) -> String {
    format!("{slug}-{year}-{n:04}")
}

/// The number with the vendor's prefix, if one is set: `BW-LINCOLN-2026-0007`.
pub fn format_with_prefix(prefix: &str, slug: &str, year: i32, n: i64) -> String {
    let base = format_number(slug, year, n);
    if prefix.is_empty() { base } else { format!("{prefix}-{base}") }
}

/// Splits a number back into (slug, year, sequence).
pub fn parse_number(number: &str) -> Option<(String, i32, i64)> {
    let mut parts = number.rsplitn(3, '-');
    let seq = parts.next()?.parse().ok()?;
    let year = parts.next()?.parse().ok()?;
    let slug = parts.next()?.to_string();
    (!slug.is_empty()).then_some((slug, year, seq))
}

/// Takes the next number of (tenant, year). Call inside the issuing write transaction: the
/// counter row is locked until it commits, and rolled back with it on failure.
pub fn next_number(conn: &mut DbConn, tenant: i64, year: i32) -> QueryResult<i64> {
    match conn {
        DbConn::Pg(c) => {
            diesel::insert_into(ic::table)
                .values((ic::tenant_id.eq(tenant), ic::year.eq(year), ic::last_number.eq(0i64)))
                .on_conflict_do_nothing()
                .execute(c)?;
            let last: i64 = ic::table.find((tenant, year)).select(ic::last_number).for_update().first(c)?;
            diesel::update(ic::table.find((tenant, year))).set(ic::last_number.eq(last + 1)).execute(c)?;
            Ok(last + 1)
        }
        DbConn::Sqlite(c) => {
            // The caller's BEGIN IMMEDIATE already holds SQLite's write lock.
            diesel::insert_into(ic::table)
                .values((ic::tenant_id.eq(tenant), ic::year.eq(year), ic::last_number.eq(0i64)))
                .on_conflict_do_nothing()
                .execute(c)?;
            let last: i64 = ic::table.find((tenant, year)).select(ic::last_number).first(c)?;
            diesel::update(ic::table.find((tenant, year))).set(ic::last_number.eq(last + 1)).execute(c)?;
            Ok(last + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(format_number("LINCOLN", 2026, 7), "LINCOLN-2026-0007");
        assert_eq!(format_number("LINCOLN-HS", 2026, 12345), "LINCOLN-HS-2026-12345");
        assert_eq!(parse_number("LINCOLN-HS-2026-0007"), Some(("LINCOLN-HS".into(), 2026, 7)));
        assert_eq!(parse_number("garbage"), None);
    }
}
