//! SLA credit claims: a district admin or procurement officer claims a credit for a month whose
//! measured uptime (the same figure as the reliability panel and the monthly statement) fell
//! short of the tier's commitment; internal admins approve (the computed or an adjusted amount,
//! with a reason) or reject; an approved credit lands once on the tenant's next draft invoice.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use super::tiers;
use crate::AppState;
use crate::audit::{self, Actor, Event};
use crate::auth::{Action, CsrfForm, Principal};
use crate::billing::money;
use crate::db::schema::{invoices as inv, sla_credit_claims as cc, users};
use crate::db::{DbConn, now_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::status::statement;
use crate::web::flash;
use crate::web::form::FormErrors;
use crate::web::layout::{PageCtx, render, render_status};

/// Days after a month ends during which it can be claimed.
pub const CLAIM_WINDOW_DAYS: i64 = 30;

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/support/sla-credits", web::get().to(page))
        .route("/support/sla-credits", web::post().to(claim))
        .route("/admin/sla-credits", web::get().to(admin_list))
        .route("/admin/sla-credits/{id}", web::get().to(admin_detail))
        .route("/admin/sla-credits/{id}/approve", web::post().to(approve))
        .route("/admin/sla-credits/{id}/reject", web::post().to(reject));
}

/// A claim.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cc)]
pub struct Claim {
    pub id: i64,
    pub tenant_id: i64,
    pub month: String,
    pub claimant_id: i64,
    pub description: String,
    pub affected_dates: String,
    pub measured_uptime: String,
    pub commitment: String,
    pub credit_percent: i32,
    pub currency: String,
    pub fee_minor: Option<i64>,
    pub computed_minor: i64,
    /// `open | approved | rejected`.
    pub status: String,
    pub approved_minor: Option<i64>,
    pub decision_reason: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Claim {
    /// An amount of this claim's currency for people.
    pub fn fmt(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        let minor = *minor.borrow();
        money::currency(&self.currency).map(|c| money::format(minor, c)).unwrap_or_else(|| minor.to_string())
    }

    /// Badge colour of the status.
    pub fn badge(&self) -> &'static str {
        match self.status.as_str() {
            "approved" => "paid",
            "rejected" => "void",
            _ => "issued",
        }
    }

    /// Status label.
    pub fn status_label(&self) -> &'static str {
        match self.status.as_str() {
            "approved" => "Approved",
            "rejected" => "Rejected",
            _ => "In review",
        }
    }
}

/// The month's fee a credit is a share of: the tenant's plan (its district's for a school),
/// seats × seat price, per month. (minor units, currency, how it was computed)
pub fn monthly_fee(c: &mut DbConn, tenant: i64) -> QueryResult<Option<(i64, String, String)>> {
    let plan = match crate::usage::plans::of_tenant(c, tenant)? {
        Some(p) => Some(p),
        None => {
            let parent = crate::billing::credits::billing_tenant(c, tenant)?;
            if parent != tenant { crate::usage::plans::of_tenant(c, parent)? } else { None }
        }
    };
    let Some((tp, plan, _)) = plan else { return Ok(None) };
    let Some(cur) = money::currency(&plan.currency) else { return Ok(None) };
    let Some(price) = crate::billing::invoice::parse_decimal(&plan.seat_price) else { return Ok(None) };
    let per_period = price * Decimal::from(tp.seats);
    let months = if plan.period == "month" { Decimal::ONE } else { Decimal::from(12) };
    let Some(minor) = money::to_minor(per_period / months, cur) else { return Ok(None) };
    let how = format!(
        "{} seats × {}{} per {}{} under {}",
        tp.seats,
        cur.symbol,
        money::format_unit_price(price, cur),
        plan.period,
        if plan.period == "month" { "" } else { " ÷ 12" },
        plan.label()
    );
    Ok(Some((minor, cur.code.to_string(), how)))
}

/// What Keel computes for a month, and whether it can be claimed.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub month: String,
    pub uptime: Option<f64>,
    /// e.g. "99.412%" or "No data".
    pub uptime_text: String,
    pub commitment: Option<f64>,
    pub percent: u32,
    /// (fee, currency, how)
    pub fee: Option<(i64, String, String)>,
    pub amount_minor: i64,
    /// The currency the tenant is invoiced in (its billing profile's; else the plan's).
    pub currency: String,
    /// Why the month can't be claimed (None: it can).
    pub refusal: Option<String>,
    /// The last day to claim.
    pub deadline: Option<NaiveDate>,
}

