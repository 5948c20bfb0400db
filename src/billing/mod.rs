//! Procurement billing: billing profiles (card or invoice/PO) with verified contacts and
//! uploaded PO documents, the vendor's invoicing details, money in integer minor units with an
//! ISO currency, gapless per-tenant yearly invoice numbering, and invoices (drafts, lines,
//! issuing with a PDF rendered once and stored by hash, paid/unpaid, void and correction),
//! their lists and downloads, due-date reminders and renewal drafts.

pub mod contacts;
pub mod credits;
pub mod invoice;
pub mod model;
pub mod money;
pub mod numbering;
pub mod pages;
pub mod pdf;
pub mod po;
pub mod profile;
pub mod reminders;
pub mod renewal;
pub mod store;

/// Mounts the routes.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    profile::routes(cfg);
    contacts::routes(cfg);
    pages::routes(cfg);
    po::routes(cfg);
}

/// Registers the billing jobs.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reminders::register_jobs(reg);
    renewal::register_jobs(reg);
}
