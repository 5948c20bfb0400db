//! Invoice pages. Staff: `/admin/invoices` (all tenants), new drafts, a draft's lines, issuing,
//! paid/unpaid. Tenants: `/billing/invoices` and the stored PDF at `/billing/invoices/{id}.pdf`
//! (drafts are never shown to tenants; another tenant's invoice is not found).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use super::invoice::{self, Invoice, IssueError, Line, ListFilter, NewLine};
use super::money;
use crate::AppState;
use crate::audit::Actor;
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::{now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::{self, FormErrors};
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/invoices", web::get().to(admin_list))
        .route("/admin/invoices", web::post().to(create))
        .route("/admin/invoices/{id}", web::get().to(detail))
        .route("/admin/invoices/{id}/lines", web::post().to(add_line))
        .route("/admin/invoices/{id}/lines/{line}/delete", web::post().to(remove_line))
        .route("/admin/invoices/{id}/issue", web::post().to(issue))
        .route("/admin/invoices/{id}/paid", web::post().to(mark_paid))
        .route("/admin/invoices/{id}/unpaid", web::post().to(mark_unpaid))
        .route("/billing/invoices", web::get().to(tenant_list))
        .route("/billing/invoices/{id}.pdf", web::get().to(download));
}

/// A list row.
pub struct Row {
    pub i: Invoice,
    pub tenant: String,
    pub total: String,
    pub status: String,
    pub kind: &'static str,
}

fn rows(list: Vec<Invoice>, names: &[(i64, String)], today: NaiveDate) -> Vec<Row> {
    list.into_iter()
        .map(|i| {
            let (status, kind) = invoice::display_status(&i, today);
            let total =
                money::currency(&i.currency).map(|c| money::format(i.total_minor, c)).unwrap_or_default();
            let tenant =
                names.iter().find(|(id, _)| *id == i.tenant_id).map(|(_, n)| n.clone()).unwrap_or_default();
            Row { i, tenant, total, status, kind }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    tenant: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "billing/admin_invoices.html")]
struct AdminList {
    ctx: PageCtx,
    rows: Vec<Row>,
    tenants: Vec<(i64, String)>,
    status: String,
    tenant: String,
    paging: Paging,
    base_query: String,
    can_manage: bool,
}

async fn admin_list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewTenants)?;
    let q = q.into_inner();
    let f = ListFilter {
        tenants: None,
        tenant: q.tenant.parse().ok(),
        status: Some(q.status.clone()).filter(|s| ["draft", "issued", "paid", "void"].contains(&s.as_str())),
        hide_drafts: false,
    };
    let paging = Paging::new(q.page, 50);
    let (list, total, names) = state
        .db(move |c| {
            let (l, t) = invoice::list(c, &f, paging.offset(), paging.per_page)?;
            Ok((l, t, crate::tenancy::store::names(c, None)?))
        })
        .await?;
    let today = state.now().date_naive();
    let tenants = crate::tenancy::district::top_level_tenants(&p, &state, Action::ViewBilling).await?;
    render(&AdminList {
        ctx: PageCtx::new(&req, "Invoices"),
        rows: rows(list, &names, today),
        tenants,
        base_query: serde_urlencoded::to_string([
            ("status", q.status.as_str()),
            ("tenant", q.tenant.as_str()),
        ])
        .unwrap_or_default(),
        status: q.status,
        tenant: q.tenant,
        paging: paging.with_total(total),
        can_manage: p.can(Action::ManageInvoices),
    })
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    tenant_id: String,
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<CreateForm>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageInvoices)?;
    let Ok(tid) = form.form.tenant_id.trim().parse::<i64>() else {
        return Ok(flash::redirect_with(
            &req,
            "/admin/invoices",
            "error",
            "Choose the district or school to invoice.",
        ));
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let id = state
        .db(move |c| {
            let t = crate::tenancy::store::find(c, tid)?;
            if t.parent_id.is_some() {
                return Err(AppError::BadRequest(
                    "Linked schools are invoiced through their district.".into(),
                ));
            }
            let vendor = super::store::vendor(c)?;
            let profile = super::store::profile(c, tid)?.unwrap_or_else(|| {
                super::model::BillingProfile::empty(
                    tid,
                    &vendor.default_currency,
                    vendor.default_terms_days,
                    now,
                )
            });
            Ok(write_tx(c, |c| invoice::create_draft(c, &actor, tid, &profile, now))?)
        })
        .await?;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/invoices/{id}"),
        "success",
        "Draft created. Add its lines, then issue it.",
    ))
}

