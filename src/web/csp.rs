//! The Content-Security-Policy Keel sends on every page, and `POST /csp-report`, where browsers
//! report what the policy blocked.
//!
//! A violation on a Keel page is a bug (an inline script or style slipped into a template) or an
//! attack (markup injected into a page): each one is logged at `warn` with target `keel::csp`
//! and counted. The endpoint takes no session and no CSRF token: browsers send reports on their
//! own, without cookies in some contexts. It reads at most [`MAX_REPORT`] bytes, answers 204 for
//! a report it understood, 400 for anything else, and never logs a query string, a referrer or a
//! script sample (they can carry tokens and user data).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::AppState;

/// The policy. `report-uri` only: Chromium ignores `report-uri` when `report-to` is present and
/// delivers `report-to` reports in batches a minute apart, while Firefox and Safari read only
/// `report-uri`. The endpoint also accepts the Reporting API's `application/reports+json`.
pub const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'; report-uri /csp-report";

/// Largest report body read.
pub const MAX_REPORT: usize = 16 * 1024;

/// Longest value of one logged field (characters).
const FIELD_MAX: usize = 200;

/// Violations logged per minute; beyond that they are only counted (the endpoint is public).
const LOG_PER_MINUTE: u32 = 60;

/// Reports counted from one request (a batch from the Reporting API may hold several).
const MAX_PER_REQUEST: usize = 32;

/// The violations received since start, and the log throttle.
#[derive(Debug)]
pub struct Violations {
    total: AtomicU64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl Default for Violations {
    fn default() -> Self {
        Violations {
            total: AtomicU64::new(0),
            window: Mutex::new(Window { started: Instant::now(), logged: 0, suppressed: 0 }),
        }
    }
}

impl Violations {
    /// Violations reported since the process started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts one violation and logs it unless this minute's share of log lines is used up.
    fn record(&self, v: &Violation) {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let (log, suppressed_before) = {
            let mut w = match self.window.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let mut suppressed_before = 0;
            if w.started.elapsed() >= Duration::from_secs(60) {
                suppressed_before = w.suppressed;
                *w = Window { started: Instant::now(), logged: 0, suppressed: 0 };
            }
            if w.logged < LOG_PER_MINUTE {
                w.logged += 1;
                (true, suppressed_before)
            } else {
                w.suppressed += 1;
                (false, suppressed_before)
            }
        };
        if suppressed_before > 0 {
            tracing::warn!(target: "keel::csp", suppressed = suppressed_before, total, "CSP violation reports not logged in the last minute (too many)");
        }
        if log {
            tracing::warn!(
                target: "keel::csp",
                document = %v.document,
                directive = %v.directive,
                blocked = %v.blocked,
                source = %v.source,
                line = v.line,
                disposition = %v.disposition,
                total,
                "CSP violation"
            );
        }
    }
}

/// One violation, reduced to what is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the page (no origin, query or fragment).
    pub document: String,
    /// The directive that blocked (`script-src-elem`, `style-src-attr`...).
    pub directive: String,
    /// What was blocked: `inline`, `eval`, a scheme, or an address without query or fragment.
    pub blocked: String,
    /// The script or style file the violation came from (address without query), if any.
    pub source: String,
    /// The line in `source`, 0 when unknown.
    pub line: u64,
    /// `enforce` or `report`.
    pub disposition: String,
}

/// Printable characters only, at most [`FIELD_MAX`] of them.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(FIELD_MAX).collect()
}

/// An address without its query string and fragment (they can hold tokens).
fn without_query(s: &str) -> &str {
    s.split(['?', '#']).next().unwrap_or_default()
}

/// The path of an absolute address (`https://host/a/b?x` gives `/a/b`).
fn path_of(url: &str) -> String {
    let url = without_query(url);
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => url,
    };
    clean(path)
}

/// A blocked address: keywords (`inline`, `eval`) as they are, `data:`/`blob:` URIs reduced to
/// their scheme, other addresses without query or fragment.
fn blocked_of(s: &str) -> String {
    match s.split_once(':') {
        Some((scheme, rest)) if !rest.starts_with("//") => clean(scheme),
        _ => clean(without_query(s)),
    }
}

fn text<'a>(obj: &'a Value, keys: &[&str]) -> &'a str {
    keys.iter().find_map(|k| obj.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty())).unwrap_or("")
}

fn number(obj: &Value, keys: &[&str]) -> u64 {
    keys.iter().find_map(|k| obj.get(*k).and_then(Value::as_u64)).unwrap_or(0)
}

/// One report body, in the `report-uri` format (`csp-report` keys in kebab case) or the
/// Reporting API's (`body` keys in camel case). None when it is not a CSP violation.
fn violation(body: &Value) -> Option<Violation> {
    let document = text(body, &["document-uri", "documentURL"]);
    let directive = text(body, &["effective-directive", "effectiveDirective", "violated-directive"]);
    if document.is_empty() && directive.is_empty() {
        return None;
    }
    Some(Violation {
        document: path_of(document),
        directive: clean(directive),
        blocked: blocked_of(text(body, &["blocked-uri", "blockedURL"])),
        source: clean(without_query(text(body, &["source-file", "sourceFile"]))),
        line: number(body, &["line-number", "lineNumber"]),
        disposition: clean(text(body, &["disposition"])),
    })
}

