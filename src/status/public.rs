//! Public pages (no sign-in): `/status`, `/status/incidents/{code}`, `/status/history`,
//! `/status/uptime` and the "explain this number" page. All read the snapshot only.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use super::model::Component;
use super::service::{badge_kind, label};
use super::snapshot::{IncidentView, Snapshot};
use super::uptime::{self, Window};
use crate::AppState;
use crate::error::{AppError, AppResult};

/// The page's title.
pub const PAGE_NAME: &str = "System status";

/// Mounts the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/status", web::get().to(status_page))
        .route("/status/incidents/{code}", web::get().to(incident_page))
        .route("/status/history", web::get().to(history_page))
        .route("/status/uptime", web::get().to(uptime_page))
        .route("/status/uptime/{component}", web::get().to(explain_page))
        .route("/history.atom", web::get().to(atom_feed))
        .route("/history.rss", web::get().to(rss_feed))
        .route("/status/maintenance.ics", web::get().to(ical_feed))
        .route("/status/badge.svg", web::get().to(badge))
        .route("/status/badge/{component}.svg", web::get().to(component_badge));
}

/// What every public page shares.
pub struct PublicCtx {
    /// Page title.
    pub title: String,
    /// When the data was read ("2026-11-23 14:05 UTC").
    pub updated: String,
    /// Set when the database could not be reached since then.
    pub stale: bool,
}

impl PublicCtx {
    /// The context for a page titled `title`.
    pub fn of(snap: &Snapshot, title: &str) -> Self {
        Self::new(snap, title)
    }

    fn new(snap: &Snapshot, title: &str) -> Self {
        Self {
            title: title.to_string(),
            updated: format!("{} UTC", snap.built_at.format("%Y-%m-%d %H:%M")),
            stale: snap.stale_since.is_some(),
        }
    }
}

/// A time as the public pages show it.
pub fn when(t: chrono::NaiveDateTime) -> String {
    format!("{} UTC", t.format("%b %-d, %Y %H:%M"))
}

/// [`when`] for templates, which hold references.
pub fn when_ref(t: &chrono::NaiveDateTime) -> String {
    when(*t)
}

/// Minutes with one decimal, for the explain page.
pub fn minutes(m: &f64) -> String {
    format!("{m:.1}")
}

/// A component row on the page.
pub struct Row {
    /// The component.
    pub c: Component,
    /// Its status label.
    pub label: &'static str,
    /// Its badge kind.
    pub kind: &'static str,
    /// 90-day strip SVG and uptime ("" when not a showcase component).
    pub strip: String,
    /// Uptime over 90 days.
    pub percent: String,
    /// Children, for a group.
    pub children: Vec<Row>,
}

fn row(snap: &Snapshot, c: &Component) -> Row {
    let strip = snap.strips.get(&c.id);
    Row {
        label: label(&c.status),
        kind: badge_kind(&c.status),
        strip: strip.map(|s| s.svg.clone()).unwrap_or_default(),
        percent: strip.map(|s| s.percent.clone()).unwrap_or_default(),
        children: snap
            .children(c.id)
            .into_iter()
            .filter(|k| !(k.only_show_if_degraded && k.status == "operational"))
            .map(|k| row(snap, k))
            .collect(),
        c: c.clone(),
    }
}

/// The rows of the page: top-level components and groups with their children.
pub fn rows(snap: &Snapshot) -> Vec<Row> {
    snap.components
        .iter()
        .filter(|c| c.group_id.is_none())
        .filter(|c| !(c.only_show_if_degraded && c.status == "operational"))
        .map(|c| row(snap, c))
        .collect()
}

/// An incident card.
pub struct Card {
    /// The incident.
    pub view: IncidentView,
    /// Its status label.
    pub status_label: &'static str,
    /// Latest update, as safe HTML.
    pub latest_html: String,
    /// When the latest update was posted.
    pub latest_at: String,
}

fn card(v: &IncidentView) -> Card {
    Card {
        status_label: label(&v.incident.status),
        latest_html: v.latest().map(|u| super::markdown::to_safe_html(&u.body)).unwrap_or_default(),
        latest_at: v.latest().map(|u| when(u.display_at)).unwrap_or_default(),
        view: v.clone(),
    }
}

#[derive(Template)]
#[template(path = "status/page.html")]
struct StatusPage {
    p: PublicCtx,
    indicator: String,
    description: String,
    rows: Vec<Row>,
    active: Vec<Card>,
    maintenance: Vec<Card>,
    recent: Vec<Card>,
}

