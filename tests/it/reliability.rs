//! Short versions of the reliability proving ground (`docs/RELIABILITY.md`; the long runs are
//! `bench/reliability/*.py`): crash durability of the real binary under SIGKILL, a database
//! outage through a TCP proxy that is cut and restored, many concurrent SQLite writers, and
//! several instances on one database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use diesel::prelude::*;
use keel::auth::Role;
use keel::db::schema::{invoices as inv, usage_events as ue};

use crate::harness::{Backend, TestApp, TestDb, client_of};

// ------------------------------------------------------------------ crash durability

/// A tiny HTTP/1.1 client for the real server (fresh connection per request, manual cookies).
struct Http {
    base: String,
    client: reqwest::Client,
    cookies: std::cell::RefCell<Vec<(String, String)>>,
    csrf: std::cell::RefCell<String>,
}

impl Http {
    fn new(port: u16) -> Http {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Http {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            cookies: Default::default(),
            csrf: Default::default(),
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<(u16, String, String), reqwest::Error> {
        let cookie =
            self.cookies.borrow().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let r = rb.header("Cookie", cookie).header("Origin", &self.base).send().await?;
        let status = r.status().as_u16();
        let location =
            r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            let mut jar = self.cookies.borrow_mut();
            jar.retain(|(n, _)| n != k);
            if !val.is_empty() && !v.to_ascii_lowercase().contains("max-age=0") {
                jar.push((k.to_string(), val.to_string()));
            }
        }
        let body = r.text().await?;
        let token = crate::harness::csrf_from(&body);
        if !token.is_empty() {
            *self.csrf.borrow_mut() = token;
        }
        Ok((status, location, body))
    }

    async fn get(&self, path: &str) -> Result<(u16, String, String), reqwest::Error> {
        self.send(self.client.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, String, String), reqwest::Error> {
        let token = self.csrf.borrow().clone();
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        pairs.push(("csrf_token", &token));
        let rb = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&pairs).unwrap());
        self.send(rb).await
    }

    /// Signs in a demo user; staff accounts set up two-factor authentication the first time.
    async fn sign_in(&self, email: &str, password: &str) {
        self.get("/login").await.unwrap();
        let (st, loc, _) = self.post("/login", &[("email", email), ("password", password)]).await.unwrap();
        assert_eq!(st, 303, "sign-in of {email}");
        if loc.ends_with("/account/2fa/setup") {
            let (_, _, page) = self.get("/account/2fa/setup").await.unwrap();
            let doc = scraper::Html::parse_document(&page);
            let key: String = doc
                .select(&scraper::Selector::parse("pre.code").unwrap())
                .next()
                .expect("TOTP key")
                .text()
                .collect::<String>()
                .replace(' ', "");
            let secret = keel::auth::totp::base32_decode(&key).unwrap();
            let code = keel::auth::totp::code_at(&secret, chrono::Utc::now().timestamp());
            let (st, _, _) = self.post("/account/2fa/setup", &[("code", &code)]).await.unwrap();
            assert!(st == 200 || st == 303, "2FA setup answered {st}");
        }
        self.get("/account").await.unwrap();
    }
}