impl Assessment {
    /// Money of the assessment for people.
    pub fn fmt(&self, minor: impl std::borrow::Borrow<i64>) -> String {
        let minor = *minor.borrow();
        money::currency(&self.currency).map(|c| money::format(minor, c)).unwrap_or_else(|| "—".into())
    }
}

/// Assesses `month` for `tenant` at `now` (`snap`: status history covering the month).
pub fn assess(
    c: &mut DbConn,
    snap: &crate::status::snapshot::Snapshot,
    tenant: i64,
    month: &str,
    now: DateTime<Utc>,
) -> QueryResult<Assessment> {
    let tier = tiers::effective(c, tenant)?;
    let commitment = tier.as_ref().and_then(|t| t.commitment());
    let schedule = tier.as_ref().map(|t| t.schedule()).unwrap_or_default();
    let uptime = statement::month_uptime(snap, month, now);
    let percent = uptime.map(|u| tiers::credit_for(&schedule, u)).unwrap_or(0);
    let profile_currency = crate::billing::store::profile(c, tenant)?.map(|p| p.currency);
    let mut fee = monthly_fee(c, tenant)?;
    let currency = profile_currency
        .or_else(|| fee.as_ref().map(|(_, cur, _)| cur.clone()))
        .unwrap_or_else(|| "USD".to_string());
    // A plan priced in another currency than the invoices gives no computed amount.
    if fee.as_ref().is_some_and(|(_, cur, _)| *cur != currency) {
        fee = None;
    }
    let amount_minor = fee.as_ref().map(|(f, _, _)| f * i64::from(percent) / 100).unwrap_or(0);
    let window = statement::month_window(month);
    let deadline =
        window.map(|w| (w.to + Duration::days(CLAIM_WINDOW_DAYS)).date_naive() - Duration::days(1));
    let existing: Option<String> = cc::table
        .filter(cc::tenant_id.eq(tenant))
        .filter(cc::month.eq(month))
        .filter(cc::status.ne("rejected"))
        .select(cc::status)
        .first(c)
        .optional()?;
    let refusal = match window {
        None => Some("Choose a month.".to_string()),
        Some(w) if w.to > now => {
            Some(format!("{month} has not ended yet: you can claim it once it is over."))
        }
        Some(w) if now > w.to + Duration::days(CLAIM_WINDOW_DAYS) => Some(format!(
            "Claims for {month} closed on {}: a claim must be made within {CLAIM_WINDOW_DAYS} days after the month ends.",
            deadline.map(|d| d.to_string()).unwrap_or_default()
        )),
        Some(_) if commitment.is_none() => {
            Some("Your support tier has no uptime commitment, so there is nothing to claim.".into())
        }
        Some(_) if existing.is_some() => Some(format!(
            "There is already a claim for {month} ({}).",
            if existing.as_deref() == Some("approved") { "approved" } else { "in review" }
        )),
        Some(_) if uptime.is_none() => Some(format!("No uptime was measured in {month}.")),
        _ => None,
    };
    Ok(Assessment {
        month: month.to_string(),
        uptime_text: crate::status::uptime::format_percent(uptime, 3),
        uptime,
        commitment,
        percent,
        fee,
        amount_minor,
        currency,
        refusal,
        deadline,
    })
}

/// The months a person may pick: the last three that have ended.
pub fn recent_months(now: DateTime<Utc>) -> Vec<String> {
    let first = now.date_naive().with_day0_safe();
    (1..=3)
        .filter_map(|k| first.checked_sub_months(Months::new(k)))
        .map(|d| d.format("%Y-%m").to_string())
        .collect()
}

trait FirstOfMonth {
    fn with_day0_safe(self) -> NaiveDate;
}

impl FirstOfMonth for NaiveDate {
    fn with_day0_safe(self) -> NaiveDate {
        use chrono::Datelike;
        NaiveDate::from_ymd_opt(self.year(), self.month(), 1).unwrap_or(self)
    }
}

/// Claims of some tenants, newest first.
pub fn of_tenants(c: &mut DbConn, tenants: &[i64]) -> QueryResult<Vec<Claim>> {
    cc::table
        .filter(cc::tenant_id.eq_any(tenants.to_vec()))
        .order(cc::id.desc())
        .select(Claim::as_select())
        .load(c)
}

