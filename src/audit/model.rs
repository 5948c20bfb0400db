//! Rows of `audit_events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::chain::EventBody;
use crate::db::schema::audit_events;

/// One stored audit event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: NaiveDateTime,
    pub actor_user_id: Option<i64>,
    pub actor_label: String,
    pub tenant_id: Option<i64>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub request_id: String,
    pub ip: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// The part the hash covers.
    pub fn body(&self) -> EventBody {
        EventBody {
            seq: self.seq,
            at: self.at,
            actor_user_id: self.actor_user_id,
            actor_label: self.actor_label.clone(),
            tenant_id: self.tenant_id,
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            request_id: self.request_id.clone(),
            ip: self.ip.clone(),
            details: self.details.clone(),
        }
    }
}
