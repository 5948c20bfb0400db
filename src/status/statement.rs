//! Monthly SLA statements: a frozen record of one month's measured uptime for a tenant,
//! generated once (after the month ends) and downloadable as PDF and CSV so a district can file
//! it with its board or auditors. The PDF is rendered once and stored by its SHA-256.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use genpdf::elements::{Break, FrameCellDecorator, Paragraph, TableLayout};
use genpdf::style::Style;
use genpdf::{Alignment, Element};
use serde::{Deserialize, Serialize};

use super::snapshot::Snapshot;
use super::uptime::{self, Window};
use crate::db::DbConn;
use crate::db::schema::sla_statements as st;

/// One component's figures for the month.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComponentFigure {
    pub name: String,
    /// Truncated to 3 decimals, e.g. "99.987"; "No data" before a component started.
    pub uptime: String,
    pub counted_minutes: f64,
    pub excluded_maintenance_minutes: f64,
    pub weighted_outage_minutes: f64,
}

/// One incident of the month.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentFigure {
    pub name: String,
    pub impact: String,
    pub started: String,
    pub resolved: String,
    pub link: String,
}

/// Everything a statement freezes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    /// `YYYY-MM`.
    pub month: String,
    /// The tenant's name.
    pub tenant: String,
    /// Overall platform uptime (all measured components together), truncated.
    pub overall: String,
    pub components: Vec<ComponentFigure>,
    pub incidents: Vec<IncidentFigure>,
    /// The SLA commitment, once the tenant has a tier with one.
    pub commitment: Option<String>,
    /// When it was computed (RFC 3339).
    pub generated_at: String,
}

/// A stored statement.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = st)]
pub struct Statement {
    pub id: i64,
    pub tenant_id: i64,
    pub month: String,
    pub generated_at: NaiveDateTime,
    pub figures: String,
    pub pdf_sha256: String,
}

impl Statement {
    /// The frozen figures.
    pub fn figures(&self) -> Option<Figures> {
        serde_json::from_str(&self.figures).ok()
    }
}

/// The window of a calendar month (UTC), or None for a malformed month.
pub fn month_window(month: &str) -> Option<Window> {
    let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
    let next = first.checked_add_months(Months::new(1))?;
    Some(Window {
        from: Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0)?),
        to: Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0)?),
    })
}

/// The month before the one containing `now`, as `YYYY-MM`.
pub fn previous_month(now: DateTime<Utc>) -> String {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or(now.date_naive());
    first.checked_sub_months(Months::new(1)).unwrap_or(first).format("%Y-%m").to_string()
}

/// Overall uptime from summed outage and counted minutes (None before anything was measured).
fn overall_of(weighted: f64, counted: f64) -> Option<f64> {
    if counted > 0.0 { Some(100.0 * (1.0 - weighted / counted)) } else { None }
}

/// A month's overall platform uptime in percent: every measured component together, the same
/// figure the statement and the reliability panel show (None for a malformed month or before
/// anything was measured). SLA credit claims use it.
pub fn month_uptime(snap: &Snapshot, month: &str, now: DateTime<Utc>) -> Option<f64> {
    let w = month_window(month)?;
    let (mut weighted, mut counted) = (0.0, 0.0);
    for c in snap.components.iter().filter(|c| c.showcase && !c.is_group) {
        let u = snap.uptime_of(c, w, now);
        weighted += u.weighted_outage_minutes;
        counted += u.counted_minutes;
    }
    overall_of(weighted, counted)
}

