//! Time-based uptime of one component over a window, and the daily buckets of the 90-day bar strip.
//!
//! # The method, in plain words
//!
//! Uptime is measured in **time**, per component, over a window:
//!
//! ```text
//! uptime % = 100 × (1 − weighted outage minutes / (window minutes − excluded maintenance minutes))
//! ```
//!
//! 1. **The window is clipped.** It starts at the later of the window start and the component's start
//!    date (time before a component existed does not count), and it ends at the earlier of the window
//!    end and `now` (the future has no data yet). A window that is empty after clipping has no uptime:
//!    [`Uptime::percent`] is `None`, shown as "No data".
//! 2. **One status at every instant.** The status history is a list of intervals that may be unsorted,
//!    overlap each other, extend outside the window, or still be open (`to: None`, meaning "until now").
//!    At every instant the *worst* status of the intervals covering it wins, so overlapping intervals are
//!    never counted twice. Worst first: major outage, partial outage, degraded performance, under
//!    maintenance, operational. An instant that no interval covers is operational.
//! 3. **Each instant is weighted by its status:** major outage 1.0, partial outage 0.3, degraded
//!    performance 0.0, under maintenance 0.0, operational 0.0. Their sum is the *weighted outage
//!    minutes*.
//! 4. **Announced maintenance leaves the denominator.** The *excluded maintenance minutes* are the
//!    overlap of the announced maintenance windows (merged, so overlapping announcements are not counted
//!    twice) with the clipped window, **minus** the parts of them where the component was in partial or
//!    major outage. Downtime during an announced maintenance window therefore still counts in full, as
//!    both weighted outage and counted time; any other status during announced maintenance (normally
//!    under maintenance) is simply left out of the calculation. Maintenance that was not announced is
//!    not excluded: its time counts as available (weight 0).
//! 5. **Truncate, never round up.** [`format_percent`] cuts the number after the requested decimals, so
//!    a single outage minute in a 30-day window shows as `99.997`, never as `100.000`. [`compute`] also
//!    guarantees that a window with any weighted outage has a percent strictly below 100.
//!
//! Durations are computed exactly, from the timestamps' whole seconds and nanoseconds, and only turned
//! into `f64` minutes for the output. Everything is in UTC; [`daily`] alone uses a time zone, to find
//! where each calendar day begins and ends (so a day across a DST change lasts 23 or 25 hours).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// A component's status, as recorded in its status history.
///
/// Ordered by severity (`Ord`): the greater status is the worse one, so `a.max(b)` is the status that
/// wins when two intervals overlap: major outage > partial outage > degraded performance > under
/// maintenance > operational.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Working normally.
    Operational,
    /// Working, but slower or less reliable than normal; weight 0.
    DegradedPerformance,
    /// Partly unavailable; weight 0.3.
    PartialOutage,
    /// Unavailable; weight 1.0.
    MajorOutage,
    /// Down for maintenance; excluded inside an announced maintenance window, weight 0 elsewhere.
    UnderMaintenance,
}

impl Status {
    /// Every status, from least to most severe.
    pub const BY_SEVERITY: [Status; 5] = [
        Status::Operational,
        Status::UnderMaintenance,
        Status::DegradedPerformance,
        Status::PartialOutage,
        Status::MajorOutage,
    ];

    /// The `snake_case` name used in storage, forms and the API, e.g. `"major_outage"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Operational => "operational",
            Status::DegradedPerformance => "degraded_performance",
            Status::PartialOutage => "partial_outage",
            Status::MajorOutage => "major_outage",
            Status::UnderMaintenance => "under_maintenance",
        }
    }

    /// Parses the exact `snake_case` name produced by [`Status::as_str`]; `None` for anything else.
    #[must_use]
    pub fn parse(s: &str) -> Option<Status> {
        Status::BY_SEVERITY.into_iter().find(|status| status.as_str() == s)
    }

    /// The severity rank, 0 (operational) to 4 (major outage); the higher, the worse.
    #[must_use]
    pub fn severity(self) -> u8 {
        match self {
            Status::Operational => 0,
            Status::UnderMaintenance => 1,
            Status::DegradedPerformance => 2,
            Status::PartialOutage => 3,
            Status::MajorOutage => 4,
        }
    }

    /// True for partial and major outage: the statuses that count even inside announced maintenance.
    #[must_use]
    pub fn is_outage(self) -> bool {
        matches!(self, Status::PartialOutage | Status::MajorOutage)
    }
}

impl Ord for Status {
    fn cmp(&self, other: &Self) -> Ordering {
        self.severity().cmp(&other.severity())
    }
}

impl PartialOrd for Status {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Status`] from a string that is not one of its `snake_case` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStatusError(pub String);

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown component status {:?}", self.0)
    }
}

impl std::error::Error for ParseStatusError {}

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::parse(s).ok_or_else(|| ParseStatusError(s.to_string()))
    }
}

/// How much one minute in this status counts as outage: major 1.0, partial 0.3, everything else 0.0.
#[must_use]
pub fn weight(s: Status) -> f64 {
    f64::from(weight_tenths(s)) / 10.0
}

/// [`weight`] in tenths, so that weighted sums stay exact integers.
fn weight_tenths(s: Status) -> u8 {
    match s {
        Status::MajorOutage => 10,
        Status::PartialOutage => 3,
        Status::Operational | Status::DegradedPerformance | Status::UnderMaintenance => 0,
    }
}

/// One entry of a component's status history: `status` from `from` until `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The status the component was in.
    pub status: Status,
    /// When the status began (inclusive).
    pub from: DateTime<Utc>,
    /// When it ended (exclusive); `None` while it is still ongoing, which counts up to `now`.
    pub to: Option<DateTime<Utc>>,
}