#[derive(Template)]
#[template(path = "support/sla_credits.html")]
struct TenantPage {
    ctx: PageCtx,
    tenants: Vec<(i64, String)>,
    tenant_id: i64,
    months: Vec<String>,
    a: Assessment,
    claims: Vec<Claim>,
    can_claim: bool,
    description: String,
    affected_dates: String,
    errors: FormErrors,
    window_days: i64,
    /// Show the SLA credits and disputes tabs (roles that see billing).
    billing_tabs: bool,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    tenant: Option<i64>,
    #[serde(default)]
    month: String,
}

async fn snapshot_for(state: &AppState, month: &str) -> AppResult<crate::status::snapshot::Snapshot> {
    let now = state.now();
    let since = statement::month_window(month).map(|w| w.from).unwrap_or(now) - Duration::days(1);
    let since = since.naive_utc();
    state.db(move |c| Ok(crate::status::snapshot::build_with_history(c, now, since)?)).await
}

#[allow(clippy::too_many_arguments)]
async fn load_page(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    tenant: Option<i64>,
    month: String,
    description: String,
    affected_dates: String,
    errors: FormErrors,
) -> AppResult<TenantPage> {
    // Claims are made for the tenant that is invoiced (a district, or a school on its own).
    let tenants = crate::tenancy::district::top_level_tenants(p, state, Action::ViewBilling).await?;
    let (tid, _) = crate::tenancy::district::pick(&tenants, tenant)?;
    p.scope.require(Action::ViewBilling, tid)?;
    let now = state.now();
    let months = recent_months(now);
    let month = if month.is_empty() { months.first().cloned().unwrap_or_default() } else { month };
    let snap = snapshot_for(state, &month).await?;
    let m = month.clone();
    let (a, claims) =
        state.db(move |c| Ok((assess(c, &snap, tid, &m, now)?, of_tenants(c, &[tid])?))).await?;
    Ok(TenantPage {
        ctx: PageCtx::new(req, "SLA credits"),
        billing_tabs: p.scope.allows_anywhere(Action::ViewBilling),
        tenants,
        tenant_id: tid,
        months,
        a,
        claims,
        can_claim: p.scope.allows(Action::ClaimCredits, tid),
        description,
        affected_dates,
        errors,
        window_days: CLAIM_WINDOW_DAYS,
    })
}

async fn page(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    if p.is_internal() {
        return Ok(flash::redirect_with(&req, "/admin/sla-credits", "info", "Claims are reviewed here."));
    }
    let q = q.into_inner();
    let month = if statement::month_window(&q.month).is_some() { q.month } else { String::new() };
    render(
        &load_page(&req, &p, &state, q.tenant, month, String::new(), String::new(), FormErrors::new())
            .await?,
    )
}

#[derive(Debug, Deserialize)]
struct ClaimForm {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    affected_dates: String,
}

