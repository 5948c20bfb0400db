//! Payment reminders: 7 days before the due date, then 1, 7 and 14 days overdue. A daily job
//! sends the latest stage that has come (older missed stages are skipped) to the tenant's
//! verified billing contacts, once per stage and contact (dedupe keys), and never after the
//! invoice is paid or void.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::invoice::Invoice;
use super::money;
use crate::AppState;
use crate::db::schema::invoices as inv;
use crate::db::{DbConn, now_micros, write_tx};
use crate::notify::{self, Email};

/// Days relative to the due date, in order.
pub const STAGES: [i64; 4] = [-7, 1, 7, 14];

/// The latest stage that has come for an invoice due on `due`, if any.
pub fn stage_for(due: NaiveDate, today: NaiveDate) -> Option<i64> {
    STAGES.iter().rev().copied().find(|s| today >= due + Duration::days(*s))
}

/// Queues the reminders that are due today; returns how many emails were queued.
pub fn send_due(c: &mut DbConn, base_url: &str, today: NaiveDate, now: NaiveDateTime) -> QueryResult<usize> {
    let open: Vec<Invoice> = inv::table
        .filter(inv::status.eq("issued"))
        .filter(inv::disputed_at.is_null())
        .select(Invoice::as_select())
        .load(c)?;
    let mut n = 0;
    for i in open {
        let (Some(due), Some(number)) = (i.due_date, i.number.clone()) else { continue };
        let Some(stage) = stage_for(due, today) else { continue };
        let total = money::currency(&i.currency)
            .map(|cu| money::format_with_code(i.total_minor, cu))
            .unwrap_or_default();
        let (subject, lead) = if stage < 0 {
            (
                format!("Invoice {number} is due on {due}"),
                format!("A reminder that invoice {number} ({total}) is due on {due}."),
            )
        } else {
            let days = (today - due).num_days();
            (
                format!("Invoice {number} is overdue"),
                format!(
                    "Invoice {number} ({total}) was due on {due} and is now {days} day{} overdue.",
                    if days == 1 { "" } else { "s" }
                ),
            )
        };
        for contact in super::contacts::verified(c, i.tenant_id)? {
            let email = Email {
                to: contact.email.clone(),
                subject: subject.clone(),
                text: format!(
                    "Hello {},\n\n{lead}\n\nThe invoice and payment instructions: {base_url}/billing/invoices/{}.pdf (sign-in required), or the PDF we emailed when it was issued.\nIf you have already paid, thank you: please ignore this reminder.\n\n— Keel",
                    contact.name, i.id
                ),
                html: None,
                headers: vec![],
                dedupe_key: Some(format!("invoice-reminder:{}:{stage}:{}", i.id, contact.id)),
            };
            if notify::queue(c, &email, now)?.is_some() {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Registers the daily reminder job.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("billing.reminders", |state: AppState, _job| async move {
        let now = now_micros(state.now());
        let today = state.now().date_naive();
        let base = state.config().base_url.clone();
        state.db(move |c| Ok(write_tx(c, |c| send_due(c, &base, today, now))?)).await?;
        state.job_wakeup().notify_waiters();
        Ok(())
    });
    reg.every("billing.reminders", "0 14 * * *", "billing.reminders");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages() {
        let due = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap_or_default();
        let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
        assert_eq!(stage_for(due, d(12, 2)), None);
        assert_eq!(stage_for(due, d(12, 3)), Some(-7));
        assert_eq!(stage_for(due, d(12, 10)), Some(-7));
        assert_eq!(stage_for(due, d(12, 11)), Some(1));
        assert_eq!(stage_for(due, d(12, 17)), Some(7));
        assert_eq!(stage_for(due, d(12, 30)), Some(14));
    }
}
