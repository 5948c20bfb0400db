//! The `keel` command: `serve`, `migrate`, `user create`, `demo seed`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use actix_web::HttpServer;
use clap::{Args, Parser, Subcommand};

use keel::auth::model::{NewMembership, NewUser};
use keel::auth::{Role, password, store as users};
use keel::config::{Config, RawSettings};
use keel::db::{now_micros, write_tx};
use keel::{AppState, build_app, demo, jobs};

/// Keel: a self-hosted reliability and procurement console.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

/// Settings shared by every command; each flag has a `KEEL_...` environment twin.
#[derive(Debug, Args)]
struct Settings {
    /// Database URL: sqlite://PATH (default <data dir>/keel.db) or postgres://USER@HOST/DB.
    #[arg(long, env = "KEEL_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Directory for the SQLite database, the generated secret key and stored files.
    #[arg(long, env = "KEEL_DATA_DIR", global = true)]
    data_dir: Option<String>,
    /// Public URL of this Keel (used in emails and for HSTS/secure cookies when https).
    #[arg(long, env = "KEEL_BASE_URL", global = true)]
    base_url: Option<String>,
    /// Outgoing mail: smtp://HOST:PORT, smtps://USER:PASS@HOST, file://DIR; unset stores and logs only.
    #[arg(long, env = "KEEL_SMTP_URL", global = true, hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender of outgoing mail, e.g. "Keel <status@vendor.com>".
    #[arg(long, env = "KEEL_MAIL_FROM", global = true)]
    mail_from: Option<String>,
    /// File storage: file://DIR (default <data dir>/files).
    #[arg(long, env = "KEEL_OBJECT_STORE", global = true)]
    object_store: Option<String>,
    /// development (default) or production (requires KEEL_SECRET_KEY and KEEL_BASE_URL).
    #[arg(long = "env", env = "KEEL_ENV", global = true)]
    run_mode: Option<String>,
    /// Maximum database connections of this process.
    #[arg(long, env = "KEEL_DB_POOL_SIZE", global = true)]
    pool_size: Option<String>,
    /// Minutes without activity before a session ends (default 30).
    #[arg(long, env = "KEEL_SESSION_IDLE_MINUTES", global = true)]
    session_idle_minutes: Option<String>,
    /// Hours after sign-in when a session ends regardless (default 12).
    #[arg(long, env = "KEEL_SESSION_MAX_HOURS", global = true)]
    session_max_hours: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (and the background job workers).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Demo data.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Usage metering.
    #[command(subcommand)]
    Usage(UsageCommand),
    /// Check the data for damage: database file, invoice numbering, stored files, orphan
    /// files, the audit chain, the outbox and jobs, usage buckets. Exit 1 when something is wrong.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Delete orphan files (stored files no row points at) older than the grace period.
    #[arg(long)]
    sweep: bool,
    /// Unreferenced files younger than this many minutes are left alone: a running instance
    /// may be about to commit the row that points at them.
    #[arg(long, default_value_t = 60)]
    grace_minutes: i64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum UsageCommand {
    /// Recompute the daily usage buckets from the raw events, report mismatches and fix them.
    Reconcile {
        /// Only this tenant (slug or id); default every tenant with events.
        #[arg(long)]
        tenant: Option<String>,
        /// First day (YYYY-MM-DD); default 35 days ago (the late window).
        #[arg(long)]
        from: Option<String>,
        /// Last day (YYYY-MM-DD); default today.
        #[arg(long)]
        to: Option<String>,
        /// Report only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Import events from a JSON-lines file (one event per line) through the API's validation.
    Backfill {
        /// The file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exit 1 naming the first bad sequence number.
    Verify {
        /// A checkpoint downloaded from /admin/audit/checkpoint: also detects a truncated tail.
        #[arg(long)]
        from_checkpoint: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Seed demo data on an empty database and print the demo sign-ins.
    #[arg(long)]
    demo: bool,
    /// Address to listen on.
    #[arg(long, env = "KEEL_BIND")]
    bind: Option<String>,
    /// Background job workers in this process.
    #[arg(long, env = "KEEL_WORKERS")]
    workers: Option<String>,
    /// Run no background job workers in this process.
    #[arg(long)]
    no_worker: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "KEEL_HTTP_THREADS")]
    http_threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is prompted for, or read from standard input.
    Create {
        /// Email address (sign-in name).
        #[arg(long)]
        email: String,
        /// platform_admin, support_agent, district_admin, auditor, procurement, school_admin or staff.
        #[arg(long)]
        role: String,
        /// Tenant slug for tenant roles (a district for district roles, a school for school roles).
        #[arg(long)]
        tenant: Option<String>,
        /// Display name (defaults to the part of the email before @).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Seed the demo data into an empty database and print the sign-ins.
    Seed,
}

fn raw_settings(s: &Settings, bind: Option<String>, workers: Option<String>) -> RawSettings {
    RawSettings {
        database_url: s.database_url.clone(),
        data_dir: s.data_dir.clone(),
        bind,
        base_url: s.base_url.clone(),
        secret_key: std::env::var("KEEL_SECRET_KEY").ok(),
        smtp_url: s.smtp_url.clone(),
        mail_from: s.mail_from.clone(),
        object_store: s.object_store.clone(),
        env: s.run_mode.clone(),
        pool_size: s.pool_size.clone(),
        workers,
        session_idle_minutes: s.session_idle_minutes.clone(),
        session_max_hours: s.session_max_hours.clone(),
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KEEL_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(if json { "info" } else { "warn" }));
    if json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging(true);
            serve(&cli.settings, args)
        }
        Command::Migrate => {
            init_logging(false);
            migrate(&cli.settings)
        }
        Command::User(UserCommand::Create { email, role, tenant, name }) => {
            init_logging(false);
            create_user(&cli.settings, &email, &role, tenant.as_deref(), name.as_deref())
        }
        Command::Demo(DemoCommand::Seed) => {
            init_logging(false);
            seed_demo(&cli.settings)
        }
        Command::Usage(cmd) => {
            init_logging(false);
            match usage_command(&cli.settings, cmd) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(e) => Err(e),
            }
        }
        Command::Check(args) => {
            init_logging(false);
            match check(&cli.settings, &args) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(e) => Err(e),
            }
        }
        Command::Audit(AuditCommand::Verify { from_checkpoint }) => {
            init_logging(false);
            match audit_verify(&cli.settings, from_checkpoint.as_deref()) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(1),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn open(settings: &Settings, bind: Option<String>, workers: Option<String>) -> anyhow::Result<AppState> {
    let cfg = Config::from_raw(raw_settings(settings, bind, workers))?;
    AppState::open(cfg)
}

fn serve(settings: &Settings, args: ServeArgs) -> anyhow::Result<()> {
    let state = open(settings, args.bind.clone(), args.workers.clone())?;
    let cfg = state.config().clone();
    let mut fresh_demo = false;
    if args.demo {
        match demo::seed(&state)? {
            demo::Seeded::Created(logins, key) => {
                fresh_demo = true;
                let saved = demo::save_logins(&logins, &cfg.data_dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|e| format!("(not saved: {e})"));
                demo::print_logins(&logins, &cfg.base_url, &saved);
                demo::print_ingest_key(&key, &cfg.base_url, &cfg.data_dir);
            }
            demo::Seeded::AlreadyPresent => {
                let path = cfg.data_dir.join("demo-credentials.txt");
                println!(
                    "Keel demo data is already present; the demo sign-ins were printed on first start (copy: {}).",
                    path.display()
                );
            }
        }
    }
    {
        // The snapshot was built before any demo data: rebuild it now.
        let mut conn = state.pool().get()?;
        state.set_status_snapshot(keel::status::snapshot::build(&mut conn, state.now())?);
    }
    let worker_count = if args.no_worker { 0 } else { cfg.workers };
    let bind = cfg.bind.clone();
    tracing::info!(bind = %bind, database = cfg.backend.name(), workers = worker_count, version = keel::VERSION, "keel starting");
    actix_web::rt::System::new().block_on(async move {
        if fresh_demo {
            demo::seed_invoices(&state).await?;
        }
        let app_state = state.clone();
        let mut server = HttpServer::new(move || build_app(app_state.clone())).shutdown_timeout(10);
        if let Some(n) = args.http_threads.filter(|n| *n > 0) {
            server = server.workers(n);
        }
        let server =
            server.bind(&bind).map_err(|e| anyhow::anyhow!("KEEL_BIND: cannot listen on {bind}: {e}"))?.run();
        keel::status::spawn_refresher(state.clone(), std::time::Duration::from_secs(15));
        jobs::spawn_workers(state, worker_count);
        println!("Keel is listening on http://{bind}/");
        server.await.map_err(|e| anyhow::anyhow!("server: {e}"))
    })
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let cfg = Config::from_raw(raw_settings(settings, None, None))?;
    let pool = keel::db::build_pool(&cfg.database_url, 1)?;
    let mut conn = pool.get()?;
    let applied = keel::db::run_migrations(&mut conn)?;
    let (total, _) = keel::db::migration_status(&mut conn)?;
    if applied.is_empty() {
        println!("The {} database is up to date ({total} migrations).", cfg.backend.name());
    } else {
        for m in &applied {
            println!("applied {m}");
        }
        println!("{} migrations applied; {total} in all.", applied.len());
    }
    Ok(())
}

fn read_password(email: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let a = rpassword::prompt_password(format!("Password for {email}: "))?;
        let b = rpassword::prompt_password("Repeat the password: ")?;
        if a != b {
            anyhow::bail!("the two passwords differ");
        }
        Ok(a)
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn create_user(
    settings: &Settings,
    email: &str,
    role: &str,
    tenant: Option<&str>,
    name: Option<&str>,
) -> anyhow::Result<()> {
    let email = email.trim().to_ascii_lowercase();
    if !keel::web::form::is_email(&email) {
        anyhow::bail!("--email: '{email}' is not an email address");
    }
    let role = Role::parse(role).ok_or_else(|| {
        anyhow::anyhow!(
            "--role: '{role}' is not a role; use one of {}",
            Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
        )
    })?;
    if role.is_internal() && tenant.is_some() {
        anyhow::bail!("--tenant: internal roles ({}) work across all tenants; leave it out", role.as_str());
    }
    if !role.is_internal() && tenant.is_none() {
        anyhow::bail!("--tenant: a {} belongs to a tenant; give its slug", role.as_str());
    }
    let state = open(settings, None, None)?;
    let mut conn = state.pool().get()?;
    if users::user_by_email(&mut conn, &email)?.is_some() {
        anyhow::bail!("--email: a user with {email} already exists");
    }
    let tenant_row = match tenant {
        Some(slug) => {
            let t = keel::tenancy::store::by_slug(&mut conn, &slug.to_ascii_uppercase())?
                .ok_or_else(|| anyhow::anyhow!("--tenant: no tenant with slug '{slug}'"))?;
            let needs = if role.is_district_role() { "district" } else { "school" };
            if t.kind != needs {
                anyhow::bail!(
                    "--tenant: a {} belongs to a {needs}, but {} is a {}",
                    role.as_str(),
                    t.slug,
                    t.kind
                );
            }
            Some(t)
        }
        None => None,
    };
    let pw = read_password(&email)?;
    password::check_policy(&pw, &email).map_err(|m| anyhow::anyhow!("password: {m}"))?;
    let hash = password::hash(&pw).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let now = now_micros(state.now());
    let display =
        name.map(str::to_string).unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
    let id = write_tx(&mut conn, |c| -> Result<i64, diesel::result::Error> {
        let id = users::insert_user(
            c,
            &NewUser {
                email: email.clone(),
                display_name: display,
                password_hash: Some(hash),
                platform_role: role.is_internal().then(|| role.as_str().to_string()),
                status: "active".into(),
                password_changed_at: Some(now),
                created_at: now,
                updated_at: now,
            },
        )?;
        if let Some(t) = &tenant_row {
            users::insert_membership(
                c,
                &NewMembership { user_id: id, tenant_id: t.id, role: role.as_str().into(), created_at: now },
            )?;
        }
        Ok(id)
    })?;
    println!("Created user #{id} {email} ({}).", role.label());
    Ok(())
}

fn audit_verify(settings: &Settings, checkpoint: Option<&std::path::Path>) -> anyhow::Result<bool> {
    let cfg = Config::from_raw(raw_settings(settings, None, None))?;
    let cp = match checkpoint {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--from-checkpoint: cannot read {}: {e}", path.display()))?;
            Some(serde_json::from_str::<keel::audit::chain::Checkpoint>(&text).map_err(|e| {
                anyhow::anyhow!("--from-checkpoint: {} is not a Keel checkpoint: {e}", path.display())
            })?)
        }
        None => None,
    };
    let pool = keel::db::build_pool(&cfg.database_url, 1)?;
    let mut conn = pool.get()?;
    keel::db::run_migrations(&mut conn)?;
    match keel::audit::verify(&mut conn, cp.as_ref(), &cfg.secret_key).map_err(|e| anyhow::anyhow!("{e}"))? {
        keel::audit::VerifyOutcome::Ok { count, last_seq, last_hash } => {
            println!("Audit chain OK: {count} events, last #{last_seq} ({last_hash}).");
            if let Some(cp) = cp {
                println!("It contains the checkpoint of {} (event #{}).", cp.taken_at, cp.seq);
            }
            Ok(true)
        }
        keel::audit::VerifyOutcome::Broken(b) => {
            println!("Audit chain BROKEN at event #{}: {}.", b.seq, b.reason);
            Ok(false)
        }
    }
}

/// `keel check`: true when every check passed.
fn check(settings: &Settings, args: &CheckArgs) -> anyhow::Result<bool> {
    let state = open(settings, None, None)?;
    let opts = keel::integrity::Options {
        sweep: args.sweep,
        grace: chrono::Duration::minutes(args.grace_minutes.max(0)),
    };
    let report = actix_web::rt::System::new()
        .block_on(async move { keel::integrity::run(&state, opts).await })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            println!("{} {}: {}", if c.ok() { "ok  " } else { "FAIL" }, c.name, c.summary);
            for p in &c.problems {
                println!("       {p}");
            }
            if c.problem_count > c.problems.len() {
                println!("       ... and {} more", c.problem_count - c.problems.len());
            }
        }
    }
    Ok(report.ok())
}

