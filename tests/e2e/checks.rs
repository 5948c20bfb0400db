//! What every journey must leave behind, checked when it closes (`Browser::close`):
//!
//! - **No CSP violation**: none reported to the server's `/csp-report` (counted from its log,
//!   target `keel::csp`) and none in Chromium's console.
//! - **No unexpected JavaScript dialog**: a script installed before any page script (CDP
//!   `Page.addScriptToEvaluateOnNewDocument`) records every `alert`/`confirm`/`prompt`; each must be
//!   a confirmation the journey accepted with `Browser::accept_confirm`, and none may be open.
//! - **No secret in the server's output**: the demo passwords, the ingest key, the secret key,
//!   the session and sign-in cookies, CSRF tokens, TOTP secrets and recovery codes seen by the
//!   browser, and the tokens in every email of the outbox appear nowhere in its stdout and stderr
//!   except in the two blocks `serve --demo` prints on purpose (the sign-in table and the ingest
//!   key), which must hold exactly those and are the only plain text allowed.
//!
//! The self-test at the bottom makes a violation, a dialog and a leak on purpose, so the checks
//! cannot pass by seeing nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::{Value, json};

/// A chromedriver-specific command (`POST /session/{id}/{path}`), which fantoccini does not have.
#[derive(Debug)]
struct ChromeCmd {
    path: &'static str,
    body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromeCmd {
    fn endpoint(
        &self,
        base: &reqwest::Url,
        session: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base.join(&format!("session/{}/{}", session.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(self.body.to_string()))
    }
}

const DIALOG_KEY: &str = "keel-e2e-dialogs";

/// Wraps `alert`, `confirm` and `prompt` so each call is written to `localStorage` before the
/// dialog opens (it survives navigation; every page is on the one origin).
const DIALOG_RECORDER: &str = r#"(() => {
  const record = (kind, message) => {
    try {
      const list = JSON.parse(localStorage.getItem("keel-e2e-dialogs") || "[]");
      list.push({ kind, message: String(message === undefined ? "" : message), page: location.pathname });
      localStorage.setItem("keel-e2e-dialogs", JSON.stringify(list));
    } catch (e) {}
  };
  for (const kind of ["alert", "confirm", "prompt"]) {
    const original = window[kind];
    window[kind] = function (...args) { record(kind, args[0]); return original.apply(this, args); };
  }
})();"#;

/// Installs the dialog recorder for every document the session opens from now on.
pub async fn install_dialog_recorder(client: &Client) {
    client
        .issue_cmd(ChromeCmd {
            path: "goog/cdp/execute",
            body: json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": DIALOG_RECORDER}}),
        })
        .await
        .expect("install the dialog recorder (CDP)");
}

/// One dialog a page opened.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Dialog {
    pub kind: String,
    pub message: String,
    pub page: String,
}

/// Every dialog recorded so far. The browser must be on a page of `base`.
pub async fn recorded_dialogs(client: &Client, base: &str) -> Vec<Dialog> {
    let on_keel = client.current_url().await.map(|u| u.as_str().starts_with(base)).unwrap_or(false);
    if !on_keel {
        client.goto(&format!("{base}/healthz")).await.unwrap();
    }
    let raw = client
        .execute(&format!("return localStorage.getItem('{DIALOG_KEY}') || '[]'"), vec![])
        .await
        .expect("read the dialog record");
    serde_json::from_str(raw.as_str().unwrap_or("[]")).expect("dialog record")
}

/// The console messages about the Content-Security-Policy since the last call (chromedriver
/// hands each entry out once).
pub async fn console_csp_messages(client: &Client) -> Vec<String> {
    let log = client
        .issue_cmd(ChromeCmd { path: "se/log", body: json!({"type": "browser"}) })
        .await
        .expect("read the browser console (goog:loggingPrefs)");
    log.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .filter(|m| m.contains("Content Security Policy") || m.contains("Content-Security-Policy"))
        .map(str::to_string)
        .collect()
}

/// The CSP violations the server logged (one `keel::csp` warning each).
pub fn server_csp_violations(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.contains("\"target\":\"keel::csp\"") && l.contains("\"CSP violation\""))
        .map(str::to_string)
        .collect()
}

