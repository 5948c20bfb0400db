//! Business calendars and SLA due times.
//!
//! A [`BusinessCalendar`] says when support works: an IANA time zone, the working weekdays, one
//! daily opening and closing wall-clock time, and a set of holiday dates. A [`Target`] is a number
//! of minutes counted either around the clock ([`Clock::Calendar`]) or only inside working hours
//! ([`Clock::Business`]). [`due_at`] turns a start instant and a target into a due instant and
//! [`elapsed_minutes`] is its inverse for reports.
//!
//! Everything here is pure: no clock, no I/O. Working hours are wall-clock hours in the calendar's
//! zone, so on a DST day the desk still opens at e.g. 8:00 local. A local time that does not exist
//! (spring-forward gap) becomes the first valid instant after it; an ambiguous one (fall-back)
//! becomes its earliest instant. Nothing here panics, whatever the input.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

/// Short day names, Monday first.
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Full lowercase day names, Monday first (a day is any prefix of at least 3 letters).
const FULL_DAY_NAMES: [&str; 7] =
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// How many local days a business-clock search looks at before it falls back to calendar time
/// (a little over three years).
const SEARCH_DAYS: usize = 3 * 366 + 2;

/// How far (in minutes) a non-existent local time is moved forward looking for a valid one.
/// More than a day, so even a skipped calendar day (Pacific/Apia, 2011-12-30) is crossed.
const GAP_SEARCH_MINUTES: u32 = 26 * 60;

/// When support works: a zone, working weekdays, daily hours and holidays.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    /// The IANA time zone the hours and holidays are read in.
    pub tz: Tz,
    /// Working weekdays, Monday first (index 0 = Monday .. 6 = Sunday).
    pub working_days: [bool; 7],
    /// Daily opening wall-clock time.
    pub opens: NaiveTime,
    /// Daily closing wall-clock time (after `opens`).
    pub closes: NaiveTime,
    /// Local dates on which nobody works.
    pub holidays: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    /// Mon-Fri 08:00-18:00 in the given zone, no holidays.
    pub fn weekdays(tz: Tz) -> Self {
        Self {
            tz,
            working_days: [true, true, true, true, true, false, false],
            opens: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
            closes: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
            holidays: BTreeSet::new(),
        }
    }

    /// Validates: at least one working day, closes after opens. Err(message) in plain words.
    pub fn validate(&self) -> Result<(), String> {
        if !self.working_days.iter().any(|&d| d) {
            return Err("Pick at least one working day.".to_string());
        }
        if self.closes <= self.opens {
            return Err(format!(
                "The closing time ({}) must be later than the opening time ({}).",
                fmt_time(self.closes),
                fmt_time(self.opens)
            ));
        }
        Ok(())
    }

    /// Length of one working day in minutes (e.g. 600). 0 when the hours are invalid.
    pub fn day_minutes(&self) -> i64 {
        (self.closes - self.opens).num_minutes().max(0)
    }

    /// Is `date` (local) a working day (working weekday and not a holiday)?
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working_days[weekday_index(date.weekday())] && !self.holidays.contains(&date)
    }

    /// Plain words, e.g. "Mon–Fri 8:00–18:00 America/Chicago" (en dash; contiguous runs of days
    /// shown as ranges, others comma-separated like "Mon, Wed, Fri").
    pub fn describe(&self) -> String {
        let days = join_days(&self.working_days, "–", ", ");
        let days = if days.is_empty() { "No working days".to_string() } else { days };
        format!("{days} {}–{} {}", fmt_time(self.opens), fmt_time(self.closes), self.tz.name())
    }

    /// Is `at` inside working hours (opening time included, closing time excluded)?
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = local_date(self.tz, at);
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.open_interval(d))
            .any(|(o, c)| o <= at && at < c)
    }

    /// The working interval of a local date in UTC, `None` on a non-working day (or when the
    /// hours collapse to nothing, e.g. both inside a DST gap).
    fn open_interval(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.closes <= self.opens || !self.is_working_day(date) {
            return None;
        }
        let o = local_to_utc(self.tz, date.and_time(self.opens));
        let c = local_to_utc(self.tz, date.and_time(self.closes));
        (c > o).then_some((o, c))
    }

    /// The business-clock search window for a count starting at `from`: the first local date to
    /// look at, and the instant after which time is counted around the clock instead.
    fn window(&self, from: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
        let date = local_date(self.tz, from);
        let first = date.pred_opt().unwrap_or(date);
        let end = first
            .checked_add_days(Days::new(SEARCH_DAYS as u64))
            .map(|d| local_to_utc(self.tz, d.and_time(NaiveTime::MIN)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .max(from);
        (first, end)
    }
}

/// How a target is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Around the clock: every minute counts.
    Calendar,
    /// Only minutes inside working hours on working days count.
    Business,
}

