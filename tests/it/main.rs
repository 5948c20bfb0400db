//! Integration tests: the real app on both backends (see `harness.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod harness;

mod auth;
mod billing;
mod csp;
mod hostile;
mod identity;
mod invoices;
mod jobs;
mod matrix;
mod migrations;
mod outbox;
mod reliability;
mod secrets;
mod status;
mod support;
mod usage;
mod web;