#[derive(Template)]
#[template(path = "billing/admin_invoice.html")]
struct Detail {
    ctx: PageCtx,
    i: Invoice,
    tenant: String,
    lines: Vec<(Line, String)>,
    subtotal: String,
    tax: String,
    total: String,
    status: String,
    kind: &'static str,
    can_manage: bool,
    errors: FormErrors,
    f: LineForm,
    issue_problems: Vec<String>,
}

async fn detail_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    id: i64,
    errors: FormErrors,
    f: LineForm,
    issue_problems: Vec<String>,
) -> AppResult<Detail> {
    let (i, lines, tenant) = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            let lines = invoice::lines(c, id)?;
            let t = crate::tenancy::store::find(c, i.tenant_id)?;
            Ok((i, lines, t.name))
        })
        .await?;
    let cur = money::currency(&i.currency).ok_or_else(|| AppError::internal("unknown currency"))?;
    let (status, kind) = invoice::display_status(&i, state.now().date_naive());
    Ok(Detail {
        ctx: PageCtx::new(req, i.number.clone().unwrap_or_else(|| "Draft invoice".into())),
        lines: lines
            .into_iter()
            .map(|l| {
                let a = money::format(l.amount_minor, cur);
                (l, a)
            })
            .collect(),
        subtotal: money::format(i.subtotal_minor, cur),
        tax: money::format(i.tax_minor, cur),
        total: money::format(i.total_minor, cur),
        tenant,
        status,
        kind,
        can_manage: p.can(Action::ManageInvoices),
        errors,
        f,
        issue_problems,
        i,
    })
}

async fn detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewTenants)?;
    render(
        &detail_page(&req, &p, &state, id.into_inner(), FormErrors::new(), LineForm::default(), Vec::new())
            .await?,
    )
}

/// The add-line form, as typed.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct LineForm {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub quantity: String,
    #[serde(default)]
    pub unit_price: String,
}

async fn add_line(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<LineForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let i = state.db(move |c| Ok(invoice::find(c, id)?)).await?;
    if i.status != "draft" {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "error",
            "An issued invoice can't change. Void it and issue a new one.",
        ));
    }
    let cur = money::currency(&i.currency).ok_or_else(|| AppError::internal("unknown currency"))?;
    let mut e = FormErrors::new();
    let description = form::required_text(&mut e, "description", "a description", &f.description, 200);
    let kind = if ["license", "add_on", "service", "credit"].contains(&f.kind.as_str()) {
        f.kind.clone()
    } else {
        e.add("kind", "Choose the kind of line.");
        String::new()
    };
    let quantity = invoice::parse_decimal(&f.quantity);
    match quantity {
        None => e.add("quantity", "Enter a quantity, e.g. 1250 or 0.5."),
        Some(q) if q <= rust_decimal::Decimal::ZERO => {
            e.add("quantity", "The quantity must be more than zero.")
        }
        _ => {}
    }
    let price = invoice::parse_decimal(f.unit_price.trim().trim_start_matches(cur.symbol.trim()));
    match price {
        None => e.add("unit_price", format!("Enter a unit price in {}, e.g. 38.80.", cur.code)),
        Some(pr) if pr < rust_decimal::Decimal::ZERO => {
            e.add("unit_price", "Enter the price as a positive number; choose Credit to reduce the total.")
        }
        _ => {}
    }
    let (Some(quantity), Some(unit_price)) = (quantity, price) else {
        let page = detail_page(&req, &p, &state, id, e, f, Vec::new()).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    if !e.is_empty() {
        let page = detail_page(&req, &p, &state, id, e, f, Vec::new()).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let line = NewLine { description, kind, quantity, unit_price };
    state.db(move |c| Ok(write_tx(c, |c| invoice::add_line(c, &i, &line, cur, now))?)).await?;
    Ok(flash::redirect_with(&req, &format!("/admin/invoices/{id}"), "success", "Line added."))
}

#[derive(Debug, Deserialize)]
struct NoFields {}

async fn remove_line(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
    form: CsrfForm<NoFields>,
) -> AppResult<HttpResponse> {
    form.principal.require(Action::ManageInvoices)?;
    let (id, line) = path.into_inner();
    let now = now_micros(state.now());
    let n = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            Ok(write_tx(c, |c| invoice::remove_line(c, &i, line, now))?)
        })
        .await?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(flash::redirect_with(&req, &format!("/admin/invoices/{id}"), "success", "Line removed."))
}

