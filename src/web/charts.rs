//! Server-side SVG charts, rendered as strings and embedded inline in HTML.
//!
//! Keel serves pages under a strict Content-Security-Policy that forbids
//! inline `style` attributes and scripts, so every chart here is static SVG
//! whose colours come exclusively from CSS classes defined in the site
//! stylesheet:
//!
//! * `chart-series-0` … `chart-series-7` — series colours (indices wrap after 8),
//! * `chart-grid`, `chart-axis`, `chart-title`, `chart-line`,
//! * `uptime-bar-operational|degraded|partial|major|maintenance|nodata`.
//!
//! Additional hook classes are emitted for finer styling (all optional):
//! `chart-bar`, `chart-segment`, `chart-point`, `chart-tick`, `chart-tick-x`,
//! `chart-tick-y`, `chart-axis-label`, `chart-legend`, `chart-legend-swatch`,
//! `chart-legend-label`, `chart-empty` and `uptime-bar`. The root element is
//! always `<svg class="chart" …>` and carries a `data-chart` attribute naming
//! the chart kind (`bar`, `stacked-bar`, `line`, `sparkline`, `uptime`).
//!
//! Only a handful of *presentation attributes* are used for layout
//! (`font-size`, `text-anchor`, `transform`, `preserveAspectRatio`, and
//! `fill="none"` on polylines as a safe default); these are not governed by
//! CSP and any CSS rule overrides them.
//!
//! Accessibility: every chart has `role="img"`, a `<title>` and a `<desc>`
//! (a plain-text summary of the data) referenced through `aria-labelledby`
//! (sparklines use `aria-label`), and every data mark carries a `<title>`
//! tooltip with its label and formatted value.
//!
//! Robustness: all text is XML-escaped, control characters are dropped,
//! negative / NaN / infinite values are clamped to `0`, empty input renders
//! a chart saying "No data for this period", and every coordinate is written
//! with at most two decimals.

use std::fmt::Write as _;

/// A named sequence of values, one per x-axis label.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Series name shown in the legend and tooltips.
    pub name: String,
    /// Values aligned with the chart labels; negative, NaN and infinite
    /// values are treated as `0`.
    pub values: Vec<f64>,
}

impl Series {
    /// Convenience constructor.
    #[must_use]
    pub fn new(name: &str, values: Vec<f64>) -> Self {
        Self { name: name.to_string(), values }
    }
}

/// Options shared by the axis charts ([`bar_chart`], [`stacked_bar_chart`],
/// [`line_chart`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartOpts {
    /// Element id prefix; used for the `<title>`/`<desc>` ids
    /// (`<id>-title`, `<id>-desc`). Characters other than ASCII
    /// alphanumerics, `-` and `_` are replaced by `-`.
    pub id: String,
    /// Chart title, shown at the top and used as the accessible name.
    pub title: String,
    /// Unit of the values (e.g. `ms`, `requests`, `%`), shown on the y axis
    /// and in tooltips. May be empty.
    pub unit: String,
    /// viewBox width in user units (clamped to 160..=10000).
    pub width: u32,
    /// viewBox height in user units (clamped to 140..=10000).
    pub height: u32,
}

impl ChartOpts {
    /// Options with the default size of 640×240.
    #[must_use]
    pub fn new(id: &str, title: &str, unit: &str) -> Self {
        Self {
            id: id.to_string(),
            title: title.to_string(),
            unit: unit.to_string(),
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }

    /// Returns the options with a different viewBox size.
    #[must_use]
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }
}

/// One bar per day for a status-page uptime strip (90 days typically).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptimeDay {
    /// Day label, e.g. `"2026-11-20"`.
    pub label: String,
    /// Worst state of the day; selects the bar's CSS class.
    pub state: UptimeState,
    /// Tooltip text, e.g. `"99.95% uptime · 1 incident"`. When empty the
    /// state's description is used instead.
    pub detail: String,
}

/// Status of a component on one day of an uptime strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UptimeState {
    /// Everything worked (`uptime-bar-operational`).
    Operational,
    /// Degraded performance (`uptime-bar-degraded`).
    Degraded,
    /// Partial outage (`uptime-bar-partial`).
    Partial,
    /// Major outage (`uptime-bar-major`).
    Major,
    /// Scheduled maintenance (`uptime-bar-maintenance`).
    Maintenance,
    /// No monitoring data (`uptime-bar-nodata`).
    NoData,
}

impl UptimeState {
    /// All states, in severity-agnostic display order.
    pub const ALL: [UptimeState; 6] = [
        UptimeState::Operational,
        UptimeState::Degraded,
        UptimeState::Partial,
        UptimeState::Major,
        UptimeState::Maintenance,
        UptimeState::NoData,
    ];

    /// CSS class of a bar in this state, e.g. `uptime-bar-operational`.
    #[must_use]
    pub fn css_class(self) -> &'static str {
        match self {
            UptimeState::Operational => "uptime-bar-operational",
            UptimeState::Degraded => "uptime-bar-degraded",
            UptimeState::Partial => "uptime-bar-partial",
            UptimeState::Major => "uptime-bar-major",
            UptimeState::Maintenance => "uptime-bar-maintenance",
            UptimeState::NoData => "uptime-bar-nodata",
        }
    }

    /// Human-readable description, e.g. `Partial outage`.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self {
            UptimeState::Operational => "Operational",
            UptimeState::Degraded => "Degraded performance",
            UptimeState::Partial => "Partial outage",
            UptimeState::Major => "Major outage",
            UptimeState::Maintenance => "Maintenance",
            UptimeState::NoData => "No data",
        }
    }
}

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

const DEFAULT_WIDTH: u32 = 640;
const DEFAULT_HEIGHT: u32 = 240;
const MIN_WIDTH: u32 = 160;
const MIN_HEIGHT: u32 = 140;
const MAX_DIM: u32 = 10_000;

/// Message rendered in place of data when there is nothing to plot.
const NO_DATA: &str = "No data for this period";

const FONT_SIZE: f64 = 11.0;
const TITLE_FONT_SIZE: f64 = 13.0;
/// Conservative average advance of one character at [`FONT_SIZE`].
const CHAR_W: f64 = 6.6;
/// Conservative average advance of one character at [`TITLE_FONT_SIZE`].
const TITLE_CHAR_W: f64 = 7.8;
/// Minimum horizontal gap between two x-axis labels.
const LABEL_GAP: f64 = 6.0;

const PALETTE: usize = 8;
const MAX_X_LABEL_CHARS: usize = 16;
const MAX_LEGEND_CHARS: usize = 24;
const MAX_LEGEND_ROWS: usize = 3;
const MAX_DESC_SERIES: usize = 8;

/// Values are clamped to this so sums and scales always stay finite.
const MAX_VALUE: f64 = 1e300;
/// Smallest tick step; keeps tick labels distinct at two decimals.
const MIN_STEP: f64 = 0.01;

const TITLE_BASELINE: f64 = 18.0;
const LEGEND_TOP: f64 = 28.0;
const LEGEND_ROW_H: f64 = 16.0;
const SWATCH: f64 = 10.0;
const MARGIN_RIGHT: f64 = 12.0;
const MARGIN_BOTTOM: f64 = 24.0;

const UPTIME_BAR_W: f64 = 3.0;
const UPTIME_GAP: f64 = 2.0;
const UPTIME_H: f64 = 34.0;
const UPTIME_EMPTY_W: f64 = 448.0;

// ---------------------------------------------------------------------------
// Public chart functions
// ---------------------------------------------------------------------------

/// Renders a vertical bar chart with one bar per value.
///
/// `labels[i]` labels `values[i]`; missing labels are left blank and extra
/// labels are ignored. An empty `values` slice renders the "No data for this
/// period" message.
#[must_use]
pub fn bar_chart(opts: &ChartOpts, labels: &[String], values: &[f64]) -> String {
    let id = sanitize_id(&opts.id);
    let (w, h) = dims(opts);
    if values.is_empty() {
        return empty_chart(&id, "bar", opts, w, h);
    }
    let vals: Vec<f64> = values.iter().map(|&v| clean(v)).collect();
    let n = vals.len();
    let max = vals.iter().copied().fold(0.0, f64::max);
    let scale = nice_scale(max);
    let plot = layout(w, h, &scale, &opts.unit, 0);
    let desc = bar_desc(opts, labels, &vals);

    let mut out = String::with_capacity(2048 + n * 160);
    open_svg(
        &mut out,
        &Root {
            id: &id,
            kind: "bar",
            w,
            h,
            title: &display_title(&opts.title),
            desc: &desc,
            aria_label: None,
            extra: "",
        },
    );
    draw_title(&mut out, &opts.title, w);
    draw_grid(&mut out, &plot, &scale, &opts.unit);
    draw_x_labels(&mut out, &plot, labels, n, w);

    let band = plot.w() / n as f64;
    let bar_w = band * 0.7;
    let pad = (band - bar_w) / 2.0;
    out.push_str("<g class=\"chart-bars\">");
    for (i, &v) in vals.iter().enumerate() {
        let bh = plot.scale_len(v, &scale);
        let _ = write!(
            out,
            "<rect class=\"chart-bar chart-series-0\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">",
            num(plot.x0 + band * i as f64 + pad),
            num(plot.y1 - bh),
            num(bar_w),
            num(bh)
        );
        mark_title(&mut out, &tip(label_at(labels, i), &with_unit(v, &opts.unit)));
        out.push_str("</rect>");
    }
    out.push_str("</g>");
    draw_axes(&mut out, &plot);
    out.push_str("</svg>");
    out
}

