//! Invoice pages. Staff: `/admin/invoices` (all tenants), new drafts, a draft's lines, issuing,
//! paid/unpaid. Tenants: `/billing/invoices` and the stored PDF at `/billing/invoices/{id}.pdf`
//! (drafts are never shown to tenants; another tenant's invoice is not found).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use super::invoice::{self, DraftEdit, Invoice, IssueError, Line, ListFilter, NewLine, VoidError};
use super::money;
use super::po::PoDocument;
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
        .route("/admin/invoices/{id}/details", web::post().to(save_details))
        .route("/admin/invoices/{id}/void", web::post().to(void))
        .route("/admin/invoices/{id}/delete", web::post().to(delete_draft))
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
    /// The uploaded PO document the invoice cites, if any.
    pub po_doc: Option<i64>,
}

fn rows(list: Vec<Invoice>, names: &[(i64, String)], docs: &[PoDocument], today: NaiveDate) -> Vec<Row> {
    list.into_iter()
        .map(|i| {
            let (status, kind) = invoice::display_status(&i, today);
            let total =
                money::currency(&i.currency).map(|c| money::format(i.total_minor, c)).unwrap_or_default();
            let tenant =
                names.iter().find(|(id, _)| *id == i.tenant_id).map(|(_, n)| n.clone()).unwrap_or_default();
            let po_doc = i.po_number.as_ref().and_then(|po| {
                docs.iter().find(|d| d.tenant_id == i.tenant_id && &d.po_number == po).map(|d| d.id)
            });
            Row { i, tenant, total, status, kind, po_doc }
        })
        .collect()
}

/// Totals of one currency, formatted.
pub struct TotalRow {
    pub currency: String,
    pub invoiced: String,
    pub outstanding: String,
    pub overdue: String,
}

fn total_rows(t: Vec<invoice::Totals>) -> Vec<TotalRow> {
    t.into_iter()
        .filter_map(|t| {
            let cur = money::currency(&t.currency)?;
            Some(TotalRow {
                currency: t.currency,
                invoiced: money::format(t.invoiced_minor, cur),
                outstanding: money::format(t.outstanding_minor, cur),
                overdue: money::format(t.overdue_minor, cur),
            })
        })
        .collect()
}

/// The list filters, as in the query string.
#[derive(Debug, Deserialize, Default, Clone)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    overdue: String,
    page: Option<i64>,
    #[serde(default)]
    format: String,
}

impl ListQuery {
    fn filter(&self, today: NaiveDate, statuses: &[&str]) -> ListFilter {
        ListFilter {
            tenants: None,
            tenant: self.tenant.parse().ok(),
            status: Some(self.status.clone()).filter(|s| statuses.contains(&s.as_str())),
            hide_drafts: false,
            year: self.year.parse().ok().filter(|y| (2000..=2200).contains(y)),
            overdue_on: (self.overdue == "1").then_some(today),
        }
    }

    /// The filters as a query string (no page, no format), for paging and the CSV link.
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("status", self.status.as_str()),
            ("tenant", self.tenant.as_str()),
            ("year", self.year.as_str()),
            ("overdue", self.overdue.as_str()),
        ])
        .unwrap_or_default()
    }
}

/// Years offered in the year filter: this one and the four before.
fn years(today: NaiveDate) -> Vec<String> {
    (0..5).map(|k| (today.year() - k).to_string()).collect()
}

/// The invoices as CSV (amounts in plain decimals with their currency).
fn csv_response(list: &[Invoice], names: &[(i64, String)], today: NaiveDate, stamp: &str) -> HttpResponse {
    let mut out = crate::web::csv::line(&[
        "number",
        "tenant",
        "status",
        "issue_date",
        "due_date",
        "po_number",
        "currency",
        "subtotal",
        "tax",
        "total",
        "amount_due",
        "paid_at_utc",
        "paid_method",
        "paid_reference",
        "void_reason",
    ]);
    for i in list {
        let Some(cur) = money::currency(&i.currency) else { continue };
        let tenant = names.iter().find(|(id, _)| *id == i.tenant_id).map(|(_, n)| n.as_str()).unwrap_or("");
        let due = if i.status == "issued" { i.total_minor } else { 0 };
        let opt_date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        out.push_str(&crate::web::csv::line(&[
            i.number.clone().unwrap_or_else(|| format!("draft-{}", i.id)),
            tenant.to_string(),
            invoice::display_status(i, today).0,
            opt_date(i.issue_date),
            opt_date(i.due_date),
            i.po_number.clone().unwrap_or_default(),
            i.currency.clone(),
            money::plain(i.subtotal_minor, cur),
            money::plain(i.tax_minor, cur),
            money::plain(i.total_minor, cur),
            money::plain(due, cur),
            i.paid_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
            i.paid_method.clone().unwrap_or_default(),
            i.paid_reference.clone().unwrap_or_default(),
            i.void_reason.clone().unwrap_or_default(),
        ]));
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"keel-invoices-{stamp}.csv\"")))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(out)
}