struct Keel {
    child: std::process::Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_keel(url: &str, data: &std::path::Path, port: u16) -> Keel {
    std::fs::create_dir_all(data).unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("keel.log")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["serve", "--demo"])
        .env("KEEL_DATABASE_URL", url)
        .env("KEEL_DATA_DIR", data)
        .env("KEEL_BIND", format!("127.0.0.1:{port}"))
        .env("KEEL_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env(
            "KEEL_SECRET_KEY",
            "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2traw==",
        )
        .env("KEEL_SMTP_URL", format!("file://{}", data.join("mail").display()))
        .env("KEEL_HTTP_THREADS", "2")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = Http::new(port);
    let start = Instant::now();
    while !matches!(http.get("/healthz").await, Ok((200, _, _))) {
        assert!(start.elapsed() < Duration::from_secs(120), "keel did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Keel { child }
}

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

fn demo_login(data: &std::path::Path, role: &str) -> (String, String) {
    let text = std::fs::read_to_string(data.join("demo-credentials.txt")).unwrap();
    let line = text.lines().find(|l| l.to_lowercase().starts_with(role)).unwrap();
    let cols: Vec<&str> = line.split('\t').collect();
    (cols[2].to_string(), cols[3].to_string())
}

/// What the writers got acknowledged.
#[derive(Default)]
struct Acked {
    events: Vec<String>,
    invoices: Vec<i64>,
}

/// Writes until `stop`: event batches through the API and invoices issued by the admin.
async fn write_until(
    port: u16,
    key: &str,
    admin: &Http,
    tenant: &str,
    slug: &str,
    stop: Instant,
    acked: &mut Acked,
) {
    let api = Http::new(port);
    let mut n = 0u32;
    while Instant::now() < stop {
        n += 1;
        let keys: Vec<String> = (0..10).map(|_| format!("crash-{}", uuid::Uuid::new_v4().simple())).collect();
        let batch: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                serde_json::json!({"idempotency_key": k, "tenant": slug, "metric": "assessments",
                    "timestamp": chrono::Utc::now().to_rfc3339(), "properties": {"user_id": "u1"}})
            })
            .collect();
        let rb = api
            .client
            .post(format!("{}/api/v1/events", api.base))
            .bearer_auth(key)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&batch).unwrap())
            .timeout(Duration::from_secs(5));
        if let Ok(r) = rb.send().await
            && r.status() == 200
            && let Ok(text) = r.text().await
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            for (res, k) in v["results"].as_array().into_iter().flatten().zip(&keys) {
                if res["status"] == "accepted" || res["status"] == "duplicate" {
                    acked.events.push(k.clone());
                }
            }
        }
        if n.is_multiple_of(3) {
            let Ok((303, path, _)) = admin.post("/admin/invoices", &[("tenant_id", tenant)]).await else {
                continue;
            };
            let line = [
                ("description", "Licences"),
                ("kind", "license"),
                ("quantity", "2"),
                ("unit_price", "38.80"),
            ];
            if !matches!(admin.post(&format!("{path}/lines"), &line).await, Ok((303, _, _))) {
                continue;
            }
            if let Ok((303, _, _)) = admin.post(&format!("{path}/issue"), &[]).await {
                acked.invoices.push(path.rsplit('/').next().unwrap().parse().unwrap());
            }
        }
    }
}

/// Runs `keel check` with the server's settings; returns (success, output).
fn keel_check(url: &str, data: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("check")
        .args(extra)
        .env("KEEL_DATABASE_URL", url)
        .env("KEEL_DATA_DIR", data)
        .env(
            "KEEL_SECRET_KEY",
            "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2traw==",
        )
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn sigkill_loses_nothing(backend: Backend) {
    let Some(db) = TestDb::create(backend) else { return };
    let data = db.dir.path().join("data");
    let port = free_port();
    let mut keel = start_keel(&db.url, &data, port).await;
    let key = std::fs::read_to_string(data.join("demo-ingest-key.txt")).unwrap().trim().to_string();
    let (email, pw) = demo_login(&data, "platform admin");
    let admin = Http::new(port);
    admin.sign_in(&email, &pw).await;
    let mut conn = keel::db::build_pool(&db.url, 1).unwrap().get().unwrap();
    let (tenant, slug): (i64, String) = {
        use keel::db::schema::{billing_profiles as bp, tenants};
        tenants::table
            .inner_join(bp::table.on(bp::tenant_id.eq(tenants::id)))
            .filter(bp::address_line1.ne(""))
            .select((tenants::id, tenants::slug))
            .first(&mut conn)
            .unwrap()
    };
    let mut acked = Acked::default();
    // Five kills at random moments of a write load; a restart after each.
    for i in 0..5u64 {
        let stop = Instant::now() + Duration::from_millis(300 + (i * 137) % 500);
        write_until(port, &key, &admin, &tenant.to_string(), &slug, stop, &mut acked).await;
        drop(keel);
        keel = start_keel(&db.url, &data, port).await;
    }
    // Let the outbox drain, then stop.
    let start = Instant::now();
    use keel::db::schema::outbound_emails as oe;
    while oe::table.filter(oe::status.eq("queued")).count().get_result::<i64>(&mut conn).unwrap() > 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "the outbox did not drain after the restarts");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(keel);
    assert!(!acked.events.is_empty() && !acked.invoices.is_empty(), "the load wrote something");
    let stored: i64 =
        ue::table.filter(ue::idempotency_key.eq_any(&acked.events)).count().get_result(&mut conn).unwrap();
    assert_eq!(stored as usize, acked.events.len(), "every acknowledged event is stored");
    let issued: i64 = inv::table
        .filter(inv::id.eq_any(&acked.invoices))
        .filter(inv::number.is_not_null())
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(issued as usize, acked.invoices.len(), "every acknowledged invoice is issued");
    // Every sent email was written once, as its own file.
    let sent: Vec<i64> = oe::table.filter(oe::status.eq("sent")).select(oe::id).load(&mut conn).unwrap();
    for id in &sent {
        assert!(data.join("mail").join(format!("{id:08}.eml")).exists(), "email #{id} delivered");
    }
    // Gapless numbers, PDFs present and hashed, audit chain, SQLite integrity, outbox and
    // jobs, usage buckets. Orphan files a kill left behind are swept, after which none remain.
    keel_check(&db.url, &data, &["--grace-minutes", "0", "--sweep"]);
    let (ok, report) = keel_check(&db.url, &data, &["--grace-minutes", "0"]);
    assert!(ok, "keel check after 5 kills:\n{report}");
}

