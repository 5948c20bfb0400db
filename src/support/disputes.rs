//! Invoice disputes: a district admin or procurement officer disputes an issued invoice (the
//! invoice shows "Disputed" and its overdue reminders pause); internal admins resolve it at
//! `/admin/disputes`: accepted by voiding the invoice (optionally with a corrected draft) or by a
//! credit on the next invoice, or rejected with a reason. Every step audited and emailed.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::billing::invoice::{self, Invoice};
use crate::billing::money;
use crate::db::schema::{invoice_disputes as d, invoices as inv, users};
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render, render_status};
use crate::web::upload;

/// Categories: (stored, label).
pub const CATEGORIES: [(&str, &str); 5] = [
    ("amount", "The amount is wrong"),
    ("duplicate", "We were billed twice"),
    ("not_received", "We did not receive what is billed"),
    ("po_mismatch", "The PO number or terms don't match our PO"),
    ("other", "Something else"),
];

/// A category's label.
pub fn category_label(k: &str) -> &'static str {
    CATEGORIES.iter().find(|(x, _)| *x == k).map(|(_, l)| *l).unwrap_or("Something else")
}

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/support/disputes", web::get().to(tenant_page))
        .route("/support/disputes/new", web::get().to(new_page))
        .route("/support/disputes/new", web::post().to(create))
        .route("/support/disputes/{id}/document", web::get().to(document))
        .route("/admin/disputes", web::get().to(admin_list))
        .route("/admin/disputes/{id}", web::get().to(admin_detail))
        .route("/admin/disputes/{id}/resolve", web::post().to(resolve));
}

/// A dispute.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct Dispute {
    pub id: i64,
    pub tenant_id: i64,
    pub invoice_id: i64,
    pub opened_by: i64,
    pub category: String,
    pub description: String,
    pub document_sha256: Option<String>,
    pub document_name: Option<String>,
    /// `open | accepted | rejected`.
    pub status: String,
    /// For an accepted one: `void | credit`.
    pub outcome: String,
    pub resolution_reason: String,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Dispute {
    /// Badge colour.
    pub fn badge(&self) -> &'static str {
        match self.status.as_str() {
            "accepted" => "paid",
            "rejected" => "void",
            _ => "disputed",
        }
    }

    /// Status in words.
    pub fn status_label(&self) -> &'static str {
        match (self.status.as_str(), self.outcome.as_str()) {
            ("accepted", "void") => "Accepted: invoice voided",
            ("accepted", _) => "Accepted: credit given",
            ("rejected", _) => "Rejected",
            _ => "Open",
        }
    }
}

/// A dispute with its invoice's number and total, for lists.
pub struct Row {
    pub d: Dispute,
    pub number: String,
    pub total: String,
    pub tenant: String,
    pub opened_by: String,
}

