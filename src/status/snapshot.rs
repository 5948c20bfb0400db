//! The in-memory snapshot behind every public status page and JSON feed. It is rebuilt after
//! each change and polled by every instance, so serving the public page never touches the
//! database; when the database is down the last good snapshot keeps being served, marked stale.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::model::{AffectedComponent, Component, Incident, IncidentUpdate, StatusChange};
use super::uptime::{self, Interval, Status, Window};
use super::{service, store};
use crate::db::DbConn;
use crate::web::charts::{UptimeDay, UptimeState, uptime_strip};

/// Days of history shown in the bar strips.
pub const DAYS: u32 = 90;

/// An incident with everything the public pages show.
#[derive(Debug, Clone)]
pub struct IncidentView {
    /// The incident.
    pub incident: Incident,
    /// Its updates, newest first.
    pub updates: Vec<IncidentUpdate>,
    /// (component id, name, status given) of the affected components.
    pub affected: Vec<(i64, String, String)>,
}

impl IncidentView {
    /// The latest update.
    pub fn latest(&self) -> Option<&IncidentUpdate> {
        self.updates.first()
    }

    /// True while it is not resolved/completed.
    pub fn is_open(&self) -> bool {
        !matches!(self.incident.status.as_str(), "resolved" | "completed")
    }
}

/// A showcase component's 90-day strip and its uptime.
#[derive(Debug, Clone)]
pub struct Strip {
    /// Inline SVG.
    pub svg: String,
    /// Uptime over the 90 days, truncated ("99.97%").
    pub percent: String,
    /// The days (for the text alternative).
    pub days: Vec<uptime::Day>,
}

/// Everything the public pages need, computed once per change.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the data was read from the database.
    pub built_at: DateTime<Utc>,
    /// Set when the last refresh failed (the data may be out of date since then).
    pub stale_since: Option<DateTime<Utc>>,
    /// Components and groups in display order.
    pub components: Vec<Component>,
    /// History intervals of the last 90 days (and open ones).
    pub history: Vec<StatusChange>,
    /// Published incidents and maintenance, newest first.
    pub incidents: Vec<IncidentView>,
    /// Strips per showcase component id.
    pub strips: HashMap<i64, Strip>,
    /// (indicator, description) of the whole page, Statuspage style.
    pub overall: (String, String),
    /// Rendered bodies of this snapshot, by ETag: each page is rendered once per snapshot.
    pub rendered: std::sync::Arc<std::sync::Mutex<HashMap<String, bytes::Bytes>>>,
}

impl Snapshot {
    /// An empty snapshot (before the first build).
    pub fn empty(now: DateTime<Utc>) -> Self {
        Self {
            built_at: now,
            stale_since: None,
            components: Vec::new(),
            history: Vec::new(),
            incidents: Vec::new(),
            strips: HashMap::new(),
            overall: ("none".into(), "All Systems Operational".into()),
            rendered: Default::default(),
        }
    }

    /// The body cached under `key` for this snapshot, rendering it once with `f`.
    pub fn cached<E>(&self, key: &str, f: impl FnOnce() -> Result<String, E>) -> Result<bytes::Bytes, E> {
        if let Ok(map) = self.rendered.lock()
            && let Some(b) = map.get(key)
        {
            return Ok(b.clone());
        }
        let body = bytes::Bytes::from(f()?);
        if let Ok(mut map) = self.rendered.lock()
            && map.len() < 256
        {
            map.insert(key.to_string(), body.clone());
        }
        Ok(body)
    }

    /// Open incidents (not maintenance).
    pub fn active_incidents(&self) -> Vec<&IncidentView> {
        self.incidents.iter().filter(|i| i.incident.kind == "incident" && i.is_open()).collect()
    }

    /// Maintenance that is scheduled or in progress, soonest first.
    pub fn upcoming_maintenance(&self) -> Vec<&IncidentView> {
        let mut v: Vec<&IncidentView> =
            self.incidents.iter().filter(|i| i.incident.kind == "maintenance" && i.is_open()).collect();
        v.sort_by_key(|i| i.incident.scheduled_for);
        v
    }

    /// Maintenance in progress.
    pub fn active_maintenance(&self) -> Vec<&IncidentView> {
        self.upcoming_maintenance().into_iter().filter(|i| i.incident.status != "scheduled").collect()
    }