/// The violations in a report document; None when the document is not a CSP report.
pub fn parse(bytes: &[u8]) -> Option<Vec<Violation>> {
    let doc: Value = serde_json::from_slice(bytes).ok()?;
    match &doc {
        // `report-uri`: {"csp-report": {...}}
        Value::Object(o) => violation(o.get("csp-report")?).map(|v| vec![v]),
        // Reporting API: [{"type": "csp-violation", "body": {...}}, ...]; other report types are
        // skipped; an entry without a type, or a CSP entry without a readable body, spoils the batch.
        Value::Array(reports) if !reports.is_empty() => {
            if !reports.iter().all(|r| r.get("type").and_then(Value::as_str).is_some()) {
                return None;
            }
            reports
                .iter()
                .filter(|r| r.get("type").and_then(Value::as_str) == Some("csp-violation"))
                .take(MAX_PER_REQUEST)
                .map(|r| r.get("body").and_then(violation))
                .collect()
        }
        _ => None,
    }
}

fn accepted_type(req: &HttpRequest) -> bool {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(mime.as_str(), "application/csp-report" | "application/reports+json" | "application/json")
}

/// `POST /csp-report`: 204 when the body was a CSP report (each violation logged and counted),
/// 415 for another content type, 413 over 16 KiB, 400 for anything else.
pub async fn report(req: HttpRequest, state: web::Data<AppState>, mut payload: web::Payload) -> HttpResponse {
    if !accepted_type(&req) {
        return HttpResponse::UnsupportedMediaType().finish();
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REPORT) {
        return HttpResponse::PayloadTooLarge().finish();
    }
    let mut buf = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { return HttpResponse::BadRequest().finish() };
        if buf.len() + chunk.len() > MAX_REPORT {
            return HttpResponse::PayloadTooLarge().finish();
        }
        buf.extend_from_slice(&chunk);
    }
    let Some(violations) = parse(&buf) else {
        return HttpResponse::BadRequest().finish();
    };
    for v in &violations {
        state.csp_violations().record(v);
    }
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_uri_format_is_reduced_to_safe_fields() {
        let body = br#"{"csp-report":{"document-uri":"http://127.0.0.1:8080/reset/abc?token=s3cret#x",
            "referrer":"http://127.0.0.1:8080/login?next=/x","violated-directive":"script-src-elem",
            "effective-directive":"script-src-elem","original-policy":"default-src 'self'",
            "disposition":"enforce","blocked-uri":"inline","line-number":12,"column-number":3,
            "source-file":"http://127.0.0.1:8080/admin?key=s3cret","status-code":200,
            "script-sample":"alert('s3cret')"}}"#;
        let v = parse(body).unwrap();
        assert_eq!(
            v,
            vec![Violation {
                document: "/reset/abc".into(),
                directive: "script-src-elem".into(),
                blocked: "inline".into(),
                source: "http://127.0.0.1:8080/admin".into(),
                line: 12,
                disposition: "enforce".into(),
            }]
        );
        assert!(!format!("{v:?}").contains("s3cret"));
    }

    #[test]
    fn reporting_api_batches_keep_only_csp_violations() {
        let body = br#"[{"type":"deprecation","age":1,"url":"http://h/","body":{"id":"x"}},
            {"type":"csp-violation","age":2,"url":"http://h/p?q=1","user_agent":"x",
             "body":{"documentURL":"http://h/p?q=1","blockedURL":"https://evil.example/x.js?t=1",
                     "effectiveDirective":"script-src-elem","disposition":"report","lineNumber":4}}]"#;
        let v = parse(body).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].document, "/p");
        assert_eq!(v[0].blocked, "https://evil.example/x.js");
        assert_eq!(v[0].line, 4);
        assert_eq!(v[0].disposition, "report");
    }

    #[test]
    fn garbage_is_not_a_report() {
        for body in [
            &b""[..],
            b"null",
            b"{}",
            b"[]",
            b"[1,2]",
            b"{\"csp-report\":{}}",
            b"\xff\xfe",
            b"{\"csp-report\":",
            b"[{\"type\":\"csp-violation\"}]",
        ] {
            assert_eq!(parse(body), None, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn fields_are_cleaned_and_truncated() {
        assert_eq!(blocked_of("data:image/png;base64,AAAA"), "data");
        assert_eq!(blocked_of("eval"), "eval");
        assert_eq!(path_of("https://h"), "/");
        let long = format!("/{}\n", "a".repeat(1000));
        assert_eq!(path_of(&long).chars().count(), FIELD_MAX);
        assert!(!path_of(&long).contains('\n'));
    }
}
