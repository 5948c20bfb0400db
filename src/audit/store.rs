//! Writing and reading the audit trail. [`append`] must run inside the caller's write
//! transaction: the chain head row is locked (`FOR UPDATE` on PostgreSQL; SQLite's immediate
//! transaction already serializes writers), so concurrent writers never fork the chain.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::chain::{self, EventBody, Verifier};
use super::model::AuditEvent;
use crate::db::DbConn;
use crate::db::schema::{audit_chain_head as head, audit_events as ae};

/// Appends one event after the current head; returns its sequence number.
pub fn append(conn: &mut DbConn, mut body: EventBody) -> QueryResult<i64> {
    let (last_seq, last_hash): (i64, String) = match conn {
        DbConn::Pg(c) => {
            head::table.find(1).select((head::last_seq, head::last_hash)).for_update().first(c)?
        }
        DbConn::Sqlite(c) => head::table.find(1).select((head::last_seq, head::last_hash)).first(c)?,
    };
    body.seq = last_seq + 1;
    let hash = chain::hash(&last_hash, &body);
    let row = AuditEvent {
        seq: body.seq,
        at: body.at,
        actor_user_id: body.actor_user_id,
        actor_label: body.actor_label,
        tenant_id: body.tenant_id,
        action: body.action,
        target_type: body.target_type,
        target_id: body.target_id,
        request_id: body.request_id,
        ip: body.ip,
        details: body.details,
        prev_hash: last_hash,
        hash: hash.clone(),
    };
    diesel::insert_into(ae::table).values(&row).execute(conn)?;
    diesel::update(head::table.find(1))
        .set((head::last_seq.eq(row.seq), head::last_hash.eq(hash)))
        .execute(conn)?;
    Ok(row.seq)
}

/// The chain head: (last seq, last hash).
pub fn head(conn: &mut DbConn) -> QueryResult<(i64, String)> {
    head::table.find(1).select((head::last_seq, head::last_hash)).first(conn)
}

/// The event with this sequence number.
pub fn by_seq(conn: &mut DbConn, seq: i64) -> QueryResult<Option<AuditEvent>> {
    ae::table.find(seq).select(AuditEvent::as_select()).first(conn).optional()
}

/// Verifies the whole chain in batches. Returns the verifier's final state or where it broke.
pub fn verify(conn: &mut DbConn) -> QueryResult<Result<Verifier, chain::Broken>> {
    let mut v = Verifier::default();
    let mut after = 0i64;
    loop {
        let batch: Vec<AuditEvent> = ae::table
            .filter(ae::seq.gt(after))
            .order(ae::seq)
            .limit(1000)
            .select(AuditEvent::as_select())
            .load(conn)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for e in &batch {
            if let Err(b) = v.check(&e.body(), &e.prev_hash, &e.hash) {
                return Ok(Err(b));
            }
        }
    }
    let (head_seq, head_hash) = head(conn)?;
    if head_seq != v.last_seq || head_hash != v.last_hash {
        return Ok(Err(chain::Broken {
            seq: v.last_seq + 1,
            reason: format!(
                "the chain head says the last event is #{head_seq}, but the trail ends at #{}: events were removed from the end",
                v.last_seq
            ),
        }));
    }
    Ok(Ok(v))
}

/// Filters for the viewer and the CSV export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Tenants the viewer may see; None means all (platform admins).
    pub tenants: Option<Vec<i64>>,
    /// One tenant picked in the filter.
    pub tenant: Option<i64>,
    /// From (inclusive, UTC).
    pub from: Option<NaiveDateTime>,
    /// Until (exclusive, UTC).
    pub until: Option<NaiveDateTime>,
    /// Actor label contains.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
}

macro_rules! filtered {
    ($f:expr) => {{
        let f: &Filter = $f;
        let mut q = ae::table.into_boxed();
        if let Some(ts) = &f.tenants {
            q = q.filter(ae::tenant_id.eq_any(ts.clone()));
        }
        if let Some(t) = f.tenant {
            q = q.filter(ae::tenant_id.eq(t));
        }
        if let Some(from) = f.from {
            q = q.filter(ae::at.ge(from));
        }
        if let Some(until) = f.until {
            q = q.filter(ae::at.lt(until));
        }
        if let Some(a) = &f.actor {
            q = q.filter(ae::actor_label.like(format!("%{}%", a.replace('%', "").replace('_', ""))));
        }
        if let Some(a) = &f.action {
            q = q.filter(ae::action.eq(a.clone()));
        }
        q
    }};
}

/// Events matching the filter, newest first, with the total count.
pub fn list(conn: &mut DbConn, f: &Filter, offset: i64, limit: i64) -> QueryResult<(Vec<AuditEvent>, i64)> {
    let total = filtered!(f).count().get_result(conn)?;
    let rows = filtered!(f)
        .order(ae::seq.desc())
        .offset(offset)
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Every distinct action in the trail (for the filter's list).
pub fn actions(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    ae::table.select(ae::action).distinct().order(ae::action).load(conn)
}