/// Waits up to `timeout` for `f` to give at least `n` items.
pub async fn poll_for<T, F, Fut>(n: usize, timeout: Duration, mut f: F) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let start = Instant::now();
    loop {
        let got = f().await;
        if got.len() >= n || start.elapsed() > timeout {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Secrets by kind (deduplicated), gathered while a journey runs.
#[derive(Debug, Default)]
pub struct Secrets(BTreeMap<&'static str, std::collections::BTreeSet<String>>);

impl Secrets {
    /// Adds a value; values under 8 characters could match by chance and are not kept.
    pub fn add(&mut self, kind: &'static str, value: &str) {
        let value = value.trim();
        if value.len() >= 8 {
            self.0.entry(kind).or_default().insert(value.to_string());
        }
    }

    pub fn count(&self) -> usize {
        self.0.values().map(|v| v.len()).sum()
    }

    /// "9 demo password, 4 session cookie, ..."
    pub fn summary(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{} {k}", v.len())).collect::<Vec<_>>().join(", ")
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, &String)> {
        self.0.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (*k, v)))
    }

    /// Every value of `kind` appears in `text`.
    fn all_in(&self, kind: &str, text: &str) -> bool {
        self.0.get(kind).is_some_and(|vs| !vs.is_empty() && vs.iter().all(|v| text.contains(v.as_str())))
    }
}

/// The tokens in links of an email body (`/invite/T`, `/reset/T`, `/status/subscriptions/T`,
/// `/billing/contacts/verify/T`).
pub fn link_tokens(body: &str, secrets: &mut Secrets) {
    for (marker, kind) in [
        ("/invite/", "invitation token"),
        ("/reset/", "reset token"),
        ("/status/subscriptions/", "subscription token"),
        ("/billing/contacts/verify/", "contact verification token"),
    ] {
        for (i, _) in body.match_indices(marker) {
            let rest = &body[i + marker.len()..];
            let token: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
            secrets.add(kind, &token);
        }
    }
}

/// What the scan of a server's output found.
#[derive(Debug)]
pub struct Scan {
    /// `kind value` of each secret found outside the intentional blocks.
    pub leaks: Vec<String>,
    /// Lines scanned (stdout without the intentional blocks, plus stderr).
    pub lines: usize,
    pub bytes: usize,
}

/// Cuts the block from the line starting with `first` to the line starting with `last` (both
/// kept in the block) out of `lines`; panics unless there is exactly one.
fn cut_block(lines: &mut Vec<&str>, first: &str, last: &[&str]) -> String {
    let starts: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.starts_with(first)).map(|(i, _)| i).collect();
    assert_eq!(starts.len(), 1, "expected one block starting {first:?}");
    let s = starts[0];
    let len = lines[s..]
        .iter()
        .position(|l| last.iter().any(|p| l.starts_with(p)))
        .unwrap_or_else(|| panic!("the block starting {first:?} never ends"));
    lines.drain(s..=s + len).collect::<Vec<_>>().join("\n")
}

/// Scans a `keel serve --demo` output for secrets. The sign-in table must hold every demo
/// password and the ingest-key block the ingest key (so they would be found anywhere else);
/// outside them only JSON log lines, blank lines and `Keel is listening on ...` may appear.
pub fn scan(stdout: &str, stderr: &str, secrets: &Secrets) -> Scan {
    let mut lines: Vec<&str> = stdout.lines().collect();
    let table = cut_block(
        &mut lines,
        "Keel demo is ready at ",
        &["Staff accounts (platform admin, support agent) set up two-factor"],
    );
    assert!(secrets.all_in("demo password", &table), "the sign-in table lacks a demo password:\n{table}");
    let key_block = cut_block(
        &mut lines,
        "The demo product's ingest key",
        &["A copy is in ", "(The key could not be saved"],
    );
    assert!(secrets.all_in("ingest key", &key_block), "the ingest-key block lacks the key:\n{key_block}");
    for l in &lines {
        let t = l.trim();
        assert!(
            t.is_empty() || t.starts_with('{') || t.starts_with("Keel is listening on http://"),
            "unexpected plain output on stdout: {l:?}"
        );
    }
    let rest = format!("{}\n{stderr}", lines.join("\n"));
    let mut leaks = Vec::new();
    for (kind, v) in secrets.iter() {
        // As written, and as it would appear in a JSON string or a form body.
        let json = serde_json::to_string(v).unwrap();
        let forms =
            [v.clone(), json.trim_matches('"').to_string(), v.replace(' ', "+"), v.replace(' ', "%20")];
        if forms.iter().any(|f| rest.contains(f.as_str())) {
            leaks.push(format!("{kind} {v:?}"));
        }
    }
    Scan { leaks, lines: rest.lines().count(), bytes: rest.len() }
}

