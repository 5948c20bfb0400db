//! `/reliability`: the reliability panel for district admins and auditors (and the vendor's
//! staff): platform uptime over 30 and 90 days per component and overall, how it is measured
//! and its limits in plain words, recent incidents and maintenance. Read from the snapshot.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Duration;

use super::public::when;
use super::service::label;
use super::uptime::{self, Window};
use crate::AppState;
use crate::auth::{Action, Principal};
use crate::error::{AppError, AppResult};
use crate::web::layout::{PageCtx, render};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reliability", web::get().to(panel));
}

/// One component's figures.
struct Row {
    name: String,
    public_id: String,
    status_label: &'static str,
    status_kind: &'static str,
    d30: String,
    d90: String,
}

/// An incident or maintenance line.
struct Item {
    name: String,
    code: String,
    when: String,
    status: &'static str,
    impact: &'static str,
}

#[derive(Template)]
#[template(path = "status/reliability.html")]
struct Panel {
    ctx: PageCtx,
    rows: Vec<Row>,
    overall30: String,
    overall90: String,
    incidents: Vec<Item>,
    maintenance: Vec<Item>,
    updated: String,
}

async fn panel(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    if !p.scope.allows_anywhere(Action::ViewReliability) {
        return Err(AppError::NotFound);
    }
    let snap = state.status_snapshot();
    let now = snap.built_at;
    let w = |days: i64| Window { from: now - Duration::days(days), to: now };
    let measured: Vec<_> = snap.components.iter().filter(|c| c.showcase && !c.is_group).collect();
    let mut sums = [(0.0f64, 0.0f64); 2];
    let rows = measured
        .iter()
        .map(|c| {
            let a = snap.uptime_of(c, w(30), now);
            let b = snap.uptime_of(c, w(90), now);
            for (i, u) in [&a, &b].into_iter().enumerate() {
                sums[i].0 += u.weighted_outage_minutes;
                sums[i].1 += u.counted_minutes;
            }
            Row {
                name: c.name.clone(),
                public_id: c.public_id.clone(),
                status_label: label(&c.status),
                status_kind: super::service::badge_kind(&c.status),
                d30: uptime::format_percent(a.percent, 3),
                d90: uptime::format_percent(b.percent, 3),
            }
        })
        .collect();
    // Overall: outage minutes over counted minutes of all measured components together.
    let overall = |(w, c): (f64, f64)| if c > 0.0 { Some(100.0 * (1.0 - w / c)) } else { None };
    let since = (now - Duration::days(90)).naive_utc();
    let items = |kind: &str| -> Vec<Item> {
        snap.incidents
            .iter()
            .filter(|i| i.incident.kind == kind)
            .filter(|i| {
                kind == "maintenance" && i.is_open()
                    || i.incident.started_at.or(i.incident.scheduled_for).unwrap_or(i.incident.created_at)
                        >= since
            })
            .take(12)
            .map(|i| Item {
                name: i.incident.name.clone(),
                code: i.incident.code.clone(),
                when: when(
                    i.incident.started_at.or(i.incident.scheduled_for).unwrap_or(i.incident.created_at),
                ),
                status: label(&i.incident.status),
                impact: label(&i.incident.impact),
            })
            .collect()
    };
    render(&Panel {
        ctx: PageCtx::new(&req, "Reliability"),
        rows,
        overall30: uptime::format_percent(overall(sums[0]), 3),
        overall90: uptime::format_percent(overall(sums[1]), 3),
        incidents: items("incident"),
        maintenance: items("maintenance"),
        updated: format!("{} UTC", snap.built_at.format("%Y-%m-%d %H:%M")),
    })
}
