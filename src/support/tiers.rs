//! SLA tiers: per severity a first-response and a resolution target (calendar hours, business
//! hours or business days on the tier's calendar), the contact methods a tenant sees, and the
//! monthly uptime commitment with its credit schedule. A school without its own tier has its
//! district's.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::calendar::{self, BusinessCalendar, Clock, Target};
use crate::db::DbConn;
use crate::db::schema::{sla_holidays as sh, sla_targets as stg, sla_tiers as tr, tenants};

/// The severities, most urgent first.
pub const SEVERITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];

/// What each severity means, in one line (shown on the request form).
pub fn severity_definition(s: &str) -> &'static str {
    match s {
        "P1" => {
            "Critical: the product is down or unusable for a whole school or district, with no workaround."
        }
        "P2" => {
            "High: a key feature (recording, reporting, sign-in) fails for many users; a workaround is hard."
        }
        "P3" => "Normal: something is wrong for some users, or there is a workaround.",
        _ => "Low: a question, a how-to, or a small cosmetic problem.",
    }
}

/// A severity in one word.
pub fn severity_word(s: &str) -> &'static str {
    match s {
        "P1" => "Critical",
        "P2" => "High",
        "P3" => "Normal",
        _ => "Low",
    }
}

/// The request categories and their labels.
pub const CATEGORIES: [(&str, &str); 5] = [
    ("login", "Signing in"),
    ("recording", "Recording"),
    ("reporting", "Reporting"),
    ("billing", "Billing"),
    ("other", "Something else"),
];

/// A category's label.
pub fn category_label(key: &str) -> &'static str {
    CATEGORIES.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or("Something else")
}

/// Target units: (stored name, label).
pub const UNITS: [(&str, &str); 3] = [
    ("calendar_hours", "hours, around the clock"),
    ("business_hours", "business hours"),
    ("business_days", "business days"),
];

/// A tier.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tr)]
pub struct Tier {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub position: i32,
    /// Shown to tenants ("email us at ...").
    pub support_email: String,
    /// Shown to tenants when set.
    pub support_phone: String,
    /// Where new requests are sent (empty: the vendor's own address).
    pub routing_email: String,
    pub time_zone: String,
    /// e.g. `Mon-Fri`.
    pub working_days: String,
    /// `HH:MM`.
    pub opens: String,
    /// `HH:MM`.
    pub closes: String,
    /// Monthly uptime commitment in percent (e.g. `99.9`); empty for none.
    pub uptime_commitment: String,
    /// JSON list of [`CreditStep`].
    pub credit_schedule: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One severity's targets.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stg)]
pub struct TargetRow {
    pub tier_id: i64,
    pub severity: String,
    pub response_amount: Option<i32>,
    pub response_unit: String,
    pub resolution_amount: Option<i32>,
    pub resolution_unit: String,
}

/// A holiday on a tier's calendar.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sh)]
pub struct HolidayRow {
    pub id: i64,
    pub tier_id: i64,
    pub day: NaiveDate,
    pub name: String,
}

/// One step of a credit schedule: uptime below `below` percent earns `credit` percent of the
/// month's fee (the largest matching step applies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditStep {
    /// A percent as typed, e.g. "99.9".
    pub below: String,
    /// Percent of the month's fee.
    pub credit: u32,
}

impl CreditStep {
    fn below_value(&self) -> f64 {
        self.below.parse().unwrap_or(0.0)
    }
}

/// Which target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The first response.
    Response,
    /// The resolution.
    Resolution,
}

/// A tier with its targets and holidays; `inherited_from` names the district when a school
/// has no tier of its own.
#[derive(Debug, Clone)]
pub struct TierFull {
    pub tier: Tier,
    pub targets: Vec<TargetRow>,
    pub holidays: Vec<HolidayRow>,
    pub inherited_from: Option<String>,
}

/// Parses `HH:MM`.
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

