//! Secrets never reach the logs: sign-in (right and wrong passwords), two-factor enrolment and
//! recovery codes, invitations, password reset, status subscriptions and ingest keys are driven
//! with every log line captured at `trace`, and none of the passwords, session and sign-in
//! cookies, CSRF tokens, TOTP secrets, recovery codes, link tokens, ingest keys or the secret key
//! appears in them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use base64::Engine;
use diesel::prelude::*;
use keel::auth::Role;

use crate::both_backends;
use crate::harness::{Client, TestApp, csrf_from};

/// Captures every log line (JSON, all levels, all targets) written on this thread while it lives:
/// the app under test runs its handlers and middleware on the test's thread.
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

struct BufWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn start() -> LogCapture {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || BufWriter(b.clone()))
            .finish();
        LogCapture { buf, _guard: tracing::subscriber::set_default(subscriber) }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
}

/// The secrets seen so far, by kind.
#[derive(Default)]
struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    fn add(&mut self, kind: &'static str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 6, "{kind}: {value:?} is too short to look for");
        self.0.push((kind, value));
    }

    /// The cookies a browser would hold as secrets (the flash cookie is not one).
    fn cookies(&mut self, c: &Client) {
        for name in ["keel_session", "keel_signin", "keel_support_pass"] {
            if let Some(v) = c.cookie(name).filter(|v| !v.is_empty()) {
                self.add("cookie", v);
            }
        }
    }

    /// Panics naming each secret found in `logs`, also in its URL- and JSON-escaped forms.
    fn assert_absent(&self, logs: &str) {
        let mut found = Vec::new();
        for (kind, v) in &self.0 {
            let forms = [
                v.clone(),
                serde_urlencoded::to_string([("", v)]).unwrap().trim_start_matches('=').to_string(),
                serde_json::to_string(v).unwrap().trim_matches('"').to_string(),
            ];
            if forms.iter().any(|f| logs.contains(f.as_str())) {
                found.push(format!("{kind} {v:?}"));
            }
        }
        assert!(found.is_empty(), "secrets in the logs: {found:?}\n{logs}");
    }
}

/// The first link in the newest email to `to` that contains `marker`, as a local path.
fn link_in(app: &TestApp, to: &str, marker: &str) -> String {
    let (rows, _) = keel::notify::store::list(&mut app.conn(), None, 0, 500).unwrap();
    let e = rows
        .iter()
        .find(|e| e.to_addr == to && e.text_body.contains(marker))
        .unwrap_or_else(|| panic!("no email to {to} with {marker}"));
    let i = e.text_body.find(marker).unwrap();
    e.text_body[i..].split_whitespace().next().unwrap().trim_start_matches("http://keel.test").to_string()
}

/// The last path segment of a link (the token of `/reset/{token}`).
fn token_of(link: &str) -> String {
    link.trim_end_matches('/').rsplit('/').next().unwrap().to_string()
}

fn pre_code(html: &str) -> String {
    html.split("<pre class=\"code\">").nth(1).unwrap().split("</pre>").next().unwrap().to_string()
}