    /// An incident by its code.
    pub fn by_code(&self, code: &str) -> Option<&IncidentView> {
        self.incidents.iter().find(|i| i.incident.code == code)
    }

    /// Children of a group, in order.
    pub fn children(&self, group: i64) -> Vec<&Component> {
        self.components.iter().filter(|c| c.group_id == Some(group)).collect()
    }

    /// Uptime of a component over a window, from the snapshot's history.
    pub fn uptime_of(&self, component: &Component, window: Window, now: DateTime<Utc>) -> uptime::Uptime {
        let (history, maintenance) = self.inputs_for(component.id);
        uptime::compute(&history, &maintenance, window, component.start_date.map(|d| d.and_utc()), now)
    }

    /// History intervals and announced maintenance windows of a component.
    pub fn inputs_for(&self, component: i64) -> (Vec<Interval>, Vec<Window>) {
        let history = self
            .history
            .iter()
            .filter(|h| h.component_id == component)
            .filter_map(|h| {
                Some(Interval {
                    status: Status::parse(&h.status)?,
                    from: h.from_at.and_utc(),
                    to: h.to_at.map(|t| t.and_utc()),
                })
            })
            .collect();
        let maintenance = self
            .incidents
            .iter()
            .filter(|i| {
                i.incident.kind == "maintenance" && i.affected.iter().any(|(id, _, _)| *id == component)
            })
            .filter_map(|i| {
                Some(Window {
                    from: i.incident.scheduled_for?.and_utc(),
                    to: i.incident.scheduled_until?.and_utc(),
                })
            })
            .collect();
        (history, maintenance)
    }
}

