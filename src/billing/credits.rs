//! Credits owed to a tenant (an approved SLA credit claim, an accepted invoice dispute). Each
//! lands exactly once, as a negative line on the tenant's next draft invoice in its currency:
//! at once when a draft exists (or one is chosen), else when the next draft is created. A
//! credit on a draft that is deleted, or whose line is removed, waits for the next draft again.
//! Never on an issued invoice.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::invoice::{self, Invoice, NewLine};
use super::money;
use crate::db::DbConn;
use crate::db::schema::{account_credits as ac, invoices as inv, tenants};

/// A credit.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ac)]
pub struct Credit {
    pub id: i64,
    pub tenant_id: i64,
    /// `sla_claim | dispute`.
    pub source: String,
    pub source_id: i64,
    pub description: String,
    /// Positive: what the tenant is owed.
    pub amount_minor: i64,
    pub currency: String,
    pub invoice_id: Option<i64>,
    pub line_id: Option<i64>,
    pub applied_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// The tenant invoices go to: a linked school's district, else the tenant itself.
pub fn billing_tenant(c: &mut DbConn, tenant: i64) -> QueryResult<i64> {
    let parent: Option<i64> = tenants::table.find(tenant).select(tenants::parent_id).first(c)?;
    Ok(parent.unwrap_or(tenant))
}

/// Records a credit and applies it to `draft` (when given and still a draft of the tenant in
/// the credit's currency) or to the tenant's oldest draft. Returns the credit and the invoice
/// it landed on, if any.
#[allow(clippy::too_many_arguments)]
pub fn grant(
    c: &mut DbConn,
    tenant: i64,
    source: &str,
    source_id: i64,
    description: &str,
    amount_minor: i64,
    currency: &str,
    draft: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<(i64, Option<i64>)> {
    let tenant = billing_tenant(c, tenant)?;
    let id: i64 = diesel::insert_into(ac::table)
        .values((
            ac::tenant_id.eq(tenant),
            ac::source.eq(source),
            ac::source_id.eq(source_id),
            ac::description.eq(description),
            ac::amount_minor.eq(amount_minor.abs()),
            ac::currency.eq(currency),
            ac::created_at.eq(now),
        ))
        .returning(ac::id)
        .get_result(c)?;
    let target = match draft {
        Some(d) => inv::table
            .find(d)
            .filter(inv::tenant_id.eq(tenant))
            .filter(inv::status.eq("draft"))
            .filter(inv::currency.eq(currency))
            .select(Invoice::as_select())
            .first(c)
            .optional()?,
        None => None,
    };
    let target = match target {
        Some(t) => Some(t),
        None => inv::table
            .filter(inv::tenant_id.eq(tenant))
            .filter(inv::status.eq("draft"))
            .filter(inv::currency.eq(currency))
            .order(inv::id)
            .select(Invoice::as_select())
            .first(c)
            .optional()?,
    };
    let landed = match target {
        Some(t) => {
            apply_pending(c, &t, now)?;
            Some(t.id)
        }
        None => None,
    };
    Ok((id, landed))
}

/// Puts every pending credit of the invoice's tenant in its currency on a draft, once each.
pub fn apply_pending(c: &mut DbConn, draft: &Invoice, now: NaiveDateTime) -> QueryResult<usize> {
    if draft.status != "draft" {
        return Ok(0);
    }
    let Some(cur) = money::currency(&draft.currency) else { return Ok(0) };
    let pending: Vec<Credit> = ac::table
        .filter(ac::tenant_id.eq(draft.tenant_id))
        .filter(ac::currency.eq(&draft.currency))
        .filter(ac::applied_at.is_null())
        .order(ac::id)
        .select(Credit::as_select())
        .load(c)?;
    if pending.is_empty() {
        return Ok(0);
    }
    // Hold the invoice as a draft first: an issue running at the same time waits, or has won.
    let held = diesel::update(inv::table.find(draft.id).filter(inv::status.eq("draft")))
        .set(inv::updated_at.eq(now))
        .execute(c)?;
    if held != 1 {
        return Ok(0);
    }
    for cr in &pending {
        // Claim the credit first: a concurrent apply finds it taken.
        let n = diesel::update(ac::table.find(cr.id).filter(ac::applied_at.is_null()))
            .set((ac::applied_at.eq(Some(now)), ac::invoice_id.eq(Some(draft.id))))
            .execute(c)?;
        if n != 1 {
            continue;
        }
        let fresh = invoice::find(c, draft.id)?;
        let line = NewLine {
            description: cr.description.clone(),
            kind: "credit".into(),
            quantity: Decimal::ONE,
            unit_price: Decimal::new(cr.amount_minor, cur.exponent),
        };
        let line_id = invoice::add_line(c, &fresh, &line, cur, now)?;
        diesel::update(ac::table.find(cr.id)).set(ac::line_id.eq(Some(line_id))).execute(c)?;
    }
    Ok(pending.len())
}

/// Frees the credits on an invoice that is being deleted (a draft) or voided: they wait for the
/// next draft. Returns the lines that carried them.
pub fn release_invoice(c: &mut DbConn, invoice: i64) -> QueryResult<Vec<i64>> {
    let lines: Vec<Option<i64>> = ac::table.filter(ac::invoice_id.eq(invoice)).select(ac::line_id).load(c)?;
    diesel::update(ac::table.filter(ac::invoice_id.eq(invoice)))
        .set((
            ac::applied_at.eq(None::<NaiveDateTime>),
            ac::invoice_id.eq(None::<i64>),
            ac::line_id.eq(None::<i64>),
        ))
        .execute(c)?;
    Ok(lines.into_iter().flatten().collect())
}

/// Frees the credit whose line is being removed from a draft.
pub fn release_line(c: &mut DbConn, line: i64) -> QueryResult<usize> {
    diesel::update(ac::table.filter(ac::line_id.eq(line)))
        .set((
            ac::applied_at.eq(None::<NaiveDateTime>),
            ac::invoice_id.eq(None::<i64>),
            ac::line_id.eq(None::<i64>),
        ))
        .execute(c)
}

/// The credit of a source (a claim or a dispute), if granted.
pub fn of_source(c: &mut DbConn, source: &str, source_id: i64) -> QueryResult<Option<Credit>> {
    ac::table
        .filter(ac::source.eq(source))
        .filter(ac::source_id.eq(source_id))
        .select(Credit::as_select())
        .first(c)
        .optional()
}
