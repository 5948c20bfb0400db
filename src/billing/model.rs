//! Rows of the billing tables.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::{billing_profiles, vendor_settings};

/// The vendor's invoicing details.
#[derive(Debug, Clone, Queryable, Selectable, AsChangeset, Serialize, Deserialize)]
#[diesel(table_name = vendor_settings)]
pub struct VendorSettings {
    pub id: i32,
    pub legal_name: String,
    pub address: String,
    pub tax_id: String,
    pub remit_to: String,
    pub invoice_footer: String,
    pub default_currency: String,
    pub default_terms_days: i32,
    pub updated_at: NaiveDateTime,
    /// Days before a renewal date that its draft invoice is prepared.
    pub renewal_lead_days: i32,
    /// Put before every new invoice number ("" for none).
    pub number_prefix: String,
    /// The logo printed on invoices, stored by this SHA-256.
    pub logo_sha256: Option<String>,
}

/// How a tenant buys.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Serialize, Deserialize, PartialEq)]
#[diesel(table_name = billing_profiles)]
pub struct BillingProfile {
    pub tenant_id: i64,
    /// `card | invoice_po`.
    pub mode: String,
    pub po_number: Option<String>,
    pub po_amount_minor: Option<i64>,
    pub po_expires: Option<NaiveDate>,
    pub address_line1: String,
    pub address_line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub tax_id: String,
    pub tax_exempt_note: String,
    /// ISO 4217.
    pub currency: String,
    pub terms_days: i32,
    pub renewal_date: Option<NaiveDate>,
    /// `annual | semi_annual`.
    pub schedule: String,
    pub cost_centre: String,
    #[serde(skip)]
    pub updated_at: NaiveDateTime,
}

impl BillingProfile {
    /// A new, empty profile in invoice/PO mode.
    pub fn empty(tenant_id: i64, currency: &str, terms: i32, now: NaiveDateTime) -> Self {
        Self {
            tenant_id,
            mode: "invoice_po".into(),
            po_number: None,
            po_amount_minor: None,
            po_expires: None,
            address_line1: String::new(),
            address_line2: String::new(),
            city: String::new(),
            region: String::new(),
            postal_code: String::new(),
            country: "US".into(),
            tax_id: String::new(),
            tax_exempt_note: String::new(),
            currency: currency.into(),
            terms_days: terms,
            renewal_date: None,
            schedule: "annual".into(),
            cost_centre: String::new(),
            updated_at: now,
        }
    }

    /// What is still missing before an invoice can be issued to this tenant.
    pub fn missing_for_invoicing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.address_line1.is_empty() {
            m.push("billing address (street)");
        }
        if self.city.is_empty() {
            m.push("billing address (city)");
        }
        if self.postal_code.is_empty() {
            m.push("billing address (postal code)");
        }
        if self.mode == "invoice_po" && self.po_number.is_none() {
            m.push("purchase order number");
        }
        m
    }
}
