//! Identity, tenancy and audit: the tamper-evident trail, throttling, two-factor sign-in,
//! invitations, password reset, suspended tenants and sessions.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::Duration;
use diesel::prelude::*;
use keel::audit::{self, Actor, Event};
use keel::auth::Role;
use keel::db::{DbConn, now_micros, write_tx};

use crate::both_backends;
use crate::harness::{Backend, TestApp, csrf_from};

fn record(app: &TestApp, n: usize) {
    let now = now_micros(app.state.now());
    for i in 0..n {
        write_tx(&mut app.conn(), |c| {
            audit::record(c, &Actor::system("test"), Event::new("test.event", "thing", i), now)
        })
        .unwrap();
    }
}

fn verify(app: &TestApp, cp: Option<&audit::chain::Checkpoint>) -> audit::VerifyOutcome {
    audit::verify(&mut app.conn(), cp, &app.state.config().secret_key).unwrap()
}

fn broken_at(o: audit::VerifyOutcome) -> Option<i64> {
    match o {
        audit::VerifyOutcome::Broken(b) => Some(b.seq),
        audit::VerifyOutcome::Ok { .. } => None,
    }
}

/// Lets the test tamper with the trail as an attacker with database access would.
fn disable_guards(c: &mut DbConn) {
    match c {
        DbConn::Sqlite(_) => {
            diesel::sql_query("DROP TRIGGER audit_events_no_update").execute(c).unwrap();
            diesel::sql_query("DROP TRIGGER audit_events_no_delete").execute(c).unwrap();
        }
        DbConn::Pg(_) => {
            diesel::sql_query("ALTER TABLE audit_events DISABLE TRIGGER USER").execute(c).unwrap();
        }
    }
}

both_backends!(the_database_refuses_to_change_audit_events, |app| {
    record(&app, 3);
    let mut c = app.conn();
    let upd =
        diesel::sql_query("UPDATE audit_events SET actor_label = 'mallory' WHERE seq = 2").execute(&mut *c);
    assert!(upd.is_err(), "UPDATE must fail");
    let del = diesel::sql_query("DELETE FROM audit_events WHERE seq = 3").execute(&mut *c);
    assert!(del.is_err(), "DELETE must fail");
    drop(c);
    assert!(matches!(verify(&app, None), audit::VerifyOutcome::Ok { count: 3, .. }));
});

both_backends!(verify_finds_an_edited_byte, |app| {
    record(&app, 5);
    let mut c = app.conn();
    disable_guards(&mut c);
    diesel::sql_query("UPDATE audit_events SET details = '{\"x\":1}' WHERE seq = 3")
        .execute(&mut *c)
        .unwrap();
    drop(c);
    assert_eq!(broken_at(verify(&app, None)), Some(3));
});

both_backends!(verify_finds_a_deleted_middle_row, |app| {
    record(&app, 5);
    let mut c = app.conn();
    disable_guards(&mut c);
    diesel::sql_query("DELETE FROM audit_events WHERE seq = 2").execute(&mut *c).unwrap();
    drop(c);
    assert_eq!(broken_at(verify(&app, None)), Some(3));
});

both_backends!(verify_finds_a_truncated_tail, |app| {
    record(&app, 6);
    let (seq, hash) = keel::audit::store::head(&mut app.conn()).unwrap();
    let cp =
        audit::chain::Checkpoint::sign(&app.state.config().secret_key, seq, &hash, "2026-03-02T15:00:00Z");
    assert!(broken_at(verify(&app, Some(&cp))).is_none());
    let mut c = app.conn();
    disable_guards(&mut c);
    // A careful attacker removes the tail and rewinds the head too.
    diesel::sql_query("DELETE FROM audit_events WHERE seq > 4").execute(&mut *c).unwrap();
    let h4: String = keel::audit::store::by_seq(&mut c, 4).unwrap().unwrap().hash;
    diesel::sql_query(format!("UPDATE audit_chain_head SET last_seq = 4, last_hash = '{h4}'"))
        .execute(&mut *c)
        .unwrap();
    drop(c);
    assert!(broken_at(verify(&app, None)).is_none(), "without a checkpoint a rewound tail looks whole");
    assert_eq!(broken_at(verify(&app, Some(&cp))), Some(5), "the checkpoint reveals it");
    let forged = audit::chain::Checkpoint { seq: 4, ..cp };
    assert!(audit::verify(&mut app.conn(), Some(&forged), &app.state.config().secret_key).is_err());
});

