//! Fuzz entry points: one `pub fn <target>(data: &[u8])` per parser of outside input. Each feeds
//! the bytes to the real parser(s) and asserts their invariants (a panic is a finding). The
//! cargo-fuzz targets in `fuzz/` call these, and `tests/fuzz_corpus.rs` runs them over the
//! committed corpora in the default test suite. See `fuzz/README.md`.
//!
//! | Target | Parses |
//! |---|---|
//! | [`usage_events`] | a `POST /api/v1/events` body: validation, recording, dead letters |
//! | [`usage_backfill`] | a `keel usage backfill` JSON-lines file |
//! | [`holidays_csv`] | the pasted holiday list (CSV or plain lines) of an SLA tier |
//! | [`money_amounts`] | money amounts, decimals, cap limits and included quantities |
//! | [`form_fields`] | a urlencoded form body and its fields as domain values |
//! | [`markdown`] | incident and postmortem Markdown rendered to sanitized HTML |
//! | [`upload_sniff`] | uploaded PO documents, attachments and logos (magic bytes, image decoding) |
//! | [`signed_tokens`] | support passes, subscriber and contact links, TOTP codes, CSRF and ingest keys |
//!
//! The two usage targets run against an in-memory SQLite database (one per thread, emptied after
//! each input) so the events go through the same `record` and `reject` as the API, and the
//! buckets are checked against a reconcile from the raw events.

use std::cell::RefCell;
use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::billing::{contacts, invoice, money, numbering, pdf as billing_pdf, po};
use crate::db::{self, DbConn};
use crate::support::{calendar, requests, suspended, tiers};
use crate::usage::{ingest, pages as usage_pages, reconcile, rollup};
use crate::web::{csv, form, upload};

/// The instant every target treats as "now": 2026-12-01 12:00 UTC.
pub fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

/// The secret the token targets sign with.
const SECRET: &[u8] = b"fuzzing-secret-key-not-for-production-0123456789";

/// Every refusal code `ingest::validate` may give.
const REFUSALS: [&str; 15] = [
    "invalid_event",
    "invalid_idempotency_key",
    "missing_idempotency_key",
    "missing_tenant",
    "unknown_tenant",
    "missing_metric",
    "unknown_metric",
    "invalid_timestamp",
    "timestamp_in_future",
    "too_late",
    "missing_value",
    "missing_property",
    "invalid_value",
    "invalid_properties",
    "properties_too_large",
];

// ---------------------------------------------------------------------------------------------
// Usage: the events API and the JSON-lines backfill
// ---------------------------------------------------------------------------------------------

