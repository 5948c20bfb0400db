//! The status page's rules: component status changes become history intervals; incidents and
//! maintenance move through their states and drive the affected components; every change is
//! audited in the same transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::Incident;
use super::store;
use crate::audit::{self, Actor, Event};
use crate::db::DbConn;
use crate::db::schema::{incident_updates as iu, incidents};

/// Component statuses, in display order.
pub const COMPONENT_STATUSES: [(&str, &str); 5] = [
    ("operational", "Operational"),
    ("degraded_performance", "Degraded performance"),
    ("partial_outage", "Partial outage"),
    ("major_outage", "Major outage"),
    ("under_maintenance", "Under maintenance"),
];

/// Incident statuses, in order.
pub const INCIDENT_STATUSES: [(&str, &str); 4] = [
    ("investigating", "Investigating"),
    ("identified", "Identified"),
    ("monitoring", "Monitoring"),
    ("resolved", "Resolved"),
];

/// Maintenance statuses, in order.
pub const MAINTENANCE_STATUSES: [(&str, &str); 4] = [
    ("scheduled", "Scheduled"),
    ("in_progress", "In progress"),
    ("verifying", "Verifying"),
    ("completed", "Completed"),
];

/// Impacts.
pub const IMPACTS: [(&str, &str); 4] =
    [("none", "None"), ("minor", "Minor"), ("major", "Major"), ("critical", "Critical")];

/// The label of any status or impact value.
pub fn label(value: &str) -> &'static str {
    if value == "maintenance" {
        return "Maintenance";
    }
    COMPONENT_STATUSES
        .iter()
        .chain(INCIDENT_STATUSES.iter())
        .chain(MAINTENANCE_STATUSES.iter())
        .chain(IMPACTS.iter())
        .find(|(k, _)| *k == value)
        .map(|(_, l)| *l)
        .unwrap_or("Unknown")
}

/// The CSS badge kind for a component status.
pub fn badge_kind(status: &str) -> &'static str {
    match status {
        "operational" => "operational",
        "degraded_performance" => "degraded",
        "partial_outage" => "partial",
        "major_outage" => "major",
        "under_maintenance" => "maintenance",
        _ => "unknown",
    }
}

/// A random short code for URLs and public ids.
pub fn short_code(len: usize) -> String {
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    crate::web::token::random_bytes(len).iter().map(|b| A[(*b as usize) % A.len()] as char).collect()
}

/// What a new incident or maintenance looks like.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub kind: &'static str,
    pub name: String,
    pub impact: String,
    pub status: String,
    pub body: String,
    /// (component id, the status this incident gives it).
    pub components: Vec<(i64, String)>,
    pub started_at: Option<NaiveDateTime>,
    pub scheduled_for: Option<NaiveDateTime>,
    pub scheduled_until: Option<NaiveDateTime>,
    pub published: bool,
}

/// Creates an incident (or maintenance) with its first update; sets the affected components.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    n: &NewIncident,
    now: NaiveDateTime,
) -> QueryResult<Incident> {
    let code = short_code(8);
    let id: i64 = diesel::insert_into(incidents::table)
        .values((
            incidents::public_id.eq(short_code(12)),
            incidents::code.eq(&code),
            incidents::kind.eq(n.kind),
            incidents::name.eq(&n.name),
            incidents::status.eq(&n.status),
            incidents::impact.eq(&n.impact),
            incidents::started_at.eq(n.started_at),
            incidents::scheduled_for.eq(n.scheduled_for),
            incidents::scheduled_until.eq(n.scheduled_until),
            incidents::published.eq(n.published),
            incidents::created_by.eq(actor.user_id),
            incidents::created_at.eq(now),
            incidents::updated_at.eq(now),
        ))
        .returning(incidents::id)
        .get_result(conn)?;
    let update = insert_update(conn, id, &n.status, &n.body, now, actor.user_id)?;
    store::set_affected(conn, id, &n.components)?;
    if n.published {
        super::subscriptions::enqueue_notification(conn, update, now)?;
    }
    if n.kind == "incident" && n.published {
        for (cid, st) in &n.components {
            store::set_component_status(conn, *cid, st, "incident", actor.user_id, Some(id), now)?;
        }
    }
    audit::record(
        conn,
        actor,
        Event::new(if n.kind == "incident" { "incident.create" } else { "maintenance.create" }, "incident", id)
            .details(serde_json::json!({"name": n.name, "impact": n.impact, "status": n.status, "components": n.components})),
        now,
    )?;
    store::incident(conn, id)
}

fn insert_update(
    conn: &mut DbConn,
    incident: i64,
    status: &str,
    body: &str,
    at: NaiveDateTime,
    by: Option<i64>,
) -> QueryResult<i64> {
    diesel::insert_into(iu::table)
        .values((
            iu::public_id.eq(short_code(12)),
            iu::incident_id.eq(incident),
            iu::status.eq(status),
            iu::body.eq(body),
            iu::display_at.eq(at),
            iu::created_by.eq(by),
            iu::created_at.eq(at),
            iu::updated_at.eq(at),
        ))
        .returning(iu::id)
        .get_result(conn)
}