/// Renders a stacked bar chart (one stack per label, one segment per series)
/// with a legend.
///
/// The number of stacks is the length of the longest series; shorter series
/// are padded with zeros. Zero-valued segments are not drawn.
#[must_use]
pub fn stacked_bar_chart(opts: &ChartOpts, labels: &[String], series: &[Series]) -> String {
    let id = sanitize_id(&opts.id);
    let (w, h) = dims(opts);
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    if n == 0 {
        return empty_chart(&id, "stacked-bar", opts, w, h);
    }
    let totals: Vec<f64> = (0..n).map(|i| series.iter().map(|s| value_at(&s.values, i)).sum()).collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let scale = nice_scale(max);
    let names = series_names(series);
    let legend = legend_layout(&names, w);
    let plot = layout(w, h, &scale, &opts.unit, legend.rows);
    let desc = stacked_desc(opts, labels, series, &names, &totals);

    let mut out = String::with_capacity(2048 + n * series.len() * 180);
    open_svg(
        &mut out,
        &Root {
            id: &id,
            kind: "stacked-bar",
            w,
            h,
            title: &display_title(&opts.title),
            desc: &desc,
            aria_label: None,
            extra: "",
        },
    );
    draw_title(&mut out, &opts.title, w);
    draw_legend(&mut out, &legend);
    draw_grid(&mut out, &plot, &scale, &opts.unit);
    draw_x_labels(&mut out, &plot, labels, n, w);

    let band = plot.w() / n as f64;
    let bar_w = band * 0.7;
    let pad = (band - bar_w) / 2.0;
    out.push_str("<g class=\"chart-bars\">");
    for (i, &total) in totals.iter().enumerate() {
        let label = label_at(labels, i);
        let x = plot.x0 + band * i as f64 + pad;
        let mut acc = 0.0;
        for (si, s) in series.iter().enumerate() {
            let v = value_at(&s.values, i);
            if v <= 0.0 {
                continue;
            }
            let y_bottom = plot.y1 - plot.scale_len(acc, &scale);
            acc += v;
            let y_top = plot.y1 - plot.scale_len(acc, &scale);
            let _ = write!(
                out,
                "<rect class=\"chart-segment chart-series-{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">",
                si % PALETTE,
                num(x),
                num(y_top),
                num(bar_w),
                num((y_bottom - y_top).max(0.0))
            );
            let name = names.get(si).map_or("", String::as_str);
            let text = format!(
                "{name} · {} (total {})",
                tip(label, &with_unit(v, &opts.unit)),
                with_unit(total, &opts.unit)
            );
            mark_title(&mut out, &text);
            out.push_str("</rect>");
        }
    }
    out.push_str("</g>");
    draw_axes(&mut out, &plot);
    out.push_str("</svg>");
    out
}

