//! Procurement billing (in progress): money in integer minor units with an ISO currency, and
//! gapless per-tenant yearly invoice numbering. Billing profiles, invoices, PDFs and the pages
//! land with the billing issue.

pub mod money;
pub mod numbering;
