//! `keel serve --demo` / `keel demo seed`: a believable vendor with two districts, their
//! schools and a user for every role. Idempotent: a database that already has users is left
//! alone. Each domain adds its own demo data here as it lands.

use chrono::{Duration, NaiveDateTime};

use crate::AppState;
use crate::auth::model::{NewMembership, NewUser};
use crate::auth::{password, store as users};
use crate::db::{DbConn, now_micros, write_tx};
use crate::jobs::{self, NewJob};
use crate::notify::{self, Email};
use crate::tenancy::model::NewTenant;
use crate::tenancy::store as tenants;

/// One demo sign-in, printed once.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// Role label.
    pub role: String,
    /// Where it applies.
    pub scope: String,
    /// Email to sign in with.
    pub email: String,
    /// The generated password.
    pub password: String,
}

/// What seeding did.
#[derive(Debug)]
pub enum Seeded {
    /// Fresh demo data; the sign-ins to print and the demo product's ingest key.
    Created(Vec<DemoLogin>, String),
    /// The database already had users.
    AlreadyPresent,
}

/// (role, email, name, platform role, tenant slug)
type Person = (&'static str, &'static str, &'static str, Option<&'static str>, Option<&'static str>);

struct DistrictSpec {
    name: &'static str,
    slug: &'static str,
    region: &'static str,
    tz: &'static str,
    schools: &'static [(&'static str, &'static str)],
}

const DISTRICTS: [DistrictSpec; 2] = [
    DistrictSpec {
        name: "Lincoln Public Schools",
        slug: "LINCOLN",
        region: "Nebraska",
        tz: "America/Chicago",
        schools: &[
            ("Lincoln High School", "LINCOLN-HS"),
            ("Lincoln East Middle School", "LINCOLN-EAST-MS"),
            ("Prairie Hill Elementary", "PRAIRIE-HILL-ES"),
            ("Roper Elementary", "ROPER-ES"),
            ("Saltillo Elementary", "SALTILLO-ES"),
        ],
    },
    DistrictSpec {
        name: "Riverside Unified School District",
        slug: "RIVERSIDE",
        region: "California",
        tz: "America/Los_Angeles",
        schools: &[
            ("Riverside Polytechnic High", "RIVERSIDE-POLY-HS"),
            ("Arlington High School", "ARLINGTON-HS"),
            ("Jefferson Elementary", "JEFFERSON-ES"),
            ("Washington Middle School", "WASHINGTON-MS"),
        ],
    },
];

/// A readable random password: four groups of four letters/digits (about 82 bits).
fn demo_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let bytes = crate::web::token::random_bytes(16);
    let chars: Vec<char> = bytes.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// Seeds the demo unless the database already has users.
pub fn seed(state: &AppState) -> anyhow::Result<Seeded> {
    let mut conn = state.pool().get()?;
    if users::count_users(&mut conn)? > 0 {
        return Ok(Seeded::AlreadyPresent);
    }
    let now = now_micros(state.now());
    // (role, email, name, platform role, tenant slug, scope label)
    let people: [Person; 9] = [
        ("platform_admin", "avery.chen@keel-vendor.example", "Avery Chen", Some("platform_admin"), None),
        ("support_agent", "sam.okafor@keel-vendor.example", "Sam Okafor", Some("support_agent"), None),
        ("district_admin", "maria.lopez@lincoln.k12.example", "Maria Lopez", None, Some("LINCOLN")),
        ("auditor", "dan.whitfield@lincoln.k12.example", "Dan Whitfield", None, Some("LINCOLN")),
        ("procurement", "priya.raman@lincoln.k12.example", "Priya Raman", None, Some("LINCOLN")),
        ("school_admin", "jordan.kim@lincoln.k12.example", "Jordan Kim", None, Some("LINCOLN-HS")),
        ("staff", "elena.novak@lincoln.k12.example", "Elena Novak", None, Some("LINCOLN-HS")),
        ("district_admin", "grace.park@riverside.k12.example", "Grace Park", None, Some("RIVERSIDE")),
        ("procurement", "luis.moreno@riverside.k12.example", "Luis Moreno", None, Some("RIVERSIDE")),
    ];
    let mut creds: Vec<(usize, String, String)> = Vec::new();
    for i in 0..people.len() {
        let pw = demo_password();
        let hash = password::hash(&pw).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
        creds.push((i, pw, hash));
    }
    let logins =
        write_tx(&mut conn, |c: &mut DbConn| -> Result<(Vec<DemoLogin>, String), diesel::result::Error> {
            crate::status::demo::seed(c, now)?;
            let actor = crate::audit::Actor::system("keel demo seed");
            let ev = |action, id: i64, details| {
                crate::audit::Event::new(action, "tenant", id).tenant(Some(id)).details(details)
            };
            for d in &DISTRICTS {
                let did = tenants::insert(c, &tenant("district", None, d.name, d.slug, d.region, d.tz, now))?;
                crate::audit::record(
                    c,
                    &actor,
                    ev("tenant.create", did, serde_json::json!({"name": d.name, "kind": "district"})),
                    now,
                )?;
                for (name, slug) in d.schools {
                    let sid =
                        tenants::insert(c, &tenant("school", Some(did), name, slug, d.region, d.tz, now))?;
                    crate::audit::record(
                        c,
                        &actor,
                        ev("tenant.create", sid, serde_json::json!({"name": name, "kind": "school"})),
                        now,
                    )?;
                    crate::audit::record(
                        c,
                        &actor,
                        crate::audit::Event::new("tenant.link", "tenant", sid).tenant(Some(did)).details(
                            serde_json::json!({"school_id": sid, "school": name, "district_id": did}),
                        ),
                        now,
                    )?;
                }
            }
            let mut out = Vec::new();
            for (i, pw, hash) in &creds {
                let (role, email, name, platform, tenant_slug) = people[*i];
                let uid = users::insert_user(
                    c,
                    &NewUser {
                        email: email.into(),
                        display_name: name.into(),
                        password_hash: Some(hash.clone()),
                        platform_role: platform.map(str::to_string),
                        status: "active".into(),
                        password_changed_at: Some(now),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                let mut scope = "Keel (internal)".to_string();
                let mut tenant_id = None;
                if let Some(slug) = tenant_slug {
                    let t = tenants::by_slug(c, slug)?.ok_or(diesel::result::Error::NotFound)?;
                    users::insert_membership(
                        c,
                        &NewMembership { user_id: uid, tenant_id: t.id, role: role.into(), created_at: now },
                    )?;
                    scope = t.name;
                    tenant_id = Some(t.id);
                }
                crate::audit::record(
                    c,
                    &actor,
                    crate::audit::Event::new("user.create", "user", uid)
                        .tenant(tenant_id)
                        .details(serde_json::json!({"email": email, "role": role})),
                    now,
                )?;
                notify::queue(c, &welcome_email(email, name, &state.config().base_url), now)?;
                out.push(DemoLogin {
                    role: crate::auth::Role::parse(role).map(|r| r.label().to_string()).unwrap_or_default(),
                    scope,
                    email: email.into(),
                    password: pw.clone(),
                });
            }
            seed_billing(c, now)?;
            seed_failed_email(c, now)?;
            let key = crate::usage::demo::seed(c, state.now(), &state.config().base_url)?;
            Ok((out, key))
        })?;
    Ok(Seeded::Created(logins.0, logins.1))
}

fn tenant(
    kind: &str,
    parent: Option<i64>,
    name: &str,
    slug: &str,
    region: &str,
    tz: &str,
    now: NaiveDateTime,
) -> NewTenant {
    NewTenant {
        kind: kind.into(),
        parent_id: parent,
        name: name.into(),
        slug: slug.into(),
        status: "active".into(),
        region: region.into(),
        time_zone: tz.into(),
        created_at: now,
        updated_at: now,
    }
}

fn welcome_email(to: &str, name: &str, base_url: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Your Keel account is ready".into(),
        text: format!(
            "Hello {name},\n\nAn account on Keel has been created for you. Sign in at {base_url}/login with this email address.\n\n— Keel"
        ),
        html: None,
        headers: Vec::new(),
        dedupe_key: Some(format!("demo-welcome:{to}")),
    }
}

/// A past delivery failure, so the dead-letter views have something real to show.
fn seed_failed_email(c: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<()> {
    let earlier = now - Duration::days(2);
    let email = Email {
        to: "accounts-payable@closed-district.example".into(),
        subject: "Invoice reminder".into(),
        text: "This is a reminder that an invoice is due.".into(),
        html: None,
        headers: Vec::new(),
        dedupe_key: Some("demo-dead-email".into()),
    };
    let Some(id) = notify::queue(c, &email, earlier)? else { return Ok(()) };
    let err =
        "SMTP: permanent error (550): 5.1.1 <accounts-payable@closed-district.example>: mailbox unavailable";
    notify::store::mark_failed(c, id, err, true, earlier)?;
    use crate::db::schema::jobs::dsl as j;
    use diesel::prelude::*;
    diesel::update(j::jobs.filter(j::dedupe_key.eq(format!("email:{id}"))))
        .set((
            j::status.eq("dead"),
            j::attempts.eq(notify::MAX_ATTEMPTS),
            j::last_error.eq(Some(err)),
            j::finished_at.eq(Some(earlier)),
        ))
        .execute(c)?;
    let _ =
        jobs::store::enqueue(c, &NewJob::new("jobs.purge", serde_json::json!({})).dedupe("demo-purge"), now)?;
    Ok(())
}

/// Prints the sign-in table.
pub fn print_logins(logins: &[DemoLogin], base_url: &str, saved_to: &str) {
    let w_role = logins.iter().map(|l| l.role.len()).max().unwrap_or(4).max(4);
    let w_scope = logins.iter().map(|l| l.scope.len()).max().unwrap_or(5).max(5);
    let w_email = logins.iter().map(|l| l.email.len()).max().unwrap_or(5).max(5);
    println!();
    println!("Keel demo is ready at {base_url}/login. Sign in as any of these users:");
    println!();
    println!("  {:w_role$}  {:w_scope$}  {:w_email$}  Password", "Role", "Where", "Email");
    println!(
        "  {}  {}  {}  {}",
        "-".repeat(w_role),
        "-".repeat(w_scope),
        "-".repeat(w_email),
        "-".repeat(19)
    );
    for l in logins {
        println!("  {:w_role$}  {:w_scope$}  {:w_email$}  {}", l.role, l.scope, l.email, l.password);
    }
    println!();
    println!("These passwords are shown once; a copy is in {saved_to} (readable only by you).");
    println!(
        "Staff accounts (platform admin, support agent) set up two-factor authentication at first sign-in."
    );
    println!();
}

/// Prints the demo product's ingest key and writes it to a private file next to the sign-ins.
pub fn print_ingest_key(key: &str, base_url: &str, dir: &std::path::Path) {
    let path = dir.join("demo-ingest-key.txt");
    let saved = write_private(&path, &format!("{key}\n")).map(|_| path.display().to_string());
    println!("The demo product's ingest key (for the usage API, see docs/usage-api.md):");
    println!();
    println!("  {key}");
    println!();
    println!("  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\");
    println!(
        "    -d '{{\"tenant\":\"LINCOLN-HS\",\"metric\":\"assessments\",\"increment\":1}}' {base_url}/api/v1/entitlements/check"
    );
    println!();
    match saved {
        Ok(p) => println!("A copy is in {p}."),
        Err(e) => println!("(The key could not be saved: {e}.)"),
    }
    println!();
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(text.as_bytes())
}

/// Writes the sign-in table to a private file in the data directory.
pub fn save_logins(logins: &[DemoLogin], dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write;
    let path = dir.join("demo-credentials.txt");
    std::fs::create_dir_all(dir)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path)?;
    writeln!(f, "role\twhere\temail\tpassword")?;
    for l in logins {
        writeln!(f, "{}\t{}\t{}\t{}", l.role, l.scope, l.email, l.password)?;
    }
    Ok(path)
}

/// The vendor's invoicing details and Lincoln's purchase-order profile.
fn seed_billing(c: &mut DbConn, now: NaiveDateTime) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    crate::billing::store::save_vendor(
        c,
        &crate::billing::model::VendorSettings {
            id: 1,
            legal_name: "Brightwave Learning, Inc.".into(),
            address: "200 Market Street, Suite 400\nSan Francisco, CA 94105\nUnited States".into(),
            tax_id: "EIN 84-1234567".into(),
            remit_to: "ACH or wire to First Republic Bank, account 000123456789, routing 321081669.\nChecks to Brightwave Learning, Inc., PO Box 7720, San Francisco, CA 94120.".into(),
            invoice_footer: "Questions about this invoice: billing@brightwave.example".into(),
            default_currency: "USD".into(),
            default_terms_days: 30,
            updated_at: now,
            renewal_lead_days: 60,
            number_prefix: String::new(),
            logo_sha256: None,
        },
    )?;
    let Some(lincoln) = tenants::by_slug(c, "LINCOLN")? else { return Ok(()) };
    let mut p = crate::billing::model::BillingProfile::empty(lincoln.id, "USD", 30, now);
    p.po_number = Some("PO-2026-0412".into());
    p.po_amount_minor = Some(4_850_000);
    p.po_expires = chrono::NaiveDate::from_ymd_opt(2027, 6, 30);
    p.address_line1 = "Accounts Payable, 5905 O Street".into();
    p.city = "Lincoln".into();
    p.region = "NE".into();
    p.postal_code = "68510".into();
    p.renewal_date = chrono::NaiveDate::from_ymd_opt(2027, 7, 1);
    p.cost_centre = "Instructional Technology 10-2210".into();
    p.tax_exempt_note = "Tax-exempt political subdivision, certificate NE-13-0412".into();
    crate::billing::store::save_profile(c, &p)?;
    use crate::db::schema::billing_contacts as bc;
    diesel::insert_into(bc::table)
        .values((
            bc::tenant_id.eq(lincoln.id),
            bc::name.eq("Lincoln Accounts Payable"),
            bc::email.eq("accounts.payable@lincoln.k12.example"),
            bc::phone.eq("(402) 555-0142"),
            bc::role.eq("accounts_payable"),
            bc::verified_at.eq(Some(now)),
            bc::created_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// Lincoln's invoices: paid, overdue, voided and corrected, issued and a draft (PDFs rendered
/// for real), its uploaded PO, and Riverside's renewal draft.
pub async fn seed_invoices(state: &AppState) -> anyhow::Result<()> {
    use crate::billing::invoice::{self, NewLine};
    use rust_decimal::Decimal;
    let actor = crate::audit::Actor::system("keel demo seed");
    let today = state.now().date_naive();
    let usd = crate::billing::money::currency("USD").ok_or_else(|| anyhow::anyhow!("USD missing"))?;
    let lincoln = {
        let mut c = state.pool().get()?;
        tenants::by_slug(&mut c, "LINCOLN")?.ok_or_else(|| anyhow::anyhow!("demo district missing"))?
    };
    type DemoLine = (&'static str, &'static str, Decimal, Decimal);
    let specs: [(i64, &str, Vec<DemoLine>); 5] = [
        (
            145,
            "paid",
            vec![
                (
                    "Assessment platform licences, 2026-27 school year",
                    "license",
                    Decimal::from(1250),
                    Decimal::new(3880, 2),
                ),
                ("Onboarding and training workshops", "service", Decimal::from(2), Decimal::new(75000, 2)),
            ],
        ),
        (
            69,
            "overdue",
            vec![(
                "Audio minutes add-on (50,000 minutes)",
                "add_on",
                Decimal::from(50_000),
                Decimal::new(12, 3),
            )],
        ),
        (
            14,
            "void",
            vec![(
                "Additional licences, Saltillo Elementary",
                "license",
                Decimal::from(90),
                Decimal::new(3880, 2),
            )],
        ),
        (
            13,
            "issued",
            vec![(
                "Additional licences, Saltillo Elementary",
                "license",
                Decimal::from(85),
                Decimal::new(3880, 2),
            )],
        ),
        (
            0,
            "draft",
            vec![(
                "Additional licences, two schools joining in January",
                "license",
                Decimal::from(140),
                Decimal::new(3880, 2),
            )],
        ),
    ];
    let mut voided: Option<i64> = None;
    for (days_ago, state_name, lines) in specs {
        let now = now_micros(state.now());
        let tid = lincoln.id;
        let a = actor.clone();
        let id = state
            .db(move |c| {
                let profile =
                    crate::billing::store::profile(c, tid)?.ok_or(crate::error::AppError::NotFound)?;
                Ok(write_tx(c, |c| {
                    let id = invoice::create_draft(c, &a, tid, &profile, now)?;
                    for (d, k, q, p) in &lines {
                        let i = invoice::find(c, id)?;
                        let l = NewLine {
                            description: d.to_string(),
                            kind: k.to_string(),
                            quantity: *q,
                            unit_price: *p,
                        };
                        invoice::add_line(c, &i, &l, usd, now)?;
                    }
                    Ok::<_, diesel::result::Error>(id)
                })?)
            })
            .await?;
        if state_name == "draft" {
            continue;
        }
        let issued = invoice::issue_now(state, actor.clone(), id, today - Duration::days(days_ago))
            .await?
            .map_err(|e| anyhow::anyhow!("demo invoice: {e}"))?;
        if state_name == "void" {
            invoice::void_now(
                state,
                actor.clone(),
                id,
                "Seat count was 90; the signed PO covers 85".into(),
                false,
            )
            .await?
            .map_err(|e| anyhow::anyhow!("demo void: {e}"))?;
            voided = Some(id);
        }
        if let (Some(v), "issued") = (voided, state_name) {
            state.db(move |c| Ok(invoice::set_replaces(c, id, v)?)).await?;
        }
        if state_name == "paid" {
            let a = actor.clone();
            let now = now_micros(state.now());
            state
                .db(move |c| {
                    Ok(write_tx(c, |c| {
                        invoice::mark_paid(c, &a, &issued, "ach", "ACH TRACE 091000019", now)
                    })?)
                })
                .await?;
        }
    }
    seed_po_document(state, lincoln.id).await?;
    seed_renewal(state).await?;
    crate::support::demo::seed(state).await
}

/// Lincoln's signed purchase order, uploaded by its procurement officer.
async fn seed_po_document(state: &AppState, tenant: i64) -> anyhow::Result<()> {
    use genpdf::elements::{Break, Paragraph};
    let mut doc = genpdf::Document::new(crate::web::pdf::fonts().map_err(|e| anyhow::anyhow!(e))?);
    doc.set_minimal_conformance();
    doc.set_title("Purchase order PO-2026-0412");
    let lines = [
        "LINCOLN PUBLIC SCHOOLS - PURCHASE ORDER",
        "PO number: PO-2026-0412",
        "Vendor: Brightwave Learning, Inc., 200 Market Street, Suite 400, San Francisco, CA 94105",
        "Ship/bill to: Accounts Payable, 5905 O Street, Lincoln, NE 68510",
        "Description: Assessment platform licences and services, school year 2026-27",
        "Not to exceed: USD 48,500.00. Valid through 2027-06-30. Net 30.",
        "Cost centre: Instructional Technology 10-2210",
        "Approved: Director of Purchasing (signed)",
    ];
    for l in lines {
        doc.push(Paragraph::new(l));
        doc.push(Break::new(0.5));
    }
    let mut bytes = Vec::new();
    doc.render(&mut bytes).map_err(|e| anyhow::anyhow!("demo PO: {e}"))?;
    let size = bytes.len() as i64;
    let hash = state.files().put(bytes::Bytes::from(bytes)).await?;
    let now = now_micros(state.now()) - Duration::days(150);
    let buyer = state
        .db(|c| {
            use diesel::prelude::*;
            Ok(crate::db::schema::users::table
                .filter(crate::db::schema::users::email.eq("priya.raman@lincoln.k12.example"))
                .select(crate::db::schema::users::id)
                .first::<i64>(c)
                .optional()?)
        })
        .await?;
    let actor = crate::audit::Actor {
        user_id: buyer,
        label: "priya.raman@lincoln.k12.example".into(),
        request_id: String::new(),
        ip: String::new(),
    };
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                crate::billing::po::insert(
                    c,
                    &actor,
                    tenant,
                    "PO-2026-0412",
                    "Signed PO-2026-0412.pdf",
                    &hash,
                    size,
                    now,
                )
            })?)
        })
        .await?;
    Ok(())
}

