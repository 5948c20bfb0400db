//! The job queue: dedupe, backoff, dead letters, reclaiming, exactly-once under concurrency,
//! and the scheduler's one-job-per-period rule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use chrono::Duration;
use keel::auth::Role;
use keel::db::now_micros;
use keel::jobs::{self, JobError, NewJob, Registry};

use crate::harness::{Backend, TestApp};

type Ran = Arc<Mutex<HashMap<i64, usize>>>;

fn registry(ran: Ran) -> Registry {
    let mut reg = keel::job_registry();
    reg.add("test.fail", |_s, _j| async { Err(JobError::retry("the partner API answered 502")) });
    reg.add("test.bad_payload", |_s, _j| async { Err(JobError::permanent("payload has no invoice_id")) });
    reg.add("test.count", move |_s, j| {
        let ran = ran.clone();
        async move {
            *ran.lock().unwrap().entry(j.id).or_default() += 1;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            Ok(())
        }
    });
    reg.every("test.tick", "*/5 * * * *", "test.count");
    reg
}

fn app(backend: Backend) -> Option<(TestApp, Ran)> {
    let ran = Arc::new(Mutex::new(HashMap::new()));
    TestApp::with_jobs(backend, registry(ran.clone())).map(|a| (a, ran))
}

fn enqueue(app: &TestApp, job: NewJob) -> Option<i64> {
    let now = now_micros(app.state.now());
    jobs::store::enqueue(&mut app.conn(), &job, now).unwrap()
}

macro_rules! job_test {
    ($name:ident, |$app:ident, $ran:ident| $body:block) => {
        mod $name {
            use super::*;
            #[actix_web::test]
            async fn sqlite() {
                if let Some(($app, $ran)) = app(Backend::Sqlite) {
                    let _ = &$ran;
                    $body
                }
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(($app, $ran)) = app(Backend::Postgres) {
                    let _ = &$ran;
                    $body
                }
            }
        }
    };
}

job_test!(dedupe_key_enqueues_once, |app, ran| {
    assert!(
        enqueue(&app, NewJob::new("test.count", serde_json::json!({})).dedupe("invoice:7:reminder:+7"))
            .is_some()
    );
    assert!(
        enqueue(&app, NewJob::new("test.count", serde_json::json!({})).dedupe("invoice:7:reminder:+7"))
            .is_none()
    );
    assert_eq!(jobs::store::count_with_key(&mut app.conn(), "invoice:7:reminder:+7").unwrap(), 1);
    assert_eq!(app.run_jobs().await, 1);
    assert_eq!(ran.lock().unwrap().values().sum::<usize>(), 1);
});