/// Rows a CSV export holds at most.
const CSV_LIMIT: i64 = 100_000;

#[derive(Template)]
#[template(path = "billing/admin_invoices.html")]
struct AdminList {
    ctx: PageCtx,
    rows: Vec<Row>,
    tenants: Vec<(i64, String)>,
    q: ListQuery,
    years: Vec<String>,
    totals: Vec<TotalRow>,
    paging: Paging,
    base_query: String,
    can_manage: bool,
    back: String,
}

async fn admin_list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewTenants)?;
    let q = q.into_inner();
    let today = state.now().date_naive();
    let f = q.filter(today, &["draft", "issued", "paid", "void"]);
    let paging = Paging::new(q.page, 50);
    let csv = q.format == "csv";
    let (offset, limit) = if csv { (0, CSV_LIMIT) } else { (paging.offset(), paging.per_page) };
    let (list, total, names, docs, totals) = state
        .db(move |c| {
            let (l, t) = invoice::list(c, &f, offset, limit)?;
            let totals = if csv { Vec::new() } else { invoice::totals(c, &f, today)? };
            let tenants: Vec<i64> = l.iter().map(|i| i.tenant_id).collect();
            Ok((l, t, crate::tenancy::store::names(c, None)?, super::po::of_tenants(c, &tenants)?, totals))
        })
        .await?;
    if csv {
        return Ok(csv_response(&list, &names, today, &today.to_string()));
    }
    let tenants = crate::tenancy::district::top_level_tenants(&p, &state, Action::ViewBilling).await?;
    let base_query = q.query_string();
    render(&AdminList {
        ctx: PageCtx::new(&req, "Invoices"),
        rows: rows(list, &names, &docs, today),
        tenants,
        years: years(today),
        totals: total_rows(totals),
        back: format!("/admin/invoices?{base_query}"),
        base_query,
        q,
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
            Ok(write_tx(c, |c| {
                let id = invoice::create_bare_draft(c, &actor, tid, &profile, now)?;
                // Start from the tenant's plan: its seats and last month's overage.
                let lines = crate::usage::plans::invoice_lines(c, tid, &profile.currency, now.date())?;
                if let Some(cur) = money::currency(&profile.currency) {
                    for l in &lines {
                        let i = invoice::find(c, id)?;
                        invoice::add_line(c, &i, l, cur, now)?;
                    }
                }
                // Then the credits the tenant is owed (SLA claims, disputes).
                let draft = invoice::find(c, id)?;
                crate::billing::credits::apply_pending(c, &draft, now)?;
                Ok::<_, diesel::result::Error>((id, lines.len()))
            })?)
        })
        .await?;
    let (id, prefilled) = id;
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/invoices/{id}"),
        "success",
        if prefilled > 0 {
            "Draft created with the lines of the tenant's plan. Check them, then issue it."
        } else {
            "Draft created. Add its lines, then issue it."
        },
    ))
}

#[derive(Template)]
#[template(path = "billing/admin_invoice.html")]
struct Detail {
    ctx: PageCtx,
    i: Invoice,
    tenant: String,
    lines: Vec<LineRow>,
    subtotal: String,
    tax: String,
    total: String,
    status: String,
    kind: &'static str,
    can_manage: bool,
    errors: FormErrors,
    f: LineForm,
    issue_problems: Vec<String>,
    d: DraftForm,
    derrors: FormErrors,
    po_docs: Vec<PoDocument>,
    replaces: Option<(i64, String)>,
    replaced_by: Option<(i64, String)>,
    pdf: bool,
    due_hint: String,
}

/// A line as shown: amount and unit price formatted, kind in words.
pub struct LineRow {
    pub l: Line,
    pub amount: String,
    pub unit_price: String,
    pub kind: &'static str,
}