both_backends!(concurrent_writers_never_fork_the_chain, |app| {
    let now = now_micros(app.state.now());
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let s = app.state.clone();
            async move {
                s.db(move |c| {
                    Ok(write_tx(c, |c| {
                        audit::record(c, &Actor::system("w"), Event::new("test.concurrent", "t", i), now)
                    })?)
                })
                .await
                .unwrap()
            }
        })
        .collect();
    let mut seqs = futures_util::future::join_all(tasks).await;
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>());
    assert!(matches!(verify(&app, None), audit::VerifyOutcome::Ok { count: 24, .. }));
});

#[test]
fn audit_verify_cli_passes_on_the_demo_and_fails_on_an_edited_copy() {
    let bin = env!("CARGO_BIN_EXE_keel");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], data: &std::path::Path| {
        std::process::Command::new(bin)
            .args(args)
            .env("KEEL_DATA_DIR", data)
            .env_remove("KEEL_DATABASE_URL")
            .output()
            .unwrap()
    };
    assert!(run(&["demo", "seed"], dir.path()).status.success());
    let ok = run(&["audit", "verify"], dir.path());
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("Audit chain OK"));
    // A hand-edited copy (the triggers must be dropped to edit it at all).
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("secret.key"), copy.path().join("secret.key")).unwrap();
    {
        let mut src =
            diesel::SqliteConnection::establish(&dir.path().join("keel.db").display().to_string()).unwrap();
        diesel::sql_query(format!("VACUUM INTO '{}'", copy.path().join("keel.db").display()))
            .execute(&mut src)
            .unwrap();
        let mut c =
            diesel::SqliteConnection::establish(&copy.path().join("keel.db").display().to_string()).unwrap();
        diesel::sql_query("DROP TRIGGER audit_events_no_update").execute(&mut c).unwrap();
        diesel::sql_query("UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 7")
            .execute(&mut c)
            .unwrap();
    }
    let bad = run(&["audit", "verify"], copy.path());
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("BROKEN at event #7"), "{out}");
}

