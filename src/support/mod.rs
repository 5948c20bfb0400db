//! SLA and support: SLA tiers with response and resolution targets on a business calendar,
//! in-app support requests and the agents' queue, SLA credit claims that land on the next
//! invoice, and invoice disputes.

pub mod calendar;
pub mod credits;
pub mod demo;
pub mod disputes;
pub mod pages;
pub mod queue;
pub mod recent;
pub mod requests;
pub mod suspended;
pub mod tier_pages;
pub mod tiers;

/// Mounts the routes.
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    tier_pages::routes(cfg);
    pages::routes(cfg);
    queue::routes(cfg);
    credits::routes(cfg);
    disputes::routes(cfg);
    suspended::routes(cfg);
}
