//! Sign-in, sessions, CSRF and the admin pages' access rules.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use keel::auth::Role;

use crate::both_backends;

both_backends!(sign_in_rotates_the_session_and_sign_out_ends_it, |app| {
    let (email, pw) = app.user(Role::PlatformAdmin, None);
    let c = app.client().await;
    // Anonymous visitors are sent to sign in, and come back afterwards.
    let r = c.get("/admin/jobs?status=dead").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=%2Fadmin%2Fjobs%3Fstatus%3Ddead");
    // A session id planted before sign-in is never adopted.
    c.set_cookie("keel_session", &"f".repeat(64));
    let page = c.get("/login?next=/admin/jobs").await;
    let token = crate::harness::csrf_from(&page.body);
    let r = c
        .send(TestRequest::post().uri("/login").set_form([
            ("email", email.as_str()),
            ("password", pw.as_str()),
            ("csrf_token", token.as_str()),
            ("next", "/admin/jobs"),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/login/2fa?next=%2Fadmin%2Fjobs", "staff must pass a second factor");
    let pending = c.cookie("keel_session").unwrap();
    assert_eq!(
        c.get("/admin/jobs").await.status,
        StatusCode::SEE_OTHER,
        "a half-signed-in session is not enough"
    );
    let r = app.second_factor(&c).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let sid = c.cookie("keel_session").unwrap();
    assert_ne!(sid, pending, "the session id changes again after the second factor");
    assert_ne!(sid, "f".repeat(64));
    assert_eq!(sid.len(), 64);
    assert_eq!(c.get("/admin/jobs").await.status, StatusCode::OK);
    // Sign out: the old cookie is dead at once.
    c.refresh_csrf().await;
    let r = c.post("/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(c.cookie("keel_session").is_none());
    c.set_cookie("keel_session", &sid);
    assert_eq!(c.get("/admin/jobs").await.status, StatusCode::SEE_OTHER);
});

both_backends!(wrong_password_and_unknown_email_read_the_same, |app| {
    let (email, _) = app.user(Role::DistrictAdmin, None);
    let c = app.client().await;
    let a = c.login(&email, "not-the-password-at-all").await;
    let b = c.login("nobody@nowhere.example", "not-the-password-at-all").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b.status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = "That email and password don&#39;t match an account";
    assert!(a.body.contains(msg) && b.body.contains(msg), "{}", a.body);
    assert!(a.body.contains(&format!("value=\"{email}\"")), "the email is kept");
    let e = c.login("", "").await;
    assert!(e.body.contains("Enter your email address.") && e.body.contains("Enter your password."));
});

both_backends!(sign_in_form_needs_its_csrf_token, |app| {
    let (email, pw) = app.user(Role::PlatformAdmin, None);
    let c = app.client().await;
    let r = c
        .send(TestRequest::post().uri("/login").set_form([
            ("email", email.as_str()),
            ("password", pw.as_str()),
            ("csrf_token", "x"),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(c.cookie("keel_session").is_none());
});

both_backends!(csrf_and_origin_are_checked_on_unsafe_routes, |app| {
    let c = app.signed_in(Role::PlatformAdmin, None).await;
    let good = c.csrf.borrow().clone();
    assert_eq!(good.len(), 64);
    for path in ["/admin/jobs/1/retry", "/admin/emails/1/resend", "/admin/emails/test", "/logout"] {
        let r = c.post(path, &[("csrf_token", "")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} without token");
        let r = c.post(path, &[("csrf_token", &"0".repeat(64))]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with a wrong token");
        let form = [("csrf_token", good.as_str())];
        let r = c
            .send(
                TestRequest::post()
                    .uri(path)
                    .insert_header(("origin", "https://evil.example"))
                    .set_form(form),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} from a foreign origin");
        let r = c
            .send(
                TestRequest::post().uri(path).insert_header(("sec-fetch-site", "cross-site")).set_form(form),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} cross-site");
    }
    // Still signed in after all that.
    assert_eq!(c.get("/admin").await.status, StatusCode::OK);
});

both_backends!(internal_pages_do_not_exist_for_tenant_roles, |app| {
    let district = app.tenant("district", None, "Lincoln Public Schools");
    let school = app.tenant("school", Some(district), "Lincoln High School");
    for role in [Role::DistrictAdmin, Role::Auditor, Role::Procurement, Role::SchoolAdmin, Role::Staff] {
        let tenant = if role.is_district_role() { district } else { school };
        let c = app.signed_in(role, Some(tenant)).await;
        for path in ["/admin", "/admin/jobs", "/admin/jobs/1", "/admin/emails", "/admin/emails/1"] {
            assert_eq!(c.get(path).await.status, StatusCode::NOT_FOUND, "{role:?} {path}");
        }
        assert_eq!(
            c.post("/admin/emails/test", &[("to", "x@y.example")]).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(c.get("/account").await.status, StatusCode::OK);
    }
    let agent = app.signed_in(Role::SupportAgent, None).await;
    assert_eq!(agent.get("/admin/jobs").await.status, StatusCode::OK);
    assert_eq!(
        agent.post("/admin/jobs/1/retry", &[]).await.status,
        StatusCode::NOT_FOUND,
        "agents may look, not retry"
    );
});

both_backends!(idle_and_absolute_timeouts_and_disabling_end_sessions, |app| {
    let c = app.signed_in(Role::PlatformAdmin, None).await;
    app.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(c.get("/admin").await.status, StatusCode::OK, "29 idle minutes are fine");
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(c.get("/admin").await.status, StatusCode::SEE_OTHER, "31 idle minutes sign out");

    let c = app.signed_in(Role::PlatformAdmin, None).await;
    for _ in 0..25 {
        app.clock.advance(chrono::Duration::minutes(29));
        let _ = c.get("/admin").await;
    }
    assert_eq!(c.get("/admin").await.status, StatusCode::SEE_OTHER, "12 hours is the absolute limit");

    let (email, pw) = app.user(Role::PlatformAdmin, None);
    let c = app.client().await;
    c.login(&email, &pw).await;
    app.second_factor(&c).await;
    assert_eq!(c.get("/admin").await.status, StatusCode::OK);
    {
        use diesel::prelude::*;
        use keel::db::schema::users;
        let mut conn = app.conn();
        diesel::update(users::table.filter(users::email.eq(&email)))
            .set(users::status.eq("disabled"))
            .execute(&mut *conn)
            .unwrap();
    }
    assert_eq!(c.get("/admin").await.status, StatusCode::SEE_OTHER, "disabled users are signed out at once");
    let r = c.login(&email, &pw).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("disabled"));
});

both_backends!(open_redirects_are_refused, |app| {
    let (email, pw) = app.user(Role::Staff, None);
    let c = app.client().await;
    let page = c.get("/login").await;
    let token = crate::harness::csrf_from(&page.body);
    let r = c
        .send(TestRequest::post().uri("/login").set_form([
            ("email", email.as_str()),
            ("password", pw.as_str()),
            ("csrf_token", token.as_str()),
            ("next", "//evil.example/"),
        ]))
        .await;
    assert_eq!(r.location(), "/");
});