impl TierFull {
    /// The tier's business calendar (falls back to Mon-Fri 8-18 UTC for unreadable settings,
    /// which the edit form never stores).
    pub fn calendar(&self) -> BusinessCalendar {
        let tz = self.tier.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let mut cal = BusinessCalendar::weekdays(tz);
        if let Ok(days) = calendar::parse_days(&self.tier.working_days) {
            cal.working_days = days;
        }
        if let (Some(o), Some(c)) = (parse_time(&self.tier.opens), parse_time(&self.tier.closes))
            && c > o
        {
            cal.opens = o;
            cal.closes = c;
        }
        cal.holidays = self.holidays.iter().map(|h| h.day).collect::<BTreeSet<_>>();
        cal
    }

    /// The target for a severity, if the tier has one.
    pub fn target(&self, severity: &str, which: Which) -> Option<Target> {
        let row = self.targets.iter().find(|t| t.severity == severity)?;
        let (amount, unit) = match which {
            Which::Response => (row.response_amount?, row.response_unit.as_str()),
            Which::Resolution => (row.resolution_amount?, row.resolution_unit.as_str()),
        };
        Some(unit_target(i64::from(amount), unit, &self.calendar()))
    }

    /// When a target started at `start` falls due.
    pub fn due(&self, severity: &str, which: Which, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = self.target(severity, which)?;
        Some(calendar::due_at(&self.calendar(), start, t))
    }

    /// True when the tier promises any response time.
    pub fn has_targets(&self) -> bool {
        self.targets.iter().any(|t| t.response_amount.is_some())
    }

    /// The promise for a severity, in plain words.
    pub fn sentence(&self, severity: &str) -> String {
        let cal = self.calendar();
        let Some(resp) = self.target(severity, Which::Response) else {
            return format!("{severity}: best effort, no guaranteed response time.");
        };
        let when =
            if resp.clock == Clock::Business { format!(", {}", cal.describe()) } else { String::new() };
        let mut s = format!("We reply to {severity} requests within {}{when}", resp.describe(&cal));
        if let Some(res) = self.target(severity, Which::Resolution) {
            s.push_str(&format!(", and aim to resolve them within {}", res.describe(&cal)));
        }
        s.push('.');
        s
    }

    /// The monthly uptime commitment in percent.
    pub fn commitment(&self) -> Option<f64> {
        commitment_of(&self.tier)
    }

    /// The credit schedule.
    pub fn schedule(&self) -> Vec<CreditStep> {
        schedule_of(&self.tier)
    }
}

/// A tier's commitment in percent.
pub fn commitment_of(t: &Tier) -> Option<f64> {
    t.uptime_commitment.trim().parse::<f64>().ok().filter(|v| *v > 0.0 && *v <= 100.0)
}

/// A tier's credit schedule, largest threshold first.
pub fn schedule_of(t: &Tier) -> Vec<CreditStep> {
    let mut v: Vec<CreditStep> = serde_json::from_str(&t.credit_schedule).unwrap_or_default();
    v.sort_by(|a, b| b.below_value().total_cmp(&a.below_value()));
    v
}

/// The credit (percent of the month's fee) a measured uptime earns: the largest step whose
/// threshold it is below; 0 when it meets them all.
pub fn credit_for(schedule: &[CreditStep], uptime: f64) -> u32 {
    schedule.iter().filter(|s| uptime < s.below_value()).map(|s| s.credit).max().unwrap_or(0)
}

