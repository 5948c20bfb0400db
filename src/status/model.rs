//! Rows of the status tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    component_status_changes, incident_components, incident_updates, incidents, status_components,
};

/// A component (or a group of components) of the vendor's product.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = status_components)]
pub struct Component {
    pub id: i64,
    /// Stable id used by the public API.
    pub public_id: String,
    pub name: String,
    pub description: String,
    /// The group this component belongs to.
    pub group_id: Option<i64>,
    /// True for a group.
    pub is_group: bool,
    pub position: i32,
    /// Counts toward uptime and shows the 90-day bars.
    pub showcase: bool,
    /// Hidden on the page while operational.
    pub only_show_if_degraded: bool,
    /// Uptime is not counted before this.
    pub start_date: Option<NaiveDateTime>,
    /// Current status.
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Insert form of a component.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = status_components)]
pub struct NewComponent {
    pub public_id: String,
    pub name: String,
    pub description: String,
    pub group_id: Option<i64>,
    pub is_group: bool,
    pub position: i32,
    pub showcase: bool,
    pub only_show_if_degraded: bool,
    pub start_date: Option<NaiveDateTime>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One interval of a component's history.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = component_status_changes)]
pub struct StatusChange {
    pub id: i64,
    pub component_id: i64,
    pub status: String,
    pub from_at: NaiveDateTime,
    pub to_at: Option<NaiveDateTime>,
    /// `manual | probe | incident | maintenance`.
    pub source: String,
    pub actor_user_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// An incident or a scheduled maintenance.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incidents)]
pub struct Incident {
    pub id: i64,
    pub public_id: String,
    /// Short code in URLs (`/status/incidents/{code}`).
    pub code: String,
    /// `incident | maintenance`.
    pub kind: String,
    pub name: String,
    /// Incident: `investigating | identified | monitoring | resolved`;
    /// maintenance: `scheduled | in_progress | verifying | completed`.
    pub status: String,
    /// `none | minor | major | critical | maintenance`.
    pub impact: String,
    /// When customers started to be affected.
    pub started_at: Option<NaiveDateTime>,
    pub monitoring_at: Option<NaiveDateTime>,
    /// When customers stopped being affected.
    pub resolved_at: Option<NaiveDateTime>,
    pub scheduled_for: Option<NaiveDateTime>,
    pub scheduled_until: Option<NaiveDateTime>,
    /// False for drafts (e.g. opened by a failing probe, waiting for an operator).
    pub published: bool,
    pub postmortem_body: Option<String>,
    pub postmortem_published_at: Option<NaiveDateTime>,
    /// Bumped on every change (calendar feeds).
    pub ics_sequence: i32,
    pub reminder_sent: bool,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One timeline entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incident_updates)]
pub struct IncidentUpdate {
    pub id: i64,
    pub public_id: String,
    pub incident_id: i64,
    pub status: String,
    /// Markdown.
    pub body: String,
    pub display_at: NaiveDateTime,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A component affected by an incident, with the status the incident gave it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_components)]
pub struct AffectedComponent {
    pub incident_id: i64,
    pub component_id: i64,
    pub status: String,
}
