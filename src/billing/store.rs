//! Queries on vendor settings and billing profiles. Profiles are tenant data: handlers check
//! the principal's scope before calling these.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{BillingProfile, VendorSettings};
use crate::db::DbConn;
use crate::db::schema::{billing_profiles as bp, vendor_settings as vs};

/// The vendor settings row.
pub fn vendor(c: &mut DbConn) -> QueryResult<VendorSettings> {
    vs::table.find(1).select(VendorSettings::as_select()).first(c)
}

/// Saves the vendor settings.
#[allow(clippy::too_many_arguments)]
pub fn save_vendor(
    c: &mut DbConn,
    legal_name: &str,
    address: &str,
    tax_id: &str,
    remit_to: &str,
    footer: &str,
    currency: &str,
    terms: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(vs::table.find(1))
        .set((
            vs::legal_name.eq(legal_name),
            vs::address.eq(address),
            vs::tax_id.eq(tax_id),
            vs::remit_to.eq(remit_to),
            vs::invoice_footer.eq(footer),
            vs::default_currency.eq(currency),
            vs::default_terms_days.eq(terms),
            vs::updated_at.eq(now),
        ))
        .execute(c)
}

/// A tenant's profile, if saved.
pub fn profile(c: &mut DbConn, tenant: i64) -> QueryResult<Option<BillingProfile>> {
    bp::table.find(tenant).select(BillingProfile::as_select()).first(c).optional()
}

/// Inserts or replaces a tenant's profile (inside the caller's write transaction).
pub fn save_profile(c: &mut DbConn, p: &BillingProfile) -> QueryResult<()> {
    if profile(c, p.tenant_id)?.is_some() {
        diesel::update(bp::table.find(p.tenant_id)).set(p).execute(c)?;
    } else {
        diesel::insert_into(bp::table).values(p).execute(c)?;
    }
    Ok(())
}