job_test!(failures_back_off_then_die_and_can_be_retried, |app, ran| {
    let id = enqueue(&app, NewJob::new("test.fail", serde_json::json!({"n": 1}))).unwrap();
    assert_eq!(app.run_jobs().await, 1);
    let j = jobs::store::find(&mut app.conn(), id).unwrap();
    assert_eq!((j.status.as_str(), j.attempts), ("queued", 1));
    let wait = j.run_at - now_micros(app.state.now());
    assert!(wait >= Duration::seconds(5) && wait <= Duration::seconds(15), "first backoff ~10 s, got {wait}");
    assert_eq!(app.run_jobs().await, 0, "not due before the backoff passes");
    for attempt in 2..=3 {
        app.clock.advance(Duration::hours(2));
        assert_eq!(app.run_jobs().await, 1, "attempt {attempt}");
    }
    let j = jobs::store::find(&mut app.conn(), id).unwrap();
    assert_eq!(j.status, "dead");
    assert_eq!(j.last_error.as_deref(), Some("the partner API answered 502"));
    app.clock.advance(Duration::hours(2));
    assert_eq!(app.run_jobs().await, 0, "dead jobs stay dead");

    // Shown on /admin/jobs with its error; a platform admin retries it.
    let c = app.signed_in(Role::PlatformAdmin, None).await;
    let page = c.get("/admin/jobs?status=dead").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("the partner API answered 502"));
    assert!(page.body.contains(&format!("/admin/jobs/{id}/retry")));
    let r = c.post(&format!("/admin/jobs/{id}/retry"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let j = jobs::store::find(&mut app.conn(), id).unwrap();
    assert_eq!((j.status.as_str(), j.attempts), ("queued", 0));
    let detail = c.get(&format!("/admin/jobs/{id}")).await;
    assert!(detail.body.contains("is queued to run again"), "flash shown");
    let _ = ran;
});

job_test!(permanent_failures_die_at_once, |app, ran| {
    let id = enqueue(&app, NewJob::new("test.bad_payload", serde_json::json!({}))).unwrap();
    let unknown = enqueue(&app, NewJob::new("no.such.kind", serde_json::json!({}))).unwrap();
    app.run_jobs().await;
    let mut conn = app.conn();
    assert_eq!(jobs::store::find(&mut conn, id).unwrap().status, "dead");
    let u = jobs::store::find(&mut conn, unknown).unwrap();
    assert_eq!(u.status, "dead");
    assert!(u.last_error.unwrap().contains("no handler"));
});

job_test!(a_job_whose_worker_died_is_reclaimed, |app, ran| {
    let id = enqueue(&app, NewJob::new("test.count", serde_json::json!({}))).unwrap();
    let now = now_micros(app.state.now());
    let claimed =
        jobs::store::claim_next(&mut app.conn(), now, Duration::minutes(5), "worker-that-crashes").unwrap();
    assert_eq!(claimed.map(|j| j.id), Some(id));
    assert_eq!(app.run_jobs().await, 0, "leased to another worker");
    app.clock.advance(Duration::minutes(6));
    assert_eq!(app.run_jobs().await, 1, "reclaimed after the lease passed");
    assert_eq!(ran.lock().unwrap().get(&id), Some(&1));
    assert_eq!(jobs::store::find(&mut app.conn(), id).unwrap().status, "succeeded");
});

job_test!(concurrent_workers_on_two_instances_run_each_job_once, |app, ran| {
    let ids: Vec<i64> = (0..60)
        .map(|i| enqueue(&app, NewJob::new("test.count", serde_json::json!({"i": i}))).unwrap())
        .collect();
    // A second instance on the same database, with its own pool.
    let cfg = keel::config::Config::for_tests(&app.db.url, app.db.dir.path()).unwrap();
    let other = keel::AppState::open_with(cfg, Arc::new(app.clock.clone()), registry(ran.clone())).unwrap();
    let worker = |state: keel::AppState, name: String| async move {
        let mut n = 0;
        while jobs::run_one(&state, &name).await.unwrap() {
            n += 1;
        }
        n
    };
    let (a, b, c, d) = futures_util::future::join4(
        worker(app.state.clone(), "a".into()),
        worker(app.state.clone(), "b".into()),
        worker(other.clone(), "c".into()),
        worker(other.clone(), "d".into()),
    )
    .await;
    assert_eq!(a + b + c + d, 60);
    let ran = ran.lock().unwrap();
    for id in ids {
        assert_eq!(ran.get(&id), Some(&1), "job {id} ran exactly once");
    }
});

job_test!(scheduler_enqueues_one_job_per_period_across_instances, |app, ran| {
    let cfg = keel::config::Config::for_tests(&app.db.url, app.db.dir.path()).unwrap();
    let other = keel::AppState::open_with(cfg, Arc::new(app.clock.clone()), registry(ran.clone())).unwrap();
    let count = |app: &TestApp| {
        use diesel::prelude::*;
        use keel::db::schema::jobs;
        jobs::table
            .filter(jobs::dedupe_key.like("schedule:test.tick:%"))
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap()
    };
    jobs::schedule::enqueue_due(&app.state).await.unwrap();
    jobs::schedule::enqueue_due(&other).await.unwrap();
    jobs::schedule::enqueue_due(&app.state).await.unwrap();
    assert_eq!(count(&app), 1);
    app.clock.advance(Duration::minutes(5));
    jobs::schedule::enqueue_due(&other).await.unwrap();
    jobs::schedule::enqueue_due(&app.state).await.unwrap();
    assert_eq!(count(&app), 2);
});
