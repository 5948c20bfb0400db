//! Issue + render + store benchmark: creates one district with a complete billing profile and
//! a verified billing contact, prepares N drafts of 3 lines each, then issues them one after
//! another through the same call the admin page uses (`invoice::issue_now`: numbering, PDF
//! render, store by SHA-256 in the local object store, freeze, outbox email, audit; one
//! transaction each) and reports the time per invoice. Run by `bench/invoices.sh`.
//!
//! Usage: bench_invoices DATABASE_URL DATA_DIR [COUNT]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use diesel::prelude::*;
use keel::billing::invoice::{self, NewLine};
use keel::db::{now_micros, write_tx};
use rust_decimal::Decimal;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (url, dir) = (args.get(1).expect("DATABASE_URL"), args.get(2).expect("DATA_DIR"));
    let count: usize = args.get(3).map(|s| s.parse().expect("COUNT")).unwrap_or(1000);
    let mut cfg = keel::config::Config::for_tests(url, std::path::Path::new(dir))?;
    cfg.object_store = keel::config::ObjectStoreConfig::Local(std::path::Path::new(dir).join("files"));
    actix_web::rt::System::new().block_on(async move {
        let state = keel::AppState::open_with_clock(cfg, Arc::new(keel::clock::SystemClock))?;
        let now = now_micros(state.now());
        let tid = state
            .db(move |c| {
                let t = keel::tenancy::store::insert(
                    c,
                    &keel::tenancy::model::NewTenant {
                        kind: "district".into(),
                        parent_id: None,
                        name: "Bench Unified School District".into(),
                        slug: "BENCH".into(),
                        status: "active".into(),
                        region: "us".into(),
                        time_zone: "America/Chicago".into(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                let mut p = keel::billing::model::BillingProfile::empty(t, "USD", 30, now);
                p.po_number = Some("PO-BENCH-0001".into());
                p.address_line1 = "Accounts Payable, 100 Main Street".into();
                p.city = "Springfield".into();
                p.region = "IL".into();
                p.postal_code = "62701".into();
                keel::db::write_tx(c, |c| keel::billing::store::save_profile(c, &p))?;
                use keel::db::schema::billing_contacts as bc;
                diesel::insert_into(bc::table)
                    .values((
                        bc::tenant_id.eq(t),
                        bc::name.eq("Accounts Payable"),
                        bc::email.eq("ap@bench.example"),
                        bc::role.eq("accounts_payable"),
                        bc::verified_at.eq(Some(now)),
                        bc::created_at.eq(now),
                    ))
                    .execute(c)?;
                Ok(t)
            })
            .await?;
        let usd = keel::billing::money::currency("USD").unwrap();
        let actor = keel::audit::Actor::system("bench");
        let a = actor.clone();
        let ids = state
            .db(move |c| {
                let profile = keel::billing::store::profile(c, tid)?.unwrap();
                let mut ids = Vec::with_capacity(count);
                for k in 0..count {
                    let id = write_tx(c, |c| {
                        let id = invoice::create_draft(c, &a, tid, &profile, now)?;
                        for (d, kind, q, p) in [
                            ("Assessment platform licences", "license", Decimal::from(1000 + k as i64), Decimal::new(3880, 2)),
                            ("Audio minutes add-on", "add_on", Decimal::from(50_000), Decimal::new(12, 3)),
                            ("Onboarding workshop", "service", Decimal::from(1), Decimal::new(75000, 2)),
                        ] {
                            let i = invoice::find(c, id)?;
                            let l = NewLine { description: d.into(), kind: kind.into(), quantity: q, unit_price: p };
                            invoice::add_line(c, &i, &l, usd, now)?;
                        }
                        Ok::<_, diesel::result::Error>(id)
                    })?;
                    ids.push(id);
                }
                Ok(ids)
            })
            .await?;
        let today = state.now().date_naive();
        let mut times = Vec::with_capacity(count);
        let all = Instant::now();
        for id in ids {
            let t = Instant::now();
            invoice::issue_now(&state, actor.clone(), id, today).await?.map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let wall = all.elapsed().as_secs_f64();
        times.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
        let numbers: Vec<String> = state
            .db(move |c| {
                use keel::db::schema::invoices as inv;
                Ok(inv::table
                    .filter(inv::tenant_id.eq(tid))
                    .filter(inv::number.is_not_null())
                    .select(inv::number.assume_not_null())
                    .order(inv::number)
                    .load(c)?)
            })
            .await?;
        let gapless = numbers.iter().enumerate().all(|(k, n)| n.ends_with(&format!("-{:04}", k + 1)));
        println!(
            "invoices={count} median_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} total_s={wall:.2} per_s={:.1} numbers_gapless={gapless}",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(1.0),
            count as f64 / wall
        );
        anyhow::Ok(())
    })
}
