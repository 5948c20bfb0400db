//! Browser tests: a real `keel serve --demo` driven through chromedriver + headless Chromium.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Outside CI a
//! missing browser skips these tests with a loud warning; with `CI=true` it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod journeys;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
    _keel: Guard,
    _driver: Guard,
    _dir: tempfile::TempDir,
    _serial: tokio::sync::OwnedMutexGuard<()>,
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
        let keel = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
            .env("KEEL_DATA_DIR", dir.path())
            .env("KEEL_LOG", "warn")
            .env_remove("KEEL_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
        let logins = creds
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 4).then(|| (f[0].to_string(), f[2].to_string(), f[3].to_string()))
            })
            .collect();
        let user_data = dir.path().join("chromium-profile");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--no-first-run",
                         "--disable-sync", "--disable-quic", "--window-size=1280,900",
                         format!("--user-data-dir={}", user_data.display())]
            }
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
        Some(Browser {
            client,
            base: format!("http://127.0.0.1:{port}"),
            logins,
            _keel: keel,
            _driver: drv,
            _dir: dir,
            _serial: serial,
        })
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
                return t;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{css} never showed {needle:?}; last: {t:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 10 s) until the browser is at `want` (path and query).
    pub async fn wait_path(&self, want: &str) {
        let start = Instant::now();
        loop {
            let p = self.path().await;
            if p == want {
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
        self.client
            .find(Locator::LinkText("I've saved them, continue"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    pub async fn close(self) {
        let Browser { client, .. } = self;
        let _ = client.close().await;
    }
}
