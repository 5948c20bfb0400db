//! Hostile input: XSS payloads typed into every text field through the real forms (and sent
//! through the usage API) come back escaped on every page, feed, email and PDF; hostile uploads
//! are refused beside the field with nothing stored; a crawl of every GET route changes nothing
//! in the database.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::prelude::*;
use keel::auth::Role;
use keel::db::schema as s;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Client, Resp, TestApp, csrf_from};

/// The payload for text fields (40 characters, so it fits most limits): leaves an attribute,
/// opens an element with an event handler, carries a right-to-left override (U+202E), closes
/// a script element and opens another.
const P: &str = "\"><svg onload=alert()>\u{202E}</script><script>";
/// The same idea for fields of at most 20 characters.
const SHORT: &str = "\"><svg onload=1>\u{202E}";
/// A Markdown body: raw HTML, `javascript:` links, images and autolinks, a bidi override.
const MD: &str = "**Bold** \"><svg onload=alert(1)> </script><script>alert(1)</script>\n\n\
[click](javascript:alert(1)) ![i](javascript:alert(2)) <javascript:alert(3)> \
<a href=\"javascript:alert(4)\">x</a> <img src=x onerror=alert(5)> \u{202E}gnp.exe";
/// For fields of at most 200 characters.
const LINE: &str = "<img src=x onerror=alert(5)> [x](javascript:alert(1)) </script><script>\u{202E}";
/// A spreadsheet formula (for CSV exports).
const FORMULA: &str = "=HYPERLINK(\"https://evil.example\",\"x\")";
/// A browser that says hostile things about itself.
const UA: &str = "Mozilla/5.0 \"><svg onload=alert(1)></script><script>alert(1)</script>";
/// A `javascript:` URL for fields that might end up in a link.
const JS_URL: &str = "javascript:alert(document.domain)//";

/// An email address that passes validation but tries to leave an attribute.
fn evil_email(tag: &str) -> String {
    format!("x\"onmouseover=alert(1)'{tag}@evil.example")
}

/// Explicit bidi formatting characters (embeddings, overrides, isolates).
const BIDI: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}',
];

/// What must never appear in HTML (compared lower-cased).
const RAW: &[&str] = &[
    "<svg onload",
    "</script><script>",
    "<img src=x onerror",
    "href=\"javascript:",
    "src=\"javascript:",
    "href='javascript:",
    "href=javascript:",
    "\"onmouseover=",
];