fn etag(snap: &Snapshot, extra: &str) -> String {
    format!("\"{}-{}-{}\"", snap.built_at.timestamp_micros(), u8::from(snap.stale_since.is_some()), extra)
}

/// Serves a public page with caching headers (304 when the snapshot is unchanged).
fn public_response(
    req: &HttpRequest,
    snap: &Snapshot,
    tag: String,
    content_type: &str,
    body: impl FnOnce() -> AppResult<String>,
) -> AppResult<HttpResponse> {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut b = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    b.insert_header((header::ETAG, tag.clone())).insert_header((header::CACHE_CONTROL, "public, max-age=30"));
    if fresh {
        return Ok(b.finish());
    }
    let bytes = snap.cached(&tag, body)?;
    Ok(b.content_type(content_type.to_string()).body(bytes))
}

async fn status_page(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap: Arc<Snapshot> = state.status_snapshot();
    public_response(&req, &snap, etag(&snap, "page"), "text/html; charset=utf-8", || {
        let since = (snap.built_at - Duration::days(7)).naive_utc();
        let page = StatusPage {
            p: PublicCtx::new(&snap, PAGE_NAME),
            indicator: snap.overall.0.clone(),
            description: snap.overall.1.clone(),
            rows: rows(&snap),
            active: snap.active_incidents().into_iter().map(card).collect(),
            maintenance: snap.upcoming_maintenance().into_iter().map(card).collect(),
            recent: snap
                .incidents
                .iter()
                .filter(|i| i.incident.kind == "incident" && !i.is_open())
                .filter(|i| i.incident.resolved_at.unwrap_or(i.incident.updated_at) >= since)
                .take(5)
                .map(card)
                .collect(),
        };
        Ok(page.render()?)
    })
}

/// One update on the incident page.
struct UpdateView {
    status: &'static str,
    at: String,
    html: String,
}

#[derive(Template)]
#[template(path = "status/incident.html")]
struct IncidentPage {
    p: PublicCtx,
    v: IncidentView,
    status_label: &'static str,
    impact_label: &'static str,
    updates: Vec<UpdateView>,
    postmortem_html: String,
    window: String,
}

async fn incident_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let v = snap.by_code(&code).ok_or(AppError::NotFound)?.clone();
    public_response(&req, &snap, etag(&snap, &v.incident.code), "text/html; charset=utf-8", || {
        let i = &v.incident;
        let window = if i.kind == "maintenance" {
            match (i.scheduled_for, i.scheduled_until) {
                (Some(a), Some(b)) => format!("Scheduled from {} to {}", when(a), when(b)),
                _ => String::new(),
            }
        } else {
            match (i.started_at, i.resolved_at) {
                (Some(a), Some(b)) => format!("Customers were affected from {} to {}", when(a), when(b)),
                (Some(a), None) => format!("Customers affected since {}", when(a)),
                _ => String::new(),
            }
        };
        let page = IncidentPage {
            p: PublicCtx::new(&snap, &i.name),
            status_label: label(&i.status),
            impact_label: label(&i.impact),
            updates: v
                .updates
                .iter()
                .map(|u| UpdateView {
                    status: label(&u.status),
                    at: when(u.display_at),
                    html: super::markdown::to_safe_html(&u.body),
                })
                .collect(),
            postmortem_html: match (&i.postmortem_body, i.postmortem_published_at) {
                (Some(b), Some(_)) => super::markdown::to_safe_html(b),
                _ => String::new(),
            },
            window,
            v: v.clone(),
        };
        Ok(page.render()?)
    })
}

#[derive(Debug, Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

#[derive(Template)]
#[template(path = "status/history.html")]
struct HistoryPage {
    p: PublicCtx,
    months: Vec<(String, Vec<Card>)>,
    newer: String,
    older: String,
}

fn month_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d)
}