#[actix_web::test]
async fn sigkill_loses_no_acknowledged_write_sqlite() {
    sigkill_loses_nothing(Backend::Sqlite).await;
}

#[actix_web::test]
async fn sigkill_loses_no_acknowledged_write_postgres() {
    sigkill_loses_nothing(Backend::Postgres).await;
}

// ------------------------------------------------------------------ database outage

/// A TCP forwarder to PostgreSQL that can be cut (every connection closed, new ones refused)
/// and restored on the same port.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    /// Runs on its own thread and runtime: the app under test connects synchronously.
    fn start(target: u16) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (u, g) = (up.clone(), generation.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else { continue };
                    if !u.load(Ordering::SeqCst) {
                        drop(inbound); // refused while down
                        continue;
                    }
                    let (u2, g2, mine) = (u.clone(), g.clone(), g.load(Ordering::SeqCst));
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        else {
                            return;
                        };
                        let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                        let cut = async {
                            while u2.load(Ordering::SeqCst) && g2.load(Ordering::SeqCst) == mine {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        };
                        tokio::select! { _ = copy => {}, _ = cut => {} }
                    });
                }
            });
        });
        Proxy { port, up, generation }
    }

    fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.up.store(false, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn postgres_outage_serves_the_status_snapshot_and_recovers() {
    let Some(app) = TestApp::new(Backend::Postgres) else { return };
    let pg_port: u16 =
        app.db.url.rsplit_once(':').and_then(|(_, r)| r.split('/').next()?.parse().ok()).unwrap_or(5432);
    let proxy = Proxy::start(pg_port);
    // An instance that reaches the same database only through the proxy.
    let url = app.db.url.replacen(&format!(":{pg_port}/"), &format!(":{}/", proxy.port), 1);
    let mut cfg = keel::config::Config::for_tests(&url, app.db.dir.path()).unwrap();
    cfg.pool_size = 3;
    let b = keel::AppState::open_with(cfg, Arc::new(app.clock.clone()), keel::job_registry()).unwrap();
    let (email, pw) = app.user(Role::DistrictAdmin, Some(app.tenant("district", None, "Lincoln")));
    let user = client_of(&b).await;
    assert_eq!(user.login(&email, &pw).await.status, StatusCode::SEE_OTHER);
    let visitor = client_of(&b).await;
    assert_eq!(user.get("/account").await.status, StatusCode::OK);
    assert_eq!(visitor.get("/status").await.status, StatusCode::OK);

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await; // the proxy closes what was open
    let _ = keel::status::refresh(&b).await; // the refresher's next tick
    for _ in 0..5 {
        let r = user.get("/account").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(r.header("retry-after").is_some());
        let page = visitor.get("/status").await;
        assert_eq!(page.status, StatusCode::OK, "the status page answers from the snapshot");
        assert!(page.body.contains("We can't refresh this page right now"), "stale notice");
        let api = visitor.get("/api/v2/summary.json").await;
        assert_eq!(api.status, StatusCode::OK);
        assert!(api.body.contains("\"stale\":true"), "{}", api.body);
        let health = visitor.get("/api/status/health").await;
        assert!(health.body.contains("\"stale\":true"), "{}", health.body);
    }

    proxy.restore();
    let start = Instant::now();
    loop {
        if user.get("/account").await.status == StatusCode::OK {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "pages recover once the database is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    keel::status::refresh(&b).await.unwrap();
    assert!(visitor.get("/api/status/health").await.body.contains("\"stale\":false"));
    // The pool never held more than its size.
    let held: i64 = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = '{}'",
        app.db.url.rsplit('/').next().unwrap()
    ))
    .get_result::<Count>(&mut *app.conn())
    .unwrap()
    .n;
    assert!(held <= 3 + 4 + 1, "connections to the database: {held} (pools of 3 and 4, plus this one)");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

// ------------------------------------------------------------------ contention

#[actix_web::test]
async fn sixteen_sqlite_writers_never_see_database_is_locked() {
    let Some(app) = TestApp::new(Backend::Sqlite) else { return };
    let d = app.tenant("district", None, "Lincoln Public Schools");
    crate::billing::profile_for(&app, d);
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(app.signed_in(Role::Procurement, Some(d)).await);
    }
    let stop = Instant::now() + Duration::from_secs(3);
    let t = d.to_string();
    let writes = clients.iter().enumerate().map(|(i, c)| {
        let t = t.clone();
        async move {
            let mut codes = Vec::new();
            while Instant::now() < stop {
                let line2 = format!("Suite {i}-{}", codes.len());
                let r = c
                    .post(
                        "/billing",
                        &[
                            ("tenant_id", &t),
                            ("mode", "invoice_po"),
                            ("po_number", "PO-2026-0412"),
                            ("currency", "USD"),
                            ("terms_days", "30"),
                            ("address_line1", "5905 O Street"),
                            ("address_line2", &line2),
                            ("city", "Lincoln"),
                            ("region", "NE"),
                            ("postal_code", "68510"),
                            ("country", "us"),
                            ("schedule", "annual"),
                        ],
                    )
                    .await;
                codes.push((r.status, r.body.contains("database is locked")));
            }
            codes
        }
    });
    let all: Vec<_> = futures_util::future::join_all(writes).await.into_iter().flatten().collect();
    let failed: Vec<_> = all.iter().filter(|(s, locked)| *s != StatusCode::SEE_OTHER || *locked).collect();
    assert!(all.len() >= 16, "the writers wrote");
    assert!(
        failed.is_empty(),
        "{} of {} writes failed: {:?}",
        failed.len(),
        all.len(),
        &failed[..failed.len().min(5)]
    );
}

// ------------------------------------------------------------------ several instances

#[actix_web::test]
async fn instances_share_sessions_status_jobs_and_invoice_numbers() {
    let Some(app) = TestApp::new(Backend::Postgres) else { return };
    let files = tempfile::tempdir().unwrap();
    let b = app.second_instance(Some(files.path()));
    let c = app.second_instance(Some(files.path()));

    // A session made on one instance works on the others; signing out on one ends it on all.
    let on_a = app.signed_in(Role::PlatformAdmin, None).await;
    let session = on_a.cookie("keel_session").unwrap();
    let on_b = client_of(&b).await;
    on_b.set_cookie("keel_session", &session);
    assert_eq!(on_b.get("/admin").await.status, StatusCode::OK);

    // A status change made on A shows on B's public page after B's refresh.
    let r =
        on_a.post("/admin/status/components", &[("name", "Recording service"), ("description", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let visitor_b = client_of(&b).await;
    keel::status::refresh(&b).await.unwrap();
    assert!(visitor_b.get("/status").await.body.contains("Recording service"));

    // Each schedule's period is enqueued once, however many instances ask.
    let n: usize = keel::jobs::schedule::enqueue_due(&app.state).await.unwrap()
        + keel::jobs::schedule::enqueue_due(&b).await.unwrap()
        + keel::jobs::schedule::enqueue_due(&c).await.unwrap();
    assert_eq!(n, app.state.jobs().schedules().len(), "one job per schedule and period");

    // Twelve drafts issued at once through three instances: numbers 1..12, no duplicate.
    let d = app.tenant("district", None, "Lincoln Public Schools");
    crate::billing::profile_for(&app, d);
    let mut paths = Vec::new();
    for _ in 0..12 {
        let r = on_a.post("/admin/invoices", &[("tenant_id", &d.to_string())]).await;
        let path = r.location();
        let line =
            [("description", "Licences"), ("kind", "license"), ("quantity", "2"), ("unit_price", "38.80")];
        assert_eq!(on_a.post(&format!("{path}/lines"), &line).await.status, StatusCode::SEE_OTHER);
        paths.push(path);
    }
    let on_c = client_of(&c).await;
    on_c.set_cookie("keel_session", &session);
    on_b.refresh_csrf().await;
    on_c.refresh_csrf().await;
    let clients = [&on_a, &on_b, &on_c];
    let issue_paths: Vec<String> = paths.iter().map(|p| format!("{p}/issue")).collect();
    let issues = issue_paths.iter().enumerate().map(|(i, p)| clients[i % 3].post(p, &[]));
    for r in futures_util::future::join_all(issues).await {
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let mut numbers: Vec<i64> = inv::table
        .filter(inv::tenant_id.eq(d))
        .select(inv::number)
        .load::<Option<String>>(&mut *app.conn())
        .unwrap()
        .into_iter()
        .filter_map(|n| keel::billing::numbering::parse_number(&n?).map(|(_, _, s)| s))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());

    assert_eq!(on_b.post("/logout", &[]).await.status, StatusCode::SEE_OTHER);
    assert_ne!(on_a.get("/admin").await.status, StatusCode::OK, "signed out everywhere");
    assert_ne!(on_c.get("/admin").await.status, StatusCode::OK, "signed out everywhere");
}
