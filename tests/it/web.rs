//! Web plumbing: health, readiness, security headers, request ids, error pages, 503s.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::both_backends;

both_backends!(healthz_and_readyz, |app| {
    let c = app.client().await;
    let r = c.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"status":"ok"}"#);
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "ok");
    let expected = if app.backend == crate::harness::Backend::Sqlite { "sqlite" } else { "postgres" };
    assert_eq!(v["database"], expected);
    let dirs = std::fs::read_dir("migrations/sqlite").unwrap().count() as u64;
    assert_eq!(v["migrations"].as_u64(), Some(dirs));
});

both_backends!(security_headers_on_every_response, |app| {
    let c = app.client().await;
    for path in ["/login", "/healthz", "/no-such-page", "/static/css/keel.css"] {
        let r = c.get(path).await;
        let csp = r.header("content-security-policy").unwrap_or_default();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: CSP lacks {part}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(r.header("referrer-policy").as_deref(), Some("strict-origin-when-cross-origin"), "{path}");
        assert!(r.header("x-request-id").is_some_and(|v| v.len() >= 16), "{path}");
        assert!(r.header("strict-transport-security").is_none(), "no HSTS over http");
    }
    assert_eq!(c.get("/login").await.header("cache-control").as_deref(), Some("no-store"));
    assert!(c.get("/static/css/keel.css").await.header("cache-control").unwrap().starts_with("public"));
});

both_backends!(request_id_is_echoed_when_well_formed, |app| {
    let c = app.client().await;
    let r =
        c.send(TestRequest::get().uri("/healthz").insert_header(("x-request-id", "lb-7f3a9c21-0001"))).await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("lb-7f3a9c21-0001"));
    let r =
        c.send(TestRequest::get().uri("/healthz").insert_header(("x-request-id", "bad id <script>"))).await;
    let id = r.header("x-request-id").unwrap();
    assert_ne!(id, "bad id <script>");
    assert_eq!(id.len(), 32);
});

both_backends!(styled_error_pages_and_json_errors, |app| {
    let c = app.client().await;
    let r = c.get("/no-such-page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.body.contains(">Page not found</h1>"), "{}", r.body);
    assert!(r.body.contains("/static/css/keel.css"));
    assert!(r.body.contains(&r.header("x-request-id").unwrap()), "request id shown for support");
    let r = c.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    assert!(v["error"]["message"].as_str().unwrap().len() > 10);
    // A malformed form body is a styled 400, not a panic or a 500.
    let r = c
        .send(
            TestRequest::post()
                .uri("/login")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload("%%%=&&"),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    // An oversized form is refused.
    let big = "x".repeat(200 * 1024);
    let r = c.post("/login", &[("email", big.as_str())]).await;
    assert!(r.status.is_client_error(), "{}", r.status);
});

both_backends!(pool_exhaustion_gives_503_with_retry_after, |app| {
    let c = app.client().await;
    // Hold every connection of the pool (size 4 in tests), as a stuck workload would.
    let held: Vec<_> = (0..4).map(|_| app.state.pool().get().unwrap()).collect();
    let r = c.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.header("retry-after").is_some());
    c.set_cookie("keel_session", &"a".repeat(64));
    let r = c.get("/account").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    assert!(r.body.contains("Temporarily unavailable"));
    drop(held);
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);
});

#[actix_web::test]
async fn database_down_gives_503_not_500() {
    // PostgreSQL: drop the database under a running app; pages answer 503, never 500.
    let Some(app) = crate::harness::TestApp::new(crate::harness::Backend::Postgres) else { return };
    let c = app.signed_in(keel::auth::Role::PlatformAdmin, None).await;
    assert_eq!(c.get("/admin").await.status, StatusCode::OK);
    let admin = crate::harness::pg_admin_url();
    let name = app.db.url.rsplit('/').next().unwrap().to_string();
    {
        use diesel::prelude::*;
        let mut conn = diesel::PgConnection::establish(&admin).unwrap();
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).unwrap();
    }
    for _ in 0..3 {
        let r = c.get("/admin").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK, "liveness does not need the database");
    assert_eq!(c.get("/readyz").await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn wrong_scheme_and_unreachable_database_fail_with_one_line() {
    let bin = env!("CARGO_BIN_EXE_keel");
    let dir = tempfile::tempdir().unwrap();
    for (url, needle) in [
        ("mysql://root@127.0.0.1/keel", "KEEL_DATABASE_URL: unsupported scheme 'mysql'"),
        ("postgres://nobody@127.0.0.1:1/keel", "cannot connect to the postgres database"),
    ] {
        let out = std::process::Command::new(bin)
            .arg("migrate")
            .env("KEEL_DATABASE_URL", url)
            .env("KEEL_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The failed postgres attempt must not have created a SQLite file.
    assert!(!dir.path().join("keel.db").exists());
}

#[test]
fn bad_configuration_names_the_variable() {
    let bin = env!("CARGO_BIN_EXE_keel");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin)
        .args(["serve"])
        .env("KEEL_DATA_DIR", dir.path())
        .env("KEEL_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("keel: KEEL_BIND:"), "{err}");
}

both_backends!(help_guides_are_served_to_signed_in_users, |app| {
    let anon = app.client().await;
    assert_eq!(anon.get("/help/procurement-quick-start").await.status, StatusCode::SEE_OTHER);
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let buyer = app.signed_in(keel::auth::Role::Procurement, Some(d1)).await;
    let index = buyer.get("/help").await;
    assert!(
        index.body.contains("/help/procurement-quick-start") && index.body.contains("/help/support-playbook")
    );
    let page = buyer.get("/help/procurement-quick-start").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Fill in your billing profile"), "{}", page.body);
    // Every screenshot the guide shows is served, and links between guides resolve.
    for (i, _) in page.body.match_indices("src=\"img/") {
        let name: String = page.body[i + 9..].chars().take_while(|c| *c != '"').collect();
        let img = buyer.get(&format!("/help/img/{name}")).await;
        assert_eq!(img.status, StatusCode::OK, "{name}");
        assert_eq!(img.header("content-type").as_deref(), Some("image/png"));
    }
    assert_eq!(buyer.get("/help/billing.md").await.status, StatusCode::OK);
    assert_eq!(buyer.get("/help/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(buyer.get("/help/img/../../Cargo.toml").await.status, StatusCode::NOT_FOUND);
    assert!(buyer.get("/billing").await.body.contains("/help/procurement-quick-start"));
});