/// A response or resolution target: `minutes` counted on `clock`.
///
/// "1 business day" is stored as Business with minutes = 1 * day_minutes of the calendar at the
/// time it is set (see [`Target::business_days`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// How many minutes (negative values count as 0).
    pub minutes: i64,
    /// Which clock the minutes are counted on.
    pub clock: Clock,
}

impl Target {
    /// `h` hours around the clock.
    pub fn calendar_hours(h: i64) -> Self {
        Self { minutes: h.saturating_mul(60), clock: Clock::Calendar }
    }

    /// `h` hours inside working hours.
    pub fn business_hours(h: i64) -> Self {
        Self { minutes: h.saturating_mul(60), clock: Clock::Business }
    }

    /// n business days on `cal` = n * cal.day_minutes() business minutes.
    pub fn business_days(n: i64, cal: &BusinessCalendar) -> Self {
        Self { minutes: n.saturating_mul(cal.day_minutes()), clock: Clock::Business }
    }

    /// Plain words: "1 hour, around the clock", "4 hours, around the clock", "4 business hours",
    /// "1 business day", "3 business days" (business minutes that are a whole number of the
    /// calendar's working days are said in days), "90 business minutes" when not whole hours.
    pub fn describe(&self, cal: &BusinessCalendar) -> String {
        let m = self.minutes;
        match self.clock {
            Clock::Calendar if m % 60 == 0 => format!("{}, around the clock", plural(m / 60, "hour")),
            Clock::Calendar => format!("{}, around the clock", plural(m, "minute")),
            Clock::Business => {
                let day = cal.day_minutes();
                if day > 0 && m > 0 && m % day == 0 {
                    plural(m / day, "business day")
                } else if m % 60 == 0 {
                    plural(m / 60, "business hour")
                } else {
                    plural(m, "business minute")
                }
            }
        }
    }
}

/// When a target started at `start` falls due.
///
/// Calendar: start + minutes. Business: counts only minutes inside working hours on working days,
/// starting at `start` if open else at the next opening; a count that ends exactly at closing time
/// is due at closing time. A target of 0 minutes is due at `start` (calendar) or at the first open
/// instant >= start (business). The business search looks at about three years of days; minutes
/// still left after that are counted around the clock, so a calendar made only of holidays still
/// gives an answer. Never panics (results saturate at the ends of the representable range).
pub fn due_at(cal: &BusinessCalendar, start: DateTime<Utc>, target: Target) -> DateTime<Utc> {
    let need = minutes_delta(target.minutes.max(0));
    if target.clock == Clock::Calendar {
        return add_saturating(start, need);
    }
    let (first, end) = cal.window(start);
    let mut remaining = need;
    for date in first.iter_days().take(SEARCH_DAYS) {
        let Some((o, c)) = cal.open_interval(date) else { continue };
        let c = c.min(end);
        let s = o.max(start);
        if c <= s {
            continue;
        }
        let available = c - s;
        if remaining <= available {
            return add_saturating(s, remaining);
        }
        remaining -= available;
    }
    add_saturating(end, remaining)
}

/// Working minutes elapsed between `from` and `to` (0 if to <= from); the inverse of [`due_at`]
/// for reports ("answered in 3.5 business hours"). Calendar clocks just use (to - from).
/// Partial minutes are dropped.
pub fn elapsed_minutes(cal: &BusinessCalendar, clock: Clock, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        return 0;
    }
    if clock == Clock::Calendar {
        return (to - from).num_minutes();
    }
    let (first, end) = cal.window(from);
    let upto = to.min(end);
    let last = local_date(cal.tz, upto);
    let last = last.succ_opt().unwrap_or(last);
    let mut total = TimeDelta::zero();
    for date in first.iter_days().take(SEARCH_DAYS) {
        if date > last {
            break;
        }
        let Some((o, c)) = cal.open_interval(date) else { continue };
        if o >= upto {
            break;
        }
        let c = c.min(upto);
        let s = o.max(from);
        if c > s {
            total = total.checked_add(&(c - s)).unwrap_or(total);
        }
    }
    if to > end {
        total = total.checked_add(&(to - end.max(from))).unwrap_or(total);
    }
    total.num_minutes()
}

/// One imported holiday: its local date and its name (empty when the line gave none).
pub type Holiday = (NaiveDate, String);

/// One rejected import line: its 1-based line number and what is wrong with it, in plain words.
pub type LineError = (usize, String);