fn rows(c: &mut DbConn, list: Vec<Dispute>) -> QueryResult<Vec<Row>> {
    let names = crate::tenancy::store::names(c, None)?;
    let mut out = Vec::new();
    for x in list {
        let i = invoice::find(c, x.invoice_id)?;
        let who = crate::auth::store::user_by_id(c, x.opened_by)?.display_name;
        out.push(Row {
            number: i.number.clone().unwrap_or_default(),
            total: money::currency(&i.currency)
                .map(|cur| money::format(i.total_minor, cur))
                .unwrap_or_default(),
            tenant: names
                .iter()
                .find(|(id, _)| *id == x.tenant_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            opened_by: who,
            d: x,
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "support/disputes.html")]
struct TenantPage {
    ctx: PageCtx,
    rows: Vec<Row>,
    can_open: bool,
    /// Show the SLA credits and disputes tabs (roles that see billing).
    billing_tabs: bool,
}

async fn tenant_page(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if p.is_internal() {
        return Ok(flash::redirect_with(&req, "/admin/disputes", "info", "Disputes are resolved here."));
    }
    if !p.scope.allows_anywhere(Action::ViewBilling) {
        return Err(AppError::NotFound);
    }
    let tenants = p.scope.tenants_for(Action::ViewBilling).unwrap_or_default();
    let rows = state
        .db(move |c| {
            let list: Vec<Dispute> = d::table
                .filter(d::tenant_id.eq_any(tenants))
                .order(d::id.desc())
                .select(Dispute::as_select())
                .load(c)?;
            Ok(rows(c, list)?)
        })
        .await?;
    render(&TenantPage {
        ctx: PageCtx::new(&req, "Invoice disputes"),
        rows,
        billing_tabs: p.scope.allows_anywhere(Action::ViewBilling),
        can_open: p.scope.allows_anywhere(Action::ClaimCredits),
    })
}

#[derive(Template)]
#[template(path = "support/dispute_new.html")]
struct NewPage {
    ctx: PageCtx,
    i: Invoice,
    number: String,
    total: String,
    category: String,
    description: String,
    errors: FormErrors,
    categories: [(&'static str, &'static str); 5],
}

/// An issued invoice `p` may dispute, or 404.
async fn disputable(p: &Principal, state: &AppState, id: i64) -> AppResult<Invoice> {
    let i = state.db(move |c| Ok(invoice::find(c, id).optional()?)).await?.ok_or(AppError::NotFound)?;
    p.scope.require(Action::ViewBilling, i.tenant_id)?;
    p.scope.require(Action::ClaimCredits, i.tenant_id)?;
    if i.status == "draft" {
        return Err(AppError::NotFound);
    }
    Ok(i)
}

fn new_page_for(
    req: &HttpRequest,
    i: Invoice,
    category: String,
    description: String,
    errors: FormErrors,
) -> NewPage {
    NewPage {
        ctx: PageCtx::new(req, "Dispute an invoice"),
        number: i.number.clone().unwrap_or_default(),
        total: money::currency(&i.currency).map(|c| money::format(i.total_minor, c)).unwrap_or_default(),
        i,
        category,
        description,
        errors,
        categories: CATEGORIES,
    }
}

#[derive(Debug, Deserialize)]
struct NewQuery {
    invoice: Option<i64>,
}

async fn new_page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<NewQuery>,
) -> AppResult<HttpResponse> {
    let Some(id) = q.invoice else {
        return Ok(flash::redirect_with(
            &req,
            "/billing/invoices",
            "info",
            "Choose the invoice to dispute: use Dispute on its line.",
        ));
    };
    let i = disputable(&p, &state, id).await?;
    let mut e = FormErrors::new();
    if let Some(m) = refusal(&i) {
        e.add("category", m);
    }
    render(&new_page_for(&req, i, String::new(), String::new(), e))
}

/// Why an invoice can't be disputed now.
fn refusal(i: &Invoice) -> Option<String> {
    match i.status.as_str() {
        "void" => Some("This invoice is void: there is nothing to dispute.".into()),
        "paid" => Some("This invoice is paid. For a refund, file a billing support request instead.".into()),
        _ if i.disputed_at.is_some() => Some("This invoice already has an open dispute.".into()),
        _ => None,
    }
}

async fn create(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    mp: Multipart,
) -> AppResult<HttpResponse> {
    let form = upload::read_checked(&req, &p, mp, "document", super::pages::MAX_ATTACHMENT).await?;
    let id: i64 = form.field("invoice_id").trim().parse().map_err(|_| AppError::NotFound)?;
    let i = disputable(&p, &state, id).await?;
    let category = form.field("category").trim().to_string();
    let typed = form.field("description").to_string();
    let description = typed.trim().to_string();
    let mut e = FormErrors::new();
    if let Some(m) = refusal(&i) {
        e.add("category", m);
    }
    if !CATEGORIES.iter().any(|(k, _)| *k == category) {
        e.add("category", "Choose what is wrong with the invoice.");
    }
    let n = description.chars().count();
    if n < 20 {
        e.add(
            "description",
            "Explain what is wrong in at least 20 characters, e.g. which line and what you expected.",
        );
    } else if n > 5000 {
        e.add("description", "Keep the description under 5,000 characters; attach a document for more.");
    }
    let file = super::pages::checked_attachment(form.file, "document", &mut e);
    if !e.is_empty() {
        return render_status(&new_page_for(&req, i, category, typed, e), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let doc = match file {
        Some(f) => {
            let (hash, name, _) = super::pages::store_attachment(&state, f).await?;
            Some((hash, name))
        }
        None => None,
    };
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let (me, vendor, base) = (p.user_id, state.config().mail_from.clone(), state.config().base_url.clone());
    let number = i.number.clone().unwrap_or_default();
    let opened = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                // Mark the invoice first: a second dispute (or a payment) racing this one loses.
                let marked = diesel::update(inv::table.find(i.id).filter(inv::status.eq("issued")).filter(inv::disputed_at.is_null()))
                    .set(inv::disputed_at.eq(Some(now)))
                    .execute(c)?;
                if marked != 1 {
                    return Ok::<_, diesel::result::Error>(None);
                }
                let id: i64 = diesel::insert_into(d::table)
                    .values((
                        d::tenant_id.eq(i.tenant_id),
                        d::invoice_id.eq(i.id),
                        d::opened_by.eq(me),
                        d::category.eq(&category),
                        d::description.eq(&description),
                        d::document_sha256.eq(doc.as_ref().map(|x| x.0.clone())),
                        d::document_name.eq(doc.as_ref().map(|x| x.1.clone())),
                        d::status.eq("open"),
                        d::created_at.eq(now),
                        d::updated_at.eq(now),
                    ))
                    .returning(d::id)
                    .get_result(c)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("dispute.open", "invoice_dispute", id)
                        .tenant(Some(i.tenant_id))
                        .details(json!({"invoice_id": i.id, "number": i.number, "category": category})),
                    now,
                )?;
                let email: String = users::table.find(me).select(users::email).first(c)?;
                let tenant = crate::tenancy::store::find(c, i.tenant_id)?.name;
                let num = i.number.clone().unwrap_or_default();
                for (to, subject, text) in [
                    (
                        email,
                        format!("Your dispute of invoice {num} is open"),
                        format!("We received your dispute of invoice {num} ({}). Reminders for it are paused while we look.\n\nFollow it at {base}/support/disputes\n", category_label(&category)),
                    ),
                    (
                        vendor,
                        format!("{tenant} disputes invoice {num}"),
                        format!("{tenant} disputes invoice {num}: {}.\n\n{description}\n\nResolve it: {base}/admin/disputes/{id}\n", category_label(&category)),
                    ),
                ] {
                    crate::notify::queue(c, &crate::notify::Email::plain(to, subject, text), now)?;
                }
                Ok(Some(id))
            })?)
        })
        .await?;
    Ok(match opened {
        Some(_) => flash::redirect_with(
            &req,
            "/support/disputes",
            "success",
            format!("Invoice {number} is now disputed. Reminders are paused; we email you the outcome."),
        ),
        None => flash::redirect_with(
            &req,
            "/support/disputes",
            "error",
            format!("Invoice {number} can't be disputed now (it was paid, voided or is already disputed)."),
        ),
    })
}

