//! Journeys through the real UI.

use fantoccini::Locator;

use crate::Browser;

#[tokio::test]
async fn layout_navigation_and_error_page() {
    let Some(b) = Browser::start().await else { return };
    // The sign-in page renders in the shared layout with the stylesheet applied.
    b.goto("/").await;
    assert_eq!(b.path().await, "/login");
    b.wait_text("h1", "Sign in to Keel").await;
    assert_eq!(b.client.title().await.unwrap(), "Sign in · Keel");
    let font = b.client.execute("return getComputedStyle(document.body).fontFamily", vec![]).await.unwrap();
    assert!(font.as_str().unwrap_or("").contains("system-ui"), "stylesheet applied: {font}");

    // A wrong password is answered beside the field, with the email kept.
    b.note_secret("typed password", "wrong password 123");
    b.client
        .find(Locator::Id("field-email"))
        .await
        .unwrap()
        .send_keys("avery.chen@keel-vendor.example")
        .await
        .unwrap();
    b.client
        .find(Locator::Id("field-password"))
        .await
        .unwrap()
        .send_keys("wrong password 123")
        .await
        .unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text("#field-password-error", "don't match an account").await;
    let kept = b.client.find(Locator::Id("field-email")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("avery.chen@keel-vendor.example"));

    // Sign in as the platform admin: staff must set up two-factor authentication first.
    b.sign_in("Platform admin").await;
    b.wait_path("/account/2fa/setup").await;
    assert!(b.client.find(Locator::Css("svg.qr")).await.is_ok(), "QR code shown");
    let key = b.text("pre.code").await.replace(' ', "");
    let secret = keel::auth::totp::base32_decode(&key).expect("base32 key");
    let code = keel::auth::totp::code_at(&secret, chrono::Utc::now().timestamp());
    b.client.find(Locator::Id("field-code")).await.unwrap().send_keys(&code).await.unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text("main h1", "Your recovery codes").await;
    assert_eq!(b.text("pre.code").await.lines().count(), 10);
    b.click_link("I've saved them, continue").await;
    b.wait_path("/admin").await;
    b.wait_text("main h1", "Overview").await;
    b.click_link("Jobs").await;
    b.wait_text("main h1", "Background jobs").await;
    b.wait_text("nav.sectionnav a[aria-current=page]", "Jobs").await;
    b.client
        .find(Locator::Css("ul.tabs a[href='/admin/jobs?status=dead']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text("main", "mailbox unavailable").await;

    // Retry the dead job: the confirm dialog names it; accept it.
    b.client.find(Locator::Css("form[action$='/retry'] button")).await.unwrap().click().await.unwrap();
    b.accept_confirm("again?").await;
    b.wait_text(".flash", "is queued to run again").await;

    b.click_link("Emails").await;
    b.wait_text("main h1", "Email outbox").await;

    // An unknown address gets the styled error page inside the layout.
    b.goto("/no/such/page").await;
    b.wait_text("main h1", "Page not found").await;
    b.wait_text("footer", "Request ID").await;

    // Sign out: back on the sign-in page with a message; admin pages need signing in again.
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    b.wait_text(".flash", "You have signed out").await;
    b.goto("/admin/jobs").await;
    assert_eq!(b.path().await, "/login?next=%2Fadmin%2Fjobs");
    b.close().await;
}

#[tokio::test]
async fn tenant_roles_see_only_their_pages() {
    let Some(b) = Browser::start().await else { return };
    b.sign_in("District admin").await;
    b.wait_path("/district/schools").await;
    b.wait_text("main", "Lincoln High School").await;
    assert!(!b.text("main").await.contains("Riverside"), "another district is not visible");
    let nav = b.text("nav.sectionnav").await;
    assert!(!nav.contains("Jobs") && !nav.contains("Emails"), "internal sections hidden: {nav}");
    b.goto("/admin/jobs").await;
    b.wait_text("main h1", "Page not found").await;
    // Members of the district and its schools only; another district's id is not found.
    b.click_link("Members").await;
    let members = b.wait_text("main table", "Priya Raman").await;
    assert!(members.contains("Priya Raman") && !members.contains("Grace Park"), "{members}");
    b.goto("/district/members?tenant=7").await;
    b.wait_text("main h1", "Page not found").await;
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    b.close().await;
}

#[tokio::test]
async fn a_visitor_sees_an_incident_appear_and_subscribes() {
    let Some(b) = Browser::start().await else { return };
    b.goto("/status").await;
    b.wait_text(".status-banner h1", "All Systems Operational").await;
    assert!(b.client.find(Locator::Css(".component-strip svg")).await.is_ok(), "90-day bars");

    b.sign_in_staff("Platform admin").await;
    b.wait_path("/admin").await;
    b.click_link("Status page").await;
    b.click_link("Report an incident").await;
    b.client
        .find(Locator::Id("field-name"))
        .await
        .unwrap()
        .send_keys("Recordings fail to upload")
        .await
        .unwrap();
    b.client
        .find(Locator::Id("field-body"))
        .await
        .unwrap()
        .send_keys("Some uploads fail. We are investigating.")
        .await
        .unwrap();
    let selects = b.client.find_all(Locator::Css("#field-components select")).await.unwrap();
    selects[2].select_by_value("partial_outage").await.unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text(".flash", "published on the status page").await;

    // A visitor (signed out) sees it.
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    // /status may be cached for 30 s (Cache-Control: public, max-age=30); a new visitor's URL is fresh.
    b.goto("/status?from=email").await;
    b.wait_text(".status-banner h1", "Partial System Outage").await;
    b.wait_text(".incident-card", "Recordings fail to upload").await;
    b.click_link("Recordings fail to upload").await;
    b.wait_text("main", "Some uploads fail.").await;

    // And subscribes.
    b.click_link("Subscribe").await;
    b.client
        .find(Locator::Id("field-email"))
        .await
        .unwrap()
        .send_keys("it-director@lincoln.k12.example")
        .await
        .unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text("main h1", "Check your email").await;
    b.close().await;
}

#[tokio::test]
async fn procurement_downloads_an_invoice_and_sees_it_paid() {
    let Some(b) = Browser::start().await else { return };
    b.sign_in("Procurement officer").await;
    b.wait_path("/billing").await;
    // Complete the PO profile (the demo's is filled in; change the PO number).
    let po = b.client.find(Locator::Id("field-po_number")).await.unwrap();
    po.clear().await.unwrap();
    po.send_keys("PO-2026-0999").await.unwrap();
    b.client
        .find(Locator::Css("form[action='/billing'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".flash", "saved").await;
    // Upload the signed PO for the new number (a PDF from disk, as a person would).
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("Signed PO-2026-0999.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
        .unwrap();
    b.client.find(Locator::Css("#po-documents summary")).await.unwrap().click().await.unwrap();
    let field = b.client.find(Locator::Id("field-upload_po_number")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys("PO-2026-0999").await.unwrap();
    b.client
        .find(Locator::Id("field-file"))
        .await
        .unwrap()
        .send_keys(&pdf.display().to_string())
        .await
        .unwrap();
    b.client
        .find(Locator::Css("form[action='/billing/po-documents'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".flash", "was uploaded for PO PO-2026-0999").await;
    let docs = b.wait_text("#po-documents table", "Signed PO-2026-0999.pdf").await;
    assert!(docs.contains("Current PO"), "{docs}");
    b.click_link("Invoices").await;
    let table = b.wait_text("div[aria-label='Invoices'] table", "LINCOLN-2026-0004").await;
    assert!(table.contains("Overdue") && table.contains("Void"), "{table}");
    // The PDF link answers with the stored PDF.
    let href = b
        .client
        .find(Locator::Css("div[aria-label='Invoices'] a[href^='/billing/invoices/']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let kind = b
        .client
        .execute_async(
            "const cb = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => cb(r.headers.get('content-type') + ' ' + r.status));",
            vec![serde_json::Value::String(href)],
        )
        .await
        .unwrap();
    assert_eq!(kind.as_str(), Some("application/pdf 200"));
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    // Staff record the payment of the overdue LINCOLN-2026-0002.
    b.sign_in_staff("Platform admin").await;
    b.wait_path("/admin").await;
    b.goto("/admin/invoices").await;
    b.click_link("LINCOLN-2026-0002").await;
    b.client.find(Locator::Id("field-reference")).await.unwrap().send_keys("CHECK 2291").await.unwrap();
    b.client.find(Locator::Css("form[action$='/paid'] button")).await.unwrap().click().await.unwrap();
    b.accept_confirm("Mark LINCOLN-2026-0002").await;
    b.wait_text(".flash", "is marked paid").await;
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    b.sign_in("Procurement officer").await;
    b.wait_path("/billing").await;
    b.goto("/billing/invoices").await;
    let table = b.wait_text("div[aria-label='Invoices'] table", "LINCOLN-2026-0002").await;
    let start = table.find("LINCOLN-2026-0002").unwrap_or(0);
    let end = table.find("LINCOLN-2026-0001").unwrap_or(table.len());
    assert!(table[start..end].contains("Paid"), "{table}");
    b.close().await;
}

#[tokio::test]
async fn a_hard_staff_cap_blocks_a_school_admins_invitation() {
    let Some(b) = Browser::start().await else { return };
    b.sign_in("District admin").await;
    b.wait_path("/district/schools").await;
    // The district admin finds caps from the navigation and caps Lincoln High School's staff at 5.
    b.click_link("Usage").await;
    b.wait_text("main h1", "Usage").await;
    b.client
        .find(Locator::Css("nav[aria-label='Usage views'] a[href^='/usage/caps']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text("main h1", "Caps for").await;
    b.client
        .find(Locator::XPath("//select[@id='f-tenant']/option[contains(., 'Lincoln High School')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client.find(Locator::Css("form.filters button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text("main h1", "› Lincoln High School").await;
    let card = "//section[h2[normalize-space()='Active staff users']]";
    let limit = b.client.find(Locator::XPath(&format!("{card}//input[@name='limit']"))).await.unwrap();
    limit.clear().await.unwrap();
    limit.send_keys("5").await.unwrap();
    b.client
        .find(Locator::XPath(&format!("{card}//input[@value='hard']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::XPath(&format!("{card}//button[@type='submit' and not(@name)]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".flash", "Active staff users cap set to 5 (hard)").await;
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    // The school admin tries to invite one more teacher and is told why not.
    b.sign_in("School admin").await;
    b.wait_path("/district/members").await;
    b.client
        .find(Locator::Id("field-email"))
        .await
        .unwrap()
        .send_keys("new.teacher@lincoln.k12.example")
        .await
        .unwrap();
    b.client
        .find(Locator::XPath("//select[@id='field-role']/option[@value='staff']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::Css("form[action='/district/members/invite'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let msg = b.wait_text("main", "reached its staff cap").await;
    assert!(msg.contains("Your district has reached its staff cap"), "{msg}");
    b.close().await;
}

#[tokio::test]
async fn a_district_admin_filters_the_rollup_and_bookmarks_it() {
    let Some(b) = Browser::start().await else { return };
    b.sign_in("District admin").await;
    b.wait_path("/district/schools").await;
    b.click_link("Usage").await;
    b.wait_text("main h1", "Usage").await;
    b.client
        .find(Locator::Css("nav[aria-label='Usage views'] a[href^='/district/rollups']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text("main h1", "Usage by school").await;
    let all = b.text("div[aria-label='Usage by school'] tbody").await;
    assert!(all.contains("Roper Elementary") && all.contains("Prairie Hill Elementary"), "{all}");
    // Last 7 days, Roper Elementary only.
    b.client
        .find(Locator::XPath("//select[@id='f-range']/option[@value='7']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::XPath("//select[@id='f-school']/option[contains(., 'Roper Elementary')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client.find(Locator::Css("form.filters button[type=submit]")).await.unwrap().click().await.unwrap();
    // The old page has a period too: read it only once the new address is there.
    let url = b.wait_url_contains("range=7").await;
    let body = b.wait_text("main .lede", "to").await;
    assert!(url.contains("range=7") && url.contains("school="), "{url}");
    let rows = b.text("div[aria-label='Usage by school'] tbody").await;
    assert!(rows.contains("Roper Elementary") && !rows.contains("Prairie Hill Elementary"), "{rows}");
    let csv = b
        .client
        .find(Locator::LinkText("Download CSV"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(csv.contains("range=7") && csv.contains("school="), "the CSV is what is shown: {csv}");
    // The bookmarked address opens the same view.
    b.client.goto(&url).await.unwrap();
    let again = b.wait_text("main .lede", "to").await;
    assert_eq!(again, body);
    let selected =
        b.client.find(Locator::Css("#f-range option[selected]")).await.unwrap().text().await.unwrap();
    assert_eq!(selected, "Last 7 days");
    b.close().await;
}

#[tokio::test]
async fn a_staff_member_files_a_request_and_reads_the_agents_reply() {
    let Some(b) = Browser::start().await else { return };
    b.sign_in("Staff").await;
    b.wait_path("/support").await;
    let tier = b.wait_text("main", "We reply to P2 requests within 4 business hours").await;
    assert!(tier.contains("Enterprise support"), "{tier}");
    b.click_link("New support request").await;
    b.wait_text("main h1", "New support request").await;
    b.client
        .find(Locator::XPath("//select[@id='field-category']/option[@value='recording']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client.find(Locator::Css("input[name='severity'][value='P2']")).await.unwrap().click().await.unwrap();
    b.client
        .find(Locator::Id("field-subject"))
        .await
        .unwrap()
        .send_keys("Recording button does nothing in room 108")
        .await
        .unwrap();
    b.client
        .find(Locator::Id("field-description"))
        .await
        .unwrap()
        .send_keys(
            "Clicking Start recording in room 108 does nothing on any of the Chromebooks since this morning.",
        )
        .await
        .unwrap();
    b.client
        .find(Locator::Css("form[action='/support/new'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = b.wait_text(".flash", "was sent").await;
    assert!(
        flash.contains("we reply to P2 requests within 4 business hours"),
        "the target is shown: {flash}"
    );
    let lede = b.text("main .lede").await;
    let number: String = lede.split_whitespace().next().unwrap_or_default().to_string();
    assert!(number.starts_with("SR-"), "{lede}");
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    // The support agent answers from the queue.
    b.sign_in_staff("Support agent").await;
    b.wait_path("/admin").await;
    b.click_link("Support").await;
    b.wait_text("main h1", "Support queue").await;
    b.click_link(&number).await;
    b.wait_text("main h1", "Recording button does nothing").await;
    b.client
        .find(Locator::Id("field-body"))
        .await
        .unwrap()
        .send_keys("Thanks Elena: a Chrome policy blocked the microphone in room 108. It is lifted; please try again.")
        .await
        .unwrap();
    b.client
        .find(Locator::Css("form[action$='/message'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".flash", "Reply sent").await;
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;
    // The requester reads the reply.
    b.sign_in("Staff").await;
    b.wait_path("/support").await;
    b.client
        .find(Locator::Css("nav[aria-label='Support'] a[href='/support/requests']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click_link(&number).await;
    let conv = b.wait_text(".conversation", "Chrome policy blocked the microphone").await;
    assert!(conv.contains("Support"), "{conv}");
    b.close().await;
}

/// The local path of the first link in `body` that contains `marker` (`/invite/`...).
fn link_path(b: &Browser, body: &str, marker: &str) -> String {
    let i = body.find(marker).unwrap_or_else(|| panic!("no {marker} link in {body}"));
    let start =
        body[..i].rfind(|c: char| c.is_whitespace() || c == '"' || c == '<').map(|j| j + 1).unwrap_or(0);
    let url: String =
        body[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<').collect();
    url.strip_prefix(&b.base).unwrap_or(&url).to_string()
}

#[tokio::test]
async fn an_invitation_and_a_password_reset_work_from_their_emails() {
    let Some(b) = Browser::start().await else { return };
    // The district admin invites an auditor to the district.
    b.sign_in("District admin").await;
    b.wait_path("/district/schools").await;
    b.click_link("Members").await;
    b.wait_text("main h1", "Members").await;
    b.client
        .find(Locator::Id("field-email"))
        .await
        .unwrap()
        .send_keys("robin.ames@lincoln.k12.example")
        .await
        .unwrap();
    b.client.find(Locator::Id("field-name")).await.unwrap().send_keys("Robin Ames").await.unwrap();
    b.client
        .find(Locator::XPath("//select[@id='field-tenant_id']/option[contains(., '(district)')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::XPath("//select[@id='field-role']/option[@value='auditor']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::Css("form[action='/district/members/invite'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".flash", "was sent to robin.ames@lincoln.k12.example").await;
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;

    // The invitee follows the link in the email and chooses a password.
    let email = b.email_to("robin.ames@lincoln.k12.example", "/invite/").await;
    b.goto(&link_path(&b, &email, "/invite/")).await;
    b.wait_text("main h1", "Join Lincoln Public Schools").await;
    let chosen = "harbor-quiet-lantern-58";
    b.note_secret("typed password", chosen);
    let name = b.client.find(Locator::Id("field-name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Robin Ames").await.unwrap();
    b.client.find(Locator::Id("field-password")).await.unwrap().send_keys(chosen).await.unwrap();
    b.client.find(Locator::Id("field-confirm")).await.unwrap().send_keys(chosen).await.unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_path("/reliability").await;
    b.client.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    b.wait_path("/login").await;

    // The district admin forgot their password and resets it from the emailed link.
    let (admin, _) = b.login_for("District admin");
    b.goto("/forgot").await;
    b.wait_text("main h1", "Reset your password").await;
    b.client.find(Locator::Id("field-email")).await.unwrap().send_keys(&admin).await.unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text(".flash", "we've sent it a link").await;
    let email = b.email_to(&admin, "/reset/").await;
    b.goto(&link_path(&b, &email, "/reset/")).await;
    b.wait_text("main h1", "Choose a new password").await;
    let fresh = "copper-meadow-signal-36";
    b.note_secret("typed password", fresh);
    b.client.find(Locator::Id("field-password")).await.unwrap().send_keys(fresh).await.unwrap();
    b.client.find(Locator::Id("field-confirm")).await.unwrap().send_keys(fresh).await.unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_text(".flash", "Sign in with your new password").await;
    b.client.find(Locator::Id("field-email")).await.unwrap().send_keys(&admin).await.unwrap();
    b.client.find(Locator::Id("field-password")).await.unwrap().send_keys(fresh).await.unwrap();
    b.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    b.wait_path("/district/schools").await;
    b.close().await;
}