async fn history_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<MonthQuery>,
) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    // Three months per page, newest first, ending at the requested month.
    let today = month_start(snap.built_at.date_naive());
    let end = q
        .month
        .as_deref()
        .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
        .map(month_start)
        .filter(|m| *m <= today)
        .unwrap_or(today);
    let tag = etag(&snap, &format!("history-{end}"));
    public_response(&req, &snap, tag, "text/html; charset=utf-8", || {
        let mut months = Vec::new();
        for k in 0..3u32 {
            let Some(m) = end.checked_sub_months(Months::new(k)) else { break };
            let next = m.checked_add_months(Months::new(1)).unwrap_or(m);
            let cards = snap
                .incidents
                .iter()
                .filter(|i| {
                    let d = i
                        .incident
                        .started_at
                        .or(i.incident.scheduled_for)
                        .unwrap_or(i.incident.created_at)
                        .date();
                    m <= d && d < next
                })
                .map(card)
                .collect();
            months.push((m.format("%B %Y").to_string(), cards));
        }
        let older =
            end.checked_sub_months(Months::new(3)).map(|m| m.format("%Y-%m").to_string()).unwrap_or_default();
        let newer = if end < today {
            end.checked_add_months(Months::new(3))
                .map(|m| m.min(today).format("%Y-%m").to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(HistoryPage { p: PublicCtx::new(&snap, "Incident history"), months, newer, older }.render()?)
    })
}

/// One component's uptime for the last months.
struct UptimeRow {
    c: Component,
    cells: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "status/uptime.html")]
struct UptimePage {
    p: PublicCtx,
    months: Vec<String>,
    rows: Vec<UptimeRow>,
}

/// The calendar months (first instant, last instant) ending with the current one.
fn last_months(now: DateTime<Utc>, n: u32) -> Vec<(String, Window, String)> {
    let this = month_start(now.date_naive());
    (0..n)
        .rev()
        .filter_map(|k| {
            let m = this.checked_sub_months(Months::new(k))?;
            let next = m.checked_add_months(Months::new(1))?;
            let from = Utc.from_utc_datetime(&m.and_hms_opt(0, 0, 0)?);
            let to = Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0)?);
            Some((m.format("%b %Y").to_string(), Window { from, to }, m.format("%Y-%m").to_string()))
        })
        .collect()
}

async fn uptime_page(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    public_response(&req, &snap, etag(&snap, "uptime"), "text/html; charset=utf-8", || {
        let months = last_months(snap.built_at, 3);
        let rows = snap
            .components
            .iter()
            .filter(|c| c.showcase && !c.is_group)
            .map(|c| UptimeRow {
                cells: months
                    .iter()
                    .map(|(_, w, key)| {
                        (uptime::format_percent(snap.uptime_of(c, *w, snap.built_at).percent, 3), key.clone())
                    })
                    .collect(),
                c: c.clone(),
            })
            .collect();
        Ok(UptimePage {
            p: PublicCtx::new(&snap, "Uptime"),
            months: months.into_iter().map(|(l, _, _)| l).collect(),
            rows,
        }
        .render()?)
    })
}

#[derive(Debug, Deserialize)]
struct ExplainQuery {
    month: Option<String>,
    days: Option<u32>,
}

#[derive(Template)]
#[template(path = "status/explain.html")]
struct ExplainPage {
    p: PublicCtx,
    c: Component,
    window_label: String,
    u: uptime::Uptime,
    percent: String,
    counted: Vec<(String, String, &'static str, String, String, String)>,
    maintenance_windows: usize,
}

async fn explain_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ExplainQuery>,
) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let c =
        snap.components.iter().find(|c| c.public_id == *id && !c.is_group).ok_or(AppError::NotFound)?.clone();
    let now = snap.built_at;
    let (window, window_label) = match (&q.month, q.days) {
        (Some(m), _) => {
            let months = last_months(now, 24);
            let (l, w, _) = months.into_iter().find(|(_, _, k)| k == m).ok_or(AppError::NotFound)?;
            (w, l)
        }
        (None, Some(d)) if (1..=365).contains(&d) => {
            (Window { from: now - Duration::days(i64::from(d)), to: now }, format!("the last {d} days"))
        }
        (None, Some(_)) => return Err(AppError::NotFound),
        (None, None) => (Window { from: now - Duration::days(90), to: now }, "the last 90 days".into()),
    };
    let tag = etag(
        &snap,
        &format!("explain-{}-{}-{}", c.public_id, window.from.timestamp(), window.to.timestamp()),
    );
    public_response(&req, &snap, tag, "text/html; charset=utf-8", || {
        let u = snap.uptime_of(&c, window, now);
        let (_, maintenance) = snap.inputs_for(c.id);
        let counted = u
            .intervals
            .iter()
            .map(|i| {
                (
                    when(i.from.naive_utc()),
                    when(i.to.naive_utc()),
                    label(i.status.as_str()),
                    format!("{:.1}", i.minutes),
                    format!("{}", i.weight),
                    format!("{:.1}", i.weighted_minutes),
                )
            })
            .collect();
        let page = ExplainPage {
            p: PublicCtx::new(&snap, &format!("{}: how uptime is measured", c.name)),
            percent: uptime::format_percent(u.percent, 3),
            window_label,
            maintenance_windows: maintenance
                .iter()
                .filter(|m| m.to > window.from && m.from < window.to)
                .count(),
            counted,
            u,
            c: c.clone(),
        };
        Ok(page.render()?)
    })
}

