//! Support requests: filing one (targets computed from the tenant's tier at that moment, the
//! audit event and the emails in the same transaction), the conversation, the queue's reads
//! and its changes (assign, reply, note, status), and how each request stands against its
//! targets.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::tiers::{self, TierFull, Which};
use crate::audit::{self, Actor, Event};
use crate::db::DbConn;
use crate::db::schema::{support_messages as sm, support_requests as sr, tenants, users};

/// Request statuses: (stored, label).
pub const STATUSES: [(&str, &str); 5] = [
    ("new", "New"),
    ("open", "Open"),
    ("waiting_on_customer", "Waiting on you"),
    ("resolved", "Resolved"),
    ("closed", "Closed"),
];

/// A status's label for the tenant's side ("Waiting on you") or the queue ("Waiting on customer").
pub fn status_label(s: &str, for_agents: bool) -> &'static str {
    if s == "waiting_on_customer" && for_agents {
        return "Waiting on customer";
    }
    STATUSES.iter().find(|(k, _)| *k == s).map(|(_, l)| *l).unwrap_or("Open")
}

/// A status's badge colour.
pub fn status_badge(s: &str) -> &'static str {
    match s {
        "new" => "issued",
        "open" => "degraded",
        "waiting_on_customer" => "draft",
        "resolved" => "paid",
        _ => "void",
    }
}

/// A support request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sr)]
pub struct Request {
    pub id: i64,
    pub tenant_id: i64,
    pub requester_id: i64,
    pub tier_id: Option<i64>,
    pub category: String,
    pub severity: String,
    pub subject: String,
    pub description: String,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub response_due_at: Option<NaiveDateTime>,
    pub resolution_due_at: Option<NaiveDateTime>,
    pub first_response_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub metadata: String,
    pub attachment_sha256: Option<String>,
    pub attachment_name: Option<String>,
    pub attachment_type: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// How a request stands against one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueState {
    /// No target (best effort).
    NoTarget,
    /// Running, more than a quarter of the time left.
    Running,
    /// Running, a quarter of the time or less left.
    Near,
    /// Running past its due time.
    Breached,
    /// Done in time.
    Met,
    /// Done late.
    Missed,
}

impl DueState {
    /// Label for badges.
    pub fn label(self) -> &'static str {
        match self {
            DueState::NoTarget => "No target",
            DueState::Running => "On track",
            DueState::Near => "Due soon",
            DueState::Breached => "Breached",
            DueState::Met => "Met",
            DueState::Missed => "Missed",
        }
    }

    /// Badge colour.
    pub fn badge(self) -> &'static str {
        match self {
            DueState::NoTarget => "unknown",
            DueState::Running | DueState::Met => "operational",
            DueState::Near => "degraded",
            DueState::Breached | DueState::Missed => "major",
        }
    }

    /// True when it needs attention now.
    pub fn is_alarm(self) -> bool {
        matches!(self, DueState::Near | DueState::Breached)
    }
}

/// The state of a target that started at `start`, is due at `due` and was done at `done`.
pub fn due_state(
    start: NaiveDateTime,
    due: Option<NaiveDateTime>,
    done: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> DueState {
    let Some(due) = due else { return DueState::NoTarget };
    match done {
        Some(d) if d <= due => DueState::Met,
        Some(_) => DueState::Missed,
        None if now > due => DueState::Breached,
        None => {
            let total = (due - start).num_seconds().max(1);
            let left = (due - now).num_seconds();
            if left * 4 <= total { DueState::Near } else { DueState::Running }
        }
    }
}

impl Request {
    /// The number people quote: `SR-01042`.
    pub fn number(&self) -> String {
        number(self.id)
    }

    /// The first-response target's state.
    pub fn response_state(&self, now: NaiveDateTime) -> DueState {
        // Resolving (or closing) without a reply stops the response clock too.
        due_state(self.created_at, self.response_due_at, self.first_response_at.or(self.resolved_at), now)
    }

    /// The resolution target's state.
    pub fn resolution_state(&self, now: NaiveDateTime) -> DueState {
        due_state(self.created_at, self.resolution_due_at, self.resolved_at, now)
    }

    /// True for a request still being worked.
    pub fn is_active(&self) -> bool {
        !matches!(self.status.as_str(), "resolved" | "closed")
    }
}

/// A request number.
pub fn number(id: i64) -> String {
    format!("SR-{id:05}")
}

/// Parses `SR-01042` or `1042`.
pub fn parse_number(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.strip_prefix("SR-").or_else(|| s.strip_prefix("sr-")).unwrap_or(s);
    digits.parse().ok().filter(|v| *v > 0)
}

/// A message on a request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sm)]
pub struct Message {
    pub id: i64,
    pub request_id: i64,
    pub author_id: Option<i64>,
    /// `reply` (agent to requester) | `note` (internal) | `customer` (the tenant's side).
    pub kind: String,
    pub body: String,
    pub created_at: NaiveDateTime,
}

/// A new request as validated by the form.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub tenant_id: i64,
    pub requester_id: i64,
    pub category: String,
    pub severity: String,
    pub subject: String,
    pub description: String,
    /// JSON object of what Keel attached (tenant, user, environment).
    pub metadata: serde_json::Value,
    /// (sha256, file name, content type)
    pub attachment: Option<(String, String, String)>,
}