async fn document(p: Principal, state: web::Data<AppState>, id: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let x: Dispute = state
        .db(move |c| Ok(d::table.find(id).select(Dispute::as_select()).first(c).optional()?))
        .await?
        .ok_or(AppError::NotFound)?;
    if !(p.can(Action::WorkSupportQueue) || p.scope.allows(Action::ViewBilling, x.tenant_id)) {
        return Err(AppError::NotFound);
    }
    let (Some(hash), Some(name)) = (x.document_sha256, x.document_name) else {
        return Err(AppError::NotFound);
    };
    let bytes = state.files().get(&hash).await.map_err(AppError::internal)?;
    let ctype = if name.ends_with(".pdf") { "application/pdf" } else { "application/octet-stream" };
    Ok(HttpResponse::Ok()
        .content_type(ctype)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

#[derive(Template)]
#[template(path = "support/admin_disputes.html")]
struct AdminList {
    ctx: PageCtx,
    rows: Vec<Row>,
    status: String,
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    #[serde(default)]
    status: String,
}

async fn admin_list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<StatusQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    let status = match q.status.as_str() {
        "accepted" | "rejected" | "all" => q.status.clone(),
        _ => "open".to_string(),
    };
    let st = status.clone();
    let rows = state
        .db(move |c| {
            let mut qb = d::table.into_boxed();
            if st != "all" {
                qb = qb.filter(d::status.eq(st.clone()));
            }
            let list: Vec<Dispute> =
                qb.order(d::id.desc()).limit(500).select(Dispute::as_select()).load(c)?;
            Ok(rows(c, list)?)
        })
        .await?;
    render(&AdminList { ctx: PageCtx::new(&req, "Invoice disputes"), rows, status })
}

#[derive(Template)]
#[template(path = "support/admin_dispute.html")]
struct AdminDetail {
    ctx: PageCtx,
    row: Row,
    invoice_status: String,
    currency: String,
    f: ResolveForm,
    errors: FormErrors,
    can_decide: bool,
    credit: Option<(i64, String)>,
}

async fn load_admin(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    id: i64,
    f: ResolveForm,
    errors: FormErrors,
) -> AppResult<AdminDetail> {
    let (row, i, credit) = state
        .db(move |c| {
            let x: Dispute = d::table
                .find(id)
                .select(Dispute::as_select())
                .first(c)
                .optional()?
                .ok_or(AppError::NotFound)?;
            let i = invoice::find(c, x.invoice_id)?;
            let credit = match crate::billing::credits::of_source(c, "dispute", x.id)? {
                Some(cr) => Some((
                    cr.invoice_id.unwrap_or(0),
                    money::currency(&cr.currency)
                        .map(|cur| money::format(cr.amount_minor, cur))
                        .unwrap_or_default(),
                )),
                None => None,
            };
            let mut r = rows(c, vec![x])?;
            let row = r.pop().ok_or(AppError::NotFound)?;
            Ok((row, i, credit))
        })
        .await?;
    Ok(AdminDetail {
        ctx: PageCtx::new(req, format!("Dispute of {}", row.number)),
        invoice_status: invoice::display_status(&i, state.now().date_naive()).0,
        currency: i.currency,
        row,
        f,
        errors,
        can_decide: p.can(Action::ManageSla) && p.can(Action::ManageInvoices),
        credit,
    })
}

async fn admin_detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    render(&load_admin(&req, &p, &state, id.into_inner(), ResolveForm::default(), FormErrors::new()).await?)
}