/// Riverside buys with a PO too and renews in six weeks: last year's paid invoice, and the
/// renewal draft Keel prepared from it for the vendor to review.
async fn seed_renewal(state: &AppState) -> anyhow::Result<()> {
    use crate::billing::invoice::{self, NewLine};
    use rust_decimal::Decimal;
    let actor = crate::audit::Actor::system("keel demo seed");
    let now = now_micros(state.now());
    let today = state.now().date_naive();
    let tid = state
        .db(move |c| {
            let t = tenants::by_slug(c, "RIVERSIDE")?.ok_or(crate::error::AppError::NotFound)?;
            let mut p = crate::billing::model::BillingProfile::empty(t.id, "USD", 45, now);
            p.po_number = Some("RUSD-PO-25-1187".into());
            p.address_line1 = "Business Services, 3380 14th Street".into();
            p.city = "Riverside".into();
            p.region = "CA".into();
            p.postal_code = "92501".into();
            p.renewal_date = Some(today + Duration::days(45));
            p.tax_exempt_note = "California public school district: sales tax exempt".into();
            write_tx(c, |c| {
                crate::billing::store::save_profile(c, &p)?;
                use crate::db::schema::billing_contacts as bc;
                use diesel::prelude::*;
                diesel::insert_into(bc::table)
                    .values((
                        bc::tenant_id.eq(t.id),
                        bc::name.eq("Riverside Purchasing"),
                        bc::email.eq("purchasing@riverside.k12.example"),
                        bc::role.eq("procurement"),
                        bc::verified_at.eq(Some(now)),
                        bc::created_at.eq(now),
                    ))
                    .execute(c)
            })?;
            Ok(t.id)
        })
        .await?;
    let usd = crate::billing::money::currency("USD").ok_or_else(|| anyhow::anyhow!("USD missing"))?;
    let a = actor.clone();
    let id = state
        .db(move |c| {
            let profile = crate::billing::store::profile(c, tid)?.ok_or(crate::error::AppError::NotFound)?;
            Ok(write_tx(c, |c| {
                let id = invoice::create_draft(c, &a, tid, &profile, now)?;
                let i = invoice::find(c, id)?;
                let l = NewLine {
                    description: "Assessment platform licences, 12 months".into(),
                    kind: "license".into(),
                    quantity: Decimal::from(640),
                    unit_price: Decimal::new(3650, 2),
                };
                invoice::add_line(c, &i, &l, usd, now)?;
                Ok::<_, diesel::result::Error>(id)
            })?)
        })
        .await?;
    let issued = invoice::issue_now(state, actor.clone(), id, today - Duration::days(320))
        .await?
        .map_err(|e| anyhow::anyhow!("demo invoice: {e}"))?;
    let base = state.config().base_url.clone();
    state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                invoice::mark_paid(c, &actor, &issued, "check", "Check 40417", now)?;
                crate::billing::renewal::prepare_due(c, &base, today, now)
            })?)
        })
        .await?;
    Ok(())
}