/// Posts a timeline update; moves the incident's state and its components.
pub fn post_update(
    conn: &mut DbConn,
    actor: &Actor,
    inc: &Incident,
    status: &str,
    body: &str,
    components: &[(i64, String)],
    now: NaiveDateTime,
) -> QueryResult<()> {
    let update = insert_update(conn, inc.id, status, body, now, actor.user_id)?;
    super::subscriptions::enqueue_notification(conn, update, now)?;
    let resolved = status == "resolved" || status == "completed";
    diesel::update(incidents::table.find(inc.id))
        .set((
            incidents::status.eq(status),
            incidents::published.eq(true),
            incidents::updated_at.eq(now),
            incidents::ics_sequence.eq(inc.ics_sequence + 1),
        ))
        .execute(conn)?;
    if status == "monitoring" && inc.monitoring_at.is_none() {
        diesel::update(incidents::table.find(inc.id))
            .set(incidents::monitoring_at.eq(Some(now)))
            .execute(conn)?;
    }
    if resolved && inc.resolved_at.is_none() {
        diesel::update(incidents::table.find(inc.id))
            .set(incidents::resolved_at.eq(Some(now)))
            .execute(conn)?;
    }
    if !components.is_empty() {
        store::set_affected(conn, inc.id, components)?;
    }
    let affected = store::affected_of(conn, &[inc.id])?;
    let source = if inc.kind == "maintenance" { "maintenance" } else { "incident" };
    for a in &affected {
        let target = if resolved {
            "operational".to_string()
        } else if inc.kind == "maintenance" {
            if status == "in_progress" || status == "verifying" {
                "under_maintenance".into()
            } else {
                continue;
            }
        } else {
            a.status.clone()
        };
        store::set_component_status(conn, a.component_id, &target, source, actor.user_id, Some(inc.id), now)?;
    }
    audit::record(
        conn,
        actor,
        Event::new(
            if inc.kind == "incident" { "incident.update" } else { "maintenance.update" },
            "incident",
            inc.id,
        )
        .details(serde_json::json!({"status": status, "previous_status": inc.status})),
        now,
    )?;
    Ok(())
}

/// Saves (and optionally publishes) the postmortem.
pub fn save_postmortem(
    conn: &mut DbConn,
    actor: &Actor,
    inc: &Incident,
    body: &str,
    publish: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let published_at = if publish { inc.postmortem_published_at.or(Some(now)) } else { None };
    diesel::update(incidents::table.find(inc.id))
        .set((
            incidents::postmortem_body.eq(Some(body)),
            incidents::postmortem_published_at.eq(published_at),
            incidents::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        Event::new("incident.postmortem", "incident", inc.id)
            .details(serde_json::json!({"published": publish})),
        now,
    )?;
    Ok(())
}

/// Corrects the customer-impact window (audited with before and after).
pub fn correct_window(
    conn: &mut DbConn,
    actor: &Actor,
    inc: &Incident,
    started_at: Option<NaiveDateTime>,
    resolved_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(incidents::table.find(inc.id))
        .set((
            incidents::started_at.eq(started_at),
            incidents::resolved_at.eq(resolved_at),
            incidents::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        Event::new("incident.window_corrected", "incident", inc.id).details(serde_json::json!({
            "before": {"started_at": inc.started_at.map(|t| t.to_string()), "resolved_at": inc.resolved_at.map(|t| t.to_string())},
            "after": {"started_at": started_at.map(|t| t.to_string()), "resolved_at": resolved_at.map(|t| t.to_string())},
        })),
        now,
    )?;
    Ok(())
}

/// Sets a component's status by hand.
pub fn set_component(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let Some(before) = store::set_component_status(conn, id, status, "manual", actor.user_id, None, now)?
    else {
        return Ok(false);
    };
    audit::record(
        conn,
        actor,
        Event::new("component.status", "component", id)
            .details(serde_json::json!({"before": before, "after": status})),
        now,
    )?;
    Ok(true)
}

/// Moves scheduled maintenance to in progress and to completed at their times.
/// Returns how many changed.
pub fn advance_maintenance(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let actor = Actor::system("maintenance schedule");
    let due: Vec<Incident> = incidents::table
        .filter(incidents::kind.eq("maintenance"))
        .filter(incidents::status.ne("completed"))
        .select(Incident::as_select())
        .load(conn)?;
    let mut n = 0;
    for m in due {
        let (Some(from), Some(until)) = (m.scheduled_for, m.scheduled_until) else { continue };
        if m.status == "scheduled" && from <= now && now < until {
            post_update(
                conn,
                &actor,
                &m,
                "in_progress",
                "Scheduled maintenance is in progress. We will update this when it is complete.",
                &[],
                now,
            )?;
            n += 1;
        } else if (m.status == "scheduled" || m.status == "in_progress" || m.status == "verifying")
            && until <= now
        {
            post_update(
                conn,
                &actor,
                &m,
                "completed",
                "The scheduled maintenance has been completed.",
                &[],
                now,
            )?;
            n += 1;
        }
    }
    Ok(n)
}