fn excerpt(body: &str) -> &str {
    let mut end = body.len().min(600);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

fn around(body: &str, i: usize) -> String {
    let mut a = i.saturating_sub(120);
    while !body.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (i + 120).min(body.len());
    while !body.is_char_boundary(b) {
        b += 1;
    }
    body[a..b].to_string()
}

/// Findings of the checks: payloads seen escaped, and every failure (reported together).
#[derive(Default)]
struct Tally {
    html_pages: usize,
    escaped: usize,
    other_docs: usize,
    failures: Vec<String>,
}

impl Tally {
    /// An HTML document: no payload unescaped, no bidi control.
    fn html(&mut self, what: &str, body: &str) {
        self.html_pages += 1;
        self.scan_html(what, body);
    }

    /// HTML carried inside another document (a feed entry, an email part).
    fn scan_html(&mut self, what: &str, body: &str) {
        let lower = body.to_ascii_lowercase();
        for bad in RAW {
            if let Some(i) = lower.find(bad) {
                self.failures.push(format!("{what}: unescaped {bad:?}: …{}…", around(body, i)));
            }
        }
        if let Some(i) = body.find(BIDI) {
            self.failures.push(format!("{what}: raw bidi control: …{}…", around(body, i).escape_debug()));
        }
        self.escaped += lower.matches("svg onload").count() + lower.matches("/script&gt;&lt;script").count();
        self.escaped += lower.matches("/script&#62;&#60;script").count();
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(msg);
    }

    fn assert_clean(&self, what: &str) {
        // Most telling first: unescaped payloads, then the rest.
        let mut shown: Vec<&String> = self.failures.iter().filter(|f| f.contains("unescaped")).collect();
        shown.extend(self.failures.iter().filter(|f| !f.contains("unescaped")));
        assert!(
            self.failures.is_empty(),
            "{what}: {} problems:\n{}",
            self.failures.len(),
            shown.iter().take(60).map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
        );
    }
}

/// POSTs a form and expects a redirect (or a page that is not an error).
async fn post_ok(c: &Client, path: &str, form: &[(&str, &str)]) -> Resp {
    let r = c.post(path, form).await;
    assert!(
        r.status == StatusCode::SEE_OTHER || r.status == StatusCode::OK,
        "POST {path}: {}\n{}",
        r.status,
        field_errors(&r.body)
    );
    r
}

/// The field messages of a re-rendered form (for failure output).
fn field_errors(body: &str) -> String {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("class=\"field-error\"") {
        rest = &rest[i..];
        let end = rest.find("</p>").unwrap_or(rest.len());
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    if out.is_empty() { excerpt(body).to_string() } else { out.join("\n") }
}

/// The first link in an outbox email to `to` containing `marker`, as a local path.
fn link_in_mail(app: &TestApp, to: &str, marker: &str) -> String {
    let rows: Vec<(String, String)> = s::outbound_emails::table
        .select((s::outbound_emails::to_addr, s::outbound_emails::text_body))
        .order(s::outbound_emails::id.desc())
        .load(&mut *app.conn())
        .unwrap();
    let (_, body) = rows
        .iter()
        .find(|(t, b)| t == to && b.contains(marker))
        .unwrap_or_else(|| panic!("no email to {to} with {marker}"));
    let i = body.find(marker).unwrap();
    body[i..].split_whitespace().next().unwrap().trim_start_matches("http://keel.test").to_string()
}

/// Signs in through the login form (no second factor: tenant users).
async fn login(app: &TestApp, email: &str, pw: &str) -> Client {
    let c = app.client().await;
    let r = c.login(email, pw).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "login {email}: {}", field_errors(&r.body));
    c.refresh_csrf().await;
    c
}

/// Accepts an invitation sent to `email` with the display name `name`; returns a signed-in client.
async fn accept_invitation(app: &TestApp, email: &str, name: &str) -> Client {
    app.run_jobs().await;
    let link = link_in_mail(app, email, "/invite/");
    let c = app.client().await;
    let page = c.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", excerpt(&page.body));
    let token = csrf_from(&page.body);
    let pw = "tidal-copper-lantern-92";
    let r = c
        .send(TestRequest::post().uri(&link).set_form([
            ("name", name),
            ("password", pw),
            ("confirm", pw),
            ("csrf_token", token.as_str()),
        ]))
        .await;
    assert!(r.status.is_redirection() || r.status.is_success(), "accept: {}", field_errors(&r.body));
    login(app, email, pw).await
}

fn tenant_named(app: &TestApp, slug: &str) -> i64 {
    s::tenants::table
        .filter(s::tenants::slug.eq(slug))
        .select(s::tenants::id)
        .first(&mut *app.conn())
        .unwrap()
}

/// The tenants, users and signed-in clients the tests work with.
struct World {
    d: i64,
    s: i64,
    admin: Client,
    agent: Client,
    dadmin: Client,
    auditor: Client,
    buyer: Client,
    head: Client,
    staff: Client,
    anon: Client,
    /// The subscriber's secret management path.
    manage: String,
    /// Links with live one-time tokens (invitation, password reset, contact confirmation): a GET
    /// shows the page and uses nothing up.
    live_links: Vec<String>,
    /// Issued invoice ids (their PDFs are checked).
    invoices: Vec<i64>,
}

/// Puts the payloads into every text field, through the forms, as the right roles.
async fn seed(app: &TestApp) -> World {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    // Tenants: names and region.
    let r = post_ok(
        &admin,
        "/admin/tenants",
        &[
            ("kind", "district"),
            ("name", P),
            ("slug", "EVIL-DISTRICT"),
            ("region", P),
            ("time_zone", "America/Chicago"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let d = tenant_named(app, "EVIL-DISTRICT");
    post_ok(
        &admin,
        "/admin/tenants",
        &[
            ("kind", "school"),
            ("name", &format!("{P} school")),
            ("slug", "EVIL-SCHOOL"),
            ("region", SHORT),
            ("time_zone", "America/Chicago"),
            ("parent_id", &d.to_string()),
        ],
    )
    .await;
    let s = tenant_named(app, "EVIL-SCHOOL");
    let (d_slug, s_slug) = ("EVIL-DISTRICT".to_string(), "EVIL-SCHOOL".to_string());
    // Users: a district admin invited by staff, a staff member invited by the district admin,
    // both accepting with hostile display names.
    let da_email = evil_email("da");
    post_ok(
        &admin,
        "/admin/users/invite",
        &[("email", &da_email), ("name", P), ("role", "district_admin"), ("tenant_id", &d.to_string())],
    )
    .await;
    let dadmin = accept_invitation(app, &da_email, P).await;
    let staff_email = evil_email("staff");
    post_ok(
        &dadmin,
        "/district/members/invite",
        &[("email", &staff_email), ("name", P), ("tenant_id", &s.to_string()), ("role", "staff")],
    )
    .await;
    let staff = accept_invitation(app, &staff_email, &format!("{P} staff")).await;
    // A pending invitation stays listed with its hostile name.
    post_ok(
        &dadmin,
        "/district/members/invite",
        &[("email", &evil_email("pending")), ("name", P), ("tenant_id", &s.to_string()), ("role", "staff")],
    )
    .await;
    let buyer = app.signed_in(Role::Procurement, Some(d)).await;
    let auditor = app.signed_in(Role::Auditor, Some(d)).await;
    let head = app.signed_in(Role::SchoolAdmin, Some(s)).await;
    let agent = app.signed_in(Role::SupportAgent, None).await;
    let anon = app.client().await;
    let (ds, ss) = (d.to_string(), s.to_string());

    // What a visitor sends when signing in ends up in the audit trail and the session list.
    for (email, pw) in [
        (P.to_string(), "wrong password"),
        (FORMULA.to_string(), "wrong password"),
        (da_email.clone(), "not the password"),
    ] {
        let c = app.client().await;
        let page = c.get("/login").await;
        let token = csrf_from(&page.body);
        let r = c
            .send(
                TestRequest::post()
                    .uri("/login")
                    .insert_header(("user-agent", UA))
                    .insert_header(("x-forwarded-for", "\"><svg onload=alert(1)>"))
                    .set_form([("email", email.as_str()), ("password", pw), ("csrf_token", token.as_str())]),
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.status);
    }
    {
        let c = app.client().await;
        let page = c.get("/login").await;
        let token = csrf_from(&page.body);
        let r = c
            .send(TestRequest::post().uri("/login").insert_header(("user-agent", UA)).set_form([
                ("email", staff_email.as_str()),
                ("password", "tidal-copper-lantern-92"),
                ("csrf_token", token.as_str()),
            ]))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }

    // Billing profile, contacts and a PO document.
    post_ok(
        &buyer,
        "/billing",
        &[
            ("tenant_id", &ds),
            ("mode", "invoice_po"),
            ("po_number", P),
            ("po_amount", "12,400.00"),
            ("currency", "USD"),
            ("terms_days", "30"),
            ("address_line1", P),
            ("address_line2", P),
            ("city", P),
            ("region", P),
            ("postal_code", SHORT),
            ("country", "us"),
            ("tax_id", P),
            ("tax_exempt_note", P),
            ("cost_centre", P),
            ("schedule", "annual"),
        ],
    )
    .await;
    let contact = evil_email("ap");
    post_ok(
        &buyer,
        "/billing/contacts",
        &[
            ("tenant_id", &ds),
            ("contact_name", P),
            ("contact_email", &contact),
            ("contact_phone", P),
            ("role", "accounts_payable"),
        ],
    )
    .await;
    app.run_jobs().await;
    let verify = link_in_mail(app, &contact, "/billing/contacts/verify/");
    let v = app.client().await;
    let page = v.get(&verify).await;
    let token = csrf_from(&page.body);
    v.send(TestRequest::post().uri(&verify).set_form([("csrf_token", token.as_str())])).await;
    let r = buyer
        .post_multipart(
            "/billing/po-documents",
            &[("tenant_id", &ds), ("upload_po_number", P)],
            Some(("file", "<svg onload=alert(1)>\u{202E}fdp.exe.pdf", PDF)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", field_errors(&r.body));

    // Vendor settings: printed on every invoice.
    post_ok(
        &admin,
        "/admin/billing/settings",
        &[
            ("legal_name", P),
            ("address", &format!("{P}\n{MD}")),
            ("tax_id", P),
            ("remit_to", &format!("{P}\n{JS_URL}")),
            ("invoice_footer", P),
            ("default_currency", "USD"),
            ("default_terms_days", "30"),
        ],
    )
    .await;

    // Invoices: lines, details, issue, paid with a reference, unpaid with a reason; another
    // one voided with a reason and corrected.
    let mut invoices = Vec::new();
    for void in [false, true] {
        let r = post_ok(&admin, "/admin/invoices", &[("tenant_id", &ds)]).await;
        let path = r.location();
        post_ok(
            &admin,
            &format!("{path}/lines"),
            &[("description", P), ("kind", "license"), ("quantity", "10"), ("unit_price", "38.80")],
        )
        .await;
        post_ok(
            &admin,
            &format!("{path}/lines"),
            &[("description", LINE), ("kind", "service"), ("quantity", "1"), ("unit_price", "150")],
        )
        .await;
        post_ok(
            &admin,
            &format!("{path}/details"),
            &[("po_number", P), ("tax_rate", "0"), ("issue_date", ""), ("due_date", ""), ("notes", MD)],
        )
        .await;
        let r = admin.post(&format!("{path}/issue"), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "issue: {}", field_errors(&r.body));
        let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
        invoices.push(id);
        if void {
            post_ok(&admin, &format!("{path}/void"), &[("reason", P), ("correct", "1")]).await;
        } else {
            post_ok(&admin, &format!("{path}/paid"), &[("method", "check"), ("reference", P)]).await;
            post_ok(&admin, &format!("{path}/unpaid"), &[("reason", P)]).await;
        }
    }
    // A dispute of the first invoice, with a document; rejected with a reason.
    let r = buyer
        .post_multipart(
            "/support/disputes/new",
            &[
                ("invoice_id", &invoices[0].to_string()),
                ("category", "amount"),
                ("description", &format!("{P} {MD}")),
            ],
            Some(("document", "../../etc/passwd.pdf", PDF)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "dispute: {}", field_errors(&r.body));
    let dispute: i64 = s::invoice_disputes::table
        .select(s::invoice_disputes::id)
        .order(s::invoice_disputes::id.desc())
        .first(&mut *app.conn())
        .unwrap();
    post_ok(&admin, &format!("/admin/disputes/{dispute}/resolve"), &[("decision", "reject"), ("reason", P)])
        .await;

    // Status page: a component, an incident with updates and a postmortem, maintenance, probes.
    post_ok(&admin, "/admin/status/components", &[("name", P), ("description", P)]).await;
    let (comp, name): (i64, String) = s::status_components::table
        .select((s::status_components::id, s::status_components::name))
        .order(s::status_components::id.desc())
        .first(&mut *app.conn())
        .unwrap();
    assert_eq!(name, "\"><svg onload=alert()></script><script>", "stored as typed, bidi control aside");
    // It has a history since January, with a 12-hour outage in February (for the SLA statement
    // and a credit claim).
    {
        let t = |x: &str| chrono::NaiveDateTime::parse_from_str(x, "%Y-%m-%d %H:%M").unwrap();
        let mut c = app.conn();
        diesel::update(s::status_components::table.find(comp))
            .set((
                s::status_components::start_date.eq(Some(t("2026-01-01 00:00"))),
                s::status_components::created_at.eq(t("2026-01-01 00:00")),
            ))
            .execute(&mut *c)
            .unwrap();
        for (status, from, to) in [
            ("operational", "2026-01-01 00:00", "2026-02-10 08:00"),
            ("major_outage", "2026-02-10 08:00", "2026-02-10 20:00"),
            ("operational", "2026-02-10 20:00", "2026-03-02 15:00"),
        ] {
            keel::status::store::insert_interval(&mut c, comp, status, t(from), Some(t(to)), "manual", None)
                .unwrap();
        }
    }
    keel::status::refresh(&app.state).await.unwrap();
    let cf = format!("component_{comp}");
    // A subscriber (before the incident, so its emails go out).
    let page = anon.get("/status/subscribe").await;
    let token = csrf_from(&page.body);
    let sub = evil_email("sub");
    let r = anon
        .send(TestRequest::post().uri("/status/subscribe").set_form([
            ("email", sub.as_str()),
            (cf.as_str(), "1"),
            ("csrf_token", token.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "subscribe: {}", field_errors(&r.body));
    app.run_jobs().await;
    let manage = link_in_mail(app, &sub, "/status/subscriptions/");
    let page = anon.get(&manage).await;
    let token = csrf_from(&page.body);
    anon.send(
        TestRequest::post().uri(&manage).set_form([("action", "confirm"), ("csrf_token", token.as_str())]),
    )
    .await;
    let r = post_ok(
        &admin,
        "/admin/status/incidents",
        &[
            ("kind", "incident"),
            ("name", P),
            ("impact", "major"),
            ("status", "investigating"),
            ("body", MD),
            ("started_at", ""),
            (&cf, "major_outage"),
        ],
    )
    .await;
    let inc = r.location();
    post_ok(&agent, &format!("{inc}/updates"), &[("status", "identified"), ("body", MD)]).await;
    post_ok(&admin, &format!("{inc}/updates"), &[("status", "resolved"), ("body", MD)]).await;
    post_ok(&admin, &format!("{inc}/postmortem"), &[("body", MD), ("publish", "1")]).await;
    let start = app.state.now() + chrono::Duration::hours(5);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    post_ok(
        &admin,
        "/admin/status/incidents",
        &[
            ("kind", "maintenance"),
            ("name", P),
            ("body", MD),
            ("scheduled_for", &fmt(start)),
            ("scheduled_until", &fmt(start + chrono::Duration::hours(2))),
            (&cf, "under_maintenance"),
        ],
    )
    .await;
    post_ok(
        &admin,
        "/admin/status/probes",
        &[
            ("component_id", &comp.to_string()),
            ("kind", "http"),
            ("url", "https://example.com/\"><svg onload=alert()>"),
            ("expect", "200-299"),
            ("body_contains", P),
            ("interval_seconds", "60"),
        ],
    )
    .await;
    // A statement for last month names the district.
    post_ok(&dadmin, "/reliability/statements", &[("tenant_id", &ds), ("month", "2026-02")]).await;

    // Support: a tier with hostile names and contacts, requests, replies and notes.
    post_ok(&admin, "/admin/support/tiers", &[("key", "evil"), ("name", P)]).await;
    let tier: i64 = s::sla_tiers::table
        .filter(s::sla_tiers::key.eq("evil"))
        .select(s::sla_tiers::id)
        .first(&mut *app.conn())
        .unwrap();
    post_ok(
        &admin,
        &format!("/admin/support/tiers/{tier}"),
        &[
            ("name", P),
            ("support_email", &evil_email("help")),
            ("support_phone", P),
            ("routing_email", &evil_email("route")),
            ("time_zone", "America/Chicago"),
            ("working_days", "Mon-Fri"),
            ("opens", "08:00"),
            ("closes", "18:00"),
            ("uptime_commitment", "99.9"),
            ("credit_schedule", "99.9 10"),
            ("resp_P1", "4"),
            ("resp_unit_P1", "business_hours"),
        ],
    )
    .await;
    post_ok(
        &admin,
        &format!("/admin/support/tiers/{tier}/holidays"),
        &[("holidays", &format!("2026-12-25 {P}"))],
    )
    .await;
    post_ok(&admin, &format!("/admin/tenants/{d}/tier"), &[("tier_id", &tier.to_string())]).await;
    for (who, tid) in [(&staff, &ss), (&dadmin, &ds)] {
        let r = who
            .post_multipart(
                "/support/new",
                &[
                    ("tenant_id", tid),
                    ("category", "recording"),
                    ("severity", "P2"),
                    ("subject", P),
                    ("description", &format!("{P} {MD}")),
                    ("from", JS_URL),
                    ("time_zone", P),
                ],
                Some(("attachment", "a\"b<svg onload=1>.png", PNG)),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "support request: {}", field_errors(&r.body));
        let path = r.location();
        post_ok(who, &format!("{path}/reply"), &[("body", &format!("{P} {MD}"))]).await;
        let id = path.rsplit('/').next().unwrap();
        let q = format!("/admin/support/requests/{id}");
        post_ok(&agent, &format!("{q}/message"), &[("kind", "note"), ("body", &format!("{P} {MD}"))]).await;
        post_ok(
            &agent,
            &format!("{q}/message"),
            &[("kind", "reply"), ("body", &format!("{P} {MD}")), ("then", "waiting_on_customer")],
        )
        .await;
    }
    // An SLA credit claim for February's outage, approved with a reason.
    post_ok(
        &buyer,
        "/support/sla-credits",
        &[
            ("tenant_id", &ds),
            ("month", "2026-02"),
            ("description", &format!("{P} {MD}")),
            ("affected_dates", P),
        ],
    )
    .await;
    let claim: i64 = s::sla_credit_claims::table
        .select(s::sla_credit_claims::id)
        .first(&mut *app.conn())
        .expect("the claim was recorded");
    post_ok(&admin, &format!("/admin/sla-credits/{claim}/approve"), &[("amount", "12.00"), ("reason", P)])
        .await;

    // Metering: metrics, a plan, an ingest key, a cap; events with hostile properties.
    for (key, agg, prop) in [("evil_count", "count", ""), ("evil_staff", "unique_count", "user_id")] {
        post_ok(
            &admin,
            "/admin/usage/metrics",
            &[
                ("key", key),
                ("name", P),
                ("unit", P),
                ("aggregation", agg),
                ("property", prop),
                ("window_days", "30"),
            ],
        )
        .await;
    }
    post_ok(
        &admin,
        "/admin/usage/plans",
        &[
            ("key", "evil"),
            ("name", P),
            ("currency", "USD"),
            ("seat_price", "10"),
            ("period", "month"),
            ("features", &format!("{P}, {JS_URL}")),
        ],
    )
    .await;
    let plan: i64 =
        s::plans::table.select(s::plans::id).order(s::plans::id.desc()).first(&mut *app.conn()).unwrap();
    post_ok(&admin, "/usage/plan", &[("tenant_id", &ds), ("plan_id", &plan.to_string()), ("seats", "100")])
        .await;
    let r = post_ok(&admin, "/admin/usage/keys", &[("name", P)]).await;
    let key = {
        let i = r.body.find("keel_ik_").expect("the new key is shown once");
        r.body[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>()
    };
    let metric: i64 = s::metrics::table
        .filter(s::metrics::key.eq("evil_count"))
        .select(s::metrics::id)
        .first(&mut *app.conn())
        .unwrap();
    post_ok(
        &dadmin,
        "/usage/caps",
        &[("tenant_id", &ds), ("metric_id", &metric.to_string()), ("limit", "2"), ("enforcement", "hard")],
    )
    .await;
    let at = (app.state.now() - chrono::Duration::minutes(5)).to_rfc3339();
    let events = json!([
        {"idempotency_key": "x1", "tenant": s_slug, "metric": "evil_count", "timestamp": at,
         "properties": {"role": P, "user_id": P, P: P}},
        {"idempotency_key": "x2", "tenant": s_slug, "metric": "evil_count", "timestamp": at,
         "properties": {"role": SHORT}},
        {"idempotency_key": "x3", "tenant": d_slug, "metric": "evil_count", "timestamp": at},
        {"idempotency_key": "x4", "tenant": s_slug, "metric": "evil_staff", "timestamp": at,
         "properties": {"role": P, "user_id": P}},
        {"idempotency_key": P, "tenant": P, "metric": "evil_count", "timestamp": at},
        {"idempotency_key": "x6", "tenant": s_slug, "metric": P, "timestamp": at},
        {"idempotency_key": "x7", "tenant": s_slug, "metric": "evil_count", "timestamp": P},
    ]);
    let r = anon
        .send(
            TestRequest::post()
                .uri("/api/v1/events")
                .insert_header(("authorization", format!("Bearer {key}")))
                .insert_header(("content-type", "application/json"))
                .set_payload(events.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("the API answers JSON");
    assert_eq!(v["accepted"].as_i64(), Some(4), "{v}");
    // A suspended district's user files a request through the signed support link.
    post_ok(
        &admin,
        "/admin/tenants",
        &[("kind", "district"), ("name", P), ("slug", "EVIL-SUSPENDED"), ("time_zone", "America/Chicago")],
    )
    .await;
    let suspended = tenant_named(app, "EVIL-SUSPENDED");
    let (email, pw) = app.user(Role::DistrictAdmin, Some(suspended));
    post_ok(&admin, &format!("/admin/tenants/{suspended}/status"), &[("status", "suspended")]).await;
    {
        let c = app.client().await;
        let r = c.login(&email, &pw).await;
        let i = r.body.find("/support/suspended?pass=").expect("a support link");
        let link: String = r.body[i..].split('"').next().unwrap().replace("&amp;", "&");
        let page = c.get(&link).await;
        let token = csrf_from(&page.body);
        let pass = link.trim_start_matches("/support/suspended?pass=").to_string();
        let (subject, description) = (P.to_string(), format!("{P} {MD}"));
        let r = c
            .send(TestRequest::post().uri("/support/suspended").set_form([
                ("pass", pass.as_str()),
                ("csrf_token", token.as_str()),
                ("category", "billing"),
                ("severity", "P2"),
                ("subject", subject.as_str()),
                ("description", description.as_str()),
            ]))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", field_errors(&r.body));
    }
    // Links with live tokens, for the crawl.
    let page = anon.get("/forgot").await;
    let token = csrf_from(&page.body);
    let r = anon
        .send(
            TestRequest::post()
                .uri("/forgot")
                .set_form([("email", staff_email.as_str()), ("csrf_token", token.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", field_errors(&r.body));
    let second = evil_email("ap2");
    post_ok(
        &buyer,
        "/billing/contacts",
        &[("tenant_id", &ds), ("contact_name", P), ("contact_email", &second), ("role", "procurement")],
    )
    .await;
    app.run_jobs().await;
    let live_links = vec![
        link_in_mail(app, &evil_email("pending"), "/invite/"),
        link_in_mail(app, &staff_email, "/reset/"),
        link_in_mail(app, &second, "/billing/contacts/verify/"),
    ];
    // The test email (it has an HTML part).
    post_ok(&admin, "/admin/emails/test", &[("to", &evil_email("test"))]).await;
    for _ in 0..3 {
        app.run_jobs().await;
    }
    World { d, s, admin, agent, dadmin, auditor, buyer, head, staff, anon, manage, live_links, invoices }
}

/// A small valid PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
/// The first bytes of a PNG.
const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];

/// Every GET route mounted in the source (the route matrix's parser), and the v2 API paths
/// mounted in a loop.
fn get_routes() -> Vec<String> {
    let mut out: BTreeSet<String> =
        crate::matrix::mounted_routes().into_iter().filter(|(m, _)| m == "get").map(|(_, p)| p).collect();
    out.extend(crate::matrix::LOOP_MOUNTED.iter().map(|p| p.to_string()));
    out.into_iter().collect()
}

/// The concrete paths for a route pattern: every stored record for `{id}`-like placeholders.
fn expand(app: &TestApp, w: &World, pattern: &str) -> Vec<String> {
    let mut conn = app.conn();
    let c = &mut *conn;
    let all = |v: Vec<i64>| v.into_iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let (placeholder, values): (&str, Vec<String>) = match pattern {
        p if !p.contains('{') => return vec![p.to_string()],
        "/static/{path:.*}" => ("{path:.*}", vec!["css/keel.css".into(), "js/keel.js".into()]),
        "/invite/{token}" | "/reset/{token}" | "/billing/contacts/verify/{token}" => {
            let prefix = pattern.trim_end_matches("{token}");
            let mut v: Vec<String> = vec!["x".into(), "1-deadbeef".into()];
            v.extend(w.live_links.iter().filter_map(|l| l.strip_prefix(prefix)).map(str::to_string));
            ("{token}", v)
        }
        "/status/subscriptions/{token}" => (
            "{token}",
            vec![w.manage.trim_start_matches("/status/subscriptions/").to_string(), "1-0000".into()],
        ),
        "/admin/jobs/{id}" => ("{id}", all(s::jobs::table.select(s::jobs::id).load(c).unwrap())),
        "/admin/emails/{id}" => {
            ("{id}", all(s::outbound_emails::table.select(s::outbound_emails::id).load(c).unwrap()))
        }
        "/admin/tenants/{id}" | "/admin/tenants/{id}/billing" => {
            ("{id}", all(s::tenants::table.select(s::tenants::id).load(c).unwrap()))
        }
        "/admin/users/{id}" => ("{id}", all(s::users::table.select(s::users::id).load(c).unwrap())),
        "/status/incidents/{code}" => {
            ("{code}", s::incidents::table.select(s::incidents::code).load(c).unwrap())
        }
        "/admin/status/incidents/{id}" => {
            ("{id}", all(s::incidents::table.select(s::incidents::id).load(c).unwrap()))
        }
        "/status/uptime/{component}" | "/status/badge/{component}.svg" => (
            "{component}",
            s::status_components::table.select(s::status_components::public_id).load(c).unwrap(),
        ),
        "/reliability/statements/{id}.pdf" | "/reliability/statements/{id}.csv" => {
            ("{id}", all(s::sla_statements::table.select(s::sla_statements::id).load(c).unwrap()))
        }
        "/admin/invoices/{id}" | "/billing/invoices/{id}.pdf" => {
            ("{id}", all(s::invoices::table.select(s::invoices::id).load(c).unwrap()))
        }
        "/billing/po-documents/{id}.pdf" => {
            ("{id}", all(s::po_documents::table.select(s::po_documents::id).load(c).unwrap()))
        }
        "/help/{name}" => ("{name}", vec!["procurement-quick-start".into(), "nope".into()]),
        "/help/img/{file}" => ("{file}", vec!["procurement-profile.png".into()]),
        "/admin/support/tiers/{id}" => {
            ("{id}", all(s::sla_tiers::table.select(s::sla_tiers::id).load(c).unwrap()))
        }
        "/support/requests/{id}" | "/support/requests/{id}/attachment" | "/admin/support/requests/{id}" => {
            ("{id}", all(s::support_requests::table.select(s::support_requests::id).load(c).unwrap()))
        }
        "/admin/sla-credits/{id}" => {
            ("{id}", all(s::sla_credit_claims::table.select(s::sla_credit_claims::id).load(c).unwrap()))
        }
        "/support/disputes/{id}/document" | "/admin/disputes/{id}" => {
            ("{id}", all(s::invoice_disputes::table.select(s::invoice_disputes::id).load(c).unwrap()))
        }
        other => panic!("hostile.rs: say how to fill {other} (a new GET route)"),
    };
    values.into_iter().map(|v| pattern.replace(placeholder, &v)).collect()
}

/// Pages that take a tenant, school, invoice or format in the query.
fn with_queries(w: &World) -> Vec<String> {
    let (d, s) = (w.d, w.s);
    let i = w.invoices[0];
    let mut v: Vec<String> = [
        "/audit?tenant={d}",
        "/audit.csv?tenant={d}",
        "/usage?tenant={d}",
        "/usage?tenant={s}",
        "/usage/caps?tenant={d}",
        "/district/members?tenant={s}",
        "/district/rollups?format=csv",
        "/support?tenant={s}",
        "/support?tenant={d}",
        "/support/new?tenant={s}",
        "/billing?tenant={d}",
        "/billing/invoices?tenant={d}",
        "/billing/invoices?format=csv",
        "/admin/invoices?format=csv",
        "/support/disputes/new?invoice={i}",
        "/reliability?tenant={d}",
        "/support/sla-credits?tenant={d}&month=2026-02",
        "/admin/users?q=svg",
        "/admin/support?breached=1",
    ]
    .iter()
    .map(|p| p.replace("{d}", &d.to_string()).replace("{s}", &s.to_string()).replace("{i}", &i.to_string()))
    .collect();
    v.push(format!("/district/rollups?school={s}&role={}", urlencode(P)));
    v
}

fn urlencode(v: &str) -> String {
    serde_urlencoded::to_string([("x", v)]).unwrap().trim_start_matches("x=").to_string()
}

/// A query string that sets every parameter a page might echo to the payload.
fn reflected_query() -> String {
    let names = [
        "q", "tenant", "next", "status", "school", "role", "month", "year", "page", "from", "to", "kind",
        "action", "actor", "metric", "invoice", "pass", "range", "period", "days", "tier", "severity",
        "assignee", "breached", "overdue", "district",
    ];
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, P)).collect();
    serde_urlencoded::to_string(pairs).unwrap()
}

fn content_type(r: &Resp) -> String {
    r.header("content-type").unwrap_or_default()
}

/// Text of a PDF through `pdftotext` (None when poppler is missing).
fn pdf_text(bytes: &[u8]) -> Option<Result<String, String>> {
    std::process::Command::new("pdftotext").arg("-v").output().ok()?;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

/// Checks one response of the crawl by its content type.
fn check_response(t: &mut Tally, what: &str, r: &Resp) {
    if r.status.is_server_error() {
        t.fail(format!("{what}: {}", r.status));
        return;
    }
    let ct = content_type(r);
    if ct.starts_with("text/html") {
        t.html(what, &r.body);
    } else if ct.starts_with("application/json") {
        match serde_json::from_str::<Value>(&r.body) {
            Ok(_) => t.other_docs += 1,
            Err(e) => t.fail(format!("{what}: invalid JSON ({e})")),
        }
        if r.body.contains(BIDI) {
            t.fail(format!("{what}: raw bidi control in JSON"));
        }
    } else if ct.starts_with("application/atom+xml") || ct.starts_with("application/rss+xml") {
        check_feed(t, what, &r.body);
    } else if ct.starts_with("image/svg+xml") {
        if let Err(e) = roxmltree::Document::parse(&r.body) {
            t.fail(format!("{what}: SVG is not well-formed ({e})"));
        }
        for bad in RAW {
            if r.body.to_ascii_lowercase().contains(bad) {
                t.fail(format!("{what}: unescaped {bad:?} in SVG"));
            }
        }
        t.other_docs += 1;
    } else if ct.starts_with("text/calendar") {
        let unfolded = r.body.replace("\r\n ", "");
        for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
            let name_ok = line.split([':', ';']).next().is_some_and(|n| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            });
            if !name_ok {
                t.fail(format!("{what}: a line that is not a property (injected line break?): {line:?}"));
            }
        }
        t.other_docs += 1;
    } else if ct.starts_with("text/csv") {
        for cell in r.body.split(['\n', ',']) {
            let cell = cell.trim_start_matches('"');
            if cell.starts_with(['=', '+', '@']) {
                t.fail(format!("{what}: a CSV cell a spreadsheet would run: {cell:?}"));
            }
        }
        t.other_docs += 1;
    } else if r.status == StatusCode::OK {
        // Files: never sniffed into something active.
        if r.header("x-content-type-options").as_deref() != Some("nosniff") {
            t.fail(format!("{what}: {ct} without nosniff"));
        }
        let ok_type = [
            "application/pdf",
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/octet-stream",
            "text/css",
            "text/javascript",
            "application/javascript",
            "image/x-icon",
            "image/vnd.microsoft.icon",
            "text/plain",
        ]
        .iter()
        .any(|k| ct.starts_with(k));
        if !ok_type {
            t.fail(format!("{what}: unexpected content type {ct}"));
        }
        t.other_docs += 1;
    }
}

/// A feed: well-formed XML, no element injected, the HTML it carries sanitized.
fn check_feed(t: &mut Tally, what: &str, body: &str) {
    let doc = match roxmltree::Document::parse(body) {
        Ok(d) => d,
        Err(e) => {
            t.fail(format!("{what}: feed is not well-formed XML ({e})"));
            return;
        }
    };
    if body.to_ascii_lowercase().contains("<svg") || body.contains("<script") {
        t.fail(format!("{what}: an element was injected into the feed"));
    }
    for n in doc.descendants().filter(|n| n.has_tag_name("content") || n.has_tag_name("description")) {
        let html = n.text().unwrap_or_default();
        t.scan_html(&format!("{what} <{}>", n.tag_name().name()), html);
    }
    if body.contains(BIDI) {
        t.fail(format!("{what}: raw bidi control in the feed"));
    }
    t.other_docs += 1;
}

/// GETs every GET route as `c`; returns the number of requests.
async fn crawl(app: &TestApp, w: &World, who: &str, c: &Client, t: &mut Tally, reflect: bool) -> usize {
    let mut paths: Vec<String> = Vec::new();
    for pattern in get_routes() {
        paths.extend(expand(app, w, &pattern));
    }
    paths.extend(with_queries(w));
    let mut n = 0;
    for path in &paths {
        let r = c.get(path).await;
        n += 1;
        check_response(t, &format!("{who} GET {path} ({})", r.status), &r);
        if reflect && !path.contains('?') && content_type(&r).starts_with("text/html") {
            let q = format!("{path}?{}", reflected_query());
            let r = c.get(&q).await;
            n += 1;
            check_response(t, &format!("{who} GET {path}?<payloads> ({})", r.status), &r);
        }
    }
    n
}

/// Every email in the outbox and every one delivered: headers without line breaks, HTML parts
/// escaped, no bidi controls in subjects or bodies.
fn check_mail(app: &TestApp, t: &mut Tally) -> usize {
    let rows = keel::notify::store::list(&mut app.conn(), None, 0, 10_000).unwrap().0;
    for e in &rows {
        let what = format!("email #{} {:?}", e.id, e.subject);
        if e.subject.contains(['\r', '\n']) || e.to_addr.contains(['\r', '\n']) {
            t.fail(format!("{what}: a line break in a header"));
        }
        match serde_json::from_str::<BTreeMap<String, String>>(&e.headers) {
            Ok(h) => {
                if h.iter().any(|(k, v)| k.contains(['\r', '\n']) || v.contains(['\r', '\n'])) {
                    t.fail(format!("{what}: a line break in an extra header"));
                }
            }
            Err(_) if e.headers.trim().is_empty() || e.headers == "{}" || e.headers == "[]" => {}
            Err(_) => {
                let v: Value = serde_json::from_str(&e.headers).unwrap_or(Value::Null);
                if v.to_string().contains("\\r") || v.to_string().contains("\\n") {
                    t.fail(format!("{what}: a line break in an extra header"));
                }
            }
        }
        if let Some(html) = &e.html_body {
            t.scan_html(&format!("{what} (HTML part)"), html);
        }
        if e.subject.contains(BIDI) || e.text_body.contains(BIDI) {
            t.fail(format!("{what}: raw bidi control in the subject or text"));
        }
    }
    for m in app.sent_mail() {
        if m.subject.contains(['\r', '\n']) || m.to.contains(['\r', '\n']) {
            t.fail(format!("delivered email {:?}: a line break in a header", m.subject));
        }
    }
    rows.len()
}

/// Every stored PDF (invoices, voided copies, SLA statements) opens and shows the payload as text.
async fn check_pdfs(app: &TestApp, t: &mut Tally) -> usize {
    let mut hashes: Vec<(String, String)> = Vec::new();
    let inv: Vec<(i64, Option<String>, Option<String>)> = s::invoices::table
        .select((s::invoices::id, s::invoices::pdf_sha256, s::invoices::void_pdf_sha256))
        .load(&mut *app.conn())
        .unwrap();
    for (id, a, b) in inv {
        hashes.extend(a.map(|h| (format!("invoice {id}"), h)));
        hashes.extend(b.map(|h| (format!("voided invoice {id}"), h)));
    }
    let st: Vec<(i64, String)> = s::sla_statements::table
        .select((s::sla_statements::id, s::sla_statements::pdf_sha256))
        .load(&mut *app.conn())
        .unwrap();
    hashes.extend(st.into_iter().map(|(id, h)| (format!("SLA statement {id}"), h)));
    assert!(hashes.len() >= 4, "two invoices, a voided copy and a statement: {hashes:?}");
    for (what, h) in &hashes {
        let bytes = app.state.files().get(h).await.unwrap();
        if !bytes.starts_with(b"%PDF-") {
            t.fail(format!("{what}: not a PDF"));
            continue;
        }
        match pdf_text(&bytes) {
            None => {}
            Some(Err(e)) => t.fail(format!("{what}: pdftotext fails: {e}")),
            Some(Ok(text)) => {
                if !text.contains("<svg onload=alert()>") {
                    t.fail(format!("{what}: the payload is not printed as text:\n{text}"));
                }
                if text.contains(BIDI) {
                    t.fail(format!("{what}: a bidi control is printed"));
                }
            }
        }
        t.other_docs += 1;
    }
    hashes.len()
}

/// Every field name the forms use (from `templates/`), each set to the payload.
const FIELDS: &[&str] = &[
    "action",
    "actor",
    "address",
    "address_line1",
    "address_line2",
    "affected_dates",
    "aggregation",
    "amount",
    "assignee",
    "back",
    "body",
    "body_contains",
    "category",
    "city",
    "closes",
    "confirm",
    "contact_email",
    "contact_name",
    "contact_phone",
    "correct",
    "cost_centre",
    "country",
    "credit_schedule",
    "currency",
    "decision",
    "default_currency",
    "default_terms_days",
    "description",
    "draft",
    "due_date",
    "email",
    "enforcement",
    "expect",
    "features",
    "from",
    "holidays",
    "impact",
    "interval_seconds",
    "invoice_footer",
    "issue_date",
    "key",
    "kind",
    "legal_name",
    "limit",
    "method",
    "mode",
    "month",
    "name",
    "next",
    "notes",
    "notify",
    "number_prefix",
    "opens",
    "period",
    "po_amount",
    "po_expires",
    "po_number",
    "postal_code",
    "property",
    "publish",
    "quantity",
    "reason",
    "reference",
    "region",
    "reject_reason",
    "remit_to",
    "renewal_date",
    "renewal_lead_days",
    "resolved_at",
    "role",
    "routing_email",
    "schedule",
    "scheduled_for",
    "scheduled_until",
    "seat_price",
    "seats",
    "severity",
    "slug",
    "started_at",
    "status",
    "subject",
    "support_email",
    "support_phone",
    "tax_exempt_note",
    "tax_id",
    "tax_rate",
    "terms_days",
    "then",
    "time_zone",
    "to",
    "unit",
    "unit_price",
    "upload_po_number",
    "uptime_commitment",
    "url",
    "window_days",
    "working_days",
    "year",
];

/// Submits every form with every field set to the payload (ids kept valid): the pages that come
/// back (mostly forms re-rendered with messages and the input kept) show it escaped.
async fn hostile_forms(app: &TestApp, w: &World, t: &mut Tally) -> usize {
    let one = |q: Result<i64, diesel::result::Error>| q.map(|i| i.to_string()).unwrap_or_default();
    let mut c = app.conn();
    let draft = one(s::invoices::table
        .filter(s::invoices::status.eq("draft"))
        .select(s::invoices::id)
        .first(&mut *c));
    let inc = one(s::incidents::table.select(s::incidents::id).first(&mut *c));
    let tier =
        one(s::sla_tiers::table.select(s::sla_tiers::id).order(s::sla_tiers::id.desc()).first(&mut *c));
    let req = one(s::support_requests::table.select(s::support_requests::id).first(&mut *c));
    let metric = one(s::metrics::table.select(s::metrics::id).first(&mut *c));
    let comp = one(s::status_components::table.select(s::status_components::id).first(&mut *c));
    drop(c);
    let (d, sc) = (w.d.to_string(), w.s.to_string());
    let ids: Vec<(&str, String)> = vec![
        ("tenant_id", d.clone()),
        ("metric_id", metric),
        ("component_id", comp),
        ("invoice_id", w.invoices[0].to_string()),
        ("parent_id", d.clone()),
        ("tier_id", tier.clone()),
    ];
    let form = |overrides: &[(&str, String)]| -> Vec<(String, String)> {
        FIELDS
            .iter()
            .map(|f| {
                let v = overrides.iter().chain(ids.iter()).find(|(k, _)| k == f).map(|(_, v)| v.clone());
                (f.to_string(), v.unwrap_or_else(|| P.to_string()))
            })
            .collect()
    };
    let admin_forms = [
        "/admin/tenants".to_string(),
        "/admin/users/invite".into(),
        "/admin/status/components".into(),
        "/admin/status/incidents".into(),
        format!("/admin/status/incidents/{inc}/updates"),
        format!("/admin/status/incidents/{inc}/window"),
        "/admin/status/probes".into(),
        "/admin/billing/settings".into(),
        format!("/admin/invoices/{draft}/lines"),
        format!("/admin/invoices/{draft}/details"),
        "/admin/support/tiers".into(),
        format!("/admin/support/tiers/{tier}"),
        format!("/admin/support/tiers/{tier}/holidays"),
        "/admin/usage/metrics".into(),
        "/admin/usage/plans".into(),
        "/admin/emails/test".into(),
        format!("/admin/support/requests/{req}/message"),
    ];
    let tenant_forms = [
        "/billing",
        "/billing/contacts",
        "/district/members/invite",
        "/usage/caps",
        "/support/sla-credits",
        "/reliability/statements",
    ];
    let mut n = 0;
    let mut look = |t: &mut Tally, what: String, r: Resp| {
        n += 1;
        check_response(t, &what, &r);
    };
    for path in &admin_forms {
        let f = form(&[]);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = w.admin.post(path, &pairs).await;
        look(t, format!("admin POST {path} <payloads> ({})", r.status), r);
    }
    for path in tenant_forms {
        let f = form(&[]);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (who, c) in [("district admin", &w.dadmin), ("procurement", &w.buyer)] {
            let r = c.post(path, &pairs).await;
            look(t, format!("{who} POST {path} <payloads> ({})", r.status), r);
        }
    }
    for (path, tenant) in
        [("/support/new", &sc), ("/support/disputes/new", &d), ("/billing/po-documents", &d)]
    {
        let f = form(&[("tenant_id", tenant.clone())]);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = w.buyer.post_multipart(path, &pairs, None).await;
        look(t, format!("procurement POST {path} <payloads> ({})", r.status), r);
    }
    let r = w.staff.post(&format!("/support/requests/{req}/reply"), &[("body", "")]).await;
    look(t, format!("staff POST reply ({})", r.status), r);
    // Public forms.
    for path in ["/status/subscribe", "/forgot", "/login"] {
        let c = app.client().await;
        let page = c.get(path).await;
        let token = csrf_from(&page.body);
        let mut f = form(&[]);
        f.push(("csrf_token".into(), token));
        f.push(("password".into(), P.into()));
        let mut r = c.send(TestRequest::post().uri(path).set_form(&f)).await;
        // A refused form shows visitors what they typed, bidi controls included: only they see
        // it (the token ties the form to their browser), and nothing of it is stored.
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        r.body.retain(|c| !BIDI.contains(&c));
        look(t, format!("anonymous POST {path} <payloads> ({})", r.status), r);
    }
    n
}

both_backends!(xss_payloads_come_back_escaped_everywhere, |app| {
    let started = std::time::Instant::now();
    let w = seed(&app).await;
    let seeded = started.elapsed();
    let mut t = Tally::default();
    let mut requests = 0;
    let clients: [(&str, &Client, bool); 8] = [
        ("anonymous", &w.anon, true),
        ("platform admin", &w.admin, true),
        ("support agent", &w.agent, false),
        ("district admin", &w.dadmin, true),
        ("auditor", &w.auditor, false),
        ("procurement", &w.buyer, false),
        ("school admin", &w.head, false),
        ("staff", &w.staff, false),
    ];
    for (who, c, reflect) in clients {
        requests += crawl(&app, &w, who, c, &mut t, reflect).await;
    }
    let forms = hostile_forms(&app, &w, &mut t).await;
    let mails = check_mail(&app, &mut t);
    let pdfs = check_pdfs(&app, &mut t).await;
    // The payloads did reach the pages they were typed for (escaped), so the checks above saw them.
    for (c, path) in [
        (&w.admin, format!("/admin/tenants/{}", w.d)),
        (&w.admin, "/admin/users".to_string()),
        (&w.admin, format!("/admin/invoices/{}", w.invoices[0])),
        (&w.buyer, format!("/billing?tenant={}", w.d)),
        (&w.buyer, "/billing/invoices".to_string()),
        (&w.dadmin, "/district/members".to_string()),
        (&w.staff, "/support/requests".to_string()),
        (&w.agent, "/admin/support".to_string()),
        (&w.anon, "/status".to_string()),
        (&w.admin, "/admin/usage/metrics".to_string()),
        (&w.admin, "/admin/usage/plans".to_string()),
        (&w.admin, "/admin/usage/rejected".to_string()),
        (&w.admin, "/admin/support/tiers".to_string()),
    ] {
        let r = c.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            r.body.contains("&lt;svg onload") || r.body.contains("&#60;svg onload"),
            "{path} shows the payload escaped: {}",
            excerpt(&r.body)
        );
    }
    // The JSON API and the feeds carry the text itself (JSON- and XML-escaped, bidi controls gone).
    let plain: String = P.chars().filter(|c| !BIDI.contains(c)).collect();
    let v: Value = serde_json::from_str(&w.anon.get("/api/v2/incidents.json").await.body).unwrap();
    let names: Vec<&str> =
        v["incidents"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert!(names.contains(&plain.as_str()), "{names:?}");
    let atom = w.anon.get("/history.atom").await.body;
    let doc = roxmltree::Document::parse(&atom).unwrap();
    let titles: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("title")).filter_map(|n| n.text()).collect();
    assert!(titles.iter().any(|t| t.contains(&plain)), "{titles:?}");
    let csv = w.admin.get("/audit.csv").await.body;
    assert!(
        csv.to_ascii_lowercase().contains("'=hyperlink"),
        "the formula is neutralised in the CSV export: {csv}"
    );
    // Hostile paths: no file outside the assets is served.
    for path in [
        "/static/../Cargo.toml",
        "/static/..%2f..%2fCargo.toml",
        "/static/%2e%2e/%2e%2e/Cargo.toml",
        "/static/css/..%5c..%5c..%5cCargo.toml",
        "/help/img/..%2f..%2fCargo.toml",
        "/help/..%2f..%2fREADME",
        "/help/img/%2e%2e%2fsecurity.md",
    ] {
        let r = w.admin.get(path).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        assert!(!r.body.contains("[package]") && !r.body.contains("# Keel security model"), "{path}");
    }
    t.assert_clean("hostile text");
    println!(
        "hostile text ({:?}): seeded in {seeded:?}; {requests} GETs by 8 principals: {} HTML pages, {} other \
         documents; {forms} forms submitted with payloads; {mails} emails, {pdfs} PDFs; {} payload occurrences, all escaped; {:?} in all",
        app.backend,
        t.html_pages,
        t.other_docs,
        t.escaped,
        started.elapsed()
    );
});

/// Files below the data directory (the database files aside).
fn data_files(app: &TestApp) -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("keel.db")) {
                out.insert(p.display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(app.db.dir.path(), &mut out);
    out
}

/// One upload route: where it is, as whom, its fields and file field, and how to count what it stores.
struct Upload<'a> {
    path: &'static str,
    who: &'a Client,
    fields: Vec<(&'static str, String)>,
    file_field: &'static str,
    limit: usize,
    /// The first bytes of a file it accepts.
    good: Vec<u8>,
    /// Rows it has stored.
    stored: Box<dyn Fn() -> i64 + 'a>,
    /// The download path and stored name of the newest upload.
    newest: Box<dyn Fn() -> Option<(String, String)> + 'a>,
    /// An accepted upload opened a dispute: reject it to make room for the next (one per invoice).
    resolve_disputes: bool,
}

/// A small real PNG (10 × 10, opaque).
fn png() -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(10, 10, image::Rgba([11, 87, 208, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(img).write_to(&mut out, image::ImageOutputFormat::Png).unwrap();
    out
}

/// A JPEG of 8 × 8 pixels whose header claims 65,500 × 65,500 (decoding would allocate 12 GB).
fn jpeg_bomb() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
    let mut jpg = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut jpg, image::ImageOutputFormat::Jpeg(90)).unwrap();
    // SOF0: FF C0, length (2), precision (1), height (2), width (2).
    let i = jpg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpg[i + 5..i + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
    jpg
}

/// A PNG of 10 × 10 pixels whose header claims 60,000 × 60,000 (with a valid checksum).
fn png_bomb() -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut p = png();
    // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ... CRC after 13 bytes.
    p[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
    let crc = crc32(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    p
}

both_backends!(hostile_uploads_are_refused_beside_the_field_and_nothing_is_stored, |app| {
    let d = app.tenant("district", None, "Lincoln Public Schools");
    crate::billing::profile_for(&app, d);
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let buyer = app.signed_in(Role::Procurement, Some(d)).await;
    let boss = app.signed_in(Role::DistrictAdmin, Some(d)).await;
    // An issued invoice to dispute.
    let path = admin.post("/admin/invoices", &[("tenant_id", &d.to_string())]).await.location();
    post_ok(
        &admin,
        &format!("{path}/lines"),
        &[("description", "Licences"), ("kind", "license"), ("quantity", "10"), ("unit_price", "38.80")],
    )
    .await;
    assert_eq!(admin.post(&format!("{path}/issue"), &[]).await.status, StatusCode::SEE_OTHER);
    let invoice: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let ds = d.to_string();
    let conn = || app.conn();
    let po = Upload {
        path: "/billing/po-documents",
        who: &buyer,
        fields: vec![("tenant_id", ds.clone()), ("upload_po_number", "PO-2026-0412".into())],
        file_field: "file",
        limit: keel::billing::po::MAX_BYTES,
        good: PDF.to_vec(),
        stored: Box::new(|| s::po_documents::table.count().get_result(&mut *conn()).unwrap()),
        newest: Box::new(|| {
            s::po_documents::table
                .order(s::po_documents::id.desc())
                .select((s::po_documents::id, s::po_documents::filename))
                .first::<(i64, String)>(&mut *conn())
                .ok()
                .map(|(id, n)| (format!("/billing/po-documents/{id}.pdf"), n))
        }),
        resolve_disputes: false,
    };
    let support = Upload {
        path: "/support/new",
        who: &boss,
        fields: vec![
            ("tenant_id", ds.clone()),
            ("category", "recording".into()),
            ("severity", "P3".into()),
            ("subject", "Recording fails".into()),
            ("description", "Every teacher gets an error when starting a recording.".into()),
        ],
        file_field: "attachment",
        limit: keel::support::pages::MAX_ATTACHMENT,
        good: PDF.to_vec(),
        stored: Box::new(|| s::support_requests::table.count().get_result(&mut *conn()).unwrap()),
        newest: Box::new(|| {
            s::support_requests::table
                .order(s::support_requests::id.desc())
                .select((s::support_requests::id, s::support_requests::attachment_name))
                .first::<(i64, Option<String>)>(&mut *conn())
                .ok()
                .and_then(|(id, n)| Some((format!("/support/requests/{id}/attachment"), n?)))
        }),
        resolve_disputes: false,
    };
    let dispute = Upload {
        path: "/support/disputes/new",
        who: &buyer,
        fields: vec![
            ("invoice_id", invoice.to_string()),
            ("category", "amount".into()),
            ("description", "Our PO covers 8 licences, the invoice bills 10.".into()),
        ],
        file_field: "document",
        limit: keel::support::pages::MAX_ATTACHMENT,
        good: PDF.to_vec(),
        stored: Box::new(|| s::invoice_disputes::table.count().get_result(&mut *conn()).unwrap()),
        newest: Box::new(|| {
            s::invoice_disputes::table
                .order(s::invoice_disputes::id.desc())
                .select((s::invoice_disputes::id, s::invoice_disputes::document_name))
                .first::<(i64, Option<String>)>(&mut *conn())
                .ok()
                .and_then(|(id, n)| Some((format!("/support/disputes/{id}/document"), n?)))
        }),
        resolve_disputes: true,
    };
    let logo = Upload {
        path: "/admin/billing/settings/logo",
        who: &admin,
        fields: vec![],
        file_field: "logo",
        limit: keel::billing::profile::LOGO_MAX_BYTES,
        good: png(),
        stored: Box::new(|| {
            let h: Option<String> = s::vendor_settings::table
                .select(s::vendor_settings::logo_sha256)
                .first(&mut *conn())
                .unwrap_or(None);
            i64::from(h.is_some())
        }),
        newest: Box::new(|| None),
        resolve_disputes: false,
    };
    let html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>".to_vec();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff this program cannot be run".to_vec();
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00 a docx or a zip bomb".to_vec();
    let mut refused_cases = 0;
    let mut accepted_cases = 0;
    let mut unreadable = 0;
    for u in [&po, &support, &dispute, &logo] {
        let fields: Vec<(&str, &str)> = u.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ext = if u.good.starts_with(b"%PDF") { "pdf" } else { "png" };
        let over = [u.good.clone(), vec![b' '; u.limit + 1 - u.good.len()]].concat();
        assert_eq!(over.len(), u.limit + 1);
        // Refused: a message beside the file field, the form again, nothing stored.
        let refused: Vec<(&str, String, Vec<u8>)> = vec![
            ("wrong magic bytes", format!("invoice.{ext}"), exe.clone()),
            ("a zip", format!("po.{ext}"), zip.clone()),
            ("HTML", format!("page.{ext}"), html.clone()),
            ("SVG with a script", format!("image.{ext}"), svg.clone()),
            ("0 bytes", format!("empty.{ext}"), Vec::new()),
            ("limit + 1 byte", format!("big.{ext}"), over),
        ];
        let mut refused = refused;
        if u.path == "/admin/billing/settings/logo" {
            refused.push(("a JPEG claiming 65,500 × 65,500 pixels", "bomb.jpg".into(), jpeg_bomb()));
            refused.push(("a PNG claiming 60,000 × 60,000 pixels", "bomb.png".into(), png_bomb()));
        }
        for (case, name, bytes) in refused {
            let before = ((u.stored)(), data_files(&app));
            let started = std::time::Instant::now();
            let r = u.who.post_multipart(u.path, &fields, Some((u.file_field, &name, &bytes))).await;
            let what = format!("POST {} with {case}", u.path);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{what}: took {:?}",
                started.elapsed()
            );
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", excerpt(&r.body));
            let marker = format!("<p class=\"field-error\" id=\"field-{}-error\">", u.file_field);
            assert!(
                r.body.contains(&marker),
                "{what}: no message beside the file field\n{}",
                field_errors(&r.body)
            );
            assert!(r.header("set-cookie").is_none_or(|c| !c.contains("x=y")), "{what}");
            assert_eq!(((u.stored)(), data_files(&app)), before, "{what}: something was stored");
            if !bytes.is_empty() {
                let hash = keel::web::token::sha256_hex(&bytes);
                assert!(!app.state.files().exists(&hash).await, "{what}: the file was stored");
            }
            refused_cases += 1;
        }
        // Polyglots: what passes the sniffer is stored under a safe name and served as a download
        // of its sniffed type that the browser may not reinterpret.
        let mut polyglots: Vec<(String, Vec<u8>)> =
            vec![(format!("poly.{ext}"), [u.good.clone(), html.clone()].concat())];
        if u.path == "/support/new" {
            polyglots.push(("gifar.gif".into(), [b"GIF89a/*".to_vec(), html.clone()].concat()));
            polyglots.push(("poly.html".into(), [PNG.to_vec(), html.clone()].concat()));
        }
        // Hostile names with good content: stored and sent back sanitized.
        let names: Vec<String> = vec![
            format!("../../etc/passwd.{ext}"),
            format!("..\\..\\windows\\win.ini.{ext}"),
            format!("a\r\nSet-Cookie: x=y.{ext}"),
            format!("a%0D%0ASet-Cookie: x=y.{ext}"),
            format!("{}.{ext}", "A".repeat(5000)),
            format!("<svg onload=alert(1)>\u{202E}gnp.exe.{ext}"),
            format!("x\"; filename*=UTF-8''evil.html.{ext}"),
        ];
        let cases = polyglots.into_iter().chain(names.into_iter().map(|n| (n, u.good.clone())));
        for (name, bytes) in cases {
            let before = (u.stored)();
            let r = u.who.post_multipart(u.path, &fields, Some((u.file_field, &name, &bytes))).await;
            let what = format!("POST {} with {:?}", u.path, name.chars().take(60).collect::<String>());
            assert!(!r.status.is_server_error(), "{what}: {}", r.status);
            assert!(r.header("set-cookie").is_none_or(|c| !c.contains("x=y")), "{what}: header injection");
            if name.contains('\r') {
                // Browsers send a line break in a file name as %0D%0A (the next case): a raw one
                // ends the part's header early, so the body is not valid multipart. It is refused
                // as unreadable, with nothing stored.
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}");
                assert!(r.body.contains("The form could not be read"), "{what}: {}", excerpt(&r.body));
                assert_eq!((u.stored)(), before, "{what}");
                unreadable += 1;
                continue;
            }
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: {}", field_errors(&r.body));
            accepted_cases += 1;
            assert_eq!(
                (u.stored)(),
                before + i64::from(u.path != "/admin/billing/settings/logo" || before == 0)
            );
            if let Some((download, stored)) = (u.newest)() {
                let safe = !stored.is_empty()
                    && stored.len() <= 100
                    && !stored.contains("..")
                    && stored
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '));
                assert!(safe, "{what}: stored as {stored:?}");
                let dl = u.who.get(&download).await;
                assert_eq!(dl.status, StatusCode::OK, "{what}: {download}");
                assert_eq!(
                    dl.header("content-disposition").as_deref(),
                    Some(format!("attachment; filename=\"{stored}\"").as_str()),
                    "{what}"
                );
                assert_eq!(dl.header("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
                let ct = dl.header("content-type").unwrap_or_default();
                assert!(
                    [
                        "application/pdf",
                        "image/png",
                        "image/gif",
                        "image/jpeg",
                        "image/webp",
                        "application/octet-stream"
                    ]
                    .contains(&ct.as_str()),
                    "{what}: served as {ct}"
                );
                assert!(dl.header("set-cookie").is_none_or(|c| !c.contains("x=y")), "{what}");
            } else {
                // The logo: shown on the settings page, served as the image it is.
                let dl = u.who.get("/admin/billing/settings/logo").await;
                assert_eq!(dl.header("content-type").as_deref(), Some("image/png"), "{what}");
                assert_eq!(dl.header("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
            }
            if u.resolve_disputes {
                let id: i64 = s::invoice_disputes::table
                    .order(s::invoice_disputes::id.desc())
                    .select(s::invoice_disputes::id)
                    .first(&mut *app.conn())
                    .unwrap();
                let r = admin
                    .post(
                        &format!("/admin/disputes/{id}/resolve"),
                        &[("decision", "reject"), ("reason", "Test.")],
                    )
                    .await;
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", field_errors(&r.body));
            }
        }
    }
    println!(
        "hostile uploads ({:?}): 4 upload routes, {refused_cases} refused beside the field with nothing \
         stored, {accepted_cases} accepted under safe names and served as attachments, {unreadable} raw CR LF \
         names refused as unreadable (400, nothing stored)",
        app.backend
    );
});

/// What a GET may legitimately write, left out of the fingerprint (each with the reason):
/// - `audit_chain_head`: moves with every audit event; the events themselves are compared.
/// - `audit_events` of action `audit.checkpoint`: downloading a signed checkpoint from
///   `GET /admin/audit/checkpoint` is itself recorded in the trail (who took which head, and
///   when), by design; the test counts these separately.
/// - `users.totp_secret` while two-factor is not on: the first visit to `GET /account/2fa/setup`
///   stores the secret it shows as a QR code (later visits reuse it); it does nothing until a
///   code from it is confirmed by `POST /account/2fa/setup`.
const SKIP_TABLES: &[&str] = &["__diesel_schema_migrations", "audit_chain_head"];

/// The SQL for one column of a fingerprinted row (PostgreSQL and SQLite alike).
fn column_sql(pg: bool, table: &str, col: &str) -> String {
    let quoted = if pg { format!("quote_nullable(\"{col}\"::text)") } else { format!("quote(\"{col}\")") };
    if table == "users" && col == "totp_secret" {
        format!("CASE WHEN totp_enabled THEN {quoted} ELSE 'pending' END")
    } else {
        quoted
    }
}

/// A fingerprint of every table: its row count and the SHA-256 of its rows as text, sorted
/// (so the order rows come back in does not matter), with the exclusions above.
fn db_fingerprint(app: &TestApp) -> BTreeMap<String, (usize, String)> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        r: String,
    }
    fn select(pg: bool, table: &str, cols: &[Name]) -> String {
        let row = cols.iter().map(|c| column_sql(pg, table, &c.name)).collect::<Vec<_>>().join(" || ',' || ");
        let filter = if table == "audit_events" { " WHERE action <> 'audit.checkpoint'" } else { "" };
        format!("SELECT {row} AS r FROM \"{table}\"{filter}")
    }
    let mut conn = app.conn();
    let mut out = BTreeMap::new();
    let mut add = |table: &str, rows: Vec<Row>| {
        let mut rows: Vec<String> = rows.into_iter().map(|r| r.r).collect();
        rows.sort();
        out.insert(table.to_string(), (rows.len(), keel::web::token::sha256_hex(rows.join("\n").as_bytes())));
    };
    match &mut *conn {
        keel::db::DbConn::Pg(c) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
            )
            .load(c)
            .unwrap();
            for t in tables.iter().filter(|t| !SKIP_TABLES.contains(&t.name.as_str())) {
                let cols: Vec<Name> = diesel::sql_query(format!(
                    "SELECT column_name::text AS name FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = '{}' ORDER BY ordinal_position",
                    t.name
                ))
                .load(c)
                .unwrap();
                add(&t.name, diesel::sql_query(select(true, &t.name, &cols)).load(c).unwrap());
            }
        }
        keel::db::DbConn::Sqlite(c) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1",
            )
            .load(c)
            .unwrap();
            for t in tables.iter().filter(|t| !SKIP_TABLES.contains(&t.name.as_str())) {
                let cols: Vec<Name> = diesel::sql_query(format!(
                    "SELECT name FROM pragma_table_info('{}') ORDER BY cid",
                    t.name
                ))
                .load(c)
                .unwrap();
                add(&t.name, diesel::sql_query(select(false, &t.name, &cols)).load(c).unwrap());
            }
        }
    }
    out
}

fn checkpoints(app: &TestApp) -> i64 {
    s::audit_events::table
        .filter(s::audit_events::action.eq("audit.checkpoint"))
        .count()
        .get_result(&mut *app.conn())
        .unwrap()
}

both_backends!(a_crawl_of_every_get_route_changes_nothing, |app| {
    let w = seed(&app).await;
    // Everyone is signed in (signing in writes) before the first fingerprint; the clock stays
    // where it is from here on, so no session is old enough to have its last-seen time touched.
    let clients: [(&str, &Client); 8] = [
        ("anonymous", &w.anon),
        ("platform admin", &w.admin),
        ("support agent", &w.agent),
        ("district admin", &w.dadmin),
        ("auditor", &w.auditor),
        ("procurement", &w.buyer),
        ("school admin", &w.head),
        ("staff", &w.staff),
    ];
    // A session's last-seen time is written at most once a minute: one request each first, so
    // that with the clock fixed none is due during the crawl.
    for (_, c) in &clients {
        c.get("/").await;
    }
    let frozen = app.state.now();
    let before = db_fingerprint(&app);
    let checkpoints_before = checkpoints(&app);
    assert!(before.len() > 30, "{} tables", before.len());
    let mut t = Tally::default();
    let mut requests = 0;
    for (who, c) in clients {
        requests += crawl(&app, &w, who, c, &mut t, true).await;
    }
    assert_eq!(app.state.now(), frozen, "the clock did not move");
    let after = db_fingerprint(&app);
    let changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {} rows before, {:?} after", v.0, after.get(k).map(|a| a.0)))
        .collect();
    assert!(changed.is_empty(), "GET requests wrote to the database:\n{}", changed.join("\n"));
    assert_eq!(before.len(), after.len());
    // The checkpoint download: one audit event, for the platform admin only (others get 404).
    assert_eq!(checkpoints(&app) - checkpoints_before, 1, "one audit event per checkpoint download");
    // The fingerprint does see a change made by a POST.
    post_ok(&w.admin, "/admin/usage/keys", &[("name", "after the crawl")]).await;
    let changed = db_fingerprint(&app);
    assert_ne!(changed.get("ingest_keys"), after.get("ingest_keys"), "a new key changes the fingerprint");
    println!(
        "GET crawl ({:?}): {requests} GETs by 8 principals (with and without hostile query strings), \
         {} tables unchanged",
        app.backend,
        before.len()
    );
});
