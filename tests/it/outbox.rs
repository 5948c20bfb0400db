//! The email outbox: one email per dedupe key, delivery through real SMTP with retries while
//! the server is down, exactly once when it returns, dead letters and resending.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use chrono::Duration;
use keel::auth::Role;
use keel::config::{Config, MailConfig};
use keel::db::{now_micros, write_tx};
use keel::notify::{self, Email};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::both_backends;
use crate::harness::{Backend, TestApp, TestDb};

fn email(to: &str, key: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Invoice LINCOLN-2026-0007 is due in 7 days".into(),
        text: "Your invoice is due on 2026-03-09.".into(),
        html: Some("<p>Your invoice is due on 2026-03-09.</p>".into()),
        headers: vec![("List-Unsubscribe".into(), "<https://keel.test/u/abc>".into())],
        dedupe_key: Some(key.into()),
    }
}

fn queue(app: &TestApp, e: &Email) -> Option<i64> {
    let now = now_micros(app.state.now());
    write_tx(&mut app.conn(), |c| notify::queue(c, e, now)).unwrap()
}

both_backends!(one_event_one_email, |app| {
    let e = email("ap@lincoln.k12.example", "invoice:7:due-7");
    assert!(queue(&app, &e).is_some());
    assert!(queue(&app, &e).is_none(), "same dedupe key is ignored");
    app.run_jobs().await;
    app.run_jobs().await;
    let sent = app.sent_mail();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ap@lincoln.k12.example");
    let (rows, _) = notify::store::list(&mut app.conn(), Some("sent"), 0, 10).unwrap();
    assert_eq!(rows.len(), 1);
});

/// A minimal SMTP server that counts the messages it accepts.
async fn fake_smtp(listener: tokio::net::TcpListener, count: Arc<AtomicUsize>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else { return };
        let count = count.clone();
        actix_web::rt::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 fake.smtp.test ESMTP\r\n").await;
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        count.fetch_add(1, Ordering::SeqCst);
                        let _ = w.write_all(b"250 2.0.0 queued\r\n").await;
                    }
                    continue;
                }
                let cmd = line.to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                    b"250 fake.smtp.test\r\n"
                } else if cmd.starts_with("DATA") {
                    in_data = true;
                    b"354 go ahead\r\n"
                } else if cmd.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n").await;
                    return;
                } else {
                    b"250 OK\r\n"
                };
                let _ = w.write_all(reply).await;
            }
        });
    }
}

async fn smtp_down_then_up(backend: Backend) {
    let Some(db) = TestDb::create(backend) else { return };
    // Pick a free port, then leave it closed: SMTP is "down".
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cfg = Config::for_tests(&db.url, db.dir.path()).unwrap();
    cfg.mail = MailConfig::Smtp { tls: false, host: "127.0.0.1".into(), port, credentials: None };
    let clock = keel::clock::TestClock::at(crate::harness::t0());
    let state = keel::AppState::open_with(cfg, Arc::new(clock.clone()), keel::job_registry()).unwrap();
    let app = TestApp { state, clock, backend, db };

    let id = queue(&app, &email("ap@lincoln.k12.example", "invoice:7:issued")).unwrap();
    assert_eq!(app.run_jobs().await, 1);
    let e = notify::store::find(&mut app.conn(), id).unwrap();
    assert_eq!(e.status, "queued", "still waiting, not lost");
    assert!(e.last_error.unwrap().starts_with("SMTP"));
    app.clock.advance(Duration::hours(2));
    assert_eq!(app.run_jobs().await, 1, "retried while down");

    // SMTP comes back.
    let count = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    actix_web::rt::spawn(fake_smtp(listener, count.clone()));
    app.clock.advance(Duration::hours(2));
    assert_eq!(app.run_jobs().await, 1);
    let e = notify::store::find(&mut app.conn(), id).unwrap();
    assert_eq!(e.status, "sent");
    assert_eq!(count.load(Ordering::SeqCst), 1, "delivered once");
    // Nothing sends it again: not the queue, not a second run, not a retry of the job.
    app.clock.advance(Duration::days(2));
    assert_eq!(app.run_jobs().await, 0);
    let now = now_micros(app.state.now());
    keel::jobs::store::retry_by_key(&mut app.conn(), &format!("email:{id}"), now).unwrap();
    app.run_jobs().await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "exactly once per dedupe key");
}

#[actix_web::test]
async fn smtp_down_then_up_delivers_exactly_once_sqlite() {
    smtp_down_then_up(Backend::Sqlite).await;
}

#[actix_web::test]
async fn smtp_down_then_up_delivers_exactly_once_postgres() {
    smtp_down_then_up(Backend::Postgres).await;
}

both_backends!(dead_email_is_listed_and_can_be_resent, |app| {
    let id = queue(&app, &email("bad address", "invoice:8:issued")).unwrap();
    // An address that cannot be parsed never becomes deliverable: it dies after its attempts.
    for _ in 0..notify::MAX_ATTEMPTS {
        app.run_jobs().await;
        app.clock.advance(Duration::hours(2));
    }
    let e = notify::store::find(&mut app.conn(), id).unwrap();
    assert_eq!(e.status, "dead");
    let c = app.signed_in(Role::PlatformAdmin, None).await;
    let page = c.get("/admin/emails?status=dead").await;
    assert!(page.body.contains(&format!("/admin/emails/{id}")));
    let r = c.post(&format!("/admin/emails/{id}/resend"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(notify::store::find(&mut app.conn(), id).unwrap().status, "queued");
});

both_backends!(test_email_goes_through_the_outbox, |app| {
    let c = app.signed_in(Role::PlatformAdmin, None).await;
    let r = c.post("/admin/emails/test", &[("to", "not an email")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter an email address like"));
    assert!(r.body.contains("value=\"not an email\""), "input kept");
    let r = c.post("/admin/emails/test", &[("to", "ops@keel-vendor.example")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.run_jobs().await;
    let sent = app.sent_mail();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "Keel test email");
    assert!(sent[0].text.contains("requested by"));
});