/// Parses a holiday list for import.
///
/// One holiday per line, "YYYY-MM-DD" optionally followed by a comma or whitespace and a name
/// ("2027-01-01, New Year's Day" or "2027-01-01 New Year's Day"); blank lines and lines starting
/// with '#' are ignored; a CSV header line "date,name" is ignored. A date listed twice is an
/// error. Returns the holidays in file order, or every bad line as (1-based line number, message)
/// so the form can show them.
pub fn parse_holidays(text: &str) -> Result<Vec<Holiday>, Vec<LineError>> {
    let mut good: Vec<Holiday> = Vec::new();
    let mut bad: Vec<LineError> = Vec::new();
    let mut seen: std::collections::BTreeMap<NaiveDate, usize> = std::collections::BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let is_separator = |c: char| c == ',' || c == ';' || c.is_whitespace();
        let (date_part, rest) = match line.find(is_separator) {
            Some(p) => line.split_at(p),
            None => (line, ""),
        };
        let date_part = unquote(date_part.trim());
        if date_part.eq_ignore_ascii_case("date") {
            continue;
        }
        let name = unquote(rest.trim_start_matches(is_separator).trim_end()).to_string();
        match parse_iso_date(&date_part) {
            Ok(date) => {
                if let Some(previous) = seen.get(&date) {
                    bad.push((number, format!("{date} is already listed on line {previous}.")));
                } else {
                    seen.insert(date, number);
                    good.push((date, name));
                }
            }
            Err(message) => bad.push((number, message)),
        }
    }
    if bad.is_empty() { Ok(good) } else { Err(bad) }
}

/// Parses a working-days field like "Mon-Fri", "Mon,Tue,Thu", "mon-fri,sun" into the array.
///
/// Days are case-insensitive and may be written in full or shortened to at least three letters;
/// ranges use a hyphen or an en dash and may wrap past Sunday ("Fri-Mon"); items are separated by
/// commas, semicolons or spaces. Err(message) in plain words.
pub fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let normalized = s.replace(['–', '—'], "-");
    let mut days = [false; 7];
    for piece in normalized.split([',', ';']) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if piece.contains('-') {
            let ends: Vec<&str> = piece.split('-').map(str::trim).collect();
            let [from, to] = ends.as_slice() else {
                return Err(format!("\"{piece}\" is not a range of days; write it like Mon-Fri."));
            };
            let (from, to) = (parse_day(from)?, parse_day(to)?);
            let mut i = from;
            loop {
                days[i] = true;
                if i == to {
                    break;
                }
                i = (i + 1) % 7;
            }
        } else {
            for word in piece.split_whitespace() {
                days[parse_day(word)?] = true;
            }
        }
    }
    if !days.iter().any(|&d| d) {
        return Err("Enter at least one working day, e.g. Mon-Fri.".to_string());
    }
    Ok(days)
}

/// The inverse of [`parse_days`] for forms: "Mon-Fri" / "Mon,Wed,Fri" (ASCII hyphen); empty when
/// no day is set.
pub fn format_days(days: &[bool; 7]) -> String {
    join_days(days, "-", ",")
}

/// Index of a weekday in `working_days` (Monday = 0).
fn weekday_index(day: Weekday) -> usize {
    day.num_days_from_monday() as usize
}

/// Runs of consecutive working days, each run written as "A{dash}B" (or "A" alone), joined by `sep`.
fn join_days(days: &[bool; 7], dash: &str, sep: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !days[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < 7 && days[i + 1] {
            i += 1;
        }
        if start == i {
            parts.push(DAY_NAMES[i].to_string());
        } else {
            parts.push(format!("{}{dash}{}", DAY_NAMES[start], DAY_NAMES[i]));
        }
        i += 1;
    }
    parts.join(sep)
}

/// One day name ("mon", "Tues", "thursday") to its index.
fn parse_day(word: &str) -> Result<usize, String> {
    let lower = word.trim().trim_end_matches('.').to_lowercase();
    if lower.chars().count() >= 3
        && let Some(i) = FULL_DAY_NAMES.iter().position(|full| full.starts_with(&lower))
    {
        return Ok(i);
    }
    if lower.is_empty() {
        return Err("A day is missing; write days like Mon-Fri or Mon,Wed,Fri.".to_string());
    }
    Err(format!("\"{}\" is not a day of the week; use Mon, Tue, Wed, Thu, Fri, Sat or Sun.", word.trim()))
}

/// A strict "YYYY-MM-DD" date.
fn parse_iso_date(s: &str) -> Result<NaiveDate, String> {
    let shape_ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !shape_ok {
        return Err(format!("\"{s}\" is not a date; write dates as YYYY-MM-DD, e.g. 2027-01-01."));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s} is not a real calendar date."))
}

/// Strips one pair of surrounding double quotes (CSV style, with "" inside meaning ").
fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    match s.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')) {
        Some(inner) => std::borrow::Cow::Owned(inner.replace("\"\"", "\"")),
        None => std::borrow::Cow::Borrowed(s),
    }
}

