//! Billing groundwork: gapless per-tenant yearly invoice numbers under concurrency.

use keel::billing::numbering::{format_number, next_number};
use keel::db::write_tx;

use crate::both_backends;

both_backends!(fifty_concurrent_issues_number_gaplessly, |app| {
    let lincoln = app.tenant("district", None, "Lincoln Public Schools");
    let riverside = app.tenant("district", None, "Riverside Unified");
    // A second instance on the same database competes too.
    let cfg = keel::config::Config::for_tests(&app.db.url, app.db.dir.path()).unwrap();
    let other =
        keel::AppState::open_with(cfg, std::sync::Arc::new(app.clock.clone()), keel::job_registry()).unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = if i % 2 == 0 { app.state.clone() } else { other.clone() };
            async move { s.db(move |c| Ok(write_tx(c, |c| next_number(c, lincoln, 2026))?)).await.unwrap() }
        })
        .collect();
    let mut got = futures_util::future::join_all(tasks).await;
    got.sort_unstable();
    assert_eq!(got, (1..=50).collect::<Vec<i64>>(), "exactly 0001..0050, no duplicate, no gap");
    // A failed issue (rolled back) consumes no number.
    let failed: Result<i64, diesel::result::Error> = write_tx(&mut app.conn(), |c| {
        next_number(c, lincoln, 2026)?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(failed.is_err());
    assert_eq!(write_tx(&mut app.conn(), |c| next_number(c, lincoln, 2026)).unwrap(), 51);
    // A new year restarts; another tenant's sequence is independent.
    assert_eq!(write_tx(&mut app.conn(), |c| next_number(c, lincoln, 2027)).unwrap(), 1);
    assert_eq!(write_tx(&mut app.conn(), |c| next_number(c, riverside, 2026)).unwrap(), 1);
    assert_eq!(format_number("LINCOLN", 2026, 51), "LINCOLN-2026-0051");
});

use actix_web::http::StatusCode;
use keel::auth::Role;