/// Tenants and metrics of the fuzzing database (the catalog events are validated against).
const SEED: &str = "
INSERT INTO tenants (id, kind, parent_id, name, slug, created_at, updated_at) VALUES
  (1, 'district', NULL, 'Lincoln Public Schools', 'LINCOLN', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
  (2, 'school', 1, 'Lincoln High School', 'LINCOLN-HIGH', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
  (3, 'district', NULL, 'Riverside Unified', 'RIVERSIDE', '2026-01-01 00:00:00', '2026-01-01 00:00:00');
INSERT INTO metrics (id, key, name, unit, aggregation, property, window_days, created_at, updated_at) VALUES
  (1, 'assessments', 'Assessments', 'assessments', 'count', '', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
  (2, 'active_staff_users', 'Active staff', 'users', 'unique_count', 'user_id', 30, '2026-01-01 00:00:00',
   '2026-01-01 00:00:00'),
  (3, 'storage_bytes', 'Storage', 'bytes', 'latest', '', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
  (4, 'minutes', 'Minutes', 'minutes', 'sum', '', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
  (5, 'peak_sessions', 'Peak sessions', 'sessions', 'max', '', 1, '2026-01-01 00:00:00',
   '2026-01-01 00:00:00');
";

/// Empties what an input wrote (the catalog stays).
const CLEAR: &str = "DELETE FROM usage_uniques; DELETE FROM usage_daily; DELETE FROM usage_subjects;
DELETE FROM usage_events; DELETE FROM usage_rejected;";

thread_local! {
    static DB: RefCell<Option<(DbConn, ingest::Catalog)>> = const { RefCell::new(None) };
}

fn open_db() -> (DbConn, ingest::Catalog) {
    let mut c = match db::ConnManager::new("sqlite://:memory:").and_then(|m| m.connect_once()) {
        Ok(c) => c,
        Err(e) => panic!("fuzzing database: {e}"),
    };
    if let Err(e) = db::run_migrations(&mut c) {
        panic!("fuzzing database migrations: {e}");
    }
    if let Err(e) = c.batch_execute(SEED) {
        panic!("fuzzing database seed: {e}");
    }
    let cat = match ingest::catalog(&mut c) {
        Ok(cat) => cat,
        Err(e) => panic!("fuzzing catalog: {e}"),
    };
    (c, cat)
}

/// Runs `f` with this thread's fuzzing database, then empties the usage tables.
fn with_db(f: impl FnOnce(&mut DbConn, &ingest::Catalog)) {
    DB.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (c, cat) = slot.get_or_insert_with(open_db);
        f(c, cat);
        if let Err(e) = c.batch_execute(CLEAR) {
            panic!("clearing the fuzzing database: {e}");
        }
    });
}

fn count(c: &mut DbConn, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    match diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result::<N>(c) {
        Ok(r) => r.n,
        Err(e) => panic!("count {table}: {e}"),
    }
}

/// What a valid event must look like.
fn check_valid(v: &ingest::Valid, cat: &ingest::Catalog, now: DateTime<Utc>) {
    assert!(!v.key.is_empty() && v.key.len() <= 200 && v.key == v.key.trim(), "key {:?}", v.key);
    assert!(v.value.is_finite() && v.value >= 0.0, "value {}", v.value);
    assert!(cat.parents.contains_key(&v.tenant_id), "tenant {}", v.tenant_id);
    let metric = cat.metrics.values().find(|m| m.id == v.metric_id);
    assert_eq!(metric.map(|m| m.agg()), Some(v.agg), "metric {}", v.metric_id);
    if v.agg == crate::usage::model::Aggregation::Count {
        assert_eq!(v.value, 1.0);
    }
    assert!(v.role.chars().count() <= 40 && v.subject.chars().count() <= 200);
    assert_eq!(v.subject.is_empty(), v.agg != crate::usage::model::Aggregation::UniqueCount);
    assert!(v.properties.len() <= ingest::MAX_PROPERTIES);
    assert!(matches!(serde_json::from_str::<Value>(&v.properties), Ok(Value::Object(_))));
    let at = v.occurred_at.and_utc();
    assert!(at <= now + Duration::minutes(ingest::FUTURE_SKEW_MINUTES), "{at} is in the future");
    assert!(at >= now - Duration::days(ingest::LATE_WINDOW_DAYS), "{at} is too late");
}

/// The buckets the events built agree with a recount from the raw events.
fn check_reconciled(c: &mut DbConn, now: DateTime<Utc>) {
    let to = now.date_naive() + Duration::days(1);
    let from = to - Duration::days(ingest::LATE_WINDOW_DAYS + 2);
    match reconcile::reconcile(c, None, from, to, false) {
        Ok(r) => assert!(r.mismatches == 0 && r.unique_mismatches == 0, "reconcile found {r:?}"),
        Err(e) => panic!("reconcile: {e}"),
    }
}

/// A `POST /api/v1/events` body: parsed (bidi controls removed), split into events, each
/// validated, then recorded (and refused ones kept as dead letters) in one write transaction, as
/// the handler does.
pub fn usage_events(data: &[u8]) {
    let Ok(mut body) = serde_json::from_slice::<Value>(data) else { return };
    form::strip_bidi_json(&mut body);
    assert!(!body.to_string().chars().any(form::is_bidi_control), "a bidi control was kept");
    let Some(list) = ingest::events_of(&body) else { return };
    if list.is_empty() || list.len() > ingest::MAX_BATCH {
        return;
    }
    let now = fixed_now();
    with_db(|c, cat| {
        let checked: Vec<Result<ingest::Valid, ingest::Refusal>> =
            list.iter().map(|e| ingest::validate(e, cat, now)).collect();
        let mut valid = Vec::new();
        let mut refused = Vec::new();
        for (e, r) in list.iter().zip(checked) {
            match r {
                Ok(v) => {
                    check_valid(&v, cat, now);
                    valid.push(v);
                }
                Err(why) => {
                    assert!(REFUSALS.contains(&why.code) && !why.reason.is_empty(), "{why:?}");
                    refused.push((e, why));
                }
            }
        }
        let at = db::now_micros(now);
        let recorded = db::write_tx(c, |c| {
            let rec = ingest::record(c, &valid, at)?;
            for (e, why) in &refused {
                ingest::reject(c, e, why, at)?;
            }
            Ok::<_, diesel::result::Error>(rec)
        });
        let rec = match recorded {
            Ok(rec) => rec,
            Err(e) => panic!("recording a validated batch failed: {e}"),
        };
        assert_eq!(rec.len(), valid.len());
        // The database was empty: the first event of each (tenant, key) is new, the rest replays.
        let distinct: HashSet<(i64, &str)> = valid.iter().map(|v| (v.tenant_id, v.key.as_str())).collect();
        let accepted = rec.iter().filter(|r| **r == ingest::Recorded::Accepted).count();
        assert_eq!(accepted, distinct.len());
        assert_eq!(count(c, "usage_events"), accepted as i64);
        assert_eq!(count(c, "usage_rejected"), refused.len() as i64);
        check_reconciled(c, now);
    });
}

/// A `keel usage backfill` file (one event per line) through the real import.
pub fn usage_backfill(data: &[u8]) {
    let now = fixed_now();
    with_db(|c, _| {
        match reconcile::backfill(c, data, now) {
            Ok(b) => {
                let text = String::from_utf8_lossy(data);
                let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
                assert_eq!(b.lines, lines);
                assert_eq!(b.lines, b.accepted + b.duplicates + b.rejected.len(), "{b:?}");
                assert!(b.rejected.windows(2).all(|w| w[0].0 < w[1].0), "{:?}", b.rejected);
                for (n, code, reason) in &b.rejected {
                    assert!(*n >= 1 && !reason.is_empty());
                    assert!(code == "malformed_json" || REFUSALS.contains(&code.as_str()), "{code}");
                }
                assert_eq!(count(c, "usage_events"), b.accepted as i64);
            }
            // Only reading the file may fail (a line that is not UTF-8), never the import itself.
            Err(e) => assert!(std::str::from_utf8(data).is_err(), "backfill failed: {e}"),
        }
        check_reconciled(c, now);
    });
}

// ---------------------------------------------------------------------------------------------
// Holiday import
// ---------------------------------------------------------------------------------------------

/// A pasted holiday list (`support::calendar::parse_holidays`): good lists round-trip through
/// the CSV they would be written as, bad ones name each bad line once, in order.
pub fn holidays_csv(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    match calendar::parse_holidays(&text) {
        Ok(list) => {
            assert!(list.len() <= lines);
            let days: HashSet<NaiveDate> = list.iter().map(|(d, _)| *d).collect();
            assert_eq!(days.len(), list.len(), "a date listed twice was accepted");
            let csv: String = list
                .iter()
                .map(|(d, name)| format!("{},\"{}\"\n", d.format("%Y-%m-%d"), name.replace('"', "\"\"")))
                .collect();
            assert_eq!(calendar::parse_holidays(&format!("date,name\n{csv}")).as_ref(), Ok(&list), "{csv}");
        }
        Err(bad) => {
            assert!(!bad.is_empty());
            assert!(bad.windows(2).all(|w| w[0].0 < w[1].0), "{bad:?}");
            assert!(bad.iter().all(|(n, m)| *n >= 1 && *n <= lines && !m.is_empty()), "{bad:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Money, decimals and limits
// ---------------------------------------------------------------------------------------------

/// Money amounts in every currency (`billing::money::parse_minor`): a parsed amount formats and
/// parses back to itself; decimals (`invoice::parse_decimal`) print and parse back; cap limits and
/// included quantities (`usage::pages::parse_limit`) are whole, finite, at least 0, and survive
/// the edit form.
pub fn money_amounts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for cur in money::CURRENCIES {
        if let Ok(m) = money::parse_minor(&text, cur) {
            assert_eq!(money::parse_minor(&money::plain(m, cur), cur), Ok(m), "{}", money::plain(m, cur));
            if m >= 0 {
                assert_eq!(
                    money::parse_minor(&money::format(m, cur), cur),
                    Ok(m),
                    "{}",
                    money::format(m, cur)
                );
            }
            let with_code = money::format_with_code(m, cur);
            assert!(with_code.contains(cur.code) && with_code.starts_with('-') == (m < 0), "{with_code}");
        }
    }
    if let Some(d) = invoice::parse_decimal(&text) {
        assert_eq!(invoice::parse_decimal(&d.to_string()), Some(d));
        for cur in [money::CURRENCIES[0], money::CURRENCIES[7]] {
            let shown = money::format_unit_price(d, cur);
            assert_eq!(invoice::parse_decimal(&shown), Some(d), "{shown}");
            let one = rust_decimal::Decimal::ONE;
            if let Some(a) = money::line_amount(d, one, cur) {
                assert_eq!(Some(a), money::to_minor(d, cur));
            }
            let _ = money::line_amount(d, d, cur);
        }
    }
    for unit in ["assessments", "users", "bytes"] {
        if let Ok(v) = usage_pages::parse_limit(&text, unit) {
            assert!(v.is_finite() && v >= 0.0 && v.fract() == 0.0, "{text:?} -> {v}");
            let shown = usage_pages::edit_value(v, unit);
            let back = usage_pages::parse_limit(&shown, unit);
            assert!(
                back.is_ok_and(|b| (b - v).abs() <= v * 5e-4),
                "{v} shown as {shown:?} reads back as {back:?}"
            );
            let _ = crate::usage::caps::fmt_num(v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Form fields
// ---------------------------------------------------------------------------------------------

/// A urlencoded form body decoded the way `CsrfForm` does (bidi controls removed from all but
/// secret fields), then every value (and the whole input as one value) parsed into each domain
/// type a form field becomes, checking each round-trips.
pub fn form_fields(data: &[u8]) {
    let _ = crate::auth::extract::csrf_field(data);
    let cleaned = form::strip_bidi_urlencoded(data);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&cleaned).unwrap_or_default();
    if let Ok(raw) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) {
        let secret = ["password", "current", "new_password", "confirm", "csrf_token"];
        let want: Vec<(String, String)> = raw
            .into_iter()
            .map(|(k, v)| {
                let v = if secret.contains(&k.as_str()) { v } else { form::strip_bidi(&v) };
                (form::strip_bidi(&k), v)
            })
            .collect();
        assert_eq!(pairs, want, "the cleaned body decodes differently");
    }
    let whole = String::from_utf8_lossy(data);
    let values = pairs.iter().map(|(_, v)| v.as_str()).take(16).chain(std::iter::once(whole.as_ref()));
    for v in values {
        form_value(v);
    }
    rollup_filters(&whole);
}

fn form_value(v: &str) {
    let mut e = form::FormErrors::new();
    match form::optional_date(&mut e, "date", v) {
        Some(d) => {
            assert!((2000..=2200).contains(&d.year()) && e.is_empty());
            let again = form::optional_date(&mut e, "again", &d.format("%Y-%m-%d").to_string());
            assert_eq!(again, Some(d));
        }
        None => assert_eq!(e.is_empty(), v.trim().is_empty()),
    }

    let mut e = form::FormErrors::new();
    let email = form::email(&mut e, "email", v);
    if e.is_empty() {
        assert!(form::is_email(&email) && email.contains('@') && email.len() <= 254, "{email:?}");
        assert!(!email.chars().any(char::is_whitespace) && email == email.to_ascii_lowercase());
        assert_eq!(form::email(&mut e, "again", &email), email);
        assert!(e.is_empty());
    }

    let mut e = form::FormErrors::new();
    if let Some(n) = form::integer(&mut e, "n", "net days", v, 0, 365) {
        assert!((0..=365).contains(&n) && e.is_empty());
    }

    let mut e = form::FormErrors::new();
    let t = form::required_text(&mut e, "name", "a name", v, 60);
    assert_eq!(t, v.trim());
    assert_eq!(e.is_empty(), !t.is_empty() && t.chars().count() <= 60);

    let slug = crate::tenancy::slugify(v);
    assert!(slug.len() <= 24 && !slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"));
    assert!(slug.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'), "{slug}");
    assert_eq!(crate::tenancy::slugify(&slug), slug);

    if let Some(n) = requests::parse_number(v) {
        assert!(n > 0);
        assert_eq!(requests::parse_number(&requests::number(n)), Some(n));
    }
    if let Some((slug, year, n)) = numbering::parse_number(v) {
        let again = numbering::parse_number(&numbering::format_number(&slug, year, n));
        assert_eq!(again, Some((slug, year, n)));
    }
    if let Some(t) = tiers::parse_time(v) {
        assert_eq!(tiers::parse_time(&t.format("%H:%M").to_string()), Some(t));
    }
    if let Ok(days) = calendar::parse_days(v) {
        assert!(days.iter().any(|d| *d));
        assert_eq!(calendar::parse_days(&calendar::format_days(&days)), Ok(days));
    }
    if let Ok(s) = tiers::parse_schedule(v) {
        assert!(s.iter().all(|x| x.credit <= 100));
        assert!(s.windows(2).all(|w| {
            w[0].below.parse::<f64>().unwrap_or(0.0) >= w[1].below.parse::<f64>().unwrap_or(0.0)
        }));
        assert_eq!(tiers::parse_schedule(&tiers::format_schedule(&s)).as_ref(), Ok(&s));
    }
    if let Ok(tz) = v.trim().parse::<chrono_tz::Tz>() {
        assert_eq!(tz.name().parse::<chrono_tz::Tz>(), Ok(tz));
    }
    if let Some(at) = crate::status::admin::parse_local(v) {
        let again = crate::status::admin::parse_local(&at.format("%Y-%m-%dT%H:%M:%S").to_string());
        assert_eq!(again, Some(at));
    }

    let next = crate::auth::signin::safe_next(Some(v));
    if !next.is_empty() {
        // What a browser makes of it: tabs and newlines removed, then no other host.
        let seen: String = next.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        assert!(seen.starts_with('/') && !seen.starts_with("//") && !seen.contains('\\'), "{next:?}");
        assert!(!next.chars().any(char::is_control), "{next:?}");
    }

    let cell = csv::field(v);
    assert!(cell.len() >= 2 && cell.starts_with('"') && cell.ends_with('"'));
    let inner = cell[1..cell.len() - 1].replace("\"\"", "\"");
    assert!(inner == v || inner == format!("'{v}"), "{cell}");
    if inner.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        assert!(v.parse::<f64>().is_ok_and(f64::is_finite), "{cell} would run as a formula");
    }
}

/// The rollup page's query string: the dates asked for stay ordered and within the last 400
/// days, and the filters survive the links built from them.
fn rollup_filters(query: &str) {
    let f = rollup::Filters::parse(query);
    let today = fixed_now().date_naive();
    let (a, b, _) = f.dates(today);
    assert!(a <= b && b <= today && a >= today - Duration::days(399), "{a} {b}");
    let g = rollup::Filters::parse(&f.query());
    assert_eq!((&g.tenant, &g.schools, &g.range, &g.role), (&f.tenant, &f.schools, &f.range, &f.role));
    if f.range == "custom" {
        assert_eq!((&g.from, &g.to), (&f.from, &f.to));
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/// Incident and postmortem Markdown (`status::markdown`): the sanitized HTML has no script-like
/// tags, no event-handler or style attributes and no script URLs.
pub fn markdown(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let html = crate::status::markdown::to_safe_html(&text);
    if let Some(problem) = html_problem(&html) {
        panic!("unsafe HTML ({problem}) from {text:?}:\n{html}");
    }
    let plain = crate::status::markdown::to_text(&text);
    assert!(!plain.starts_with(' ') && !plain.ends_with(' ') && !plain.contains("  "));
}

/// Tags a sanitized body must never contain.
const FORBIDDEN_TAGS: [&str; 12] =
    ["script", "style", "iframe", "object", "embed", "svg", "math", "form", "input", "base", "meta", "link"];

/// Attributes whose value is a URL a browser may follow or load.
const URL_ATTRIBUTES: [&str; 6] = ["href", "src", "action", "formaction", "xlink:href", "srcset"];

/// Why `html` (sanitizer output, where a text `<` is always escaped) is unsafe, if it is.
fn html_problem(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut i = 0;
    while let Some(off) = lower[i..].find('<') {
        let mut j = i + off + 1;
        if b.get(j) == Some(&b'/') {
            j += 1;
        }
        let name_start = j;
        while j < b.len() && b[j].is_ascii_alphanumeric() {
            j += 1;
        }
        let name = &lower[name_start..j];
        if name.is_empty() {
            return Some(format!("a bare '<' at byte {}", i + off));
        }
        if FORBIDDEN_TAGS.contains(&name) {
            return Some(format!("a <{name}> tag"));
        }
        // Attributes up to the '>' that closes the tag (quoted values may hold '>').
        loop {
            while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                j += 1;
            }
            match b.get(j) {
                None => return Some(format!("an unterminated <{name}>")),
                Some(b'>') => {
                    j += 1;
                    break;
                }
                Some(_) => {}
            }
            let attr_start = j;
            while j < b.len() && !b[j].is_ascii_whitespace() && !matches!(b[j], b'=' | b'>' | b'/') {
                j += 1;
            }
            let attr = &lower[attr_start..j];
            if attr.is_empty() {
                return Some(format!("a malformed attribute in <{name}>"));
            }
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut value = "";
            if b.get(j) == Some(&b'=') {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                match b.get(j) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let Some(len) = lower[j + 1..].find(char::from(q)) else {
                            return Some(format!("an unterminated {attr} value"));
                        };
                        value = &lower[j + 1..j + 1 + len];
                        j += len + 2;
                    }
                    _ => {
                        let start = j;
                        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                            j += 1;
                        }
                        value = &lower[start..j];
                    }
                }
            }
            if attr.starts_with("on") || attr == "style" {
                return Some(format!("a {attr} attribute on <{name}>"));
            }
            if URL_ATTRIBUTES.contains(&attr) {
                let url = decode_entities(value);
                // A browser trims C0 controls and spaces at the ends and drops tabs and newlines.
                let url: String = url
                    .trim_matches(|c: char| c <= ' ')
                    .chars()
                    .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                    .collect::<String>()
                    .to_ascii_lowercase();
                if ["javascript:", "vbscript:", "data:"].iter().any(|s| url.starts_with(s)) {
                    return Some(format!("a script URL in {attr}: {url}"));
                }
            }
        }
        i = j;
    }
    None
}

/// Decodes the character references a serializer may write in an attribute value.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "nbsp" => Some('\u{a0}'),
                "colon" => Some(':'),
                "tab" => Some('\t'),
                "newline" => Some('\n'),
                _ => {
                    let n = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => name.strip_prefix('#').and_then(|d| d.parse::<u32>().ok()),
                    };
                    n.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------------

/// Uploaded files: a PO document (`billing::po::check_pdf`), a support attachment
/// (`support::pages::check_attachment`), a logo (`billing::pdf::check_logo`, which decodes the
/// image) and the browser's file name (`web::upload::sanitize_filename`).
pub fn upload_sniff(data: &[u8]) {
    let file = upload::UploadedFile {
        filename: String::new(),
        bytes: data.to_vec(),
        size: data.len(),
        too_large: false,
    };
    assert_eq!(po::check_pdf(&file).is_ok(), data.starts_with(b"%PDF-"));
    match crate::support::pages::check_attachment(&file) {
        Ok((ctype, ext)) => {
            let magic = match ext {
                "pdf" => data.starts_with(b"%PDF-") && ctype == "application/pdf",
                "png" => data.starts_with(b"\x89PNG\r\n\x1a\n") && ctype == "image/png",
                "jpg" => data.starts_with(&[0xFF, 0xD8, 0xFF]) && ctype == "image/jpeg",
                "gif" => (data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a")) && ctype == "image/gif",
                "webp" => data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP",
                _ => false,
            };
            assert!(magic, "{ctype} {ext} for {:?}", &data[..data.len().min(16)]);
        }
        Err(m) => assert!(!m.is_empty() && !data.starts_with(b"%PDF-")),
    }
    let big = upload::UploadedFile { size: po::MAX_BYTES + 1, too_large: true, ..file };
    assert!(po::check_pdf(&big).is_err() && crate::support::pages::check_attachment(&big).is_err());

    if billing_pdf::check_logo(data).is_ok() {
        assert!(data.starts_with(b"\x89PNG\r\n\x1a\n") || data.starts_with(&[0xFF, 0xD8, 0xFF]));
        let dims = image::io::Reader::new(std::io::Cursor::new(data))
            .with_guessed_format()
            .ok()
            .and_then(|r| r.into_dimensions().ok());
        assert!(dims.is_some_and(|(w, h)| w <= 4000 && h <= 4000), "{dims:?}");
    }

    let name = String::from_utf8_lossy(&data[..data.len().min(512)]);
    for ext in ["pdf", "png", "jpg"] {
        let safe = upload::sanitize_filename(&name, ext);
        assert!(safe.ends_with(&format!(".{ext}")) && safe.chars().count() <= 100, "{safe}");
        assert!(safe.len() > ext.len() + 1 && !safe.starts_with(['.', ' ']), "{safe}");
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ');
        assert!(safe.chars().all(allowed), "{safe}");
    }
}

// ---------------------------------------------------------------------------------------------
// Signed links, codes and keys
// ---------------------------------------------------------------------------------------------

/// `s` changed at a place and in a way chosen by `ops` (insert, overwrite or cut `text`).
fn mutate(s: &str, ops: &[u8], text: &str) -> String {
    let (Some(&at), Some(&how)) = (ops.first(), ops.get(1)) else { return s.to_string() };
    let mut at = usize::from(at) % (s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let (head, tail) = s.split_at(at);
    match how % 3 {
        0 => format!("{head}{text}{tail}"),
        1 => {
            let mut cut = (at + text.len()).min(s.len());
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{head}{text}{}", &s[cut..])
        }
        _ => head.to_string(),
    }
}

fn i64_of(data: &[u8]) -> i64 {
    let mut buf = [0u8; 8];
    for (b, d) in buf.iter_mut().zip(data) {
        *b = *d;
    }
    i64::from_le_bytes(buf)
}

/// Signed links and codes: the support pass of a suspended district (`support::suspended`),
/// status-subscriber and billing-contact links, TOTP codes and base32 secrets (`auth::totp`),
/// recovery codes, the CSRF field of a form and the ingest key of an `Authorization` header.
/// Genuine ones verify; changed ones verify only for whom they were made, if at all.
pub fn signed_tokens(data: &[u8]) {
    let now = fixed_now();
    let who = i64_of(data);
    let ops = data.get(8..10).unwrap_or(&[]);
    let rest = data.get(10..).unwrap_or(&[]);
    let text = String::from_utf8_lossy(rest);

    // Support passes.
    let pass = suspended::pass_for(SECRET, who, now);
    assert_eq!(suspended::verify(SECRET, &pass, now), Some(who));
    assert_eq!(suspended::verify(b"another key", &pass, now), None);
    let late = now + Duration::minutes(suspended::PASS_MINUTES) + Duration::seconds(1);
    assert_eq!(suspended::verify(SECRET, &pass, late), None, "an expired pass verified");
    // A changed pass verifies only for its own user, or with a signature the input itself
    // carried (a genuine pass for someone else, as in the corpus): never with a forged one.
    let changed = mutate(&pass, ops, &text);
    let got = suspended::verify(SECRET, &changed, now);
    let carried = changed.trim().splitn(3, '.').nth(2).is_some_and(|sig| text.contains(sig));
    assert!(got.is_none_or(|u| u == who || carried), "{changed:?} verified as {got:?}");
    let _ = suspended::verify(SECRET, &text, now);

    // Subscriber and contact links (ids are positive).
    let id = who.checked_abs().unwrap_or(1).max(1);
    let link = crate::status::subscriptions::link_token(SECRET, id);
    assert_eq!(crate::status::subscriptions::parse_token(SECRET, &link), Some(id));
    // A changed link is accepted only if it is, character for character, the genuine link of
    // the id it names (the input may carry a genuine link for another id).
    let changed = mutate(&link, ops, &text);
    let got = crate::status::subscriptions::parse_token(SECRET, &changed);
    assert!(got.is_none_or(|g| crate::status::subscriptions::link_token(SECRET, g) == changed));
    if let Some(other) = crate::status::subscriptions::parse_token(SECRET, &text) {
        assert_eq!(crate::status::subscriptions::link_token(SECRET, other), text);
    }
    let link = contacts::link_token(SECRET, id);
    assert_eq!(contacts::parse_token(SECRET, &link), Some(id));
    let changed = mutate(&link, ops, &text);
    let got = contacts::parse_token(SECRET, &changed);
    assert!(got.is_none_or(|g| contacts::link_token(SECRET, g) == changed));
    if let Some(other) = contacts::parse_token(SECRET, &text) {
        assert_eq!(contacts::link_token(SECRET, other), text);
    }

    // TOTP: the code typed is the text, the secret the next 20 bytes, the time `who`.
    use crate::auth::totp;
    let secret = &rest[..rest.len().min(totp::SECRET_LEN)];
    let step = who.div_euclid(totp::STEP_SECONDS);
    if let Some(s) = totp::verify(secret, &text, who, None) {
        assert!((step - 1..=step + 1).contains(&s));
        let typed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(at) = s.checked_mul(totp::STEP_SECONDS) {
            assert_eq!(typed, totp::code_at(secret, at));
        }
        assert!(totp::verify(secret, &text, who, Some(s)).is_none_or(|again| again > s), "replayed");
    }
    let code = totp::code_at(secret, who);
    assert!(code.len() == totp::DIGITS && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let s = totp::verify(secret, &code, who, None);
    assert!(s.is_some_and(|s| s == step || s == step - 1), "{s:?} for step {step}");
    assert!(totp::verify(secret, &code, who, Some(step)).is_none_or(|s| s > step), "replayed");
    assert_eq!(totp::base32_decode(&totp::base32_encode(secret)).as_deref(), Some(secret));
    if let Some(bytes) = totp::base32_decode(&text) {
        assert_eq!(totp::base32_decode(&totp::base32_encode(&bytes)), Some(bytes));
    }
    let normal = totp::normalize_recovery_code(&text);
    assert_eq!(totp::normalize_recovery_code(&normal), normal);
    assert_eq!(totp::hash_recovery_code(&text), totp::hash_recovery_code(&normal));

    // The CSRF field of a form body, compared in constant time.
    let sent = crate::auth::extract::csrf_field(rest);
    let want = crate::web::token::hmac_hex(SECRET, b"anon-form:/login");
    assert_eq!(crate::web::token::constant_time_eq(sent.as_bytes(), want.as_bytes()), sent == want);
    let (a, b) = rest.split_at(rest.len() / 2);
    assert_eq!(crate::web::token::constant_time_eq(a, b), a == b);

    // An ingest key in an Authorization header.
    if let Some(key) = crate::usage::api::bearer_key(&text) {
        assert!(text.starts_with("Bearer ") && key.starts_with(crate::usage::keys::PREFIX));
        assert_eq!(key, key.trim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_checker_catches_unsafe_output() {
        assert_eq!(
            html_problem("<p>a &lt; b <a href=\"https://x.org/?a=1&amp;b=2\" rel=\"x\">x</a></p>"),
            None
        );
        assert_eq!(html_problem("<table><thead><tr><th>a</th></tr></thead></table>"), None);
        for bad in [
            "<script>alert(1)</script>",
            "<p>x<SCRIPT src=//evil></SCRIPT></p>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\" java&#x09;script&colon;alert(1)\">x</a>",
            "<a href='JaVaScRiPt:alert(1)'>x</a>",
            "<img src=x onerror=alert(1)>",
            "<p style=\"x\">y</p>",
            "<svg><g/></svg>",
            "a < b",
        ] {
            assert!(html_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(decode_entities("a&amp;quot;&#106;&#x61;&bogus;"), "a&quot;ja&bogus;");
    }

    #[test]
    fn a_genuine_link_for_someone_else_is_not_a_forgery() {
        // The link of user 5 overwritten with the genuine link of user 7 (from the corpus) parses
        // as 7: the property must allow it (an early version of it did not).
        let mut input = 5i64.to_le_bytes().to_vec();
        input.extend_from_slice(b"\x00\x01");
        input.extend_from_slice(crate::status::subscriptions::link_token(SECRET, 7).as_bytes());
        signed_tokens(&input);
        let mut input = 5i64.to_le_bytes().to_vec();
        input.extend_from_slice(b"\x00\x01");
        input.extend_from_slice(suspended::pass_for(SECRET, 42, fixed_now()).as_bytes());
        signed_tokens(&input);
    }

    #[test]
    fn each_target_takes_typical_and_empty_input() {
        let event = r#"{"events": [{"idempotency_key": "a1", "tenant": "lincoln-high",
            "metric": "minutes", "timestamp": "2026-12-01T11:00:00Z", "value": 12.5,
            "properties": {"role": "teacher"}}]}"#;
        type Target = fn(&[u8]);
        let all: [(Target, &[u8]); 8] = [
            (usage_events, event.as_bytes()),
            (usage_backfill, b"{\"idempotency_key\":\"k\",\"tenant\":2,\"metric\":\"assessments\",\"timestamp\":\"2026-12-01T10:00:00Z\"}\nnot json\n"),
            (holidays_csv, b"date,name\n2027-01-01,New Year's Day\n2027-12-25 \"Christmas\"\n"),
            (money_amounts, b"$12,400.00"),
            (form_fields, b"amount=12%2C400.00&date=2026-06-30&email=Pat%40School.org&next=%2Fbilling"),
            (markdown, b"**Fixed.** See [notes](https://example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"),
            (upload_sniff, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
            (signed_tokens, b"\x2a\0\0\0\0\0\0\0\x05\x01Bearer keel_ik_0123"),
        ];
        for (f, input) in all {
            f(input);
            f(b"");
        }
    }
}