/// What can be typed into a draft's details form.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct DraftForm {
    #[serde(default)]
    pub po_number: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub tax_rate: String,
    #[serde(default)]
    pub issue_date: String,
    #[serde(default)]
    pub due_date: String,
}

impl DraftForm {
    fn of(i: &Invoice) -> Self {
        let d = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        Self {
            po_number: i.po_number.clone().unwrap_or_default(),
            notes: i.notes.clone(),
            tax_rate: (rust_decimal::Decimal::from(i.tax_rate_bp) / rust_decimal::Decimal::from(100))
                .normalize()
                .to_string(),
            issue_date: d(i.issue_date),
            due_date: d(i.due_date),
        }
    }

    /// Parses, with one message per bad field. A due date before the issue date (or, with no
    /// issue date, before today) is refused.
    fn parse(&self, today: NaiveDate) -> Result<DraftEdit, FormErrors> {
        let mut e = FormErrors::new();
        let po_number = form::optional_text(&mut e, "po_number", "the PO number", &self.po_number, 64);
        let notes = form::optional_text(&mut e, "notes", "the notes", &self.notes, 1000).unwrap_or_default();
        let tax_rate_bp = match invoice::parse_decimal(self.tax_rate.trim().trim_end_matches('%')) {
            _ if self.tax_rate.trim().is_empty() => 0,
            _ if self.tax_rate.contains(',') => {
                e.add("tax_rate", "Use a point for decimals, e.g. 8.25.");
                0
            }
            Some(r) if r >= rust_decimal::Decimal::ZERO && r <= rust_decimal::Decimal::from(30) => {
                let bp = r * rust_decimal::Decimal::from(100);
                if bp.fract() != rust_decimal::Decimal::ZERO {
                    e.add("tax_rate", "Use at most two decimals, e.g. 8.25.");
                }
                bp.trunc().to_string().parse().unwrap_or(0)
            }
            _ => {
                e.add("tax_rate", "Enter a tax rate between 0 and 30 percent, e.g. 8.25, or leave it empty.");
                0
            }
        };
        let issue_date = form::optional_date(&mut e, "issue_date", &self.issue_date);
        if let Some(d) = issue_date
            && (d - today).num_days().abs() > 366
        {
            e.add("issue_date", "Choose an issue date within a year of today.");
        }
        let due_date = form::optional_date(&mut e, "due_date", &self.due_date);
        if let Some(due) = due_date {
            match issue_date {
                Some(issue) if due < issue => {
                    e.add("due_date", "The due date can't be before the issue date.")
                }
                None if due < today => e.add(
                    "due_date",
                    "The due date can't be before the issue date (today, when no issue date is set).",
                ),
                _ => {}
            }
        }
        e.finish(DraftEdit { po_number, notes, tax_rate_bp, issue_date, due_date })
    }
}

/// Forms of the detail page that may come back with errors.
#[derive(Default)]
struct DetailForms {
    errors: FormErrors,
    f: LineForm,
    issue_problems: Vec<String>,
    d: Option<DraftForm>,
    derrors: FormErrors,
}

