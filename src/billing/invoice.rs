//! Invoices: drafts with lines are editable; issuing assigns the next gapless number, renders
//! the PDF once, stores it by SHA-256 and freezes the invoice, all in one transaction (a failed
//! render or store leaves a draft and consumes no number). Paid / unpaid / void are audited.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use rust_decimal::Decimal;
use std::str::FromStr;

use super::model::{BillingProfile, VendorSettings};
use super::money::{self, Currency};
use super::{numbering, store};
use crate::audit::{self, Actor, Event};
use crate::db::DbConn;
use crate::db::schema::{invoice_lines as il, invoices as inv};

/// An invoice row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = inv)]
pub struct Invoice {
    pub id: i64,
    pub tenant_id: i64,
    pub number: Option<String>,
    /// `draft | issued | paid | void`.
    pub status: String,
    pub currency: String,
    pub issue_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub po_number: Option<String>,
    pub notes: String,
    /// Tax rate in basis points (825 = 8.25 %).
    pub tax_rate_bp: i32,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub pdf_sha256: Option<String>,
    pub issued_at: Option<NaiveDateTime>,
    pub paid_at: Option<NaiveDateTime>,
    pub paid_method: Option<String>,
    pub paid_reference: Option<String>,
    pub voided_at: Option<NaiveDateTime>,
    pub void_reason: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A line of an invoice.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = il)]
pub struct Line {
    pub id: i64,
    pub invoice_id: i64,
    pub position: i32,
    pub description: String,
    /// `license | add_on | service | credit`.
    pub kind: String,
    /// Decimal text, e.g. "1250".
    pub quantity: String,
    /// Decimal text in major units, e.g. "38.80".
    pub unit_price: String,
    pub amount_minor: i64,
}

