//! `/admin/jobs`: the queue for internal staff, dead jobs with their last error, and retry.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Job, store};
use crate::AppState;
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::now_micros;
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::layout::{PageCtx, render};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/jobs", web::get().to(list))
        .route("/admin/jobs/{id}", web::get().to(detail))
        .route("/admin/jobs/{id}/retry", web::post().to(retry));
}

/// Statuses in display order with their labels.
pub const STATUSES: [(&str, &str); 4] =
    [("queued", "Queued"), ("running", "Running"), ("succeeded", "Succeeded"), ("dead", "Dead")];

/// The label of a status.
pub fn status_label(s: &str) -> &'static str {
    STATUSES.iter().find(|(k, _)| *k == s).map(|(_, l)| *l).unwrap_or("Unknown")
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<i64>,
}

/// A row as the list shows it.
struct JobRow {
    job: Job,
    status_label: &'static str,
}

#[derive(Template)]
#[template(path = "jobs/list.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<JobRow>,
    status: String,
    tabs: Vec<(String, String, i64)>,
    paging: Paging,
    base_query: String,
    can_manage: bool,
}

async fn list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewJobs)?;
    let status = q.status.clone().filter(|s| STATUSES.iter().any(|(k, _)| k == s));
    let paging = Paging::new(q.page, 50);
    let st = status.clone();
    let (rows, total, counts) = state
        .db(move |c| {
            let (rows, total) = store::list(c, st.as_deref(), paging.offset(), paging.per_page)?;
            Ok((rows, total, store::counts(c)?))
        })
        .await?;
    let tabs = crate::web::pagination::status_tabs(&STATUSES, &counts);
    let status = status.unwrap_or_default();
    let page = ListPage {
        ctx: PageCtx::new(&req, "Background jobs"),
        rows: rows.into_iter().map(|job| JobRow { status_label: status_label(&job.status), job }).collect(),
        base_query: format!("status={status}"),
        status,
        tabs,
        paging: paging.with_total(total),
        can_manage: p.can(Action::ManageJobs),
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "jobs/detail.html")]
struct DetailPage {
    ctx: PageCtx,
    job: Job,
    status_label: &'static str,
    payload: String,
    can_manage: bool,
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewJobs)?;
    let id = id.into_inner();
    let job = state.db(move |c| Ok(store::find(c, id)?)).await?;
    let payload = serde_json::from_str::<serde_json::Value>(&job.payload)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| job.payload.clone());
    let page = DetailPage {
        ctx: PageCtx::new(&req, format!("Job #{}", job.id)),
        status_label: status_label(&job.status),
        job,
        payload,
        can_manage: p.can(Action::ManageJobs),
    };
    render(&page)
}

#[derive(Debug, Deserialize)]
struct RetryForm {}

async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<RetryForm>,
) -> AppResult<HttpResponse> {
    form.principal.require(Action::ManageJobs)?;
    let id = id.into_inner();
    let now = now_micros(state.now());
    let actor = crate::audit::Actor::of(&req, &form.principal);
    let n = state
        .db(move |c| {
            Ok(crate::db::write_tx(c, |c| {
                let n = store::retry(c, id, now)?;
                if n > 0 {
                    crate::audit::record(c, &actor, crate::audit::Event::new("job.retry", "job", id), now)?;
                }
                Ok::<_, diesel::result::Error>(n)
            })?)
        })
        .await?;
    if n == 0 {
        // Either no such job or it is not in a retryable state.
        let exists = state.db(move |c| Ok(store::find(c, id).is_ok())).await?;
        if !exists {
            return Err(AppError::NotFound);
        }
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/jobs/{id}"),
            "warning",
            "Only dead or queued jobs can be retried.",
        ));
    }
    state.job_wakeup().notify_waiters();
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/jobs/{id}"),
        "success",
        format!("Job #{id} is queued to run again."),
    ))
}