async fn detail_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    id: i64,
    forms: DetailForms,
) -> AppResult<Detail> {
    let (i, lines, tenant, po_docs, replaces, replaced_by, terms_days) = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            let lines = invoice::lines(c, id)?;
            let t = crate::tenancy::store::find(c, i.tenant_id)?;
            let docs = match &i.po_number {
                Some(po) => super::po::for_po(c, i.tenant_id, po)?,
                None => Vec::new(),
            };
            let label = |x: Invoice| (x.id, x.number.unwrap_or_else(|| format!("Draft #{}", x.id)));
            let replaces = match i.replaces_id {
                Some(r) => Some(label(invoice::find(c, r)?)),
                None => None,
            };
            let replaced_by = invoice::replaced_by(c, id)?.map(label);
            let terms = super::store::profile(c, i.tenant_id)?
                .map(|p| p.terms_days)
                .unwrap_or(super::store::vendor(c)?.default_terms_days);
            Ok((i, lines, t.name, docs, replaces, replaced_by, terms))
        })
        .await?;
    let cur = money::currency(&i.currency).ok_or_else(|| AppError::internal("unknown currency"))?;
    let (status, kind) = invoice::display_status(&i, state.now().date_naive());
    Ok(Detail {
        ctx: PageCtx::new(req, i.number.clone().unwrap_or_else(|| "Draft invoice".into())),
        lines: lines
            .into_iter()
            .map(|l| LineRow {
                amount: money::format(l.amount_minor, cur),
                unit_price: invoice::parse_decimal(&l.unit_price)
                    .map(|d| money::format_unit_price(d, cur))
                    .unwrap_or_else(|| l.unit_price.clone()),
                kind: match l.kind.as_str() {
                    "license" => "Licence",
                    "add_on" => "Add-on",
                    "service" => "Service",
                    _ => "Credit",
                },
                l,
            })
            .collect(),
        subtotal: money::format(i.subtotal_minor, cur),
        tax: money::format(i.tax_minor, cur),
        total: money::format(i.total_minor, cur),
        tenant,
        status,
        kind,
        can_manage: p.can(Action::ManageInvoices),
        errors: forms.errors,
        f: forms.f,
        issue_problems: forms.issue_problems,
        d: forms.d.unwrap_or_else(|| DraftForm::of(&i)),
        derrors: forms.derrors,
        po_docs,
        replaces,
        replaced_by,
        pdf: invoice::pdf_hash(&i).is_some(),
        due_hint: format!("Optional: issue date + net {terms_days} days when empty."),
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
    render(&detail_page(&req, &p, &state, id.into_inner(), DetailForms::default()).await?)
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
    let (Some(quantity), Some(unit_price), true) = (quantity, price, e.is_empty()) else {
        let forms = DetailForms { errors: e, f, ..DetailForms::default() };
        let page = detail_page(&req, &p, &state, id, forms).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let now = now_micros(state.now());
    let line = NewLine { description, kind, quantity, unit_price };
    state.db(move |c| Ok(write_tx(c, |c| invoice::add_line(c, &i, &line, cur, now))?)).await?;
    Ok(flash::redirect_with(&req, &format!("/admin/invoices/{id}"), "success", "Line added."))
}

async fn remove_line(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
    form: CsrfForm<crate::web::form::NoFields>,
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
    form: CsrfForm<crate::web::form::NoFields>,
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
            let forms = DetailForms { issue_problems: missing, ..DetailForms::default() };
            let page = detail_page(&req, &p, &state, id, forms).await?;
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
    /// Where to return (the filtered list, when marked paid from there).
    #[serde(default)]
    back: String,
}

/// The page to return to: the invoice, or the staff list the form was sent from.
fn back_to(back: &str, id: i64) -> String {
    if back.starts_with("/admin/invoices?") && !back.contains("//") && !back.chars().any(char::is_control) {
        back.to_string()
    } else {
        format!("/admin/invoices/{id}")
    }
}

/// Why a disputed invoice is neither paid nor voided from its page.
const DISPUTED: &str = "This invoice has an open dispute: resolve it first under Support › Disputes (accept by voiding or crediting, or reject).";

async fn mark_paid(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<PaidForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let to = back_to(&f.back, id);
    let method = f.method.clone();
    if !["check", "ach", "wire", "card", "other"].contains(&method.as_str()) {
        return Ok(flash::redirect_with(&req, &to, "error", "Choose how it was paid."));
    }
    let reference: String = f.reference.trim().chars().take(120).collect();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let number = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            if i.status != "issued" {
                return Ok(Err("Only an issued, unpaid invoice can be marked paid."));
            }
            if i.disputed_at.is_some() {
                return Ok(Err(DISPUTED));
            }
            write_tx(c, |c| invoice::mark_paid(c, &actor, &i, &method, &reference, now))?;
            Ok(Ok(i.number.unwrap_or_default()))
        })
        .await?;
    Ok(match number {
        Ok(n) => flash::redirect_with(&req, &to, "success", format!("{n} is marked paid.")),
        Err(m) => flash::redirect_with(&req, &to, "warning", m),
    })
}

async fn save_details(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<DraftForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let edit = match f.parse(state.now().date_naive()) {
        Ok(edit) => edit,
        Err(derrors) => {
            let forms = DetailForms { d: Some(f), derrors, ..DetailForms::default() };
            let page = detail_page(&req, &p, &state, id, forms).await?;
            return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let saved = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            Ok(write_tx(c, |c| invoice::update_draft(c, &actor, &i, &edit, now))?)
        })
        .await?;
    let (kind, msg) = if saved {
        ("success", "Draft details saved.")
    } else {
        ("error", "An issued invoice can't change. Void it and issue a corrected one.")
    };
    Ok(flash::redirect_with(&req, &format!("/admin/invoices/{id}"), kind, msg))
}