/// Renders a line chart with one polyline (plus a point per value) for each
/// series; a legend is shown when there is more than one series.
///
/// Points are placed at the centre of each label's slot, so labels line up
/// exactly as they do in the bar charts.
#[must_use]
pub fn line_chart(opts: &ChartOpts, labels: &[String], series: &[Series]) -> String {
    let id = sanitize_id(&opts.id);
    let (w, h) = dims(opts);
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    if n == 0 {
        return empty_chart(&id, "line", opts, w, h);
    }
    let max = series.iter().flat_map(|s| s.values.iter()).map(|&v| clean(v)).fold(0.0, f64::max);
    let scale = nice_scale(max);
    let names = series_names(series);
    let legend = if series.len() > 1 { legend_layout(&names, w) } else { Legend::default() };
    let plot = layout(w, h, &scale, &opts.unit, legend.rows);
    let desc = line_desc(opts, labels, series, &names, n);

    let mut out = String::with_capacity(2048 + n * series.len() * 150);
    open_svg(
        &mut out,
        &Root {
            id: &id,
            kind: "line",
            w,
            h,
            title: &display_title(&opts.title),
            desc: &desc,
            aria_label: None,
            extra: "",
        },
    );
    draw_title(&mut out, &opts.title, w);
    draw_legend(&mut out, &legend);
    draw_grid(&mut out, &plot, &scale, &opts.unit);
    draw_x_labels(&mut out, &plot, labels, n, w);
    draw_axes(&mut out, &plot);

    let band = plot.w() / n as f64;
    let radius = (band * 0.3).clamp(1.5, 3.0);
    let multi = series.len() > 1;
    for (si, s) in series.iter().enumerate() {
        if s.values.is_empty() {
            continue;
        }
        let color = si % PALETTE;
        let name = names.get(si).map_or("", String::as_str);
        let pts: Vec<(f64, f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &raw)| {
                let v = clean(raw);
                let x = plot.x0 + band * (i as f64 + 0.5);
                (x, plot.y1 - plot.scale_len(v, &scale), v)
            })
            .collect();
        let _ = write!(out, "<g class=\"chart-series chart-series-{color}\">");
        if pts.len() >= 2 {
            let points: Vec<String> =
                pts.iter().map(|(x, y, _)| format!("{},{}", num(*x), num(*y))).collect();
            let _ = write!(
                out,
                "<polyline class=\"chart-line chart-series-{color}\" fill=\"none\" points=\"{}\">",
                points.join(" ")
            );
            mark_title(&mut out, &format!("{name}: {}", series_summary(&s.values, &opts.unit)));
            out.push_str("</polyline>");
        }
        for (i, (x, y, v)) in pts.iter().enumerate() {
            let _ = write!(
                out,
                "<circle class=\"chart-point chart-series-{color}\" cx=\"{}\" cy=\"{}\" r=\"{}\">",
                num(*x),
                num(*y),
                num(radius)
            );
            let t = tip(label_at(labels, i), &with_unit(*v, &opts.unit));
            let text = if multi { format!("{name} · {t}") } else { t };
            mark_title(&mut out, &text);
            out.push_str("</circle>");
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// Renders a tiny trend line without axes, labelled through `aria-label`.
///
/// The line spans the value range (min..max) of the data so that small
/// variations remain visible; the latest value is marked with a dot. The
/// root element carries explicit `width`/`height` attributes because
/// sparklines usually sit inline in tables.
#[must_use]
pub fn sparkline(id: &str, label: &str, values: &[f64], width: u32, height: u32) -> String {
    let id = sanitize_id(id);
    let w = f64::from(width.clamp(8, MAX_DIM));
    let h = f64::from(height.clamp(4, MAX_DIM));
    let extra = format!(" width=\"{}\" height=\"{}\"", num(w), num(h));
    let name = if label.trim().is_empty() { "Trend" } else { label.trim() };
    let mut out = String::with_capacity(512 + values.len() * 16);
    if values.is_empty() {
        let aria = format!("{name}: {NO_DATA}");
        open_svg(
            &mut out,
            &Root {
                id: &id,
                kind: "sparkline",
                w,
                h,
                title: name,
                desc: &aria,
                aria_label: Some(&aria),
                extra: &extra,
            },
        );
        let fs = (w / (NO_DATA.chars().count() as f64 * 0.6)).min(h * 0.8).min(FONT_SIZE);
        let _ = write!(
            out,
            "<text class=\"chart-empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\">{NO_DATA}</text></svg>",
            num(w / 2.0),
            num(h / 2.0 + fs * 0.35),
            num(fs)
        );
        return out;
    }
    let vals: Vec<f64> = values.iter().map(|&v| clean(v)).collect();
    let n = vals.len();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(0.0, f64::max);
    let latest = vals.last().copied().unwrap_or(0.0);
    let summary = format!(
        "{} values, latest {}, min {}, max {}",
        n,
        format_value(latest),
        format_value(lo),
        format_value(hi)
    );
    let aria = format!("{name}: {summary}");
    open_svg(
        &mut out,
        &Root {
            id: &id,
            kind: "sparkline",
            w,
            h,
            title: name,
            desc: &aria,
            aria_label: Some(&aria),
            extra: &extra,
        },
    );
    let pad = (h / 4.0).min(2.0);
    let inner_w = (w - 2.0 * pad).max(0.0);
    let inner_h = (h - 2.0 * pad).max(0.0);
    let point = |i: usize, v: f64| -> (f64, f64) {
        let x = if n == 1 { w / 2.0 } else { pad + inner_w * i as f64 / (n - 1) as f64 };
        let y = if hi - lo > 0.0 {
            h - pad - (v - lo) / (hi - lo) * inner_h
        } else if hi > 0.0 {
            h / 2.0
        } else {
            h - pad
        };
        (x, y)
    };
    let pts: Vec<(f64, f64)> = vals.iter().enumerate().map(|(i, &v)| point(i, v)).collect();
    if pts.len() >= 2 {
        let points: Vec<String> = pts.iter().map(|(x, y)| format!("{},{}", num(*x), num(*y))).collect();
        let _ = write!(
            out,
            "<polyline class=\"chart-line chart-series-0\" fill=\"none\" points=\"{}\">",
            points.join(" ")
        );
        mark_title(&mut out, &aria);
        out.push_str("</polyline>");
    }
    if let Some(&(x, y)) = pts.last() {
        let _ = write!(
            out,
            "<circle class=\"chart-point chart-series-0\" cx=\"{}\" cy=\"{}\" r=\"{}\">",
            num(x),
            num(y),
            num(pad.max(1.0))
        );
        mark_title(&mut out, &format!("{name}: latest {}", format_value(latest)));
        out.push_str("</circle>");
    }
    out.push_str("</svg>");
    out
}

/// Renders a status-page uptime strip: one thin vertical bar per day
/// (3 units wide, 2-unit gaps, 34 high).
///
/// The viewBox width grows with the number of days and the root uses
/// `preserveAspectRatio="none"`, so the strip stretches to whatever width
/// the stylesheet gives `.chart[data-chart="uptime"]`. Each bar's `<title>`
/// is `"label: detail"`. There is no visible title text (it would be
/// distorted by the stretching); the title is the accessible name.
#[must_use]
pub fn uptime_strip(id: &str, title: &str, days: &[UptimeDay]) -> String {
    let id = sanitize_id(id);
    let title = display_title(title);
    let mut out = String::with_capacity(512 + days.len() * 160);
    if days.is_empty() {
        let desc = format!("{title}: {NO_DATA}.");
        open_svg(
            &mut out,
            &Root {
                id: &id,
                kind: "uptime",
                w: UPTIME_EMPTY_W,
                h: UPTIME_H,
                title: &title,
                desc: &desc,
                aria_label: None,
                extra: "",
            },
        );
        let _ = write!(
            out,
            "<text class=\"chart-empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{NO_DATA}</text></svg>",
            num(UPTIME_EMPTY_W / 2.0),
            num(UPTIME_H / 2.0 + 4.0)
        );
        return out;
    }
    let n = days.len();
    let w = n as f64 * (UPTIME_BAR_W + UPTIME_GAP) - UPTIME_GAP;
    let desc = uptime_desc(&title, days);
    open_svg(
        &mut out,
        &Root {
            id: &id,
            kind: "uptime",
            w,
            h: UPTIME_H,
            title: &title,
            desc: &desc,
            aria_label: None,
            extra: " preserveAspectRatio=\"none\"",
        },
    );
    for (i, day) in days.iter().enumerate() {
        let _ = write!(
            out,
            "<rect class=\"uptime-bar {}\" x=\"{}\" y=\"0\" width=\"{}\" height=\"{}\">",
            day.state.css_class(),
            num(i as f64 * (UPTIME_BAR_W + UPTIME_GAP)),
            num(UPTIME_BAR_W),
            num(UPTIME_H)
        );
        let detail = if day.detail.trim().is_empty() { day.state.description() } else { day.detail.trim() };
        mark_title(&mut out, &tip(day.label.trim(), detail));
        out.push_str("</rect>");
    }
    out.push_str("</svg>");
    out
}

/// Formats a number compactly for axis labels: `950` → `"950"`,
/// `1200` → `"1.2k"`, `3_400_000` → `"3.4M"`, `2.5` → `"2.5"`.
///
/// Values below 1000 keep up to two decimals; larger values use one
/// decimal and the SI suffixes `k`, `M`, `G`, `T`, `P`, `E`; anything
/// beyond uses scientific notation (`1.5e21`). Trailing zeros are trimmed,
/// negative values keep their sign, NaN renders as `"NaN"` and infinities
/// as `"∞"`/`"-∞"`.
#[must_use]
pub fn format_compact(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞" } else { "-∞" }.to_string();
    }
    let body = compact_abs(v.abs());
    if v < 0.0 && body != "0" { format!("-{body}") } else { body }
}

// ---------------------------------------------------------------------------
// Number formatting
// ---------------------------------------------------------------------------

fn compact_abs(a: f64) -> String {
    if (a * 100.0).round() < 100_000.0 {
        return trim_zeros(&format!("{a:.2}"));
    }
    let mut scale = 1.0;
    for suffix in ["k", "M", "G", "T", "P", "E"] {
        scale *= 1000.0;
        let r = (a / scale * 10.0).round() / 10.0;
        if r < 1000.0 {
            return format!("{}{suffix}", trim_zeros(&format!("{r:.1}")));
        }
    }
    let s = format!("{a:.1e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
        None => s,
    }
}

/// Full-precision (two decimals, thousands separators) value for tooltips
/// and descriptions; falls back to [`format_compact`] for huge values.
fn format_value(v: f64) -> String {
    if !v.is_finite() || v.abs() >= 1e15 {
        return format_compact(v);
    }
    let s = format!("{:.2}", v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((s.as_str(), ""));
    let grouped = group_digits(int);
    let frac = frac.trim_end_matches('0');
    let body = if frac.is_empty() { grouped } else { format!("{grouped}.{frac}") };
    if v < 0.0 && body != "0" { format!("-{body}") } else { body }
}

fn group_digits(int: &str) -> String {
    let len = int.chars().count();
    let mut out = String::with_capacity(len + len / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (len - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
}

/// Formats a coordinate with at most two decimals.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = trim_zeros(&format!("{v:.2}"));
    if s == "-0" { "0".to_string() } else { s }
}

fn with_unit(v: f64, unit: &str) -> String {
    let u = unit.trim();
    let n = format_value(v);
    if u.is_empty() {
        n
    } else if u.starts_with('%') {
        format!("{n}{u}")
    } else {
        format!("{n} {u}")
    }
}

/// Sanitises a data value: negative, NaN and infinite values become `0`,
/// huge values are capped at [`MAX_VALUE`].
fn clean(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 { v.min(MAX_VALUE) } else { 0.0 }
}

fn value_at(values: &[f64], i: usize) -> f64 {
    values.get(i).map_or(0.0, |&v| clean(v))
}

// ---------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------

/// XML-escapes text for element content and attribute values; drops
/// control characters (invalid in XML) and turns tabs/newlines into spaces.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{FFFE}' | '\u{FFFF}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Truncates to at most `max_chars` characters, ending with `…` when cut.
/// Returns the text and whether it was truncated.
fn truncate(s: &str, max_chars: usize) -> (String, bool) {
    if s.chars().count() <= max_chars {
        return (s.to_string(), false);
    }
    if max_chars == 0 {
        return (String::new(), true);
    }
    let mut t: String = s.chars().take(max_chars - 1).collect();
    let trimmed_len = t.trim_end().len();
    t.truncate(trimmed_len);
    t.push('…');
    (t, true)
}

fn text_w(s: &str, char_w: f64) -> f64 {
    s.chars().count() as f64 * char_w
}

fn sanitize_id(id: &str) -> String {
    let s: String = id
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    if s.is_empty() { "chart".to_string() } else { s }
}

fn display_title(title: &str) -> String {
    let t = title.trim();
    if t.is_empty() { "Chart".to_string() } else { t.to_string() }
}

fn label_at(labels: &[String], i: usize) -> &str {
    labels.get(i).map_or("", |s| s.trim())
}

fn tip(label: &str, value: &str) -> String {
    if label.is_empty() { value.to_string() } else { format!("{label}: {value}") }
}

fn series_names(series: &[Series]) -> Vec<String> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n = s.name.trim();
            if n.is_empty() { format!("Series {}", i + 1) } else { n.to_string() }
        })
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn range_text(labels: &[String], n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let first = label_at(labels, 0);
    let last = label_at(labels, n - 1);
    if n == 1 || first == last {
        if first.is_empty() { String::new() } else { format!(" ({first})") }
    } else if first.is_empty() || last.is_empty() {
        String::new()
    } else {
        format!(" ({first} to {last})")
    }
}

fn labelled(label: &str, value: &str) -> String {
    if label.is_empty() { value.to_string() } else { format!("{label} ({value})") }
}

// ---------------------------------------------------------------------------
// Descriptions
// ---------------------------------------------------------------------------

fn bar_desc(opts: &ChartOpts, labels: &[String], vals: &[f64]) -> String {
    let n = vals.len();
    let mut d = format!(
        "{}: bar chart of {}{}.",
        display_title(&opts.title),
        plural(n, "value", "values"),
        range_text(labels, n)
    );
    let mut max_i = 0;
    let mut min_i = 0;
    for (i, &v) in vals.iter().enumerate() {
        if v > vals.get(max_i).copied().unwrap_or(0.0) {
            max_i = i;
        }
        if v < vals.get(min_i).copied().unwrap_or(0.0) {
            min_i = i;
        }
    }
    let max = vals.get(max_i).copied().unwrap_or(0.0);
    let min = vals.get(min_i).copied().unwrap_or(0.0);
    if max <= 0.0 {
        let _ = write!(d, " All values are {}.", with_unit(0.0, &opts.unit));
    } else {
        let total: f64 = vals.iter().sum();
        let _ = write!(
            d,
            " Highest: {}. Lowest: {}. Total: {}.",
            labelled(label_at(labels, max_i), &with_unit(max, &opts.unit)),
            labelled(label_at(labels, min_i), &with_unit(min, &opts.unit)),
            with_unit(total, &opts.unit)
        );
    }
    d
}

fn stacked_desc(
    opts: &ChartOpts,
    labels: &[String],
    series: &[Series],
    names: &[String],
    totals: &[f64],
) -> String {
    let n = totals.len();
    let mut d = format!(
        "{}: stacked bar chart of {}{} across {}.",
        display_title(&opts.title),
        plural(n, "period", "periods"),
        range_text(labels, n),
        plural(series.len(), "series", "series")
    );
    let mut max_i = 0;
    for (i, &t) in totals.iter().enumerate() {
        if t > totals.get(max_i).copied().unwrap_or(0.0) {
            max_i = i;
        }
    }
    let max = totals.get(max_i).copied().unwrap_or(0.0);
    if max <= 0.0 {
        let _ = write!(d, " All values are {}.", with_unit(0.0, &opts.unit));
        return d;
    }
    let _ = write!(
        d,
        " Highest total: {}. Totals by series:",
        labelled(label_at(labels, max_i), &with_unit(max, &opts.unit))
    );
    let parts: Vec<String> = series
        .iter()
        .zip(names)
        .take(MAX_DESC_SERIES)
        .map(|(s, name)| {
            let sum: f64 = s.values.iter().map(|&v| clean(v)).sum();
            format!("{name} {}", with_unit(sum, &opts.unit))
        })
        .collect();
    let _ = write!(d, " {}", parts.join(", "));
    if series.len() > MAX_DESC_SERIES {
        let _ = write!(d, ", and {} more", series.len() - MAX_DESC_SERIES);
    }
    d.push('.');
    d
}

fn series_summary(values: &[f64], unit: &str) -> String {
    let vals: Vec<f64> = values.iter().map(|&v| clean(v)).collect();
    let Some(&latest) = vals.last() else {
        return "no data".to_string();
    };
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(0.0, f64::max);
    format!("min {}, max {}, latest {}", with_unit(min, unit), with_unit(max, unit), with_unit(latest, unit))
}

fn line_desc(opts: &ChartOpts, labels: &[String], series: &[Series], names: &[String], n: usize) -> String {
    let mut d = format!(
        "{}: line chart of {} over {}{}.",
        display_title(&opts.title),
        plural(series.len(), "series", "series"),
        plural(n, "point", "points"),
        range_text(labels, n)
    );
    for (s, name) in series.iter().zip(names).take(MAX_DESC_SERIES) {
        let _ = write!(d, " {name}: {}.", series_summary(&s.values, &opts.unit));
    }
    if series.len() > MAX_DESC_SERIES {
        let _ = write!(d, " And {} more.", plural(series.len() - MAX_DESC_SERIES, "series", "series"));
    }
    d
}

fn uptime_desc(title: &str, days: &[UptimeDay]) -> String {
    let n = days.len();
    let first = days.first().map_or("", |d| d.label.trim());
    let last = days.last().map_or("", |d| d.label.trim());
    let range = if first.is_empty() || last.is_empty() || n == 1 {
        String::new()
    } else {
        format!(" from {first} to {last}")
    };
    let counts: Vec<String> = UptimeState::ALL
        .iter()
        .filter_map(|&state| {
            let c = days.iter().filter(|d| d.state == state).count();
            (c > 0).then(|| format!("{c} {}", state.description().to_lowercase()))
        })
        .collect();
    format!("{title}: {}{range}: {}.", plural(n, "day", "days"), counts.join(", "))
}

// ---------------------------------------------------------------------------
// Scale and layout
// ---------------------------------------------------------------------------

/// A y-axis scale `0, step, 2·step, …, count·step`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    step: f64,
    /// Number of intervals (ticks are `count + 1`).
    count: usize,
}

impl Scale {
    fn top(&self) -> f64 {
        self.step * self.count as f64
    }

    fn ticks(&self) -> Vec<f64> {
        (0..=self.count).map(|i| self.step * i as f64).collect()
    }
}

fn pow10_mul(m: f64, exp: i32) -> f64 {
    if exp >= 0 { m * 10f64.powi(exp) } else { m / 10f64.powi(-exp) }
}

/// Picks a "nice" step of 1, 2 or 5 × 10ⁿ giving 4–6 ticks (3–5
/// intervals) from 0 up to at least `max`. All-zero data gets 0..1.
fn nice_scale(max: f64) -> Scale {
    let max = clean(max);
    let max = if max <= 0.0 { 1.0 } else { max };
    if max <= 3.0 * MIN_STEP {
        return Scale { step: MIN_STEP, count: 3 };
    }
    // Start one decade below the smallest plausible step; every candidate
    // is tried in increasing order, so the first that fits in 5 intervals
    // needs at least 3 (successive candidates differ by at most 2.5×).
    let first_exp = (max / 5.0).log10().floor() as i32 - 1;
    for exp in first_exp..first_exp.saturating_add(700) {
        for m in [1.0, 2.0, 5.0] {
            let step = pow10_mul(m, exp);
            let n = (max / step - 1e-9).ceil();
            if step > 0.0 && n <= 5.0 {
                return Scale { step, count: n.max(1.0) as usize };
            }
        }
    }
    Scale { step: max / 5.0, count: 5 }
}

