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
    /// The stamped copy rendered once when the invoice was voided.
    pub void_pdf_sha256: Option<String>,
    /// The voided invoice this one corrects.
    pub replaces_id: Option<i64>,
    /// For a renewal draft: the first day of the term it bills.
    pub renewal_for: Option<NaiveDate>,
    /// JSON of what the issued PDF showed of the vendor, profile and contacts ([`Snapshot`]).
    pub issue_snapshot: Option<String>,
    /// Set while a dispute of this invoice is open (shown as "Disputed"; reminders pause).
    pub disputed_at: Option<NaiveDateTime>,
}

/// What an issued invoice showed besides its own rows, kept so a voided copy shows the same.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub vendor: VendorSettings,
    pub profile: BillingProfile,
    pub tenant_name: String,
    pub contacts: Vec<String>,
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
    let id = create_bare_draft(c, actor, tenant, profile, now)?;
    // Credits owed to the tenant (SLA claims, disputes) land on its next draft.
    let draft = find(c, id)?;
    super::credits::apply_pending(c, &draft, now)?;
    Ok(id)
}

/// [`create_draft`] without putting pending credits on it: for callers that fill the draft
/// first (renewals, corrected copies) and apply the credits last.
pub fn create_bare_draft(
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
/// recomputes the totals; returns the line's id.
pub fn add_line(
    c: &mut DbConn,
    invoice: &Invoice,
    line: &NewLine,
    cur: Currency,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let NewLine { description, kind, quantity, unit_price } = line;
    let (quantity, unit_price) = (*quantity, *unit_price);
    let kind = kind.as_str();
    let mut amount = money::line_amount(quantity, unit_price, cur).unwrap_or(0);
    if kind == "credit" {
        amount = -amount.abs();
    }
    let position = lines(c, invoice.id)?.len() as i32;
    let line_id: i64 = diesel::insert_into(il::table)
        .values((
            il::invoice_id.eq(invoice.id),
            il::position.eq(position),
            il::description.eq(description),
            il::kind.eq(kind),
            il::quantity.eq(quantity.normalize().to_string()),
            il::unit_price.eq(unit_price.normalize().to_string()),
            il::amount_minor.eq(amount),
        ))
        .returning(il::id)
        .get_result(c)?;
    recompute(c, invoice.id, now)?;
    Ok(line_id)
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
    /// Verified billing contacts, as "Name <email>".
    pub contacts: Vec<String>,
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
    // A date set on the draft wins over the day it is issued; the due date defaults to the terms.
    let issue_date = i.issue_date.unwrap_or(issue_date);
    let due = i.due_date.unwrap_or(issue_date + Duration::days(i64::from(profile.terms_days)));
    if due < issue_date {
        return Err(IssueError::Incomplete(vec![format!(
            "a due date on or after the issue date ({issue_date}; the draft's due date is {due})"
        )]));
    }
    let vendor = store::vendor(c)?;
    let seq = numbering::next_number(c, i.tenant_id, issue_date.year())?;
    let number = numbering::format_with_prefix(&vendor.number_prefix, &tenant.slug, issue_date.year(), seq);
    let mut frozen = i.clone();
    frozen.number = Some(number.clone());
    frozen.status = "issued".into();
    frozen.issue_date = Some(issue_date);
    frozen.due_date = Some(due);
    frozen.po_number = i.po_number.clone().or(profile.po_number.clone());
    let contacts = super::contacts::verified(c, i.tenant_id)?;
    let doc = Document {
        invoice: frozen.clone(),
        lines: ls,
        vendor,
        profile,
        tenant_name: tenant.name,
        contacts: contacts.iter().map(|k| format!("{} <{}>", k.name, k.email)).collect(),
    };
    let pdf = render(&doc).map_err(IssueError::Pdf)?;
    let hash = put(pdf).map_err(IssueError::Pdf)?;
    let snapshot = serde_json::to_string(&Snapshot {
        vendor: doc.vendor.clone(),
        profile: doc.profile.clone(),
        tenant_name: doc.tenant_name.clone(),
        contacts: doc.contacts.clone(),
    })
    .ok();
    diesel::update(inv::table.find(id).filter(inv::status.eq("draft")))
        .set((
            inv::issue_snapshot.eq(snapshot),
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
    for contact in contacts {
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

/// What can change on a draft besides its lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DraftEdit {
    /// PO number printed on this invoice (overrides the profile's).
    pub po_number: Option<String>,
    /// Printed under the lines.
    pub notes: String,
    /// Tax rate in basis points.
    pub tax_rate_bp: i32,
    /// Issue date; empty means the day it is issued.
    pub issue_date: Option<NaiveDate>,
    /// Due date; empty means issue date + the profile's terms.
    pub due_date: Option<NaiveDate>,
}

impl DraftEdit {
    /// The draft's current values.
    pub fn of(i: &Invoice) -> Self {
        Self {
            po_number: i.po_number.clone(),
            notes: i.notes.clone(),
            tax_rate_bp: i.tax_rate_bp,
            issue_date: i.issue_date,
            due_date: i.due_date,
        }
    }
}

/// Saves a draft's details and recomputes its totals (tax may change), audited with before
/// and after. Returns false when the invoice is no longer a draft.
pub fn update_draft(
    c: &mut DbConn,
    actor: &Actor,
    i: &Invoice,
    e: &DraftEdit,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(inv::table.find(i.id).filter(inv::status.eq("draft")))
        .set((
            inv::po_number.eq(&e.po_number),
            inv::notes.eq(&e.notes),
            inv::tax_rate_bp.eq(e.tax_rate_bp),
            inv::issue_date.eq(e.issue_date),
            inv::due_date.eq(e.due_date),
            inv::updated_at.eq(now),
        ))
        .execute(c)?;
    if n == 0 {
        return Ok(false);
    }
    recompute(c, i.id, now)?;
    audit::record(
        c,
        actor,
        Event::new("invoice.update_draft", "invoice", i.id)
            .tenant(Some(i.tenant_id))
            .details(serde_json::json!({"before": DraftEdit::of(i), "after": e})),
        now,
    )?;
    Ok(true)
}

/// Why an invoice could not be voided.
#[derive(Debug, thiserror::Error)]
pub enum VoidError {
    /// Drafts are deleted, paid invoices are marked unpaid first, void is final.
    #[error("only an issued, unpaid invoice can be voided")]
    NotIssued,
    /// A step after the void refused to go on (e.g. the dispute was resolved meanwhile); nothing
    /// changed.
    #[error("something changed meanwhile; nothing was voided")]
    Aborted,
    /// The stamped copy could not be produced (nothing changed).
    #[error("the voided copy could not be produced: {0}")]
    Pdf(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Voids an issued invoice: its number stays used (never reused), the issued PDF stays stored
/// unchanged, and a copy stamped VOID is rendered once and served from then on. With
/// `correct`, a new draft with the same lines is created that points at the voided one.
/// Returns the id of the corrected draft, if any. Call inside a write transaction.
#[allow(clippy::too_many_arguments)]
pub fn void(
    c: &mut DbConn,
    actor: &Actor,
    id: i64,
    reason: &str,
    correct: bool,
    now: NaiveDateTime,
    render: &dyn Fn(&Document) -> Result<Vec<u8>, String>,
    put: &dyn Fn(Vec<u8>) -> Result<String, String>,
) -> Result<Option<i64>, VoidError> {
    let i = find(c, id)?;
    if i.status != "issued" {
        return Err(VoidError::NotIssued);
    }
    let mut stamped = i.clone();
    stamped.status = "void".into();
    stamped.void_reason = Some(reason.to_string());
    stamped.voided_at = Some(now);
    let doc = document(c, &stamped)?;
    let hash = put(render(&doc).map_err(VoidError::Pdf)?).map_err(VoidError::Pdf)?;
    let changed = diesel::update(inv::table.find(id).filter(inv::status.eq("issued")))
        .set((
            inv::status.eq("void"),
            inv::voided_at.eq(Some(now)),
            inv::void_reason.eq(Some(reason)),
            inv::void_pdf_sha256.eq(Some(&hash)),
            inv::updated_at.eq(now),
        ))
        .execute(c)?;
    if changed != 1 {
        // Paid (or voided) by someone else since it was read: the transaction rolls back.
        return Err(VoidError::NotIssued);
    }
    // Credits it carried are owed again: they go to the corrected draft or the next one.
    let credit_lines = super::credits::release_invoice(c, id)?;
    let corrected = if correct {
        let profile = store::profile(c, i.tenant_id)?
            .unwrap_or_else(|| BillingProfile::empty(i.tenant_id, &i.currency, 30, now));
        let new_id = create_bare_draft(c, actor, i.tenant_id, &profile, now)?;
        diesel::update(inv::table.find(new_id))
            .set((
                inv::replaces_id.eq(Some(id)),
                inv::po_number.eq(&i.po_number),
                inv::notes.eq(&i.notes),
                inv::tax_rate_bp.eq(i.tax_rate_bp),
                inv::currency.eq(&i.currency),
            ))
            .execute(c)?;
        // The released credits come back once, as tracked lines (applied below), not as copies.
        copy_lines_except(c, id, new_id, &credit_lines)?;
        recompute(c, new_id, now)?;
        let draft = find(c, new_id)?;
        super::credits::apply_pending(c, &draft, now)?;
        Some(new_id)
    } else {
        None
    };
    audit::record(
        c,
        actor,
        Event::new("invoice.void", "invoice", id).tenant(Some(i.tenant_id)).details(serde_json::json!({
            "number": i.number, "reason": reason, "total_minor": i.total_minor,
            "void_pdf_sha256": hash, "corrected_by_draft": corrected,
        })),
        now,
    )?;
    Ok(corrected)
}

/// Copies every line of one invoice onto another (a correction or a renewal).
pub fn copy_lines(c: &mut DbConn, from: i64, to: i64) -> QueryResult<()> {
    copy_lines_except(c, from, to, &[])
}

/// [`copy_lines`] leaving out the lines `skip`.
pub fn copy_lines_except(c: &mut DbConn, from: i64, to: i64, skip: &[i64]) -> QueryResult<()> {
    for l in lines(c, from)?.into_iter().filter(|l| !skip.contains(&l.id)) {
        diesel::insert_into(il::table)
            .values((
                il::invoice_id.eq(to),
                il::position.eq(l.position),
                il::description.eq(&l.description),
                il::kind.eq(&l.kind),
                il::quantity.eq(&l.quantity),
                il::unit_price.eq(&l.unit_price),
                il::amount_minor.eq(l.amount_minor),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// Everything an invoice's PDF shows (for a stamped copy): what it showed when issued, or the
/// current details for an invoice issued before snapshots were kept.
pub fn document(c: &mut DbConn, i: &Invoice) -> QueryResult<Document> {
    if let Some(snap) = i.issue_snapshot.as_deref().and_then(|s| serde_json::from_str::<Snapshot>(s).ok()) {
        return Ok(Document {
            invoice: i.clone(),
            lines: lines(c, i.id)?,
            vendor: snap.vendor,
            profile: snap.profile,
            tenant_name: snap.tenant_name,
            contacts: snap.contacts,
        });
    }
    let tenant = crate::tenancy::store::find(c, i.tenant_id)?;
    let vendor = store::vendor(c)?;
    let profile = store::profile(c, i.tenant_id)?.unwrap_or_else(|| {
        BillingProfile::empty(i.tenant_id, &i.currency, vendor.default_terms_days, i.created_at)
    });
    let contacts = super::contacts::verified(c, i.tenant_id)?;
    Ok(Document {
        invoice: i.clone(),
        lines: lines(c, i.id)?,
        vendor,
        profile,
        tenant_name: tenant.name,
        contacts: contacts.iter().map(|k| format!("{} <{}>", k.name, k.email)).collect(),
    })
}

/// Deletes a draft and its lines (drafts have no number, so nothing is lost), audited.
pub fn delete_draft(c: &mut DbConn, actor: &Actor, i: &Invoice, now: NaiveDateTime) -> QueryResult<bool> {
    if i.status != "draft" {
        return Ok(false);
    }
    // Lock the row as a draft first (a concurrent issue waits, or has already won).
    let still_draft = diesel::update(inv::table.find(i.id).filter(inv::status.eq("draft")))
        .set(inv::updated_at.eq(now))
        .execute(c)?;
    if still_draft != 1 {
        return Ok(false);
    }
    super::credits::release_invoice(c, i.id)?;
    diesel::delete(il::table.filter(il::invoice_id.eq(i.id))).execute(c)?;
    let n = diesel::delete(inv::table.find(i.id).filter(inv::status.eq("draft"))).execute(c)?;
    audit::record(
        c,
        actor,
        Event::new("invoice.delete_draft", "invoice", i.id)
            .tenant(Some(i.tenant_id))
            .details(serde_json::json!({"total_minor": i.total_minor, "currency": i.currency})),
        now,
    )?;
    Ok(n == 1)
}

/// The stored PDF a person downloads: the stamped copy once voided, else the issued one.
pub fn pdf_hash(i: &Invoice) -> Option<&str> {
    match i.status.as_str() {
        "draft" => None,
        "void" => i.void_pdf_sha256.as_deref().or(i.pdf_sha256.as_deref()),
        _ => i.pdf_sha256.as_deref(),
    }
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
    let logo = logo_bytes(state, None).await?;
    state
        .db(move |c| {
            let put = store_put(files)?;
            let render = |d: &Document| super::pdf::render(d, logo.as_deref());
            match crate::db::write_tx(c, |c| issue(c, &actor, id, issue_date, now, &render, &put)) {
                Ok(i) => Ok(Ok(i)),
                Err(IssueError::Db(e)) => Err(e.into()),
                Err(other) => Ok(Err(other)),
            }
        })
        .await
}

/// Voids an issued invoice now, rendering and storing its stamped copy inside the transaction.
pub async fn void_now(
    state: &crate::AppState,
    actor: Actor,
    id: i64,
    reason: String,
    correct: bool,
) -> Result<Result<Option<i64>, VoidError>, crate::error::AppError> {
    void_now_then(state, actor, id, reason, correct, |_, _| Ok(())).await
}

/// [`void_now`], then `after` (given the corrected draft, if any) in the same transaction: a
/// resolved dispute is recorded together with the void, or neither is.
pub async fn void_now_then<F>(
    state: &crate::AppState,
    actor: Actor,
    id: i64,
    reason: String,
    correct: bool,
    after: F,
) -> Result<Result<Option<i64>, VoidError>, crate::error::AppError>
where
    F: FnOnce(&mut DbConn, Option<i64>) -> QueryResult<()> + Send + 'static,
{
    let now = crate::db::now_micros(state.now());
    let files = state.files().clone();
    // The stamped copy shows the logo the invoice was issued with.
    let issued_logo = state
        .db(move |c| {
            let i = find(c, id)?;
            Ok(i.issue_snapshot
                .as_deref()
                .and_then(|s| serde_json::from_str::<Snapshot>(s).ok())
                .map(|s| s.vendor.logo_sha256))
        })
        .await?;
    let logo = logo_bytes(state, issued_logo).await?;
    state
        .db(move |c| {
            let put = store_put(files)?;
            let render = |d: &Document| super::pdf::render(d, logo.as_deref());
            let tx = crate::db::write_tx(c, |c| {
                let corrected = void(c, &actor, id, &reason, correct, now, &render, &put)?;
                after(c, corrected)?;
                Ok::<_, VoidError>(corrected)
            });
            match tx {
                Ok(v) => Ok(Ok(v)),
                Err(VoidError::Db(diesel::result::Error::RollbackTransaction)) => Ok(Err(VoidError::Aborted)),
                Err(VoidError::Db(e)) => Err(e.into()),
                Err(other) => Ok(Err(other)),
            }
        })
        .await
}

/// The logo's bytes: of the given hash (`Some(None)`: the invoice had none), else the
/// vendor's current one. A logo that can't be read is left out rather than blocking invoices.
async fn logo_bytes(
    state: &crate::AppState,
    hash: Option<Option<String>>,
) -> Result<Option<Vec<u8>>, crate::error::AppError> {
    let hash = match hash {
        Some(h) => h,
        None => state.db(|c| Ok(store::vendor(c)?.logo_sha256)).await?,
    };
    let Some(hash) = hash else { return Ok(None) };
    match state.files().get(&hash).await {
        Ok(b) => Ok(Some(b.to_vec())),
        Err(e) => {
            tracing::warn!(error = %e, "the invoice logo could not be read; rendering without it");
            Ok(None)
        }
    }
}

/// A `put` for use on the blocking pool: stores bytes in the object store, waiting on the
/// runtime, and returns their SHA-256.
fn store_put(
    files: crate::storage::FileStore,
) -> Result<impl Fn(Vec<u8>) -> Result<String, String>, crate::error::AppError> {
    let handle = tokio::runtime::Handle::try_current().map_err(crate::error::AppError::internal)?;
    Ok(move |bytes: Vec<u8>| handle.block_on(files.put(bytes::Bytes::from(bytes))).map_err(|e| e.to_string()))
}

/// Records that `id` corrects the voided invoice `replaces` (for invoices issued separately).
pub fn set_replaces(c: &mut DbConn, id: i64, replaces: i64) -> QueryResult<usize> {
    diesel::update(inv::table.find(id)).set(inv::replaces_id.eq(Some(replaces))).execute(c)
}

/// The invoice that corrects this one, if any.
pub fn replaced_by(c: &mut DbConn, id: i64) -> QueryResult<Option<Invoice>> {
    inv::table
        .filter(inv::replaces_id.eq(id))
        .order(inv::id.desc())
        .select(Invoice::as_select())
        .first(c)
        .optional()
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
    if n == 1 {
        super::credits::release_line(c, line_id)?;
    }
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
    /// Issued in this calendar year (drafts by creation year).
    pub year: Option<i32>,
    /// Only issued invoices past their due date as of this day.
    pub overdue_on: Option<NaiveDate>,
}

/// Invoices matching the filter, newest first.
pub fn list(c: &mut DbConn, f: &ListFilter, offset: i64, limit: i64) -> QueryResult<(Vec<Invoice>, i64)> {
    let total = filtered(f).count().get_result(c)?;
    let rows =
        filtered(f).order(inv::id.desc()).offset(offset).limit(limit).select(Invoice::as_select()).load(c)?;
    Ok((rows, total))
}

/// The invoices table filtered as `f` says.
fn filtered(f: &ListFilter) -> inv::BoxedQuery<'static, <DbConn as diesel::Connection>::Backend> {
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
    if let Some(y) = f.year {
        let (from, to) = year_bounds(y);
        q = q.filter(
            inv::issue_date.ge(from).and(inv::issue_date.lt(to)).or(inv::status
                .eq("draft")
                .and(inv::created_at.ge(from.and_time(chrono::NaiveTime::MIN)))
                .and(inv::created_at.lt(to.and_time(chrono::NaiveTime::MIN)))),
        );
    }
    if let Some(d) = f.overdue_on {
        q = q.filter(inv::status.eq("issued")).filter(inv::due_date.lt(d));
    }
    q
}

/// Sums per currency over every invoice matching the filter (not only one page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Currency code.
    pub currency: String,
    /// Issued, paid and voided excluded: issued + paid.
    pub invoiced_minor: i64,
    /// Issued and not yet paid.
    pub outstanding_minor: i64,
    /// Of the outstanding, past due.
    pub overdue_minor: i64,
}

/// Totals per currency of the invoices matching the filter (void and drafts count nowhere).
pub fn totals(c: &mut DbConn, f: &ListFilter, today: NaiveDate) -> QueryResult<Vec<Totals>> {
    let rows: Vec<(String, String, i64, Option<NaiveDate>)> = filtered(f)
        .filter(inv::status.eq_any(["issued", "paid"]))
        .select((inv::currency, inv::status, inv::total_minor, inv::due_date))
        .load(c)?;
    let mut out: Vec<Totals> = Vec::new();
    for (currency, status, total, due_date) in rows {
        let idx = match out.iter().position(|t| t.currency == currency) {
            Some(x) => x,
            None => {
                out.push(Totals { currency, ..Totals::default() });
                out.len() - 1
            }
        };
        let t = &mut out[idx];
        t.invoiced_minor += total;
        if status == "issued" {
            t.outstanding_minor += total;
            if due_date.is_some_and(|d| d < today) {
                t.overdue_minor += total;
            }
        }
    }
    out.sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(out)
}

fn year_bounds(y: i32) -> (NaiveDate, NaiveDate) {
    let from = NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(NaiveDate::MIN);
    let to = NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap_or(NaiveDate::MAX);
    (from, to)
}

/// The status a person reads ("Overdue 12 days" is computed from the due date).
pub fn display_status(i: &Invoice, today: NaiveDate) -> (String, &'static str) {
    match i.status.as_str() {
        "draft" => ("Draft".into(), "draft"),
        "paid" => ("Paid".into(), "paid"),
        "void" => ("Void".into(), "void"),
        _ if i.disputed_at.is_some() => ("Disputed".into(), "disputed"),
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
