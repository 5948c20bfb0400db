//! Demo data for support: tiers on both districts (with the year's holidays), requests in every
//! state (one past its target, one due within minutes, one answered and waiting on the school,
//! one resolved), an approved SLA credit on Lincoln's draft invoice and an open invoice dispute.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::requests::{self, Mailing, NewRequest};
use crate::AppState;
use crate::audit::Actor;
use crate::db::schema::{
    invoice_disputes as d, invoices as inv, sla_credit_claims as cc, sla_holidays as sh, sla_tiers as tr,
    tenants, users,
};
use crate::db::{DbConn, now_micros, write_tx};

/// US holidays the vendor's support observes.
const HOLIDAYS: &str = "2026-11-26, Thanksgiving Day
2026-11-27, Day after Thanksgiving
2026-12-24, Christmas Eve
2026-12-25, Christmas Day
2027-01-01, New Year's Day
2027-01-18, Martin Luther King Jr. Day
2027-02-15, Presidents' Day
2027-05-31, Memorial Day
2027-06-18, Juneteenth (observed)
2027-07-05, Independence Day (observed)
2027-09-06, Labor Day";

fn id_of(c: &mut DbConn, slug: &str) -> QueryResult<i64> {
    tenants::table.filter(tenants::slug.eq(slug)).select(tenants::id).first(c)
}

fn user(c: &mut DbConn, email: &str) -> QueryResult<i64> {
    users::table.filter(users::email.eq(email)).select(users::id).first(c)
}

/// Seeds it all (after the demo's invoices exist).
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let mail = Mailing {
        base_url: state.config().base_url.clone(),
        fallback_routing: state.config().mail_from.clone(),
    };
    let mut conn = state.pool().get()?;
    write_tx(&mut conn, |c| seed_tiers(c, now))?;
    write_tx(&mut conn, |c| seed_requests(c, &mail, now))?;
    drop(conn);
    seed_credit(state).await?;
    seed_dispute(state)?;
    Ok(())
}

fn seed_tiers(c: &mut DbConn, now: DateTime<Utc>) -> QueryResult<()> {
    let at = now_micros(now);
    let actor = Actor::system("keel demo seed");
    diesel::update(tr::table.filter(tr::key.eq("enterprise")))
        .set((
            tr::support_email.eq("support@keel-vendor.example"),
            tr::support_phone.eq("+1 402 555 0142"),
            tr::routing_email.eq("enterprise-queue@keel-vendor.example"),
        ))
        .execute(c)?;
    diesel::update(tr::table.filter(tr::key.eq("standard")))
        .set(tr::support_email.eq("support@keel-vendor.example"))
        .execute(c)?;
    let holidays = super::calendar::parse_holidays(HOLIDAYS).unwrap_or_default();
    for key in ["standard", "enterprise"] {
        let tier: i64 = tr::table.filter(tr::key.eq(key)).select(tr::id).first(c)?;
        for (day, name) in &holidays {
            diesel::insert_into(sh::table)
                .values((sh::tier_id.eq(tier), sh::day.eq(day), sh::name.eq(name)))
                .execute(c)?;
        }
    }
    for (slug, key) in [("LINCOLN", "enterprise"), ("RIVERSIDE", "standard")] {
        let t = id_of(c, slug)?;
        let tier: i64 = tr::table.filter(tr::key.eq(key)).select(tr::id).first(c)?;
        diesel::update(tenants::table.find(t)).set(tenants::sla_tier_id.eq(Some(tier))).execute(c)?;
        crate::audit::record(
            c,
            &actor,
            crate::audit::Event::new("tenant.sla_tier", "tenant", t)
                .tenant(Some(t))
                .details(json!({"before": null, "after": key})),
            at,
        )?;
    }
    Ok(())
}

/// (requester email, school slug, category, severity, subject, description, filed how long ago)
type Spec = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, Duration);