#[derive(Debug, Deserialize)]
struct VoidForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    correct: String,
}

async fn void(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<VoidForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let reason: String = f.reason.trim().chars().take(300).collect();
    if reason.is_empty() {
        return Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "error",
            "Give the reason for voiding (it is printed on the voided copy and kept in the audit trail).",
        ));
    }
    let disputed = state.db(move |c| Ok(invoice::find(c, id)?.disputed_at.is_some())).await?;
    if disputed {
        return Ok(flash::redirect_with(&req, &format!("/admin/invoices/{id}"), "warning", DISPUTED));
    }
    let actor = Actor::of(&req, &p);
    match invoice::void_now(&state, actor, id, reason, f.correct == "1").await? {
        Ok(Some(draft)) => Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{draft}"),
            "success",
            "The invoice is void. This corrected draft has the same lines: fix it, then issue it.",
        )),
        Ok(None) => Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "success",
            "The invoice is void.",
        )),
        Err(VoidError::NotIssued) => Ok(flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "warning",
            "Only an issued, unpaid invoice can be voided. Mark a paid invoice unpaid first.",
        )),
        Err(e) => {
            tracing::error!(invoice = id, error = %e, "voiding failed; the invoice is unchanged");
            Ok(flash::redirect_with(
                &req,
                &format!("/admin/invoices/{id}"),
                "error",
                format!("The invoice could not be voided and is unchanged: {e}"),
            ))
        }
    }
}

async fn delete_draft(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<crate::web::form::NoFields>,
) -> AppResult<HttpResponse> {
    let p = form.principal;
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let deleted = state
        .db(move |c| {
            let i = invoice::find(c, id)?;
            Ok(write_tx(c, |c| invoice::delete_draft(c, &actor, &i, now))?)
        })
        .await?;
    Ok(if deleted {
        flash::redirect_with(&req, "/admin/invoices", "success", "The draft was deleted.")
    } else {
        flash::redirect_with(
            &req,
            &format!("/admin/invoices/{id}"),
            "warning",
            "Only a draft can be deleted.",
        )
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
    q: ListQuery,
    years: Vec<String>,
    totals: Vec<TotalRow>,
    paging: Paging,
    base_query: String,
    /// May open disputes (district admins and procurement).
    can_dispute: bool,
}

async fn tenant_list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let tenants = crate::tenancy::district::top_level_tenants(&p, &state, Action::ViewBilling).await?;
    let (tid, _) = crate::tenancy::district::pick(&tenants, q.tenant.parse::<i64>().ok())?;
    p.scope.require(Action::ViewBilling, tid)?;
    let today = state.now().date_naive();
    let f =
        ListFilter { tenant: Some(tid), hide_drafts: true, ..q.filter(today, &["issued", "paid", "void"]) };
    let paging = Paging::new(q.page, 50);
    let csv = q.format == "csv";
    let (offset, limit) = if csv { (0, CSV_LIMIT) } else { (paging.offset(), paging.per_page) };
    let (list, total, names, docs, totals) = state
        .db(move |c| {
            let (l, t) = invoice::list(c, &f, offset, limit)?;
            let totals = if csv { Vec::new() } else { invoice::totals(c, &f, today)? };
            Ok((l, t, crate::tenancy::store::names(c, Some(&[tid]))?, super::po::of_tenant(c, tid)?, totals))
        })
        .await?;
    if csv {
        return Ok(csv_response(&list, &names, today, &today.to_string()));
    }
    let q = ListQuery { tenant: tid.to_string(), ..q };
    render(&TenantList {
        ctx: PageCtx::new(&req, "Invoices"),
        rows: rows(list, &names, &docs, today),
        tenants,
        tenant_id: tid,
        years: years(today),
        totals: total_rows(totals),
        paging: paging.with_total(total),
        base_query: q.query_string(),
        q,
        can_dispute: p.scope.allows(Action::ClaimCredits, tid),
    })
}

async fn download(p: Principal, state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let i = state.db(move |c| Ok(invoice::find(c, id)?)).await?;
    p.scope.require(Action::ViewBilling, i.tenant_id)?;
    let Some(hash) = invoice::pdf_hash(&i).map(str::to_string) else {
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
