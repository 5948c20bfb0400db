//! `/admin/emails`: the outbox for internal staff, resending dead emails, and a test email
//! to check the mail settings.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::model::OutboundEmail;
use super::{Email, store};
use crate::AppState;
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/emails", web::get().to(list))
        .route("/admin/emails/test", web::post().to(send_test))
        .route("/admin/emails/{id}", web::get().to(detail))
        .route("/admin/emails/{id}/resend", web::post().to(resend));
}

const STATUSES: [(&str, &str); 4] =
    [("queued", "Queued"), ("sent", "Sent"), ("logged", "Stored only"), ("dead", "Failed")];

fn status_label(s: &str) -> &'static str {
    STATUSES.iter().find(|(k, _)| *k == s).map(|(_, l)| *l).unwrap_or("Unknown")
}

struct EmailRow {
    email: OutboundEmail,
    status_label: &'static str,
}

#[derive(Template)]
#[template(path = "notify/list.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<EmailRow>,
    status: String,
    tabs: Vec<(String, String, i64)>,
    paging: Paging,
    base_query: String,
    can_manage: bool,
    mail_mode: String,
    test_to: String,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<i64>,
}

fn mail_mode(state: &AppState) -> String {
    use crate::config::MailConfig;
    match &state.config().mail {
        MailConfig::Smtp { host, port, .. } => format!("Delivering through SMTP at {host}:{port}."),
        MailConfig::File(d) => format!("Writing each email as a file in {}.", d.display()),
        MailConfig::LogOnly => {
            "No mail server is configured (KEEL_SMTP_URL): emails are stored here and logged, not delivered."
                .into()
        }
        MailConfig::Memory => "Capturing emails in memory (test mode).".into(),
    }
}

async fn list_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    q: ListQuery,
    test_to: String,
    errors: FormErrors,
) -> AppResult<ListPage> {
    let status = q.status.filter(|s| STATUSES.iter().any(|(k, _)| k == s));
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
    Ok(ListPage {
        ctx: PageCtx::new(req, "Email outbox"),
        rows: rows
            .into_iter()
            .map(|email| EmailRow { status_label: status_label(&email.status), email })
            .collect(),
        base_query: format!("status={status}"),
        status,
        tabs,
        paging: paging.with_total(total),
        can_manage: p.can(Action::ManageEmails),
        mail_mode: mail_mode(state),
        test_to: if test_to.is_empty() { p.email.clone() } else { test_to },
        errors,
    })
}

async fn list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewEmails)?;
    let page = list_page(&req, &p, &state, q.into_inner(), String::new(), FormErrors::new()).await?;
    render(&page)
}

#[derive(Template)]
#[template(path = "notify/detail.html")]
struct DetailPage {
    ctx: PageCtx,
    email: OutboundEmail,
    status_label: &'static str,
    can_manage: bool,
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewEmails)?;
    let id = id.into_inner();
    let email = state.db(move |c| Ok(store::find(c, id)?)).await?;
    render(&DetailPage {
        ctx: PageCtx::new(&req, format!("Email #{}", email.id)),
        status_label: status_label(&email.status),
        email,
        can_manage: p.can(Action::ManageEmails),
    })
}

async fn resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    form.principal.require(Action::ManageEmails)?;
    let id = id.into_inner();
    let now = now_micros(state.now());
    let email = state.db(move |c| Ok(store::find(c, id)?)).await?;
    if email.status != "dead" {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/emails/{id}"),
            "warning",
            "Only failed emails can be resent.",
        ));
    }
    let actor = crate::audit::Actor::of(&req, &form.principal);
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                super::resend(c, id, now)?;
                crate::audit::record(c, &actor, crate::audit::Event::new("email.resend", "email", id), now)
            })?)
        })
        .await?;
    state.job_wakeup().notify_waiters();
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/emails/{id}"),
        "success",
        format!("The email to {} is queued to be sent again.", email.to_addr),
    ))
}

#[derive(Template)]
#[template(path = "email/test.txt")]
struct TestText<'a> {
    requested_by: &'a str,
    base_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/test.html")]
struct TestHtml<'a> {
    requested_by: &'a str,
    base_url: &'a str,
}

#[derive(Debug, Deserialize)]
struct TestForm {
    #[serde(default)]
    to: String,
}

async fn send_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<TestForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageEmails)?;
    let mut errors = FormErrors::new();
    let to = form::email(&mut errors, "to", &form.form.to);
    if !errors.is_empty() {
        let page =
            list_page(&req, &p, &state, ListQuery { status: None, page: None }, form.form.to.clone(), errors)
                .await?;
        return render_status(&page, actix_web::http::StatusCode::UNPROCESSABLE_ENTITY);
    }
    let base = state.config().base_url.clone();
    let email = Email::from_templates(
        &to,
        "Keel test email",
        &TestText { requested_by: &p.email, base_url: &base },
        &TestHtml { requested_by: &p.email, base_url: &base },
    )
    .map_err(AppError::from)?;
    let now = now_micros(state.now());
    let actor = crate::audit::Actor::of(&req, &p);
    let to2 = to.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let id = super::queue(c, &email, now)?;
                crate::audit::record(
                    c,
                    &actor,
                    crate::audit::Event::new("email.test", "email", id.unwrap_or(0))
                        .details(serde_json::json!({"to": to2})),
                    now,
                )
            })?)
        })
        .await?;
    state.job_wakeup().notify_waiters();
    Ok(flash::redirect_with(
        &req,
        "/admin/emails",
        "success",
        format!("A test email to {to} is queued. Its status appears below."),
    ))
}