fn seed_requests(c: &mut DbConn, mail: &Mailing, now: DateTime<Utc>) -> QueryResult<()> {
    let agent = user(c, "sam.okafor@keel-vendor.example")?;
    let agent_actor = Actor {
        user_id: Some(agent),
        label: "sam.okafor@keel-vendor.example".into(),
        request_id: String::new(),
        ip: String::new(),
    };
    let specs: [Spec; 6] = [
        (
            "elena.novak@lincoln.k12.example",
            "LINCOLN-HS",
            "recording",
            "P2",
            "Recordings stop after 30 seconds in room 214",
            "Since Monday, fluency recordings in room 214 stop after about 30 seconds with 'upload interrupted'. Other rooms are fine. It happens on all 28 Chromebooks in that room.",
            Duration::days(3),
        ),
        (
            "maria.lopez@lincoln.k12.example",
            "LINCOLN",
            "login",
            "P1",
            "No teacher can sign in with Clever this morning",
            "Every teacher in the district gets 'SSO configuration error' when signing in through Clever. Students are waiting to start the winter benchmark.",
            Duration::minutes(48),
        ),
        (
            "jordan.kim@lincoln.k12.example",
            "LINCOLN-HS",
            "reporting",
            "P3",
            "Grade 9 benchmark report is missing two classes",
            "The fall benchmark report for grade 9 lists 11 of our 13 English classes. Ms. Alvarez's periods 2 and 5 are missing although the students were assessed.",
            Duration::days(1) + Duration::hours(2),
        ),
        (
            "priya.raman@lincoln.k12.example",
            "LINCOLN",
            "billing",
            "P4",
            "W-9 for our vendor file",
            "Our accounts payable office needs a current W-9 for the vendor file before we can pay the next invoice. Could you send one?",
            Duration::hours(5),
        ),
        (
            "grace.park@riverside.k12.example",
            "RIVERSIDE",
            "other",
            "P4",
            "Can we rename a school?",
            "Washington Middle School becomes Washington STEM Academy in January. How do we change the name everyone sees in reports?",
            Duration::days(9),
        ),
        (
            "elena.novak@lincoln.k12.example",
            "LINCOLN-HS",
            "recording",
            "P3",
            "Headset microphone too quiet",
            "With the new USB headsets the recordings are very quiet and the scoring marks many words as missed.",
            Duration::days(16),
        ),
    ];
    for (i, (email, slug, category, severity, subject, description, ago)) in specs.iter().enumerate() {
        let requester = user(c, email)?;
        let tenant = id_of(c, slug)?;
        let tenant_name: String = tenants::table.find(tenant).select(tenants::name).first(c)?;
        let filed = now - *ago;
        let actor = Actor {
            user_id: Some(requester),
            label: email.to_string(),
            request_id: String::new(),
            ip: String::new(),
        };
        let (r, _) = requests::create(
            c,
            &actor,
            &NewRequest {
                tenant_id: tenant,
                requester_id: requester,
                category: category.to_string(),
                severity: severity.to_string(),
                subject: subject.to_string(),
                description: description.to_string(),
                metadata: json!({
                    "tenant_id": tenant, "tenant": tenant_name, "user_id": requester, "user_email": email,
                    "user_agent": "Mozilla/5.0 (X11; CrOS x86_64 15917.71.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                    "page": if *category == "reporting" { "/district/rollups" } else { "/usage" },
                    "app_version": crate::VERSION, "time_zone": if slug.starts_with("RIVERSIDE") { "America/Los_Angeles" } else { "America/Chicago" },
                    "request_id": format!("0193{:028x}", 0x5eed_0000 + i),
                    "recent_requests": [
                        {"id": format!("0193{:028x}", 0x5eed_1000 + i), "method": "GET", "path": "/usage", "status": 200, "at": (filed - Duration::minutes(3)).format("%Y-%m-%dT%H:%M:%SZ").to_string()},
                        {"id": format!("0193{:028x}", 0x5eed_2000 + i), "method": "GET", "path": "/support/new", "status": 200, "at": (filed - Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string()},
                    ],
                }),
                attachment: None,
            },
            mail,
            filed,
        )?;
        let at = |d: Duration| now_micros(filed + d);
        match i {
            1 => requests::assign(c, &agent_actor, &r, Some(agent), at(Duration::minutes(5)))?,
            2 => {
                requests::assign(c, &agent_actor, &r, Some(agent), at(Duration::minutes(20)))?;
                let r = requests::find(c, r.id)?;
                requests::add_message(
                    c,
                    &agent_actor,
                    &r,
                    "note",
                    "Both classes were rostered after the report snapshot on Oct 2. A rebuild should pick them up.",
                    &mail.base_url,
                    at(Duration::minutes(40)),
                )?;
                let r = requests::find(c, r.id)?;
                requests::add_message(
                    c,
                    &agent_actor,
                    &r,
                    "reply",
                    "Thanks Jordan. The two classes were added to the roster after the report was built. I rebuilt the grade 9 report; could you check that periods 2 and 5 now appear?",
                    &mail.base_url,
                    at(Duration::hours(2)),
                )?;
                let r = requests::find(c, r.id)?;
                requests::set_status(
                    c,
                    &agent_actor,
                    &r,
                    "waiting_on_customer",
                    &mail.base_url,
                    at(Duration::hours(2)),
                )?;
            }
            4 | 5 => {
                let r = requests::find(c, r.id)?;
                let answer = if i == 4 {
                    "A platform admin renames the school on our side; send us the new name and the date and it changes everywhere, reports included. Done for January 4."
                } else {
                    "Set the headset as the default input in ChromeOS and raise its input level to 80%. We also pushed a fix that normalises quiet recordings before scoring."
                };
                requests::add_message(
                    c,
                    &agent_actor,
                    &r,
                    "reply",
                    answer,
                    &mail.base_url,
                    at(Duration::hours(3)),
                )?;
                let r = requests::find(c, r.id)?;
                requests::set_status(c, &agent_actor, &r, "resolved", &mail.base_url, at(Duration::days(1)))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// An approved SLA credit for last month on Lincoln's draft invoice.
async fn seed_credit(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let month = super::credits::recent_months(now).first().cloned().unwrap_or_default();
    let since =
        crate::status::statement::month_window(&month).map(|w| w.from).unwrap_or(now) - Duration::days(1);
    let snap = {
        let mut c = state.pool().get()?;
        crate::status::snapshot::build_with_history(&mut c, now, since.naive_utc())?
    };
    let mut c = state.pool().get()?;
    let lincoln = id_of(&mut c, "LINCOLN")?;
    let claimant = user(&mut c, "priya.raman@lincoln.k12.example")?;
    let admin = user(&mut c, "avery.chen@keel-vendor.example")?;
    let a = super::credits::assess(&mut c, &snap, lincoln, &month, now)?;
    let at = now_micros(now - Duration::days(2));
    let decided = now_micros(now - Duration::days(1));
    let (fee, currency) =
        a.fee.as_ref().map(|(f, c, _)| (Some(*f), c.clone())).unwrap_or((None, "USD".into()));
    // When the month met the commitment the vendor still grants a goodwill credit for the
    // incident the district felt (a tenth of the month's fee).
    let amount = if a.amount_minor > 0 { a.amount_minor } else { fee.unwrap_or(0) / 10 };
    let reason = if a.amount_minor > 0 {
        format!(
            "Measured uptime {}% against the {}% commitment: {}% of the month's fee.",
            a.uptime_text,
            a.commitment.unwrap_or_default(),
            a.percent
        )
    } else {
        format!(
            "Measured uptime {}% met the commitment; a goodwill credit for the audio upload incident.",
            a.uptime_text
        )
    };
    write_tx(&mut c, |c| {
        let id: i64 = diesel::insert_into(cc::table)
            .values((
                cc::tenant_id.eq(lincoln),
                cc::month.eq(&month),
                cc::claimant_id.eq(claimant),
                cc::description.eq("Audio uploads failed for about 12% of recordings during the incident; three schools had to reschedule benchmark sessions."),
                cc::affected_dates.eq(format!("{month} (see the incident history)")),
                cc::measured_uptime.eq(&a.uptime_text),
                cc::commitment.eq(a.commitment.map(|v| v.to_string()).unwrap_or_default()),
                cc::credit_percent.eq(a.percent as i32),
                cc::currency.eq(&currency),
                cc::fee_minor.eq(fee),
                cc::computed_minor.eq(a.amount_minor),
                cc::status.eq("approved"),
                cc::approved_minor.eq(Some(amount)),
                cc::decision_reason.eq(&reason),
                cc::decided_by.eq(Some(admin)),
                cc::decided_at.eq(Some(decided)),
                cc::created_at.eq(at),
                cc::updated_at.eq(decided),
            ))
            .returning(cc::id)
            .get_result(c)?;
        let description = format!(
            "SLA credit for {month} (measured uptime {}, commitment {}%)",
            a.uptime_text,
            a.commitment.unwrap_or_default()
        );
        crate::billing::credits::grant(
            c,
            lincoln,
            "sla_claim",
            id,
            &description,
            amount,
            &currency,
            None,
            decided,
        )?;
        crate::audit::record(
            c,
            &Actor {
                user_id: Some(admin),
                label: "avery.chen@keel-vendor.example".into(),
                request_id: String::new(),
                ip: String::new(),
            },
            crate::audit::Event::new("sla_credit.approve", "sla_credit_claim", id)
                .tenant(Some(lincoln))
                .details(json!({"month": month, "approved_minor": amount, "reason": reason})),
            decided,
        )?;
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}

/// Lincoln disputes the price on its newest invoice.
fn seed_dispute(state: &AppState) -> anyhow::Result<()> {
    let now = now_micros(state.now());
    let mut c = state.pool().get()?;
    let lincoln = id_of(&mut c, "LINCOLN")?;
    let buyer = user(&mut c, "priya.raman@lincoln.k12.example")?;
    let today: NaiveDate = state.now().date_naive();
    let newest: Option<i64> = inv::table
        .filter(inv::tenant_id.eq(lincoln))
        .filter(inv::status.eq("issued"))
        .filter(inv::due_date.ge(today))
        .order(inv::id.desc())
        .select(inv::id)
        .first(&mut c)
        .optional()?;
    let Some(invoice) = newest else { return Ok(()) };
    write_tx(&mut c, |c| {
        diesel::update(inv::table.find(invoice)).set(inv::disputed_at.eq(Some(now))).execute(c)?;
        let id: i64 = diesel::insert_into(d::table)
            .values((
                d::tenant_id.eq(lincoln),
                d::invoice_id.eq(invoice),
                d::opened_by.eq(buyer),
                d::category.eq("amount"),
                d::description.eq("The invoice bills the 85 Saltillo Elementary licences at $38.80; our amended PO prices them at the district rate of $36.50."),
                d::status.eq("open"),
                d::created_at.eq(now),
                d::updated_at.eq(now),
            ))
            .returning(d::id)
            .get_result(c)?;
        crate::audit::record(
            c,
            &Actor {
                user_id: Some(buyer),
                label: "priya.raman@lincoln.k12.example".into(),
                request_id: String::new(),
                ip: String::new(),
            },
            crate::audit::Event::new("dispute.open", "invoice_dispute", id)
                .tenant(Some(lincoln))
                .details(json!({"invoice_id": invoice, "category": "amount"})),
            now,
        )?;
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}
