//! The tamper-evident audit trail: every change to billing, invoices, caps, SLA tiers, tenants,
//! users, incidents and maintenance is recorded through [`record`], in the same transaction
//! as the change. Events form a SHA-256 hash chain (`chain.rs`); the database refuses UPDATE
//! and DELETE on them; `keel audit verify` recomputes the chain. `/audit` shows the trail to
//! those allowed (platform admins everything; district admins and auditors their district).

pub mod chain;
pub mod model;
pub mod store;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Action, Principal};
use crate::db::{DbConn, now_micros};
use crate::error::{AppError, AppResult};
use crate::web::layout::{PageCtx, render};
use crate::web::middleware::RequestId;
use crate::web::pagination::Paging;
use model::AuditEvent;

/// Who made a change, from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user, if a person did it.
    pub user_id: Option<i64>,
    /// Their email, or a name for the system ("system", "keel cli").
    pub label: String,
    /// The request that caused it ("" outside requests).
    pub request_id: String,
    /// The client address ("" outside requests).
    pub ip: String,
}

impl Actor {
    /// Keel itself (jobs, start-up).
    pub fn system(label: &str) -> Self {
        Self { user_id: None, label: label.to_string(), request_id: String::new(), ip: String::new() }
    }

    /// The signed-in user of a request.
    pub fn of(req: &HttpRequest, p: &Principal) -> Self {
        Self::from_request(req, Some(p.user_id), &p.email)
    }

    /// A request's actor with an explicit identity (e.g. before sign-in completes).
    pub fn from_request(req: &HttpRequest, user_id: Option<i64>, label: &str) -> Self {
        // Read the request id first: connection_info() borrows the extensions mutably.
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let ip: String = req.connection_info().realip_remote_addr().unwrap_or("").chars().take(64).collect();
        Self { user_id, label: label.to_string(), request_id, ip }
    }
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Event {
    /// Dotted name, e.g. `auth.sign_in`, `tenant.link`.
    pub action: &'static str,
    /// The tenant it concerns.
    pub tenant_id: Option<i64>,
    /// The kind of record.
    pub target_type: &'static str,
    /// Its id.
    pub target_id: String,
    /// Anything else worth keeping (before/after values, reasons). Never secrets.
    pub details: serde_json::Value,
}

impl Event {
    /// An event with empty details.
    pub fn new(action: &'static str, target_type: &'static str, target_id: impl ToString) -> Self {
        Self {
            action,
            tenant_id: None,
            target_type,
            target_id: target_id.to_string(),
            details: serde_json::json!({}),
        }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, id: Option<i64>) -> Self {
        self.tenant_id = id;
        self
    }

    /// Sets the details.
    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = d;
        self
    }
}

/// Appends an event to the chain. Call it inside the write transaction of the change.
pub fn record(
    conn: &mut DbConn,
    actor: &Actor,
    event: Event,
    now: NaiveDateTime,
) -> diesel::QueryResult<i64> {
    store::append(
        conn,
        chain::EventBody {
            seq: 0,
            at: now,
            actor_user_id: actor.user_id,
            actor_label: actor.label.clone(),
            tenant_id: event.tenant_id,
            action: event.action.to_string(),
            target_type: event.target_type.to_string(),
            target_id: event.target_id,
            request_id: actor.request_id.clone(),
            ip: actor.ip.clone(),
            details: chain::canonical_details(&event.details),
        },
    )
}

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(viewer))
        .route("/audit.csv", web::get().to(csv_export))
        .route("/admin/audit/checkpoint", web::get().to(checkpoint));
}

#[derive(Debug, Deserialize, Default, Clone)]
struct FilterQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    tenant: String,
    page: Option<i64>,
}

impl FilterQuery {
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("actor", self.actor.as_str()),
            ("action", self.action.as_str()),
            ("tenant", self.tenant.as_str()),
        ])
        .unwrap_or_default()
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Builds the store filter from the query, restricted to what the principal may see.
fn to_filter(p: &Principal, q: &FilterQuery) -> AppResult<(store::Filter, Vec<String>)> {
    let tenants = p.scope.tenants_for(Action::ViewAudit);
    if tenants.as_ref().is_some_and(|t| t.is_empty()) {
        return Err(AppError::NotFound);
    }
    let mut problems = Vec::new();
    let from = match q.from.trim() {
        "" => None,
        s => match parse_date(s) {
            Some(d) => d.and_hms_opt(0, 0, 0),
            None => {
                problems.push(format!("'{s}' is not a date like 2026-11-23; the From filter was ignored."));
                None
            }
        },
    };
    let until = match q.to.trim() {
        "" => None,
        s => match parse_date(s) {
            Some(d) => d.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)),
            None => {
                problems.push(format!("'{s}' is not a date like 2026-11-23; the To filter was ignored."));
                None
            }
        },
    };
    let tenant = q.tenant.trim().parse::<i64>().ok();
    if let Some(t) = tenant
        && !p.scope.allows(Action::ViewAudit, t)
    {
        return Err(AppError::NotFound);
    }
    let f = store::Filter {
        tenants,
        tenant,
        from,
        until,
        actor: Some(q.actor.trim().to_string()).filter(|s| !s.is_empty()),
        action: Some(q.action.trim().to_string()).filter(|s| !s.is_empty()),
    };
    Ok((f, problems))
}

/// One row as the viewer shows it.
struct Row {
    event: AuditEvent,
    tenant: String,
}

