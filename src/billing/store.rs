//! Queries on vendor settings and billing profiles. Profiles are tenant data: handlers check
//! the principal's scope before calling these.

use diesel::prelude::*;

use super::model::{BillingProfile, VendorSettings};
use crate::db::DbConn;
use crate::db::schema::{billing_profiles as bp, vendor_settings as vs};

/// The vendor settings row.
pub fn vendor(c: &mut DbConn) -> QueryResult<VendorSettings> {
    vs::table.find(1).select(VendorSettings::as_select()).first(c)
}

/// Saves the vendor settings (every field but the id).
pub fn save_vendor(c: &mut DbConn, v: &VendorSettings) -> QueryResult<usize> {
    diesel::update(vs::table.find(1)).set(v).execute(c)
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
