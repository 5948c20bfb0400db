//! Queries on components, their history, incidents and maintenance. Status data is the
//! vendor's own (not tenant data): public pages read it through the in-memory snapshot.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{AffectedComponent, Component, Incident, IncidentUpdate, NewComponent, StatusChange};
use crate::db::DbConn;
use crate::db::schema::{
    component_status_changes as csc, incident_components as ic, incident_updates as iu, incidents,
    status_components as sc,
};

/// All components and groups, in display order.
pub fn components(conn: &mut DbConn) -> QueryResult<Vec<Component>> {
    sc::table.order((sc::position, sc::id)).select(Component::as_select()).load(conn)
}

/// One component.
pub fn component(conn: &mut DbConn, id: i64) -> QueryResult<Component> {
    sc::table.find(id).select(Component::as_select()).first(conn)
}

/// Inserts a component and opens its first history interval.
pub fn insert_component(conn: &mut DbConn, c: &NewComponent) -> QueryResult<i64> {
    let id = diesel::insert_into(sc::table).values(c).returning(sc::id).get_result(conn)?;
    if !c.is_group {
        diesel::insert_into(csc::table)
            .values((
                csc::component_id.eq(id),
                csc::status.eq(&c.status),
                csc::from_at.eq(c.start_date.unwrap_or(c.created_at)),
                csc::source.eq("manual"),
                csc::created_at.eq(c.created_at),
            ))
            .execute(conn)?;
    }
    Ok(id)
}

/// Closes the open interval and opens one with the new status (no-op when unchanged).
/// Returns the previous status when it changed.
pub fn set_component_status(
    conn: &mut DbConn,
    id: i64,
    status: &str,
    source: &str,
    actor: Option<i64>,
    incident: Option<i64>,
    at: NaiveDateTime,
) -> QueryResult<Option<String>> {
    let current: String = sc::table.find(id).select(sc::status).first(conn)?;
    if current == status {
        return Ok(None);
    }
    diesel::update(csc::table.filter(csc::component_id.eq(id)).filter(csc::to_at.is_null()))
        .set(csc::to_at.eq(Some(at)))
        .execute(conn)?;
    diesel::insert_into(csc::table)
        .values((
            csc::component_id.eq(id),
            csc::status.eq(status),
            csc::from_at.eq(at),
            csc::source.eq(source),
            csc::actor_user_id.eq(actor),
            csc::incident_id.eq(incident),
            csc::created_at.eq(at),
        ))
        .execute(conn)?;
    diesel::update(sc::table.find(id)).set((sc::status.eq(status), sc::updated_at.eq(at))).execute(conn)?;
    Ok(Some(current))
}

/// History intervals of every component that overlap `since..`.
pub fn history_since(conn: &mut DbConn, since: NaiveDateTime) -> QueryResult<Vec<StatusChange>> {
    csc::table
        .filter(csc::to_at.is_null().or(csc::to_at.gt(since)))
        .order((csc::component_id, csc::from_at))
        .select(StatusChange::as_select())
        .load(conn)
}

/// Inserts a raw history interval (demo data and imports).
pub fn insert_interval(
    conn: &mut DbConn,
    component: i64,
    status: &str,
    from: NaiveDateTime,
    to: Option<NaiveDateTime>,
    source: &str,
    incident: Option<i64>,
) -> QueryResult<usize> {
    diesel::insert_into(csc::table)
        .values((
            csc::component_id.eq(component),
            csc::status.eq(status),
            csc::from_at.eq(from),
            csc::to_at.eq(to),
            csc::source.eq(source),
            csc::incident_id.eq(incident),
            csc::created_at.eq(from),
        ))
        .execute(conn)
}

/// Every incident and maintenance, newest first.
pub fn incidents_all(conn: &mut DbConn) -> QueryResult<Vec<Incident>> {
    incidents::table.order(incidents::created_at.desc()).select(Incident::as_select()).load(conn)
}

/// One incident by id.
pub fn incident(conn: &mut DbConn, id: i64) -> QueryResult<Incident> {
    incidents::table.find(id).select(Incident::as_select()).first(conn)
}

/// Updates of these incidents, oldest first.
pub fn updates_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<IncidentUpdate>> {
    iu::table
        .filter(iu::incident_id.eq_any(ids.to_vec()))
        .order((iu::display_at, iu::id))
        .select(IncidentUpdate::as_select())
        .load(conn)
}

/// Affected components of these incidents.
pub fn affected_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<AffectedComponent>> {
    ic::table.filter(ic::incident_id.eq_any(ids.to_vec())).select(AffectedComponent::as_select()).load(conn)
}

/// Replaces an incident's affected components.
pub fn set_affected(conn: &mut DbConn, incident: i64, list: &[(i64, String)]) -> QueryResult<()> {
    diesel::delete(ic::table.filter(ic::incident_id.eq(incident))).execute(conn)?;
    for (component, status) in list {
        diesel::insert_into(ic::table)
            .values(&AffectedComponent {
                incident_id: incident,
                component_id: *component,
                status: status.clone(),
            })
            .execute(conn)?;
    }
    Ok(())
}
