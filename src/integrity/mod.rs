//! `keel check`: reads the whole database and file store and reports anything a crash, an
//! outage or a bug could have broken. Operators run it after a restore or an incident; the
//! reliability harness (`bench/reliability/`) runs it after killing Keel hundreds of times.
//!
//! Each check says what it looked at and lists the first few problems it found:
//! - the database file itself (SQLite `integrity_check` and `foreign_key_check`);
//! - invoice numbers: per tenant and year exactly 1..N, no duplicate, and the counter at N;
//! - every file a row points at (invoice and void PDFs, PO documents, attachments, the logo,
//!   statements) is stored and still matches its SHA-256;
//! - orphan files: stored files no row points at (a crash between writing a file and committing
//!   its row leaves one; `--sweep`, and the daily `files.sweep` job, delete those older than the
//!   grace period);
//! - the audit trail's hash chain;
//! - the outbox and the job queue: nothing sent twice, nothing stuck;
//! - usage buckets against the raw events (the last 35 days).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

use crate::AppState;
use crate::db::DbConn;
use crate::db::schema::{
    invoice_counters as ic, invoice_disputes as idp, invoices as inv, jobs, outbound_emails as oe,
    po_documents as po, sla_statements as st, support_requests as sr, vendor_settings as vs,
};
use crate::error::AppError;

/// At most this many problems are listed per check.
const EXAMPLES: usize = 10;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// What was looked at, in a few words ("212 invoices in 9 tenant-years").
    pub summary: String,
    /// Problems found (the first few).
    pub problems: Vec<String>,
    /// How many problems in all.
    pub problem_count: usize,
}

impl Check {
    fn new(name: &'static str) -> Self {
        Check { name, summary: String::new(), problems: Vec::new(), problem_count: 0 }
    }

    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < EXAMPLES {
            self.problems.push(p);
        }
    }

    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }
}

/// Everything `keel check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Orphan files deleted by `--sweep`.
    pub swept: usize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(Check::ok)
    }
}

/// Options of a run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Delete orphan files older than the grace period.
    pub sweep: bool,
    /// Files younger than this are never called orphans: another instance may be about to
    /// commit the row that points at them.
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { sweep: false, grace: Duration::minutes(60) }
    }
}

/// Deletes orphan files older than the default grace period (the daily `files.sweep` job).
/// Returns how many were deleted.
pub async fn sweep(state: &AppState) -> Result<usize, AppError> {
    let refs = state.db(referenced_files).await?;
    let opts = Options { sweep: true, ..Options::default() };
    let (_, _, swept) = files(state, &refs, state.now(), opts).await?;
    if swept > 0 {
        tracing::info!(swept, "deleted orphan files");
    }
    Ok(swept)
}

/// Registers the daily sweep of orphan files.
pub fn register_jobs(reg: &mut crate::jobs::Registry) {
    reg.add("files.sweep", |state: AppState, _job| async move {
        sweep(&state).await?;
        Ok(())
    });
    reg.every("files.sweep", "41 4 * * *", "files.sweep");
}

/// Runs every check.
pub async fn run(state: &AppState, opts: Options) -> Result<Report, AppError> {
    let now = state.now();
    let (mut checks, refs) = state
        .db(move |c| {
            let mut checks = vec![database(c)?, invoice_numbers(c)?];
            checks.push(audit_chain(c)?);
            checks.push(outbox_and_jobs(c, now)?);
            checks.push(usage_buckets(c, now)?);
            Ok((checks, referenced_files(c)?))
        })
        .await?;
    let (files_check, orphans_check, swept) = files(state, &refs, now, opts).await?;
    checks.insert(2, files_check);
    checks.insert(3, orphans_check);
    Ok(Report { checks, swept })
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct FkRow {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = BigInt)]
    rowid: i64,
    #[diesel(sql_type = Text)]
    parent: String,
}

fn database(c: &mut DbConn) -> Result<Check, AppError> {
    let mut check = Check::new("database");
    match c {
        DbConn::Sqlite(conn) => {
            let rows: Vec<TextRow> =
                diesel::sql_query("SELECT integrity_check AS v FROM pragma_integrity_check").load(conn)?;
            for r in rows.iter().filter(|r| r.v != "ok") {
                check.problem(format!("integrity_check: {}", r.v));
            }
            let fks: Vec<FkRow> = diesel::sql_query(
                "SELECT \"table\" AS \"table\", COALESCE(rowid, -1) AS rowid, parent FROM pragma_foreign_key_check",
            )
            .load(conn)?;
            for f in &fks {
                check.problem(format!("{} row {} points at a missing {} row", f.table, f.rowid, f.parent));
            }
            check.summary = "SQLite integrity_check and foreign_key_check".into();
        }
        DbConn::Pg(_) => {
            // PostgreSQL checks its own pages and enforces foreign keys on every write.
            check.summary = "PostgreSQL (pages and foreign keys are checked by the server)".into();
        }
    }
    Ok(check)
}

