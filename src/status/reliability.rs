//! `/reliability`: the reliability panel for district admins and auditors (and the vendor's
//! staff): platform uptime over 30 and 90 days per component and overall, how it is measured
//! and its limits in plain words, recent incidents and maintenance. Read from the snapshot.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Duration;

use super::public::when;
use super::service::label;
use super::uptime::{self, Window};
use crate::AppState;
use crate::auth::{Action, Principal};
use crate::error::{AppError, AppResult};
use crate::web::layout::{PageCtx, render};

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reliability", web::get().to(panel))
        .route("/reliability/statements", web::post().to(generate))
        .route("/reliability/statements/{id}.pdf", web::get().to(download_pdf))
        .route("/reliability/statements/{id}.csv", web::get().to(download_csv));
}

async fn tenant_choices(p: &Principal, state: &AppState) -> AppResult<Vec<(i64, String)>> {
    crate::tenancy::district::top_level_tenants(p, state, Action::ViewReliability).await
}

/// One component's figures.
struct Row {
    name: String,
    public_id: String,
    status_label: &'static str,
    status_kind: &'static str,
    d30: String,
    d90: String,
}

/// An incident or maintenance line.
struct Item {
    name: String,
    code: String,
    when: String,
    status: &'static str,
    impact: &'static str,
}

#[derive(Template)]
#[template(path = "status/reliability.html")]
struct Panel {
    ctx: PageCtx,
    rows: Vec<Row>,
    overall30: String,
    overall90: String,
    incidents: Vec<Item>,
    maintenance: Vec<Item>,
    updated: String,
    tenants: Vec<(i64, String)>,
    tenant: Option<(i64, String)>,
    statements: Vec<super::statement::Statement>,
    months: Vec<String>,
    /// The tenant's uptime commitment and how this month stands against it.
    sla: Option<SlaCard>,
}

/// The SLA commitment card.
pub struct SlaCard {
    pub tier: String,
    pub commitment: String,
    /// This calendar month so far (UTC), truncated.
    pub month_to_date: String,
    pub met: bool,
}

#[derive(Debug, serde::Deserialize)]
struct PanelQuery {
    tenant: Option<i64>,
}

async fn panel(
    req: HttpRequest,
    p: Principal,
    state: web::Data<AppState>,
    q: web::Query<PanelQuery>,
) -> AppResult<HttpResponse> {
    if !p.scope.allows_anywhere(Action::ViewReliability) {
        return Err(AppError::NotFound);
    }
    let tenants = tenant_choices(&p, &state).await?;
    let tenant = match q.tenant {
        Some(t) => Some(tenants.iter().find(|(id, _)| *id == t).cloned().ok_or(AppError::NotFound)?),
        None => tenants.first().cloned(),
    };
    let (statements, tier) = match &tenant {
        Some((t, _)) => {
            let t = *t;
            state
                .db(move |c| {
                    Ok((super::statement::of_tenant(c, t)?, crate::support::tiers::effective(c, t)?))
                })
                .await?
        }
        None => (Vec::new(), None),
    };
    let snap = state.status_snapshot();
    let sla = tier.and_then(|t| {
        let commitment = t.commitment()?;
        let month = snap.built_at.format("%Y-%m").to_string();
        let mtd = super::statement::month_uptime(&snap, &month, snap.built_at);
        Some(SlaCard {
            tier: t.tier.name.clone(),
            commitment: format!("{commitment}"),
            month_to_date: uptime::format_percent(mtd, 3),
            met: mtd.is_none_or(|u| u >= commitment),
        })
    });
    let now = snap.built_at;
    let w = |days: i64| Window { from: now - Duration::days(days), to: now };
    let measured: Vec<_> = snap.components.iter().filter(|c| c.showcase && !c.is_group).collect();
    let mut sums = [(0.0f64, 0.0f64); 2];
    let rows = measured
        .iter()
        .map(|c| {
            let a = snap.uptime_of(c, w(30), now);
            let b = snap.uptime_of(c, w(90), now);
            for (i, u) in [&a, &b].into_iter().enumerate() {
                sums[i].0 += u.weighted_outage_minutes;
                sums[i].1 += u.counted_minutes;
            }
            Row {
                name: c.name.clone(),
                public_id: c.public_id.clone(),
                status_label: label(&c.status),
                status_kind: super::service::badge_kind(&c.status),
                d30: uptime::format_percent(a.percent, 3),
                d90: uptime::format_percent(b.percent, 3),
            }
        })
        .collect();
    // Overall: outage minutes over counted minutes of all measured components together.
    let overall = |(w, c): (f64, f64)| if c > 0.0 { Some(100.0 * (1.0 - w / c)) } else { None };
    let since = (now - Duration::days(90)).naive_utc();
    let items = |kind: &str| -> Vec<Item> {
        snap.incidents
            .iter()
            .filter(|i| i.incident.kind == kind)
            .filter(|i| {
                kind == "maintenance" && i.is_open()
                    || i.incident.started_at.or(i.incident.scheduled_for).unwrap_or(i.incident.created_at)
                        >= since
            })
            .take(12)
            .map(|i| Item {
                name: i.incident.name.clone(),
                code: i.incident.code.clone(),
                when: when(
                    i.incident.started_at.or(i.incident.scheduled_for).unwrap_or(i.incident.created_at),
                ),
                status: label(&i.incident.status),
                impact: label(&i.incident.impact),
            })
            .collect()
    };
    render(&Panel {
        ctx: PageCtx::new(&req, "Reliability"),
        sla,
        rows,
        overall30: uptime::format_percent(overall(sums[0]), 3),
        overall90: uptime::format_percent(overall(sums[1]), 3),
        incidents: items("incident"),
        maintenance: items("maintenance"),
        updated: format!("{} UTC", snap.built_at.format("%Y-%m-%d %H:%M")),
        months: (1..=12u32)
            .filter_map(|k| {
                let first = chrono::NaiveDate::from_ymd_opt(
                    chrono::Datelike::year(&now),
                    chrono::Datelike::month(&now),
                    1,
                )?;
                Some(first.checked_sub_months(chrono::Months::new(k))?.format("%Y-%m").to_string())
            })
            .collect(),
        tenants,
        tenant,
        statements,
    })
}