/// A closed span of time `[from, to)`: the window to measure, or one announced maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
}

/// One outage interval that counted towards the weighted outage, for the "explain this number" page.
#[derive(Debug, Clone, PartialEq)]
pub struct CountedInterval {
    /// The status that won at those instants (partial or major outage).
    pub status: Status,
    /// Start, clipped to the window.
    pub from: DateTime<Utc>,
    /// End, clipped to the window (and to `now`).
    pub to: DateTime<Utc>,
    /// Length in minutes.
    pub minutes: f64,
    /// The status's [`weight`].
    pub weight: f64,
    /// `minutes × weight`: this interval's share of [`Uptime::weighted_outage_minutes`].
    pub weighted_minutes: f64,
}

/// The uptime of one component over one window, with the figures it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Uptime {
    /// Length of the window after clipping to the component's start and to `now`, in minutes.
    pub window_minutes: f64,
    /// Announced maintenance inside the window, less the parts in partial or major outage, in minutes.
    pub excluded_maintenance_minutes: f64,
    /// `window_minutes − excluded_maintenance_minutes`: the denominator.
    pub counted_minutes: f64,
    /// Outage minutes, each weighted by its status's [`weight`]: the numerator.
    pub weighted_outage_minutes: f64,
    /// `100 × (1 − weighted / counted)`; `None` when `counted_minutes` is 0 (e.g. the window lies
    /// entirely before the component's start, in the future, or inside announced maintenance).
    pub percent: Option<f64>,
    /// The outage intervals that counted (weight above 0), clipped to the window, worst status winning
    /// where intervals overlap, adjacent pieces of the same status merged; oldest first.
    pub intervals: Vec<CountedInterval>,
}

impl Uptime {
    /// The uptime of an empty window: all zeros, no percent.
    fn empty() -> Uptime {
        Uptime {
            window_minutes: 0.0,
            excluded_maintenance_minutes: 0.0,
            counted_minutes: 0.0,
            weighted_outage_minutes: 0.0,
            percent: None,
            intervals: Vec::new(),
        }
    }

    /// [`Uptime::percent`] shown with `decimals` decimals, truncated: see [`format_percent`].
    #[must_use]
    pub fn display(&self, decimals: u32) -> String {
        format_percent(self.percent, decimals)
    }
}