/// The plotting rectangle inside the SVG.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plot {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Plot {
    fn w(&self) -> f64 {
        self.x1 - self.x0
    }

    fn h(&self) -> f64 {
        self.y1 - self.y0
    }

    /// Length in user units of a value on this plot's y axis.
    fn scale_len(&self, v: f64, scale: &Scale) -> f64 {
        let top = scale.top();
        if top <= 0.0 {
            return 0.0;
        }
        (v / top).clamp(0.0, 1.0) * self.h()
    }
}

fn dims(opts: &ChartOpts) -> (f64, f64) {
    (f64::from(opts.width.clamp(MIN_WIDTH, MAX_DIM)), f64::from(opts.height.clamp(MIN_HEIGHT, MAX_DIM)))
}

fn top_margin(legend_rows: usize) -> f64 {
    if legend_rows == 0 { 30.0 } else { LEGEND_TOP + legend_rows as f64 * LEGEND_ROW_H + 6.0 }
}

fn layout(w: f64, h: f64, scale: &Scale, unit: &str, legend_rows: usize) -> Plot {
    let label_w = scale.ticks().iter().map(|&t| text_w(&format_compact(t), CHAR_W)).fold(CHAR_W, f64::max);
    let axis_title = if unit.trim().is_empty() { 6.0 } else { 22.0 };
    Plot {
        x0: axis_title + label_w + 8.0,
        x1: w - MARGIN_RIGHT,
        y0: top_margin(legend_rows),
        y1: h - MARGIN_BOTTOM,
    }
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

struct Root<'a> {
    id: &'a str,
    kind: &'a str,
    w: f64,
    h: f64,
    title: &'a str,
    desc: &'a str,
    aria_label: Option<&'a str>,
    /// Extra, already escaped, attributes (with a leading space).
    extra: &'a str,
}