#[derive(Debug, serde::Deserialize)]
struct GenerateForm {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    month: String,
}

async fn generate(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: crate::auth::CsrfForm<GenerateForm>,
) -> AppResult<HttpResponse> {
    let (p, f) = (form.principal, form.form);
    let tenant_id = f.tenant_id.trim().parse::<i64>().map_err(|_| AppError::NotFound)?;
    let tenants = tenant_choices(&p, &state).await?;
    let (tid, name) = tenants.into_iter().find(|(id, _)| *id == tenant_id).ok_or(AppError::NotFound)?;
    let now = state.now();
    let back = format!("/reliability?tenant={tid}");
    let current = now.format("%Y-%m").to_string();
    let window = super::statement::month_window(&f.month);
    let Some(window) = window.filter(|_| f.month < current) else {
        return Ok(crate::web::flash::redirect_with(&req, &back, "error", "Choose a month that has ended."));
    };
    let month = f.month.clone();
    let m2 = month.clone();
    if let Some(existing) = state.db(move |c| Ok(super::statement::find(c, tid, &m2)?)).await? {
        return Ok(crate::web::flash::redirect_with(
            &req,
            &back,
            "success",
            format!(
                "The statement for {} was already generated on {} UTC; it does not change.",
                existing.month,
                existing.generated_at.format("%Y-%m-%d")
            ),
        ));
    }
    let since = (window.from - chrono::Duration::days(1)).naive_utc();
    let snap = state.db(move |c| Ok(super::snapshot::build_with_history(c, now, since)?)).await?;
    let base = state.config().base_url.clone();
    let mut figures = super::statement::compute(&snap, &name, &month, &base, now)
        .ok_or_else(|| AppError::BadRequest("Unknown month.".into()))?;
    let tier = state.db(move |c| Ok(crate::support::tiers::effective(c, tid)?)).await?;
    figures.commitment =
        tier.and_then(|t| Some(format!("{}% monthly uptime ({} tier)", t.commitment()?, t.tier.name)));
    let f2 = figures.clone();
    let pdf = state.blocking(move || super::statement::render_pdf(&f2)).await?.map_err(AppError::internal)?;
    let hash = state.files().put(bytes::Bytes::from(pdf)).await.map_err(AppError::internal)?;
    let actor = crate::audit::Actor::of(&req, &p);
    let nowm = crate::db::now_micros(now);
    state
        .db(move |c| {
            Ok(crate::db::write_tx(c, |c| {
                let s = super::statement::insert(c, tid, &figures, &hash, nowm)?;
                crate::audit::record(
                    c,
                    &actor,
                    crate::audit::Event::new("sla_statement.generate", "sla_statement", s.id)
                        .tenant(Some(tid))
                        .details(serde_json::json!({"month": s.month, "overall": figures.overall, "pdf_sha256": s.pdf_sha256})),
                    nowm,
                )
            })?)
        })
        .await?;
    Ok(crate::web::flash::redirect_with(
        &req,
        &back,
        "success",
        format!("The SLA statement for {month} is ready to download."),
    ))
}

async fn statement_in_scope(
    p: &Principal,
    state: &AppState,
    id: i64,
) -> AppResult<super::statement::Statement> {
    let s = state.db(move |c| Ok(super::statement::by_id(c, id)?)).await?.ok_or(AppError::NotFound)?;
    p.scope.require(Action::ViewReliability, s.tenant_id)?;
    Ok(s)
}

async fn download_pdf(
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let s = statement_in_scope(&p, &state, id.into_inner()).await?;
    let bytes = state.files().get(&s.pdf_sha256).await.map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"keel-sla-statement-{}.pdf\"", s.month),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(bytes))
}

async fn download_csv(
    p: Principal,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let s = statement_in_scope(&p, &state, id.into_inner()).await?;
    let f = s.figures().ok_or_else(|| AppError::internal("statement figures unreadable"))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"keel-sla-statement-{}.csv\"", s.month),
        ))
        .body(super::statement::render_csv(&f)))
}