fn invoice_numbers(c: &mut DbConn) -> Result<Check, AppError> {
    let mut check = Check::new("invoice numbers");
    let numbered: Vec<(i64, i64, Option<String>)> = inv::table
        .filter(inv::number.is_not_null())
        .select((inv::id, inv::tenant_id, inv::number))
        .load(c)?;
    let mut seqs: BTreeMap<(i64, i32), Vec<(i64, i64)>> = BTreeMap::new();
    for (id, tenant, number) in &numbered {
        let number = number.as_deref().unwrap_or_default();
        match crate::billing::numbering::parse_number(number) {
            Some((_, year, seq)) => seqs.entry((*tenant, year)).or_default().push((seq, *id)),
            None => check.problem(format!("invoice #{id} has a malformed number {number:?}")),
        }
    }
    let counters: BTreeMap<(i64, i32), i64> = ic::table
        .select((ic::tenant_id, ic::year, ic::last_number))
        .load::<(i64, i32, i64)>(c)?
        .into_iter()
        .map(|(t, y, n)| ((t, y), n))
        .collect();
    for ((tenant, year), list) in &mut seqs {
        list.sort_unstable();
        for (want, (seq, id)) in (1i64..).zip(list.iter()) {
            if *seq != want {
                check.problem(format!(
                    "tenant {tenant}, {year}: expected number {want}, found {seq} (invoice #{id}): a gap or a duplicate"
                ));
                break;
            }
        }
        let n = i64::try_from(list.len()).unwrap_or(i64::MAX);
        match counters.get(&(*tenant, *year)) {
            Some(last) if *last == n => {}
            Some(last) => check.problem(format!(
                "tenant {tenant}, {year}: the counter is at {last} but {n} invoices are numbered"
            )),
            None => check.problem(format!("tenant {tenant}, {year}: numbered invoices but no counter")),
        }
    }
    for ((tenant, year), last) in &counters {
        if *last > 0 && !seqs.contains_key(&(*tenant, *year)) {
            check.problem(format!(
                "tenant {tenant}, {year}: the counter is at {last} but no invoice is numbered"
            ));
        }
    }
    check.summary = format!("{} numbered invoices in {} tenant-years", numbered.len(), seqs.len());
    Ok(check)
}

/// Every file a row points at, with the row that does (for the messages).
fn referenced_files(c: &mut DbConn) -> Result<BTreeMap<String, String>, AppError> {
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |hash: Option<String>, what: String| {
        if let Some(h) = hash.filter(|h| !h.is_empty()) {
            refs.entry(h).or_insert(what);
        }
    };
    for (id, a, b) in
        inv::table.select((inv::id, inv::pdf_sha256, inv::void_pdf_sha256)).load::<(i64, _, _)>(c)?
    {
        add(a, format!("invoice #{id} PDF"));
        add(b, format!("invoice #{id} void PDF"));
    }
    for (id, h) in po::table.select((po::id, po::sha256)).load::<(i64, String)>(c)? {
        add(Some(h), format!("PO document #{id}"));
    }
    for (id, h) in oe::table.select((oe::id, oe::attachment_sha256)).load::<(i64, Option<String>)>(c)? {
        add(h, format!("email #{id} attachment"));
    }
    for (id, h) in st::table.select((st::id, st::pdf_sha256)).load::<(i64, String)>(c)? {
        add(Some(h), format!("SLA statement #{id}"));
    }
    for (id, h) in sr::table.select((sr::id, sr::attachment_sha256)).load::<(i64, Option<String>)>(c)? {
        add(h, format!("support request #{id} attachment"));
    }
    for (id, h) in idp::table.select((idp::id, idp::document_sha256)).load::<(i64, Option<String>)>(c)? {
        add(h, format!("dispute #{id} document"));
    }
    for h in vs::table.select(vs::logo_sha256).load::<Option<String>>(c)? {
        add(h, "the vendor logo".into());
    }
    Ok(refs)
}