/// Where emails about a request go and link to.
#[derive(Debug, Clone)]
pub struct Mailing {
    /// Keel's base URL.
    pub base_url: String,
    /// The routing address when the tier names none (Keel's sender address).
    pub fallback_routing: String,
}

/// Files a request: stores it with its due times (from the tenant's tier now), writes the
/// audit event, emails the tier's routing address and confirms to the requester. Returns the
/// request and what the requester is promised, in words.
pub fn create(
    c: &mut DbConn,
    actor: &Actor,
    r: &NewRequest,
    mail: &Mailing,
    now: DateTime<Utc>,
) -> QueryResult<(Request, String)> {
    let at = crate::db::now_micros(now);
    let tier = tiers::effective(c, r.tenant_id)?;
    let due = |which| tier.as_ref().and_then(|t| t.due(&r.severity, which, now)).map(crate::db::now_micros);
    let id: i64 = diesel::insert_into(sr::table)
        .values((
            sr::tenant_id.eq(r.tenant_id),
            sr::requester_id.eq(r.requester_id),
            sr::tier_id.eq(tier.as_ref().map(|t| t.tier.id)),
            sr::category.eq(&r.category),
            sr::severity.eq(&r.severity),
            sr::subject.eq(&r.subject),
            sr::description.eq(&r.description),
            sr::status.eq("new"),
            sr::response_due_at.eq(due(Which::Response)),
            sr::resolution_due_at.eq(due(Which::Resolution)),
            sr::metadata.eq(r.metadata.to_string()),
            sr::attachment_sha256.eq(r.attachment.as_ref().map(|a| a.0.clone())),
            sr::attachment_name.eq(r.attachment.as_ref().map(|a| a.1.clone())),
            sr::attachment_type.eq(r.attachment.as_ref().map(|a| a.2.clone())),
            sr::created_at.eq(at),
            sr::updated_at.eq(at),
        ))
        .returning(sr::id)
        .get_result(c)?;
    let req = find(c, id)?;
    audit::record(
        c,
        actor,
        Event::new("support.request_create", "support_request", id).tenant(Some(r.tenant_id)).details(
            json!({
                "number": req.number(), "severity": r.severity, "category": r.category,
                "tier": tier.as_ref().map(|t| t.tier.key.clone()),
                "response_due_at": req.response_due_at.map(|d| d.to_string()),
            }),
        ),
        at,
    )?;
    let (tenant, requester_email, requester_name) = who(c, r.tenant_id, r.requester_id)?;
    let promise = promise_text(tier.as_ref(), &req);
    let routing = tier
        .as_ref()
        .map(|t| t.tier.routing_email.clone())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| mail.fallback_routing.clone());
    let tier_name = tier.as_ref().map(|t| t.tier.name.clone()).unwrap_or_else(|| "no tier".into());
    crate::notify::queue(
        c,
        &crate::notify::Email::plain(
            routing,
            format!(
                "[{}] {} {} from {tenant}: {}",
                req.number(),
                req.severity,
                tier_name,
                req.subject
            ),
            format!(
                "{requester_name} <{requester_email}> at {tenant} filed {} ({}, {}).\n\n{}\n\n{}\n\nFirst response due: {}\n\nOpen it in the queue: {}/admin/support/requests/{id}\n",
                req.number(),
                req.severity,
                tiers::category_label(&req.category),
                req.subject,
                req.description,
                req.response_due_at
                    .map(|d| format!("{} UTC", d.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_else(|| "no target (best effort)".into()),
                mail.base_url
            ),
        ).dedupe(format!("support:{id}:routing")),
        at,
    )?;
    crate::notify::queue(
        c,
        &crate::notify::Email::plain(
            requester_email,
            format!("We received your request {}: {}", req.number(), req.subject),
            format!(
                "Hello {requester_name},\n\nThanks for telling us. Your request number is {}.\n\n{promise}\n\nFollow it and reply here: {}/support/requests/{id}\n\n— Support\n",
                req.number(),
                mail.base_url
            ),
        ).dedupe(format!("support:{id}:confirm")),
        at,
    )?;
    Ok((req, promise))
}

/// What the requester is promised, in words.
pub fn promise_text(tier: Option<&TierFull>, req: &Request) -> String {
    match (tier, req.response_due_at) {
        (Some(t), Some(due)) => {
            let cal = t.calendar();
            let local = due.and_utc().with_timezone(&cal.tz);
            format!(
                "On your {} tier we reply to {} requests within {}: by {}.",
                t.tier.name,
                req.severity,
                t.target(&req.severity, Which::Response).map(|x| x.describe(&cal)).unwrap_or_default(),
                local.format("%a %b %-d, %-I:%M %p %Z")
            )
        }
        _ => "Your plan has best-effort support: we reply as soon as we can.".into(),
    }
}

/// A tenant's name and a user's email and name.
fn who(c: &mut DbConn, tenant: i64, user: i64) -> QueryResult<(String, String, String)> {
    let t: String = tenants::table.find(tenant).select(tenants::name).first(c)?;
    let (email, name): (String, String) =
        users::table.find(user).select((users::email, users::display_name)).first(c)?;
    Ok((t, email, name))
}

/// One request.
pub fn find(c: &mut DbConn, id: i64) -> QueryResult<Request> {
    sr::table.find(id).select(Request::as_select()).first(c)
}

/// A request's messages, oldest first; internal notes only when `with_notes`.
pub fn messages(c: &mut DbConn, id: i64, with_notes: bool) -> QueryResult<Vec<Message>> {
    let mut q = sm::table.filter(sm::request_id.eq(id)).into_boxed();
    if !with_notes {
        q = q.filter(sm::kind.ne("note"));
    }
    q.order(sm::id).select(Message::as_select()).load(c)
}

/// The queue's filters.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// `active` (default: new, open, waiting), `all`, or one status.
    pub status: String,
    pub tier: Option<i64>,
    pub severity: String,
    pub tenant: Option<i64>,
    /// `me`, `none`, or a user id.
    pub assignee: String,
    /// Only requests whose first response or resolution is past due.
    pub breached: bool,
}