/// Computes the uptime of one component over `window`; see the module documentation for the method.
///
/// `history` is the component's status history and `maintenance` its announced maintenance windows, both
/// in any order, possibly overlapping and possibly reaching outside `window`. The window is clipped to
/// start no earlier than `component_start` and to end no later than `now`; open history intervals end
/// at `now`. Intervals whose end is not after their start are ignored.
#[must_use]
pub fn compute(
    history: &[Interval],
    maintenance: &[Window],
    window: Window,
    component_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Uptime {
    measure(history, maintenance, window, component_start, now).0
}

/// A change in the set of intervals covering the timeline.
#[derive(Clone, Copy)]
enum Edge {
    Open(Status),
    Close(Status),
    MaintenanceOpen,
    MaintenanceClose,
}

/// [`compute`], also returning the worst status seen in the clipped window (`None` when it is empty).
/// For that worst status, announced maintenance without outage counts as under maintenance.
fn measure(
    history: &[Interval],
    maintenance: &[Window],
    window: Window,
    component_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Uptime, Option<Status>) {
    let start = component_start.map_or(window.from, |cs| window.from.max(cs));
    let end = window.to.min(now);
    if end <= start {
        return (Uptime::empty(), None);
    }

    let mut edges: Vec<(DateTime<Utc>, Edge)> = Vec::with_capacity(2 * (history.len() + maintenance.len()));
    for iv in history {
        let from = iv.from.max(start);
        let to = iv.to.unwrap_or(now).min(end);
        if from < to {
            edges.push((from, Edge::Open(iv.status)));
            edges.push((to, Edge::Close(iv.status)));
        }
    }
    for mw in maintenance {
        let from = mw.from.max(start);
        let to = mw.to.min(end);
        if from < to {
            edges.push((from, Edge::MaintenanceOpen));
            edges.push((to, Edge::MaintenanceClose));
        }
    }
    edges.sort_by_key(|&(at, _)| at);

    // How many intervals of each severity, and how many maintenance windows, cover the cursor.
    let mut open = [0usize; Status::BY_SEVERITY.len()];
    let mut open_maintenance = 0usize;
    // Exact sums in nanoseconds; weighted outage in tenths of a nanosecond.
    let mut excluded_ns: i128 = 0;
    let mut weighted_tenth_ns: i128 = 0;
    let mut worst = Status::Operational;
    let mut intervals: Vec<(Status, DateTime<Utc>, DateTime<Utc>)> = Vec::new();

    let mut cursor = start;
    let mut next_edge = 0;
    while cursor < end {
        while let Some(&(at, edge)) = edges.get(next_edge)
            && at <= cursor
        {
            match edge {
                Edge::Open(s) => open[usize::from(s.severity())] += 1,
                Edge::Close(s) => {
                    let count = &mut open[usize::from(s.severity())];
                    *count = count.saturating_sub(1);
                }
                Edge::MaintenanceOpen => open_maintenance += 1,
                Edge::MaintenanceClose => open_maintenance = open_maintenance.saturating_sub(1),
            }
            next_edge += 1;
        }
        let until = edges.get(next_edge).map_or(end, |&(at, _)| at);
        let status = Status::BY_SEVERITY
            .into_iter()
            .rev()
            .find(|s| open[usize::from(s.severity())] > 0)
            .unwrap_or(Status::Operational);
        let span = nanos(until - cursor);

        if open_maintenance > 0 && !status.is_outage() {
            excluded_ns += span;
            worst = worst.max(status.max(Status::UnderMaintenance));
        } else {
            worst = worst.max(status);
            let tenths = weight_tenths(status);
            if tenths > 0 {
                weighted_tenth_ns += i128::from(tenths) * span;
                match intervals.last_mut() {
                    Some(last) if last.0 == status && last.2 == cursor => last.2 = until,
                    _ => intervals.push((status, cursor, until)),
                }
            }
        }
        cursor = until;
    }

    let window_ns = nanos(end - start);
    let counted_ns = window_ns - excluded_ns;
    let percent = (counted_ns > 0).then(|| percent_of(counted_ns * 10, weighted_tenth_ns));
    let uptime = Uptime {
        window_minutes: minutes(window_ns),
        excluded_maintenance_minutes: minutes(excluded_ns),
        counted_minutes: minutes(counted_ns),
        weighted_outage_minutes: minutes(weighted_tenth_ns) / 10.0,
        percent,
        intervals: intervals
            .into_iter()
            .map(|(status, from, to)| {
                let minutes = minutes(nanos(to - from));
                let weight = weight(status);
                CountedInterval { status, from, to, minutes, weight, weighted_minutes: minutes * weight }
            })
            .collect(),
    };
    (uptime, Some(worst))
}

/// `100 × (1 − weighted / counted)` from exact integers, as the `f64` nearest to the exact value
/// whenever the reduced fraction fits an `f64` mantissa, and never 100 when `weighted > 0`.
fn percent_of(counted: i128, weighted: i128) -> f64 {
    let mut numerator = 100 * (counted - weighted);
    let mut denominator = counted;
    let divisor = gcd(numerator, denominator);
    if divisor > 1 {
        numerator /= divisor;
        denominator /= divisor;
    }
    let percent = (numerator as f64 / denominator as f64).clamp(0.0, 100.0);
    if weighted > 0 && percent >= 100.0 { 100f64.next_down() } else { percent }
}

/// Greatest common divisor of two non-negative integers.
fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// A duration in whole nanoseconds, exactly.
fn nanos(d: TimeDelta) -> i128 {
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

/// Nanoseconds as minutes.
fn minutes(ns: i128) -> f64 {
    ns as f64 / 60_000_000_000.0
}

/// Shows a percent with exactly `decimals` decimals, **truncated** (never rounded up), so that
/// anything below 100 can never show as `100.000`: `99.99767` → `"99.997"`, `99.9999` → `"99.999"`,
/// `100.0` → `"100.000"`, `0.0` → `"0.000"`. With 0 decimals there is no decimal point (`"99"`).
/// `None` (and NaN) show as `"No data"`; values outside 0..=100 are clamped to that range.
///
/// The digits are those of the shortest decimal that reads back as the same `f64` (what `{}` prints),
/// so a value such as `99.7`, whose binary form is a hair below 99.7, still shows as `99.700`.
#[must_use]
pub fn format_percent(p: Option<f64>, decimals: u32) -> String {
    let Some(p) = p.filter(|p| !p.is_nan()) else {
        return "No data".to_string();
    };
    // `<= 0.0` also turns -0.0 into 0.0, so it never prints as "-0".
    let p = if p <= 0.0 { 0.0 } else { p.min(100.0) };
    let digits = p.to_string();
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits.as_str(), ""));
    if decimals == 0 {
        return whole.to_string();
    }
    let decimals = decimals as usize;
    let mut out = String::with_capacity(whole.len() + 1 + decimals);
    out.push_str(whole);
    out.push('.');
    out.extend(fraction.chars().chain(std::iter::repeat('0')).take(decimals));
    out
}

/// One calendar day of the bar strip.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// The calendar date, in the time zone that [`daily`] was given.
    pub date: NaiveDate,
    /// The uptime of that day (from its local midnight to the next, clipped to the start and to now).
    pub uptime: Uptime,
    /// The worst status seen that day, announced maintenance without outage counting as under
    /// maintenance; `None` when the day has no data (before the component's start, or in the future).
    pub worst: Option<Status>,
}