#[derive(Template)]
#[template(path = "audit/list.html")]
struct ViewerPage {
    ctx: PageCtx,
    rows: Vec<Row>,
    q: FilterQuery,
    actions: Vec<String>,
    tenants: Vec<(i64, String)>,
    problems: Vec<String>,
    paging: Paging,
    base_query: String,
    can_checkpoint: bool,
}

async fn viewer(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<FilterQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (filter, problems) = to_filter(&p, &q)?;
    let paging = Paging::new(q.page, 50);
    let visible = filter.tenants.clone();
    let (rows, total, actions, names) = state
        .db(move |c| {
            let (rows, total) = store::list(c, &filter, paging.offset(), paging.per_page)?;
            let actions = store::actions(c)?;
            let names = crate::tenancy::store::names(c, visible.as_deref())?;
            Ok((rows, total, actions, names))
        })
        .await?;
    let name_of = |id: Option<i64>| {
        id.and_then(|id| names.iter().find(|(t, _)| *t == id).map(|(_, n)| n.clone()))
            .unwrap_or_else(|| "—".into())
    };
    let page = ViewerPage {
        ctx: PageCtx::new(&req, "Audit log"),
        rows: rows.into_iter().map(|e| Row { tenant: name_of(e.tenant_id), event: e }).collect(),
        base_query: q.query_string(),
        q,
        actions,
        tenants: names,
        problems,
        paging: paging.with_total(total),
        can_checkpoint: p.can(Action::ExportAuditCheckpoint),
    };
    render(&page)
}

async fn csv_export(
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<FilterQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (filter, _) = to_filter(&p, &q)?;
    let visible = filter.tenants.clone();
    let (rows, names) = state
        .db(move |c| {
            let (rows, _) = store::list(c, &filter, 0, 100_000)?;
            Ok((rows, crate::tenancy::store::names(c, visible.as_deref())?))
        })
        .await?;
    let mut out =
        String::from("seq,at_utc,actor,tenant,action,target_type,target_id,request_id,ip,details,hash\n");
    for e in rows {
        let tenant = e
            .tenant_id
            .and_then(|id| names.iter().find(|(t, _)| *t == id).map(|(_, n)| n.clone()))
            .unwrap_or_default();
        let fields = [
            e.seq.to_string(),
            chain::format_at(e.at),
            e.actor_label,
            tenant,
            e.action,
            e.target_type,
            e.target_id,
            e.request_id,
            e.ip,
            e.details,
            e.hash,
        ];
        out.push_str(&crate::web::csv::line(&fields));
    }
    let stamp = now_micros(state.now()).format("%Y%m%d-%H%M%S");
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"keel-audit-{stamp}.csv\""),
        ))
        .body(out))
}

async fn checkpoint(req: HttpRequest, p: Principal, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    p.require(Action::ExportAuditCheckpoint)?;
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let (seq, hash) = state
        .db(move |c| {
            Ok(crate::db::write_tx(c, |c| {
                let (seq, hash) = store::head(c)?;
                record(
                    c,
                    &actor,
                    Event::new("audit.checkpoint", "audit_chain", seq)
                        .details(serde_json::json!({"hash": hash})),
                    now,
                )?;
                Ok::<_, diesel::result::Error>((seq, hash))
            })?)
        })
        .await?;
    let cp = chain::Checkpoint::sign(&state.config().secret_key, seq, &hash, &chain::format_at(now));
    let body = serde_json::to_string_pretty(&cp).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"keel-audit-checkpoint-{seq}.json\""),
        ))
        .body(body))
}

/// Result of `keel audit verify`.
#[derive(Debug)]
pub enum VerifyOutcome {
    /// The chain checks out.
    Ok {
        /// Events checked.
        count: u64,
        /// Last sequence number.
        last_seq: i64,
        /// Last hash.
        last_hash: String,
    },
    /// The first bad sequence number and why.
    Broken(chain::Broken),
}

/// Recomputes the chain, and checks it still contains the checkpoint when one is given.
pub fn verify(
    conn: &mut DbConn,
    checkpoint: Option<&chain::Checkpoint>,
    key: &[u8],
) -> Result<VerifyOutcome, AppError> {
    if let Some(cp) = checkpoint
        && !cp.is_authentic(key)
    {
        return Err(AppError::BadRequest(
            "the checkpoint's signature is not valid for this installation's secret key".into(),
        ));
    }
    let v = match store::verify(conn)? {
        Ok(v) => v,
        Err(b) => return Ok(VerifyOutcome::Broken(b)),
    };
    if let Some(cp) = checkpoint {
        if v.last_seq < cp.seq {
            return Ok(VerifyOutcome::Broken(chain::Broken {
                seq: v.last_seq + 1,
                reason: format!(
                    "the checkpoint of {} records event #{}, but the trail ends at #{}: it was truncated",
                    cp.taken_at, cp.seq, v.last_seq
                ),
            }));
        }
        match store::by_seq(conn, cp.seq)? {
            Some(e) if e.hash == cp.hash => {}
            _ => {
                return Ok(VerifyOutcome::Broken(chain::Broken {
                    seq: cp.seq,
                    reason: "this event differs from the checkpoint: the trail was rewritten".into(),
                }));
            }
        }
    }
    Ok(VerifyOutcome::Ok { count: v.count, last_seq: v.last_seq, last_hash: v.last_hash })
}