/// Why an invoice could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// What is missing, in words.
    #[error("{}", .0.join("; "))]
    Incomplete(Vec<String>),
    /// Not a draft any more.
    #[error("only a draft can be issued")]
    NotDraft,
    /// The PDF could not be rendered or stored (the invoice stays a draft).
    #[error("the invoice PDF could not be produced: {0}")]
    Pdf(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Tax on a subtotal at a rate in basis points, rounded half-up.
pub fn tax(subtotal_minor: i64, rate_bp: i32) -> i64 {
    let t = Decimal::from(subtotal_minor) * Decimal::from(rate_bp) / Decimal::from(10_000);
    t.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .to_string()
        .parse()
        .unwrap_or(0)
}

/// Creates a draft for a tenant (currency and PO from its profile).
pub fn create_draft(
    c: &mut DbConn,
    actor: &Actor,
    tenant: i64,
    profile: &BillingProfile,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let id = diesel::insert_into(inv::table)
        .values((
            inv::tenant_id.eq(tenant),
            inv::currency.eq(&profile.currency),
            inv::po_number.eq(&profile.po_number),
            inv::created_by.eq(actor.user_id),
            inv::created_at.eq(now),
            inv::updated_at.eq(now),
        ))
        .returning(inv::id)
        .get_result(c)?;
    audit::record(c, actor, Event::new("invoice.create_draft", "invoice", id).tenant(Some(tenant)), now)?;
    Ok(id)
}

/// One invoice.
pub fn find(c: &mut DbConn, id: i64) -> QueryResult<Invoice> {
    inv::table.find(id).select(Invoice::as_select()).first(c)
}

/// An invoice's lines in order.
pub fn lines(c: &mut DbConn, id: i64) -> QueryResult<Vec<Line>> {
    il::table.filter(il::invoice_id.eq(id)).order((il::position, il::id)).select(Line::as_select()).load(c)
}

/// Adds a line to a draft (amount = quantity × unit price, rounded half-up once) and
/// recomputes the totals.
pub fn add_line(
    c: &mut DbConn,
    invoice: &Invoice,
    line: &NewLine,
    cur: Currency,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let NewLine { description, kind, quantity, unit_price } = line;
    let (quantity, unit_price) = (*quantity, *unit_price);
    let kind = kind.as_str();
    let mut amount = money::line_amount(quantity, unit_price, cur).unwrap_or(0);
    if kind == "credit" {
        amount = -amount.abs();
    }
    let position = lines(c, invoice.id)?.len() as i32;
    diesel::insert_into(il::table)
        .values((
            il::invoice_id.eq(invoice.id),
            il::position.eq(position),
            il::description.eq(description),
            il::kind.eq(kind),
            il::quantity.eq(quantity.normalize().to_string()),
            il::unit_price.eq(unit_price.normalize().to_string()),
            il::amount_minor.eq(amount),
        ))
        .execute(c)?;
    recompute(c, invoice.id, now)
}

/// A line to add.
#[derive(Debug, Clone)]
pub struct NewLine {
    /// What is billed.
    pub description: String,
    /// `license | add_on | service | credit`.
    pub kind: String,
    /// How many.
    pub quantity: Decimal,
    /// Price per unit in major units (sub-cent precision allowed).
    pub unit_price: Decimal,
}

/// Recomputes subtotal, tax and total from the lines.
pub fn recompute(c: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let i = find(c, id)?;
    let subtotal: i64 = lines(c, id)?.iter().map(|l| l.amount_minor).sum();
    let t = tax(subtotal.max(0), i.tax_rate_bp);
    diesel::update(inv::table.find(id))
        .set((
            inv::subtotal_minor.eq(subtotal),
            inv::tax_minor.eq(t),
            inv::total_minor.eq(subtotal + t),
            inv::updated_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// What an issued invoice's PDF shows.
#[derive(Debug, Clone)]
pub struct Document {
    pub invoice: Invoice,
    pub lines: Vec<Line>,
    pub vendor: VendorSettings,
    pub profile: BillingProfile,
    pub tenant_name: String,
}

/// Issues a draft: checks it is complete, takes the next number, renders the PDF with
/// `render`, stores it with `put` (returning the SHA-256), freezes the invoice, audits. Call
/// inside a write transaction; any error rolls everything back (no number is consumed).
pub fn issue(
    c: &mut DbConn,
    actor: &Actor,
    id: i64,
    issue_date: NaiveDate,
    now: NaiveDateTime,
    render: &dyn Fn(&Document) -> Result<Vec<u8>, String>,
    put: &dyn Fn(Vec<u8>) -> Result<String, String>,
) -> Result<Invoice, IssueError> {
    let i = find(c, id)?;
    if i.status != "draft" {
        return Err(IssueError::NotDraft);
    }
    let ls = lines(c, id)?;
    let profile = store::profile(c, i.tenant_id)?;
    let mut missing: Vec<String> = Vec::new();
    if ls.is_empty() {
        missing.push("at least one line".into());
    }
    match &profile {
        None => missing.push("a billing profile with a billing address".into()),
        Some(p) => missing.extend(p.missing_for_invoicing().iter().map(|s| s.to_string())),
    }
    let Some(profile) = profile.filter(|_| missing.is_empty()) else {
        return Err(IssueError::Incomplete(missing));
    };
    let tenant = crate::tenancy::store::find(c, i.tenant_id)?;
    let seq = numbering::next_number(c, i.tenant_id, issue_date.year())?;
    let number = numbering::format_number(&tenant.slug, issue_date.year(), seq);
    let due = issue_date + Duration::days(i64::from(profile.terms_days));
    let mut frozen = i.clone();
    frozen.number = Some(number.clone());
    frozen.status = "issued".into();
    frozen.issue_date = Some(issue_date);
    frozen.due_date = Some(due);
    frozen.po_number = i.po_number.clone().or(profile.po_number.clone());
    let doc = Document {
        invoice: frozen.clone(),
        lines: ls,
        vendor: store::vendor(c)?,
        profile,
        tenant_name: tenant.name,
    };
    let pdf = render(&doc).map_err(IssueError::Pdf)?;
    let hash = put(pdf).map_err(IssueError::Pdf)?;
    diesel::update(inv::table.find(id).filter(inv::status.eq("draft")))
        .set((
            inv::number.eq(Some(&number)),
            inv::status.eq("issued"),
            inv::issue_date.eq(Some(issue_date)),
            inv::due_date.eq(Some(due)),
            inv::po_number.eq(&frozen.po_number),
            inv::pdf_sha256.eq(Some(&hash)),
            inv::issued_at.eq(Some(now)),
            inv::updated_at.eq(now),
        ))
        .execute(c)?;
    // The PDF goes to every verified billing contact, through the outbox, once.
    let cur = money::currency(&i.currency);
    for contact in super::contacts::verified(c, i.tenant_id)? {
        let total = cur.map(|cu| money::format_with_code(i.total_minor, cu)).unwrap_or_default();
        let email = crate::notify::Email {
            to: contact.email.clone(),
            subject: format!("Invoice {number} from {}", doc.vendor.legal_name),
            text: format!(
                "Hello {},\n\nInvoice {number} for {} is attached.\n\nTotal: {total}\nDue: {due}\nPO: {}\n\nPayment instructions are on the invoice. Questions: reply to this email.\n\n— {}",
                contact.name,
                doc.tenant_name,
                frozen.po_number.clone().unwrap_or_else(|| "none".into()),
                doc.vendor.legal_name
            ),
            html: None,
            headers: vec![],
            dedupe_key: Some(format!("invoice-issued:{id}:{}", contact.id)),
        };
        crate::notify::queue_with(c, &email, Some(&(hash.clone(), format!("{number}.pdf"))), now)?;
    }
    audit::record(
        c,
        actor,
        Event::new("invoice.issue", "invoice", id).tenant(Some(i.tenant_id)).details(serde_json::json!({
            "number": number, "total_minor": i.total_minor, "currency": i.currency, "pdf_sha256": hash,
        })),
        now,
    )?;
    Ok(find(c, id)?)
}

/// Marks an issued invoice paid (date, method, reference), audited.
pub fn mark_paid(
    c: &mut DbConn,
    actor: &Actor,
    i: &Invoice,
    method: &str,
    reference: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(inv::table.find(i.id).filter(inv::status.eq("issued")))
        .set((
            inv::status.eq("paid"),
            inv::paid_at.eq(Some(now)),
            inv::paid_method.eq(Some(method)),
            inv::paid_reference.eq(Some(reference)),
            inv::updated_at.eq(now),
        ))
        .execute(c)?;
    audit::record(
        c,
        actor,
        Event::new("invoice.mark_paid", "invoice", i.id)
            .tenant(Some(i.tenant_id))
            .details(serde_json::json!({"number": i.number, "method": method, "reference": reference})),
        now,
    )?;
    Ok(())
}

/// Marks a paid invoice unpaid again with a reason, audited.
pub fn mark_unpaid(
    c: &mut DbConn,
    actor: &Actor,
    i: &Invoice,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(inv::table.find(i.id).filter(inv::status.eq("paid")))
        .set((
            inv::status.eq("issued"),
            inv::paid_at.eq(None::<NaiveDateTime>),
            inv::paid_method.eq(None::<String>),
            inv::paid_reference.eq(None::<String>),
            inv::updated_at.eq(now),
        ))
        .execute(c)?;
    audit::record(
        c,
        actor,
        Event::new("invoice.mark_unpaid", "invoice", i.id)
            .tenant(Some(i.tenant_id))
            .details(serde_json::json!({"number": i.number, "reason": reason, "was_paid_at": i.paid_at.map(|t| t.to_string())})),
        now,
    )?;
    Ok(())
}

/// Parses a decimal quantity or price typed by a person.
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(&s.trim().replace(',', "")).ok()
}

/// Issues a draft now: renders the PDF and stores it inside the issuing transaction (on the
/// blocking pool, never holding an async thread), so a failure leaves a draft and no number.
pub async fn issue_now(
    state: &crate::AppState,
    actor: Actor,
    id: i64,
    issue_date: NaiveDate,
) -> Result<Result<Invoice, IssueError>, crate::error::AppError> {
    let now = crate::db::now_micros(state.now());
    let files = state.files().clone();
    state
        .db(move |c| {
            let handle = tokio::runtime::Handle::try_current().map_err(crate::error::AppError::internal)?;
            let put = |bytes: Vec<u8>| {
                handle.block_on(files.put(bytes::Bytes::from(bytes))).map_err(|e| e.to_string())
            };
            let render = |d: &Document| super::pdf::render(d);
            match crate::db::write_tx(c, |c| issue(c, &actor, id, issue_date, now, &render, &put)) {
                Ok(i) => Ok(Ok(i)),
                Err(IssueError::Db(e)) => Err(e.into()),
                Err(other) => Ok(Err(other)),
            }
        })
        .await
}

/// Removes a line from a draft and recomputes the totals.
pub fn remove_line(
    c: &mut DbConn,
    invoice: &Invoice,
    line_id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    if invoice.status != "draft" {
        return Ok(0);
    }
    let n = diesel::delete(il::table.find(line_id).filter(il::invoice_id.eq(invoice.id))).execute(c)?;
    recompute(c, invoice.id, now)?;
    Ok(n)
}

/// Filters for invoice lists.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Tenants allowed (None = all, for staff).
    pub tenants: Option<Vec<i64>>,
    /// One tenant.
    pub tenant: Option<i64>,
    /// One status.
    pub status: Option<String>,
    /// Drafts are hidden from tenants.
    pub hide_drafts: bool,
}

/// Invoices matching the filter, newest first.
pub fn list(c: &mut DbConn, f: &ListFilter, offset: i64, limit: i64) -> QueryResult<(Vec<Invoice>, i64)> {
    let build = || {
        let mut q = inv::table.into_boxed();
        if let Some(ts) = &f.tenants {
            q = q.filter(inv::tenant_id.eq_any(ts.clone()));
        }
        if let Some(t) = f.tenant {
            q = q.filter(inv::tenant_id.eq(t));
        }
        if let Some(s) = &f.status {
            q = q.filter(inv::status.eq(s.clone()));
        }
        if f.hide_drafts {
            q = q.filter(inv::status.ne("draft"));
        }
        q
    };
    let total = build().count().get_result(c)?;
    let rows =
        build().order(inv::id.desc()).offset(offset).limit(limit).select(Invoice::as_select()).load(c)?;
    Ok((rows, total))
}

/// The status a person reads ("Overdue 12 days" is computed from the due date).
pub fn display_status(i: &Invoice, today: NaiveDate) -> (String, &'static str) {
    match i.status.as_str() {
        "draft" => ("Draft".into(), "draft"),
        "paid" => ("Paid".into(), "paid"),
        "void" => ("Void".into(), "void"),
        _ => match i.due_date {
            Some(d) if d < today => {
                let days = (today - d).num_days();
                (format!("Overdue {days} day{}", if days == 1 { "" } else { "s" }), "overdue")
            }
            Some(d) => (format!("Due {d}"), "issued"),
            None => ("Issued".into(), "issued"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_up() {
        assert_eq!(tax(10_000, 825), 825);
        assert_eq!(tax(1_001, 500), 50, "50.05 -> 50");
        assert_eq!(tax(1_010, 500), 51, "50.5 -> 51");
        assert_eq!(tax(0, 825), 0);
    }
}
