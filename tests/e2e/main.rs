//! Browser tests: a real `keel serve --demo` driven through chromedriver + headless Chromium.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Outside CI a
//! missing browser skips these tests with a loud warning; with `CI=true` it fails.
//!
//! Each journey ends with [`Browser::close`], which fails it on a CSP violation, a JavaScript
//! dialog it did not accept on purpose, or a secret in the server's output (see `checks.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checks;
mod journeys;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// A port no other test of this process will be given (ports from the OS may repeat
/// between concurrent tests once released).
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 20_000) as u16;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::SeqCst);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn find_exe(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Kills the child process when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A demo Keel server, a chromedriver and a browser session.
pub struct Browser {
    pub client: Client,
    pub base: String,
    /// (role label, email, password) from the demo's sign-in table.
    pub logins: Vec<(String, String, String)>,
    /// Secrets seen during the journey; none may appear in the server's output.
    secrets: Mutex<checks::Secrets>,
    /// The messages of the confirmations the journey accepted on purpose.
    confirmed: Mutex<Vec<String>>,
    keel: Guard,
    _driver: Guard,
    dir: tempfile::TempDir,
    _serial: tokio::sync::OwnedMutexGuard<()>,
}

/// What [`Browser::close_report`] found.
#[derive(Debug)]
pub struct CloseReport {
    /// CSP violations the server logged from `/csp-report`.
    pub server_violations: usize,
    /// CSP messages in the browser console.
    pub console_violations: Vec<String>,
    /// Dialogs not accepted through [`Browser::accept_confirm`] (or still open).
    pub unexpected_dialogs: Vec<checks::Dialog>,
    /// Confirmations accepted on purpose.
    pub confirmations: usize,
    /// Secrets looked for, by kind.
    pub secrets: String,
    pub secret_count: usize,
    pub scan: checks::Scan,
}

/// Browser journeys run one at a time: on a 2-core machine several Chromiums and debug servers
/// at once make page loads slow enough to turn waits flaky.
fn serial_lock() -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static LOCK: std::sync::OnceLock<std::sync::Arc<tokio::sync::Mutex<()>>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))).clone()
}

fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what} did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Browser {
    /// Starts everything, or returns None (outside CI) when no browser is installed.
    pub async fn start() -> Option<Browser> {
        let serial = serial_lock().lock_owned().await;
        let chromium = find_exe(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = find_exe(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if in_ci() {
                panic!("CI=true but chromium/chromedriver are not installed (.ci/run installs them)");
            }
            eprintln!("\n*** WARNING: chromium or chromedriver missing; skipping browser tests ***\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // An explicit secret key (so the scan knows it), and the documented troubleshooting
        // log level: everything Keel logs, at every level, is scanned for secrets.
        let key: Vec<u8> = (0..keel::config::SECRET_KEY_LEN).map(|_| rand::random::<u8>()).collect();
        let mut secrets = checks::Secrets::default();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &key);
        secrets.add("secret key", &b64);
        secrets.add("secret key", &key.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let keel = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
            .env("KEEL_DATA_DIR", dir.path())
            .env("KEEL_LOG", "debug,actix_server=info")
            .env("KEEL_SECRET_KEY", &b64)
            .env_remove("KEEL_DATABASE_URL")
            .env_remove("KEEL_SMTP_URL")
            .stdout(std::fs::File::create(dir.path().join("keel.stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("keel.stderr")).unwrap())
            .spawn()
            .expect("start keel");
        let keel = Guard(keel);
        let dport = free_port();
        let drv = Command::new(driver)
            .arg(format!("--port={dport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let drv = Guard(drv);
        wait_for_port(port, "keel");
        wait_for_port(dport, "chromedriver");
        let creds =
            std::fs::read_to_string(dir.path().join("demo-credentials.txt")).expect("demo credentials");
        let logins: Vec<(String, String, String)> = creds
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 4).then(|| (f[0].to_string(), f[2].to_string(), f[3].to_string()))
            })
            .collect();
        for (_, _, password) in &logins {
            secrets.add("demo password", password);
        }
        let ingest =
            std::fs::read_to_string(dir.path().join("demo-ingest-key.txt")).expect("demo ingest key");
        secrets.add("ingest key", &ingest);
        let user_data = dir.path().join("chromium-profile");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--no-first-run",
                         "--disable-sync", "--disable-quic", "--window-size=1280,900",
                         format!("--user-data-dir={}", user_data.display())]
            },
            // The console, for CSP messages (read in `close`).
            "goog:loggingPrefs": {"browser": "ALL"}
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{dport}"))
            .await
            .expect("webdriver session");
        checks::install_dialog_recorder(&client).await;
        Some(Browser {
            client,
            base: format!("http://127.0.0.1:{port}"),
            logins,
            secrets: Mutex::new(secrets),
            confirmed: Mutex::new(Vec::new()),
            keel,
            _driver: drv,
            dir,
            _serial: serial,
        })
    }

    /// What the server has written to standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("keel.stdout")).unwrap_or_default()
    }

    /// Notes a secret the journey typed (a password), to be looked for in the server's output.
    pub fn note_secret(&self, kind: &'static str, value: &str) {
        self.secrets.lock().unwrap().add(kind, value);
    }

    /// Notes the secrets on the current page: the session and sign-in cookies, CSRF tokens, and
    /// codes shown once (the TOTP key on the set-up page, recovery codes). Best effort: the page
    /// may be changing.
    pub async fn observe(&self) {
        let cookies = self.client.get_all_cookies().await.unwrap_or_default();
        let page = self
            .client
            .execute(
                "const h1 = document.querySelector('main h1'); \
                 return { heading: h1 ? h1.textContent : '', qr: !!document.querySelector('svg.qr'), \
                   csrf: Array.from(document.querySelectorAll('input[name=csrf_token]')).map(e => e.value), \
                   codes: Array.from(document.querySelectorAll('pre.code')).map(e => e.textContent) };",
                vec![],
            )
            .await
            .unwrap_or_default();
        let mut s = self.secrets.lock().unwrap();
        for c in &cookies {
            match c.name() {
                "keel_session" | "__Host-keel_session" => s.add("session cookie", c.value()),
                "keel_signin" => s.add("sign-in cookie", c.value()),
                "keel_support_pass" => s.add("support pass", c.value()),
                _ => {}
            }
        }
        let strings = |k: &str| -> Vec<String> {
            page.get(k)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        for t in strings("csrf") {
            s.add("CSRF token", &t);
        }
        // The set-up page shows the key beside its QR code; the next page the recovery codes.
        let qr = page.get("qr").and_then(|v| v.as_bool()).unwrap_or(false);
        let heading = page.get("heading").and_then(|v| v.as_str()).unwrap_or("");
        for code in strings("codes") {
            if qr {
                s.add("TOTP secret", &code.split_whitespace().collect::<String>());
            } else if heading.contains("recovery codes") {
                for line in code.lines() {
                    s.add("recovery code", line);
                }
            }
        }
    }

    /// Accepts the confirmation dialog that is open (or opens within 5 s), checking its message.
    pub async fn accept_confirm(&self, expect: &str) {
        let start = Instant::now();
        let text = loop {
            match self.client.get_alert_text().await {
                Ok(t) => break t,
                Err(e) if start.elapsed() > Duration::from_secs(5) => panic!("no confirmation opened: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        assert!(text.contains(expect), "confirmation {text:?} lacks {expect:?}");
        self.client.accept_alert().await.unwrap();
        self.confirmed.lock().unwrap().push(text);
    }

    /// The emails in the outbox (to, text body), read from the demo's database.
    pub fn outbox(&self) -> Vec<(String, String)> {
        let url = format!("sqlite://{}", self.dir.path().join("keel.db").display());
        let pool = keel::db::build_pool(&url, 1).expect("demo database");
        let mut conn = pool.get().expect("demo database connection");
        let (rows, _) = keel::notify::store::list(&mut conn, None, 0, 100_000).expect("outbox");
        rows.into_iter()
            .map(|e| {
                (e.to_addr, format!("{}\n{}\n{}", e.text_body, e.html_body.unwrap_or_default(), e.headers))
            })
            .collect()
    }

    /// Waits up to 20 s for an email to `to` whose body contains `marker`; returns the newest
    /// such body.
    pub async fn email_to(&self, to: &str, marker: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some((_, body)) = self.outbox().into_iter().find(|(t, b)| t == to && b.contains(marker)) {
                return body;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "no email to {to} with {marker:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The text of the first element matching `css`, waiting up to 20 s for it to appear
    /// (a click that navigates returns before the next page is there; an element of the old
    /// page may go stale while it is read).
    pub async fn text(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            let found = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match found {
                Ok(t) => return t,
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                    let src = self.client.source().await.unwrap_or_default();
                    let main = src.find("<main").map(|i| &src[i..]).unwrap_or(&src);
                    panic!("{css}: {e}\nat {url}\n{}", &main[..main.len().min(1500)])
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Waits (up to 20 s) until the element's text contains `needle` (the page after a
    /// navigation may not be there yet), and returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let t = self.text(css).await;
            if t.contains(needle) {
                self.observe().await;
                return t;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{css} never showed {needle:?}; last: {t:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 10 s) until the browser's address contains `needle` (a click that
    /// navigates returns before the next page is there).
    pub async fn wait_url_contains(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let u = self.client.current_url().await.unwrap().to_string();
            if u.contains(needle) {
                return u;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "the address never contained {needle:?}: {u}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 10 s) until the browser is at `want` (path and query).
    pub async fn wait_path(&self, want: &str) {
        let start = Instant::now();
        loop {
            let p = self.path().await;
            if p == want {
                self.observe().await;
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "expected to reach {want}, still at {p}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Password of the demo user with this role label.
    pub fn login_for(&self, role: &str) -> (String, String) {
        let (_, e, p) =
            self.logins.iter().find(|(r, _, _)| r == role).unwrap_or_else(|| panic!("no demo {role}"));
        (e.clone(), p.clone())
    }

    pub async fn sign_in(&self, role: &str) {
        let (email, password) = self.login_for(role);
        self.goto("/login").await;
        self.client.find(Locator::Id("field-email")).await.unwrap().send_keys(&email).await.unwrap();
        self.client.find(Locator::Id("field-password")).await.unwrap().send_keys(&password).await.unwrap();
        self.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
    }

    /// Signs in a staff member, setting up two-factor authentication on the way.
    pub async fn sign_in_staff(&self, role: &str) {
        self.sign_in(role).await;
        self.wait_path("/account/2fa/setup").await;
        let key = self.text("pre.code").await.replace(' ', "");
        let secret = keel::auth::totp::base32_decode(&key).expect("base32 key");
        let code = keel::auth::totp::code_at(&secret, chrono::Utc::now().timestamp());
        self.client.find(Locator::Id("field-code")).await.unwrap().send_keys(&code).await.unwrap();
        self.client.find(Locator::Css("form.form button[type=submit]")).await.unwrap().click().await.unwrap();
        self.click_link("I've saved them, continue").await;
    }

    /// Clicks the link with this text, waiting up to 20 s for it to appear (the click
    /// that led here may return before the next page is loaded).
    pub async fn click_link(&self, text: &str) {
        let start = Instant::now();
        loop {
            let clicked = match self.client.find(Locator::LinkText(text)).await {
                Ok(e) => {
                    self.observe().await;
                    e.click().await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if start.elapsed() > Duration::from_secs(20) => {
                    let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                    let src = self.client.source().await.unwrap_or_default();
                    let main = src.find("<main").map(|i| &src[i..]).unwrap_or(&src);
                    panic!("link {text:?}: {e}\nat {url}\n{}", &main[..main.len().min(1500)])
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Ends the journey and checks what it left behind: CSP violations (server and console),
    /// dialogs, and the secrets it saw against the server's whole output.
    pub async fn close_report(self) -> CloseReport {
        self.observe().await;
        // A dialog still open, then every dialog the pages opened.
        let mut unexpected = Vec::new();
        if let Ok(message) = self.client.get_alert_text().await {
            unexpected.push(checks::Dialog { kind: "open".into(), message, page: self.path().await });
            let _ = self.client.dismiss_alert().await;
        }
        let mut pending = self.confirmed.lock().unwrap().clone();
        for d in checks::recorded_dialogs(&self.client, &self.base).await {
            match pending.iter().position(|m| d.kind == "confirm" && *m == d.message) {
                Some(i) => {
                    pending.remove(i);
                }
                None => unexpected.push(d),
            }
        }
        assert!(pending.is_empty(), "accepted confirmations the recorder missed: {pending:?}");
        let console_violations = checks::console_csp_messages(&self.client).await;
        let mut secrets = std::mem::take(&mut *self.secrets.lock().unwrap());
        for (_, body) in self.outbox() {
            checks::link_tokens(&body, &mut secrets);
        }
        let Browser { client, keel, dir, confirmed, .. } = self;
        let _ = client.close().await;
        drop(keel);
        let stdout = std::fs::read_to_string(dir.path().join("keel.stdout")).unwrap();
        let stderr = std::fs::read_to_string(dir.path().join("keel.stderr")).unwrap();
        CloseReport {
            server_violations: checks::server_csp_violations(&stdout).len(),
            console_violations,
            unexpected_dialogs: unexpected,
            confirmations: confirmed.lock().unwrap().len(),
            secrets: secrets.summary(),
            secret_count: secrets.count(),
            scan: checks::scan(&stdout, &stderr, &secrets),
        }
    }

    /// Ends the journey; fails it on a CSP violation, an unexpected dialog or a leaked secret.
    pub async fn close(self) {
        let r = self.close_report().await;
        let journey = std::thread::current().name().unwrap_or("journey").to_string();
        println!(
            "e2e checks {journey}: CSP violations {} (server) {} (console); dialogs {} unexpected, {} \
             confirmations accepted; secrets {} ({}) scanned in {} log lines ({} bytes): {} found",
            r.server_violations,
            r.console_violations.len(),
            r.unexpected_dialogs.len(),
            r.confirmations,
            r.secret_count,
            r.secrets,
            r.scan.lines,
            r.scan.bytes,
            r.scan.leaks.len()
        );
        assert_eq!(r.server_violations, 0, "{journey}: CSP violations reported to the server");
        assert!(
            r.console_violations.is_empty(),
            "{journey}: CSP violations in the console: {:?}",
            r.console_violations
        );
        assert!(r.unexpected_dialogs.is_empty(), "{journey}: unexpected dialogs: {:?}", r.unexpected_dialogs);
        assert!(r.scan.leaks.is_empty(), "{journey}: secrets in the server's output: {:?}", r.scan.leaks);
    }
}
