//! `/admin`: the internal overview for the vendor's staff (queue health, outbox, tenants).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::auth::{Action, Principal};
use crate::error::AppResult;
use crate::web::layout::{PageCtx, render};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(overview));
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    ctx: PageCtx,
    districts: i64,
    schools: i64,
    users: i64,
    jobs_queued: i64,
    jobs_dead: i64,
    emails_queued: i64,
    emails_dead: i64,
    emails_sent: i64,
    database: &'static str,
    mail_mode: String,
}

async fn overview(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ViewAdminOverview)?;
    let (tenants, users, jobs, emails) = state
        .db(|c| {
            Ok((
                crate::tenancy::store::counts(c)?,
                crate::auth::store::count_users(c)?,
                crate::jobs::store::counts(c)?,
                crate::notify::store::counts(c)?,
            ))
        })
        .await?;
    let get = |v: &[(String, i64)], k: &str| v.iter().find(|(s, _)| s == k).map(|(_, n)| *n).unwrap_or(0);
    let mail_mode = match &state.config().mail {
        crate::config::MailConfig::Smtp { host, .. } => format!("SMTP via {host}"),
        crate::config::MailConfig::File(_) => "Files (.eml)".into(),
        crate::config::MailConfig::LogOnly => "Not configured (stored only)".into(),
        crate::config::MailConfig::Memory => "In memory (tests)".into(),
    };
    render(&OverviewPage {
        ctx: PageCtx::new(&req, "Overview"),
        districts: get(&tenants, "district"),
        schools: get(&tenants, "school"),
        users,
        jobs_queued: get(&jobs, "queued") + get(&jobs, "running"),
        jobs_dead: get(&jobs, "dead"),
        emails_queued: get(&emails, "queued"),
        emails_dead: get(&emails, "dead"),
        emails_sent: get(&emails, "sent") + get(&emails, "logged"),
        database: state.config().backend.name(),
        mail_mode,
    })
}