both_backends!(repeated_failures_pause_sign_in, |app| {
    let (email, pw) = app.user(Role::DistrictAdmin, None);
    let c = app.client().await;
    for _ in 0..5 {
        assert_eq!(c.login(&email, "wrong password again").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = c.login(&email, &pw).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    assert!(r.body.contains("signing in is paused"), "{}", r.body);
    // Unknown accounts are throttled the same way (nothing is revealed).
    for _ in 0..5 {
        c.login("nobody@nowhere.example", "whatever password").await;
    }
    assert_eq!(
        c.login("nobody@nowhere.example", "whatever password").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(Duration::minutes(2));
    assert_eq!(c.login(&email, &pw).await.status, StatusCode::SEE_OTHER, "the pause ends");
    let n: i64 = keel::db::schema::audit_events::table
        .filter(keel::db::schema::audit_events::action.eq("auth.sign_in_failed"))
        .count()
        .get_result(&mut *app.conn())
        .unwrap();
    assert!(n >= 10, "failures are audited ({n})");
});

both_backends!(two_factor_sign_in_with_codes_and_recovery_codes, |app| {
    // A district admin turns two-factor on from their account.
    let c = app.signed_in(Role::DistrictAdmin, None).await;
    let page = c.get("/account/2fa/setup").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg class=\"qr\""));
    let key =
        page.body.split("<pre class=\"code\">").nth(1).unwrap().split('<').next().unwrap().replace(' ', "");
    let secret = keel::auth::totp::base32_decode(&key).unwrap();
    let r = c.post("/account/2fa/setup", &[("code", "000000")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let code = keel::auth::totp::code_at(&secret, app.state.now().timestamp());
    let r = c.post("/account/2fa/setup", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> = r
        .body
        .split("<pre class=\"code\">")
        .nth(1)
        .unwrap()
        .split("</pre>")
        .next()
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(codes.len(), 10);
    let email = {
        let page = c.get("/account").await;
        page.body.split("<dt>Email</dt><dd>").nth(1).unwrap().split('<').next().unwrap().to_string()
    };
    // Next sign-in needs a code; the password alone is not enough.
    let c2 = app.client().await;
    let r = c2.login(&email, "tidal-copper-lantern-92").await;
    assert_eq!(r.location(), "/login/2fa");
    assert_eq!(c2.get("/account").await.status, StatusCode::SEE_OTHER);
    let page = c2.get("/login/2fa").await;
    let token = csrf_from(&page.body);
    let post = |code: String| {
        c2.send(
            TestRequest::post()
                .uri("/login/2fa")
                .set_form([("code", code.as_str()), ("csrf_token", token.as_str())]),
        )
    };
    assert_eq!(post("123456".into()).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The code used at set-up cannot be replayed.
    assert_eq!(post(code.clone()).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A recovery code works once.
    let r = post(codes[0].to_uppercase()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(c2.get("/account").await.status, StatusCode::OK);
    let c3 = app.client().await;
    c3.login(&email, "tidal-copper-lantern-92").await;
    let page = c3.get("/login/2fa").await;
    let t3 = csrf_from(&page.body);
    let r = c3
        .send(
            TestRequest::post()
                .uri("/login/2fa")
                .set_form([("code", codes[0].as_str()), ("csrf_token", t3.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a recovery code is single-use");
    app.clock.advance(Duration::seconds(60));
    let fresh = keel::auth::totp::code_at(&secret, app.state.now().timestamp());
    let r = c3
        .send(
            TestRequest::post()
                .uri("/login/2fa")
                .set_form([("code", fresh.as_str()), ("csrf_token", t3.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
});

both_backends!(staff_must_enroll_before_using_keel, |app| {
    // An internal user without two-factor (e.g. created by the CLI).
    let (email, pw) = app.user(Role::SupportAgent, None);
    {
        use keel::db::schema::users;
        diesel::update(users::table.filter(users::email.eq(&email)))
            .set((users::totp_enabled.eq(false), users::totp_secret.eq(None::<String>)))
            .execute(&mut *app.conn())
            .unwrap();
    }
    let c = app.client().await;
    let r = c.login(&email, &pw).await;
    assert_eq!(r.location(), "/account/2fa/setup");
    assert_eq!(c.get("/admin").await.status, StatusCode::SEE_OTHER, "nothing else until enrolled");
    let page = c.get("/account/2fa/setup").await;
    assert!(page.body.contains("Keel staff accounts need a second factor"));
});

fn outbox_link(app: &TestApp, to: &str, prefix: &str) -> String {
    let (rows, _) = keel::notify::store::list(&mut app.conn(), None, 0, 100).unwrap();
    let e = rows.iter().find(|e| e.to_addr == to).unwrap_or_else(|| panic!("no email to {to}"));
    let i = e.text_body.find(prefix).unwrap();
    e.text_body[i..].split_whitespace().next().unwrap().trim_start_matches("http://keel.test").to_string()
}

both_backends!(invitations_are_scoped_single_use_and_expire, |app| {
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let d2 = app.tenant("district", None, "Riverside Unified");
    let s3 = app.tenant("school", Some(d2), "Arlington High");
    let admin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    // Another district's school is refused beside the field; so is a district role in a school.
    let r = admin
        .post(
            "/district/members/invite",
            &[("email", "new.teacher@lincoln.example"), ("tenant_id", &s3.to_string()), ("role", "staff")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Choose the district or school to invite them to."));
    assert!(r.body.contains("value=\"new.teacher@lincoln.example\""), "input kept");
    let r = admin
        .post(
            "/district/members/invite",
            &[("email", "new.teacher@lincoln.example"), ("tenant_id", &s1.to_string()), ("role", "auditor")],
        )
        .await;
    assert!(r.body.contains("is not a role you can give in a school"));
    let r = admin
        .post(
            "/district/members/invite",
            &[
                ("email", "new.teacher@lincoln.example"),
                ("name", "Alex Rivera"),
                ("tenant_id", &s1.to_string()),
                ("role", "staff"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let link = outbox_link(&app, "new.teacher@lincoln.example", "http://keel.test/invite/");
    let visitor = app.client().await;
    let page = visitor.get(&link).await;
    assert!(page.body.contains("Join Lincoln High School"));
    let token = csrf_from(&page.body);
    let r = visitor
        .send(TestRequest::post().uri(&link).set_form([
            ("name", "Alex Rivera"),
            ("password", "short"),
            ("confirm", "short"),
            ("csrf_token", token.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("at least 12 characters"));
    let r = visitor
        .send(TestRequest::post().uri(&link).set_form([
            ("name", "Alex Rivera"),
            ("password", "maple-river-stone-41"),
            ("confirm", "maple-river-stone-41"),
            ("csrf_token", token.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(visitor.get("/account").await.body.contains("Lincoln High School"));
    // The link is now spent.
    let again = app.client().await.get(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already accepted"));
    // An invitation unused for 8 days has expired.
    admin
        .post(
            "/district/members/invite",
            &[("email", "late@lincoln.example"), ("tenant_id", &d1.to_string()), ("role", "auditor")],
        )
        .await;
    let late = outbox_link(&app, "late@lincoln.example", "http://keel.test/invite/");
    app.clock.advance(Duration::days(8));
    let r = app.client().await.get(&late).await;
    assert!(r.body.contains("has expired"));
    let r = app.client().await.get("/invite/not-a-token").await;
    assert!(r.body.contains("doesn&#39;t work") || r.body.contains("doesn't work"), "{}", r.body);
});

both_backends!(password_reset_is_single_use_and_reveals_nothing, |app| {
    let (email, _) = app.user(Role::Procurement, None);
    let signed_in = app.client().await;
    signed_in.login(&email, "tidal-copper-lantern-92").await;
    let c = app.client().await;
    let page = c.get("/forgot").await;
    let token = csrf_from(&page.body);
    let a = c
        .send(
            TestRequest::post()
                .uri("/forgot")
                .set_form([("email", email.as_str()), ("csrf_token", token.as_str())]),
        )
        .await;
    let b = c
        .send(
            TestRequest::post()
                .uri("/forgot")
                .set_form([("email", "nobody@nowhere.example"), ("csrf_token", token.as_str())]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let strip = |s: &str, e: &str| s.replace(e, "EMAIL").split("<footer").next().unwrap_or("").to_string();
    assert_eq!(
        strip(&a.body, &email),
        strip(&b.body, "nobody@nowhere.example"),
        "same answer for unknown emails"
    );
    let link = outbox_link(&app, &email, "http://keel.test/reset/");
    let page = c.get(&link).await;
    let t = csrf_from(&page.body);
    let r = c
        .send(TestRequest::post().uri(&link).set_form([
            ("password", "birch-canyon-ledger-77"),
            ("confirm", "birch-canyon-ledger-77"),
            ("csrf_token", t.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(signed_in.get("/account").await.status, StatusCode::SEE_OTHER, "other sessions end");
    assert_eq!(c.login(&email, "birch-canyon-ledger-77").await.status, StatusCode::SEE_OTHER);
    let r = app.client().await.get(&link).await;
    assert!(r.body.contains("already used"));
    // A fresh link expires after an hour.
    app.clock.advance(Duration::minutes(10));
    let c2 = app.client().await;
    let t2 = csrf_from(&c2.get("/forgot").await.body);
    c2.send(
        TestRequest::post().uri("/forgot").set_form([("email", email.as_str()), ("csrf_token", t2.as_str())]),
    )
    .await;
    let (rows, _) = keel::notify::store::list(&mut app.conn(), None, 0, 100).unwrap();
    let newest = rows.iter().find(|e| e.to_addr == email && e.subject.starts_with("Reset")).unwrap();
    let i = newest.text_body.find("/reset/").unwrap();
    let link2 = newest.text_body[i..].split_whitespace().next().unwrap().to_string();
    assert_ne!(link2, link);
    app.clock.advance(Duration::minutes(61));
    assert!(app.client().await.get(&link2).await.body.contains("has expired"));
});

both_backends!(suspended_tenants_users_cannot_sign_in, |app| {
    let d = app.tenant("district", None, "Closed District");
    let s = app.tenant("school", Some(d), "Closed School");
    let (email, pw) = app.user(Role::Staff, Some(s));
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin.post(&format!("/admin/tenants/{d}/status"), &[("status", "suspended")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = app.client().await.login(&email, &pw).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("is suspended"), "{}", r.body);
    admin.post(&format!("/admin/tenants/{d}/status"), &[("status", "active")]).await;
    assert_eq!(app.client().await.login(&email, &pw).await.status, StatusCode::SEE_OTHER);
});

both_backends!(sessions_can_be_listed_and_ended, |app| {
    let (email, pw) = app.user(Role::Auditor, None);
    let a = app.client().await;
    a.login(&email, &pw).await;
    a.refresh_csrf().await;
    let b = app.client().await;
    b.login(&email, &pw).await;
    let page = a.get("/account/sessions").await;
    assert_eq!(page.body.matches("/revoke\"").count(), 1, "one other session listed with a sign-out button");
    // Another user's session id is not found.
    let other = app.signed_in(Role::Staff, None).await;
    assert_eq!(other.post("/account/sessions/1/revoke", &[]).await.status, StatusCode::NOT_FOUND);
    let r = a.post("/account/sessions/revoke-others", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(a.get("/account").await.status, StatusCode::OK);
});

both_backends!(tenant_forms_keep_input_and_explain_errors, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r = admin
        .post(
            "/admin/tenants",
            &[
                ("kind", "district"),
                ("name", "Lincoln Public Schools"),
                ("slug", "lin coln!"),
                ("time_zone", "Mars/Olympus"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Use 1 to 24 letters, digits and dashes"));
    assert!(r.body.contains("Use a time zone name like America/Chicago"));
    assert!(r.body.contains("value=\"Lincoln Public Schools\""));
    let r = admin
        .post(
            "/admin/tenants",
            &[
                ("kind", "district"),
                ("name", "Lincoln Public Schools"),
                ("slug", ""),
                ("time_zone", "America/Chicago"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let id: i64 = r.location().rsplit('/').next().unwrap().parse().unwrap();
    let school = app.tenant("school", None, "Roper Elementary");
    let r = admin.post(&format!("/admin/tenants/{id}/link"), &[("school_id", &school.to_string())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = admin.get(&format!("/admin/tenants/{id}")).await;
    assert!(page.body.contains("Roper Elementary"));
    let actions: Vec<String> = keel::db::schema::audit_events::table
        .select(keel::db::schema::audit_events::action)
        .load(&mut *app.conn())
        .unwrap();
    assert!(actions.contains(&"tenant.create".to_string()) && actions.contains(&"tenant.link".to_string()));
});

#[allow(dead_code)]
fn _uses(_: Backend) {}