/// The resolution form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResolveForm {
    /// `void | credit | reject`.
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub amount: String,
    /// "1": create a corrected draft when voiding.
    #[serde(default)]
    pub correct: String,
}

async fn resolve(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<ResolveForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageSla)?;
    p.require(Action::ManageInvoices)?;
    let id = id.into_inner();
    let x: Dispute = state
        .db(move |c| Ok(d::table.find(id).select(Dispute::as_select()).first(c).optional()?))
        .await?
        .ok_or(AppError::NotFound)?;
    let i = state
        .db({
            let inv_id = x.invoice_id;
            move |c| Ok(invoice::find(c, inv_id)?)
        })
        .await?;
    let mut e = FormErrors::new();
    let reason = f.reason.trim().to_string();
    if reason.chars().count() < 5 {
        e.add("reason", "Give the reason the district will read.");
    } else if reason.chars().count() > 300 {
        e.add("reason", "Keep the reason under 300 characters (it is printed on a voided copy).");
    }
    let mut amount = 0;
    match f.decision.as_str() {
        "void" | "reject" => {}
        "credit" => match money::currency(&i.currency).map(|c| money::parse_minor(&f.amount, c)) {
            Some(Ok(v)) if v > 0 => amount = v,
            Some(Ok(_)) => e.add("amount", "A credit is more than 0."),
            Some(Err(m)) => e.add("amount", m),
            None => e.add("amount", "Unknown currency."),
        },
        _ => e.add("decision", "Choose how to resolve the dispute."),
    }
    if x.status != "open" {
        e.add("decision", "This dispute is already resolved.");
    }
    if !e.is_empty() {
        let page = load_admin(&req, &p, &state, id, f, e).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    let decision = f.decision.clone();
    let me = p.user_id;
    let record = {
        let (actor, reason, decision, base, x) =
            (actor.clone(), reason.clone(), decision.clone(), base.clone(), x.clone());
        move |c: &mut DbConn, corrected: Option<i64>| -> QueryResult<()> {
            let (status, outcome) = match decision.as_str() {
                "reject" => ("rejected", ""),
                "void" => ("accepted", "void"),
                _ => ("accepted", "credit"),
            };
            let n = diesel::update(d::table.find(x.id).filter(d::status.eq("open")))
                .set((
                    d::status.eq(status),
                    d::outcome.eq(outcome),
                    d::resolution_reason.eq(&reason),
                    d::resolved_by.eq(Some(me)),
                    d::resolved_at.eq(Some(now)),
                    d::updated_at.eq(now),
                ))
                .execute(c)?;
            if n != 1 {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            diesel::update(inv::table.find(x.invoice_id))
                .set(inv::disputed_at.eq(None::<NaiveDateTime>))
                .execute(c)?;
            let disputed = invoice::find(c, x.invoice_id)?;
            let mut landed = None;
            if outcome == "credit" {
                let number = disputed.number.clone().unwrap_or_default();
                let cur = disputed.currency.clone();
                landed = crate::billing::credits::grant(
                    c,
                    x.tenant_id,
                    "dispute",
                    x.id,
                    &format!("Credit for disputed invoice {number}"),
                    amount,
                    &cur,
                    None,
                    now,
                )?
                .1;
            }
            audit::record(
                c,
                &actor,
                Event::new(if status == "rejected" { "dispute.reject" } else { "dispute.accept" }, "invoice_dispute", x.id)
                    .tenant(Some(x.tenant_id))
                    .details(json!({"invoice_id": x.invoice_id, "outcome": outcome, "reason": reason, "credit_minor": (outcome == "credit").then_some(amount),
                        "credit_invoice_id": landed, "corrected_draft": corrected})),
                now,
            )?;
            let to: String = users::table.find(x.opened_by).select(users::email).first(c)?;
            let number = disputed.number.unwrap_or_default();
            let text = match outcome {
                "void" => format!(
                    "We accepted your dispute of invoice {number} and voided it.\n\n{reason}\n\n{}{base}/support/disputes\n",
                    if corrected.is_some() { "A corrected invoice follows.\n\n" } else { "" }
                ),
                "credit" => format!(
                    "We accepted your dispute of invoice {number}: a credit appears on your next invoice.\n\n{reason}\n\n{base}/support/disputes\n"
                ),
                _ => format!(
                    "We reviewed your dispute of invoice {number} and could not accept it:\n\n{reason}\n\nThe invoice stands and its reminders resume. Reply to this email if you disagree.\n\n{base}/support/disputes\n"
                ),
            };
            crate::notify::queue(
                c,
                &crate::notify::Email::plain(
                    to,
                    format!(
                        "Your dispute of invoice {number}: {}",
                        if status == "rejected" { "not accepted" } else { "accepted" }
                    ),
                    text,
                )
                .dedupe(format!("dispute:{}:resolved", x.id)),
                now,
            )?;
            Ok(())
        }
    };
    if decision == "void" {
        let reason_void = format!("Dispute accepted: {reason}");
        return match invoice::void_now_then(
            &state,
            actor,
            x.invoice_id,
            reason_void.chars().take(300).collect(),
            f.correct == "1",
            record,
        )
        .await?
        {
            Ok(Some(draft)) => Ok(flash::redirect_with(
                &req,
                &format!("/admin/invoices/{draft}"),
                "success",
                "Dispute accepted and the invoice voided. This corrected draft has the same lines: fix it, then issue it.",
            )),
            Ok(None) => Ok(flash::redirect_with(
                &req,
                &format!("/admin/disputes/{id}"),
                "success",
                "Dispute accepted and the invoice voided.",
            )),
            Err(invoice::VoidError::Aborted) => Ok(flash::redirect_with(
                &req,
                &format!("/admin/disputes/{id}"),
                "warning",
                "This dispute was already resolved.",
            )),
            Err(invoice::VoidError::NotIssued) => Ok(flash::redirect_with(
                &req,
                &format!("/admin/disputes/{id}"),
                "warning",
                "Only an issued, unpaid invoice can be voided: mark it unpaid first, or resolve with a credit.",
            )),
            Err(err) => {
                tracing::error!(dispute = id, error = %err, "voiding for a dispute failed; nothing changed");
                Ok(flash::redirect_with(
                    &req,
                    &format!("/admin/disputes/{id}"),
                    "error",
                    "The voided copy could not be produced; nothing changed. Try again.",
                ))
            }
        };
    }
    let done = state
        .db(move |c| match write_tx(c, |c| record(c, None)) {
            Ok(()) => Ok(true),
            Err(diesel::result::Error::RollbackTransaction) => Ok(false),
            Err(e) => Err(e.into()),
        })
        .await?;
    let msg = match (done, decision.as_str()) {
        (false, _) => "This dispute was already resolved.",
        (true, "credit") => "Dispute accepted: the credit lands on the tenant's next draft invoice.",
        _ => "Dispute rejected; the invoice stands and its reminders resume.",
    };
    Ok(flash::redirect_with(
        &req,
        &format!("/admin/disputes/{id}"),
        if done { "success" } else { "warning" },
        msg,
    ))
}

/// Open disputes of some tenants (for the billing overview).
pub fn open_count(c: &mut DbConn, tenants: &[i64]) -> QueryResult<i64> {
    d::table.filter(d::tenant_id.eq_any(tenants.to_vec())).filter(d::status.eq("open")).count().get_result(c)
}