async fn claim(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CsrfForm<ClaimForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let tid: i64 = f.tenant_id.trim().parse().map_err(|_| AppError::NotFound)?;
    p.scope.require(Action::ClaimCredits, tid)?;
    // A linked school is covered by its district's claim (one claim per invoiced tenant).
    if state.db(move |c| Ok(crate::billing::credits::billing_tenant(c, tid)?)).await? != tid {
        return Err(AppError::NotFound);
    }
    let month = f.month.trim().to_string();
    let now = state.now();
    let snap = snapshot_for(&state, &month).await?;
    let m = month.clone();
    let a = state.db(move |c| Ok(assess(c, &snap, tid, &m, now)?)).await?;
    let mut e = FormErrors::new();
    if let Some(r) = &a.refusal {
        e.add("month", r.clone());
    }
    let description = f.description.trim().to_string();
    if description.chars().count() < 20 {
        e.add("description", "Describe the impact in at least 20 characters: what stopped working for whom.");
    } else if description.chars().count() > 5000 {
        e.add("description", "Keep the description under 5,000 characters.");
    }
    let affected = f.affected_dates.trim().to_string();
    if affected.is_empty() {
        e.add("affected_dates", "List the affected dates, e.g. 2026-11-03, 2026-11-17.");
    } else if affected.chars().count() > 500 {
        e.add("affected_dates", "Keep the dates under 500 characters.");
    }
    if !e.is_empty() {
        let page = load_page(&req, &p, &state, Some(tid), month, f.description, f.affected_dates, e).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let at = now_micros(now);
    let actor = Actor::of(&req, &p);
    let (me, vendor, base) = (p.user_id, state.config().mail_from.clone(), state.config().base_url.clone());
    let result = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let (fee, currency) = (a.fee.as_ref().map(|(f, _, _)| *f), a.currency.clone());
                let inserted = diesel::insert_into(cc::table)
                    .values((
                        cc::tenant_id.eq(tid),
                        cc::month.eq(&a.month),
                        cc::claimant_id.eq(me),
                        cc::description.eq(&description),
                        cc::affected_dates.eq(&affected),
                        cc::measured_uptime.eq(&a.uptime_text),
                        cc::commitment.eq(a.commitment.map(|v| v.to_string()).unwrap_or_default()),
                        cc::credit_percent.eq(a.percent as i32),
                        cc::currency.eq(&currency),
                        cc::fee_minor.eq(fee),
                        cc::computed_minor.eq(a.amount_minor),
                        cc::status.eq("open"),
                        cc::created_at.eq(at),
                        cc::updated_at.eq(at),
                    ))
                    .returning(cc::id)
                    .get_result::<i64>(c);
                let id = match inserted {
                    Ok(id) => id,
                    // The unique index: a second claim for the month raced this one.
                    Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                audit::record(
                    c,
                    &actor,
                    Event::new("sla_credit.claim", "sla_credit_claim", id).tenant(Some(tid)).details(json!({
                        "month": a.month, "measured_uptime": a.uptime_text, "commitment": a.commitment,
                        "credit_percent": a.percent, "computed_minor": a.amount_minor, "currency": currency,
                    })),
                    at,
                )?;
                let claimant: String = users::table.find(me).select(users::email).first(c)?;
                let tenant = crate::tenancy::store::find(c, tid)?.name;
                for (to, subject, text) in [
                    (
                        claimant,
                        format!("We received your SLA credit claim for {}", a.month),
                        format!(
                            "Your claim for {} is in review.\n\nMeasured uptime: {}. Commitment: {}%. Credit under your schedule: {}% ({}).\n\nWe decide within 10 business days; follow it at {base}/support/sla-credits?tenant={tid}\n",
                            a.month,
                            a.uptime_text,
                            a.commitment.unwrap_or_default(),
                            a.percent,
                            a.fmt(a.amount_minor)
                        ),
                    ),
                    (
                        vendor,
                        format!("SLA credit claim from {tenant} for {}", a.month),
                        format!(
                            "{tenant} claims an SLA credit for {}: measured {}, commitment {}%, computed credit {}% ({}).\n\nReview: {base}/admin/sla-credits/{id}\n",
                            a.month,
                            a.uptime_text,
                            a.commitment.unwrap_or_default(),
                            a.percent,
                            a.fmt(a.amount_minor)
                        ),
                    ),
                ] {
                    crate::notify::queue(
                        c,
                        &crate::notify::Email::plain(to, subject, text),
                        at,
                    )?;
                }
                Ok::<_, diesel::result::Error>(Some(id))
            })?)
        })
        .await?;
    let back = format!("/support/sla-credits?tenant={tid}");
    Ok(match result {
        Some(_) => flash::redirect_with(
            &req,
            &back,
            "success",
            format!("Your claim for {month} was sent. We email you the decision."),
        ),
        None => flash::redirect_with(&req, &back, "error", format!("There is already a claim for {month}.")),
    })
}

/// A claim on the admin list.
pub struct AdminRow {
    pub claim: Claim,
    pub tenant: String,
    pub claimant: String,
    pub invoice: Option<(i64, String)>,
}

#[derive(Template)]
#[template(path = "support/admin_sla_credits.html")]
struct AdminList {
    ctx: PageCtx,
    rows: Vec<AdminRow>,
    status: String,
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    #[serde(default)]
    status: String,
}

/// Where a granted credit landed: (invoice id, its label).
fn landed(c: &mut DbConn, source: &str, id: i64) -> QueryResult<Option<(i64, String)>> {
    let Some(cr) = crate::billing::credits::of_source(c, source, id)? else { return Ok(None) };
    let Some(inv_id) = cr.invoice_id else {
        return Ok(Some((0, "waiting for the next draft invoice".into())));
    };
    let (number, status): (Option<String>, String) =
        inv::table.find(inv_id).select((inv::number, inv::status)).first(c)?;
    Ok(Some((
        inv_id,
        number.unwrap_or_else(|| format!("draft #{inv_id}"))
            + if status == "draft" { " (draft)" } else { "" },
    )))
}