/// "8:00", "18:30" (seconds only when set).
fn fmt_time(t: NaiveTime) -> String {
    if t.second() == 0 {
        format!("{}:{:02}", t.hour(), t.minute())
    } else {
        format!("{}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

/// "1 hour" / "4 hours".
fn plural(n: i64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// `m` minutes as a duration, saturating instead of overflowing.
fn minutes_delta(m: i64) -> TimeDelta {
    TimeDelta::try_minutes(m).unwrap_or(if m < 0 { TimeDelta::MIN } else { TimeDelta::MAX })
}

/// `t + d`, saturating at the ends of the representable range.
fn add_saturating(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The local date of `at` in `tz` (the UTC date if the local one is out of range).
fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    let utc = at.naive_utc();
    let offset = i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc());
    utc.checked_add_signed(TimeDelta::seconds(offset)).unwrap_or(utc).date()
}

/// A local wall-clock time to UTC: an ambiguous time gives its earliest instant, a time inside a
/// gap gives the first valid whole minute after it. Never panics.
fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for step in 0..=GAP_SEARCH_MINUTES {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
            LocalResult::None => {
                let base = if step == 0 {
                    probe.with_second(0).and_then(|p| p.with_nanosecond(0)).unwrap_or(probe)
                } else {
                    probe
                };
                match base.checked_add_signed(TimeDelta::minutes(1)) {
                    Some(next) => probe = next,
                    None => break,
                }
            }
        }
    }
    local.and_utc()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono_tz::America::Chicago;
    use chrono_tz::Europe::Berlin;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A local wall-clock instant; checks the weekday so the tests can't pick the wrong date.
    fn at(tz: Tz, y: i32, mo: u32, d: u32, wd: Weekday, h: u32, mi: u32) -> DateTime<Utc> {
        assert_eq!(date(y, mo, d).weekday(), wd, "{y}-{mo}-{d}");
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap().with_timezone(&Utc)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn chicago() -> BusinessCalendar {
        BusinessCalendar::weekdays(Chicago)
    }

    fn every_day(tz: Tz, opens: NaiveTime, closes: NaiveTime) -> BusinessCalendar {
        BusinessCalendar { working_days: [true; 7], opens, closes, ..BusinessCalendar::weekdays(tz) }
    }

    use Weekday::*;

    #[test]
    fn inside_hours_same_day() {
        let cal = chicago();
        let start = at(Chicago, 2027, 3, 1, Mon, 9, 0);
        assert_eq!(due_at(&cal, start, Target::business_hours(4)), at(Chicago, 2027, 3, 1, Mon, 13, 0));
        assert_eq!(due_at(&cal, start, Target::business_hours(9)), at(Chicago, 2027, 3, 1, Mon, 18, 0));
    }

    #[test]
    fn spans_overnight() {
        let cal = chicago();
        let start = at(Chicago, 2027, 3, 1, Mon, 16, 0);
        assert_eq!(due_at(&cal, start, Target::business_hours(4)), at(Chicago, 2027, 3, 2, Tue, 10, 0));
    }

    #[test]
    fn friday_evening_is_due_monday() {
        let cal = chicago();
        let start = at(Chicago, 2027, 3, 5, Fri, 17, 0);
        assert_eq!(due_at(&cal, start, Target::business_hours(4)), at(Chicago, 2027, 3, 8, Mon, 11, 0));
    }

    #[test]
    fn saturday_starts_monday_morning() {
        let cal = chicago();
        let start = at(Chicago, 2027, 3, 6, Sat, 10, 0);
        assert_eq!(due_at(&cal, start, Target::business_hours(2)), at(Chicago, 2027, 3, 8, Mon, 10, 0));
        assert_eq!(due_at(&cal, start, Target::business_hours(0)), at(Chicago, 2027, 3, 8, Mon, 8, 0));
    }

    #[test]
    fn before_opening_starts_at_opening() {
        let cal = chicago();
        let start = at(Chicago, 2027, 3, 1, Mon, 7, 0);
        assert_eq!(due_at(&cal, start, Target::business_hours(1)), at(Chicago, 2027, 3, 1, Mon, 9, 0));
    }

    #[test]
    fn monday_holiday_pushes_to_tuesday() {
        let mut cal = chicago();
        cal.holidays.insert(date(2027, 3, 8));
        assert!(!cal.is_working_day(date(2027, 3, 8)));
        assert!(cal.is_working_day(date(2027, 3, 9)));
        assert!(!cal.is_working_day(date(2027, 3, 6)));
        let start = at(Chicago, 2027, 3, 5, Fri, 17, 0);
        assert_eq!(due_at(&cal, start, Target::business_hours(4)), at(Chicago, 2027, 3, 9, Tue, 11, 0));
        assert!(!cal.is_open(at(Chicago, 2027, 3, 8, Mon, 10, 0)));
    }

    #[test]
    fn dst_spring_forward() {
        // Chicago springs forward on Sunday 2027-03-14: 2:00 CST becomes 3:00 CDT.
        let cal = every_day(Chicago, t(1, 0), t(5, 0));
        let start = at(Chicago, 2027, 3, 14, Sun, 1, 0);
        assert_eq!(start, utc(2027, 3, 14, 7, 0));
        // That Sunday has only 3 real working hours (07:00-10:00 UTC); the 4th is Monday 1:00-2:00 CDT.
        let due = due_at(&cal, start, Target::business_hours(4));
        assert_eq!(due, utc(2027, 3, 15, 7, 0));
        assert_eq!(elapsed_minutes(&cal, Clock::Business, start, due), 240);

        // An opening time inside the gap opens at the first valid instant, 3:00 CDT.
        let gap = every_day(Chicago, t(2, 30), t(6, 0));
        assert_eq!(due_at(&gap, utc(2027, 3, 14, 6, 0), Target::business_hours(0)), utc(2027, 3, 14, 8, 0));
        assert!(gap.is_open(utc(2027, 3, 14, 8, 0)));
        assert!(!gap.is_open(utc(2027, 3, 14, 7, 59)));
        // Hours entirely inside the gap give no working time that day, without panicking.
        let inside = every_day(Chicago, t(2, 10), t(2, 50));
        assert_eq!(
            due_at(&inside, utc(2027, 3, 14, 6, 0), Target::business_hours(0)),
            at(Chicago, 2027, 3, 15, Mon, 2, 10)
        );

        // The Monday after: opening is 8:00 CDT = 13:00 UTC (it was 14:00 UTC the week before).
        let cal = chicago();
        let friday = at(Chicago, 2027, 3, 12, Fri, 17, 0);
        assert_eq!(friday, utc(2027, 3, 12, 23, 0));
        assert_eq!(due_at(&cal, friday, Target::business_hours(0)), utc(2027, 3, 12, 23, 0));
        assert_eq!(due_at(&cal, friday, Target::business_hours(2)), utc(2027, 3, 15, 14, 0));
        assert_eq!(
            due_at(&cal, at(Chicago, 2027, 3, 13, Sat, 12, 0), Target::business_hours(0)),
            utc(2027, 3, 15, 13, 0)
        );

        // Europe: Berlin springs forward on Sunday 2027-03-28; a whole-day calendar loses an hour.
        let berlin = every_day(Berlin, t(0, 0), t(23, 59));
        let sunday = at(Berlin, 2027, 3, 28, Sun, 0, 0);
        let monday = at(Berlin, 2027, 3, 29, Mon, 0, 0);
        assert_eq!(elapsed_minutes(&berlin, Clock::Business, sunday, monday), 1439 - 60);
        assert_eq!(
            due_at(&berlin, sunday, Target { minutes: 1379, clock: Clock::Business }),
            monday - TimeDelta::minutes(1)
        );
    }

    #[test]
    fn dst_fall_back() {
        // Chicago falls back on Sunday 2027-11-07: 2:00 CDT becomes 1:00 CST; 1:00-2:00 happens twice.
        let cal = every_day(Chicago, t(0, 0), t(3, 0));
        let start = at(Chicago, 2027, 11, 7, Sun, 0, 0);
        assert_eq!(start, utc(2027, 11, 7, 5, 0));
        // 0:00 CDT to 3:00 CST is four real hours.
        let due = due_at(&cal, start, Target::business_hours(4));
        assert_eq!(due, utc(2027, 11, 7, 9, 0));
        assert_eq!(elapsed_minutes(&cal, Clock::Business, start, due), 240);

        // An ambiguous opening time takes its earliest instant (1:30 CDT).
        let amb = every_day(Chicago, t(1, 30), t(4, 0));
        assert_eq!(due_at(&amb, utc(2027, 11, 7, 4, 0), Target::business_hours(0)), utc(2027, 11, 7, 6, 30));
        assert!(amb.is_open(utc(2027, 11, 7, 7, 45))); // 1:45 CST, the second time round

        // The Monday after: opening is 8:00 CST = 14:00 UTC.
        let cal = chicago();
        let friday = at(Chicago, 2027, 11, 5, Fri, 17, 0);
        assert_eq!(friday, utc(2027, 11, 5, 22, 0));
        assert_eq!(due_at(&cal, friday, Target::business_hours(2)), utc(2027, 11, 8, 15, 0));
    }

    #[test]
    fn calendar_hours_ignore_weekends_and_hours() {
        let cal = chicago();
        let start = at(Chicago, 2027, 3, 5, Fri, 17, 0);
        assert_eq!(due_at(&cal, start, Target::calendar_hours(24)), at(Chicago, 2027, 3, 6, Sat, 17, 0));
        assert_eq!(due_at(&cal, start, Target::calendar_hours(4)), at(Chicago, 2027, 3, 5, Fri, 21, 0));
        // Across spring-forward, 24 real hours move the wall clock by 25.
        let sat = at(Chicago, 2027, 3, 13, Sat, 12, 0);
        assert_eq!(due_at(&cal, sat, Target::calendar_hours(24)), at(Chicago, 2027, 3, 14, Sun, 13, 0));
        assert_eq!(elapsed_minutes(&cal, Clock::Calendar, start, start + TimeDelta::hours(50)), 3000);
    }

    #[test]
    fn business_days() {
        let cal = chicago();
        let one = Target::business_days(1, &cal);
        assert_eq!(one, Target { minutes: 600, clock: Clock::Business });
        let tue = at(Chicago, 2027, 3, 2, Tue, 10, 0);
        assert_eq!(due_at(&cal, tue, one), at(Chicago, 2027, 3, 3, Wed, 10, 0));
        let fri = at(Chicago, 2027, 3, 5, Fri, 10, 0);
        assert_eq!(due_at(&cal, fri, Target::business_days(3, &cal)), at(Chicago, 2027, 3, 10, Wed, 10, 0));
    }

    #[test]
    fn zero_targets() {
        let cal = chicago();
        let inside = at(Chicago, 2027, 3, 1, Mon, 9, 17);
        assert_eq!(due_at(&cal, inside, Target::business_hours(0)), inside);
        let sunday = at(Chicago, 2027, 3, 7, Sun, 9, 0);
        assert_eq!(due_at(&cal, sunday, Target::calendar_hours(0)), sunday);
        // Closing time itself is closed; the next open instant is the next morning.
        let closing = at(Chicago, 2027, 3, 1, Mon, 18, 0);
        assert!(!cal.is_open(closing));
        assert_eq!(due_at(&cal, closing, Target::business_hours(0)), at(Chicago, 2027, 3, 2, Tue, 8, 0));
        // A count that ends exactly at closing time is due at closing time.
        let two = at(Chicago, 2027, 3, 1, Mon, 14, 0);
        assert_eq!(due_at(&cal, two, Target::business_hours(4)), closing);
        // Negative targets count as zero.
        assert_eq!(due_at(&cal, inside, Target { minutes: -5, clock: Clock::Business }), inside);
        assert_eq!(due_at(&cal, inside, Target { minutes: -5, clock: Clock::Calendar }), inside);
    }

    #[test]
    fn is_open_edges() {
        let cal = chicago();
        assert!(cal.is_open(at(Chicago, 2027, 3, 1, Mon, 8, 0)));
        assert!(cal.is_open(at(Chicago, 2027, 3, 1, Mon, 17, 59)));
        assert!(!cal.is_open(at(Chicago, 2027, 3, 1, Mon, 7, 59)));
        assert!(!cal.is_open(at(Chicago, 2027, 3, 6, Sat, 12, 0)));
    }

    #[test]
    fn all_holidays_terminates() {
        let mut cal = chicago();
        let first = date(2027, 1, 1);
        cal.holidays = first.iter_days().take(5 * 366).collect();
        let start = at(Chicago, 2027, 3, 1, Mon, 9, 0);
        for target in [Target::business_hours(0), Target::business_hours(4), Target::business_days(10, &cal)]
        {
            let due = due_at(&cal, start, target);
            assert!(due > start + TimeDelta::days(365 * 3));
            assert_eq!(elapsed_minutes(&cal, Clock::Business, start, due), target.minutes);
        }
        assert!(!cal.is_open(start));

        // No working days at all (an invalid calendar) still answers.
        let none = BusinessCalendar { working_days: [false; 7], ..chicago() };
        assert!(none.validate().is_err());
        let due = due_at(&none, start, Target::business_hours(1));
        assert!(due > start);
        // Closing before opening: no working time, no panic.
        let backwards = BusinessCalendar { opens: t(18, 0), closes: t(8, 0), ..chicago() };
        assert!(backwards.validate().is_err());
        assert_eq!(backwards.day_minutes(), 0);
        assert!(due_at(&backwards, start, Target::business_hours(1)) > start);
    }

    #[test]
    fn extremes_never_panic() {
        let cal = BusinessCalendar { working_days: [true; 7], ..BusinessCalendar::weekdays(Chicago) };
        let kiritimati = BusinessCalendar::weekdays(chrono_tz::Pacific::Kiritimati);
        let apia = every_day(chrono_tz::Pacific::Apia, t(8, 0), t(18, 0));
        let huge = [
            Target { minutes: i64::MAX, clock: Clock::Business },
            Target { minutes: i64::MAX, clock: Clock::Calendar },
            Target { minutes: i64::MIN, clock: Clock::Business },
            Target { minutes: i64::MIN, clock: Clock::Calendar },
            Target::business_days(i64::MAX, &cal),
            Target::business_hours(3),
        ];
        for c in [&cal, &kiritimati, &apia] {
            for start in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, utc(2027, 3, 1, 12, 0)] {
                for target in huge {
                    let due = due_at(c, start, target);
                    assert!(due >= start);
                    let _ = c.is_open(start);
                }
            }
            assert!(
                elapsed_minutes(c, Clock::Business, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC) > 0
            );
            assert!(
                elapsed_minutes(c, Clock::Calendar, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC) > 0
            );
        }
        // Samoa skipped 2011-12-30 entirely; the day has no working time and nothing panics.
        let thu = at(chrono_tz::Pacific::Apia, 2011, 12, 29, Thu, 17, 0);
        let due = due_at(&apia, thu, Target::business_hours(2));
        assert_eq!(due, at(chrono_tz::Pacific::Apia, 2011, 12, 31, Sat, 9, 0));
    }

    #[test]
    fn elapsed_is_inverse_of_due_at() {
        let mut holiday = chicago();
        holiday.holidays.insert(date(2027, 3, 17));
        let calendars = [
            holiday,
            every_day(Chicago, t(1, 0), t(5, 0)),
            every_day(Berlin, t(0, 0), t(23, 59)),
            BusinessCalendar {
                working_days: [true, false, true, false, true, false, true],
                opens: t(9, 30),
                closes: t(17, 15),
                ..BusinessCalendar::weekdays(chrono_tz::Asia::Kolkata)
            },
        ];
        let targets = [0, 1, 59, 60, 90, 240, 599, 600, 601, 1439, 3000, 6000];
        for cal in &calendars {
            let mut start = utc(2027, 3, 8, 0, 0);
            let mut checked_open = 0;
            while start < utc(2027, 3, 31, 0, 0) {
                let mut previous = start;
                for &m in &targets {
                    let target = Target { minutes: m, clock: Clock::Business };
                    let due = due_at(cal, start, target);
                    assert!(due >= previous, "due times grow with the target");
                    previous = due;
                    assert_eq!(
                        elapsed_minutes(cal, Clock::Business, start, due),
                        m,
                        "{start} + {m} -> {due}"
                    );
                    if m > 0 {
                        assert!(cal.is_open(due - TimeDelta::seconds(1)), "{start} + {m} -> {due}");
                    }
                    let cal_due = due_at(cal, start, Target { minutes: m, clock: Clock::Calendar });
                    assert_eq!(elapsed_minutes(cal, Clock::Calendar, start, cal_due), m);
                }
                if cal.is_open(start) {
                    checked_open += 1;
                }
                start += TimeDelta::minutes(37);
            }
            assert!(checked_open > 50);
        }
        let cal = chicago();
        let a = at(Chicago, 2027, 3, 1, Mon, 12, 0);
        assert_eq!(elapsed_minutes(&cal, Clock::Business, a, a - TimeDelta::hours(1)), 0);
        assert_eq!(elapsed_minutes(&cal, Clock::Business, a, a + TimeDelta::seconds(90)), 1);
        // Friday 17:00 to Monday 9:30: one hour Friday, 90 minutes Monday.
        let fri = at(Chicago, 2027, 3, 5, Fri, 17, 0);
        let mon = at(Chicago, 2027, 3, 8, Mon, 9, 30);
        assert_eq!(elapsed_minutes(&cal, Clock::Business, fri, mon), 150);
    }

    #[test]
    fn parse_holidays_good() {
        let text = "\u{feff}date,name\n# US holidays\n\n2027-01-01, New Year's Day\n2027-05-31 Memorial Day\n\
                    2027-07-05\n  2027-11-25,\"Thanksgiving, observed\"  \n2027-12-24\tChristmas Eve\n";
        let got = parse_holidays(text).unwrap();
        assert_eq!(
            got,
            vec![
                (date(2027, 1, 1), "New Year's Day".to_string()),
                (date(2027, 5, 31), "Memorial Day".to_string()),
                (date(2027, 7, 5), String::new()),
                (date(2027, 11, 25), "Thanksgiving, observed".to_string()),
                (date(2027, 12, 24), "Christmas Eve".to_string()),
            ]
        );
        assert_eq!(parse_holidays("").unwrap(), vec![]);
        assert_eq!(parse_holidays("Date, Name\n2027-01-01 , New Year").unwrap()[0].1, "New Year");
    }

    #[test]
    fn parse_holidays_bad_lines() {
        let text = "date,name\n2027-01-01, New Year\n2027-13-01, Nope\n\n01/02/2027 US style\n\
                    2027-02-30\n27-1-1 short\n2027-01-01 again\n, no date\n";
        let errors = parse_holidays(text).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, vec![3, 5, 6, 7, 8, 9]);
        assert!(errors[0].1.contains("2027-13-01"), "{}", errors[0].1);
        assert!(errors[1].1.contains("YYYY-MM-DD"), "{}", errors[1].1);
        assert!(errors[4].1.contains("line 2"), "{}", errors[4].1);
    }

    #[test]
    fn parse_and_format_days() {
        const MON_FRI: [bool; 7] = [true, true, true, true, true, false, false];
        assert_eq!(parse_days("Mon-Fri").unwrap(), MON_FRI);
        assert_eq!(parse_days(" monday – friday ").unwrap(), MON_FRI);
        assert_eq!(parse_days("Mon,Tue,Thu").unwrap(), [true, true, false, true, false, false, false]);
        assert_eq!(parse_days("mon-fri,sun").unwrap(), [true, true, true, true, true, false, true]);
        assert_eq!(parse_days("Mon Wed Fri").unwrap(), [true, false, true, false, true, false, false]);
        assert_eq!(parse_days("Fri-Mon").unwrap(), [true, false, false, false, true, true, true]);
        assert_eq!(parse_days("Tues, Thurs.").unwrap(), [false, true, false, true, false, false, false]);
        assert!(parse_days("").is_err());
        assert!(parse_days(" , ").is_err());
        assert!(parse_days("Mon-Fri-Sat").unwrap_err().contains("Mon-Fri-Sat"));
        assert!(parse_days("Mon,Funday").unwrap_err().contains("Funday"));
        assert!(parse_days("Mo").is_err());
        assert!(parse_days("Mon-").is_err());

        assert_eq!(format_days(&MON_FRI), "Mon-Fri");
        assert_eq!(format_days(&[true, false, true, false, true, false, false]), "Mon,Wed,Fri");
        assert_eq!(format_days(&[true, true, true, true, true, false, true]), "Mon-Fri,Sun");
        assert_eq!(format_days(&[false; 7]), "");
        for bits in 1u8..128 {
            let days: [bool; 7] = std::array::from_fn(|i| bits & (1 << i) != 0);
            assert_eq!(parse_days(&format_days(&days)).unwrap(), days, "{}", format_days(&days));
        }
    }

    #[test]
    fn describe_calendar() {
        let mut cal = chicago();
        assert_eq!(cal.describe(), "Mon–Fri 8:00–18:00 America/Chicago");
        cal.working_days = [true, false, true, false, true, false, false];
        cal.opens = t(9, 30);
        cal.closes = t(17, 0);
        assert_eq!(cal.describe(), "Mon, Wed, Fri 9:30–17:00 America/Chicago");
        cal.working_days = [true, true, true, false, false, true, true];
        assert_eq!(cal.describe(), "Mon–Wed, Sat–Sun 9:30–17:00 America/Chicago");
        assert_eq!(chicago().day_minutes(), 600);
        assert!(chicago().validate().is_ok());
        let bad = BusinessCalendar { closes: t(8, 0), ..chicago() };
        assert_eq!(
            bad.validate().unwrap_err(),
            "The closing time (8:00) must be later than the opening time (8:00)."
        );
    }

    #[test]
    fn describe_targets() {
        let cal = chicago();
        assert_eq!(Target::calendar_hours(1).describe(&cal), "1 hour, around the clock");
        assert_eq!(Target::calendar_hours(4).describe(&cal), "4 hours, around the clock");
        assert_eq!(Target::business_hours(1).describe(&cal), "1 business hour");
        assert_eq!(Target::business_hours(4).describe(&cal), "4 business hours");
        assert_eq!(Target::business_days(1, &cal).describe(&cal), "1 business day");
        assert_eq!(Target::business_days(3, &cal).describe(&cal), "3 business days");
        assert_eq!(Target::business_hours(20).describe(&cal), "2 business days");
        assert_eq!(Target::business_hours(12).describe(&cal), "12 business hours");
        assert_eq!(Target { minutes: 90, clock: Clock::Business }.describe(&cal), "90 business minutes");
        assert_eq!(
            Target { minutes: 90, clock: Clock::Calendar }.describe(&cal),
            "90 minutes, around the clock"
        );
        assert_eq!(Target::business_hours(0).describe(&cal), "0 business hours");
    }
}