#[test]
fn the_scan_finds_a_leak_outside_the_intentional_blocks_only() {
    let stdout = "{\"level\":\"INFO\",\"fields\":{\"message\":\"database migrations applied\"}}\n\
\n\
Keel demo is ready at http://127.0.0.1:1/login. Sign in as any of these users:\n\
  Platform admin  Keel  avery@x.example  abcd-efgh-ijkl-mnop\n\
Staff accounts (platform admin, support agent) set up two-factor authentication at first sign-in.\n\
\n\
The demo product's ingest key (for the usage API, see docs/usage-api.md):\n\
  keel_ik_0123456789abcdef\n\
A copy is in /tmp/x/demo-ingest-key.txt.\n\
Keel is listening on http://127.0.0.1:1/\n\
{\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"path\":\"/reset/{token}\"}}\n";
    let mut s = Secrets::default();
    s.add("demo password", "abcd-efgh-ijkl-mnop");
    s.add("ingest key", "keel_ik_0123456789abcdef");
    s.add("reset token", "0f0f0f0f0f0f0f0f");
    let clean = scan(stdout, "", &s);
    assert!(clean.leaks.is_empty(), "{:?}", clean.leaks);
    let leaky = format!("{stdout}{{\"fields\":{{\"path\":\"/reset/0f0f0f0f0f0f0f0f\"}}}}\n");
    assert_eq!(scan(&leaky, "", &s).leaks, vec!["reset token \"0f0f0f0f0f0f0f0f\"".to_string()]);
    let leaky_err = scan(stdout, "keel: abcd-efgh-ijkl-mnop\n", &s);
    assert_eq!(leaky_err.leaks.len(), 1, "stderr is scanned too");
    // The ingest key printed a second time outside its block is a leak.
    let twice = format!("{stdout}{{\"fields\":{{\"key\":\"keel_ik_0123456789abcdef\"}}}}\n");
    assert_eq!(scan(&twice, "", &s).leaks.len(), 1);
}

#[test]
#[should_panic(expected = "unexpected plain output")]
fn the_scan_refuses_other_plain_output() {
    let stdout = "Keel demo is ready at x\n  a  b  c  abcd-efgh-ijkl-mnop\nStaff accounts (platform admin, support agent) set up two-factor\n\
The demo product's ingest key\n  keel_ik_0123456789abcdef\nA copy is in x\nsomething else\n";
    let mut s = Secrets::default();
    s.add("demo password", "abcd-efgh-ijkl-mnop");
    s.add("ingest key", "keel_ik_0123456789abcdef");
    scan(stdout, "", &s);
}

/// The checks see what they look for: a page made to break the policy is reported to the server
/// (Chromium posts to `report-uri` at once) and shows in the console; a dialog opened by a page
/// is recorded; an unaccounted dialog fails `close`.
#[tokio::test]
async fn the_checks_see_a_deliberate_violation_and_dialog() {
    let Some(b) = crate::Browser::start().await else { return };
    b.goto("/login").await;
    b.wait_text("h1", "Sign in to Keel").await;
    // An inline script and an inline style, added the way injected markup would be.
    b.client
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.__ran = true;'; \
             document.body.appendChild(s); \
             const d = document.createElement('div'); d.setAttribute('style', 'color: red'); \
             document.body.appendChild(d); return window.__ran === true;",
            vec![],
        )
        .await
        .map(|ran| assert_eq!(ran, Value::Bool(false), "the inline script must not run"))
        .unwrap();
    let reported =
        poll_for(2, Duration::from_secs(10), || async { server_csp_violations(&b.stdout()) }).await;
    assert_eq!(reported.len(), 2, "both violations reach /csp-report: {reported:?}");
    assert!(reported.iter().any(|l| l.contains("\"directive\":\"script-src-elem\"")), "{reported:?}");
    assert!(reported.iter().any(|l| l.contains("\"directive\":\"style-src-attr\"")), "{reported:?}");
    assert!(reported.iter().all(|l| l.contains("\"document\":\"/login\"")), "{reported:?}");
    let console = console_csp_messages(&b.client).await;
    assert_eq!(console.len(), 2, "{console:?}");

    // A page script opens an alert: it is recorded before it shows.
    b.client.execute("setTimeout(() => alert('injected'), 0); return null;", vec![]).await.unwrap();
    let text = poll_for(1, Duration::from_secs(5), || async {
        b.client.get_alert_text().await.map(|t| vec![t]).unwrap_or_default()
    })
    .await;
    assert_eq!(text, vec!["injected".to_string()]);
    b.client.accept_alert().await.unwrap();
    let dialogs = recorded_dialogs(&b.client, &b.base).await;
    assert_eq!(dialogs.len(), 1, "{dialogs:?}");
    assert_eq!((dialogs[0].kind.as_str(), dialogs[0].message.as_str()), ("alert", "injected"));
    // `close` counts what it finds; both checks fail a journey that leaves these behind.
    let report = b.close_report().await;
    assert_eq!(report.server_violations, 2);
    assert_eq!(report.unexpected_dialogs.len(), 1, "{:?}", report.unexpected_dialogs);
    assert!(report.scan.leaks.is_empty(), "{:?}", report.scan.leaks);
}