/// Daily buckets for the bar strip: the last `days` calendar days in `tz`, oldest first, the last being
/// today (a partial day, up to `now`). Each day runs from its local midnight to the next local midnight,
/// so a day across a DST change lasts 23 or 25 hours; where midnight itself falls in a DST gap, the day
/// begins at the first instant that exists. Each day's [`Uptime`] is [`compute`] over that span.
#[must_use]
pub fn daily(
    history: &[Interval],
    maintenance: &[Window],
    days: u32,
    tz: Tz,
    component_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Day> {
    let today = now.with_timezone(&tz).date_naive();
    let mut out = Vec::with_capacity(days as usize);
    for back in (0..days).rev() {
        let Some(date) = today.checked_sub_days(Days::new(u64::from(back))) else {
            continue;
        };
        let bounds = date.succ_opt().and_then(|next| Some((day_start(date, tz)?, day_start(next, tz)?)));
        let Some((from, to)) = bounds else {
            continue;
        };
        let (uptime, worst) = measure(history, maintenance, Window { from, to }, component_start, now);
        out.push(Day { date, uptime, worst });
    }
    out
}

/// The first instant of `date` in `tz`: local midnight, the earlier one if midnight happens twice, or
/// the first minute that exists if midnight falls in a DST gap.
fn day_start(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(NaiveTime::MIN);
    (0..=24 * 60)
        .find_map(|minute| tz.from_local_datetime(&(midnight + TimeDelta::minutes(minute))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn iv(status: Status, from: &str, to: Option<&str>) -> Interval {
        Interval { status, from: t(from), to: to.map(t) }
    }

    fn win(from: &str, to: &str) -> Window {
        Window { from: t(from), to: t(to) }
    }

    /// June 2026: 30 days, 43 200 minutes.
    fn june() -> Window {
        win("2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z")
    }

    fn after_june() -> DateTime<Utc> {
        t("2026-07-15T00:00:00Z")
    }

    fn june_uptime(history: &[Interval], maintenance: &[Window]) -> Uptime {
        compute(history, maintenance, june(), None, after_june())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::BY_SEVERITY {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Status::parse("major_outage"), Some(Status::MajorOutage));
        assert_eq!(Status::parse("degraded_performance"), Some(Status::DegradedPerformance));
        assert_eq!(Status::parse("Major Outage"), None);
        assert_eq!(Status::parse(""), None);
        assert!("down".parse::<Status>().is_err());
    }

    #[test]
    fn severity_ordering_worst_wins() {
        use Status::*;
        assert!(MajorOutage > PartialOutage);
        assert!(PartialOutage > DegradedPerformance);
        assert!(DegradedPerformance > UnderMaintenance);
        assert!(UnderMaintenance > Operational);
        assert_eq!(UnderMaintenance.max(DegradedPerformance), DegradedPerformance);
        let mut all = vec![UnderMaintenance, MajorOutage, Operational, PartialOutage, DegradedPerformance];
        all.sort();
        assert_eq!(all, Status::BY_SEVERITY.to_vec());
    }

    #[test]
    fn weights() {
        assert_eq!(weight(Status::MajorOutage), 1.0);
        assert_eq!(weight(Status::PartialOutage), 0.3);
        assert_eq!(weight(Status::DegradedPerformance), 0.0);
        assert_eq!(weight(Status::Operational), 0.0);
        assert_eq!(weight(Status::UnderMaintenance), 0.0);
    }

    #[test]
    fn empty_history_is_100() {
        let u = june_uptime(&[], &[]);
        assert_eq!(u.percent, Some(100.0));
        assert_eq!(u.window_minutes, 43_200.0);
        assert_eq!(u.counted_minutes, 43_200.0);
        assert_eq!(u.weighted_outage_minutes, 0.0);
        assert_eq!(u.excluded_maintenance_minutes, 0.0);
        assert!(u.intervals.is_empty());
        assert_eq!(u.display(3), "100.000");
    }

    #[test]
    fn one_minute_major_in_30_days_is_99_997_never_100() {
        let h = [iv(Status::MajorOutage, "2026-06-10T12:00:00Z", Some("2026-06-10T12:01:00Z"))];
        let u = june_uptime(&h, &[]);
        assert_eq!(u.weighted_outage_minutes, 1.0);
        let p = u.percent.unwrap();
        assert!(p < 100.0);
        assert!(close(p, 100.0 * (1.0 - 1.0 / 43_200.0)));
        assert_eq!(format_percent(u.percent, 3), "99.997");
        assert_eq!(format_percent(u.percent, 2), "99.99");
        assert_eq!(format_percent(u.percent, 4), "99.9976");
        assert_eq!(u.intervals.len(), 1);
        assert_eq!(u.intervals[0].minutes, 1.0);
        assert_eq!(u.intervals[0].weighted_minutes, 1.0);
    }

    #[test]
    fn one_second_of_outage_is_still_below_100() {
        let h = [iv(Status::MajorOutage, "2026-06-10T12:00:00Z", Some("2026-06-10T12:00:01Z"))];
        let u = june_uptime(&h, &[]);
        assert!(u.percent.unwrap() < 100.0);
        assert_eq!(u.display(3), "99.999");
        // Even a nanosecond in a year never shows 100.
        let year = win("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        let h = [iv(Status::MajorOutage, "2026-06-10T12:00:00Z", Some("2026-06-10T12:00:00.000000001Z"))];
        let u = compute(&h, &[], year, None, t("2027-01-01T00:00:00Z"));
        assert!(u.percent.unwrap() < 100.0);
        assert_eq!(u.display(6), "99.999999");
    }

    #[test]
    fn partial_outage_weighted_0_3() {
        // 100 minutes partial = 30 weighted minutes.
        let h = [iv(Status::PartialOutage, "2026-06-02T00:00:00Z", Some("2026-06-02T01:40:00Z"))];
        let u = june_uptime(&h, &[]);
        assert!(close(u.weighted_outage_minutes, 30.0));
        assert!(close(u.percent.unwrap(), 100.0 * (1.0 - 30.0 / 43_200.0)));
        assert_eq!(u.intervals.len(), 1);
        assert_eq!(u.intervals[0].status, Status::PartialOutage);
        assert_eq!(u.intervals[0].minutes, 100.0);
        assert_eq!(u.intervals[0].weight, 0.3);
        assert!(close(u.intervals[0].weighted_minutes, 30.0));
    }

    #[test]
    fn exact_decimal_results_are_not_cut_short() {
        // 10 partial minutes in a 100-minute window → 3 weighted minutes → exactly 97 %.
        let w = win("2026-06-01T00:00:00Z", "2026-06-01T01:40:00Z");
        let h = [iv(Status::PartialOutage, "2026-06-01T00:00:00Z", Some("2026-06-01T00:10:00Z"))];
        let u = compute(&h, &[], w, None, after_june());
        assert_eq!(u.percent, Some(97.0));
        assert_eq!(u.display(3), "97.000");
        // 1 partial minute in 100 → 99.7 exactly, which must not show as 99.699.
        let h = [iv(Status::PartialOutage, "2026-06-01T00:00:00Z", Some("2026-06-01T00:01:00Z"))];
        let u = compute(&h, &[], w, None, after_june());
        assert_eq!(u.display(3), "99.700");
        // 3 partial minutes in 1000 → 99.91 exactly.
        let w = win("2026-06-01T00:00:00Z", "2026-06-01T16:40:00Z");
        let h = [iv(Status::PartialOutage, "2026-06-01T01:00:00Z", Some("2026-06-01T01:03:00Z"))];
        let u = compute(&h, &[], w, None, after_june());
        assert_eq!(u.display(3), "99.910");
    }

    #[test]
    fn degraded_counts_zero() {
        let h = [iv(Status::DegradedPerformance, "2026-06-02T00:00:00Z", Some("2026-06-05T00:00:00Z"))];
        let u = june_uptime(&h, &[]);
        assert_eq!(u.percent, Some(100.0));
        assert_eq!(u.weighted_outage_minutes, 0.0);
        assert!(u.intervals.is_empty());
    }

    #[test]
    fn unannounced_maintenance_status_counts_as_available() {
        let h = [iv(Status::UnderMaintenance, "2026-06-02T00:00:00Z", Some("2026-06-02T02:00:00Z"))];
        let u = june_uptime(&h, &[]);
        assert_eq!(u.percent, Some(100.0));
        assert_eq!(u.excluded_maintenance_minutes, 0.0);
        assert_eq!(u.counted_minutes, 43_200.0);
    }

    #[test]
    fn major_inside_partial_not_double_counted() {
        // Partial 10:00–12:00, major 10:30–11:00 inside it.
        let h = [
            iv(Status::PartialOutage, "2026-06-03T10:00:00Z", Some("2026-06-03T12:00:00Z")),
            iv(Status::MajorOutage, "2026-06-03T10:30:00Z", Some("2026-06-03T11:00:00Z")),
        ];
        let u = june_uptime(&h, &[]);
        // 30 major + 90 partial × 0.3 = 57.
        assert!(close(u.weighted_outage_minutes, 57.0));
        let got: Vec<_> = u.intervals.iter().map(|c| (c.status, c.from, c.to, c.minutes)).collect();
        assert_eq!(
            got,
            vec![
                (Status::PartialOutage, t("2026-06-03T10:00:00Z"), t("2026-06-03T10:30:00Z"), 30.0),
                (Status::MajorOutage, t("2026-06-03T10:30:00Z"), t("2026-06-03T11:00:00Z"), 30.0),
                (Status::PartialOutage, t("2026-06-03T11:00:00Z"), t("2026-06-03T12:00:00Z"), 60.0),
            ]
        );
        let sum: f64 = u.intervals.iter().map(|c| c.weighted_minutes).sum();
        assert!(close(sum, u.weighted_outage_minutes));
    }

    #[test]
    fn duplicate_and_overlapping_same_status_merged() {
        let h = [
            iv(Status::MajorOutage, "2026-06-03T10:00:00Z", Some("2026-06-03T10:20:00Z")),
            iv(Status::MajorOutage, "2026-06-03T10:00:00Z", Some("2026-06-03T10:20:00Z")),
            iv(Status::MajorOutage, "2026-06-03T10:10:00Z", Some("2026-06-03T10:30:00Z")),
            // Adjacent, touching: merged into one interval.
            iv(Status::MajorOutage, "2026-06-03T10:30:00Z", Some("2026-06-03T10:40:00Z")),
            // Operational and degraded on top change nothing.
            iv(Status::Operational, "2026-06-03T09:00:00Z", Some("2026-06-03T11:00:00Z")),
            iv(Status::DegradedPerformance, "2026-06-03T10:05:00Z", Some("2026-06-03T10:50:00Z")),
        ];
        let u = june_uptime(&h, &[]);
        assert!(close(u.weighted_outage_minutes, 40.0));
        assert_eq!(u.intervals.len(), 1);
        assert_eq!(u.intervals[0].from, t("2026-06-03T10:00:00Z"));
        assert_eq!(u.intervals[0].to, t("2026-06-03T10:40:00Z"));
    }

    #[test]
    fn unsorted_input_same_result() {
        let sorted = [
            iv(Status::PartialOutage, "2026-06-01T01:00:00Z", Some("2026-06-01T03:00:00Z")),
            iv(Status::MajorOutage, "2026-06-01T02:00:00Z", Some("2026-06-01T02:10:00Z")),
            iv(Status::DegradedPerformance, "2026-06-05T00:00:00Z", Some("2026-06-06T00:00:00Z")),
            iv(Status::MajorOutage, "2026-06-20T00:00:00Z", Some("2026-06-20T00:05:00Z")),
        ];
        let mut shuffled = sorted;
        shuffled.reverse();
        shuffled.swap(0, 2);
        let a = june_uptime(&sorted, &[]);
        let b = june_uptime(&shuffled, &[]);
        assert_eq!(a, b);
        // 110 partial × 0.3 + 10 + 5 major = 48.
        assert!(close(a.weighted_outage_minutes, 48.0));
        assert_eq!(a.intervals.len(), 4);
        assert!(a.intervals.windows(2).all(|w| w[0].to <= w[1].from));
    }

    #[test]
    fn open_interval_clipped_at_now() {
        let now = t("2026-06-15T00:30:00Z");
        let h = [iv(Status::MajorOutage, "2026-06-15T00:00:00Z", None)];
        let u = compute(&h, &[], june(), None, now);
        // The window itself ends at now: 14 days and 30 minutes.
        assert_eq!(u.window_minutes, 14.0 * 1440.0 + 30.0);
        assert_eq!(u.weighted_outage_minutes, 30.0);
        assert_eq!(u.intervals[0].to, now);
    }

    #[test]
    fn open_interval_clipped_at_window_end() {
        let h = [iv(Status::MajorOutage, "2026-06-30T23:00:00Z", None)];
        let u = june_uptime(&h, &[]);
        assert_eq!(u.weighted_outage_minutes, 60.0);
        assert_eq!(u.intervals[0].to, t("2026-07-01T00:00:00Z"));
    }

    #[test]
    fn open_interval_started_before_window_covers_it() {
        let h = [iv(Status::PartialOutage, "2026-05-01T00:00:00Z", None)];
        let u = june_uptime(&h, &[]);
        assert!(close(u.weighted_outage_minutes, 0.3 * 43_200.0));
        assert_eq!(u.display(3), "70.000");
    }

    #[test]
    fn intervals_outside_window_ignored_and_straddlers_clipped() {
        let h = [
            iv(Status::MajorOutage, "2026-05-01T00:00:00Z", Some("2026-05-02T00:00:00Z")),
            iv(Status::MajorOutage, "2026-07-02T00:00:00Z", Some("2026-07-03T00:00:00Z")),
            iv(Status::MajorOutage, "2026-05-31T23:50:00Z", Some("2026-06-01T00:10:00Z")),
            iv(Status::MajorOutage, "2026-06-30T23:55:00Z", Some("2026-07-01T00:30:00Z")),
            // Backwards and empty intervals are ignored.
            iv(Status::MajorOutage, "2026-06-10T00:10:00Z", Some("2026-06-10T00:00:00Z")),
            iv(Status::MajorOutage, "2026-06-10T00:00:00Z", Some("2026-06-10T00:00:00Z")),
            // An interval starting after now is ignored too.
            iv(Status::MajorOutage, "2026-08-01T00:00:00Z", None),
        ];
        let u = june_uptime(&h, &[]);
        assert_eq!(u.weighted_outage_minutes, 15.0);
        assert_eq!(u.intervals.len(), 2);
        assert_eq!(u.intervals[0].from, t("2026-06-01T00:00:00Z"));
        assert_eq!(u.intervals[1].to, t("2026-07-01T00:00:00Z"));
    }

    #[test]
    fn announced_maintenance_excluded_from_denominator() {
        let h = [iv(Status::UnderMaintenance, "2026-06-10T02:00:00Z", Some("2026-06-10T04:00:00Z"))];
        let m = [win("2026-06-10T02:00:00Z", "2026-06-10T04:00:00Z")];
        let u = june_uptime(&h, &m);
        assert_eq!(u.excluded_maintenance_minutes, 120.0);
        assert_eq!(u.counted_minutes, 43_200.0 - 120.0);
        assert_eq!(u.percent, Some(100.0));
        // Announced maintenance alone, even without a status history entry, is excluded; overlapping
        // announcements are merged; the parts outside the window are ignored.
        let m = [
            win("2026-06-10T02:00:00Z", "2026-06-10T04:00:00Z"),
            win("2026-06-10T03:00:00Z", "2026-06-10T05:00:00Z"),
            win("2026-05-31T23:00:00Z", "2026-06-01T01:00:00Z"),
        ];
        let u = june_uptime(&[], &m);
        assert_eq!(u.excluded_maintenance_minutes, 240.0);
        // A major minute elsewhere now weighs against the smaller denominator.
        let h = [iv(Status::MajorOutage, "2026-06-20T00:00:00Z", Some("2026-06-20T00:01:00Z"))];
        let u = june_uptime(&h, &m);
        assert!(close(u.percent.unwrap(), 100.0 * (1.0 - 1.0 / (43_200.0 - 240.0))));
    }

    #[test]
    fn outage_during_maintenance_still_counts() {
        // Announced 02:00–04:00; the component was in maintenance 02:00–03:00, then major 03:00–03:30,
        // then maintenance again until 04:00.
        let h = [
            iv(Status::UnderMaintenance, "2026-06-10T02:00:00Z", Some("2026-06-10T04:00:00Z")),
            iv(Status::MajorOutage, "2026-06-10T03:00:00Z", Some("2026-06-10T03:30:00Z")),
            iv(Status::PartialOutage, "2026-06-10T03:30:00Z", Some("2026-06-10T03:40:00Z")),
        ];
        let m = [win("2026-06-10T02:00:00Z", "2026-06-10T04:00:00Z")];
        let u = june_uptime(&h, &m);
        assert_eq!(u.excluded_maintenance_minutes, 80.0);
        assert_eq!(u.counted_minutes, 43_200.0 - 80.0);
        assert!(close(u.weighted_outage_minutes, 33.0));
        assert_eq!(u.intervals.len(), 2);
        // Degraded during announced maintenance is excluded like under_maintenance.
        let h = [iv(Status::DegradedPerformance, "2026-06-10T02:00:00Z", Some("2026-06-10T04:00:00Z"))];
        let u = june_uptime(&h, &m);
        assert_eq!(u.excluded_maintenance_minutes, 120.0);
        // An announced window that was all outage excludes nothing.
        let h = [iv(Status::MajorOutage, "2026-06-10T01:00:00Z", Some("2026-06-10T05:00:00Z"))];
        let u = june_uptime(&h, &m);
        assert_eq!(u.excluded_maintenance_minutes, 0.0);
        assert_eq!(u.weighted_outage_minutes, 240.0);
    }

    #[test]
    fn window_entirely_in_maintenance_has_no_percent() {
        let w = win("2026-06-10T02:00:00Z", "2026-06-10T04:00:00Z");
        let m = [win("2026-06-10T00:00:00Z", "2026-06-10T06:00:00Z")];
        let u = compute(&[], &m, w, None, after_june());
        assert_eq!(u.counted_minutes, 0.0);
        assert_eq!(u.percent, None);
        assert_eq!(u.display(3), "No data");
    }

    #[test]
    fn window_before_component_start_is_none() {
        let h = [iv(Status::MajorOutage, "2026-06-10T00:00:00Z", Some("2026-06-11T00:00:00Z"))];
        let u = compute(&h, &[], june(), Some(t("2026-07-05T00:00:00Z")), after_june());
        assert_eq!(u.percent, None);
        assert_eq!(u.window_minutes, 0.0);
        assert_eq!(u.counted_minutes, 0.0);
        assert!(u.intervals.is_empty());
        assert_eq!(format_percent(u.percent, 3), "No data");
        // Starting exactly at the window end is before it too.
        let u = compute(&h, &[], june(), Some(t("2026-07-01T00:00:00Z")), after_june());
        assert_eq!(u.percent, None);
    }

    #[test]
    fn window_partly_before_start_is_clipped() {
        // Component started June 16: 15 days = 21 600 minutes count; an outage before it is ignored.
        let h = [
            iv(Status::MajorOutage, "2026-06-10T00:00:00Z", Some("2026-06-11T00:00:00Z")),
            iv(Status::MajorOutage, "2026-06-15T23:00:00Z", Some("2026-06-16T01:00:00Z")),
        ];
        let u = compute(&h, &[], june(), Some(t("2026-06-16T00:00:00Z")), after_june());
        assert_eq!(u.window_minutes, 21_600.0);
        assert_eq!(u.weighted_outage_minutes, 60.0);
        assert!(close(u.percent.unwrap(), 100.0 * (1.0 - 60.0 / 21_600.0)));
        assert_eq!(u.intervals[0].from, t("2026-06-16T00:00:00Z"));
        // A start before the window changes nothing.
        let a = compute(&h, &[], june(), Some(t("2020-01-01T00:00:00Z")), after_june());
        let b = compute(&h, &[], june(), None, after_june());
        assert_eq!(a, b);
    }

    #[test]
    fn window_in_future_is_none() {
        let u = compute(&[], &[], june(), None, t("2026-05-01T00:00:00Z"));
        assert_eq!(u.percent, None);
    }

    #[test]
    fn window_crossing_midnight() {
        let w = win("2026-06-10T23:00:00Z", "2026-06-11T01:00:00Z");
        let h = [
            iv(Status::MajorOutage, "2026-06-10T23:50:00Z", Some("2026-06-11T00:10:00Z")),
            iv(Status::PartialOutage, "2026-06-11T00:10:00Z", Some("2026-06-11T02:00:00Z")),
        ];
        let u = compute(&h, &[], w, None, after_june());
        assert_eq!(u.window_minutes, 120.0);
        // 20 major + 50 partial × 0.3 = 35.
        assert!(close(u.weighted_outage_minutes, 35.0));
        assert!(close(u.percent.unwrap(), 100.0 * (1.0 - 35.0 / 120.0)));
        assert_eq!(u.display(3), "70.833");
        assert_eq!(u.intervals.len(), 2);
        assert_eq!(u.intervals[0].minutes, 20.0);
        assert_eq!(u.intervals[1].to, t("2026-06-11T01:00:00Z"));
    }

    #[test]
    fn whole_window_major_is_zero() {
        let h = [iv(Status::MajorOutage, "2026-01-01T00:00:00Z", None)];
        let u = june_uptime(&h, &[]);
        assert_eq!(u.percent, Some(0.0));
        assert_eq!(u.display(3), "0.000");
    }

    #[test]
    fn format_percent_truncates() {
        assert_eq!(format_percent(Some(99.99767), 3), "99.997");
        assert_eq!(format_percent(Some(99.9999), 3), "99.999");
        assert_eq!(format_percent(Some(99.99999), 3), "99.999");
        assert_eq!(format_percent(Some(99.999_999_999_999), 3), "99.999");
        assert_eq!(format_percent(Some(100f64.next_down()), 3), "99.999");
        assert_eq!(format_percent(Some(100f64.next_down()), 0), "99");
        assert_eq!(format_percent(Some(100.0), 3), "100.000");
        assert_eq!(format_percent(Some(0.0), 3), "0.000");
        assert_eq!(format_percent(Some(-0.0), 3), "0.000");
        assert_eq!(format_percent(Some(0.0009), 3), "0.000");
        assert_eq!(format_percent(Some(1e-7), 3), "0.000");
        assert_eq!(format_percent(Some(1e-7), 8), "0.00000010");
        assert_eq!(format_percent(Some(99.5), 0), "99");
        assert_eq!(format_percent(Some(99.5), 1), "99.5");
        assert_eq!(format_percent(Some(99.5), 3), "99.500");
        assert_eq!(format_percent(Some(97.0), 2), "97.00");
        assert_eq!(format_percent(Some(99.7), 3), "99.700");
        assert_eq!(format_percent(Some(99.997), 3), "99.997");
        assert_eq!(format_percent(Some(5.0), 3), "5.000");
        assert_eq!(format_percent(Some(100.0), 0), "100");
        assert_eq!(format_percent(Some(150.0), 1), "100.0");
        assert_eq!(format_percent(Some(-3.0), 1), "0.0");
        assert_eq!(format_percent(Some(f64::INFINITY), 1), "100.0");
        assert_eq!(format_percent(Some(f64::NAN), 1), "No data");
        assert_eq!(format_percent(None, 3), "No data");
    }

    fn chicago() -> Tz {
        chrono_tz::America::Chicago
    }

    #[test]
    fn daily_dst_spring_forward_is_23_hours() {
        let now = t("2026-03-09T18:00:00Z"); // 13:00 CDT, March 9
        let d = daily(&[], &[], 3, chicago(), None, now);
        let dates: Vec<_> = d.iter().map(|d| d.date.to_string()).collect();
        assert_eq!(dates, ["2026-03-07", "2026-03-08", "2026-03-09"]);
        assert_eq!(d[0].uptime.window_minutes, 24.0 * 60.0);
        assert_eq!(d[1].uptime.window_minutes, 23.0 * 60.0);
        // Today is partial: midnight CDT (05:00Z) until now.
        assert_eq!(d[2].uptime.window_minutes, 13.0 * 60.0);
        assert!(d.iter().all(|d| d.uptime.percent == Some(100.0) && d.worst == Some(Status::Operational)));
    }

    #[test]
    fn daily_dst_fall_back_is_25_hours() {
        let now = t("2026-11-03T12:00:00Z");
        let d = daily(&[], &[], 4, chicago(), None, now);
        let got: Vec<_> = d.iter().map(|d| (d.date.to_string(), d.uptime.window_minutes)).collect();
        assert_eq!(
            got,
            [
                ("2026-10-31".to_string(), 1440.0),
                ("2026-11-01".to_string(), 1500.0),
                ("2026-11-02".to_string(), 1440.0),
                ("2026-11-03".to_string(), 360.0), // 00:00 CST = 06:00Z, now 12:00Z
            ]
        );
    }

    #[test]
    fn daily_midnight_in_dst_gap_starts_at_first_existing_instant() {
        // Chile springs forward at 24:00 on Saturday 2026-09-05: Sunday begins at 01:00 local (04:00Z).
        let tz = chrono_tz::America::Santiago;
        let d = daily(&[], &[], 3, tz, None, t("2026-09-07T12:00:00Z"));
        let got: Vec<_> = d.iter().map(|d| (d.date.to_string(), d.uptime.window_minutes)).collect();
        assert_eq!(got[0], ("2026-09-05".to_string(), 1440.0));
        assert_eq!(got[1], ("2026-09-06".to_string(), 1380.0));
        assert_eq!(day_start(d[1].date, tz), Some(t("2026-09-06T04:00:00Z")));
    }

    #[test]
    fn daily_outage_split_across_local_days_and_worst() {
        // Major 23:30–00:30 Chicago time (CDT, UTC−5) on June 10/11.
        let h = [
            iv(Status::MajorOutage, "2026-06-11T04:30:00Z", Some("2026-06-11T05:30:00Z")),
            iv(Status::DegradedPerformance, "2026-06-12T15:00:00Z", Some("2026-06-12T16:00:00Z")),
            iv(Status::PartialOutage, "2026-06-12T15:30:00Z", Some("2026-06-12T15:40:00Z")),
        ];
        let m = [win("2026-06-13T08:00:00Z", "2026-06-13T09:00:00Z")];
        let now = t("2026-06-14T17:00:00Z");
        let d = daily(&h, &m, 5, chicago(), None, now);
        let dates: Vec<_> = d.iter().map(|d| d.date.to_string()).collect();
        assert_eq!(dates, ["2026-06-10", "2026-06-11", "2026-06-12", "2026-06-13", "2026-06-14"]);
        assert_eq!(d[0].uptime.weighted_outage_minutes, 30.0);
        assert_eq!(d[1].uptime.weighted_outage_minutes, 30.0);
        assert_eq!(d[0].worst, Some(Status::MajorOutage));
        assert_eq!(d[1].worst, Some(Status::MajorOutage));
        assert_eq!(d[2].worst, Some(Status::PartialOutage));
        assert!(close(d[2].uptime.weighted_outage_minutes, 3.0));
        assert_eq!(d[3].worst, Some(Status::UnderMaintenance));
        assert_eq!(d[3].uptime.excluded_maintenance_minutes, 60.0);
        assert_eq!(d[3].uptime.percent, Some(100.0));
        assert_eq!(d[4].worst, Some(Status::Operational));
        assert_eq!(d[0].uptime.display(3), "97.916");
    }

    #[test]
    fn daily_before_start_has_no_data() {
        let now = t("2026-06-14T17:00:00Z"); // 12:00 CDT
        let start = t("2026-06-13T17:00:00Z"); // noon CDT the day before
        let d = daily(&[], &[], 90, chicago(), Some(start), now);
        assert_eq!(d.len(), 90);
        assert_eq!(d[0].date.to_string(), "2026-03-17");
        assert!(d[..88].iter().all(|d| d.worst.is_none() && d.uptime.percent.is_none()));
        assert_eq!(d[88].uptime.window_minutes, 12.0 * 60.0);
        assert_eq!(d[88].worst, Some(Status::Operational));
        assert_eq!(d[89].uptime.window_minutes, 12.0 * 60.0);
        assert!(daily(&[], &[], 0, chicago(), None, now).is_empty());
    }
}