/// The worst-of indicator over components and unresolved incidents (Statuspage's rules).
pub fn overall(components: &[Component], open: &[&Incident]) -> (String, String) {
    let worst_component =
        components.iter().filter(|c| !c.is_group).map(|c| c.status.as_str()).fold("operational", |w, s| {
            let rank = |x: &str| match x {
                "major_outage" => 4,
                "partial_outage" => 3,
                "degraded_performance" => 2,
                "under_maintenance" => 1,
                _ => 0,
            };
            if rank(s) > rank(w) { s } else { w }
        });
    let worst_impact = open
        .iter()
        .filter(|i| i.kind == "incident")
        .map(|i| match i.impact.as_str() {
            "critical" => 3,
            "major" => 2,
            "minor" => 1,
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let from_components = match worst_component {
        "major_outage" => 3,
        "partial_outage" => 2,
        "degraded_performance" => 1,
        _ => 0,
    };
    let level = worst_impact.max(from_components);
    match level {
        3 => ("critical".into(), "Major Service Outage".into()),
        2 => ("major".into(), "Partial System Outage".into()),
        1 if worst_impact == 0 && worst_component == "degraded_performance" => {
            ("minor".into(), "Partially Degraded Service".into())
        }
        1 => ("minor".into(), "Minor Service Outage".into()),
        _ if worst_component == "under_maintenance"
            || open.iter().any(|i| i.kind == "maintenance" && i.status != "scheduled") =>
        {
            ("maintenance".into(), "Service Under Maintenance".into())
        }
        _ => ("none".into(), "All Systems Operational".into()),
    }
}

fn strip_for(snap: &Snapshot, c: &Component, now: DateTime<Utc>) -> Strip {
    let (history, maintenance) = snap.inputs_for(c.id);
    let start = c.start_date.map(|d| d.and_utc());
    let days = uptime::daily(&history, &maintenance, DAYS, chrono_tz::UTC, start, now);
    let incidents_on = |d: chrono::NaiveDate| {
        snap.incidents
            .iter()
            .filter(|i| i.incident.kind == "incident" && i.affected.iter().any(|(id, _, _)| *id == c.id))
            .filter(|i| {
                let from = i.incident.started_at.unwrap_or(i.incident.created_at).date();
                let to = i.incident.resolved_at.map(|t| t.date()).unwrap_or(now.date_naive());
                from <= d && d <= to
            })
            .count()
    };
    let marks: Vec<UptimeDay> = days
        .iter()
        .map(|d| {
            let state = match d.worst {
                None => UptimeState::NoData,
                Some(Status::MajorOutage) => UptimeState::Major,
                Some(Status::PartialOutage) => UptimeState::Partial,
                Some(Status::DegradedPerformance) => UptimeState::Degraded,
                Some(Status::UnderMaintenance) => UptimeState::Maintenance,
                Some(Status::Operational) => UptimeState::Operational,
            };
            let n = incidents_on(d.date);
            let detail = if d.worst.is_none() {
                "No data".to_string()
            } else {
                format!(
                    "{}% uptime · {}",
                    uptime::format_percent(d.uptime.percent, 2),
                    match n {
                        0 => "no incidents".to_string(),
                        1 => "1 incident".to_string(),
                        n => format!("{n} incidents"),
                    }
                )
            };
            UptimeDay { label: d.date.format("%b %-d, %Y").to_string(), state, detail }
        })
        .collect();
    let window = Window { from: now - Duration::days(i64::from(DAYS)), to: now };
    let total = uptime::compute(&history, &maintenance, window, start, now);
    Strip {
        svg: uptime_strip(
            &format!("strip-{}", c.public_id),
            &format!("{}: uptime over the last 90 days", c.name),
            &marks,
        ),
        percent: uptime::format_percent(total.percent, 2),
        days,
    }
}

/// Reads everything from the database and computes the snapshot.
pub fn build(conn: &mut DbConn, now: DateTime<Utc>) -> diesel::QueryResult<Snapshot> {
    build_with_history(conn, now, (now - Duration::days(i64::from(DAYS) + 2)).naive_utc())
}

/// Like [`build`], with the history read back to `since` (for statements of older months).
pub fn build_with_history(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    since: NaiveDateTime,
) -> diesel::QueryResult<Snapshot> {
    let components = store::components(conn)?;
    let history = store::history_since(conn, since)?;
    let all: Vec<Incident> = store::incidents_all(conn)?.into_iter().filter(|i| i.published).collect();
    let ids: Vec<i64> = all.iter().map(|i| i.id).collect();
    let mut updates = store::updates_of(conn, &ids)?;
    updates.reverse();
    let affected: Vec<AffectedComponent> = store::affected_of(conn, &ids)?;
    let name_of =
        |id: i64| components.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_default();
    let incidents: Vec<IncidentView> = all
        .into_iter()
        .map(|incident| IncidentView {
            updates: updates.iter().filter(|u| u.incident_id == incident.id).cloned().collect(),
            affected: affected
                .iter()
                .filter(|a| a.incident_id == incident.id)
                .map(|a| (a.component_id, name_of(a.component_id), a.status.clone()))
                .collect(),
            incident,
        })
        .collect();
    let open: Vec<&Incident> = incidents.iter().filter(|i| i.is_open()).map(|i| &i.incident).collect();
    let overall = overall(&components, &open);
    let mut snap = Snapshot {
        built_at: now,
        stale_since: None,
        components,
        history,
        incidents,
        strips: HashMap::new(),
        overall,
        rendered: Default::default(),
    };
    let showcase: Vec<Component> =
        snap.components.iter().filter(|c| c.showcase && !c.is_group).cloned().collect();
    for c in showcase {
        let strip = strip_for(&snap, &c, now);
        snap.strips.insert(c.id, strip);
    }
    let _ = service::label("operational");
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(status: &str) -> Component {
        let t = DateTime::from_timestamp(0, 0).map(|d| d.naive_utc()).unwrap_or_default();
        Component {
            id: 1,
            public_id: "x".into(),
            name: "API".into(),
            description: String::new(),
            group_id: None,
            is_group: false,
            position: 0,
            showcase: true,
            only_show_if_degraded: false,
            start_date: None,
            status: status.into(),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn indicator_follows_statuspage() {
        assert_eq!(overall(&[comp("operational")], &[]).1, "All Systems Operational");
        assert_eq!(overall(&[comp("degraded_performance")], &[]).1, "Partially Degraded Service");
        assert_eq!(overall(&[comp("partial_outage")], &[]).1, "Partial System Outage");
        assert_eq!(overall(&[comp("major_outage")], &[]).0, "critical");
        assert_eq!(overall(&[comp("under_maintenance")], &[]).0, "maintenance");
    }
}