async fn admin_list(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<StatusQuery>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    let status = match q.status.as_str() {
        "approved" | "rejected" | "all" => q.status.clone(),
        _ => "open".to_string(),
    };
    let st = status.clone();
    let rows = state
        .db(move |c| {
            let mut qb = cc::table.into_boxed();
            if st != "all" {
                qb = qb.filter(cc::status.eq(st.clone()));
            }
            let claims: Vec<Claim> = qb.order(cc::id.desc()).limit(500).select(Claim::as_select()).load(c)?;
            let names = crate::tenancy::store::names(c, None)?;
            let mut rows = Vec::new();
            for claim in claims {
                let claimant = crate::auth::store::user_by_id(c, claim.claimant_id)?.display_name;
                rows.push(AdminRow {
                    tenant: names
                        .iter()
                        .find(|(i, _)| *i == claim.tenant_id)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default(),
                    claimant,
                    invoice: landed(c, "sla_claim", claim.id)?,
                    claim,
                });
            }
            Ok(rows)
        })
        .await?;
    render(&AdminList { ctx: PageCtx::new(&req, "SLA credit claims"), rows, status })
}

#[derive(Template)]
#[template(path = "support/admin_sla_credit.html")]
struct AdminDetail {
    ctx: PageCtx,
    row: AdminRow,
    drafts: Vec<(i64, String)>,
    amount: String,
    reason: String,
    reject_reason: String,
    errors: FormErrors,
    can_decide: bool,
}

async fn load_admin_detail(
    req: &HttpRequest,
    p: &Principal,
    state: &AppState,
    id: i64,
    amount: Option<String>,
    (reason, reject_reason): (String, String),
    errors: FormErrors,
) -> AppResult<AdminDetail> {
    let (row, drafts) = state
        .db(move |c| {
            let claim: Claim = cc::table
                .find(id)
                .select(Claim::as_select())
                .first(c)
                .optional()?
                .ok_or(AppError::NotFound)?;
            let tenant = crate::tenancy::store::find(c, claim.tenant_id)?.name;
            let claimant = crate::auth::store::user_by_id(c, claim.claimant_id)?.display_name;
            let bt = crate::billing::credits::billing_tenant(c, claim.tenant_id)?;
            let drafts: Vec<(i64, NaiveDateTime, i64)> = inv::table
                .filter(inv::tenant_id.eq(bt))
                .filter(inv::status.eq("draft"))
                .filter(inv::currency.eq(&claim.currency))
                .order(inv::id)
                .select((inv::id, inv::created_at, inv::total_minor))
                .load(c)?;
            let drafts = drafts
                .into_iter()
                .map(|(i, at, total)| {
                    (i, format!("Draft #{i} of {} ({})", at.format("%Y-%m-%d"), claim.fmt(total)))
                })
                .collect();
            let invoice = landed(c, "sla_claim", claim.id)?;
            Ok((AdminRow { tenant, claimant, invoice, claim }, drafts))
        })
        .await?;
    let amount = amount.unwrap_or_else(|| {
        money::currency(&row.claim.currency)
            .map(|c| money::plain(row.claim.computed_minor, c))
            .unwrap_or_default()
    });
    Ok(AdminDetail {
        ctx: PageCtx::new(req, format!("SLA credit claim {}", row.claim.month)),
        row,
        drafts,
        amount,
        reason,
        reject_reason,
        errors,
        can_decide: p.can(Action::ManageSla),
    })
}

async fn admin_detail(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    p.require(Action::WorkSupportQueue)?;
    render(
        &load_admin_detail(&req, &p, &state, id.into_inner(), None, Default::default(), FormErrors::new())
            .await?,
    )
}

#[derive(Debug, Deserialize)]
struct DecideForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    reject_reason: String,
    #[serde(default)]
    draft: String,
}

async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<DecideForm>,
) -> AppResult<HttpResponse> {
    decide(req, state, id.into_inner(), form, true).await
}

async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    form: CsrfForm<DecideForm>,
) -> AppResult<HttpResponse> {
    decide(req, state, id.into_inner(), form, false).await
}

