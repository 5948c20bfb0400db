//! Procurement billing (in progress): billing profiles (card or invoice/PO), the vendor's
//! invoicing details, money in integer minor units with an ISO currency, and gapless
//! per-tenant yearly invoice numbering. Invoices, PDFs and reminders land next.

pub mod model;
pub mod money;
pub mod numbering;
pub mod profile;
pub mod store;

/// Mounts the routes.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    profile::routes(cfg);
}
