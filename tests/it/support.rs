//! SLA and support: requests with their metadata, targets and emails, the queue's breach flags
//! under a moved clock, replies and notes, SLA credit claims from measured uptime landing once on
//! the next draft, and disputes that pause reminders; other tenants always get 404.

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use keel::auth::Role;
use keel::db::schema::{
    account_credits as ac, audit_events as ae, invoice_lines as il, outbound_emails as oe, sla_tiers as tr,
    support_requests as sr,
};
use keel::db::write_tx;

use crate::both_backends;
use crate::harness::TestApp;

fn audited(app: &TestApp, action: &str) -> i64 {
    ae::table.filter(ae::action.eq(action)).count().get_result(&mut *app.conn()).unwrap()
}

fn tier_id(app: &TestApp, key: &str) -> i64 {
    tr::table.filter(tr::key.eq(key)).select(tr::id).first(&mut *app.conn()).unwrap()
}

async fn set_tier(app: &TestApp, tenant: i64, key: &str) {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin
        .post(&format!("/admin/tenants/{tenant}/tier"), &[("tier_id", &tier_id(app, key).to_string())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

async fn login_as(app: &TestApp, email: &str, pw: &str) -> crate::harness::Client {
    let c = app.client().await;
    let r = c.login(email, pw).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    c.refresh_csrf().await;
    c
}

both_backends!(requests_carry_metadata_targets_and_emails, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let d2 = app.tenant("district", None, "Riverside Unified");
    set_tier(&app, d1, "enterprise").await;
    assert_eq!(audited(&app, "tenant.sla_tier"), 1);
    let (staff_email, staff_pw) = app.user(Role::Staff, Some(s1));
    let staff = login_as(&app, &staff_email, &staff_pw).await;
    // The page says the target in plain words; the school inherits the district's tier.
    let page = staff.get("/support").await;
    assert!(page.body.contains("Enterprise support"), "{}", page.body);
    assert!(
        page.body
            .contains("We reply to P2 requests within 4 business hours, Mon–Fri 8:00–18:00 America/Chicago")
    );
    staff.get("/billing").await;
    let form = staff.get("/support/new").await;
    assert!(form.body.contains("Keel attaches this for you") && form.body.contains("Lincoln High School"));
    let t = s1.to_string();
    // Bad input: messages beside the fields, nothing saved.
    let r = staff
        .post_multipart(
            "/support/new",
            &[
                ("tenant_id", &t),
                ("severity", "P2"),
                ("subject", "Recording fails"),
                ("description", "too short"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Choose what the problem is about.") && r.body.contains("at least 20 characters")
    );
    assert!(r.body.contains("value=\"Recording fails\""), "input kept");
    let fields = [
        ("tenant_id", t.as_str()),
        ("category", "recording"),
        ("severity", "P2"),
        ("subject", "Teachers at Lincoln High can't start recordings"),
        ("description", "Since 8:40 every teacher gets 'microphone unavailable' when starting a recording."),
        ("from", "/billing"),
        ("time_zone", "America/Chicago"),
    ];
    let r =
        staff.post_multipart("/support/new", &fields, Some(("attachment", "run.exe", b"MZ\x90\x00"))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Attach a screenshot (PNG, JPEG, GIF or WebP) or a PDF."));
    let n: i64 = sr::table.count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 0, "nothing saved");
    let png = [&[0x89u8, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..], &[0u8; 64]].concat();
    let r =
        staff.post_multipart("/support/new", &fields, Some(("attachment", "screen shot.png", &png))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let shown = staff.get(&r.location()).await;
    assert!(shown.body.contains("SR-"), "{}", shown.body);
    let req: (i64, String, Option<chrono::NaiveDateTime>, String, Option<String>) = sr::table
        .select((sr::id, sr::metadata, sr::response_due_at, sr::status, sr::attachment_name))
        .first(&mut *app.conn())
        .unwrap();
    // t0 is Monday 2026-03-02 15:00 UTC = 09:00 in Chicago: 4 business hours later is 13:00 CST.
    assert_eq!(req.2.map(|d| d.format("%Y-%m-%d %H:%M").to_string()), Some("2026-03-02 19:00".into()));
    assert!(shown.body.contains("Mon Mar 2, 1:00 PM CST"), "{}", shown.body);
    assert_eq!(req.3, "new");
    assert_eq!(req.4.as_deref(), Some("screen shot.png"));
    let meta: serde_json::Value = serde_json::from_str(&req.1).unwrap();
    assert_eq!(meta["tenant_id"], serde_json::json!(s1));
    assert!(meta["user_id"].as_i64().unwrap() > 0);
    assert_eq!(meta["page"], "/billing");
    assert_eq!(meta["time_zone"], "America/Chicago");
    assert_eq!(meta["app_version"], keel::VERSION);
    assert!(!meta["user_agent"].as_str().unwrap().is_empty());
    let recent = meta["recent_requests"].as_array().unwrap();
    assert!(recent.iter().any(|r| r["path"] == "/billing"), "{recent:?}");
    assert_eq!(audited(&app, "support.request_create"), 1);
    let mails: Vec<(String, String)> =
        oe::table.select((oe::to_addr, oe::subject)).order(oe::id).load(&mut *app.conn()).unwrap();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails[0].1.contains("P2 Enterprise from Lincoln High School"), "{mails:?}");
    assert!(mails[1].1.starts_with("We received your request SR-"));
    // The attachment is scope-checked.
    assert_eq!(staff.get(&format!("/support/requests/{}/attachment", req.0)).await.status, StatusCode::OK);
    let other = app.signed_in(Role::DistrictAdmin, Some(d2)).await;
    for path in [format!("/support/requests/{}", req.0), format!("/support/requests/{}/attachment", req.0)] {
        assert_eq!(other.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r =
        other.post(&format!("/support/requests/{}/reply", req.0), &[("body", "Hello from elsewhere")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A colleague at the same school sees only their own; the district admin sees all.
    let colleague = app.signed_in(Role::Staff, Some(s1)).await;
    assert_eq!(colleague.get(&format!("/support/requests/{}", req.0)).await.status, StatusCode::NOT_FOUND);
    assert!(colleague.get("/support/requests").await.body.contains("No support requests yet"));
    let dadmin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    assert!(dadmin.get("/support/requests").await.body.contains("can&#39;t start recordings"));
    // An auditor reads the district's requests but cannot write on them.
    let auditor = app.signed_in(Role::Auditor, Some(d1)).await;
    let seen = auditor.get(&format!("/support/requests/{}", req.0)).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains("Send message"));
    let r = auditor
        .post(&format!("/support/requests/{}/reply", req.0), &[("body", "Auditors can't write here.")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(dadmin.get(&format!("/support/requests/{}", req.0)).await.status, StatusCode::OK);

    // The queue: sorted by due time, near and past breach highlighted (moved clock).
    let agent = app.signed_in(Role::SupportAgent, None).await;
    let q = agent.get("/admin/support").await;
    assert!(q.body.contains("On track") && !q.body.contains("row-alarm"), "{}", q.body);
    // (Sessions end after 30 idle minutes: sign in again after moving the clock.)
    app.clock.advance(Duration::minutes(3 * 60 + 10));
    let agent = app.signed_in(Role::SupportAgent, None).await;
    assert!(agent.get("/admin/support").await.body.contains("row-near"), "under a quarter left");
    app.clock.advance(Duration::hours(1));
    let agent = app.signed_in(Role::SupportAgent, None).await;
    let q = agent.get("/admin/support?breached=1").await;
    assert!(q.body.contains("row-alarm") && q.body.contains("Breached"), "{}", q.body);
    assert!(q.body.contains("past a target"));
    // The agent sees the metadata, adds a note (internal) and replies (emailed, shown to the requester).
    let d = agent.get(&format!("/admin/support/requests/{}", req.0)).await;
    assert!(d.body.contains("America/Chicago") && d.body.contains("/billing"), "{}", d.body);
    let r = agent
        .post(
            &format!("/admin/support/requests/{}/message", req.0),
            &[("kind", "note"), ("body", "Looks like the Chrome 131 permission change.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = agent
        .post(
            &format!("/admin/support/requests/{}/message", req.0),
            &[
                ("kind", "reply"),
                ("body", "We found it: allow the microphone again in Chrome settings."),
                ("then", "waiting_on_customer"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (status, first): (String, Option<chrono::NaiveDateTime>) =
        sr::table.find(req.0).select((sr::status, sr::first_response_at)).first(&mut *app.conn()).unwrap();
    assert_eq!(status, "waiting_on_customer");
    assert!(first.is_some());
    let staff = login_as(&app, &staff_email, &staff_pw).await;
    let mine = staff.get(&format!("/support/requests/{}", req.0)).await;
    assert!(mine.body.contains("allow the microphone again") && !mine.body.contains("Chrome 131 permission"));
    assert!(mine.body.contains("Waiting on you"));
    let mails: Vec<String> = oe::table.select(oe::subject).load(&mut *app.conn()).unwrap();
    assert!(mails.iter().any(|s| s.starts_with("Re: [SR-")), "{mails:?}");
    // The requester answers: open again. The report counts the first response as missed (late).
    staff
        .post(
            &format!("/support/requests/{}/reply", req.0),
            &[("body", "That fixed it for two rooms, not the rest.")],
        )
        .await;
    let status: String = sr::table.find(req.0).select(sr::status).first(&mut *app.conn()).unwrap();
    assert_eq!(status, "open");
    let report = agent.get("/admin/support/report").await;
    assert!(report.body.contains("Enterprise"), "{}", report.body);
    assert_eq!(audited(&app, "support.reply"), 1);
    assert_eq!(audited(&app, "support.note"), 1);
    // Tenants can't reach the queue.
    let dadmin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    assert_eq!(dadmin.get(&format!("/admin/support/requests/{}", req.0)).await.status, StatusCode::NOT_FOUND);
});

both_backends!(a_tier_change_and_holidays_move_due_times, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    set_tier(&app, d1, "standard").await;
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let std = tier_id(&app, "standard");
    // Bad holiday lines: each with its line number, nothing imported.
    let r = admin
        .post(
            &format!("/admin/support/tiers/{std}/holidays"),
            &[("holidays", "2026-03-02 Test day\nnot a date")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Line 2"), "{}", r.body);
    let r = admin
        .post(
            &format!("/admin/support/tiers/{std}/holidays"),
            &[("holidays", "2026-03-02, Founders Day\n2026-03-03 Snow day")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let boss = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    let r = boss
        .post_multipart(
            "/support/new",
            &[
                ("tenant_id", &d1.to_string()),
                ("category", "reporting"),
                ("severity", "P1"),
                ("subject", "Reports are empty"),
                ("description", "Every district report shows zero assessments since this morning."),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Standard P1 = 4 business hours; Monday and Tuesday are holidays: Wednesday 8:00-12:00 CST.
    let due: Option<chrono::NaiveDateTime> =
        sr::table.select(sr::response_due_at).first(&mut *app.conn()).unwrap();
    assert_eq!(due.map(|d| d.format("%Y-%m-%d %H:%M").to_string()), Some("2026-03-04 18:00".into()));
    // Editing a tier: bad input is kept with messages; a good save is audited.
    let r = admin
        .post(
            &format!("/admin/support/tiers/{std}"),
            &[
                ("name", "Standard"),
                ("time_zone", "Mars/Olympus"),
                ("working_days", "Mon-Fri"),
                ("opens", "18:00"),
                ("closes", "08:00"),
                ("resp_P1", "four"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for msg in
        ["Enter an IANA time zone", "Closing time must be after opening time", "P1: enter whole numbers"]
    {
        assert!(r.body.contains(msg), "{msg}");
    }
    assert!(r.body.contains("Mars/Olympus"), "input kept");
    let r = admin
        .post(
            &format!("/admin/support/tiers/{std}"),
            &[
                ("name", "Standard"),
                ("time_zone", "America/New_York"),
                ("working_days", "Mon-Fri"),
                ("opens", "09:00"),
                ("closes", "17:00"),
                ("resp_P1", "2"),
                ("resp_unit_P1", "business_hours"),
                ("uptime_commitment", "99.5"),
                ("credit_schedule", "99.5 10\n99 25"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(audited(&app, "sla_tier.update"), 1);
    let page = admin.get(&format!("/admin/support/tiers/{std}")).await;
    assert!(
        page.body
            .contains("We reply to P1 requests within 2 business hours, Mon–Fri 9:00–17:00 America/New_York"),
        "{}",
        page.body
    );
    assert!(page.body.contains("P2: best effort"));
    // Support agents read tiers but cannot change them.
    let agent = app.signed_in(Role::SupportAgent, None).await;
    assert_eq!(agent.get(&format!("/admin/support/tiers/{std}")).await.status, StatusCode::OK);
    assert_eq!(
        agent.post(&format!("/admin/support/tiers/{std}"), &[("name", "X")]).await.status,
        StatusCode::NOT_FOUND
    );
});

/// A monthly plan of 100 seats at $10 = $1,000 a month for `tenant`.
fn plan_for(app: &TestApp, tenant: i64) {
    let now = keel::db::now_micros(app.state.now());
    let actor = keel::audit::Actor::system("test");
    write_tx(&mut app.conn(), |c| {
        let (id, _) = keel::usage::plans::save_version(
            c,
            &actor,
            &keel::usage::plans::NewPlan {
                key: "standard".into(),
                name: "Standard".into(),
                currency: "USD".into(),
                seat_price: "10".into(),
                period: "month".into(),
                features: String::new(),
                metrics: vec![],
            },
            now,
        )?;
        keel::usage::plans::assign(c, &actor, tenant, id, 100, now)?;
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
}

both_backends!(credit_claims_use_measured_uptime_and_land_once, |app| {
    use keel::db::schema::invoices as inv;
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    set_tier(&app, d1, "enterprise").await;
    plan_for(&app, d1);
    crate::billing::profile_for(&app, d1);
    // Status history: one component, a 12-hour major outage in February 2026 (672 hours):
    // uptime 1 - 12/672 = 98.214%: below 99.0 -> 25% credit.
    let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    {
        let mut c = app.conn();
        write_tx(&mut c, |c| {
            let comp = keel::status::store::insert_component(
                c,
                &keel::status::model::NewComponent {
                    public_id: "webapp000001".into(),
                    name: "Web app".into(),
                    description: String::new(),
                    group_id: None,
                    is_group: false,
                    position: 0,
                    showcase: true,
                    only_show_if_degraded: false,
                    start_date: Some(t("2026-01-01 00:00")),
                    status: "operational".into(),
                    created_at: t("2026-01-01 00:00"),
                    updated_at: t("2026-01-01 00:00"),
                },
            )?;
            keel::status::store::insert_interval(
                c,
                comp,
                "operational",
                t("2026-01-01 00:00"),
                Some(t("2026-02-10 08:00")),
                "manual",
                None,
            )?;
            keel::status::store::insert_interval(
                c,
                comp,
                "major_outage",
                t("2026-02-10 08:00"),
                Some(t("2026-02-10 20:00")),
                "manual",
                None,
            )?;
            keel::status::store::insert_interval(
                c,
                comp,
                "operational",
                t("2026-02-10 20:00"),
                None,
                "manual",
                None,
            )?;
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap();
    }
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    let page = buyer.get("/support/sla-credits?month=2026-02").await;
    assert!(page.body.contains("98.214") && page.body.contains("25%"), "{}", page.body);
    assert!(page.body.contains("$250.00"), "25% of $1,000");
    let dt = d1.to_string();
    let claim = |month: &'static str, description: &'static str| {
        let (buyer, dt) = (&buyer, dt.clone());
        async move {
            buyer
                .post(
                    "/support/sla-credits",
                    &[
                        ("tenant_id", &dt),
                        ("month", month),
                        ("description", description),
                        ("affected_dates", "2026-02-10"),
                    ],
                )
                .await
        }
    };
    // Bad input: a short description, the current month, a month outside the window.
    let r = claim("2026-02", "down").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("at least 20 characters"));
    let r = claim("2026-03", "Teachers could not record for most of the day.").await;
    assert!(r.body.contains("has not ended yet"), "{}", r.body);
    let r = claim("2025-12", "Teachers could not record for most of the day.").await;
    assert!(r.body.contains("within 30 days after the month ends"), "{}", r.body);
    let r = claim("2026-02", "Teachers could not record for most of the day.").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = claim("2026-02", "Teachers could not record for most of the day.").await;
    assert!(r.body.contains("There is already a claim for 2026-02"), "second claim refused");
    assert_eq!(audited(&app, "sla_credit.claim"), 1);
    let claim_id: i64 = keel::db::schema::sla_credit_claims::table
        .select(keel::db::schema::sla_credit_claims::id)
        .first(&mut *app.conn())
        .unwrap();
    // A linked school is covered by its district's claim: no second claim through it.
    let school = app.tenant("school", Some(d1), "Roper Elementary");
    let r = buyer
        .post(
            "/support/sla-credits",
            &[
                ("tenant_id", &school.to_string()),
                ("month", "2026-02"),
                ("description", "Teachers could not record for most of the day."),
                ("affected_dates", "2026-02-10"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Another district can't see or claim it.
    let other = app.signed_in(Role::DistrictAdmin, Some(d2)).await;
    assert_eq!(other.get(&format!("/support/sla-credits?tenant={d1}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other
            .post(
                "/support/sla-credits",
                &[
                    ("tenant_id", &dt),
                    ("month", "2026-02"),
                    ("description", "x".repeat(30).as_str()),
                    ("affected_dates", "x")
                ]
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Approve an adjusted amount: a reason is required; the credit waits for the next draft.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin
        .post(&format!("/admin/sla-credits/{claim_id}/approve"), &[("amount", "240.00"), ("reason", "")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .post(
            &format!("/admin/sla-credits/{claim_id}/approve"),
            &[("amount", "240.00"), ("reason", "12 h outage on Feb 10; pro-rated.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let pending: Option<chrono::NaiveDateTime> =
        ac::table.select(ac::applied_at).first(&mut *app.conn()).unwrap();
    assert!(pending.is_none(), "no draft yet: waiting");
    // The next draft gets it, once; a second draft does not.
    let r = admin.post("/admin/invoices", &[("tenant_id", &dt)]).await;
    let first = r.location();
    let r2 = admin.post("/admin/invoices", &[("tenant_id", &dt)]).await;
    let second = r2.location();
    let id_of = |p: &str| p.rsplit('/').next().unwrap().parse::<i64>().unwrap();
    let lines = |id: i64| -> Vec<(String, i64)> {
        il::table
            .filter(il::invoice_id.eq(id))
            .filter(il::kind.eq("credit"))
            .select((il::kind, il::amount_minor))
            .load(&mut *app.conn())
            .unwrap()
    };
    assert_eq!(lines(id_of(&first)), vec![("credit".to_string(), -24000)]);
    assert!(lines(id_of(&second)).is_empty());
    let sub: i64 =
        inv::table.find(id_of(&first)).select(inv::subtotal_minor).first(&mut *app.conn()).unwrap();
    let amounts: Vec<i64> = il::table
        .filter(il::invoice_id.eq(id_of(&first)))
        .select(il::amount_minor)
        .load(&mut *app.conn())
        .unwrap();
    assert_eq!(sub, amounts.iter().sum::<i64>(), "totals include the credit");
    // Deleting that draft frees the credit for the next one.
    admin.post(&format!("{first}/delete"), &[]).await;
    let r3 = admin.post("/admin/invoices", &[("tenant_id", &dt)]).await;
    assert_eq!(lines(id_of(&r3.location())), vec![("credit".to_string(), -24000)]);
    assert!(lines(id_of(&second)).is_empty());
    let n: i64 = ac::table.count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 1);
    // Issued, then voided with a corrected draft: the credit moves to the correction, once.
    let third = r3.location();
    assert_eq!(admin.post(&format!("{third}/issue"), &[]).await.status, StatusCode::SEE_OTHER);
    let r = admin.post(&format!("{third}/void"), &[("reason", "Wrong seat count"), ("correct", "1")]).await;
    let corrected = r.location();
    assert_ne!(corrected, third, "{}", r.body);
    assert_eq!(lines(id_of(&corrected)), vec![("credit".to_string(), -24000)]);
    let on: Option<i64> = ac::table.select(ac::invoice_id).first(&mut *app.conn()).unwrap();
    assert_eq!(on, Some(id_of(&corrected)));
    assert_eq!(audited(&app, "sla_credit.approve"), 1);
    let mails: Vec<String> = oe::table.select(oe::subject).load(&mut *app.conn()).unwrap();
    assert!(mails.iter().any(|s| s == "Your SLA credit for 2026-02 was approved"), "{mails:?}");
    let page = buyer.get("/support/sla-credits?month=2026-02").await;
    assert!(page.body.contains("$240.00") && page.body.contains("Approved"));
});

both_backends!(disputes_pause_reminders_and_resolve, |app| {
    use keel::db::schema::invoices as inv;
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    crate::billing::profile_for(&app, d1);
    let now = keel::db::now_micros(app.state.now());
    diesel::insert_into(keel::db::schema::billing_contacts::table)
        .values((
            keel::db::schema::billing_contacts::tenant_id.eq(d1),
            keel::db::schema::billing_contacts::name.eq("AP"),
            keel::db::schema::billing_contacts::email.eq("ap@lincoln.example"),
            keel::db::schema::billing_contacts::role.eq("accounts_payable"),
            keel::db::schema::billing_contacts::verified_at.eq(Some(now)),
            keel::db::schema::billing_contacts::created_at.eq(now),
        ))
        .execute(&mut *app.conn())
        .unwrap();
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let path = admin.post("/admin/invoices", &[("tenant_id", &d1.to_string())]).await.location();
    admin
        .post(
            &format!("{path}/lines"),
            &[("description", "Licences"), ("kind", "license"), ("quantity", "10"), ("unit_price", "38.80")],
        )
        .await;
    admin.post(&format!("{path}/issue"), &[]).await;
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    assert!(
        buyer.get("/billing/invoices").await.body.contains(&format!("/support/disputes/new?invoice={id}"))
    );
    // Staff and other districts can't dispute it.
    let other = app.signed_in(Role::Procurement, Some(d2)).await;
    assert_eq!(other.get(&format!("/support/disputes/new?invoice={id}")).await.status, StatusCode::NOT_FOUND);
    let r = buyer
        .post_multipart(
            "/support/disputes/new",
            &[("invoice_id", &id.to_string()), ("category", "amount"), ("description", "short")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("at least 20 characters"));
    let r = buyer
        .post_multipart(
            "/support/disputes/new",
            &[
                ("invoice_id", &id.to_string()),
                ("category", "amount"),
                ("description", "Our PO covers 8 licences, the invoice bills 10."),
            ],
            Some(("document", "po.pdf", b"%PDF-1.4 test")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(buyer.get("/billing/invoices").await.body.contains("Disputed"));
    let dispute: i64 = keel::db::schema::invoice_disputes::table
        .select(keel::db::schema::invoice_disputes::id)
        .first(&mut *app.conn())
        .unwrap();
    assert_eq!(
        other.get(&format!("/support/disputes/{dispute}/document")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(buyer.get(&format!("/support/disputes/{dispute}/document")).await.status, StatusCode::OK);
    assert!(!other.get("/support/disputes").await.body.contains("Our PO covers"));
    // While disputed it is neither marked paid nor voided from the invoice page.
    let r = admin.post(&format!("{path}/paid"), &[("method", "check"), ("reference", "1042")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let status: String = inv::table.find(id).select(inv::status).first(&mut *app.conn()).unwrap();
    assert_eq!(status, "issued");
    // A second dispute of the same invoice is refused.
    let r = buyer
        .post_multipart(
            "/support/disputes/new",
            &[
                ("invoice_id", &id.to_string()),
                ("category", "duplicate"),
                ("description", "Billed twice for the same licences, see PO."),
            ],
            None,
        )
        .await;
    assert!(r.body.contains("already has an open dispute"), "{}", r.body);
    // Reminders pause while it is open.
    let reminders = || async {
        keel::jobs::store::enqueue(
            &mut app.conn(),
            &keel::jobs::NewJob::new("billing.reminders", serde_json::json!({})),
            keel::db::now_micros(app.state.now()),
        )
        .unwrap();
        app.run_jobs().await;
        app.sent_mail()
            .iter()
            .filter(|m| m.subject.contains("is due on") || m.subject.contains("overdue"))
            .count()
    };
    app.clock.advance(Duration::days(23));
    assert_eq!(reminders().await, 0, "paused while disputed");
    // Rejected: reminders resume; the buyer reads the reason.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin
        .post(
            &format!("/admin/disputes/{dispute}/resolve"),
            &[("decision", "reject"), ("reason", "The PO amendment of Feb 3 covers 10 licences.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let disputed: Option<chrono::NaiveDateTime> =
        inv::table.find(id).select(inv::disputed_at).first(&mut *app.conn()).unwrap();
    assert!(disputed.is_none());
    assert_eq!(reminders().await, 1, "reminders resume");
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    assert!(buyer.get("/support/disputes").await.body.contains("PO amendment of Feb 3"));
    // A second dispute, accepted by voiding with a corrected draft.
    buyer
        .post_multipart(
            "/support/disputes/new",
            &[
                ("invoice_id", &id.to_string()),
                ("category", "po_mismatch"),
                ("description", "The PO number on the invoice is last year's PO."),
            ],
            None,
        )
        .await;
    let second: i64 = keel::db::schema::invoice_disputes::table
        .filter(keel::db::schema::invoice_disputes::status.eq("open"))
        .select(keel::db::schema::invoice_disputes::id)
        .first(&mut *app.conn())
        .unwrap();
    let r = admin
        .post(
            &format!("/admin/disputes/{second}/resolve"),
            &[("decision", "void"), ("correct", "1"), ("reason", "Wrong PO printed.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let status: String = inv::table.find(id).select(inv::status).first(&mut *app.conn()).unwrap();
    assert_eq!(status, "void");
    assert_eq!(audited(&app, "dispute.accept"), 1);
    assert_eq!(audited(&app, "dispute.reject"), 1);
    assert_eq!(audited(&app, "dispute.open"), 2);
});

both_backends!(suspended_districts_can_still_reach_support, |app| {
    let d2 = app.tenant("district", None, "Riverside Unified");
    let s3 = app.tenant("school", Some(d2), "Arlington High");
    let (email, pw) = app.user(Role::Staff, Some(s3));
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin.post(&format!("/admin/tenants/{d2}/status"), &[("status", "suspended")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // A wrong password earns nothing; the right one is refused with a link to support.
    let c = app.client().await;
    let r = c.login(&email, "not the password").await;
    assert!(!r.body.contains("/support/suspended?pass="));
    let r = c.login(&email, &pw).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("suspended"), "{}", r.body);
    let i = r.body.find("/support/suspended?pass=").expect("a support link");
    let link: String = r.body[i..].split('"').next().unwrap().to_string();
    let page = c.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Access for Arlington High is suspended"), "{}", page.body);
    let token = crate::harness::csrf_from(&page.body);
    let pass = link.trim_start_matches("/support/suspended?pass=").to_string();
    let post = |fields: Vec<(&'static str, String)>| {
        let c = &c;
        async move {
            c.send(actix_web::test::TestRequest::post().uri("/support/suspended").set_form(fields)).await
        }
    };
    // Without the page's token: refused.
    let r = post(vec![("pass", pass.clone()), ("csrf_token", "0".repeat(64)), ("category", "login".into())])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(vec![
        ("pass", pass.clone()),
        ("csrf_token", token.clone()),
        ("category", "login".into()),
        ("severity", "P2".into()),
        ("subject", "Access".into()),
        ("description", "short".into()),
    ])
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("at least 20 characters"));
    let r = post(vec![
        ("pass", pass.clone()),
        ("csrf_token", token.clone()),
        ("category", "billing".into()),
        ("severity", "P2".into()),
        ("subject", "Our access was suspended".into()),
        ("description", "We paid the overdue invoice last week (check 4471); please restore access.".into()),
    ])
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("was sent"), "{}", r.body);
    let (tenant, requester): (i64, i64) =
        sr::table.select((sr::tenant_id, sr::requester_id)).first(&mut *app.conn()).unwrap();
    assert_eq!(tenant, s3);
    assert!(requester > 0);
    // A forged or altered pass gets nothing.
    let forged = format!("{}.{}", requester + 1, pass.split_once('.').unwrap().1);
    let page = c.get(&format!("/support/suspended?pass={forged}")).await;
    assert!(page.body.contains("expired or is not valid"));
    let r = post(vec![
        ("pass", forged),
        ("csrf_token", token.clone()),
        ("category", "billing".into()),
        ("severity", "P2".into()),
        ("subject", "x".into()),
        ("description", "x".repeat(40)),
    ])
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let n: i64 = sr::table.count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 1);
});