/// Requests for the queue, sorted by the nearest due time (no target last).
pub fn queue(c: &mut DbConn, f: &QueueFilter, me: i64, now: NaiveDateTime) -> QueryResult<Vec<Request>> {
    let mut q = sr::table.into_boxed();
    match f.status.as_str() {
        "" | "active" => q = q.filter(sr::status.eq_any(["new", "open", "waiting_on_customer"])),
        "all" => {}
        s => q = q.filter(sr::status.eq(s.to_string())),
    }
    if let Some(t) = f.tier {
        q = q.filter(sr::tier_id.eq(t));
    }
    if !f.severity.is_empty() {
        q = q.filter(sr::severity.eq(f.severity.clone()));
    }
    if let Some(t) = f.tenant {
        q = q.filter(sr::tenant_id.eq(t));
    }
    match f.assignee.as_str() {
        "" => {}
        "me" => q = q.filter(sr::assignee_id.eq(me)),
        "none" => q = q.filter(sr::assignee_id.is_null()),
        v => {
            if let Ok(id) = v.parse::<i64>() {
                q = q.filter(sr::assignee_id.eq(id));
            }
        }
    }
    if f.breached {
        q = q.filter(
            sr::first_response_at
                .is_null()
                .and(sr::resolved_at.is_null())
                .and(sr::response_due_at.lt(now))
                .or(sr::resolved_at.is_null().and(sr::resolution_due_at.lt(now))),
        );
    }
    let mut rows: Vec<Request> = q.order(sr::id.desc()).limit(500).select(Request::as_select()).load(c)?;
    rows.sort_by_key(|r| (next_due(r).is_none(), next_due(r), r.id));
    Ok(rows)
}

/// The next due time that still runs: the first response until it is given, then resolution.
pub fn next_due(r: &Request) -> Option<NaiveDateTime> {
    if !r.is_active() {
        return None;
    }
    if r.first_response_at.is_none() && r.response_due_at.is_some() {
        return r.response_due_at;
    }
    if r.resolved_at.is_none() { r.resolution_due_at } else { None }
}

