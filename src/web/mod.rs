//! Web plumbing shared by every domain: page layout context, flash messages, middleware
//! (request id, access log, security headers, error pages), the Content-Security-Policy and its
//! violation reports, form validation, paging, static assets, health endpoints and server-side
//! SVG charts.

pub mod assets;
pub mod charts;
pub mod csp;
pub mod csv;
pub mod flash;
pub mod form;
pub mod health;
pub mod layout;
pub mod middleware;
pub mod pagination;
pub mod pdf;
pub mod token;
pub mod upload;
