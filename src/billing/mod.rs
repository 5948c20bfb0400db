//! Procurement billing (in progress): billing profiles (card or invoice/PO), the vendor's
//! invoicing details, money in integer minor units with an ISO currency, gapless per-tenant
//! yearly invoice numbering, and the invoice service (drafts, lines, issuing with a PDF rendered
//! once and stored by hash, paid/unpaid). The invoice pages, downloads, PO uploads and
//! reminders land next.

pub mod contacts;
pub mod invoice;
pub mod model;
pub mod money;
pub mod numbering;
pub mod pages;
pub mod pdf;
pub mod profile;
pub mod reminders;
pub mod store;

/// Mounts the routes.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    profile::routes(cfg);
    contacts::routes(cfg);
    pages::routes(cfg);
}

/// Registers the billing jobs.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reminders::register_jobs(reg);
}