/// A tenant's requests (or only one requester's), newest first.
pub fn of_tenants(c: &mut DbConn, tenants: &[i64], requester: Option<i64>) -> QueryResult<Vec<Request>> {
    let mut q = sr::table.filter(sr::tenant_id.eq_any(tenants.to_vec())).into_boxed();
    if let Some(u) = requester {
        q = q.filter(sr::requester_id.eq(u));
    }
    q.order(sr::id.desc()).limit(500).select(Request::as_select()).load(c)
}

/// Adds a message. An agent's reply is the first response (when none was recorded), emails
/// the requester and, on a new request, opens it; a customer's message on a request waiting on
/// them reopens it. Audited.
pub fn add_message(
    c: &mut DbConn,
    actor: &Actor,
    req: &Request,
    kind: &str,
    body: &str,
    base_url: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let msg_id: i64 = diesel::insert_into(sm::table)
        .values((
            sm::request_id.eq(req.id),
            sm::author_id.eq(actor.user_id),
            sm::kind.eq(kind),
            sm::body.eq(body),
            sm::created_at.eq(now),
        ))
        .returning(sm::id)
        .get_result(c)?;
    let mut status = req.status.clone();
    match kind {
        "reply" => {
            if req.first_response_at.is_none() {
                diesel::update(sr::table.find(req.id)).set(sr::first_response_at.eq(Some(now))).execute(c)?;
            }
            if status == "new" {
                status = "open".into();
            }
        }
        "customer" if status == "waiting_on_customer" || status == "resolved" => status = "open".into(),
        _ => {}
    }
    diesel::update(sr::table.find(req.id))
        .set((sr::status.eq(&status), sr::updated_at.eq(now)))
        .execute(c)?;
    if status == "open" && req.status == "resolved" {
        diesel::update(sr::table.find(req.id)).set(sr::resolved_at.eq(None::<NaiveDateTime>)).execute(c)?;
    }
    audit::record(
        c,
        actor,
        Event::new(
            match kind {
                "reply" => "support.reply",
                "note" => "support.note",
                _ => "support.customer_message",
            },
            "support_request",
            req.id,
        )
        .tenant(Some(req.tenant_id))
        .details(json!({"number": req.number(), "status_before": req.status, "status_after": status})),
        now,
    )?;
    if kind == "reply" {
        let (_, email, name) = who(c, req.tenant_id, req.requester_id)?;
        crate::notify::queue(
            c,
            &crate::notify::Email::plain(
                email,
                format!("Re: [{}] {}", req.number(), req.subject),
                format!(
                    "Hello {name},\n\n{body}\n\nReply or follow the request: {base_url}/support/requests/{}\n\n— Support\n",
                    req.id
                ),
            ).dedupe(format!("support:{}:msg:{msg_id}", req.id)),
            now,
        )?;
    }
    if kind == "customer"
        && let Some(agent) = req.assignee_id
    {
        let (email,): (String,) = users::table.find(agent).select((users::email,)).first(c)?;
        crate::notify::queue(
            c,
            &crate::notify::Email::plain(
                email,
                format!("[{}] the customer replied: {}", req.number(), req.subject),
                format!("{body}\n\nOpen it in the queue: {base_url}/admin/support/requests/{}\n", req.id),
            )
            .dedupe(format!("support:{}:msg:{msg_id}", req.id)),
            now,
        )?;
    }
    Ok(())
}

/// Changes the status (resolving records the resolution time; reopening clears it). Audited;
/// the requester is told when it is resolved.
pub fn set_status(
    c: &mut DbConn,
    actor: &Actor,
    req: &Request,
    status: &str,
    base_url: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if req.status == status {
        return Ok(());
    }
    let resolved_at = match status {
        "resolved" | "closed" => req.resolved_at.or(Some(now)),
        _ => None,
    };
    diesel::update(sr::table.find(req.id))
        .set((sr::status.eq(status), sr::resolved_at.eq(resolved_at), sr::updated_at.eq(now)))
        .execute(c)?;
    audit::record(
        c,
        actor,
        Event::new("support.status", "support_request", req.id)
            .tenant(Some(req.tenant_id))
            .details(json!({"number": req.number(), "before": req.status, "after": status})),
        now,
    )?;
    if status == "resolved" {
        let (_, email, name) = who(c, req.tenant_id, req.requester_id)?;
        crate::notify::queue(
            c,
            &crate::notify::Email::plain(
                email,
                format!("Resolved: [{}] {}", req.number(), req.subject),
                format!(
                    "Hello {name},\n\nWe marked your request {} as resolved. If it isn't, reply on the request and it opens again: {base_url}/support/requests/{}\n\n— Support\n",
                    req.number(),
                    req.id
                ),
            ),
            now,
        )?;
    }
    Ok(())
}