async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: i64,
    form: CsrfForm<DecideForm>,
    approve: bool,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    p.require(Action::ManageSla)?;
    let claim: Claim = state
        .db(move |c| Ok(cc::table.find(id).select(Claim::as_select()).first(c).optional()?))
        .await?
        .ok_or(AppError::NotFound)?;
    let mut e = FormErrors::new();
    let reason = if approve { f.reason.trim().to_string() } else { f.reject_reason.trim().to_string() };
    if reason.chars().count() < 5 {
        e.add(if approve { "reason" } else { "reject_reason" }, "Give the reason the claimant will read.");
    }
    let mut amount = 0;
    if approve {
        match money::currency(&claim.currency).map(|c| money::parse_minor(&f.amount, c)) {
            Some(Ok(v)) if v > 0 => amount = v,
            Some(Ok(_)) => e.add("amount", "An approved credit is more than 0. Reject the claim instead."),
            Some(Err(m)) => e.add("amount", m),
            None => e.add("amount", "Unknown currency."),
        }
    }
    if claim.status != "open" {
        e.add("reason", format!("This claim was already {}.", claim.status));
    }
    let draft: Option<i64> = f.draft.trim().parse().ok();
    if !e.is_empty() {
        let page =
            load_admin_detail(&req, &p, &state, id, Some(f.amount), (f.reason, f.reject_reason), e).await?;
        return render_status(&page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now = now_micros(state.now());
    let actor = Actor::of(&req, &p);
    let base = state.config().base_url.clone();
    let me = p.user_id;
    let msg = state
        .db(move |c| {
            Ok(write_tx(c, |c| {
                let n = diesel::update(cc::table.find(id).filter(cc::status.eq("open")))
                    .set((
                        cc::status.eq(if approve { "approved" } else { "rejected" }),
                        cc::approved_minor.eq(approve.then_some(amount)),
                        cc::decision_reason.eq(&reason),
                        cc::decided_by.eq(Some(me)),
                        cc::decided_at.eq(Some(now)),
                        cc::updated_at.eq(now),
                    ))
                    .execute(c)?;
                if n != 1 {
                    return Ok::<_, diesel::result::Error>("This claim was already decided.".to_string());
                }
                let mut landed_on = None;
                if approve {
                    let description = format!("SLA credit for {} (measured uptime {}, commitment {}%)", claim.month, claim.measured_uptime, claim.commitment);
                    landed_on = crate::billing::credits::grant(c, claim.tenant_id, "sla_claim", id, &description, amount, &claim.currency, draft, now)?.1;
                }
                audit::record(
                    c,
                    &actor,
                    Event::new(if approve { "sla_credit.approve" } else { "sla_credit.reject" }, "sla_credit_claim", id)
                        .tenant(Some(claim.tenant_id))
                        .details(json!({"month": claim.month, "computed_minor": claim.computed_minor, "approved_minor": approve.then_some(amount),
                            "currency": claim.currency, "reason": reason, "invoice_id": landed_on})),
                    now,
                )?;
                let to: String = users::table.find(claim.claimant_id).select(users::email).first(c)?;
                let (subject, text) = if approve {
                    (
                        format!("Your SLA credit for {} was approved", claim.month),
                        format!(
                            "We approved a credit of {} for {}.\n\n{reason}\n\nIt appears as a credit line on your next invoice.\n\n{base}/support/sla-credits?tenant={}\n",
                            claim.fmt(amount), claim.month, claim.tenant_id
                        ),
                    )
                } else {
                    (
                        format!("Your SLA credit claim for {} was not approved", claim.month),
                        format!("We reviewed your claim for {} and could not approve it:\n\n{reason}\n\nReply to this email if you disagree.\n\n{base}/support/sla-credits?tenant={}\n", claim.month, claim.tenant_id),
                    )
                };
                crate::notify::queue(c, &crate::notify::Email::plain(to, subject, text).dedupe(format!("sla-claim:{id}:decision")), now)?;
                Ok(if approve {
                    match landed_on {
                        Some(i) => format!("Approved: {} credited on draft invoice #{i}.", claim.fmt(amount)),
                        None => format!("Approved: {} will be credited on the tenant's next draft invoice.", claim.fmt(amount)),
                    }
                } else {
                    "Rejected; the claimant was told why.".to_string()
                })
            })?)
        })
        .await?;
    Ok(flash::redirect_with(&req, &format!("/admin/sla-credits/{id}"), "success", msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn months_offered() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).single().unwrap_or_default();
        assert_eq!(recent_months(now), vec!["2026-11", "2026-10", "2026-09"]);
        let jan = Utc.with_ymd_and_hms(2027, 1, 31, 10, 0, 0).single().unwrap_or_default();
        assert_eq!(recent_months(jan)[0], "2026-12");
    }
}