/// Parses a credit schedule typed one step per line ("99.9 10" or "< 99.9% : 10%").
pub fn parse_schedule(text: &str) -> Result<Vec<CreditStep>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let cleaned: String =
            line.chars().map(|c| if c.is_ascii_digit() || c == '.' { c } else { ' ' }).collect();
        let parts: Vec<&str> = cleaned.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let bad = || format!("Line {}: write the uptime and the credit, e.g. \"99.9 10\".", n + 1);
        let [below, credit] = parts[..] else { return Err(bad()) };
        let b: f64 = below.parse().map_err(|_| bad())?;
        let c: u32 = credit.parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&b) || c > 100 {
            return Err(format!("Line {}: both figures are percents between 0 and 100.", n + 1));
        }
        out.push(CreditStep { below: below.to_string(), credit: c });
    }
    out.sort_by(|a, b| b.below_value().total_cmp(&a.below_value()));
    Ok(out)
}

/// A schedule as the form shows it.
pub fn format_schedule(s: &[CreditStep]) -> String {
    s.iter().map(|x| format!("{} {}", x.below, x.credit)).collect::<Vec<_>>().join("\n")
}

/// A schedule in plain words: "below 99.9%: 10% credit; below 99.0%: 25% credit".
pub fn describe_schedule(s: &[CreditStep]) -> String {
    s.iter()
        .map(|x| format!("below {}%: {}% of the month's fee", x.below, x.credit))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A stored amount and unit as a target.
pub fn unit_target(amount: i64, unit: &str, cal: &BusinessCalendar) -> Target {
    match unit {
        "calendar_hours" => Target::calendar_hours(amount),
        "business_days" => Target::business_days(amount, cal),
        _ => Target::business_hours(amount),
    }
}

/// Every tier in display order.
pub fn all(c: &mut DbConn) -> QueryResult<Vec<Tier>> {
    tr::table.order((tr::position, tr::id)).select(Tier::as_select()).load(c)
}

/// One tier with its targets and holidays.
pub fn full(c: &mut DbConn, id: i64) -> QueryResult<TierFull> {
    let tier = tr::table.find(id).select(Tier::as_select()).first(c)?;
    let targets =
        stg::table.filter(stg::tier_id.eq(id)).order(stg::severity).select(TargetRow::as_select()).load(c)?;
    let holidays =
        sh::table.filter(sh::tier_id.eq(id)).order(sh::day).select(HolidayRow::as_select()).load(c)?;
    Ok(TierFull { tier, targets, holidays, inherited_from: None })
}

/// The tier that applies to a tenant: its own, else its district's; None when neither has one.
pub fn effective(c: &mut DbConn, tenant: i64) -> QueryResult<Option<TierFull>> {
    let (own, parent): (Option<i64>, Option<i64>) =
        tenants::table.find(tenant).select((tenants::sla_tier_id, tenants::parent_id)).first(c)?;
    if let Some(id) = own {
        return Ok(Some(full(c, id)?));
    }
    let Some(pid) = parent else { return Ok(None) };
    let (tier, name): (Option<i64>, String) =
        tenants::table.find(pid).select((tenants::sla_tier_id, tenants::name)).first(c)?;
    match tier {
        Some(id) => {
            let mut f = full(c, id)?;
            f.inherited_from = Some(name);
            Ok(Some(f))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let s = parse_schedule("< 99.0% : 25%\n99.9 10\n\n95 50").unwrap_or_default();
        assert_eq!(s.iter().map(|x| x.credit).collect::<Vec<_>>(), vec![10, 25, 50]);
        assert_eq!(credit_for(&s, 99.95), 0);
        assert_eq!(credit_for(&s, 99.9), 0);
        assert_eq!(credit_for(&s, 99.899), 10);
        assert_eq!(credit_for(&s, 98.0), 25);
        assert_eq!(credit_for(&s, 12.0), 50);
        assert_eq!(format_schedule(&s), "99.9 10\n99.0 25\n95 50");
        assert!(parse_schedule("99.9").is_err());
        assert!(parse_schedule("99.9 10 5").is_err());
        assert!(parse_schedule("120 10").is_err());
        assert_eq!(parse_schedule("").map(|v| v.len()), Ok(0));
        assert_eq!(describe_schedule(&s[..1]), "below 99.9%: 10% of the month's fee");
    }
}
