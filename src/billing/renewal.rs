//! Renewals: a daily job prepares, N days (vendor setting, default 60) before a PO-mode
//! tenant's renewal date, a draft invoice for the next term with the lines of its last issued
//! invoice, for an internal admin to review and issue; the tenant's procurement contact is told
//! by email. One draft per tenant and renewal date (the `renewals` table), so a rerun, or a
//! deleted draft, changes nothing.

use chrono::{Duration, Months, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::invoice::{self, Invoice};
use super::model::BillingProfile;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::db::schema::{billing_profiles as bp, invoices as inv, renewals as rn};
use crate::db::{DbConn, now_micros, write_tx};
use crate::notify::{self, Email};

/// The last day of the term that starts on `start`.
pub fn term_end(start: NaiveDate, schedule: &str) -> NaiveDate {
    let months = if schedule == "semi_annual" { 6 } else { 12 };
    let next = start.checked_add_months(Months::new(months)).unwrap_or(start);
    next.checked_sub_signed(Duration::days(1)).unwrap_or(next)
}

/// Whether a renewal draft is due today for a renewal on `renewal` with `lead` days' notice
/// (up to 30 days after the date, in case Keel was not running on the day).
pub fn is_due(renewal: NaiveDate, lead: i64, today: NaiveDate) -> bool {
    let (Some(from), Some(to)) =
        (renewal.checked_sub_signed(Duration::days(lead)), renewal.checked_add_signed(Duration::days(30)))
    else {
        return false;
    };
    today >= from && today <= to
}

/// The PO-mode profiles whose renewal draft is due today and not yet prepared.
pub fn due(c: &mut DbConn, today: NaiveDate) -> QueryResult<Vec<(BillingProfile, NaiveDate)>> {
    let lead = i64::from(super::store::vendor(c)?.renewal_lead_days);
    let profiles: Vec<BillingProfile> = bp::table
        .filter(bp::mode.eq("invoice_po"))
        .filter(bp::renewal_date.is_not_null())
        .select(BillingProfile::as_select())
        .load(c)?;
    let mut out = Vec::new();
    for p in profiles {
        let Some(renewal) = p.renewal_date else { continue };
        if !is_due(renewal, lead, today) {
            continue;
        }
        let done: i64 = rn::table
            .filter(rn::tenant_id.eq(p.tenant_id))
            .filter(rn::renewal_date.eq(renewal))
            .count()
            .get_result(c)?;
        if done == 0 {
            out.push((p, renewal));
        }
    }
    Ok(out)
}

/// Prepares every renewal draft due today in the caller's transaction (the job does one
/// transaction per tenant instead); returns the ids of the drafts created.
pub fn prepare_due(
    c: &mut DbConn,
    base_url: &str,
    today: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    let mut created = Vec::new();
    for (p, renewal) in due(c, today)? {
        created.push(prepare(c, &p, renewal, base_url, now)?);
    }
    Ok(created)
}

/// Prepares one tenant's renewal draft (recorded in `renewals`, so it happens once per
/// renewal date even if the draft is later deleted). Call inside a write transaction.
pub fn prepare(
    c: &mut DbConn,
    p: &BillingProfile,
    renewal: NaiveDate,
    base_url: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let actor = Actor::system("renewals");
    let end = term_end(renewal, &p.schedule);
    let id = invoice::create_bare_draft(c, &actor, p.tenant_id, p, now)?;
    diesel::insert_into(rn::table)
        .values((
            rn::tenant_id.eq(p.tenant_id),
            rn::renewal_date.eq(renewal),
            rn::invoice_id.eq(id),
            rn::prepared_at.eq(now),
        ))
        .execute(c)?;
    diesel::update(inv::table.find(id))
        .set((
            inv::renewal_for.eq(Some(renewal)),
            inv::notes.eq(format!("Renewal for the term {renewal} to {end}.")),
        ))
        .execute(c)?;
    // The lines of the last invoice that was issued (not voided), credits left out.
    let last: Option<Invoice> = inv::table
        .filter(inv::tenant_id.eq(p.tenant_id))
        .filter(inv::status.eq_any(["issued", "paid"]))
        .order((inv::issue_date.desc(), inv::id.desc()))
        .select(Invoice::as_select())
        .first(c)
        .optional()?;
    // Amounts are minor units of the last invoice's currency: copy them only if it is the same.
    if let Some(last) = last.as_ref().filter(|l| l.currency == p.currency) {
        invoice::copy_lines(c, last.id, id)?;
        diesel::delete(
            crate::db::schema::invoice_lines::table
                .filter(crate::db::schema::invoice_lines::invoice_id.eq(id))
                .filter(crate::db::schema::invoice_lines::kind.eq("credit")),
        )
        .execute(c)?;
        diesel::update(inv::table.find(id)).set(inv::tax_rate_bp.eq(last.tax_rate_bp)).execute(c)?;
        invoice::recompute(c, id, now)?;
    }
    // Credits owed to the tenant land on this draft (after the old credits were left out).
    let draft = invoice::find(c, id)?;
    crate::billing::credits::apply_pending(c, &draft, now)?;
    audit::record(
        c,
        &actor,
        Event::new("invoice.renewal_prepared", "invoice", id).tenant(Some(p.tenant_id)).details(
            serde_json::json!({"renewal_date": renewal, "term_end": end, "lines_from": last.as_ref().and_then(|l| l.number.clone())}),
        ),
        now,
    )?;
    let tenant = crate::tenancy::store::find(c, p.tenant_id)?;
    let contacts = super::contacts::verified(c, p.tenant_id)?;
    let procurement: Vec<_> = contacts.iter().filter(|k| k.role == "procurement").cloned().collect();
    let to = if procurement.is_empty() { contacts } else { procurement };
    for k in to {
        let email = Email {
            to: k.email.clone(),
            subject: format!("Your renewal on {renewal}: invoice being prepared"),
            text: format!(
                "Hello {},\n\n{}'s subscription renews on {renewal} for the term {renewal} to {end}. We are preparing the renewal invoice now; it will reach you by email once issued.\n\nIf your purchase order number, billing address or quantities change for the new term, update your billing profile before then: {base_url}/billing (sign-in required), or reply to this email.\n\n— Keel",
                k.name, tenant.name
            ),
            html: None,
            headers: vec![],
            dedupe_key: Some(format!("renewal:{}:{renewal}:{}", p.tenant_id, k.id)),
        };
        notify::queue(c, &email, now)?;
    }
    Ok(id)
}

/// Registers the daily renewal job.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("billing.renewals", |state: AppState, _job| async move {
        let now = now_micros(state.now());
        let today = state.now().date_naive();
        let base = state.config().base_url.clone();
        // One transaction per tenant: one tenant's failure does not hold up the others.
        for (p, renewal) in state.db(move |c| Ok(due(c, today)?)).await? {
            let (b, tenant) = (base.clone(), p.tenant_id);
            let r = state.db(move |c| Ok(write_tx(c, |c| prepare(c, &p, renewal, &b, now))?)).await;
            if let Err(e) = r {
                tracing::error!(tenant, error = %e, "renewal draft could not be prepared");
            }
        }
        state.job_wakeup().notify_waiters();
        Ok(())
    });
    reg.every("billing.renewals", "30 13 * * *", "billing.renewals");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn terms_and_windows() {
        assert_eq!(term_end(d(2027, 7, 1), "annual"), d(2028, 6, 30));
        assert_eq!(term_end(d(2027, 7, 1), "semi_annual"), d(2027, 12, 31));
        assert!(!is_due(d(2027, 7, 1), 60, d(2027, 5, 1)));
        assert!(is_due(d(2027, 7, 1), 60, d(2027, 5, 2)));
        assert!(is_due(d(2027, 7, 1), 60, d(2027, 7, 31)));
        assert!(!is_due(d(2027, 7, 1), 60, d(2027, 8, 1)));
    }
}