/// Computes a month's figures from the snapshot (the same uptime function as everywhere).
pub fn compute(
    snap: &Snapshot,
    tenant: &str,
    month: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Option<Figures> {
    let w = month_window(month)?;
    let (mut weighted, mut counted) = (0.0, 0.0);
    let components = snap
        .components
        .iter()
        .filter(|c| c.showcase && !c.is_group)
        .map(|c| {
            let u = snap.uptime_of(c, w, now);
            weighted += u.weighted_outage_minutes;
            counted += u.counted_minutes;
            ComponentFigure {
                name: c.name.clone(),
                uptime: uptime::format_percent(u.percent, 3),
                counted_minutes: u.counted_minutes,
                excluded_maintenance_minutes: u.excluded_maintenance_minutes,
                weighted_outage_minutes: u.weighted_outage_minutes,
            }
        })
        .collect();
    let overall = uptime::format_percent(overall_of(weighted, counted), 3);
    let fmt = |t: NaiveDateTime| format!("{} UTC", t.format("%Y-%m-%d %H:%M"));
    let incidents = snap
        .incidents
        .iter()
        .filter(|i| i.incident.kind == "incident")
        .filter(|i| {
            let s = i.incident.started_at.unwrap_or(i.incident.created_at).and_utc();
            let e = i.incident.resolved_at.map(|t| t.and_utc()).unwrap_or(now);
            s < w.to && e > w.from
        })
        .map(|i| IncidentFigure {
            name: i.incident.name.clone(),
            impact: super::service::label(&i.incident.impact).to_string(),
            started: fmt(i.incident.started_at.unwrap_or(i.incident.created_at)),
            resolved: i.incident.resolved_at.map(fmt).unwrap_or_else(|| "ongoing".into()),
            link: format!("{base_url}/status/incidents/{}", i.incident.code),
        })
        .collect();
    Some(Figures {
        month: month.to_string(),
        tenant: tenant.to_string(),
        overall,
        components,
        incidents,
        commitment: None,
        generated_at: now.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

use crate::web::pdf::{fonts, latin1};

/// Renders the statement PDF (A4, text selectable).
pub fn render_pdf(f: &Figures) -> Result<Vec<u8>, String> {
    let mut doc = genpdf::Document::new(fonts()?);
    doc.set_title(latin1(&format!("SLA statement {} - {}", f.month, f.tenant)));
    doc.set_minimal_conformance();
    doc.set_font_size(10);
    let mut deco = genpdf::SimplePageDecorator::new();
    deco.set_margins(18);
    doc.set_page_decorator(deco);
    let bold = Style::new().bold();
    doc.push(Paragraph::new(genpdf::style::StyledString::new("Keel", bold.with_font_size(14))));
    doc.push(
        Paragraph::new(latin1(&format!("Monthly SLA statement - {}", f.month)))
            .aligned(Alignment::Right)
            .styled(Style::new().bold().with_font_size(16)),
    );
    doc.push(Break::new(1.0));
    doc.push(Paragraph::new(latin1(&format!("Customer: {}", f.tenant))));
    doc.push(Paragraph::new(latin1(&format!("Period: {} (UTC, whole calendar month)", f.month))));
    doc.push(Paragraph::new(latin1(&format!("Generated: {}", f.generated_at))));
    doc.push(Break::new(1.0));
    doc.push(
        Paragraph::new(latin1(&format!("Platform uptime: {}%", f.overall)))
            .styled(Style::new().bold().with_font_size(13)),
    );
    if let Some(c) = &f.commitment {
        doc.push(Paragraph::new(latin1(&format!("Commitment: {c}"))));
    }
    doc.push(Break::new(1.0));
    let mut t = TableLayout::new(vec![4, 2, 2, 2, 2]);
    t.set_cell_decorator(FrameCellDecorator::new(true, true, false));
    let head = |s: &str| {
        Paragraph::new(genpdf::style::StyledString::new(s.to_string(), Style::new().bold())).padded(1)
    };
    t.row()
        .element(head("Component"))
        .element(head("Uptime %"))
        .element(head("Counted min"))
        .element(head("Maint. min"))
        .element(head("Outage min"))
        .push()
        .map_err(|e| e.to_string())?;
    for c in &f.components {
        let right = |s: String| Paragraph::new(s).aligned(Alignment::Right).padded(1);
        t.row()
            .element(Paragraph::new(latin1(&c.name)).padded(1))
            .element(right(c.uptime.clone()))
            .element(right(format!("{:.1}", c.counted_minutes)))
            .element(right(format!("{:.1}", c.excluded_maintenance_minutes)))
            .element(right(format!("{:.1}", c.weighted_outage_minutes)))
            .push()
            .map_err(|e| e.to_string())?;
    }
    doc.push(t);
    doc.push(Break::new(1.0));
    doc.push(Paragraph::new("Incidents in the period").styled(Style::new().bold()));
    if f.incidents.is_empty() {
        doc.push(Paragraph::new("None."));
    }
    for i in &f.incidents {
        doc.push(Paragraph::new(latin1(&format!(
            "- {} ({} impact): {} to {}",
            i.name, i.impact, i.started, i.resolved
        ))));
        doc.push(Paragraph::new(latin1(&format!("  {}", i.link))).styled(Style::new().with_font_size(8)));
    }
    doc.push(Break::new(1.5));
    doc.push(
        Paragraph::new(latin1(
            "Method: uptime = 100 x (1 - weighted outage minutes / (minutes in the month - announced maintenance minutes)). \
             Major outage counts 1, partial outage 0.3, degraded performance 0. Outages during maintenance still count. \
             Figures are truncated, never rounded up. This statement is frozen when generated and will not change.",
        ))
        .styled(Style::new().with_font_size(8)),
    );
    let mut out = Vec::new();
    doc.render(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The statement as CSV.
pub fn render_csv(f: &Figures) -> String {
    let q = crate::web::csv::field;
    let mut out = String::from(
        "month,tenant,component,uptime_percent,counted_minutes,excluded_maintenance_minutes,weighted_outage_minutes\n",
    );
    for c in &f.components {
        out.push_str(&format!(
            "{},{},{},{},{:.1},{:.1},{:.1}\n",
            q(&f.month),
            q(&f.tenant),
            q(&c.name),
            q(&c.uptime),
            c.counted_minutes,
            c.excluded_maintenance_minutes,
            c.weighted_outage_minutes
        ));
    }
    out.push_str(&format!("{},{},{},{},,,\n", q(&f.month), q(&f.tenant), q("Overall"), q(&f.overall)));
    out
}

/// The statement of a tenant and month, if generated.
pub fn find(c: &mut DbConn, tenant: i64, month: &str) -> QueryResult<Option<Statement>> {
    st::table
        .filter(st::tenant_id.eq(tenant))
        .filter(st::month.eq(month))
        .select(Statement::as_select())
        .first(c)
        .optional()
}

/// A statement by id.
pub fn by_id(c: &mut DbConn, id: i64) -> QueryResult<Option<Statement>> {
    st::table.find(id).select(Statement::as_select()).first(c).optional()
}

/// A tenant's statements, newest first.
pub fn of_tenant(c: &mut DbConn, tenant: i64) -> QueryResult<Vec<Statement>> {
    st::table.filter(st::tenant_id.eq(tenant)).order(st::month.desc()).select(Statement::as_select()).load(c)
}

/// Stores a statement unless one exists for (tenant, month); returns the stored one.
pub fn insert(
    c: &mut DbConn,
    tenant: i64,
    f: &Figures,
    pdf_sha256: &str,
    now: NaiveDateTime,
) -> QueryResult<Statement> {
    if let Some(s) = find(c, tenant, &f.month)? {
        return Ok(s);
    }
    diesel::insert_into(st::table)
        .values((
            st::tenant_id.eq(tenant),
            st::month.eq(&f.month),
            st::generated_at.eq(now),
            st::figures.eq(serde_json::to_string(f).unwrap_or_default()),
            st::pdf_sha256.eq(pdf_sha256),
        ))
        .execute(c)?;
    find(c, tenant, &f.month)?.ok_or(diesel::result::Error::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let w = month_window("2026-02");
        assert_eq!(w.map(|w| (w.to - w.from).num_days()), Some(28));
        assert!(month_window("2026-13").is_none());
        let now = Utc.with_ymd_and_hms(2026, 1, 15, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(previous_month(now), "2025-12");
    }

    #[test]
    fn pdf_renders_and_csv_quotes() {
        let f = Figures {
            month: "2026-10".into(),
            tenant: "Lincoln Public Schools".into(),
            overall: "99.981".into(),
            components: vec![ComponentFigure {
                name: "=HYPERLINK(\"x\")".into(),
                uptime: "99.981".into(),
                counted_minutes: 44640.0,
                excluded_maintenance_minutes: 120.0,
                weighted_outage_minutes: 8.4,
            }],
            incidents: vec![],
            commitment: None,
            generated_at: "2026-11-02T06:00:00Z".into(),
        };
        let pdf = render_pdf(&f).unwrap_or_default();
        assert!(pdf.starts_with(b"%PDF"));
        assert!(pdf.len() < 100_000, "built-in fonts keep it small: {}", pdf.len());
        let csv = render_csv(&f);
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
    }
}