async fn files(
    state: &AppState,
    refs: &BTreeMap<String, String>,
    now: DateTime<Utc>,
    opts: Options,
) -> Result<(Check, Check, usize), AppError> {
    let mut present = Check::new("files");
    for (hash, what) in refs {
        match state.files().get(hash).await {
            Ok(_) => {}
            Err(crate::storage::StorageError::NotFound) => {
                present.problem(format!("{what}: file {hash} is missing"))
            }
            Err(e) => present.problem(format!("{what}: {e}")),
        }
    }
    present.summary = format!("{} referenced files read and hashed", refs.len());

    let mut orphans = Check::new("orphan files");
    let stored = state.files().list().await.map_err(|e| AppError::internal(e.to_string()))?;
    let mut young = 0usize;
    let mut swept = 0usize;
    for f in &stored {
        if !f.key.is_empty() && refs.contains_key(&f.key) {
            continue;
        }
        if now - f.modified < opts.grace {
            young += 1;
            continue;
        }
        if opts.sweep {
            state.files().delete(f).await.map_err(|e| AppError::internal(e.to_string()))?;
            swept += 1;
        } else {
            orphans.problem(format!("{} ({} bytes, {}) is not referenced", f.location, f.size, f.modified));
        }
    }
    orphans.summary = format!(
        "{} stored files; {young} unreferenced but younger than {} min (may be in flight){}",
        stored.len(),
        opts.grace.num_minutes(),
        if opts.sweep { format!("; {swept} orphans deleted") } else { String::new() }
    );
    Ok((present, orphans, swept))
}

fn audit_chain(c: &mut DbConn) -> Result<Check, AppError> {
    let mut check = Check::new("audit chain");
    match crate::audit::store::verify(c)? {
        Ok(v) => check.summary = format!("{} events, last #{}", v.count, v.last_seq),
        Err(b) => {
            check.summary = "hash chain recomputed".into();
            check.problem(format!("broken at event #{}: {}", b.seq, b.reason));
        }
    }
    Ok(check)
}

fn outbox_and_jobs(c: &mut DbConn, now: DateTime<Utc>) -> Result<Check, AppError> {
    let mut check = Check::new("outbox and jobs");
    let emails: Vec<(i64, String, Option<String>, String)> =
        oe::table.select((oe::id, oe::message_id, oe::dedupe_key, oe::status)).load(c)?;
    let mut ids = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for (id, message_id, key, status) in &emails {
        if !ids.insert(message_id.as_str()) {
            check.problem(format!("email #{id}: Message-ID {message_id} is used twice"));
        }
        if let Some(k) = key
            && !keys.insert(k.as_str())
        {
            check.problem(format!("email #{id}: dedupe key {k} is used twice"));
        }
        *by_status.entry(status.clone()).or_default() += 1;
    }
    type JobRow = (i64, String, Option<String>, String, Option<chrono::NaiveDateTime>);
    let job_rows: Vec<JobRow> = jobs::table
        .select((jobs::id, jobs::kind, jobs::dedupe_key, jobs::status, jobs::locked_until))
        .load(c)?;
    let mut job_keys = BTreeSet::new();
    let mut stale = 0usize;
    let cutoff = crate::db::now_micros(now) - Duration::hours(1);
    for (id, kind, key, status, locked) in &job_rows {
        if let Some(k) = key
            && !job_keys.insert(k.as_str())
        {
            check.problem(format!("job #{id} ({kind}): dedupe key {k} is used twice"));
        }
        if status == "running" && locked.is_some_and(|l| l < cutoff) {
            stale += 1;
        }
    }
    if stale > 0 {
        check.problem(format!("{stale} jobs have been 'running' with a lock that expired over an hour ago"));
    }
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    check.summary = format!(
        "{} emails ({}), {} jobs",
        emails.len(),
        if statuses.is_empty() { "none".into() } else { statuses.join(", ") },
        job_rows.len()
    );
    Ok(check)
}

fn usage_buckets(c: &mut DbConn, now: DateTime<Utc>) -> Result<Check, AppError> {
    let mut check = Check::new("usage buckets");
    let to = now.date_naive();
    let from = to - Duration::days(35);
    let r = crate::usage::reconcile::reconcile(c, None, from, to, false)?;
    check.summary = format!(
        "{} buckets of {} tenants, {from} to {to}, recomputed from raw events",
        r.buckets_checked, r.tenants
    );
    for e in &r.examples {
        check.problem(e.clone());
    }
    let extra = (r.mismatches + r.unique_mismatches).saturating_sub(r.examples.len());
    check.problem_count += extra;
    Ok(check)
}