fn open_svg(out: &mut String, r: &Root<'_>) {
    let id = esc(r.id);
    let _ = write!(out, "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" ", num(r.w), num(r.h));
    let _ = match r.aria_label {
        Some(label) => write!(out, "aria-label=\"{}\"", esc(label)),
        None => write!(out, "aria-labelledby=\"{id}-title {id}-desc\""),
    };
    let _ = write!(
        out,
        " xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"{}\" font-size=\"{}\"{}>",
        esc(r.kind),
        num(FONT_SIZE),
        r.extra
    );
    let _ = write!(
        out,
        "<title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        esc(r.title),
        esc(r.desc)
    );
}

fn mark_title(out: &mut String, text: &str) {
    let _ = write!(out, "<title>{}</title>", esc(text));
}

fn draw_title(out: &mut String, title: &str, w: f64) {
    let title = title.trim();
    if title.is_empty() {
        return;
    }
    let max_chars = ((w - 16.0) / TITLE_CHAR_W).floor().max(1.0) as usize;
    let (text, _) = truncate(title, max_chars);
    let _ = write!(
        out,
        "<text class=\"chart-title\" x=\"8\" y=\"{}\" font-size=\"{}\">{}</text>",
        num(TITLE_BASELINE),
        num(TITLE_FONT_SIZE),
        esc(&text)
    );
}

fn empty_chart(id: &str, kind: &str, opts: &ChartOpts, w: f64, h: f64) -> String {
    let title = display_title(&opts.title);
    let desc = format!("{title}: {NO_DATA}.");
    let mut out = String::with_capacity(768);
    open_svg(&mut out, &Root { id, kind, w, h, title: &title, desc: &desc, aria_label: None, extra: "" });
    draw_title(&mut out, &opts.title, w);
    let y = top_margin(0) + (h - top_margin(0) - MARGIN_BOTTOM) / 2.0;
    let _ = write!(
        out,
        "<line class=\"chart-axis\" x1=\"8\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y1}\"/>\
         <text class=\"chart-empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{NO_DATA}</text></svg>",
        num(w / 2.0),
        num(y),
        y1 = num(h - MARGIN_BOTTOM),
        x2 = num(w - MARGIN_RIGHT),
    );
    out
}

/// Horizontal gridlines, y tick labels and the rotated unit label.
fn draw_grid(out: &mut String, plot: &Plot, scale: &Scale, unit: &str) {
    out.push_str("<g class=\"chart-y\">");
    for (i, t) in scale.ticks().iter().enumerate() {
        let y = plot.y1 - plot.h() * i as f64 / scale.count.max(1) as f64;
        if i > 0 {
            let _ = write!(
                out,
                "<line class=\"chart-grid\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
                num(plot.x0),
                num(plot.x1),
                y = num(y)
            );
        }
        let _ = write!(
            out,
            "<text class=\"chart-tick chart-tick-y\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            num(plot.x0 - 6.0),
            num(y + 4.0),
            esc(&format_compact(*t))
        );
    }
    let unit = unit.trim();
    if !unit.is_empty() {
        let max_chars = (plot.h() / CHAR_W).floor().max(1.0) as usize;
        let (text, cut) = truncate(unit, max_chars);
        let cy = num(plot.y0 + plot.h() / 2.0);
        let _ = write!(
            out,
            "<text class=\"chart-axis-label\" x=\"12\" y=\"{cy}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {cy})\">"
        );
        if cut {
            mark_title(out, unit);
        }
        let _ = write!(out, "{}</text>", esc(&text));
    }
    out.push_str("</g>");
}

fn draw_axes(out: &mut String, plot: &Plot) {
    let _ = write!(
        out,
        "<line class=\"chart-axis\" x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\"/>\
         <line class=\"chart-axis\" x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\"/>",
        x0 = num(plot.x0),
        x1 = num(plot.x1),
        y0 = num(plot.y0),
        y1 = num(plot.y1)
    );
}

/// How many slots each shown x label needs so neighbours never overlap.
fn label_every(band: f64, max_label_w: f64) -> usize {
    if band.is_nan() || band <= 0.0 || max_label_w <= 0.0 {
        return 1;
    }
    let k = ((max_label_w + LABEL_GAP) / band).ceil();
    if k < 1.0 { 1 } else { k as usize }
}

/// Chooses which x labels to show: every k-th slot, with centres clamped
/// into the SVG and any label that would still overlap its predecessor
/// skipped. Returns `(index, centre x)` pairs.
fn thin_labels(x0: f64, band: f64, widths: &[f64], svg_w: f64) -> Vec<(usize, f64)> {
    let max_w = widths.iter().copied().fold(0.0, f64::max);
    let k = label_every(band, max_w);
    let mut shown = Vec::new();
    let mut prev_right = f64::NEG_INFINITY;
    for (i, &lw) in widths.iter().enumerate().step_by(k) {
        if lw <= 0.0 {
            continue;
        }
        let half = lw / 2.0;
        let mut cx = x0 + band * (i as f64 + 0.5);
        if cx + half > svg_w {
            cx = svg_w - half;
        }
        if cx - half < 0.0 {
            cx = half;
        }
        if cx - half < prev_right + LABEL_GAP {
            continue;
        }
        prev_right = cx + half;
        shown.push((i, cx));
    }
    shown
}

fn draw_x_labels(out: &mut String, plot: &Plot, labels: &[String], n: usize, svg_w: f64) {
    if n == 0 {
        return;
    }
    let band = plot.w() / n as f64;
    let texts: Vec<(String, bool)> =
        (0..n).map(|i| truncate(label_at(labels, i), MAX_X_LABEL_CHARS)).collect();
    let widths: Vec<f64> = texts.iter().map(|(t, _)| text_w(t, CHAR_W)).collect();
    let y = num(plot.y1 + 16.0);
    out.push_str("<g class=\"chart-x\">");
    for (i, cx) in thin_labels(plot.x0, band, &widths, svg_w) {
        let Some((text, cut)) = texts.get(i) else {
            continue;
        };
        let _ = write!(
            out,
            "<text class=\"chart-tick chart-tick-x\" x=\"{}\" y=\"{y}\" text-anchor=\"middle\">",
            num(cx)
        );
        if *cut {
            mark_title(out, label_at(labels, i));
        }
        let _ = write!(out, "{}</text>", esc(text));
    }
    out.push_str("</g>");
}

#[derive(Debug, Default)]
struct LegendItem {
    series: usize,
    x: f64,
    y: f64,
    text: String,
    full: Option<String>,
}

#[derive(Debug, Default)]
struct Legend {
    items: Vec<LegendItem>,
    rows: usize,
    /// Number of series that did not fit (shown as "+N more").
    hidden: usize,
    more_x: f64,
    more_y: f64,
}

fn legend_item_w(text: &str) -> f64 {
    SWATCH + 4.0 + text_w(text, CHAR_W) + 12.0
}

fn legend_layout(names: &[String], svg_w: f64) -> Legend {
    let mut legend = Legend::default();
    if names.is_empty() {
        return legend;
    }
    let left = 8.0;
    let right = svg_w - 8.0;
    let mut x = left;
    let mut row = 0;
    for (i, name) in names.iter().enumerate() {
        let max_chars =
            MAX_LEGEND_CHARS.min(((right - left - SWATCH - 16.0) / CHAR_W).floor().max(1.0) as usize);
        let (text, cut) = truncate(name, max_chars);
        let iw = legend_item_w(&text);
        if x > left && x + iw > right {
            row += 1;
            x = left;
        }
        if row >= MAX_LEGEND_ROWS {
            legend.hidden = names.len() - i;
            break;
        }
        legend.items.push(LegendItem {
            series: i,
            x,
            y: LEGEND_TOP + row as f64 * LEGEND_ROW_H,
            text,
            full: cut.then(|| name.clone()),
        });
        x += iw;
    }
    if legend.hidden > 0 {
        // Make room for "+N more" on the last row, dropping items as needed.
        loop {
            let more_w = text_w(&format!("+{} more", legend.hidden + 1), CHAR_W);
            let Some(last) = legend.items.last() else {
                legend.more_x = left;
                legend.more_y = LEGEND_TOP;
                break;
            };
            let (last_x, last_y) = (last.x, last.y);
            let end = last_x + legend_item_w(&last.text);
            if end + more_w <= right {
                legend.more_x = end;
                legend.more_y = last_y;
                break;
            }
            legend.items.pop();
            legend.hidden += 1;
            if last_x <= left {
                // The dropped item was alone on its row: take its place.
                legend.more_x = last_x;
                legend.more_y = last_y;
                break;
            }
        }
    }
    let row_of = |y: f64| ((y - LEGEND_TOP) / LEGEND_ROW_H).round() as usize + 1;
    let item_rows = legend.items.iter().map(|it| row_of(it.y)).max().unwrap_or(0);
    let more_rows = if legend.hidden > 0 { row_of(legend.more_y) } else { 0 };
    legend.rows = item_rows.max(more_rows);
    legend
}

fn draw_legend(out: &mut String, legend: &Legend) {
    if legend.items.is_empty() {
        return;
    }
    out.push_str("<g class=\"chart-legend\">");
    for it in &legend.items {
        out.push_str("<g class=\"chart-legend-item\">");
        if let Some(full) = &it.full {
            mark_title(out, full);
        }
        let _ = write!(
            out,
            "<rect class=\"chart-legend-swatch chart-series-{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\
             <text class=\"chart-legend-label\" x=\"{}\" y=\"{}\">{}</text></g>",
            it.series % PALETTE,
            num(it.x),
            num(it.y),
            num(SWATCH),
            num(SWATCH),
            num(it.x + SWATCH + 4.0),
            num(it.y + SWATCH - 1.0),
            esc(&it.text)
        );
    }
    if legend.hidden > 0 {
        let _ = write!(
            out,
            "<text class=\"chart-legend-label\" x=\"{}\" y=\"{}\">+{} more</text>",
            num(legend.more_x),
            num(legend.more_y + SWATCH - 1.0),
            legend.hidden
        );
    }
    out.push_str("</g>");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    // -- A tiny XML parser, just enough to check our own output. ----------

    #[derive(Debug, Clone, Default)]
    struct Node {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
        /// Unescaped text directly inside this element.
        text: String,
    }

    impl Node {
        fn attr(&self, key: &str) -> Option<&str> {
            self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
        }

        fn has_class(&self, class: &str) -> bool {
            self.attr("class").is_some_and(|c| c.split_whitespace().any(|x| x == class))
        }

        fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
            f(self);
            for c in &self.children {
                c.walk(f);
            }
        }

        fn find_all(&self, pred: impl Fn(&Node) -> bool) -> Vec<&Node> {
            let mut out = Vec::new();
            self.walk(&mut |n| {
                if pred(n) {
                    out.push(n);
                }
            });
            out
        }

        fn child_title(&self) -> Option<&str> {
            self.children.first().filter(|c| c.name == "title").map(|c| c.text.as_str())
        }
    }

    fn check_escaped(s: &str) {
        assert!(!s.contains('<') && !s.contains('>'), "raw markup char in {s:?}");
        let mut rest = s;
        while let Some(pos) = rest.find('&') {
            rest = &rest[pos + 1..];
            assert!(
                ["amp;", "lt;", "gt;", "quot;", "#39;"].iter().any(|e| rest.starts_with(e)),
                "bad entity in {s:?}"
            );
        }
    }

    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    fn parse_tag(body: &str) -> Node {
        let body = body.trim();
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()), "bad tag name {name:?}");
        let mut node = Node { name: name.to_string(), ..Node::default() };
        let mut rest = body[name_end..].trim_start();
        while !rest.is_empty() {
            let eq = rest.find('=').expect("attribute without value");
            let key = &rest[..eq];
            assert!(
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
                "bad attribute name {key:?}"
            );
            let after = rest[eq + 1..].strip_prefix('"').expect("attribute value not quoted");
            let close = after.find('"').expect("unterminated attribute");
            let value = &after[..close];
            check_escaped(value);
            assert!(node.attr(key).is_none(), "duplicate attribute {key}");
            node.attrs.push((key.to_string(), unescape(value)));
            let tail = &after[close + 1..];
            assert!(
                tail.is_empty() || tail.starts_with(char::is_whitespace),
                "attributes not separated in {body:?}"
            );
            rest = tail.trim_start();
        }
        node
    }

    /// Parses `svg`, panicking unless it is a single well-formed element
    /// with balanced tags, quoted attributes and escaped text.
    fn parse(svg: &str) -> Node {
        let mut stack = vec![Node { name: "#document".into(), ..Node::default() }];
        let mut rest = svg;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('<') {
                let end = inner.find('>').expect("unterminated tag");
                let tag = &inner[..end];
                assert!(!tag.contains('<'), "nested '<' in tag {tag:?}");
                rest = &inner[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    let node = stack.pop().expect("stack underflow");
                    assert_eq!(node.name, name.trim(), "mismatched closing tag");
                    stack.last_mut().expect("closed the document").children.push(node);
                } else if let Some(body) = tag.strip_suffix('/') {
                    let node = parse_tag(body);
                    stack.last_mut().expect("no parent").children.push(node);
                } else {
                    stack.push(parse_tag(tag));
                }
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let text = &rest[..end];
                check_escaped(text);
                stack.last_mut().expect("no parent").text.push_str(&unescape(text));
                rest = &rest[end..];
            }
        }
        assert_eq!(stack.len(), 1, "unclosed tags: {:?}", stack.iter().map(|n| &n.name).collect::<Vec<_>>());
        let mut doc = stack.pop().expect("document");
        assert!(doc.text.trim().is_empty(), "text outside root");
        assert_eq!(doc.children.len(), 1, "expected a single root element");
        doc.children.pop().expect("root")
    }

    const MARK_CLASSES: [&str; 5] = ["chart-bar", "chart-segment", "chart-point", "chart-line", "uptime-bar"];

    fn marks(root: &Node) -> Vec<&Node> {
        root.find_all(|n| n.name != "g" && MARK_CLASSES.iter().any(|c| n.has_class(c)))
    }

    /// Checks every invariant all charts share; returns the parsed tree.
    fn check_chart(svg: &str, id: &str) -> Node {
        assert!(!svg.contains("style="), "style attribute in {svg}");
        assert!(!svg.contains("<script"), "script in {svg}");
        assert!(!svg.contains("<style"), "style element in {svg}");
        assert!(svg.starts_with("<svg class=\"chart\" viewBox=\"0 0 "));
        let root = parse(svg);
        assert_eq!(root.name, "svg");
        assert_eq!(root.attr("class"), Some("chart"));
        assert_eq!(root.attr("role"), Some("img"));
        assert_eq!(root.attr("xmlns"), Some("http://www.w3.org/2000/svg"));
        if root.attr("aria-label").is_none() {
            let expected = format!("{id}-title {id}-desc");
            assert_eq!(root.attr("aria-labelledby"), Some(expected.as_str()));
        }
        let title = root.children.first().expect("title");
        assert_eq!(title.name, "title");
        assert_eq!(title.attr("id"), Some(format!("{id}-title").as_str()));
        assert!(!title.text.trim().is_empty());
        let desc = root.children.get(1).expect("desc");
        assert_eq!(desc.name, "desc");
        assert_eq!(desc.attr("id"), Some(format!("{id}-desc").as_str()));
        assert!(!desc.text.trim().is_empty());
        for m in marks(&root) {
            let t = m.child_title().unwrap_or_else(|| panic!("mark without <title>: {m:?}"));
            assert!(!t.trim().is_empty(), "empty mark title");
        }
        check_decimals(&root);
        root
    }

    fn check_decimals(root: &Node) {
        const NUMERIC: [&str; 15] = [
            "x",
            "y",
            "width",
            "height",
            "x1",
            "y1",
            "x2",
            "y2",
            "cx",
            "cy",
            "r",
            "points",
            "viewBox",
            "font-size",
            "transform",
        ];
        root.walk(&mut |n| {
            for (k, v) in &n.attrs {
                if !NUMERIC.contains(&k.as_str()) {
                    continue;
                }
                for tok in v.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')) {
                    if tok.is_empty() {
                        continue;
                    }
                    assert!(tok.parse::<f64>().is_ok(), "bad number {tok:?} in {k}={v:?}");
                    if let Some((_, frac)) = tok.split_once('.') {
                        assert!(frac.len() <= 2, "too many decimals: {k}={v:?}");
                    }
                }
            }
        });
    }

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("2026-11-{:02}", i % 30 + 1)).collect()
    }

    fn num_attr(n: &Node, key: &str) -> f64 {
        n.attr(key).expect("attribute").parse().expect("number")
    }

    fn tick_labels(root: &Node, class: &str) -> Vec<String> {
        root.find_all(|n| n.has_class(class)).iter().map(|n| n.text.clone()).collect()
    }

    // -- Formatting --------------------------------------------------------

    #[test]
    fn format_compact_examples() {
        assert_eq!(format_compact(950.0), "950");
        assert_eq!(format_compact(1200.0), "1.2k");
        assert_eq!(format_compact(3_400_000.0), "3.4M");
        assert_eq!(format_compact(2.5), "2.5");
        assert_eq!(format_compact(0.0), "0");
        assert_eq!(format_compact(-0.0), "0");
        assert_eq!(format_compact(1000.0), "1k");
        assert_eq!(format_compact(999.0), "999");
        assert_eq!(format_compact(999.999), "1k");
        assert_eq!(format_compact(999_950.0), "1M");
        assert_eq!(format_compact(12_345.0), "12.3k");
        assert_eq!(format_compact(0.123), "0.12");
        assert_eq!(format_compact(0.005), "0.01");
        assert_eq!(format_compact(-1500.0), "-1.5k");
        assert_eq!(format_compact(2e9), "2G");
        assert_eq!(format_compact(7.5e12), "7.5T");
        assert_eq!(format_compact(1.5e21), "1.5e21");
        assert_eq!(format_compact(1e300), "1e300");
        assert_eq!(format_compact(f64::NAN), "NaN");
        assert_eq!(format_compact(f64::INFINITY), "∞");
    }

    #[test]
    fn format_value_groups_digits() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(999.0), "999");
        assert_eq!(format_value(1234.5), "1,234.5");
        assert_eq!(format_value(1_234_567.891), "1,234,567.89");
        assert_eq!(format_value(100_000.0), "100,000");
        assert_eq!(format_value(-1234.0), "-1,234");
        assert_eq!(format_value(2e15), "2P");
        assert_eq!(with_unit(12.0, "ms"), "12 ms");
        assert_eq!(with_unit(99.5, "%"), "99.5%");
        assert_eq!(with_unit(3.0, ""), "3");
    }

    #[test]
    fn num_has_at_most_two_decimals() {
        assert_eq!(num(1.0 / 3.0), "0.33");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(2.50), "2.5");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
    }

    #[test]
    fn escaping_and_truncation() {
        assert_eq!(
            esc("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{0}b\nc"), "ab c");
        assert_eq!(truncate("short", 10), ("short".to_string(), false));
        assert_eq!(truncate("exactly10!", 10), ("exactly10!".to_string(), false));
        let (t, cut) = truncate("a very long label indeed", 10);
        assert!(cut);
        assert_eq!(t.chars().count(), 10);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("ééééé", 3).0, "éé…");
    }

    #[test]
    fn ids_are_sanitised() {
        assert_eq!(sanitize_id("latency-p95"), "latency-p95");
        assert_eq!(sanitize_id("a b\"<c>"), "a-b--c-");
        assert_eq!(sanitize_id("  "), "chart");
        let svg = bar_chart(&ChartOpts::new("my chart", "T", ""), &labels(2), &[1.0, 2.0]);
        check_chart(&svg, "my-chart");
    }

    // -- Scale ---------------------------------------------------------------

    fn is_nice(step: f64) -> bool {
        let exp = step.log10().floor();
        let m = step / 10f64.powf(exp);
        [1.0, 2.0, 5.0, 10.0].iter().any(|x| (m - x).abs() < 1e-6)
    }

    #[test]
    fn nice_scale_properties() {
        let mut maxes = vec![0.0, 0.001, 0.02, 0.03, 0.031, 0.5, 1.0, 3.0, 7.0, 9.99, 10.0, 11.0];
        let mut m = 0.0137;
        while m < 1e18 {
            maxes.push(m);
            m *= 1.37;
        }
        maxes.extend([999.0, 1000.0, 1001.0, 1234.0, 3_400_000.0, 1e300, f64::MAX]);
        for max in maxes {
            let s = nice_scale(max);
            let ticks = s.ticks();
            assert!((4..=6).contains(&ticks.len()), "max {max}: {} ticks", ticks.len());
            assert!(is_nice(s.step), "max {max}: step {} not nice", s.step);
            assert!(s.step >= MIN_STEP - 1e-12);
            assert!(s.top() >= clean(max) * (1.0 - 1e-9), "max {max}: top {}", s.top());
            let labels: Vec<String> = ticks.iter().map(|&t| format_compact(t)).collect();
            let mut dedup = labels.clone();
            dedup.dedup();
            assert_eq!(labels, dedup, "max {max}: duplicate tick labels {labels:?}");
            assert_eq!(labels.first().map(String::as_str), Some("0"));
        }
    }

    #[test]
    fn nice_scale_examples() {
        let s = nice_scale(0.0);
        assert_eq!(s.ticks(), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        let s = nice_scale(95.0);
        assert_eq!((s.step, s.count), (20.0, 5));
        let s = nice_scale(100.0);
        assert_eq!((s.step, s.count), (20.0, 5));
        let s = nice_scale(101.0);
        assert_eq!((s.step, s.count), (50.0, 3));
        let s = nice_scale(3_400_000.0);
        let labels: Vec<String> = s.ticks().iter().map(|&t| format_compact(t)).collect();
        assert_eq!(labels, ["0", "1M", "2M", "3M", "4M"]);
        let s = nice_scale(1234.0);
        let labels: Vec<String> = s.ticks().iter().map(|&t| format_compact(t)).collect();
        assert_eq!(labels, ["0", "500", "1k", "1.5k"]);
        let s = nice_scale(0.001);
        assert_eq!((s.step, s.count), (0.01, 3));
    }

    // -- Label thinning ------------------------------------------------------

    #[test]
    fn label_every_examples() {
        assert_eq!(label_every(100.0, 60.0), 1);
        assert_eq!(label_every(10.0, 60.0), 7);
        assert_eq!(label_every(0.0, 60.0), 1);
        assert_eq!(label_every(f64::NAN, 60.0), 1);
    }

    #[test]
    fn thinned_labels_never_overlap() {
        for n in [1usize, 2, 5, 7, 12, 30, 31, 90, 365, 1000] {
            for width in [160.0, 320.0, 640.0, 1200.0] {
                let x0 = 40.0;
                let band = (width - x0 - 12.0) / n as f64;
                let widths: Vec<f64> = (0..n).map(|i| 20.0 + (i % 4) as f64 * 25.0).collect();
                let shown = thin_labels(x0, band, &widths, width);
                assert!(!shown.is_empty());
                let mut prev_right = f64::NEG_INFINITY;
                let mut prev_i = None;
                for &(i, cx) in &shown {
                    let half = widths[i] / 2.0;
                    assert!(cx - half >= 0.0 && cx + half <= width + 1e-9);
                    assert!(cx - half >= prev_right + LABEL_GAP - 1e-9, "overlap n={n} w={width}");
                    if let Some(p) = prev_i {
                        assert!(i > p);
                    }
                    prev_right = cx + half;
                    prev_i = Some(i);
                }
            }
        }
    }

    fn assert_x_labels_disjoint(root: &Node, width: f64) {
        let mut ticks: Vec<(f64, f64)> = root
            .find_all(|n| n.has_class("chart-tick-x"))
            .iter()
            .map(|n| (num_attr(n, "x"), text_w(&n.text, CHAR_W)))
            .collect();
        ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in ticks.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(a.0 + a.1 / 2.0 + LABEL_GAP <= b.0 - b.1 / 2.0 + 0.02, "overlap {a:?} {b:?}");
        }
        for (x, w) in ticks {
            assert!(x - w / 2.0 >= -0.01 && x + w / 2.0 <= width + 0.01);
        }
    }

    #[test]
    fn bar_chart_thins_90_day_labels() {
        let values: Vec<f64> = (0..90).map(|i| f64::from(i) * 3.5).collect();
        let svg = bar_chart(&ChartOpts::new("daily", "Daily requests", "req"), &labels(90), &values);
        let root = check_chart(&svg, "daily");
        let shown = tick_labels(&root, "chart-tick-x");
        assert!(shown.len() > 3 && shown.len() < 90, "{} labels", shown.len());
        assert_eq!(shown.first().map(String::as_str), Some("2026-11-01"));
        assert_x_labels_disjoint(&root, 640.0);
        // But every bar still has its full tooltip.
        let bars = root.find_all(|n| n.has_class("chart-bar"));
        assert_eq!(bars.len(), 90);
        assert_eq!(bars[89].child_title(), Some("2026-11-30: 311.5 req"));
    }

    // -- Bar chart -------------------------------------------------------------

    #[test]
    fn bar_chart_basic() {
        let opts = ChartOpts::new("rt", "Response time", "ms");
        let labels = vec!["Mon".to_string(), "Tue".to_string(), "Wed".to_string()];
        let svg = bar_chart(&opts, &labels, &[120.0, 80.5, 1500.0]);
        let root = check_chart(&svg, "rt");
        assert_eq!(root.attr("viewBox"), Some("0 0 640 240"));
        assert_eq!(root.attr("data-chart"), Some("bar"));
        let bars = root.find_all(|n| n.has_class("chart-bar"));
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].child_title(), Some("Mon: 120 ms"));
        assert_eq!(bars[1].child_title(), Some("Tue: 80.5 ms"));
        assert_eq!(bars[2].child_title(), Some("Wed: 1,500 ms"));
        assert!(bars.iter().all(|b| b.has_class("chart-series-0")));
        // Heights are proportional to the values.
        let h: Vec<f64> = bars.iter().map(|b| num_attr(b, "height")).collect();
        assert!(h[2] > h[0] && h[0] > h[1]);
        let ratio = h[2] / h[0];
        assert!((ratio - 12.5).abs() < 0.05, "ratio {ratio}");
        // Bars sit on the baseline.
        let base = num_attr(bars[0], "y") + h[0];
        for b in &bars {
            assert!((num_attr(b, "y") + num_attr(b, "height") - base).abs() < 0.02);
        }
        assert_eq!(tick_labels(&root, "chart-tick-y"), ["0", "500", "1k", "1.5k"]);
        assert_eq!(root.find_all(|n| n.has_class("chart-grid")).len(), 3);
        assert_eq!(root.find_all(|n| n.has_class("chart-axis")).len(), 2);
        let unit = root.find_all(|n| n.has_class("chart-axis-label"));
        assert_eq!(unit.len(), 1);
        assert_eq!(unit[0].text, "ms");
        let title = root.find_all(|n| n.has_class("chart-title"));
        assert_eq!(title[0].text, "Response time");
        let desc = &root.children[1].text;
        assert!(desc.contains("3 values (Mon to Wed)"), "{desc}");
        assert!(desc.contains("Highest: Wed (1,500 ms)"), "{desc}");
        assert!(desc.contains("Lowest: Tue (80.5 ms)"), "{desc}");
        assert!(desc.contains("Total: 1,700.5 ms"), "{desc}");
    }

    #[test]
    fn bar_chart_custom_size() {
        let opts = ChartOpts::new("c", "Custom", "").with_size(900, 300);
        let svg = bar_chart(&opts, &labels(3), &[1.0, 2.0, 3.0]);
        let root = check_chart(&svg, "c");
        assert_eq!(root.attr("viewBox"), Some("0 0 900 300"));
        assert!(root.find_all(|n| n.has_class("chart-axis-label")).is_empty());
        // Absurd sizes are clamped rather than producing a broken layout.
        let opts = ChartOpts::new("t", "Tiny", "ms").with_size(1, 1);
        let root = check_chart(&bar_chart(&opts, &labels(40), &[5.0; 40]), "t");
        assert_eq!(root.attr("viewBox"), Some("0 0 160 140"));
        for b in root.find_all(|n| n.has_class("chart-bar")) {
            assert!(num_attr(b, "width") >= 0.0 && num_attr(b, "height") >= 0.0);
        }
        assert_x_labels_disjoint(&root, 160.0);
    }

    #[test]
    fn escaping_everywhere() {
        let nasty = "<script>alert(\"x\")</script> & 'q'";
        let opts = ChartOpts::new("e", nasty, "<u>");
        let labels = vec![nasty.to_string()];
        for svg in [
            bar_chart(&opts, &labels, &[1.0]),
            stacked_bar_chart(&opts, &labels, &[Series::new(nasty, vec![1.0]), Series::new("b", vec![2.0])]),
            line_chart(&opts, &labels, &[Series::new(nasty, vec![1.0]), Series::new("b", vec![2.0])]),
            bar_chart(&opts, &labels, &[]),
        ] {
            assert!(!svg.contains("<script"));
            assert!(svg.contains("&lt;script&gt;"));
            let root = check_chart(&svg, "e");
            assert_eq!(root.children[0].text, nasty);
        }
        let svg = sparkline("s", nasty, &[1.0, 2.0], 100, 20);
        assert!(!svg.contains("<script"));
        check_chart(&svg, "s");
        let days = vec![UptimeDay { label: nasty.into(), state: UptimeState::Major, detail: "a & b".into() }];
        let svg = uptime_strip("u", nasty, &days);
        let root = check_chart(&svg, "u");
        let bar = root.find_all(|n| n.has_class("uptime-bar"))[0];
        assert_eq!(bar.child_title(), Some(format!("{nasty}: a & b").as_str()));
    }

    #[test]
    fn empty_data_renders_message() {
        let opts = ChartOpts::new("x", "Nothing", "ms");
        let svgs = [
            bar_chart(&opts, &[], &[]),
            bar_chart(&opts, &labels(3), &[]),
            stacked_bar_chart(&opts, &labels(3), &[]),
            stacked_bar_chart(&opts, &labels(3), &[Series::new("a", vec![])]),
            line_chart(&opts, &[], &[]),
            line_chart(&opts, &labels(3), &[Series::new("a", vec![]), Series::new("b", vec![])]),
        ];
        for svg in &svgs {
            let root = check_chart(svg, "x");
            let msg = root.find_all(|n| n.has_class("chart-empty"));
            assert_eq!(msg.len(), 1);
            assert_eq!(msg[0].text, NO_DATA);
            assert!(root.children[1].text.contains(NO_DATA));
            assert!(marks(&root).is_empty());
        }
        let svg = sparkline("sp", "Latency", &[], 100, 20);
        let root = check_chart(&svg, "sp");
        assert_eq!(root.find_all(|n| n.has_class("chart-empty"))[0].text, NO_DATA);
        assert_eq!(root.attr("aria-label"), Some("Latency: No data for this period"));
        let svg = uptime_strip("up", "API", &[]);
        let root = check_chart(&svg, "up");
        assert_eq!(root.find_all(|n| n.has_class("chart-empty"))[0].text, NO_DATA);
    }

    #[test]
    fn all_zero_data() {
        let opts = ChartOpts::new("z", "Errors", "errors");
        let svg = bar_chart(&opts, &labels(5), &[0.0; 5]);
        let root = check_chart(&svg, "z");
        let bars = root.find_all(|n| n.has_class("chart-bar"));
        assert_eq!(bars.len(), 5);
        assert!(bars.iter().all(|b| num_attr(b, "height") == 0.0));
        assert_eq!(tick_labels(&root, "chart-tick-y"), ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert!(root.children[1].text.contains("All values are 0 errors"));
        let svg = line_chart(&opts, &labels(5), &[Series::new("e", vec![0.0; 5])]);
        check_chart(&svg, "z");
        let svg = stacked_bar_chart(&opts, &labels(5), &[Series::new("e", vec![0.0; 5])]);
        let root = check_chart(&svg, "z");
        assert!(root.find_all(|n| n.has_class("chart-segment")).is_empty());
        let svg = sparkline("z", "Zero", &[0.0; 5], 100, 20);
        check_chart(&svg, "z");
    }

    #[test]
    fn negative_and_non_finite_values_clamped() {
        let opts = ChartOpts::new("n", "Weird", "");
        let svg = bar_chart(&opts, &labels(5), &[-5.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 10.0]);
        let root = check_chart(&svg, "n");
        let bars = root.find_all(|n| n.has_class("chart-bar"));
        for b in &bars[..4] {
            assert_eq!(num_attr(b, "height"), 0.0);
        }
        assert!(num_attr(bars[4], "height") > 0.0);
        assert_eq!(bars[0].child_title(), Some("2026-11-01: 0"));
        assert_eq!(tick_labels(&root, "chart-tick-y").last().map(String::as_str), Some("10"));
        let svg = line_chart(&opts, &labels(3), &[Series::new("a", vec![-1.0, f64::NAN, 2.0])]);
        check_chart(&svg, "n");
        let svg = sparkline("n", "s", &[-1.0, f64::NAN, 2.0], 80, 16);
        check_chart(&svg, "n");
    }

    #[test]
    fn very_large_values() {
        let opts = ChartOpts::new("big", "Bytes", "B");
        let svg = bar_chart(&opts, &labels(3), &[3_400_000.0, 1_200_000.0, 50.0]);
        let root = check_chart(&svg, "big");
        assert_eq!(tick_labels(&root, "chart-tick-y"), ["0", "1M", "2M", "3M", "4M"]);
        assert_eq!(
            root.find_all(|n| n.has_class("chart-bar"))[0].child_title(),
            Some("2026-11-01: 3,400,000 B")
        );
        for v in [1e15, 1e300, f64::MAX] {
            let svg = bar_chart(&opts, &labels(2), &[v, v / 3.0]);
            let root = check_chart(&svg, "big");
            let h: Vec<f64> =
                root.find_all(|n| n.has_class("chart-bar")).iter().map(|b| num_attr(b, "height")).collect();
            if v < MAX_VALUE * 3.0 {
                assert!(h[0] > h[1] && h[1] > 0.0, "{v}: {h:?}");
            } else {
                assert_eq!(h[0], h[1], "both capped at MAX_VALUE");
            }
            let s = stacked_bar_chart(
                &opts,
                &labels(2),
                &[Series::new("a", vec![v, v]), Series::new("b", vec![v, v])],
            );
            check_chart(&s, "big");
            let s = line_chart(&opts, &labels(2), &[Series::new("a", vec![v, 0.0])]);
            check_chart(&s, "big");
        }
    }

    #[test]
    fn small_fractional_values() {
        let opts = ChartOpts::new("f", "Ratio", "");
        let svg = bar_chart(&opts, &labels(3), &[0.001, 0.004, 0.002]);
        let root = check_chart(&svg, "f");
        assert_eq!(tick_labels(&root, "chart-tick-y"), ["0", "0.01", "0.02", "0.03"]);
        let svg = bar_chart(&opts, &labels(3), &[0.25, 0.5, 0.75]);
        let root = check_chart(&svg, "f");
        assert_eq!(tick_labels(&root, "chart-tick-y"), ["0", "0.2", "0.4", "0.6", "0.8"]);
    }

    #[test]
    fn long_labels_truncated_with_full_tooltip() {
        let long = "A remarkably long customer name that goes on and on".to_string();
        let opts = ChartOpts::new(
            "l",
            "An extremely long chart title that certainly will not fit into the available horizontal space of the chart",
            "a very long unit description that does not fit along the y axis at all because it is long",
        );
        let svg = bar_chart(&opts, std::slice::from_ref(&long), &[42.0]);
        let root = check_chart(&svg, "l");
        let x = root.find_all(|n| n.has_class("chart-tick-x"));
        assert_eq!(x.len(), 1);
        assert!(x[0].text.ends_with('…'));
        assert_eq!(x[0].text.chars().count(), MAX_X_LABEL_CHARS);
        assert_eq!(x[0].child_title(), Some(long.as_str()));
        let bar = root.find_all(|n| n.has_class("chart-bar"))[0];
        assert!(bar.child_title().is_some_and(|t| t.starts_with(&long)));
        let title = root.find_all(|n| n.has_class("chart-title"))[0];
        assert!(title.text.ends_with('…'));
        assert!(text_w(&title.text, TITLE_CHAR_W) <= 640.0 - 16.0);
        assert_eq!(root.children[0].text, opts.title);
        let unit = root.find_all(|n| n.has_class("chart-axis-label"))[0];
        assert!(unit.text.ends_with('…'));
        assert_eq!(unit.child_title(), Some(opts.unit.as_str()));
        assert_x_labels_disjoint(&root, 640.0);
    }

    #[test]
    fn labels_and_values_length_mismatch() {
        let opts = ChartOpts::new("m", "Mismatch", "");
        let svg = bar_chart(&opts, &labels(1), &[1.0, 2.0, 3.0]);
        let root = check_chart(&svg, "m");
        let bars = root.find_all(|n| n.has_class("chart-bar"));
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[2].child_title(), Some("3"));
        let svg = bar_chart(&opts, &labels(10), &[1.0]);
        let root = check_chart(&svg, "m");
        assert_eq!(root.find_all(|n| n.has_class("chart-bar")).len(), 1);
        assert_eq!(root.find_all(|n| n.has_class("chart-tick-x")).len(), 1);
    }

    // -- Stacked bar chart -------------------------------------------------------

    #[test]
    fn stacked_bar_chart_segments_and_legend() {
        let opts = ChartOpts::new("st", "Incidents by severity", "incidents");
        let series = vec![
            Series::new("Minor", vec![1.0, 2.0, 0.0]),
            Series::new("Major", vec![3.0, 0.0, 1.0]),
            Series::new("", vec![1.0]),
        ];
        let svg = stacked_bar_chart(&opts, &labels(3), &series);
        let root = check_chart(&svg, "st");
        assert_eq!(root.attr("data-chart"), Some("stacked-bar"));
        let segs = root.find_all(|n| n.has_class("chart-segment"));
        assert_eq!(segs.len(), 5, "zero segments are skipped");
        assert_eq!(segs[0].child_title(), Some("Minor · 2026-11-01: 1 incidents (total 5 incidents)"));
        assert!(segs[1].has_class("chart-series-1"));
        assert!(segs[2].has_class("chart-series-2"));
        assert_eq!(segs[2].child_title(), Some("Series 3 · 2026-11-01: 1 incidents (total 5 incidents)"));
        // Segments of the first stack are contiguous, bottom-up.
        let bottom0 = num_attr(segs[0], "y") + num_attr(segs[0], "height");
        let top0 = num_attr(segs[0], "y");
        assert!((num_attr(segs[1], "y") + num_attr(segs[1], "height") - top0).abs() < 0.02);
        let total_h = bottom0 - num_attr(segs[2], "y");
        let first_h = num_attr(segs[0], "height");
        assert!((total_h / first_h - 5.0).abs() < 0.05);
        let swatches = root.find_all(|n| n.has_class("chart-legend-swatch"));
        assert_eq!(swatches.len(), 3);
        let legend_labels = tick_labels(&root, "chart-legend-label");
        assert_eq!(legend_labels, ["Minor", "Major", "Series 3"]);
        // The legend sits between the title and the plot.
        let top_tick = root.find_all(|n| n.has_class("chart-grid")).last().map(|n| num_attr(n, "y1"));
        assert!(top_tick.is_some_and(|y| y > num_attr(swatches[0], "y") + SWATCH));
        let desc = &root.children[1].text;
        assert!(desc.contains("3 periods"), "{desc}");
        assert!(desc.contains("Highest total: 2026-11-01 (5 incidents)"), "{desc}");
        assert!(desc.contains("Minor 3 incidents, Major 4 incidents"), "{desc}");
    }

    #[test]
    fn legend_overflow_collapses_to_more() {
        let opts = ChartOpts::new("many", "Many", "");
        let series: Vec<Series> =
            (0..40).map(|i| Series::new(&format!("Customer account number {i}"), vec![1.0, 2.0])).collect();
        let svg = stacked_bar_chart(&opts, &labels(2), &series);
        let root = check_chart(&svg, "many");
        let items = root.find_all(|n| n.has_class("chart-legend-swatch"));
        assert!(items.len() < 40);
        let more = tick_labels(&root, "chart-legend-label")
            .into_iter()
            .find(|t| t.starts_with('+'))
            .expect("+N more");
        assert_eq!(more, format!("+{} more", 40 - items.len()));
        // Colours wrap after eight series.
        assert!(root.find_all(|n| n.has_class("chart-series-0")).len() > 1);
        let legend = legend_layout(&series_names(&series), 640.0);
        assert!(legend.rows <= MAX_LEGEND_ROWS);
        for it in &legend.items {
            assert!(it.x + legend_item_w(&it.text) <= 640.0 - 8.0 + 1e-9);
        }
        // Legend items with truncated names carry the full name.
        let legend = legend_layout(&["x".repeat(100)], 640.0);
        assert_eq!(legend.items[0].full.as_deref(), Some("x".repeat(100).as_str()));
        let svg = stacked_bar_chart(&opts, &labels(1), &[Series::new(&"y".repeat(80), vec![1.0])]);
        check_chart(&svg, "many");
        // Narrow charts too.
        let opts = opts.with_size(160, 140);
        let svg = stacked_bar_chart(&opts, &labels(2), &series);
        let root = check_chart(&svg, "many");
        let plot_top = root.find_all(|n| n.has_class("chart-axis"))[1];
        assert!(num_attr(plot_top, "y2") > num_attr(plot_top, "y1"));
    }

    // -- Line chart ----------------------------------------------------------------

    #[test]
    fn line_chart_single_series_has_no_legend() {
        let opts = ChartOpts::new("ln", "Latency", "ms");
        let svg = line_chart(&opts, &labels(4), &[Series::new("p95", vec![10.0, 20.0, 15.0, 30.0])]);
        let root = check_chart(&svg, "ln");
        assert_eq!(root.attr("data-chart"), Some("line"));
        assert!(root.find_all(|n| n.has_class("chart-legend")).is_empty());
        let lines = root.find_all(|n| n.name == "polyline");
        assert_eq!(lines.len(), 1);
        assert!(lines[0].has_class("chart-line") && lines[0].has_class("chart-series-0"));
        assert_eq!(lines[0].attr("points").map(|p| p.split(' ').count()), Some(4));
        assert_eq!(lines[0].child_title(), Some("p95: min 10 ms, max 30 ms, latest 30 ms"));
        let pts = root.find_all(|n| n.has_class("chart-point"));
        assert_eq!(pts.len(), 4);
        assert_eq!(pts[1].child_title(), Some("2026-11-02: 20 ms"));
        // Higher values are drawn higher up.
        assert!(num_attr(pts[3], "cy") < num_attr(pts[1], "cy"));
        assert!(num_attr(pts[1], "cy") < num_attr(pts[0], "cy"));
        // Points line up with the x labels.
        let x_labels = root.find_all(|n| n.has_class("chart-tick-x"));
        assert_eq!(x_labels.len(), 4);
        for (p, l) in pts.iter().zip(&x_labels) {
            assert_eq!(p.attr("cx"), l.attr("x"));
        }
    }

    #[test]
    fn line_chart_multi_series_legend() {
        let opts = ChartOpts::new("ml", "Latency", "ms");
        let series = vec![
            Series::new("p50", vec![5.0, 6.0, 7.0]),
            Series::new("p95", vec![20.0, 25.0]),
            Series::new("p99", vec![40.0]),
        ];
        let svg = line_chart(&opts, &labels(3), &series);
        let root = check_chart(&svg, "ml");
        assert_eq!(tick_labels(&root, "chart-legend-label"), ["p50", "p95", "p99"]);
        assert_eq!(root.find_all(|n| n.name == "polyline").len(), 2);
        let pts = root.find_all(|n| n.has_class("chart-point"));
        assert_eq!(pts.len(), 6);
        assert_eq!(pts[3].child_title(), Some("p95 · 2026-11-01: 20 ms"));
        assert!(pts[5].has_class("chart-series-2"));
        let desc = &root.children[1].text;
        assert!(desc.contains("3 series over 3 points"), "{desc}");
        assert!(desc.contains("p99: min 40 ms, max 40 ms, latest 40 ms."), "{desc}");
    }

    #[test]
    fn line_chart_many_points() {
        let opts = ChartOpts::new("dense", "Dense", "req/s");
        let vals: Vec<f64> = (0..2000).map(|i| f64::from(i % 97) * 13.7).collect();
        let svg = line_chart(&opts, &labels(2000), &[Series::new("a", vals)]);
        let root = check_chart(&svg, "dense");
        assert_eq!(root.find_all(|n| n.has_class("chart-point")).len(), 2000);
        assert_x_labels_disjoint(&root, 640.0);
    }

    // -- Sparkline -------------------------------------------------------------------

    #[test]
    fn sparkline_basic() {
        let svg = sparkline("sp1", "Requests", &[1.0, 5.0, 3.0, 9.0], 120, 24);
        let root = check_chart(&svg, "sp1");
        assert_eq!(root.attr("data-chart"), Some("sparkline"));
        assert_eq!(root.attr("viewBox"), Some("0 0 120 24"));
        assert_eq!(root.attr("width"), Some("120"));
        assert_eq!(root.attr("height"), Some("24"));
        assert!(root.attr("aria-labelledby").is_none());
        assert_eq!(root.attr("aria-label"), Some("Requests: 4 values, latest 9, min 1, max 9"));
        for class in ["chart-axis", "chart-grid", "chart-tick", "chart-title"] {
            assert!(root.find_all(|n| n.has_class(class)).is_empty(), "{class}");
        }
        let line = root.find_all(|n| n.name == "polyline")[0];
        let pts: Vec<(f64, f64)> = line
            .attr("points")
            .unwrap()
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(pts.len(), 4);
        assert!(pts.iter().all(|&(x, y)| (0.0..=120.0).contains(&x) && (0.0..=24.0).contains(&y)));
        assert_eq!(pts[0].1, 22.0, "minimum at the bottom");
        assert_eq!(pts[3].1, 2.0, "maximum at the top");
        let dot = root.find_all(|n| n.has_class("chart-point"));
        assert_eq!(dot.len(), 1);
        assert_eq!(dot[0].child_title(), Some("Requests: latest 9"));
    }

    #[test]
    fn sparkline_edge_cases() {
        let root = check_chart(&sparkline("one", "One", &[5.0], 50, 10), "one");
        assert!(root.find_all(|n| n.name == "polyline").is_empty());
        assert_eq!(root.find_all(|n| n.has_class("chart-point")).len(), 1);
        let root = check_chart(&sparkline("flat", "", &[5.0, 5.0, 5.0], 50, 10), "flat");
        assert!(root.attr("aria-label").is_some_and(|l| l.starts_with("Trend:")));
        check_chart(&sparkline("tiny", "t", &[1.0, 2.0], 0, 0), "tiny");
    }

    // -- Uptime strip ------------------------------------------------------------------

    fn days(n: usize) -> Vec<UptimeDay> {
        (0..n)
            .map(|i| UptimeDay {
                label: format!("2026-{:02}-{:02}", 9 + i / 30, i % 30 + 1),
                state: match i % 15 {
                    3 => UptimeState::Degraded,
                    7 => UptimeState::Partial,
                    9 => UptimeState::Major,
                    11 => UptimeState::Maintenance,
                    14 => UptimeState::NoData,
                    _ => UptimeState::Operational,
                },
                detail: if i == 0 { String::new() } else { format!("99.{i:02}% uptime · 1 incident") },
            })
            .collect()
    }

    #[test]
    fn uptime_strip_90_days() {
        let d = days(90);
        let svg = uptime_strip("api-uptime", "API uptime", &d);
        let root = check_chart(&svg, "api-uptime");
        assert_eq!(root.attr("data-chart"), Some("uptime"));
        assert_eq!(root.attr("preserveAspectRatio"), Some("none"));
        assert_eq!(root.attr("viewBox"), Some("0 0 448 34"));
        let bars = root.find_all(|n| n.has_class("uptime-bar"));
        assert_eq!(bars.len(), 90);
        for (i, (bar, day)) in bars.iter().zip(&d).enumerate() {
            assert!(bar.has_class(day.state.css_class()));
            assert_eq!(num_attr(bar, "x"), i as f64 * 5.0);
            assert_eq!(num_attr(bar, "width"), 3.0);
        }
        // Gap between consecutive bars is 2 units.
        let gap = num_attr(bars[1], "x") - (num_attr(bars[0], "x") + num_attr(bars[0], "width"));
        assert!((1.0..=2.0).contains(&gap));
        assert_eq!(bars[0].child_title(), Some("2026-09-01: Operational"));
        assert_eq!(bars[1].child_title(), Some("2026-09-02: 99.01% uptime · 1 incident"));
        for state in UptimeState::ALL {
            assert!(svg.contains(state.css_class()), "{state:?}");
        }
        let desc = &root.children[1].text;
        assert!(desc.starts_with("API uptime: 90 days from 2026-09-01 to 2026-11-30:"), "{desc}");
        assert!(desc.contains("6 major outage"), "{desc}");
    }

    #[test]
    fn uptime_strip_single_day() {
        let svg = uptime_strip("u1", "", &days(1));
        let root = check_chart(&svg, "u1");
        assert_eq!(root.attr("viewBox"), Some("0 0 3 34"));
        assert_eq!(root.children[0].text, "Chart");
    }

    #[test]
    fn no_style_attributes_anywhere() {
        let opts = ChartOpts::new("all", "All", "ms");
        let s = vec![Series::new("a", vec![1.0, 2.0]), Series::new("b", vec![3.0, 4.0])];
        let all = [
            bar_chart(&opts, &labels(2), &[1.0, 2.0]),
            stacked_bar_chart(&opts, &labels(2), &s),
            line_chart(&opts, &labels(2), &s),
            sparkline("all", "x", &[1.0, 2.0], 100, 20),
            uptime_strip("all", "x", &days(5)),
        ];
        for svg in &all {
            assert!(!svg.contains("style"), "{svg}");
            assert!(!svg.contains(" fill=\"#") && !svg.contains(" stroke=\""), "{svg}");
            let root = check_chart(svg, "all");
            assert!(!marks(&root).is_empty());
        }
    }

    #[test]
    fn chart_opts_defaults() {
        let o = ChartOpts::new("id", "Title", "ms");
        assert_eq!((o.width, o.height), (640, 240));
        assert_eq!((o.id.as_str(), o.title.as_str(), o.unit.as_str()), ("id", "Title", "ms"));
        let o = o.with_size(300, 200);
        assert_eq!((o.width, o.height), (300, 200));
    }
}