both_backends!(sign_in_invitations_reset_and_keys_leave_no_secret_in_the_logs, |app| {
    let logs = LogCapture::start();
    let mut s = Secrets::default();
    let key = &app.state.config().secret_key;
    s.add("secret key", base64::engine::general_purpose::STANDARD.encode(key));
    s.add("secret key", key.iter().map(|b| format!("{b:02x}")).collect::<String>());

    // Sign-in: a wrong password, then the right one.
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let (email, pw) = app.user(Role::DistrictAdmin, Some(d1));
    s.add("password", &pw);
    let c = app.client().await;
    let wrong = "tidal-copper-lantern-93";
    s.add("wrong password", wrong);
    assert_eq!(c.login(&email, wrong).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    s.cookies(&c);
    assert_eq!(c.login(&email, &pw).await.status, StatusCode::SEE_OTHER);
    c.refresh_csrf().await;
    s.add("csrf token", c.csrf.borrow().clone());
    s.cookies(&c);

    // An invitation, accepted with a new password.
    let r = c
        .post(
            "/district/members/invite",
            &[("email", "new.teacher@lincoln.example"), ("tenant_id", &s1.to_string()), ("role", "staff")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let invite = link_in(&app, "new.teacher@lincoln.example", "http://keel.test/invite/");
    s.add("invitation token", token_of(&invite));
    let visitor = app.client().await;
    let page = visitor.get(&invite).await;
    assert_eq!(page.status, StatusCode::OK);
    let t = csrf_from(&page.body);
    s.add("csrf token", &t);
    let new_pw = "maple-river-stone-41";
    s.add("password", new_pw);
    let r = visitor
        .send(TestRequest::post().uri(&invite).set_form([
            ("name", "Alex Rivera"),
            ("password", new_pw),
            ("confirm", new_pw),
            ("csrf_token", t.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    s.cookies(&visitor);
    assert_eq!(app.client().await.get(&invite).await.status, StatusCode::GONE, "spent");

    // A password reset, and the spent link used again.
    let anon = app.client().await;
    let t = csrf_from(&anon.get("/forgot").await.body);
    s.add("csrf token", &t);
    s.cookies(&anon);
    let r = anon
        .send(
            TestRequest::post()
                .uri("/forgot")
                .set_form([("email", email.as_str()), ("csrf_token", t.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let reset = link_in(&app, &email, "http://keel.test/reset/");
    s.add("reset token", token_of(&reset));
    let t = csrf_from(&anon.get(&reset).await.body);
    let reset_pw = "birch-canyon-ledger-77";
    s.add("password", reset_pw);
    let r = anon
        .send(TestRequest::post().uri(&reset).set_form([
            ("password", reset_pw),
            ("confirm", reset_pw),
            ("csrf_token", t.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(app.client().await.get(&reset).await.body.contains("already used"));

    // Two-factor enrolment of a staff member: the TOTP secret and the recovery codes.
    let (staff_email, staff_pw) = app.user(Role::PlatformAdmin, None);
    {
        use keel::db::schema::users;
        diesel::update(users::table.filter(users::email.eq(&staff_email)))
            .set((users::totp_enabled.eq(false), users::totp_secret.eq(None::<String>)))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let staff = app.client().await;
    assert_eq!(staff.login(&staff_email, &staff_pw).await.location(), "/account/2fa/setup");
    let page = staff.get("/account/2fa/setup").await;
    let totp = pre_code(&page.body).replace(' ', "");
    s.add("TOTP secret", &totp);
    let secret = keel::auth::totp::base32_decode(&totp).unwrap();
    s.add("TOTP secret", secret.iter().map(|b| format!("{b:02x}")).collect::<String>());
    *staff.csrf.borrow_mut() = csrf_from(&page.body);
    let code = keel::auth::totp::code_at(&secret, app.state.now().timestamp());
    let r = staff.post("/account/2fa/setup", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> =
        pre_code(&r.body).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    assert_eq!(codes.len(), 10);
    for code in &codes {
        s.add("recovery code", code);
    }
    s.cookies(&staff);
    // Signing in again with a recovery code.
    let again = app.client().await;
    again.login(&staff_email, &staff_pw).await;
    let t = csrf_from(&again.get("/login/2fa").await.body);
    let r = again
        .send(
            TestRequest::post()
                .uri("/login/2fa")
                .set_form([("code", codes[0].as_str()), ("csrf_token", t.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    s.cookies(&again);

    // An ingest key, shown once, then used (and a wrong one tried).
    staff.refresh_csrf().await;
    let r = staff.post("/admin/usage/keys", &[("name", "Product")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let i = r.body.find(keel::usage::keys::PREFIX).unwrap();
    let ingest = r.body[i..].split(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_').next().unwrap();
    assert!(ingest.len() > 40, "{ingest}");
    s.add("ingest key", ingest);
    for key in [ingest, "keel_ik_0123456789abcdef0123456789abcdef"] {
        let r = staff
            .send(
                TestRequest::post()
                    .uri("/api/v1/events")
                    .insert_header(("authorization", format!("Bearer {key}")))
                    .insert_header(("content-type", "application/json"))
                    .set_payload("{\"not\": \"an event\"}"),
            )
            .await;
        assert!(!r.status.is_server_error(), "{}", r.status);
    }
    s.add("wrong ingest key", "keel_ik_0123456789abcdef0123456789abcdef");

    // A status subscription: the link in its email, and a one-click unsubscribe.
    let v = app.client().await;
    let t = csrf_from(&v.get("/status/subscribe").await.body);
    let r = v
        .send(
            TestRequest::post()
                .uri("/status/subscribe")
                .set_form([("email", "it@district.example"), ("csrf_token", t.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.run_jobs().await;
    let manage = link_in(&app, "it@district.example", "http://keel.test/status/subscriptions/");
    s.add("subscription token", token_of(&manage));
    assert_eq!(v.get(&manage).await.status, StatusCode::OK);
    let r = v.send(TestRequest::post().uri(&format!("{manage}/unsubscribe"))).await;
    assert!(!r.status.is_server_error(), "{}", r.status);

    // No secret in the logs, and the capture did see the requests (with their tokens replaced).
    let text = logs.text();
    s.assert_absent(&text);
    for path in
        ["/invite/{token}", "/reset/{token}", "/status/subscriptions/{token}/unsubscribe", "/api/v1/events"]
    {
        assert!(text.contains(&format!("\"path\":\"{path}\"")), "no access line for {path}:\n{text}");
    }
    println!("secrets ({:?}): {} values, {} log bytes, none found", app.backend, s.0.len(), text.len());
});