both_backends!(profiles_are_scoped_validated_and_audited, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    let page = buyer.get("/billing").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Before an invoice can be issued, add"));
    // Bad input: message beside each field, input kept, nothing saved.
    let long = "P".repeat(65);
    let t1 = d1.to_string();
    let r = buyer
        .post(
            "/billing",
            &[
                ("tenant_id", &t1),
                ("mode", "invoice_po"),
                ("po_number", &long),
                ("po_amount", "12,400.005"),
                ("currency", "XXX"),
                ("terms_days", "-3"),
                ("po_expires", "next week"),
                ("city", "Lincoln"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for msg in [
        "at most 64 characters",
        "Choose a currency from the list.",
        "Payment terms must be between 0 and 180.",
        "Enter a date like 2026-06-30.",
    ] {
        assert!(r.body.contains(msg), "missing: {msg}");
    }
    assert!(r.body.contains("value=\"Lincoln\""), "input kept");
    assert!(keel::billing::store::profile(&mut app.conn(), d1).unwrap().is_none(), "nothing saved");
    let r = buyer
        .post(
            "/billing",
            &[
                ("tenant_id", &t1),
                ("mode", "invoice_po"),
                ("po_number", "PO-2026-0412"),
                ("po_amount", "12,400.00"),
                ("currency", "USD"),
                ("terms_days", "30"),
                ("address_line1", "5905 O Street"),
                ("city", "Lincoln"),
                ("region", "NE"),
                ("postal_code", "68510"),
                ("country", "us"),
                ("schedule", "annual"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let p = keel::billing::store::profile(&mut app.conn(), d1).unwrap().unwrap();
    assert_eq!(
        (p.po_number.as_deref(), p.po_amount_minor, p.country.as_str()),
        (Some("PO-2026-0412"), Some(1_240_000), "US")
    );
    assert!(p.missing_for_invoicing().is_empty());
    // Audited with before and after.
    use diesel::prelude::*;
    use keel::db::schema::audit_events as ae;
    let details: String = ae::table
        .filter(ae::action.eq("billing.profile_update"))
        .select(ae::details)
        .first(&mut *app.conn())
        .unwrap();
    assert!(details.contains("\"po_number\":{\"after\":\"PO-2026-0412\",\"before\":null}"), "{details}");
    // Another district's profile is not found; auditors read but cannot save.
    let t2 = d2.to_string();
    assert_eq!(buyer.get(&format!("/billing?tenant={d2}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        buyer.post("/billing", &[("tenant_id", &t2), ("mode", "card"), ("currency", "USD")]).await.status,
        StatusCode::NOT_FOUND
    );
    let auditor = app.signed_in(Role::Auditor, Some(d1)).await;
    let page = auditor.get("/billing").await;
    assert!(page.body.contains("PO-2026-0412") && page.body.contains("You can read these details"));
    assert_eq!(
        auditor.post("/billing", &[("tenant_id", &t1), ("mode", "card"), ("currency", "USD")]).await.status,
        StatusCode::NOT_FOUND
    );
    // Staff edit any tenant's profile from the tenant page.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    assert!(admin.get(&format!("/admin/tenants/{d1}/billing")).await.body.contains("PO-2026-0412"));
    let r = admin
        .post(
            "/admin/billing/settings",
            &[
                ("legal_name", ""),
                ("address", "x"),
                ("remit_to", "y"),
                ("default_currency", "USD"),
                ("default_terms_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter the legal name."));
});

pub fn profile_for(app: &crate::harness::TestApp, tenant: i64) {
    let now = keel::db::now_micros(app.state.now());
    let mut p = keel::billing::model::BillingProfile::empty(tenant, "USD", 30, now);
    p.po_number = Some("PO-2026-0412".into());
    p.address_line1 = "Accounts Payable, 5905 O Street".into();
    p.city = "Lincoln".into();
    p.region = "NE".into();
    p.postal_code = "68510".into();
    write_tx(&mut app.conn(), |c| keel::billing::store::save_profile(c, &p)).unwrap();
}

both_backends!(issuing_numbers_renders_and_freezes_once, |app| {
    use keel::billing::invoice;
    use rust_decimal::Decimal;
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let slug = keel::tenancy::store::find(&mut app.conn(), d1).unwrap().slug;
    let now = keel::db::now_micros(app.state.now());
    let actor = keel::audit::Actor::system("test");
    let usd = keel::billing::money::currency("USD").unwrap();
    // No profile yet: refused with what is missing, no number consumed.
    let (a2, p0) = (actor.clone(), keel::billing::model::BillingProfile::empty(d1, "USD", 30, now));
    let id = write_tx(&mut app.conn(), |c| invoice::create_draft(c, &a2, d1, &p0, now)).unwrap();
    let r = invoice::issue_now(&app.state, actor.clone(), id, now.date()).await.unwrap();
    let msg = r.err().unwrap().to_string();
    assert!(msg.contains("at least one line") && msg.contains("billing profile"), "{msg}");
    profile_for(&app, d1);
    write_tx(&mut app.conn(), |c| {
        let i = invoice::find(c, id)?;
        let l = line(
            "Assessment platform licences, 2026-27",
            "license",
            Decimal::from(1250),
            Decimal::new(3880, 2),
        );
        invoice::add_line(c, &i, &l, usd, now)?;
        let i = invoice::find(c, id)?;
        let l = line("Onboarding workshop", "service", Decimal::from(1), Decimal::new(15000, 2));
        invoice::add_line(c, &i, &l, usd, now)
    })
    .unwrap();
    let issued = invoice::issue_now(&app.state, actor.clone(), id, now.date()).await.unwrap().unwrap();
    let year = now.date().format("%Y").to_string();
    assert_eq!(issued.number.as_deref(), Some(format!("{slug}-{year}-0001").as_str()));
    assert_eq!(issued.status, "issued");
    assert_eq!(issued.total_minor, 1250 * 3880 + 15000);
    // Frozen: a second issue is refused.
    assert!(matches!(
        invoice::issue_now(&app.state, actor.clone(), id, now.date()).await.unwrap(),
        Err(invoice::IssueError::NotDraft)
    ));
    // The stored PDF matches its hash and reads back with pdftotext.
    let hash = issued.pdf_sha256.clone().unwrap();
    let bytes = app.state.files().get(&hash).await.unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    if let Ok(keep) = std::env::var("KEEL_TEST_KEEP_PDF") {
        std::fs::write(keep, &bytes).unwrap();
    }
    if std::process::Command::new("pdftotext").arg("-v").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.pdf");
        std::fs::write(&path, &bytes).unwrap();
        let out =
            std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for needle in [
            issued.number.clone().unwrap(),
            "PO-2026-0412".into(),
            "USD 48,650.00".into(),
            "5905 O Street".into(),
            "Lincoln, NE 68510".into(),
        ] {
            assert!(text.contains(&needle), "PDF lacks {needle}:\n{text}");
        }
    }
    // A failed render consumes no number.
    let (a3, p1) = (actor.clone(), keel::billing::store::profile(&mut app.conn(), d1).unwrap().unwrap());
    let id2 = write_tx(&mut app.conn(), |c| {
        let id = invoice::create_draft(c, &a3, d1, &p1, now)?;
        let i = invoice::find(c, id)?;
        invoice::add_line(c, &i, &line("Add-on", "add_on", Decimal::from(1), Decimal::from(10)), usd, now)?;
        Ok::<_, diesel::result::Error>(id)
    })
    .unwrap();
    let failing = write_tx(&mut app.conn(), |c| {
        invoice::issue(c, &actor, id2, now.date(), now, &|_d| Err("printer on fire".into()), &|_b| {
            Ok("x".into())
        })
    });
    assert!(matches!(failing, Err(invoice::IssueError::Pdf(_))));
    assert_eq!(invoice::find(&mut app.conn(), id2).unwrap().status, "draft");
    let ok = invoice::issue_now(&app.state, actor.clone(), id2, now.date()).await.unwrap().unwrap();
    assert_eq!(ok.number.as_deref(), Some(format!("{slug}-{year}-0002").as_str()), "gapless after a failure");
    // Paid and unpaid again, audited.
    write_tx(&mut app.conn(), |c| {
        invoice::mark_paid(c, &actor, &ok, "ach", "TRACE 0412", now)?;
        let paid = invoice::find(c, id2)?;
        invoice::mark_unpaid(c, &actor, &paid, "Payment bounced", now)
    })
    .unwrap();
    assert_eq!(invoice::find(&mut app.conn(), id2).unwrap().status, "issued");
    use diesel::prelude::*;
    use keel::db::schema::audit_events as ae;
    let actions: Vec<String> = ae::table.select(ae::action).load(&mut *app.conn()).unwrap();
    for a in ["invoice.issue", "invoice.mark_paid", "invoice.mark_unpaid"] {
        assert!(actions.contains(&a.to_string()), "{a} audited");
    }
});

pub fn line(
    d: &str,
    k: &str,
    q: rust_decimal::Decimal,
    p: rust_decimal::Decimal,
) -> keel::billing::invoice::NewLine {
    keel::billing::invoice::NewLine { description: d.into(), kind: k.into(), quantity: q, unit_price: p }
}

both_backends!(invoice_pages_issue_pay_and_scope_downloads, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    profile_for(&app, d1);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin.post("/admin/invoices", &[("tenant_id", &d1.to_string())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let path = r.location();
    // Issuing an empty draft lists what is missing.
    let r = admin.post(&format!("{path}/issue"), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Add at least one line."));
    let r = admin
        .post(
            &format!("{path}/lines"),
            &[("description", "Licences"), ("kind", "license"), ("quantity", "-2"), ("unit_price", "abc")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("The quantity must be more than zero.")
            && r.body.contains("Enter a unit price in USD")
    );
    let r = admin
        .post(
            &format!("{path}/lines"),
            &[
                ("description", "Assessment licences 2026-27"),
                ("kind", "license"),
                ("quantity", "1,250"),
                ("unit_price", "$38.80"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    assert!(
        buyer.get("/billing/invoices").await.body.contains("No invoices here"),
        "drafts are not shown to tenants"
    );
    let r = admin.post(&format!("{path}/issue"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let page = buyer.get("/billing/invoices").await;
    assert!(
        page.body.contains("LINCOLN-PUBLIC-SCHOOLS") && page.body.contains("$48,500.00"),
        "{}",
        page.body
    );
    let pdf = buyer.get(&format!("/billing/invoices/{id}.pdf")).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.header("content-type").as_deref(), Some("application/pdf"));
    assert!(pdf.header("content-disposition").unwrap().starts_with("attachment"));
    let again = buyer.get(&format!("/billing/invoices/{id}.pdf")).await;
    assert_eq!(pdf.body, again.body, "byte-identical every time");
    // Another district's officer: not found.
    let other = app.signed_in(Role::Procurement, Some(d2)).await;
    assert_eq!(other.get(&format!("/billing/invoices/{id}.pdf")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get(&format!("/billing/invoices?tenant={d1}")).await.status, StatusCode::NOT_FOUND);
    // Paid, seen by the tenant.
    let r = admin.post(&format!("{path}/paid"), &[("method", "ach"), ("reference", "TRACE 0412")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(buyer.get("/billing/invoices").await.body.contains(">Paid<"));
    let r = admin.post(&format!("{path}/unpaid"), &[("reason", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(buyer.get("/billing/invoices").await.body.contains(">Paid<"), "no reason, no change");
});

both_backends!(contacts_verify_before_invoices_are_emailed_with_the_pdf, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    profile_for(&app, d1);
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    let t1 = d1.to_string();
    let r = buyer
        .post(
            "/billing/contacts",
            &[
                ("tenant_id", &t1),
                ("contact_name", ""),
                ("contact_email", "nope"),
                ("role", "accounts_payable"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter the contact&#39;s name.") || r.body.contains("Enter the contact's name."));
    let r = buyer
        .post(
            "/billing/contacts",
            &[
                ("tenant_id", &t1),
                ("contact_name", "Accounts Payable"),
                ("contact_email", "ap@lincoln.k12.example"),
                ("role", "accounts_payable"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        buyer
            .post(
                "/billing/contacts",
                &[
                    ("tenant_id", &d2.to_string()),
                    ("contact_name", "X"),
                    ("contact_email", "x@y.example"),
                    ("role", "other")
                ]
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Issue an invoice while the contact is unverified: nothing is sent to it.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let issue_one = || async {
        let r = admin.post("/admin/invoices", &[("tenant_id", &t1)]).await;
        let path = r.location();
        admin
            .post(
                &format!("{path}/lines"),
                &[
                    ("description", "Licences"),
                    ("kind", "license"),
                    ("quantity", "10"),
                    ("unit_price", "38.80"),
                ],
            )
            .await;
        let r = admin.post(&format!("{path}/issue"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    };
    issue_one().await;
    app.run_jobs().await;
    assert!(
        app.sent_mail().iter().all(|m| !m.subject.starts_with("Invoice ")),
        "unverified contacts get no invoice"
    );
    // The contact confirms from the link in the email.
    let (rows, _) = keel::notify::store::list(&mut app.conn(), None, 0, 100).unwrap();
    let e = rows.iter().find(|e| e.subject.starts_with("Confirm your address")).unwrap();
    let i = e.text_body.find("/billing/contacts/verify/").unwrap();
    let link: String = e.text_body[i..].split_whitespace().next().unwrap().to_string();
    let v = app.client().await;
    let page = v.get(&link).await;
    assert!(page.body.contains("ap@lincoln.k12.example"));
    let token = crate::harness::csrf_from(&page.body);
    let r = v
        .send(actix_web::test::TestRequest::post().uri(&link).set_form([("csrf_token", token.as_str())]))
        .await;
    assert!(r.body.contains("Address confirmed"));
    assert_eq!(v.get("/billing/contacts/verify/1-deadbeef").await.status, StatusCode::NOT_FOUND);
    issue_one().await;
    app.run_jobs().await;
    let mails: Vec<_> = app.sent_mail().into_iter().filter(|m| m.subject.starts_with("Invoice ")).collect();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "ap@lincoln.k12.example");
    assert!(mails[0].attachment_bytes.unwrap_or(0) > 1000, "the PDF is attached");
});

both_backends!(reminders_go_once_per_stage_and_stop_when_paid, |app| {
    use chrono::Duration;
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    profile_for(&app, d1);
    let now = keel::db::now_micros(app.state.now());
    {
        use diesel::prelude::*;
        use keel::db::schema::billing_contacts as bc;
        diesel::insert_into(bc::table)
            .values((
                bc::tenant_id.eq(d1),
                bc::name.eq("AP"),
                bc::email.eq("ap@lincoln.example"),
                bc::role.eq("accounts_payable"),
                bc::verified_at.eq(Some(now)),
                bc::created_at.eq(now),
            ))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin.post("/admin/invoices", &[("tenant_id", &d1.to_string())]).await;
    let path = r.location();
    admin
        .post(
            &format!("{path}/lines"),
            &[("description", "Licences"), ("kind", "license"), ("quantity", "10"), ("unit_price", "38.80")],
        )
        .await;
    admin.post(&format!("{path}/issue"), &[]).await;
    let run = || async {
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
    assert_eq!(run().await, 0, "nothing yet: due in 30 days");
    app.clock.advance(Duration::days(23));
    assert_eq!(run().await, 1, "7 days before");
    assert_eq!(run().await, 1, "once per stage");
    app.clock.advance(Duration::days(8));
    assert_eq!(run().await, 2, "+1 day overdue");
    // Paid: no more reminders.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    admin.post(&format!("{path}/paid"), &[("method", "check"), ("reference", "1042")]).await;
    app.clock.advance(Duration::days(10));
    assert_eq!(run().await, 2, "none after payment");
});