/// Assigns the request (None: unassigned). Audited.
pub fn assign(
    c: &mut DbConn,
    actor: &Actor,
    req: &Request,
    to: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(sr::table.find(req.id))
        .set((sr::assignee_id.eq(to), sr::updated_at.eq(now)))
        .execute(c)?;
    audit::record(
        c,
        actor,
        Event::new("support.assign", "support_request", req.id)
            .tenant(Some(req.tenant_id))
            .details(json!({"number": req.number(), "before": req.assignee_id, "after": to})),
        now,
    )?;
    Ok(())
}

/// Met and missed targets per tier over requests filed since `since`.
#[derive(Debug, Clone, Default)]
pub struct TierReport {
    pub tier: String,
    pub requests: i64,
    pub response_met: i64,
    pub response_missed: i64,
    pub response_running: i64,
    pub resolution_met: i64,
    pub resolution_missed: i64,
    pub resolution_running: i64,
}

impl TierReport {
    /// Met share of decided first responses, e.g. "92%" (— when none decided).
    pub fn response_rate(&self) -> String {
        rate(self.response_met, self.response_missed)
    }

    /// Met share of decided resolutions.
    pub fn resolution_rate(&self) -> String {
        rate(self.resolution_met, self.resolution_missed)
    }
}

fn rate(met: i64, missed: i64) -> String {
    if met + missed == 0 { "—".into() } else { format!("{}%", met * 100 / (met + missed)) }
}

/// The report: a breached running target counts as missed already.
pub fn report(c: &mut DbConn, since: NaiveDateTime, now: NaiveDateTime) -> QueryResult<Vec<TierReport>> {
    let rows: Vec<Request> =
        sr::table.filter(sr::created_at.ge(since)).select(Request::as_select()).load(c)?;
    let mut out: Vec<TierReport> = Vec::new();
    for t in tiers::all(c)? {
        let mut r = TierReport { tier: t.name.clone(), ..Default::default() };
        for q in rows.iter().filter(|q| q.tier_id == Some(t.id)) {
            r.requests += 1;
            let count = |s: DueState, met: &mut i64, missed: &mut i64, running: &mut i64| match s {
                DueState::Met => *met += 1,
                DueState::Missed | DueState::Breached => *missed += 1,
                DueState::Running | DueState::Near => *running += 1,
                DueState::NoTarget => {}
            };
            count(
                q.response_state(now),
                &mut r.response_met,
                &mut r.response_missed,
                &mut r.response_running,
            );
            count(
                q.resolution_state(now),
                &mut r.resolution_met,
                &mut r.resolution_missed,
                &mut r.resolution_running,
            );
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 1).and_then(|d| d.and_hms_opt(h, m, 0)).unwrap_or_default()
    }

    #[test]
    fn due_states() {
        let (start, due) = (t(8, 0), Some(t(12, 0)));
        assert_eq!(due_state(start, None, None, t(9, 0)), DueState::NoTarget);
        assert_eq!(due_state(start, due, None, t(9, 0)), DueState::Running);
        assert_eq!(due_state(start, due, None, t(11, 0)), DueState::Near);
        assert_eq!(due_state(start, due, None, t(12, 1)), DueState::Breached);
        assert_eq!(due_state(start, due, Some(t(12, 0)), t(13, 0)), DueState::Met);
        assert_eq!(due_state(start, due, Some(t(12, 5)), t(13, 0)), DueState::Missed);
        assert!(DueState::Breached.is_alarm() && !DueState::Met.is_alarm());
    }

    #[test]
    fn numbers() {
        assert_eq!(number(42), "SR-00042");
        assert_eq!(parse_number("SR-00042"), Some(42));
        assert_eq!(parse_number(" 42 "), Some(42));
        assert_eq!(parse_number("SR-x"), None);
        assert_eq!(status_label("waiting_on_customer", false), "Waiting on you");
        assert_eq!(status_label("waiting_on_customer", true), "Waiting on customer");
    }
}