fn feed_inputs(
    state: &AppState,
    snap: &Snapshot,
    self_path: &str,
) -> (super::feeds::FeedMeta, Vec<super::feeds::FeedEntry>) {
    let base = state.config().base_url.clone();
    let host = base.split("://").nth(1).unwrap_or("keel").split('/').next().unwrap_or("keel").to_string();
    let meta = super::feeds::FeedMeta {
        title: PAGE_NAME.to_string(),
        page_url: format!("{base}/status"),
        self_url: format!("{base}{self_path}"),
        updated: snap.built_at,
        host,
    };
    let entries = snap
        .incidents
        .iter()
        .take(50)
        .map(|v| super::feeds::FeedEntry {
            id: v.incident.public_id.clone(),
            kind: v.incident.kind.clone(),
            title: v.incident.name.clone(),
            link: format!("{base}/status/incidents/{}", v.incident.code),
            status: v.incident.status.clone(),
            created_at: v.incident.created_at.and_utc(),
            updated_at: v.incident.updated_at.and_utc(),
            updates: v
                .updates
                .iter()
                .map(|u| super::feeds::FeedUpdate {
                    status_label: label(&u.status).to_string(),
                    body_text: super::markdown::to_text(&u.body),
                    body_html: super::markdown::to_safe_html(&u.body),
                    at: u.display_at.and_utc(),
                })
                .collect(),
            scheduled_for: v.incident.scheduled_for.map(|t| t.and_utc()),
            scheduled_until: v.incident.scheduled_until.map(|t| t.and_utc()),
            sequence: v.incident.ics_sequence,
            cancelled: false,
        })
        .collect();
    (meta, entries)
}

async fn atom_feed(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    public_response(&req, &snap, etag(&snap, "atom"), "application/atom+xml; charset=utf-8", || {
        let (meta, entries) = feed_inputs(&state, &snap, "/history.atom");
        Ok(super::feeds::atom(&meta, &entries))
    })
}

async fn rss_feed(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    public_response(&req, &snap, etag(&snap, "rss"), "application/rss+xml; charset=utf-8", || {
        let (meta, entries) = feed_inputs(&state, &snap, "/history.rss");
        Ok(super::feeds::rss(&meta, &entries))
    })
}

async fn ical_feed(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    public_response(&req, &snap, etag(&snap, "ics"), "text/calendar; charset=utf-8", || {
        let (meta, entries) = feed_inputs(&state, &snap, "/status/maintenance.ics");
        Ok(super::feeds::ical(&meta, &entries))
    })
}

fn badge_response(req: &HttpRequest, snap: &Snapshot, tag: &str, svg: String) -> AppResult<HttpResponse> {
    let mut resp = public_response(req, snap, etag(snap, tag), "image/svg+xml", || Ok(svg))?;
    // Badges are embedded in other sites' pages.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *"),
    );
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    Ok(resp)
}

async fn badge(req: HttpRequest, state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let class = match snap.overall.0.as_str() {
        "none" => "operational",
        "minor" => "degraded",
        "major" => "partial",
        "critical" => "major",
        "maintenance" => "maintenance",
        _ => "unknown",
    };
    let svg = super::feeds::badge_svg("status", &snap.overall.1.to_lowercase(), class);
    badge_response(&req, &snap, "badge", svg)
}

async fn component_badge(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let snap = state.status_snapshot();
    let c = snap.components.iter().find(|c| c.public_id == *id && !c.is_group).ok_or(AppError::NotFound)?;
    let svg = super::feeds::badge_svg(&c.name, &label(&c.status).to_lowercase(), badge_kind(&c.status));
    badge_response(&req, &snap, &format!("badge-{}", c.public_id), svg)
}
