//! Rejected events (`/admin/usage/rejected`): every event the API refused, with its reason,
//! kept until someone fixes the cause (for example creates the tenant it names) and re-submits
//! it through the same validation. A re-submitted event that is still invalid stays listed.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::ingest::{self, Recorded};
use super::model::Rejected;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::db::schema::usage_rejected as ur;
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::AppResult;
use crate::web::flash;
use crate::web::layout::{PageCtx, render};
use crate::web::pagination::Paging;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/usage/rejected", web::get().to(page))
        .route("/admin/usage/rejected/resubmit", web::post().to(resubmit));
}

#[derive(Template)]
#[template(path = "usage/rejected.html")]
struct RejectedPage {
    ctx: PageCtx,
    rows: Vec<Rejected>,
    all: bool,
    paging: Paging,
    base_query: String,
    can_manage: bool,
}

#[derive(Debug, Deserialize)]
struct Query {
    #[serde(default)]
    all: String,
    page: Option<i64>,
}

async fn page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> AppResult<HttpResponse> {
    p.require(Action::ViewMetering)?;
    let all = q.all == "1";
    let paging = Paging::new(q.page, 50);
    let (rows, total) =
        state.db(move |c| Ok(super::store::rejected(c, all, paging.offset(), paging.per_page)?)).await?;
    render(&RejectedPage {
        ctx: PageCtx::new(&req, "Rejected events"),
        rows,
        all,
        paging: paging.with_total(total),
        base_query: if all { "all=1".into() } else { String::new() },
        can_manage: p.can(Action::ManageMetering),
    })
}

/// The outcome of re-submitting rejected events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resubmitted {
    pub accepted: usize,
    pub duplicates: usize,
    pub still_rejected: usize,
}

/// Re-validates open rejected events (`ids`, or all open ones) against the current catalog and
/// records those that now pass; each is marked with what happened. Call inside a write
/// transaction. Returns the counts and the tenants that received events.
pub fn resubmit_open(
    c: &mut DbConn,
    ids: Option<&[i64]>,
    now: chrono::DateTime<chrono::Utc>,
) -> QueryResult<(Resubmitted, Vec<i64>)> {
    let mut q = ur::table.filter(ur::resubmitted_at.is_null()).into_boxed();
    if let Some(ids) = ids {
        q = q.filter(ur::id.eq_any(ids.to_vec()));
    }
    let rows: Vec<Rejected> = q.order(ur::id).limit(10_000).select(Rejected::as_select()).load(c)?;
    let cat = ingest::catalog(c)?;
    let at: NaiveDateTime = now_micros(now);
    let mut out = Resubmitted::default();
    let mut tenants = Vec::new();
    for r in rows {
        let ev: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
        match ingest::validate(&ev, &cat, now) {
            Ok(v) => {
                let rec = ingest::record(c, std::slice::from_ref(&v), at)?;
                let outcome = if rec.first() == Some(&Recorded::Accepted) {
                    out.accepted += 1;
                    tenants.push(v.tenant_id);
                    "accepted"
                } else {
                    out.duplicates += 1;
                    "duplicate"
                };
                diesel::update(ur::table.find(r.id))
                    .set((ur::resubmitted_at.eq(Some(at)), ur::outcome.eq(outcome)))
                    .execute(c)?;
            }
            Err(why) => {
                out.still_rejected += 1;
                diesel::update(ur::table.find(r.id))
                    .set((
                        ur::code.eq(why.code),
                        ur::reason.eq(&why.reason),
                        ur::outcome.eq("still rejected"),
                    ))
                    .execute(c)?;
            }
        }
    }
    tenants.sort_unstable();
    tenants.dedup();
    Ok((out, tenants))
}

#[derive(Debug, Deserialize)]
struct ResubmitForm {
    #[serde(default)]
    id: String,
}

async fn resubmit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ResubmitForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageMetering)?;
    let one: Option<i64> = f.id.trim().parse().ok();
    let now = state.now();
    let actor = Actor::of(&req, &p);
    let (r, tenants) = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let ids = one.map(|i| vec![i]);
                let (r, tenants) = resubmit_open(c, ids.as_deref(), now)?;
                audit::record(
                    c,
                    &actor,
                    Event::new("usage.rejected_resubmit", "usage_rejected", one.map(|i| i.to_string()).unwrap_or_else(|| "all".into()))
                        .details(serde_json::json!({"accepted": r.accepted, "duplicates": r.duplicates, "still_rejected": r.still_rejected})),
                    now_micros(now),
                )?;
                Ok::<_, diesel::result::Error>((r, tenants))
            })?)
        })
        .await?;
    let cat = state.db(|c| Ok(ingest::catalog(c)?)).await?;
    super::api::after_ingest(&state, &cat, &tenants).await?;
    let msg = format!(
        "Re-submitted: {} accepted, {} already recorded, {} still rejected.",
        r.accepted, r.duplicates, r.still_rejected
    );
    let kind = if r.still_rejected > 0 { "warning" } else { "success" };
    Ok(flash::redirect_with(&req, "/admin/usage/rejected", kind, msg))
}
