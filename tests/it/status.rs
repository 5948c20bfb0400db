//! The status page: operators' changes appear on the public page and in the Statuspage v2 JSON,
//! the snapshot keeps serving with the database gone, maintenance moves by itself, uptime is
//! explained, and bad input is answered beside the fields.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::Duration;
use keel::auth::Role;
use serde_json::Value;

use crate::both_backends;
use crate::harness::TestApp;

async fn add_component(app: &TestApp, c: &crate::harness::Client, name: &str) -> i64 {
    let r = c.post("/admin/status/components", &[("name", name), ("description", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let comps = keel::status::store::components(&mut app.conn()).unwrap();
    comps.iter().find(|x| x.name == name).unwrap().id
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

both_backends!(an_incident_appears_on_the_page_and_in_v2_then_resolves, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let web = add_component(&app, &admin, "Web app").await;
    let api = add_component(&app, &admin, "API").await;
    let visitor = app.client().await;
    assert!(visitor.get("/status").await.body.contains("All Systems Operational"));

    let r = admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "incident"),
                ("name", "Sign-in errors"),
                ("impact", "major"),
                ("status", "investigating"),
                ("body", "Teachers **cannot sign in**. <script>alert(1)</script>"),
                ("started_at", ""),
                (&format!("component_{web}"), "major_outage"),
                (&format!("component_{api}"), ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = visitor.get("/status").await;
    assert!(page.body.contains("Sign-in errors"));
    assert!(page.body.contains("<strong>cannot sign in</strong>"));
    assert!(!page.body.contains("<script>alert(1)"), "markdown is sanitized");
    assert!(page.body.contains("Major Service Outage"), "a major outage of a component is critical");

    // Statuspage v2: exact field names.
    let v: Value = serde_json::from_str(&visitor.get("/api/v2/summary.json").await.body).unwrap();
    assert_eq!(keys(&v), set(&["page", "components", "incidents", "scheduled_maintenances", "status"]));
    assert_eq!(keys(&v["page"]), set(&["id", "name", "url", "time_zone", "updated_at", "stale"]));
    assert_eq!(v["status"]["indicator"], "critical");
    let comp = &v["components"][0];
    assert_eq!(
        keys(comp),
        set(&[
            "id",
            "name",
            "status",
            "created_at",
            "updated_at",
            "position",
            "description",
            "showcase",
            "start_date",
            "group_id",
            "page_id",
            "group",
            "only_show_if_degraded"
        ])
    );
    let inc = &v["incidents"][0];
    assert_eq!(
        keys(inc),
        set(&[
            "id",
            "name",
            "status",
            "impact",
            "created_at",
            "updated_at",
            "started_at",
            "monitoring_at",
            "resolved_at",
            "shortlink",
            "page_id",
            "incident_updates",
            "components",
            "postmortem_body"
        ])
    );
    assert_eq!(inc["impact"], "major");
    assert_eq!(inc["components"][0]["status"], "major_outage");
    assert_eq!(
        keys(&inc["incident_updates"][0]),
        set(&[
            "id",
            "status",
            "body",
            "incident_id",
            "created_at",
            "updated_at",
            "display_at",
            "affected_components"
        ])
    );
    assert!(inc["created_at"].as_str().unwrap().ends_with("+00:00"), "ISO 8601 with offset");
    let r = visitor.get("/api/v2/incidents/unresolved.json").await;
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"));

    // Resolve: the component is operational again and the incident leaves "unresolved".
    let id = keel::status::store::incidents_all(&mut app.conn()).unwrap()[0].id;
    let r = admin
        .post(&format!("/admin/status/incidents/{id}/updates"), &[("status", "resolved"), ("body", "Fixed.")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let v: Value =
        serde_json::from_str(&visitor.get("/api/v2/incidents/unresolved.json").await.body).unwrap();
    assert_eq!(v["incidents"].as_array().unwrap().len(), 0);
    let v: Value = serde_json::from_str(&visitor.get("/api/v2/components.json").await.body).unwrap();
    assert!(v["components"].as_array().unwrap().iter().all(|c| c["status"] == "operational"));
    let code = keel::status::store::incident(&mut app.conn(), id).unwrap().code;
    let page = visitor.get(&format!("/status/incidents/{code}")).await;
    assert!(page.body.contains("Fixed.") && page.body.contains("Teachers"));
    assert_eq!(visitor.get("/status/incidents/nosuchcode").await.status, StatusCode::NOT_FOUND);
    // Every change was audited.
    let actions: Vec<String> = {
        use diesel::prelude::*;
        keel::db::schema::audit_events::table
            .select(keel::db::schema::audit_events::action)
            .load(&mut *app.conn())
            .unwrap()
    };
    assert!(actions.contains(&"incident.create".into()) && actions.contains(&"incident.update".into()));
});

both_backends!(public_pages_keep_serving_when_the_database_is_gone, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    add_component(&app, &admin, "Reporting").await;
    let visitor = app.client().await;
    let first = visitor.get("/status").await;
    assert_eq!(first.status, StatusCode::OK);
    let tag = first.header("etag").unwrap();
    let again =
        visitor.send(TestRequest::get().uri("/status").insert_header(("if-none-match", tag.as_str()))).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(first.header("cache-control").as_deref(), Some("public, max-age=30"));
    // Hold every pooled connection: the database is unreachable for the app.
    let held: Vec<_> = (0..4).map(|_| app.state.pool().get().unwrap()).collect();
    assert!(keel::status::refresh(&app.state).await.is_err());
    for path in
        ["/status", "/api/v2/summary.json", "/api/v2/status.json", "/status/uptime", "/api/status/health"]
    {
        let r = visitor.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path} keeps serving");
    }
    let page = visitor.get("/status").await;
    assert!(
        page.body.contains("We can&#39;t refresh this page right now")
            || page.body.contains("We can't refresh this page right now"),
        "stale marker"
    );
    assert!(page.body.contains("Reporting"));
    let health: Value = serde_json::from_str(&visitor.get("/api/status/health").await.body).unwrap();
    assert_eq!(health["stale"], true);
    assert_eq!(
        admin.get("/admin/status").await.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "signed-in pages say 503"
    );
    drop(held);
    keel::status::refresh(&app.state).await.unwrap();
    assert!(!visitor.get("/status").await.body.contains("refresh this page right now"));
});

both_backends!(maintenance_starts_and_completes_by_itself, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let audio = add_component(&app, &admin, "Audio upload & processing").await;
    let start = app.state.now() + Duration::hours(1);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    // End before start is refused beside the field, input kept.
    let r = admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "maintenance"),
                ("name", "Cluster upgrade"),
                ("body", "Upgrading."),
                ("scheduled_for", &fmt(start)),
                ("scheduled_until", &fmt(start - Duration::hours(2))),
                (&format!("component_{audio}"), "under_maintenance"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("The end must be after the start."));
    assert!(r.body.contains("value=\"Cluster upgrade\""));
    let r = admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "maintenance"),
                ("name", "Cluster upgrade"),
                ("body", "Upgrading."),
                ("scheduled_for", &fmt(start)),
                ("scheduled_until", &fmt(start + Duration::hours(1))),
                (&format!("component_{audio}"), "under_maintenance"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let upcoming: Value = serde_json::from_str(
        &app.client().await.get("/api/v2/scheduled-maintenances/upcoming.json").await.body,
    )
    .unwrap();
    assert_eq!(upcoming["scheduled_maintenances"][0]["status"], "scheduled");
    assert!(upcoming["scheduled_maintenances"][0]["scheduled_for"].is_string());
    let run = || async {
        keel::jobs::store::enqueue(
            &mut app.conn(),
            &keel::jobs::NewJob::new("status.maintenance", serde_json::json!({})),
            keel::db::now_micros(app.state.now()),
        )
        .unwrap();
        app.run_jobs().await;
    };
    app.clock.advance(Duration::minutes(61));
    run().await;
    let c = keel::status::store::component(&mut app.conn(), audio).unwrap();
    assert_eq!(c.status, "under_maintenance");
    let active: Value = serde_json::from_str(
        &app.client().await.get("/api/v2/scheduled-maintenances/active.json").await.body,
    )
    .unwrap();
    assert_eq!(active["scheduled_maintenances"][0]["status"], "in_progress");
    app.clock.advance(Duration::minutes(60));
    run().await;
    assert_eq!(keel::status::store::component(&mut app.conn(), audio).unwrap().status, "operational");
    let all: Value =
        serde_json::from_str(&app.client().await.get("/api/v2/scheduled-maintenances.json").await.body)
            .unwrap();
    assert_eq!(all["scheduled_maintenances"][0]["status"], "completed");
});

both_backends!(uptime_is_explained_and_never_rounded_up, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let api = add_component(&app, &admin, "API").await;
    app.clock.advance(Duration::days(10));
    // Ten days later the old session has expired: sign in again.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let r =
        admin.post(&format!("/admin/status/components/{api}/status"), &[("status", "major_outage")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    app.clock.advance(Duration::minutes(1));
    admin.post(&format!("/admin/status/components/{api}/status"), &[("status", "operational")]).await;
    keel::status::refresh(&app.state).await.unwrap();
    let public_id = keel::status::store::component(&mut app.conn(), api).unwrap().public_id;
    let page = app.client().await.get(&format!("/status/uptime/{public_id}?days=30")).await;
    assert_eq!(page.status, StatusCode::OK);
    let main = &page.body[page.body.find("<main").unwrap_or(0)..];
    assert!(!page.body.contains("100.000%"), "one outage minute never shows 100%: {main}");
    assert!(page.body.contains("Major outage"), "the counted interval is listed");
    assert!(page.body.contains("1.0"), "one weighted minute");
    assert_eq!(app.client().await.get("/status/uptime/nope").await.status, StatusCode::NOT_FOUND);
});

both_backends!(support_agents_post_updates_but_do_not_open_incidents, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let web = add_component(&app, &admin, "Web app").await;
    admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "incident"),
                ("name", "Slow pages"),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", "Looking."),
                (&format!("component_{web}"), "degraded_performance"),
            ],
        )
        .await;
    let id = keel::status::store::incidents_all(&mut app.conn()).unwrap()[0].id;
    let agent = app.signed_in(Role::SupportAgent, None).await;
    let r = agent
        .post(&format!("/admin/status/incidents/{id}/updates"), &[("status", "identified"), ("body", "")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter a message for customers."));
    let r = agent
        .post(
            &format!("/admin/status/incidents/{id}/updates"),
            &[("status", "identified"), ("body", "A cache node failed.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(agent.post("/admin/status/incidents", &[("name", "x")]).await.status, StatusCode::NOT_FOUND);
});

fn link_in(app: &TestApp, to: &str, marker: &str) -> String {
    let (rows, _) = keel::notify::store::list(&mut app.conn(), None, 0, 500).unwrap();
    let e = rows
        .iter()
        .find(|e| e.to_addr == to && e.text_body.contains(marker))
        .unwrap_or_else(|| panic!("no email to {to}"));
    let i = e.text_body.find(marker).unwrap();
    e.text_body[i..].split_whitespace().next().unwrap().trim_start_matches("http://keel.test").to_string()
}

both_backends!(subscriptions_double_opt_in_notify_once_and_unsubscribe, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let web = add_component(&app, &admin, "Web app").await;
    let reports = add_component(&app, &admin, "Reporting").await;
    let v = app.client().await;
    let page = v.get("/status/subscribe").await;
    let token = crate::harness::csrf_from(&page.body);
    let r = v
        .send(
            TestRequest::post()
                .uri("/status/subscribe")
                .set_form([("email", "not-an-email"), ("csrf_token", token.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let web_field = format!("component_{web}");
    let r = v
        .send(TestRequest::post().uri("/status/subscribe").set_form([
            ("email", "it@district.example"),
            (web_field.as_str(), "1"),
            ("csrf_token", token.as_str()),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Check your email"));
    app.run_jobs().await;
    let manage = link_in(&app, "it@district.example", "http://keel.test/status/subscriptions/");
    // Unconfirmed addresses get nothing.
    admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "incident"),
                ("name", "Slow pages"),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", "Looking."),
                (&web_field, "degraded_performance"),
            ],
        )
        .await;
    app.run_jobs().await;
    assert_eq!(app.sent_mail().iter().filter(|m| m.subject.contains("Slow pages")).count(), 0);
    // Confirm on the page (a GET changes nothing).
    let page = v.get(&manage).await;
    assert!(page.body.contains("not confirmed yet"));
    let t = crate::harness::csrf_from(&page.body);
    let r = v
        .send(TestRequest::post().uri(&manage).set_form([("action", "confirm"), ("csrf_token", t.as_str())]))
        .await;
    assert!(r.body.contains("your subscription is confirmed"));
    // An update to a chosen component is emailed once, with one-click unsubscribe headers.
    let id = keel::status::store::incidents_all(&mut app.conn()).unwrap()[0].id;
    admin
        .post(&format!("/admin/status/incidents/{id}/updates"), &[("status", "resolved"), ("body", "Fixed.")])
        .await;
    app.run_jobs().await;
    app.run_jobs().await;
    let mails: Vec<_> = app
        .sent_mail()
        .into_iter()
        .filter(|m| m.to == "it@district.example" && m.subject.contains("Slow pages"))
        .collect();
    assert_eq!(mails.len(), 1, "one email per update");
    assert!(mails[0].subject.starts_with("[Resolved]"));
    let (rows, _) = keel::notify::store::list(&mut app.conn(), None, 0, 500).unwrap();
    let row = rows.iter().find(|e| e.subject.contains("Slow pages")).unwrap();
    assert!(row.headers.contains("List-Unsubscribe-Post"));
    // Another component's incident is not sent to them.
    let rep_field = format!("component_{reports}");
    admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "incident"),
                ("name", "Reports delayed"),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", "Looking."),
                (&rep_field, "degraded_performance"),
            ],
        )
        .await;
    app.run_jobs().await;
    assert_eq!(app.sent_mail().iter().filter(|m| m.subject.contains("Reports delayed")).count(), 0);
    // One-click unsubscribe.
    let r = v.send(TestRequest::post().uri(&format!("{manage}/unsubscribe"))).await;
    assert!(r.body.contains("You are unsubscribed"));
    assert_eq!(v.get("/status/subscriptions/1-0000").await.status, StatusCode::NOT_FOUND);
    assert!(v.get("/status/subscriptions/garbage").await.body.contains("This link doesn"));
});

/// A tiny HTTP server whose answer the test switches between 200 and 503.
async fn flaky_server(healthy: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    actix_web::rt::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let ok = healthy.load(std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let resp: &[u8] = if ok {
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nall ok"
            } else {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown"
            };
            let _ = s.write_all(resp).await;
        }
    });
    port
}

async fn run_probes(app: &TestApp) {
    keel::jobs::store::enqueue(
        &mut app.conn(),
        &keel::jobs::NewJob::new("status.probes", serde_json::json!({})),
        keel::db::now_micros(app.state.now()),
    )
    .unwrap();
    app.run_jobs().await;
}

both_backends!(probes_trip_a_draft_incident_and_recover, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let web = add_component(&app, &admin, "Web app").await;
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let port = flaky_server(healthy.clone()).await;
    let r = admin
        .post(
            "/admin/status/probes",
            &[
                ("component_id", &web.to_string()),
                ("kind", "http"),
                ("url", "not a url"),
                ("interval_seconds", "10"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter a full address like") && r.body.contains("between 30 and 86400"));
    let url = format!("http://127.0.0.1:{port}/healthz");
    let r = admin
        .post(
            "/admin/status/probes",
            &[
                ("component_id", &web.to_string()),
                ("kind", "http"),
                ("url", &url),
                ("expect", "200-299"),
                ("body_contains", "all ok"),
                ("interval_seconds", "60"),
                ("failure_threshold", "3"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    run_probes(&app).await;
    assert_eq!(keel::status::store::component(&mut app.conn(), web).unwrap().status, "operational");
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    for _ in 0..2 {
        app.clock.advance(Duration::seconds(61));
        run_probes(&app).await;
    }
    assert_eq!(
        keel::status::store::component(&mut app.conn(), web).unwrap().status,
        "operational",
        "two failures are not enough"
    );
    app.clock.advance(Duration::seconds(61));
    run_probes(&app).await;
    assert_eq!(keel::status::store::component(&mut app.conn(), web).unwrap().status, "major_outage");
    let incidents = keel::status::store::incidents_all(&mut app.conn()).unwrap();
    assert_eq!(incidents.len(), 1);
    assert!(!incidents[0].published, "a draft for an operator to confirm");
    assert!(incidents[0].name.contains("Web app is not responding"));
    let v: Value =
        serde_json::from_str(&app.client().await.get("/api/v2/incidents.json").await.body).unwrap();
    assert_eq!(v["incidents"].as_array().unwrap().len(), 0, "drafts are not public");
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    assert!(admin.get("/admin/status").await.body.contains("Drafts waiting for an operator"));
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    app.clock.advance(Duration::seconds(61));
    run_probes(&app).await;
    assert_eq!(
        keel::status::store::component(&mut app.conn(), web).unwrap().status,
        "operational",
        "recovered"
    );
});

both_backends!(probes_heartbeats_and_maintenance, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let jobs = add_component(&app, &admin, "Scoring jobs").await;
    let r = admin
        .post(
            "/admin/status/probes",
            &[
                ("component_id", &jobs.to_string()),
                ("kind", "heartbeat"),
                ("interval_seconds", "300"),
                ("failure_threshold", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = admin.get("/admin/status").await;
    let i = page.body.find("/api/v1/heartbeat/").expect("heartbeat URL shown once");
    let token: String = page.body[i + 18..].chars().take(64).collect();
    let c = app.client().await;
    let r = c.send(TestRequest::post().uri(&format!("/api/v1/heartbeat/{token}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c.send(TestRequest::post().uri(&format!("/api/v1/heartbeat/{}", "0".repeat(64)))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("\"code\":\"not_found\""));
    app.clock.advance(Duration::seconds(400));
    run_probes(&app).await;
    assert_eq!(
        keel::status::store::component(&mut app.conn(), jobs).unwrap().status,
        "major_outage",
        "missed heartbeat"
    );
    c.send(TestRequest::post().uri(&format!("/api/v1/heartbeat/{token}"))).await;
    assert_eq!(keel::status::store::component(&mut app.conn(), jobs).unwrap().status, "operational");
    // During announced maintenance nothing runs.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let now = app.state.now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "maintenance"),
                ("name", "Queue upgrade"),
                ("body", "Upgrading."),
                ("scheduled_for", &fmt(now)),
                ("scheduled_until", &fmt(now + Duration::hours(3))),
                (&format!("component_{jobs}"), "under_maintenance"),
            ],
        )
        .await;
    app.clock.advance(Duration::seconds(400));
    run_probes(&app).await;
    assert_ne!(
        keel::status::store::component(&mut app.conn(), jobs).unwrap().status,
        "major_outage",
        "no probe during maintenance"
    );
});

both_backends!(sla_statements_are_frozen_scoped_and_readable, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let web = add_component(&app, &admin, "Web app").await;
    // An outage of 30 minutes this month; the statement is for this month once it has ended.
    app.clock.advance(Duration::days(2));
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    admin.post(&format!("/admin/status/components/{web}/status"), &[("status", "major_outage")]).await;
    app.clock.advance(Duration::minutes(30));
    admin.post(&format!("/admin/status/components/{web}/status"), &[("status", "operational")]).await;
    let month = app.state.now().format("%Y-%m").to_string();
    app.clock.advance(Duration::days(35));
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let d2 = app.tenant("district", None, "Riverside Unified");
    let da = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    let page = da.get("/reliability").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No statements yet"));
    // Another district's id is not found.
    assert_eq!(
        da.post("/reliability/statements", &[("tenant_id", &d2.to_string()), ("month", &month)]).await.status,
        StatusCode::NOT_FOUND
    );
    let future = (app.state.now() + Duration::days(40)).format("%Y-%m").to_string();
    let r = da.post("/reliability/statements", &[("tenant_id", &d1.to_string()), ("month", &future)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = da.post("/reliability/statements", &[("tenant_id", &d1.to_string()), ("month", &month)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let s = keel::status::statement::find(&mut app.conn(), d1, &month).unwrap().unwrap();
    let f = s.figures().unwrap();
    assert_eq!(f.components.len(), 1);
    assert!((f.components[0].weighted_outage_minutes - 30.0).abs() < 0.01, "{f:?}");
    assert!(!f.overall.starts_with("100"));
    let pdf = da.get(&format!("/reliability/statements/{}.pdf", s.id)).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(pdf.header("content-type").as_deref(), Some("application/pdf"));
    let csv = da.get(&format!("/reliability/statements/{}.csv", s.id)).await;
    assert!(csv.body.contains("\"Web app\""));
    // Frozen: a second generation keeps the first.
    da.post("/reliability/statements", &[("tenant_id", &d1.to_string()), ("month", &month)]).await;
    let again = keel::status::statement::find(&mut app.conn(), d1, &month).unwrap().unwrap();
    assert_eq!((again.id, again.pdf_sha256.clone()), (s.id, s.pdf_sha256.clone()));
    // Another district's admin cannot download it.
    let other = app.signed_in(Role::DistrictAdmin, Some(d2)).await;
    assert_eq!(
        other.get(&format!("/reliability/statements/{}.pdf", s.id)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other.get(&format!("/reliability/statements/{}.csv", s.id)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(other.get(&format!("/reliability?tenant={d1}")).await.status, StatusCode::NOT_FOUND);
    // Staff pass no tenant checks but see it.
    assert_eq!(
        admin_after(&app).await.get(&format!("/reliability/statements/{}.pdf", s.id)).await.status,
        StatusCode::OK
    );
    // The PDF's text is readable by pdftotext when available.
    if std::process::Command::new("pdftotext").arg("-v").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.pdf");
        std::fs::write(&path, pdf.body.as_bytes()).ok();
        let bytes = app.state.files().get(&s.pdf_sha256).await.unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let out =
            std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Monthly SLA statement")
                && text.contains(&month)
                && text.contains("Lincoln Public Schools"),
            "{text}"
        );
    }
});

async fn admin_after(app: &TestApp) -> crate::harness::Client {
    app.signed_in(Role::PlatformAdmin, None).await
}

both_backends!(feeds_parse_and_badges_embed, |app| {
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let web = add_component(&app, &admin, "Web app").await;
    let start = app.state.now() + Duration::hours(5);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "incident"),
                ("name", "Slow <pages> & \"quotes\""),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", "Looking, carefully; with commas."),
                (&format!("component_{web}"), "degraded_performance"),
            ],
        )
        .await;
    admin
        .post(
            "/admin/status/incidents",
            &[
                ("kind", "maintenance"),
                ("name", "Database upgrade, part 1; planned"),
                ("body", "Upgrading the primary database, which takes a while."),
                ("scheduled_for", &fmt(start)),
                ("scheduled_until", &fmt(start + Duration::hours(2))),
                (&format!("component_{web}"), "under_maintenance"),
            ],
        )
        .await;
    let c = app.client().await;
    let atom = c.get("/history.atom").await;
    assert_eq!(atom.header("content-type").as_deref(), Some("application/atom+xml; charset=utf-8"));
    let doc = roxmltree::Document::parse(&atom.body).expect("Atom is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "feed");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2005/Atom"));
    let entries: Vec<_> = root.children().filter(|n| n.has_tag_name("entry")).collect();
    assert_eq!(entries.len(), 2);
    for e in &entries {
        for required in ["id", "title", "updated"] {
            assert!(e.children().any(|n| n.has_tag_name(required)), "entry lacks {required}");
        }
    }
    assert!(atom.body.contains("Slow &lt;pages&gt; &amp;"));
    let rss = c.get("/history.rss").await;
    let doc = roxmltree::Document::parse(&rss.body).expect("RSS is well-formed XML");
    assert_eq!(doc.root_element().attribute("version"), Some("2.0"));
    let ics = c.get("/status/maintenance.ics").await;
    assert_eq!(ics.header("content-type").as_deref(), Some("text/calendar; charset=utf-8"));
    assert!(ics.body.split("\r\n").all(|l| l.len() <= 75), "folded at 75 octets");
    let unfolded = ics.body.replace("\r\n ", "");
    let lines: Vec<&str> = unfolded.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.first(), Some(&"BEGIN:VCALENDAR"));
    assert_eq!(lines.last(), Some(&"END:VCALENDAR"));
    assert_eq!(lines.iter().filter(|l| **l == "BEGIN:VEVENT").count(), 1, "only maintenance");
    for prop in ["UID:", "DTSTAMP:", "DTSTART:", "DTEND:", "SUMMARY:", "SEQUENCE:", "STATUS:CONFIRMED"] {
        assert!(lines.iter().any(|l| l.starts_with(prop)), "VEVENT lacks {prop}");
    }
    assert!(unfolded.contains("SUMMARY:Database upgrade\\, part 1\\; planned"));
    let uid = lines.iter().find(|l| l.starts_with("UID:")).unwrap().to_string();
    assert!(
        c.get("/status/maintenance.ics?again=1").await.body.replace("\r\n ", "").contains(&uid),
        "UID is stable"
    );
    let badge = c.get("/status/badge.svg").await;
    assert_eq!(badge.header("content-type").as_deref(), Some("image/svg+xml"));
    assert!(badge.header("content-security-policy").unwrap().contains("frame-ancestors *"));
    roxmltree::Document::parse(&badge.body).expect("badge is well-formed");
    let public_id = keel::status::store::component(&mut app.conn(), web).unwrap().public_id;
    assert!(c.get(&format!("/status/badge/{public_id}.svg")).await.body.contains("degraded performance"));
    assert_eq!(c.get("/status/badge/nope.svg").await.status, StatusCode::NOT_FOUND);
});
