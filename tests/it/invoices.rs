//! Invoices after issuing: PO documents, draft details, void and correction, list filters,
//! totals and CSV, paying from the list, renewal drafts.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use keel::auth::Role;
use keel::db::schema::{audit_events as ae, invoices as inv};

use crate::billing::profile_for;
use crate::both_backends;
use crate::harness::{Client, TestApp};

/// Creates a draft for `tenant` with one line of `qty` licences at 38.80 and returns its path.
async fn draft(admin: &Client, tenant: i64, qty: &str) -> String {
    let r = admin.post("/admin/invoices", &[("tenant_id", &tenant.to_string())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let path = r.location();
    let r = admin
        .post(
            &format!("{path}/lines"),
            &[("description", "Licences"), ("kind", "license"), ("quantity", qty), ("unit_price", "38.80")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    path
}

/// Issues a draft and returns its id.
async fn issue(admin: &Client, path: &str) -> i64 {
    let r = admin.post(&format!("{path}/issue"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    path.rsplit('/').next().unwrap().parse().unwrap()
}

fn audited(app: &TestApp, action: &str) -> i64 {
    ae::table.filter(ae::action.eq(action)).count().get_result(&mut *app.conn()).unwrap()
}

fn pdf_text(bytes: &[u8]) -> Option<String> {
    std::process::Command::new("pdftotext").arg("-v").output().ok()?;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

both_backends!(po_documents_are_checked_scoped_and_linked, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    profile_for(&app, d1);
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    let t1 = d1.to_string();
    let fields = [("tenant_id", t1.as_str()), ("upload_po_number", "PO-2026-0412")];
    // Not a PDF, too large, no file, PO number too long: a message beside the field, nothing saved.
    let r = buyer
        .post_multipart("/billing/po-documents", &fields, Some(("file", "po.pdf", b"PK\x03\x04zip")))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("That file is not a PDF."), "{}", r.body);
    assert!(r.body.contains("value=\"PO-2026-0412\""), "input kept");
    let big = [PDF, &vec![b' '; 10 * 1024 * 1024]].concat();
    let r = buyer.post_multipart("/billing/po-documents", &fields, Some(("file", "po.pdf", &big))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("the limit is 10 MB"), "{}", r.body);
    let r = buyer.post_multipart("/billing/po-documents", &fields, None).await;
    assert!(r.body.contains("Choose the signed PO (a PDF) to upload."));
    let long = "P".repeat(65);
    let r = buyer
        .post_multipart(
            "/billing/po-documents",
            &[("tenant_id", t1.as_str()), ("upload_po_number", long.as_str())],
            Some(("file", "po.pdf", PDF)),
        )
        .await;
    assert!(r.body.contains("A PO number has at most 64 characters."));
    assert_eq!(audited(&app, "billing.po_document_upload"), 0, "nothing saved");
    // Without the CSRF token: refused.
    let r = buyer
        .post_multipart(
            "/billing/po-documents",
            &[("tenant_id", t1.as_str()), ("upload_po_number", "PO-1"), ("csrf_token", "forged")],
            Some(("file", "po.pdf", PDF)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Another district's officer cannot upload here.
    let other = app.signed_in(Role::Procurement, Some(d2)).await;
    let r = other.post_multipart("/billing/po-documents", &fields, Some(("file", "po.pdf", PDF))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A good upload, with a hostile file name.
    let r = buyer
        .post_multipart("/billing/po-documents", &fields, Some(("file", "../../Signed PO;<script>.pdf", PDF)))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = buyer.get(&format!("/billing?tenant={d1}")).await;
    assert!(
        page.body.contains("Signed PO__script_.pdf") && page.body.contains("Current PO"),
        "{}",
        page.body
    );
    let id: i64 = {
        let i = page.body.find("/billing/po-documents/").unwrap() + "/billing/po-documents/".len();
        page.body[i..].split('.').next().unwrap().parse().unwrap()
    };
    let dl = buyer.get(&format!("/billing/po-documents/{id}.pdf")).await;
    assert_eq!(dl.status, StatusCode::OK);
    assert_eq!(dl.body.as_bytes(), PDF, "stored bytes come back unchanged");
    assert_eq!(
        dl.header("content-disposition").as_deref(),
        Some("attachment; filename=\"Signed PO__script_.pdf\"")
    );
    assert_eq!(dl.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(other.get(&format!("/billing/po-documents/{id}.pdf")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get("/billing/po-documents/999999.pdf").await.status, StatusCode::NOT_FOUND);
    assert_eq!(audited(&app, "billing.po_document_upload"), 1);
    // An invoice citing the PO links the document, for the tenant and for staff.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let path = draft(&admin, d1, "10").await;
    issue(&admin, &path).await;
    let link = format!("/billing/po-documents/{id}.pdf");
    assert!(buyer.get("/billing/invoices").await.body.contains(&link));
    assert!(admin.get(&path).await.body.contains(&link));
    assert!(admin.get("/admin/invoices").await.body.contains(&link));
    // Auditors read, but cannot upload.
    let auditor = app.signed_in(Role::Auditor, Some(d1)).await;
    assert_eq!(auditor.get(&link).await.status, StatusCode::OK);
    let r = auditor.post_multipart("/billing/po-documents", &fields, Some(("file", "po.pdf", PDF))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
});

both_backends!(drafts_take_details_and_void_keeps_numbers, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    profile_for(&app, d1);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let path = draft(&admin, d1, "100").await;
    // Bad details: messages beside the fields, the draft unchanged.
    let r = admin
        .post(
            &format!("{path}/details"),
            &[
                ("po_number", &"P".repeat(65)),
                ("tax_rate", "45"),
                ("issue_date", "2026-12-10"),
                ("due_date", "2026-12-01"),
                ("notes", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for m in [
        "at most 64 characters",
        "between 0 and 30 percent",
        "The due date can&#39;t be before the issue date.",
    ] {
        assert!(r.body.contains(m) || r.body.contains(&m.replace("&#39;", "'")), "missing {m}");
    }
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(keel::billing::invoice::find(&mut app.conn(), id).unwrap().tax_rate_bp, 0);
    // Good details: tax and dates carry into the issued invoice.
    let today = app.state.now().date_naive();
    let due = today + chrono::Duration::days(45);
    let r = admin
        .post(
            &format!("{path}/details"),
            &[
                ("po_number", "PO-OVERRIDE-1"),
                ("tax_rate", "8.25"),
                ("issue_date", ""),
                ("due_date", &due.to_string()),
                ("notes", "Service term 2026-27."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    issue(&admin, &path).await;
    let i = keel::billing::invoice::find(&mut app.conn(), id).unwrap();
    assert_eq!((i.tax_rate_bp, i.tax_minor, i.total_minor), (825, 32_010, 388_000 + 32_010));
    assert_eq!((i.due_date, i.po_number.as_deref()), (Some(due), Some("PO-OVERRIDE-1")));
    assert_eq!(i.issue_date, Some(today));
    // Issued: details can no longer change.
    let r = admin.post(&format!("{path}/details"), &[("notes", "sneaky")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(keel::billing::invoice::find(&mut app.conn(), id).unwrap().notes, "Service term 2026-27.");
    // Void needs a reason; then a corrected draft with the same lines.
    let r = admin.post(&format!("{path}/void"), &[("reason", ""), ("correct", "1")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(keel::billing::invoice::find(&mut app.conn(), id).unwrap().status, "issued");
    let r = admin.post(&format!("{path}/void"), &[("reason", "Wrong seat count"), ("correct", "1")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let corrected = r.location();
    assert_ne!(corrected, path);
    let voided = keel::billing::invoice::find(&mut app.conn(), id).unwrap();
    assert_eq!((voided.status.as_str(), voided.void_reason.as_deref()), ("void", Some("Wrong seat count")));
    let (orig, stamped) = (voided.pdf_sha256.clone().unwrap(), voided.void_pdf_sha256.clone().unwrap());
    assert_ne!(orig, stamped);
    assert!(app.state.files().get(&orig).await.is_ok(), "the issued PDF stays stored, unchanged");
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    let dl = buyer.get(&format!("/billing/invoices/{id}.pdf")).await;
    assert_eq!(dl.status, StatusCode::OK);
    if let Some(text) = pdf_text(&app.state.files().get(&stamped).await.unwrap()) {
        assert!(text.contains("VOID") && text.contains("Wrong seat count"), "{text}");
        assert!(text.contains(&voided.number.clone().unwrap()));
    }
    assert!(buyer.get("/billing/invoices").await.body.contains("Void"));
    let page = admin.get(&corrected).await;
    assert!(page.body.contains("This invoice corrects") && page.body.contains("$3,880.00"), "{}", page.body);
    let new_id = issue(&admin, &corrected).await;
    let n = keel::billing::invoice::find(&mut app.conn(), new_id).unwrap();
    assert!(n.number.unwrap().ends_with("-0002"), "the voided number is never reused");
    assert_eq!(n.replaces_id, Some(id));
    assert_eq!(audited(&app, "invoice.void"), 1);
    // A paid invoice can't be voided; a draft can be deleted, an issued one can't.
    admin.post(&format!("/admin/invoices/{new_id}/paid"), &[("method", "check"), ("reference", "1")]).await;
    admin.post(&format!("/admin/invoices/{new_id}/void"), &[("reason", "x")]).await;
    assert_eq!(keel::billing::invoice::find(&mut app.conn(), new_id).unwrap().status, "paid");
    let spare = draft(&admin, d1, "1").await;
    let r = admin.post(&format!("{spare}/delete"), &[]).await;
    assert_eq!(r.location(), "/admin/invoices");
    assert_eq!(admin.get(&spare).await.status, StatusCode::NOT_FOUND);
    admin.post(&format!("/admin/invoices/{new_id}/delete"), &[]).await;
    assert_eq!(keel::billing::invoice::find(&mut app.conn(), new_id).unwrap().status, "paid");
});

both_backends!(lists_filter_total_export_and_pay_from_the_list, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    profile_for(&app, d1);
    profile_for(&app, d2);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let a = issue(&admin, &draft(&admin, d1, "10").await).await; // $388.00, will be overdue
    app.clock.advance(chrono::Duration::days(20));
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let b = issue(&admin, &draft(&admin, d1, "20").await).await; // $776.00, due later
    let c = issue(&admin, &draft(&admin, d2, "5").await).await; // Riverside: $194.00
    app.clock.advance(chrono::Duration::days(15)); // a is 5 days overdue
    let _ = (b, c);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let buyer = app.signed_in(Role::Procurement, Some(d1)).await;
    let page = buyer.get("/billing/invoices").await;
    assert!(page.body.contains("$1,164.00"), "invoiced total of Lincoln only: {}", page.body);
    assert!(!page.body.contains("$194.00"), "no other district's invoice");
    let page = buyer.get("/billing/invoices?overdue=1").await;
    assert!(page.body.contains("Overdue 5 days") && !page.body.contains("$776.00"), "{}", page.body);
    // CSV: own invoices, plain amounts.
    let csv = buyer.get("/billing/invoices?format=csv").await;
    assert_eq!(csv.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    assert!(csv.body.starts_with("\"number\",\"tenant\""));
    assert!(
        csv.body.contains("\"388.00\"")
            && csv.body.contains("\"776.00\"")
            && !csv.body.contains("\"194.00\"")
    );
    assert_eq!(csv.body.lines().count(), 3);
    assert_eq!(
        buyer.get(&format!("/billing/invoices?tenant={d2}&format=csv")).await.status,
        StatusCode::NOT_FOUND
    );
    // Staff: every tenant, year filter, totals.
    let year = app.state.now().date_naive().format("%Y").to_string();
    let all = admin.get(&format!("/admin/invoices?year={year}")).await;
    assert!(all.body.contains("$1,358.00"), "{}", all.body);
    let last_year = admin.get("/admin/invoices?year=2001").await;
    assert!(last_year.body.contains("No invoices here"));
    let csv = admin.get("/admin/invoices?format=csv").await;
    assert_eq!(csv.body.lines().count(), 4);
    // Paid from the list, back to the filtered list.
    let back = "/admin/invoices?status=issued&tenant=&year=&overdue=1";
    let r = admin.post(&format!("/admin/invoices/{a}/paid"), &[("method", "ach"), ("back", back)]).await;
    assert_eq!(r.location(), back);
    assert!(admin.get(back).await.body.contains("No invoices here"));
    let r = admin
        .post(&format!("/admin/invoices/{b}/paid"), &[("method", "ach"), ("back", "https://evil.example/")])
        .await;
    assert_eq!(r.location(), format!("/admin/invoices/{b}"), "only our own list is a place to go back to");
    assert!(buyer.get("/billing/invoices?status=paid").await.body.contains("$388.00"));
});

both_backends!(renewal_drafts_are_prepared_once_and_procurement_is_told, |app| {
    use keel::billing::store;
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    profile_for(&app, d1);
    let now = keel::db::now_micros(app.state.now());
    {
        use keel::db::schema::billing_contacts as bc;
        for (email, role) in
            [("ap@lincoln.example", "accounts_payable"), ("buyer@lincoln.example", "procurement")]
        {
            diesel::insert_into(bc::table)
                .values((
                    bc::tenant_id.eq(d1),
                    bc::name.eq("Contact"),
                    bc::email.eq(email),
                    bc::role.eq(role),
                    bc::verified_at.eq(Some(now)),
                    bc::created_at.eq(now),
                ))
                .execute(&mut *app.conn())
                .unwrap();
        }
    }
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let path = draft(&admin, d1, "1250").await;
    admin
        .post(
            &format!("{path}/lines"),
            &[("description", "Pilot credit"), ("kind", "credit"), ("quantity", "1"), ("unit_price", "500")],
        )
        .await;
    issue(&admin, &path).await;
    let renewal = app.state.now().date_naive() + chrono::Duration::days(61);
    let mut p = store::profile(&mut app.conn(), d1).unwrap().unwrap();
    p.renewal_date = Some(renewal);
    keel::db::write_tx(&mut app.conn(), |c| store::save_profile(c, &p)).unwrap();
    let run = || async {
        keel::jobs::store::enqueue(
            &mut app.conn(),
            &keel::jobs::NewJob::new("billing.renewals", serde_json::json!({})),
            keel::db::now_micros(app.state.now()),
        )
        .unwrap();
        app.run_jobs().await;
        inv::table.filter(inv::renewal_for.eq(renewal)).select(inv::id).load::<i64>(&mut *app.conn()).unwrap()
    };
    assert!(run().await.is_empty(), "61 days ahead: not yet (lead time 60)");
    app.clock.advance(chrono::Duration::days(1));
    let drafts = run().await;
    assert_eq!(drafts.len(), 1);
    assert_eq!(run().await, drafts, "once per renewal date");
    let d = keel::billing::invoice::find(&mut app.conn(), drafts[0]).unwrap();
    assert_eq!(
        (d.status.as_str(), d.total_minor),
        ("draft", 1250 * 3880),
        "licences copied, credit left out"
    );
    assert!(d.notes.contains(&format!("Renewal for the term {renewal}")));
    let told: Vec<_> = app.sent_mail().into_iter().filter(|m| m.subject.contains("renewal")).collect();
    assert_eq!(told.len(), 1, "procurement contact only");
    assert_eq!(told[0].to, "buyer@lincoln.example");
    assert_eq!(audited(&app, "invoice.renewal_prepared"), 1);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let page = admin.get(&format!("/admin/invoices/{}", d.id)).await;
    assert!(page.body.contains("Renewal draft for the term starting"));
    // Deleted by staff: not prepared again for the same renewal date.
    admin.post(&format!("/admin/invoices/{}/delete", d.id), &[]).await;
    assert!(run().await.is_empty(), "once per renewal date, even after the draft is deleted");
});

both_backends!(a_draft_whose_due_date_passed_is_not_issued, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    profile_for(&app, d1);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let path = draft(&admin, d1, "10").await;
    let due = app.state.now().date_naive() + chrono::Duration::days(1);
    let r =
        admin.post(&format!("{path}/details"), &[("due_date", &due.to_string()), ("tax_rate", "2,5")]).await;
    assert!(r.body.contains("Use a point for decimals"), "a decimal comma is not read as 25%");
    let r = admin
        .post(&format!("{path}/details"), &[("due_date", &due.to_string()), ("issue_date", "1999-01-01")])
        .await;
    assert!(r.body.contains("between the years 2000 and 2200"));
    admin.post(&format!("{path}/details"), &[("due_date", &due.to_string())]).await;
    app.clock.advance(chrono::Duration::days(3));
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin.post(&format!("{path}/issue"), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("a due date on or after the issue date"), "{}", r.body);
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(keel::billing::invoice::find(&mut app.conn(), id).unwrap().status, "draft");
});

both_backends!(a_vendor_prefix_goes_before_new_numbers, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    profile_for(&app, d1);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let settings = |prefix: &'static str| {
        let admin = &admin;
        async move {
            admin
                .post(
                    "/admin/billing/settings",
                    &[
                        ("legal_name", "Brightwave Learning, Inc."),
                        ("address", "200 Market Street"),
                        ("remit_to", "ACH 000123"),
                        ("default_currency", "USD"),
                        ("default_terms_days", "30"),
                        ("number_prefix", prefix),
                    ],
                )
                .await
        }
    };
    let r = settings("B W!").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Use up to 12 letters or digits"));
    assert_eq!(settings("bw").await.status, StatusCode::SEE_OTHER);
    let id = issue(&admin, &draft(&admin, d1, "1").await).await;
    let n = keel::billing::invoice::find(&mut app.conn(), id).unwrap().number.unwrap();
    assert!(n.starts_with("BW-") && n.ends_with("-0001"), "{n}");
});

both_backends!(a_vendor_logo_is_checked_and_printed_on_new_invoices, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    profile_for(&app, d1);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    assert_eq!(admin.get("/admin/billing/settings/logo").await.status, StatusCode::NOT_FOUND, "no logo yet");
    let r = admin
        .post_multipart("/admin/billing/settings/logo", &[], Some(("logo", "logo.png", b"GIF89a not a png")))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Upload the logo as a PNG or JPEG image."));
    // A small PNG with transparency.
    let mut img = image::RgbaImage::new(120, 40);
    for (x, _, px) in img.enumerate_pixels_mut() {
        *px = if x < 60 { image::Rgba([11, 87, 208, 255]) } else { image::Rgba([0, 0, 0, 0]) };
    }
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(img).write_to(&mut png, image::ImageOutputFormat::Png).unwrap();
    let r = admin.post_multipart("/admin/billing/settings/logo", &[], Some(("logo", "logo.png", &png))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let back = admin.get("/admin/billing/settings/logo").await;
    assert_eq!(back.header("content-type").as_deref(), Some("image/png"));
    let other = app.signed_in(Role::Procurement, Some(d1)).await;
    assert_ne!(other.get("/admin/billing/settings/logo").await.status, StatusCode::OK);
    let id = issue(&admin, &draft(&admin, d1, "1").await).await;
    let i = keel::billing::invoice::find(&mut app.conn(), id).unwrap();
    let pdf = app.state.files().get(&i.pdf_sha256.unwrap()).await.unwrap();
    if std::process::Command::new("pdfimages").arg("-v").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.pdf");
        std::fs::write(&path, &pdf).unwrap();
        let out = std::process::Command::new("pdfimages").arg("-list").arg(&path).output().unwrap();
        let list = String::from_utf8_lossy(&out.stdout);
        assert!(list.lines().count() >= 3, "the logo is embedded: {list}");
    }
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains(&i.number.clone().unwrap()), "text still selectable");
    }
});
