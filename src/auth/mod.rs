//! Sign-in, sign-out, sessions, roles and the permission table.
//!
//! - `roles.rs`: roles and `allowed(role, action)`, the one permission table.
//! - `extract.rs`: `Principal`, `MaybePrincipal`, `CsrfForm<T>` extractors.
//! - `session.rs`: server-side sessions and their cookie.
//! - `password.rs`: argon2id hashing and the password policy.

pub mod account;
pub mod admin;
pub mod common_passwords;
pub mod extract;
pub mod invite;
pub mod model;
pub mod nav;
pub mod password;
pub mod roles;
pub mod session;
pub mod signin;
pub mod store;
pub mod throttle;
pub mod totp;

use actix_web::{HttpResponse, web};

pub use extract::{CsrfForm, MaybePrincipal, Principal};
pub use roles::{Action, Role};

use crate::web::layout::redirect;

/// Mounts this module's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(signin::login_page))
        .route("/login", web::post().to(signin::login_submit))
        .route("/login/2fa", web::get().to(signin::second_factor_page))
        .route("/login/2fa", web::post().to(signin::second_factor_submit))
        .route("/logout", web::post().to(signin::logout));
    account::routes(cfg);
    invite::routes(cfg);
    admin::routes(cfg);
}

/// Where a role lands after sign-in.
pub fn home_for(p: &Principal) -> &'static str {
    match p.primary_role() {
        Some(Role::PlatformAdmin) | Some(Role::SupportAgent) => "/admin",
        Some(Role::DistrictAdmin) => "/district/schools",
        Some(Role::Auditor) => "/reliability",
        Some(Role::SchoolAdmin) => "/district/members",
        Some(Role::Procurement) => "/billing",
        Some(Role::Staff) => "/support",
        None => "/account",
    }
}

async fn home(p: MaybePrincipal) -> HttpResponse {
    match p.0 {
        Some(p) => redirect(home_for(&p)),
        None => redirect("/login"),
    }
}

/// Registers identity housekeeping: expired sessions and spent tokens are deleted daily.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("auth.purge", |state: crate::AppState, _job| async move {
        let now = crate::db::now_micros(state.now());
        let life = state.config().sessions;
        state
            .db(move |c| {
                store::purge_sessions(c, now, life.idle, life.absolute)?;
                store::purge_tokens(c, now)?;
                Ok(())
            })
            .await?;
        Ok(())
    });
    reg.every("auth.purge", "23 4 * * *", "auth.purge");
}