async fn issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let actor = Actor::of(&req, &p);
    let today = state.now().date_naive();
    match invoice::issue_now(&state, actor, id, today).await? {
        Ok(i) => {
            state.job_wakeup().notify_waiters();
            Ok(flash::redirect_with(
                &req,
                &format!("/admin/invoices/{id}"),
                "success",
                format!("Invoice {} was issued.", i.number.unwrap_or_default()),
            ))
        }
        Err(IssueError::Incomplete(missing)) => {
            let page =
                detail_page(&req, &p, &state, id, FormErrors::new(), LineForm::default(), missing).await?;
            render_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(IssueError::NotDraft) => Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "warning",
            "This invoice was already issued.",
        )),
        Err(e) => {
            tracing::error!(invoice = id, error = %e, "issuing failed; the invoice stays a draft");
            Ok(flash::redirect_with(
                &req,
                &format!("/admin/invoices/{id}"),
                "error",
                format!("The invoice could not be issued and is still a draft: {e}. No number was used."),
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
struct PaidForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    reference: String,
}

async fn mark_paid(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<PaidForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let method = f.method.clone();
    if !["check", "ach", "wire", "card", "other"].contains(&method.as_str()) {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "error",
            "Choose how it was paid.",
        ));
    }
    let reference: String = f.reference.trim().chars().take(120).collect();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let number = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            if i.status != "issued" {
                return Ok(None);
            }
            write_tx(c, |c| invoice::mark_paid(c, &actor, &i, &method, &reference, now))?;
            Ok(Some(i.number.unwrap_or_default()))
        })
        .await?;
    Ok(match number {
        Some(n) => flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "success",
            format!("{n} is marked paid."),
        ),
        None => flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "warning",
            "Only an issued, unpaid invoice can be marked paid.",
        ),
    })
}

#[derive(Debug, Deserialize)]
struct UnpaidForm {
    #[serde(default)]
    reason: String,
}

async fn mark_unpaid(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<UnpaidForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let reason = f.reason.trim().to_string();
    if reason.is_empty() {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "error",
            "Give the reason for marking it unpaid (it is kept in the audit trail).",
        ));
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let done = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            if i.status != "paid" {
                return Ok(false);
            }
            write_tx(c, |c| invoice::mark_unpaid(c, &actor, &i, &reason, now))?;
            Ok(true)
        })
        .await?;
    let (kind, msg) = if done {
        ("success", "Marked unpaid again.")
    } else {
        ("warning", "Only a paid invoice can be marked unpaid.")
    };
    Ok(flash::redirect_with(&req, &format!("/admin/invoices/{id}"), kind, msg))
}

#[derive(Template)]
#[template(path = "billing/invoices.html")]
struct TenantList {
    ctx: PageCtx,
    rows: Vec<Row>,
    tenants: Vec<(i64, String)>,
    tenant_id: i64,
    paging: Paging,
    base_query: String,
}

#[derive(Debug, Deserialize)]
struct TenantQuery {
    tenant: Option<i64>,
    page: Option<i64>,
}

async fn tenant_list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<TenantQuery>,
) -> AppResult<HttpResponse> {
    let tenants = crate::tenancy::district::top_level_tenants(&p, &state, Action::ViewBilling).await?;
    let (tid, _) = match q.tenant {
        Some(t) => tenants.iter().find(|(id, _)| *id == t).cloned().ok_or(AppError::NotFound)?,
        None => tenants.first().cloned().ok_or(AppError::NotFound)?,
    };
    p.scope.require(Action::ViewBilling, tid)?;
    let f = ListFilter { tenants: None, tenant: Some(tid), status: None, hide_drafts: true };
    let paging = Paging::new(q.page, 50);
    let (list, total, names) = state
        .db(move |c| {
            let (l, t) = invoice::list(c, &f, paging.offset(), paging.per_page)?;
            Ok((l, t, crate::tenancy::store::names(c, Some(&[tid]))?))
        })
        .await?;
    render(&TenantList {
        ctx: PageCtx::new(&req, "Invoices"),
        rows: rows(list, &names, state.now().date_naive()),
        tenants,
        tenant_id: tid,
        paging: paging.with_total(total),
        base_query: format!("tenant={tid}"),
    })
}

async fn download(p: Principal, state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let i = state.db(move |c| Ok(invoice::find(c, id)?)).await?;
    p.scope.require(Action::ViewBilling, i.tenant_id)?;
    let Some(hash) = i.pdf_sha256.clone().filter(|_| i.status != "draft") else {
        return Err(AppError::NotFound);
    };
    let bytes = state.files().get(&hash).await.map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.pdf\"", i.number.unwrap_or_else(|| format!("invoice-{id}"))),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}
