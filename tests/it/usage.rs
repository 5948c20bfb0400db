//! Usage: the metering API (idempotency, late events, dead letters), caps with alerts,
//! entitlement checks and Keel's own staff invitations against a hard cap.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::prelude::*;
use keel::auth::Role;
use keel::db::schema::{audit_events as ae, usage_daily as ud, usage_events as ue};
use keel::db::write_tx;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Client, TestApp};

/// Adds the demo metrics and an ingest key; returns the key.
fn setup(app: &TestApp) -> String {
    let now = keel::db::now_micros(app.state.now());
    let actor = keel::audit::Actor::system("test");
    write_tx(&mut app.conn(), |c| {
        for (key, name, unit, agg, prop, window) in [
            ("assessments", "Assessments", "assessments", "count", "", 1),
            ("active_staff_users", "Active staff users", "users", "unique_count", "user_id", 30),
            ("storage_bytes", "Storage", "bytes", "latest", "", 1),
            ("audio_minutes", "Audio minutes", "minutes", "sum", "", 1),
        ] {
            keel::usage::store::insert_metric(
                c,
                &keel::usage::store::NewMetric {
                    key: key.into(),
                    name: name.into(),
                    unit: unit.into(),
                    aggregation: agg.into(),
                    property: prop.into(),
                    window_days: window,
                },
                now,
            )?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    write_tx(&mut app.conn(), |c| keel::usage::keys::insert(c, &actor, "tests", now)).unwrap().1
}

async fn api(c: &Client, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = c
        .send(
            TestRequest::post()
                .uri(path)
                .insert_header(("authorization", format!("Bearer {key}")))
                .insert_header(("content-type", "application/json"))
                .set_payload(body.to_string()),
        )
        .await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
}

fn ts(app: &TestApp, minutes_ago: i64) -> String {
    (app.state.now() - chrono::Duration::minutes(minutes_ago)).to_rfc3339()
}

fn ev(key: &str, tenant: &str, metric: &str, at: &str) -> Value {
    json!({"idempotency_key": key, "tenant": tenant, "metric": metric, "timestamp": at, "properties": {"role": "teacher"}})
}

fn slug(app: &TestApp, id: i64) -> String {
    keel::tenancy::store::find(&mut app.conn(), id).unwrap().slug
}

both_backends!(events_are_idempotent_late_aware_and_dead_lettered, |app| {
    let key = setup(&app);
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let school = slug(&app, s1);
    let c = app.client().await;
    // Authentication.
    let body = json!([ev("a-1", &school, "assessments", &ts(&app, 1))]);
    for bad in ["", "keel_ik_wrong", "Basic abc"] {
        let (s, v) = api(&c, bad, "/api/v1/events", &body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{bad}"
        );
    }
    // The same key sent 10 times concurrently counts once.
    let one = json!(ev("same-key", &school, "assessments", &ts(&app, 2)));
    let sends: Vec<_> = (0..10).map(|_| api(&c, &key, "/api/v1/events", &one)).collect();
    let results = futures_util::future::join_all(sends).await;
    let accepted = results.iter().filter(|(_, v)| v["accepted"] == 1).count();
    let dups = results.iter().filter(|(_, v)| v["duplicates"] == 1).count();
    assert_eq!((accepted, dups), (1, 9), "{results:?}");
    let n: i64 = ue::table.count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 1);
    // A batch with good and bad events: the good ones count, the bad ones are listed and kept.
    let late = (app.state.now() - chrono::Duration::days(3)).to_rfc3339();
    let too_late = (app.state.now() - chrono::Duration::days(36)).to_rfc3339();
    let batch = json!({"events": [
        ev("b-1", &school, "assessments", &ts(&app, 3)),
        ev("b-2", "NO-SUCH-SCHOOL", "assessments", &ts(&app, 3)),
        ev("b-3", &school, "nope", &ts(&app, 3)),
        ev("b-4", &school, "assessments", &late),
        ev("b-5", &school, "assessments", &too_late),
        json!({"idempotency_key": "b-6", "tenant": school, "metric": "audio_minutes", "timestamp": ts(&app, 3)}),
        json!({"idempotency_key": "b-7", "tenant": school, "metric": "audio_minutes", "timestamp": ts(&app, 3), "value": 12.5}),
        ev("b-1", &school, "assessments", &ts(&app, 3)),
    ]});
    let (s, v) = api(&c, &key, "/api/v1/events", &batch).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["accepted"].as_i64(), v["duplicates"].as_i64(), v["rejected"].as_i64()),
        (Some(3), Some(1), Some(4)),
        "{v}"
    );
    let codes: Vec<&str> =
        v["results"].as_array().unwrap().iter().filter_map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, ["unknown_tenant", "unknown_metric", "too_late", "missing_value"]);
    // The late event landed in its own past day.
    let late_day = (app.state.now() - chrono::Duration::days(3)).date_naive();
    let in_past: f64 = ud::table
        .filter(ud::tenant_id.eq(s1))
        .filter(ud::day.eq(late_day))
        .select(ud::value)
        .first(&mut *app.conn())
        .unwrap();
    assert_eq!(in_past, 1.0);
    // Whole-request errors.
    let r = c
        .send(
            TestRequest::post()
                .uri("/api/v1/events")
                .insert_header(("authorization", format!("Bearer {key}")))
                .set_payload("{not json"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("malformed_json"));
    let big: Vec<Value> =
        (0..1001).map(|i| ev(&format!("x{i}"), &school, "assessments", &ts(&app, 1))).collect();
    let (s, v) = api(&c, &key, "/api/v1/events", &json!(big)).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("batch_too_large")));
    let huge = json!({"events": [{"idempotency_key": "h", "pad": "x".repeat(1 << 20)}]});
    let (s, v) = api(&c, &key, "/api/v1/events", &huge).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    let n: i64 = ue::table.count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 4, "nothing accepted before is lost, nothing double counted");
    // Dead letters: listed for staff; once the school exists, re-submitting accepts it.
    let admin = app.signed_in(Role::PlatformAdmin, None).await;
    let page = admin.get("/admin/usage/rejected").await;
    assert!(page.body.contains("NO-SUCH-SCHOOL") && page.body.contains("unknown_tenant"), "{}", page.body);
    let now = keel::db::now_micros(app.state.now());
    keel::tenancy::store::insert(
        &mut app.conn(),
        &keel::tenancy::model::NewTenant {
            kind: "school".into(),
            parent_id: Some(d1),
            name: "No Such School".into(),
            slug: "NO-SUCH-SCHOOL".into(),
            status: "active".into(),
            region: "us".into(),
            time_zone: "UTC".into(),
            created_at: now,
            updated_at: now,
        },
    )
    .unwrap();
    let r = admin.post("/admin/usage/rejected/resubmit", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = admin.get("/admin/usage/rejected").await;
    assert!(
        !page.body.contains("NO-SUCH-SCHOOL") && page.body.contains("too_late"),
        "still rejected ones stay"
    );
    let n: i64 = ue::table.count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 5);
    // A revoked key is refused at once.
    let keys = admin.get("/admin/usage/keys").await;
    assert!(keys.body.contains("tests") && !keys.body.contains(&key), "the key itself is never shown again");
    admin.post("/admin/usage/keys/1/revoke", &[]).await;
    let (s, _) = api(&c, &key, "/api/v1/events", &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

both_backends!(caps_alert_once_and_entitlements_enforce, |app| {
    let key = setup(&app);
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let s2 = app.tenant("school", Some(d1), "Roper Elementary");
    let (district, high, roper) = (slug(&app, d1), slug(&app, s1), slug(&app, s2));
    let now = keel::db::now_micros(app.state.now());
    {
        use keel::db::schema::billing_contacts as bc;
        for (email, verified) in [("ap@lincoln.example", true), ("unconfirmed@lincoln.example", false)] {
            diesel::insert_into(bc::table)
                .values((
                    bc::tenant_id.eq(d1),
                    bc::name.eq("AP"),
                    bc::email.eq(email),
                    bc::role.eq("accounts_payable"),
                    bc::verified_at.eq(verified.then_some(now)),
                    bc::created_at.eq(now),
                ))
                .execute(&mut *app.conn())
                .unwrap();
        }
    }
    let admin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    // Bad input beside the field; nothing saved.
    let metric_id =
        keel::usage::store::metric_by_key(&mut app.conn(), "assessments").unwrap().unwrap().id.to_string();
    let t = d1.to_string();
    for (limit, msg) in [("-5", "A cap can&#39;t be below 0."), ("lots", "Enter the limit as a number")] {
        let r = admin
            .post(
                "/usage/caps",
                &[("tenant_id", &t), ("metric_id", &metric_id), ("limit", limit), ("enforcement", "hard")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains(msg) || r.body.contains(&msg.replace("&#39;", "'")), "{msg}");
    }
    // A storage budget is typed as a size and shown back the same way.
    let storage_id =
        keel::usage::store::metric_by_key(&mut app.conn(), "storage_bytes").unwrap().unwrap().id.to_string();
    let r = admin
        .post(
            "/usage/caps",
            &[("tenant_id", &t), ("metric_id", &storage_id), ("limit", "5 parsecs"), ("enforcement", "soft")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter a size such as 500 GB"), "{}", r.body);
    let r = admin
        .post(
            "/usage/caps",
            &[("tenant_id", &t), ("metric_id", &storage_id), ("limit", "1.5 TB"), ("enforcement", "soft")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let stored: f64 = keel::db::schema::usage_caps::table
        .filter(keel::db::schema::usage_caps::tenant_id.eq(d1))
        .select(keel::db::schema::usage_caps::limit_value)
        .first(&mut *app.conn())
        .unwrap();
    assert_eq!(stored, 1.5e12);
    assert!(admin.get(&format!("/usage/caps?tenant={d1}")).await.body.contains("value=\"1.5 TB\""));
    // A hard district cap of 10 assessments covers both schools together.
    let r = admin
        .post(
            "/usage/caps",
            &[("tenant_id", &t), ("metric_id", &metric_id), ("limit", "10"), ("enforcement", "hard")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let c = app.client().await;
    let batch: Vec<Value> = (0..5)
        .map(|i| ev(&format!("h{i}"), &high, "assessments", &ts(&app, 1)))
        .chain((0..3).map(|i| ev(&format!("r{i}"), &roper, "assessments", &ts(&app, 1))))
        .collect();
    api(&c, &key, "/api/v1/events", &json!(batch)).await;
    let check = |tenant: String| {
        let c = &c;
        let key = key.clone();
        async move {
            api(
                c,
                &key,
                "/api/v1/entitlements/check",
                &json!({"tenant": tenant, "metric": "assessments", "increment": 1}),
            )
            .await
            .1
        }
    };
    let v = check(roper.clone()).await;
    assert_eq!(
        (v["allowed"].as_bool(), v["current"].as_f64(), v["limit"].as_f64()),
        (Some(true), Some(8.0), Some(10.0)),
        "{v}"
    );
    assert_eq!((v["mode"].as_str(), v["threshold_state"].as_str()), (Some("hard"), Some("warning")));
    app.run_jobs().await;
    let cap_mail =
        |app: &TestApp| app.sent_mail().into_iter().filter(|m| m.subject.contains("cap")).collect::<Vec<_>>();
    let mails = cap_mail(&app);
    assert_eq!(mails.len(), 1, "80% once, only to the verified contact");
    assert_eq!(mails[0].to, "ap@lincoln.example");
    // Reaching 100%: blocked; again the alert goes once.
    let more: Vec<Value> = (0..2).map(|i| ev(&format!("m{i}"), &high, "assessments", &ts(&app, 1))).collect();
    api(&c, &key, "/api/v1/events", &json!(more)).await;
    let v = check(high.clone()).await;
    assert_eq!(
        (v["allowed"].as_bool(), v["threshold_state"].as_str(), v["remaining"].as_f64()),
        (Some(false), Some("reached"), Some(0.0)),
        "{v}"
    );
    let v = check(district.clone()).await;
    assert_eq!(v["allowed"].as_bool(), Some(false));
    // More events after the cap (the product may report late) change nothing about alerts.
    api(&c, &key, "/api/v1/events", &json!([ev("late-1", &roper, "assessments", &ts(&app, 1))])).await;
    app.run_jobs().await;
    assert_eq!(cap_mail(&app).len(), 2, "100% once");
    let page = admin.get("/notifications").await;
    assert!(
        page.body.contains("has reached its assessments cap") && page.body.contains("is at 80% of"),
        "{}",
        page.body
    );
    let bell = admin.get("/usage").await;
    assert!(bell.body.contains("bell-count"));
    let enforced: i64 =
        ae::table.filter(ae::action.eq("usage.cap_enforced")).count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(enforced, 1, "audited once per period");
    let crossings: i64 =
        ae::table.filter(ae::action.eq("usage.cap_threshold")).count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(crossings, 2);
    // Soft: allowed, with the state.
    admin
        .post(
            "/usage/caps",
            &[("tenant_id", &t), ("metric_id", &metric_id), ("limit", "10"), ("enforcement", "soft")],
        )
        .await;
    let v = check(high.clone()).await;
    assert_eq!(
        (v["allowed"].as_bool(), v["mode"].as_str(), v["threshold_state"].as_str()),
        (Some(true), Some("soft"), Some("reached"))
    );
    // No cap: allowed, no limit.
    let v = api(&c, &key, "/api/v1/entitlements/check", &json!({"tenant": high, "metric": "audio_minutes"}))
        .await
        .1;
    assert_eq!(
        (v["allowed"].as_bool(), v["mode"].as_str(), v["limit"].clone()),
        (Some(true), Some("none"), Value::Null)
    );
    let (s, v) =
        api(&c, &key, "/api/v1/entitlements/check", &json!({"tenant": "nope", "metric": "assessments"}))
            .await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_tenant")));
    // Usage page shows it; a school admin sees only their school; another district's is not found.
    let page = admin.get(&format!("/usage?tenant={d1}")).await;
    assert!(page.body.contains("Assessments") && page.body.contains("100% of 10"), "{}", page.body);
    let head = app.signed_in(Role::SchoolAdmin, Some(s1)).await;
    assert_eq!(head.get(&format!("/usage?tenant={s2}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(head.get(&format!("/usage?tenant={s1}")).await.status, StatusCode::OK);
    assert_eq!(
        head.get(&format!("/usage/caps?tenant={s1}")).await.status,
        StatusCode::NOT_FOUND,
        "school admins don't set caps"
    );
});

both_backends!(a_hard_staff_cap_blocks_keels_own_invitations, |app| {
    let key = setup(&app);
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let high = slug(&app, s1);
    let admin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    let metric_id = keel::usage::store::metric_by_key(&mut app.conn(), "active_staff_users")
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let r = admin
        .post(
            "/usage/caps",
            &[
                ("tenant_id", &d1.to_string()),
                ("metric_id", &metric_id),
                ("limit", "3"),
                ("enforcement", "hard"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The product reports 3 distinct active teachers (one of them twice).
    let c = app.client().await;
    let batch: Vec<Value> = [("u1", "e1"), ("u2", "e2"), ("u3", "e3"), ("u1", "e4")]
        .iter()
        .map(|(u, k)| json!({"idempotency_key": k, "tenant": high, "metric": "active_staff_users", "timestamp": ts(&app, 5), "properties": {"user_id": u, "role": "teacher"}}))
        .collect();
    let (_, v) = api(&c, &key, "/api/v1/events", &json!(batch)).await;
    assert_eq!(v["accepted"].as_i64(), Some(4), "{v}");
    let v =
        api(&c, &key, "/api/v1/entitlements/check", &json!({"tenant": high, "metric": "active_staff_users"}))
            .await
            .1;
    assert_eq!((v["allowed"].as_bool(), v["current"].as_f64()), (Some(false), Some(3.0)), "{v}");
    let r = admin
        .post(
            "/district/members/invite",
            &[("email", "new.teacher@lincoln.example"), ("tenant_id", &s1.to_string()), ("role", "staff")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Your district has reached its staff cap (3 of 3 staff users)"), "{}", r.body);
    // A district role is not a staff seat: still allowed.
    let r = admin
        .post(
            "/district/members/invite",
            &[("email", "auditor@lincoln.example"), ("tenant_id", &d1.to_string()), ("role", "auditor")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Raising the cap lets the invitation through.
    admin
        .post(
            "/usage/caps",
            &[
                ("tenant_id", &d1.to_string()),
                ("metric_id", &metric_id),
                ("limit", "4"),
                ("enforcement", "hard"),
            ],
        )
        .await;
    let r = admin
        .post(
            "/district/members/invite",
            &[("email", "new.teacher@lincoln.example"), ("tenant_id", &s1.to_string()), ("role", "staff")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
});

both_backends!(rollups_add_up_filter_and_export, |app| {
    let key = setup(&app);
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    let s2 = app.tenant("school", Some(d1), "Roper Elementary");
    let d2 = app.tenant("district", None, "Riverside Unified");
    let s3 = app.tenant("school", Some(d2), "Arlington High");
    let (high, roper, arl) = (slug(&app, s1), slug(&app, s2), slug(&app, s3));
    let c = app.client().await;
    // High: 6 assessments by teachers today, 2 by a specialist 10 days ago; Roper: 3 today, 4 forty days ago.
    let mut evs = Vec::new();
    let day =
        |d: i64| (app.state.now() - chrono::Duration::days(d) - chrono::Duration::minutes(5)).to_rfc3339();
    for i in 0..6 {
        evs.push(json!({"idempotency_key": format!("h{i}"), "tenant": high, "metric": "assessments", "timestamp": day(0), "properties": {"role": "teacher"}}));
    }
    for i in 0..2 {
        evs.push(json!({"idempotency_key": format!("hs{i}"), "tenant": high, "metric": "assessments", "timestamp": day(10), "properties": {"role": "specialist"}}));
    }
    for i in 0..3 {
        evs.push(json!({"idempotency_key": format!("r{i}"), "tenant": roper, "metric": "assessments", "timestamp": day(0), "properties": {"role": "teacher"}}));
    }
    for (i, u) in ["a", "b", "a"].iter().enumerate() {
        evs.push(json!({"idempotency_key": format!("u{i}"), "tenant": high, "metric": "active_staff_users", "timestamp": day(i as i64), "properties": {"user_id": u, "role": "teacher"}}));
    }
    evs.push(json!({"idempotency_key": "arl", "tenant": arl, "metric": "assessments", "timestamp": day(0)}));
    let (_, v) = api(&c, &key, "/api/v1/events", &json!(evs)).await;
    assert_eq!(v["accepted"].as_i64(), Some(15), "{v}");
    // Backfill the 40-day-old ones (outside the late window: rejected by the same validation).
    let lines = format!(
        "{}\n\n{}\nnot json\n",
        json!({"idempotency_key": "old", "tenant": roper, "metric": "assessments", "timestamp": day(40)}),
        json!({"idempotency_key": "r0", "tenant": roper, "metric": "assessments", "timestamp": day(0)})
    );
    let b = keel::usage::reconcile::backfill(&mut app.conn(), std::io::Cursor::new(lines), app.state.now())
        .unwrap();
    assert_eq!((b.lines, b.accepted, b.duplicates, b.rejected.len()), (3, 0, 1, 2));
    assert_eq!(b.rejected[0].1, "too_late");
    assert_eq!((b.rejected[1].0, b.rejected[1].1.as_str()), (4, "malformed_json"));
    let admin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    let csv = admin.get(&format!("/district/rollups?tenant={d1}&range=30&format=csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    let rows: Vec<Vec<String>> =
        csv.body.lines().map(|l| l.split(',').map(|f| f.trim_matches('"').to_string()).collect()).collect();
    let get = |name: &str, col: usize| rows.iter().find(|r| r[0] == name).map(|r| r[col].clone()).unwrap();
    // Totals equal the raw events: 8 + 3 assessments in 30 days; 2 distinct staff at High.
    assert_eq!(
        (get("Lincoln High School", 2), get("Roper Elementary", 2), get("Total", 2)),
        ("8".into(), "3".into(), "11".into())
    );
    assert_eq!((get("Lincoln High School", 1), get("Total", 1)), ("2".into(), "2".into()));
    assert_eq!(rows.len(), 4, "header, two schools, total: no other district");
    // Filters: 7 days drops the 10-day-old ones; role filter; one school.
    let csv7 = admin.get(&format!("/district/rollups?tenant={d1}&range=7&format=csv")).await;
    assert!(
        csv7.body.lines().any(|l| l.starts_with("\"Total\"") && l.split(',').nth(4) == Some("\"9\"")),
        "{}",
        csv7.body
    );
    let spec = admin.get(&format!("/district/rollups?tenant={d1}&range=30&role=specialist&format=csv")).await;
    assert!(
        spec.body.lines().any(|l| l.starts_with("\"Total\"") && l.split(',').nth(2) == Some("\"2\"")),
        "{}",
        spec.body
    );
    let one = admin.get(&format!("/district/rollups?tenant={d1}&school={s2}&format=csv")).await;
    assert_eq!(one.body.lines().count(), 3);
    assert!(one.body.contains("Roper") && !one.body.contains("Lincoln High"));
    let page = admin.get(&format!("/district/rollups?tenant={d1}")).await;
    assert!(page.body.contains("Assessments per day, by school") && page.body.contains("Roper Elementary"));
    // Scope: another district's school or district is not found; a school admin sees only theirs.
    assert_eq!(
        admin.get(&format!("/district/rollups?tenant={d1}&school={s3}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(admin.get(&format!("/district/rollups?tenant={d2}")).await.status, StatusCode::NOT_FOUND);
    let head = app.signed_in(Role::SchoolAdmin, Some(s1)).await;
    let mine = head.get("/district/rollups?format=csv").await;
    assert!(mine.body.contains("Lincoln High") && !mine.body.contains("Roper"), "{}", mine.body);
    assert_eq!(head.get(&format!("/district/rollups?tenant={s2}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(head.get(&format!("/district/rollups?tenant={d1}")).await.status, StatusCode::NOT_FOUND);
    // Empty state.
    let d3 = app.tenant("district", None, "Empty District");
    let lonely = app.signed_in(Role::DistrictAdmin, Some(d3)).await;
    assert!(lonely.get("/district/rollups").await.body.contains("No schools linked yet"));
    // Reconcile finds nothing after the mixed load; a corrupted bucket is found and fixed.
    let today = app.state.now().date_naive();
    let from = today - chrono::Duration::days(35);
    let r = keel::usage::reconcile::reconcile(&mut app.conn(), None, from, today, false).unwrap();
    assert_eq!((r.mismatches, r.unique_mismatches), (0, 0), "{r:?}");
    assert!(r.buckets_checked >= 5);
    diesel::update(ud::table.filter(ud::tenant_id.eq(s1)))
        .set(ud::value.eq(999.0))
        .execute(&mut *app.conn())
        .unwrap();
    let r = keel::usage::reconcile::reconcile(&mut app.conn(), Some(&[s1]), from, today, true).unwrap();
    assert!(r.mismatches > 0);
    let r = keel::usage::reconcile::reconcile(&mut app.conn(), None, from, today, false).unwrap();
    assert_eq!((r.mismatches, r.unique_mismatches), (0, 0), "fixed: {r:?}");
});

both_backends!(plans_are_versioned_assigned_and_prefill_invoices, |app| {
    setup(&app);
    let d1 = app.tenant("district", None, "Lincoln Public Schools");
    let s1 = app.tenant("school", Some(d1), "Lincoln High School");
    crate::billing::profile_for(&app, d1);
    let staff = app.signed_in(Role::PlatformAdmin, None).await;
    let assess = keel::usage::store::metric_by_key(&mut app.conn(), "assessments").unwrap().unwrap().id;
    let inc = format!("included_{assess}");
    let over = format!("overage_{assess}");
    // Bad input beside the fields; nothing saved.
    let r = staff
        .post(
            "/admin/usage/plans",
            &[
                ("key", "Standard!"),
                ("name", ""),
                ("currency", "USD"),
                ("seat_price", "-1"),
                (&inc, "-3"),
                (&over, "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for m in [
        "Use lower-case letters",
        "Enter a name.",
        "price per seat as a number",
        "can&#39;t be below 0",
        "unit price of at least 0",
    ] {
        assert!(r.body.contains(m) || r.body.contains(&m.replace("&#39;", "'")), "missing {m}");
    }
    let save = |price: &'static str, included: &'static str| {
        let (inc, over) = (inc.clone(), over.clone());
        let staff = &staff;
        async move {
            staff
                .post(
                    "/admin/usage/plans",
                    &[
                        ("key", "standard"),
                        ("name", "Standard"),
                        ("currency", "USD"),
                        ("seat_price", price),
                        ("period", "year"),
                        ("features", "audio_feedback"),
                        (&inc, included),
                        (&over, "0.05"),
                    ],
                )
                .await
        }
    };
    assert_eq!(save("36.50", "100").await.status, StatusCode::SEE_OTHER);
    let r = save("38.80", "120").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let plans = keel::usage::plans::all(&mut app.conn()).unwrap();
    assert_eq!(plans.iter().map(|p| p.version).collect::<Vec<_>>(), vec![2, 1]);
    let v1 = plans.iter().find(|p| p.version == 1).unwrap().id;
    // Assign v1 (audited); the usage page says a newer version exists.
    let r = staff
        .post(
            "/usage/plan",
            &[("tenant_id", &d1.to_string()), ("plan_id", &v1.to_string()), ("seats", "1250")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = staff.get(&format!("/usage?tenant={d1}")).await;
    assert!(
        page.body.contains("Standard v1")
            && page.body.contains("A newer version exists")
            && page.body.contains("100 included"),
        "{}",
        page.body
    );
    let n: i64 =
        ae::table.filter(ae::action.eq("usage.plan_assign")).count().get_result(&mut *app.conn()).unwrap();
    assert_eq!(n, 1);
    // Tenants can't assign plans.
    let admin = app.signed_in(Role::DistrictAdmin, Some(d1)).await;
    let r = admin
        .post("/usage/plan", &[("tenant_id", &d1.to_string()), ("plan_id", &v1.to_string()), ("seats", "1")])
        .await;
    assert!(r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND);
    // Last month: 130 assessments at the school, 30 beyond the 100 included.
    let today = app.state.now().date_naive();
    let last = keel::usage::model::month_start(today) - chrono::Duration::days(3);
    let events: Vec<keel::usage::ingest::Valid> = (0..130)
        .map(|i| keel::usage::ingest::Valid {
            tenant_id: s1,
            metric_id: assess,
            agg: keel::usage::model::Aggregation::Count,
            key: format!("old-{i}"),
            occurred_at: last.and_hms_opt(10, 0, 0).unwrap(),
            value: 1.0,
            role: "teacher".into(),
            subject: String::new(),
            properties: "{}".into(),
        })
        .collect();
    let now = keel::db::now_micros(app.state.now());
    write_tx(&mut app.conn(), |c| keel::usage::ingest::record(c, &events, now)).unwrap();
    let r = staff.post("/admin/invoices", &[("tenant_id", &d1.to_string())]).await;
    let page = staff.get(&r.location()).await;
    assert!(
        page.body.contains("Standard plan, 1250 seats, per year") && page.body.contains("$45,625.00"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Assessments above the 100 included") && page.body.contains("$1.50"),
        "{}",
        page.body
    );
});