/// Runs a `keel usage` command; false when a reconcile found mismatches in a dry run or a
/// backfill rejected lines (exit status 1).
fn usage_command(settings: &Settings, cmd: UsageCommand) -> anyhow::Result<bool> {
    let state = open(settings, None, None)?;
    let mut conn = state.pool().get()?;
    match cmd {
        UsageCommand::Reconcile { tenant, from, to, dry_run } => {
            let today = state.now().date_naive();
            let day = |s: Option<String>, default: chrono::NaiveDate| -> anyhow::Result<chrono::NaiveDate> {
                match s {
                    None => Ok(default),
                    Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|_| anyhow::anyhow!("'{s}' is not a date like 2026-11-01")),
                }
            };
            let from = day(from, today - chrono::Duration::days(keel::usage::ingest::LATE_WINDOW_DAYS))?;
            let to = day(to, today)?;
            let tenants = match tenant {
                None => None,
                Some(t) => {
                    let cat = keel::usage::ingest::catalog(&mut conn)?;
                    let id = cat
                        .tenant(&serde_json::Value::String(t.clone()))
                        .ok_or_else(|| anyhow::anyhow!("no tenant '{t}'"))?;
                    Some(vec![id])
                }
            };
            let r = keel::usage::reconcile::reconcile(&mut conn, tenants.as_deref(), from, to, !dry_run)?;
            println!(
                "Reconciled {} tenant(s), {from} to {to}: {} bucket(s) checked, {} mismatch(es), {} distinct-subject mismatch(es){}.",
                r.tenants,
                r.buckets_checked,
                r.mismatches,
                r.unique_mismatches,
                if dry_run || r.mismatches + r.unique_mismatches == 0 { "" } else { ", all fixed" }
            );
            for e in &r.examples {
                println!("  {e}");
            }
            Ok(!dry_run || r.mismatches + r.unique_mismatches == 0)
        }
        UsageCommand::Backfill { file } => {
            let f = std::fs::File::open(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let r = keel::usage::reconcile::backfill(&mut conn, std::io::BufReader::new(f), state.now())?;
            println!(
                "{} line(s): {} accepted, {} already recorded, {} rejected.",
                r.lines,
                r.accepted,
                r.duplicates,
                r.rejected.len()
            );
            for (line, code, reason) in r.rejected.iter().take(50) {
                println!("  line {line}: {code}: {reason}");
            }
            Ok(r.rejected.is_empty())
        }
    }
}

fn seed_demo(settings: &Settings) -> anyhow::Result<()> {
    let state = open(settings, None, None)?;
    match demo::seed(&state)? {
        demo::Seeded::Created(logins, key) => {
            let st = state.clone();
            actix_web::rt::System::new().block_on(async move { demo::seed_invoices(&st).await })?;
            let saved = demo::save_logins(&logins, &state.config().data_dir)?;
            demo::print_logins(&logins, &state.config().base_url, &saved.display().to_string());
            demo::print_ingest_key(&key, &state.config().base_url, &state.config().data_dir);
        }
        demo::Seeded::AlreadyPresent => println!("The database already has users; demo data was not added."),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
