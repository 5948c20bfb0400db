//! Demo data for the status page: the vendor's product with four components, 120 days of
//! history built by replaying incidents and maintenance through the real service in time order.

use chrono::{Duration, NaiveDateTime};
use diesel::QueryResult;

use super::model::NewComponent;
use super::service::{self, NewIncident};
use super::store;
use crate::audit::Actor;
use crate::db::DbConn;

fn component(
    c: &mut DbConn,
    name: &str,
    desc: &str,
    group: Option<i64>,
    is_group: bool,
    pos: i32,
    start: NaiveDateTime,
) -> QueryResult<i64> {
    store::insert_component(
        c,
        &NewComponent {
            public_id: service::short_code(12),
            name: name.into(),
            description: desc.into(),
            group_id: group,
            is_group,
            position: pos,
            showcase: !is_group,
            only_show_if_degraded: false,
            start_date: Some(start),
            status: "operational".into(),
            created_at: start,
            updated_at: start,
        },
    )
}

struct Step {
    at: i64,
    status: &'static str,
    body: &'static str,
    components: Vec<(i64, &'static str)>,
}

#[allow(clippy::too_many_arguments)]
fn incident(
    c: &mut DbConn,
    actor: &Actor,
    name: &str,
    impact: &str,
    start: NaiveDateTime,
    affected: &[(i64, &'static str)],
    steps: &[Step],
    postmortem: Option<&str>,
) -> QueryResult<()> {
    let Some(first) = steps.first() else { return Ok(()) };
    let inc = service::create(
        c,
        actor,
        &NewIncident {
            kind: "incident",
            name: name.into(),
            impact: impact.into(),
            status: first.status.into(),
            body: first.body.into(),
            components: affected.iter().map(|(id, s)| (*id, s.to_string())).collect(),
            started_at: Some(start),
            scheduled_for: None,
            scheduled_until: None,
            published: true,
        },
        start + Duration::minutes(first.at),
    )?;
    for s in &steps[1..] {
        let current = store::incident(c, inc.id)?;
        let comps: Vec<(i64, String)> = s.components.iter().map(|(id, st)| (*id, st.to_string())).collect();
        service::post_update(c, actor, &current, s.status, s.body, &comps, start + Duration::minutes(s.at))?;
    }
    if let Some(pm) = postmortem {
        let current = store::incident(c, inc.id)?;
        let at = start + Duration::days(2);
        service::save_postmortem(c, actor, &current, pm, true, at)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn maintenance(
    c: &mut DbConn,
    actor: &Actor,
    name: &str,
    body: &str,
    announced: NaiveDateTime,
    from: NaiveDateTime,
    hours: i64,
    comps: &[i64],
) -> QueryResult<()> {
    service::create(
        c,
        actor,
        &NewIncident {
            kind: "maintenance",
            name: name.into(),
            impact: "maintenance".into(),
            status: "scheduled".into(),
            body: body.into(),
            components: comps.iter().map(|id| (*id, "under_maintenance".to_string())).collect(),
            started_at: None,
            scheduled_for: Some(from),
            scheduled_until: Some(from + Duration::hours(hours)),
            published: true,
        },
        announced,
    )?;
    Ok(())
}

/// Seeds components and history (call inside the demo's transaction, before other demo data).
pub fn seed(c: &mut DbConn, now: NaiveDateTime) -> QueryResult<()> {
    let actor = Actor::system("keel demo seed");
    let day = |d: i64, h: u32, m: u32| -> NaiveDateTime {
        let date = (now - Duration::days(d)).date();
        date.and_hms_opt(h, m, 0).unwrap_or(now - Duration::days(d))
    };
    let start = day(120, 0, 0);
    let web = component(c, "Web app", "Teachers' and students' web application", None, false, 0, start)?;
    let api = component(c, "API", "Integrations and the mobile app", None, false, 1, start)?;
    let group = component(c, "Audio & reporting", "", None, true, 2, start)?;
    let audio = component(
        c,
        "Audio upload & processing",
        "Recording uploads, transcoding and scoring",
        Some(group),
        false,
        3,
        start,
    )?;
    let reports =
        component(c, "Reporting", "District and school reports and exports", Some(group), false, 4, start)?;

    // A completed maintenance 45 days ago (announced a week before).
    maintenance(
        c,
        &actor,
        "Database upgrade",
        "We are upgrading our primary database. The web app and API will be unavailable for up to **2 hours**.",
        day(52, 15, 0),
        day(45, 6, 0),
        2,
        &[web, api],
    )?;
    incident(
        c,
        &actor,
        "Audio uploads failing for some schools",
        "major",
        day(62, 14, 5),
        &[(audio, "partial_outage")],
        &[
            Step {
                at: 7,
                status: "investigating",
                body: "Some teachers see **Upload failed** when submitting recordings. We are investigating.",
                components: vec![],
            },
            Step {
                at: 38,
                status: "identified",
                body: "A storage node ran out of disk space. We are moving uploads to healthy nodes.",
                components: vec![],
            },
            Step {
                at: 71,
                status: "monitoring",
                body: "Uploads are succeeding again. Recordings that failed can be re-submitted; none were lost.",
                components: vec![(audio, "degraded_performance")],
            },
            Step {
                at: 100,
                status: "resolved",
                body: "This incident is resolved. Upload success has been normal for 30 minutes.",
                components: vec![],
            },
        ],
        Some(
            "## Summary\n\nFrom 14:05 to 15:45 UTC about 12% of audio uploads failed.\n\n## Cause\n\nA storage node filled up because a cleanup job had been failing silently for 9 days.\n\n## What we are changing\n\n- Alerts on free disk space at 80% on every storage node.\n- The cleanup job now reports failures to the on-call engineer.\n- Upload clients retry on another node automatically.",
        ),
    )?;
    incident(
        c,
        &actor,
        "Slow report generation",
        "minor",
        day(27, 13, 20),
        &[(reports, "degraded_performance")],
        &[
            Step {
                at: 0,
                status: "investigating",
                body: "District reports are taking several minutes to generate.",
                components: vec![],
            },
            Step {
                at: 95,
                status: "monitoring",
                body: "We added capacity; reports are generating normally again.",
                components: vec![],
            },
            Step { at: 180, status: "resolved", body: "Resolved.", components: vec![] },
        ],
        None,
    )?;
    incident(
        c,
        &actor,
        "Sign-in errors",
        "critical",
        day(9, 12, 41),
        &[(web, "major_outage"), (api, "partial_outage")],
        &[
            Step {
                at: 3,
                status: "investigating",
                body: "Teachers cannot sign in. We are investigating with priority.",
                components: vec![],
            },
            Step {
                at: 14,
                status: "identified",
                body: "An expired certificate at our identity provider. Renewing now.",
                components: vec![],
            },
            Step {
                at: 22,
                status: "resolved",
                body: "Sign-in works again. We are sorry for the disruption during the school day.",
                components: vec![],
            },
        ],
        None,
    )?;
    incident(
        c,
        &actor,
        "Elevated API latency",
        "minor",
        day(2, 16, 10),
        &[(api, "degraded_performance")],
        &[
            Step {
                at: 0,
                status: "investigating",
                body: "API responses are slower than usual.",
                components: vec![],
            },
            Step { at: 40, status: "resolved", body: "Latency is back to normal.", components: vec![] },
        ],
        None,
    )?;
    // Replay the maintenance's own transitions at its times.
    service::advance_maintenance(c, day(45, 6, 0))?;
    service::advance_maintenance(c, day(45, 8, 0))?;
    // Upcoming maintenance in 3 days.
    maintenance(
        c,
        &actor,
        "Audio processing cluster upgrade",
        "We will upgrade the audio processing cluster. Uploads are accepted throughout; scoring may be delayed by up to 30 minutes.",
        now - Duration::hours(20),
        day(-3, 5, 0),
        1,
        &[audio],
    )?;
    Ok(())
}
