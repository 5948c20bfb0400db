//! Billing groundwork: gapless per-tenant yearly invoice numbers under concurrency.

use keel::billing::numbering::{format_number, next_number};
use keel::db::write_tx;

use crate::both_backends;

both_backends!(fifty_concurrent_issues_number_gaplessly, |app| {
    let lincoln = app.tenant("district", None, "Lincoln Public Schools");
    let riverside = app.tenant("district", None, "Riverside Unified");
    // A second instance on the same database competes too.
    let cfg = keel::config::Config::for_tests(&app.db.url, app.db.dir.path()).unwrap();
    let other =
        keel::AppState::open_with(cfg, std::sync::Arc::new(app.clock.clone()), keel::job_registry()).unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = if i % 2 == 0 { app.state.clone() } else { other.clone() };
            async move { s.db(move |c| Ok(write_tx(c, |c| next_number(c, lincoln, 2026))?)).await.unwrap() }
        })
        .collect();
    let mut got = futures_util::future::join_all(tasks).await;
    got.sort_unstable();
    assert_eq!(got, (1..=50).collect::<Vec<i64>>(), "exactly 0001..0050, no duplicate, no gap");
    // A failed issue (rolled back) consumes no number.
    let failed: Result<i64, diesel::result::Error> = write_tx(&mut app.conn(), |c| {
        next_number(c, lincoln, 2026)?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(failed.is_err());
    assert_eq!(write_tx(&mut app.conn(), |c| next_number(c, lincoln, 2026)).unwrap(), 51);
    // A new year restarts; another tenant's sequence is independent.
    assert_eq!(write_tx(&mut app.conn(), |c| next_number(c, lincoln, 2027)).unwrap(), 1);
    assert_eq!(write_tx(&mut app.conn(), |c| next_number(c, riverside, 2026)).unwrap(), 1);
    assert_eq!(format_number("LINCOLN", 2026, 51), "LINCOLN-2026-0051");
});
