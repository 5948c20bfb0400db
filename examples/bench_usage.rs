//! Usage benchmark, in process (run by `bench/usage.sh`):
//!
//! 1. Ingest: N events (default 1,000,000) for a district of S schools (default 50), over the
//!    last 30 days, parsed from JSON, validated and recorded in batches of 500, one transaction
//!    per batch: the API's path minus HTTP. Reports events per second. Each school has its own
//!    40-119 staff ids (`BENCH_SHARED_USERS=1`: 4,000 ids shared by every school).
//! 2. Rollup: the district admin's `/district/rollups` page (30 days, all schools) requested
//!    through the real app in process, 20 times after a warm-up; reports median and p95 server
//!    time, and the time of the rollup computation alone.
//!
//! Usage: bench_usage DATABASE_URL DATA_DIR [EVENTS] [SCHOOLS]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use actix_web::test;
use diesel::prelude::*;
use keel::auth::model::{NewMembership, NewUser};
use keel::db::{now_micros, write_tx};
use serde_json::json;

/// The staff id for an event at school `s`: each school has its own staff (40 to 119 of them,
/// about 4,000 across 50 schools), unless BENCH_SHARED_USERS=1 gives every school the same
/// 4,000 ids (the first, less realistic, version of this benchmark).
fn user_id(s: usize, r: u64) -> String {
    if std::env::var("BENCH_SHARED_USERS").is_ok_and(|v| v == "1") {
        return format!("u{}", r % 4000);
    }
    let staff = 40 + (s * 37) % 80;
    format!("s{s}-t{}", r as usize % staff)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (url, dir) = (args.get(1).expect("DATABASE_URL"), args.get(2).expect("DATA_DIR"));
    let events: usize = args.get(3).map(|s| s.parse().expect("EVENTS")).unwrap_or(1_000_000);
    let schools: usize = args.get(4).map(|s| s.parse().expect("SCHOOLS")).unwrap_or(50);
    let cfg = keel::config::Config::for_tests(url, std::path::Path::new(dir))?;
    actix_web::rt::System::new().block_on(async move {
        let state = keel::AppState::open_with_clock(cfg, Arc::new(keel::clock::SystemClock))?;
        let now = state.now();
        let at = now_micros(now);
        let mut c = state.pool().get()?;
        // A district, its schools, the metrics and a district admin.
        let (district, slugs) = write_tx(&mut c, |c| {
            let new = |kind: &str, parent: Option<i64>, name: String, slug: String| keel::tenancy::model::NewTenant {
                kind: kind.into(),
                parent_id: parent,
                name,
                slug,
                status: "active".into(),
                region: "us".into(),
                time_zone: "UTC".into(),
                created_at: at,
                updated_at: at,
            };
            let d = keel::tenancy::store::insert(c, &new("district", None, "Bench Unified".into(), "BENCH".into()))?;
            let mut slugs = Vec::new();
            for i in 0..schools {
                let slug = format!("BENCH-S{i:03}");
                keel::tenancy::store::insert(c, &new("school", Some(d), format!("Bench School {i:03}"), slug.clone()))?;
                slugs.push(slug);
            }
            for m in keel::usage::demo::standard_metrics() {
                keel::usage::store::insert_metric(c, &m, at)?;
            }
            let uid = keel::auth::store::insert_user(
                c,
                &NewUser {
                    email: "admin@bench.example".into(),
                    display_name: "Bench Admin".into(),
                    password_hash: Some(keel::auth::password::hash("bench-copper-lantern-92").expect("hash")),
                    platform_role: None,
                    status: "active".into(),
                    password_changed_at: Some(at),
                    created_at: at,
                    updated_at: at,
                },
            )?;
            keel::auth::store::insert_membership(
                c,
                &NewMembership { user_id: uid, tenant_id: d, role: "district_admin".into(), created_at: at },
            )?;
            Ok::<_, diesel::result::Error>((d, slugs))
        })?;
        // 1. Ingest: JSON -> validate -> record, 500 per transaction.
        let cat = keel::usage::ingest::catalog(&mut c)?;
        let mut seed: u64 = 7;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        let metrics = ["assessments", "assessments", "assessments", "active_staff_users", "audio_minutes"];
        let t0 = Instant::now();
        let (mut t_json, mut t_validate, mut t_record) = (0.0, 0.0, 0.0);
        let mut done = 0;
        while done < events {
            let n = 500.min(events - done);
            let body: Vec<serde_json::Value> = (0..n)
                .map(|k| {
                    let i = done + k;
                    let metric = metrics[i % metrics.len()];
                    let s = (rnd() as usize) % slugs.len();
                    let school = &slugs[s];
                    let ago = chrono::Duration::seconds((rnd() % (30 * 86_400)) as i64);
                    let role = if rnd() % 9 == 0 { "specialist" } else { "teacher" };
                    json!({"idempotency_key": format!("e{i}"), "tenant": school, "metric": metric,
                        "timestamp": (now - ago).to_rfc3339(), "value": (rnd() % 12) as f64,
                        "properties": {"user_id": user_id(s, rnd()), "role": role}})
                })
                .collect();
            let tj = Instant::now();
            let text = serde_json::to_vec(&body)?;
            let parsed: serde_json::Value = serde_json::from_slice(&text)?;
            let list = keel::usage::ingest::events_of(&parsed).unwrap_or_default();
            t_json += tj.elapsed().as_secs_f64();
            let tv = Instant::now();
            let valid: Vec<_> =
                list.iter().filter_map(|e| keel::usage::ingest::validate(e, &cat, now).ok()).collect();
            assert_eq!(valid.len(), n, "every generated event is valid");
            t_validate += tv.elapsed().as_secs_f64();
            let tr = Instant::now();
            write_tx(&mut c, |c| keel::usage::ingest::record(c, &valid, at))?;
            t_record += tr.elapsed().as_secs_f64();
            done += n;
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "ingest events={events} schools={schools} seconds={secs:.1} events_per_s={:.0} (json {t_json:.1}s, validate {t_validate:.1}s, record {t_record:.1}s; generating the events takes the rest)",
            events as f64 / secs
        );
        // 2. Rollup: computation alone, then the page through the app.
        let today = now.date_naive();
        let list: Vec<(i64, String)> = {
            use keel::db::schema::tenants as t;
            t::table.filter(t::parent_id.eq(district)).select((t::id, t::name)).load(&mut c)?
        };
        let mut compute = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let r = keel::usage::rollup::compute(&mut c, district, &list, today - chrono::Duration::days(29), today, "", today)?;
            compute.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(r.total.assessments_30 > 0.0);
        }
        drop(c);
        let app = test::init_service(keel::build_app(state.clone())).await;
        let page = test::call_service(&app, test::TestRequest::get().uri("/login").to_request()).await;
        let cookies: Vec<String> = page.response().cookies().map(|k| format!("{}={}", k.name(), k.value())).collect();
        let html = String::from_utf8_lossy(&test::read_body(page).await).into_owned();
        let marker = "name=\"csrf_token\" value=\"";
        let i = html.find(marker).expect("csrf") + marker.len();
        let csrf: String = html[i..].chars().take_while(|c| *c != '"').collect();
        let mut req = test::TestRequest::post().uri("/login").set_form([
            ("email", "admin@bench.example"),
            ("password", "bench-copper-lantern-92"),
            ("csrf_token", csrf.as_str()),
        ]);
        for k in &cookies {
            req = req.insert_header(("cookie", k.clone()));
        }
        let res = test::call_service(&app, req.to_request()).await;
        let session: Vec<String> = res.response().cookies().map(|k| format!("{}={}", k.name(), k.value())).collect();
        let cookie = session.join("; ");
        let uri = format!("/district/rollups?tenant={district}&range=30");
        let mut page_ms = Vec::new();
        for round in 0..23 {
            let t = Instant::now();
            let res =
                test::call_service(&app, test::TestRequest::get().uri(&uri).insert_header(("cookie", cookie.clone())).to_request())
                    .await;
            let status = res.status();
            let body = test::read_body(res).await;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            assert!(status.is_success() && body.len() > 10_000, "rollup page answered {status}");
            if round >= 3 {
                page_ms.push(ms);
            }
        }
        println!(
            "rollup schools={schools} events={events} compute_median_ms={:.1} page_median_ms={:.1} page_p95_ms={:.1}",
            pct(&mut compute, 0.5),
            pct(&mut page_ms.clone(), 0.5),
            pct(&mut page_ms, 0.95)
        );
        anyhow::Ok(())
    })
}
