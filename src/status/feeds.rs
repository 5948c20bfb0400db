//! Subscription feeds for the public status page: an Atom feed (RFC 4287) and an RSS 2.0 feed
//! of incidents and maintenance, an iCalendar feed (RFC 5545) of scheduled maintenance, and a
//! small shields-style SVG status badge.
//!
//! Everything here is pure string building over plain input types ([`FeedMeta`],
//! [`FeedEntry`], [`FeedUpdate`]) that the caller fills from the app's data; no I/O, no
//! database, no clock. Escaping is done here: XML escaping for Atom, RSS and SVG (including
//! removal of characters XML 1.0 forbids), and RFC 5545 TEXT escaping plus 75-octet line
//! folding (never inside a UTF-8 character) for iCalendar.
//!
//! Identifiers are stable across calls and deploys: Atom ids and RSS guids are tag URIs
//! (`tag:{host},2026:{kind}:{id}`), iCalendar UIDs are `maintenance-{id}@{host}`.

use chrono::{DateTime, SecondsFormat, Utc};

/// One timeline update of an incident or maintenance, as shown in feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedUpdate {
    /// Human status label of the update, e.g. "Investigating" or "Resolved".
    pub status_label: String,
    /// Plain-text body (used by iCalendar descriptions).
    pub body_text: String,
    /// Body as already sanitized HTML (used by Atom and RSS content).
    pub body_html: String,
    /// When the update was posted.
    pub at: DateTime<Utc>,
}

/// One incident or maintenance window, as shown in feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Stable public id, e.g. "k3m9x2pq7d4v".
    pub id: String,
    /// "incident" or "maintenance".
    pub kind: String,
    /// Title of the incident or maintenance.
    pub title: String,
    /// Absolute URL of the incident page.
    pub link: String,
    /// Machine status, e.g. "resolved", "scheduled", "completed", "in_progress".
    pub status: String,
    /// When the entry was created (Atom `published`, RSS `pubDate`).
    pub created_at: DateTime<Utc>,
    /// When the entry last changed (Atom `updated`, iCalendar `DTSTAMP`).
    pub updated_at: DateTime<Utc>,
    /// Timeline updates, newest first.
    pub updates: Vec<FeedUpdate>,
    /// Start of the maintenance window (maintenance only).
    pub scheduled_for: Option<DateTime<Utc>>,
    /// End of the maintenance window (maintenance only).
    pub scheduled_until: Option<DateTime<Utc>>,
    /// Revision counter bumped on each change (iCalendar `SEQUENCE`).
    pub sequence: i32,
    /// Whether the maintenance was cancelled (iCalendar `STATUS:CANCELLED`).
    pub cancelled: bool,
}

/// Feed-level metadata shared by all feed formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMeta {
    /// Feed title, e.g. "Acme status".
    pub title: String,
    /// Absolute URL of the public status page.
    pub page_url: String,
    /// Absolute URL of the feed itself (Atom/RSS `rel="self"`).
    pub self_url: String,
    /// When anything on the page last changed.
    pub updated: DateTime<Utc>,
    /// Public host name, used in tag URIs and iCalendar UIDs, e.g. "status.example.com".
    pub host: String,
}

/// Year used in tag URIs; fixed so that ids never change.
const TAG_YEAR: &str = "2026";

// ---------------------------------------------------------------------------------------------
// Atom
// ---------------------------------------------------------------------------------------------

/// Renders an Atom 1.0 feed (RFC 4287) with one `<entry>` per incident or maintenance, in the
/// given order. Entry content is the updates newest first, as escaped HTML.
pub fn atom(meta: &FeedMeta, entries: &[FeedEntry]) -> String {
    let mut out = String::with_capacity(1024 + entries.len() * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    push_elem(&mut out, "  ", "id", &meta.page_url);
    push_elem(&mut out, "  ", "title", &meta.title);
    push_elem(&mut out, "  ", "updated", &rfc3339(feed_updated(meta, entries)));
    out.push_str(&format!(
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        xml_escape(&meta.self_url)
    ));
    out.push_str(&format!(
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        xml_escape(&meta.page_url)
    ));
    out.push_str("  <author>\n");
    push_elem(&mut out, "    ", "name", &meta.title);
    push_elem(&mut out, "    ", "uri", &meta.page_url);
    out.push_str("  </author>\n");
    out.push_str("  <generator>Keel</generator>\n");
    for e in entries {
        out.push_str("  <entry>\n");
        push_elem(&mut out, "    ", "id", &entry_tag(&meta.host, e));
        push_elem(&mut out, "    ", "title", &e.title);
        push_elem(&mut out, "    ", "updated", &rfc3339(e.updated_at));
        push_elem(&mut out, "    ", "published", &rfc3339(e.created_at));
        out.push_str(&format!(
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            xml_escape(&e.link)
        ));
        out.push_str(&format!("    <category term=\"{}\"/>\n", xml_escape(&e.kind)));
        out.push_str(&format!("    <content type=\"html\">{}</content>\n", xml_escape(&entry_html(e))));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// RSS
// ---------------------------------------------------------------------------------------------

/// Renders an RSS 2.0 feed with an `atom:link rel="self"`, one `<item>` per incident or
/// maintenance (stable non-permalink guid, RFC 2822 `pubDate`, escaped HTML description).
pub fn rss(meta: &FeedMeta, entries: &[FeedEntry]) -> String {
    let mut out = String::with_capacity(1024 + entries.len() * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n");
    out.push_str("  <channel>\n");
    push_elem(&mut out, "    ", "title", &meta.title);
    push_elem(&mut out, "    ", "link", &meta.page_url);
    push_elem(
        &mut out,
        "    ",
        "description",
        &format!("Incidents and scheduled maintenance for {}", meta.title),
    );
    push_elem(&mut out, "    ", "lastBuildDate", &feed_updated(meta, entries).to_rfc2822());
    push_elem(&mut out, "    ", "generator", "Keel");
    out.push_str(&format!(
        "    <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>\n",
        xml_escape(&meta.self_url)
    ));
    for e in entries {
        out.push_str("    <item>\n");
        push_elem(&mut out, "      ", "title", &e.title);
        push_elem(&mut out, "      ", "link", &e.link);
        out.push_str(&format!(
            "      <guid isPermaLink=\"false\">{}</guid>\n",
            xml_escape(&entry_tag(&meta.host, e))
        ));
        push_elem(&mut out, "      ", "pubDate", &e.created_at.to_rfc2822());
        push_elem(&mut out, "      ", "category", &e.kind);
        push_elem(&mut out, "      ", "description", &entry_html(e));
        out.push_str("    </item>\n");
    }
    out.push_str("  </channel>\n");
    out.push_str("</rss>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// iCalendar
// ---------------------------------------------------------------------------------------------

/// Renders an iCalendar (RFC 5545) feed of scheduled maintenance: one `VEVENT` per entry whose
/// kind is "maintenance" and that has both scheduled times; other entries are skipped. Lines
/// end with CRLF and are folded at 75 octets.
pub fn ical(meta: &FeedMeta, entries: &[FeedEntry]) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//Keel//Status//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        format!("X-WR-CALNAME:{}", ical_text(&meta.title)),
        format!("X-WR-CALDESC:{}", ical_text(&format!("Scheduled maintenance for {}", meta.title))),
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H".into(),
        "X-PUBLISHED-TTL:PT1H".into(),
    ];
    for e in entries {
        if e.kind != "maintenance" {
            continue;
        }
        let (Some(start), Some(until)) = (e.scheduled_for, e.scheduled_until) else {
            continue;
        };
        let end = until.max(start);
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!("UID:{}", ical_text(&ical_uid(&meta.host, e))));
        lines.push(format!("DTSTAMP:{}", ical_time(e.updated_at)));
        lines.push(format!("CREATED:{}", ical_time(e.created_at)));
        lines.push(format!("LAST-MODIFIED:{}", ical_time(e.updated_at)));
        lines.push(format!("DTSTART:{}", ical_time(start)));
        lines.push(format!("DTEND:{}", ical_time(end)));
        lines.push(format!("SUMMARY:{}", ical_text(&e.title)));
        if let Some(latest) = e.updates.first() {
            let text =
                if latest.body_text.trim().is_empty() { &latest.status_label } else { &latest.body_text };
            if !text.trim().is_empty() {
                lines.push(format!("DESCRIPTION:{}", ical_text(text)));
            }
        }
        let url = strip_controls(&e.link);
        if !url.is_empty() {
            lines.push(format!("URL:{url}"));
        }
        lines.push(format!("SEQUENCE:{}", e.sequence.max(0)));
        lines.push(format!("STATUS:{}", if e.cancelled { "CANCELLED" } else { "CONFIRMED" }));
        lines.push("TRANSP:TRANSPARENT".into());
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 8).sum());
    for line in &lines {
        fold_line(line, &mut out);
    }
    out
}

/// Stable UID of a maintenance event: `maintenance-{id}@{host}`.
fn ical_uid(host: &str, e: &FeedEntry) -> String {
    format!("maintenance-{}@{}", e.id, host.trim())
}

/// A UTC DATE-TIME in iCalendar form, `YYYYMMDDTHHMMSSZ`.
fn ical_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes an RFC 5545 TEXT value: backslash, semicolon, comma, and newlines (any of CRLF, LF,
/// CR become `\n`); other control characters except tab are dropped.
fn ical_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Removes all control characters (for URI-valued properties, which are not TEXT-escaped).
fn strip_controls(s: &str) -> String {
    s.trim().chars().filter(|c| !c.is_control()).collect()
}

/// Appends one content line folded at 75 octets (continuation lines start with one space and
/// hold at most 74 further octets), never splitting a UTF-8 character, ending with CRLF.
fn fold_line(line: &str, out: &mut String) {
    const LIMIT: usize = 75;
    let mut used = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if used + n > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += n;
    }
    out.push_str("\r\n");
}

// ---------------------------------------------------------------------------------------------
// Badge
// ---------------------------------------------------------------------------------------------

/// Renders a shields-style flat SVG badge ("label | message"). `color_class` is one of
/// "operational", "degraded", "partial", "major", "maintenance" or "unknown" (anything else is
/// treated as "unknown"). Text is escaped; widths follow the text length. An empty label gives
/// a message-only badge.
pub fn badge_svg(label: &str, message: &str, color_class: &str) -> String {
    const H_PAD: u32 = 10;
    let label = truncate_chars(label.trim(), 60);
    let message = truncate_chars(message.trim(), 60);
    let color = badge_color(color_class);
    let label_w = if label.is_empty() { 0 } else { text_width(&label) + H_PAD };
    let msg_text_w = text_width(&message);
    let msg_w = msg_text_w + H_PAD;
    let total = label_w + msg_w;
    let aria = if label.is_empty() { message.clone() } else { format!("{label}: {message}") };
    let aria = xml_escape(&aria);

    let mut out = String::with_capacity(1200);
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" \
         aria-label=\"{aria}\">"
    ));
    out.push_str(&format!("<title>{aria}</title>"));
    out.push_str(
        "<linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" \
         stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>",
    );
    out.push_str(&format!(
        "<clipPath id=\"r\"><rect width=\"{total}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>"
    ));
    out.push_str("<g clip-path=\"url(#r)\">");
    if label_w > 0 {
        out.push_str(&format!("<rect width=\"{label_w}\" height=\"20\" fill=\"#555\"/>"));
    }
    out.push_str(&format!("<rect x=\"{label_w}\" width=\"{msg_w}\" height=\"20\" fill=\"{color}\"/>"));
    out.push_str(&format!("<rect width=\"{total}\" height=\"20\" fill=\"url(#s)\"/>"));
    out.push_str("</g>");
    out.push_str(
        "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" \
         text-rendering=\"geometricPrecision\" font-size=\"11\">",
    );
    if label_w > 0 {
        push_badge_text(&mut out, &label, label_w as f64 / 2.0, label_w - H_PAD);
    }
    push_badge_text(&mut out, &message, label_w as f64 + msg_w as f64 / 2.0, msg_text_w);
    out.push_str("</g></svg>");
    out
}

/// Appends one badge text with its drop shadow, centred at `x`.
fn push_badge_text(out: &mut String, text: &str, x: f64, width: u32) {
    let t = xml_escape(text);
    let len = if width > 0 { format!(" textLength=\"{width}\"") } else { String::new() };
    out.push_str(&format!(
        "<text aria-hidden=\"true\" x=\"{x:.1}\" y=\"15\" fill=\"#010101\" \
         fill-opacity=\".3\"{len}>{t}</text>"
    ));
    out.push_str(&format!("<text x=\"{x:.1}\" y=\"14\"{len}>{t}</text>"));
}

/// Fill colour of a badge's message part.
fn badge_color(color_class: &str) -> &'static str {
    match color_class {
        "operational" => "#1f883d",
        "degraded" => "#bf8700",
        "partial" => "#d1570b",
        "major" => "#cf222e",
        "maintenance" => "#0969da",
        _ => "#8c959f",
    }
}

/// Approximate rendered width in pixels of `s` in 11px Verdana.
fn text_width(s: &str) -> u32 {
    let tenths: u32 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '!' | '|' => 35,
            'f' | 'r' | 't' | 'I' | '(' | ')' | '[' | ']' | ' ' | '-' | '/' => 48,
            'm' | 'w' => 98,
            'M' | 'W' | '%' | '@' => 105,
            c if c.is_ascii_uppercase() || c.is_ascii_digit() => 75,
            c if c.is_ascii() => 68,
            // CJK and other wide scripts
            c if (c as u32) >= 0x1100 => 110,
            _ => 75,
        })
        .sum();
    tenths.div_ceil(10)
}

/// The first `max` characters of `s`, with an ellipsis when cut.
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Feed-level updated time: the metadata's time, or a newer entry's.
fn feed_updated(meta: &FeedMeta, entries: &[FeedEntry]) -> DateTime<Utc> {
    entries.iter().map(|e| e.updated_at).fold(meta.updated, DateTime::max)
}

/// RFC 3339 timestamp with whole seconds and `Z`.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Appends `{indent}<name>{escaped text}</name>\n`.
fn push_elem(out: &mut String, indent: &str, name: &str, text: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&xml_escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// HTML of an entry for Atom content and RSS description (unescaped; the caller escapes it as
/// XML text): the maintenance window if any, then each update newest first as
/// `<p><strong>{status_label}</strong> — {time UTC}</p>{body_html}`.
fn entry_html(e: &FeedEntry) -> String {
    let mut html = String::new();
    if let (Some(start), Some(until)) = (e.scheduled_for, e.scheduled_until) {
        html.push_str(&format!(
            "<p><strong>Scheduled</strong> — {} to {}</p>",
            human_time(start),
            human_time(until)
        ));
    }
    for u in &e.updates {
        html.push_str(&format!(
            "<p><strong>{}</strong> — {}</p>{}",
            xml_escape(&u.status_label),
            human_time(u.at),
            u.body_html
        ));
    }
    if e.updates.is_empty() {
        html.push_str(&format!("<p><strong>{}</strong></p>", xml_escape(&status_words(&e.status))));
    }
    html
}

/// "resolved" → "Resolved", "in_progress" → "In progress".
fn status_words(status: &str) -> String {
    let s = status.replace('_', " ");
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A readable UTC time, e.g. "2026-03-05 14:02 UTC".
fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Stable tag URI (RFC 4151) of an entry: `tag:{host},2026:{kind}:{id}`.
fn entry_tag(host: &str, e: &FeedEntry) -> String {
    let kind: String =
        e.kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>().to_lowercase();
    let kind = if kind.is_empty() { "entry".to_string() } else { kind };
    format!("tag:{},{TAG_YEAR}:{kind}:{}", tag_authority(host), percent_encode(&e.id))
}

/// The DNS name part of `host` for a tag URI: lowercased, port and invalid characters removed.
fn tag_authority(host: &str) -> String {
    let host = host.trim().to_lowercase();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => host,
    };
    let clean: String =
        host.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
    if clean.is_empty() { "localhost".to_string() } else { clean }
}

/// Percent-encodes everything outside RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for XML content and attribute values (`&`, `<`, `>`, `"`, `'`) and drops the
/// characters XML 1.0 forbids (control characters other than tab, LF and CR; U+FFFE, U+FFFF).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const EVIL: &str = "\"><svg onload=alert(1)>";
    const SCRIPT: &str = "</script><script>alert('x')</script>";

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 5, h, m, 0).single().unwrap()
    }

    fn meta() -> FeedMeta {
        FeedMeta {
            title: "Acme & Co status".into(),
            page_url: "https://status.example.com/status".into(),
            self_url: "https://status.example.com/status/feed.atom?x=1&y=2".into(),
            updated: t(12, 0),
            host: "status.example.com".into(),
        }
    }

    fn update(label: &str, text: &str, html: &str, at: DateTime<Utc>) -> FeedUpdate {
        FeedUpdate { status_label: label.into(), body_text: text.into(), body_html: html.into(), at }
    }

    fn incident() -> FeedEntry {
        FeedEntry {
            id: "k3m9x2pq7d4v".into(),
            kind: "incident".into(),
            title: format!("API errors {EVIL} {SCRIPT}"),
            link: "https://status.example.com/status/incidents/k3m9x2pq7d4v?a=1&b=2".into(),
            status: "resolved".into(),
            created_at: t(9, 0),
            updated_at: t(10, 30),
            updates: vec![
                update("Resolved", "Fixed.", "<p>Fixed &amp; verified.</p>", t(10, 30)),
                update("Investigating", "Looking", &format!("<p>{}</p>", xml_escape(EVIL)), t(9, 0)),
            ],
            scheduled_for: None,
            scheduled_until: None,
            sequence: 2,
            cancelled: false,
        }
    }

    fn maintenance(id: &str, cancelled: bool) -> FeedEntry {
        FeedEntry {
            id: id.into(),
            kind: "maintenance".into(),
            title: "Database upgrade; primary, replicas \\ storage — ünïcödé 日本語 window".into(),
            link: format!("https://status.example.com/status/incidents/{id}"),
            status: if cancelled { "cancelled".into() } else { "scheduled".into() },
            created_at: t(8, 0),
            updated_at: t(11, 0),
            updates: vec![update(
                "Scheduled",
                "We will upgrade the database, briefly; expect \\ read-only mode.\nSecond line \
                 with lots of text to force folding: ääääääääääääääääääääääääääääääääääää 日本語日本語日本語日本語",
                "<p>x</p>",
                t(8, 0),
            )],
            scheduled_for: Some(t(22, 0)),
            scheduled_until: Some(t(23, 30)),
            sequence: 3,
            cancelled,
        }
    }

    /// Tiny well-formedness checker: balanced tags, quoted attributes without `<`, valid
    /// entity references, no stray `<`/`&` in text. Returns the element names in order.
    fn check_xml(xml: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut roots = 0;
        let b = xml.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'<' {
                if xml[i..].starts_with("<?") {
                    let end = xml[i..].find("?>").expect("unterminated PI");
                    i += end + 2;
                    continue;
                }
                // find closing '>' outside quotes
                let mut j = i + 1;
                let mut quote: Option<u8> = None;
                while j < b.len() {
                    match (quote, b[j]) {
                        (None, b'"') | (None, b'\'') => quote = Some(b[j]),
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), b'<') => panic!("'<' inside attribute at {j}"),
                        (None, b'>') => break,
                        (None, b'<') => panic!("'<' inside tag at {j}"),
                        _ => {}
                    }
                    j += 1;
                }
                assert!(j < b.len(), "unterminated tag at {i}");
                let inner = &xml[i + 1..j];
                check_entities(inner);
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim();
                    assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
                } else {
                    let self_closing = inner.ends_with('/');
                    let body = inner.trim_end_matches('/');
                    let name = body.split_whitespace().next().expect("empty tag").to_string();
                    assert!(
                        name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-'),
                        "bad tag name {name}"
                    );
                    // attributes: name="value" pairs
                    let rest = body[name.len()..].trim();
                    check_attrs(rest);
                    if stack.is_empty() {
                        roots += 1;
                    }
                    names.push(name.clone());
                    if !self_closing {
                        stack.push(name);
                    }
                }
                i = j + 1;
            } else {
                let next = xml[i..].find('<').map_or(b.len(), |n| i + n);
                let text = &xml[i..next];
                check_entities(text);
                if stack.is_empty() {
                    assert!(text.trim().is_empty(), "text outside root: {text:?}");
                }
                i = next;
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        assert_eq!(roots, 1, "exactly one root element");
        names
    }

    fn check_attrs(mut rest: &str) {
        while !rest.is_empty() {
            let eq = rest.find('=').unwrap_or_else(|| panic!("attribute without value: {rest}"));
            let name = rest[..eq].trim();
            assert!(!name.is_empty() && !name.contains(char::is_whitespace), "bad attr name {name:?}");
            let after = &rest[eq + 1..];
            assert!(after.starts_with('"'), "unquoted attribute {name}");
            let close = after[1..].find('"').expect("unterminated attribute");
            let value = &after[1..1 + close];
            assert!(!value.contains('<'));
            rest = after[close + 2..].trim_start();
        }
    }

    fn check_entities(s: &str) {
        let mut rest = s;
        while let Some(p) = rest.find('&') {
            let tail = &rest[p + 1..];
            let semi = tail.find(';').unwrap_or_else(|| panic!("bare & in {s:?}"));
            let ent = &tail[..semi];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                || ent
                    .strip_prefix('#')
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            assert!(ok, "bad entity &{ent}; in {s:?}");
            rest = &tail[semi + 1..];
        }
    }

    fn xml_unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    fn between<'a>(s: &'a str, open: &str, close: &str) -> Vec<&'a str> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(p) = rest.find(open) {
            let after = &rest[p + open.len()..];
            let e = after.find(close).expect("no close");
            out.push(&after[..e]);
            rest = &after[e + close.len()..];
        }
        out
    }

    fn entries() -> Vec<FeedEntry> {
        vec![incident(), maintenance("mnt0001", false), maintenance("mnt0002", true)]
    }

    #[test]
    fn atom_is_well_formed_and_complete() {
        let xml = atom(&meta(), &entries());
        assert!(xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"
        ));
        let names = check_xml(&xml);
        assert_eq!(names.iter().filter(|n| *n == "entry").count(), 3);
        assert_eq!(xml.matches("<entry>").count(), 3);
        // feed-level required elements
        let head = &xml[..xml.find("<entry>").unwrap()];
        for el in ["<id>", "<title>", "<updated>", "<author>", "<name>", "rel=\"self\"", "rel=\"alternate\""]
        {
            assert!(head.contains(el), "feed lacks {el}");
        }
        assert!(head.contains("href=\"https://status.example.com/status/feed.atom?x=1&amp;y=2\""));
        assert!(head.contains("<updated>2026-03-05T12:00:00Z</updated>"));
        // every entry has its required elements
        for entry in between(&xml, "<entry>", "</entry>") {
            for el in [
                "<id>",
                "<title>",
                "<updated>",
                "<published>",
                "rel=\"alternate\"",
                "<content type=\"html\">",
            ] {
                assert_eq!(entry.matches(el).count(), 1, "entry lacks {el}");
            }
            for d in between(entry, "<updated>", "</updated>").into_iter().chain(between(
                entry,
                "<published>",
                "</published>",
            )) {
                assert!(DateTime::parse_from_rfc3339(d).is_ok(), "{d}");
            }
        }
        assert!(xml.contains("<id>tag:status.example.com,2026:incident:k3m9x2pq7d4v</id>"));
        assert!(xml.contains("<id>tag:status.example.com,2026:maintenance:mnt0001</id>"));
        assert_eq!(xml, atom(&meta(), &entries()), "deterministic");
    }

    #[test]
    fn atom_escapes_hostile_text() {
        let xml = atom(&meta(), &[incident()]);
        check_xml(&xml);
        assert!(!xml.contains("<svg"));
        assert!(!xml.contains("<script"));
        assert!(!xml.contains("</script"));
        assert!(xml.contains("<title>API errors &quot;&gt;&lt;svg onload=alert(1)&gt; &lt;/script&gt;"));
        assert!(xml.contains("<title>Acme &amp; Co status</title>"));
        // content: HTML escaped once more as XML text; unescaping yields the HTML
        let content = between(&xml, "<content type=\"html\">", "</content>")[0];
        let html = xml_unescape(content);
        let resolved = html.find("<strong>Resolved</strong> — 2026-03-05 10:30 UTC").unwrap();
        let investigating = html.find("<strong>Investigating</strong> — 2026-03-05 09:00 UTC").unwrap();
        assert!(resolved < investigating, "newest first");
        assert!(html.contains("<p>Fixed &amp; verified.</p>"));
        // the sanitized body's escaped payload stays escaped inside the HTML
        assert!(html.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn rss_is_well_formed_with_rfc2822_dates() {
        let xml = rss(&meta(), &entries());
        let names = check_xml(&xml);
        assert_eq!(names.first().map(String::as_str), Some("rss"));
        assert!(xml.contains("xmlns:atom=\"http://www.w3.org/2005/Atom\""));
        assert!(xml.contains(
            "<atom:link href=\"https://status.example.com/status/feed.atom?x=1&amp;y=2\" rel=\"self\""
        ));
        assert_eq!(names.iter().filter(|n| *n == "item").count(), 3);
        let dates: Vec<&str> = between(&xml, "<pubDate>", "</pubDate>")
            .into_iter()
            .chain(between(&xml, "<lastBuildDate>", "</lastBuildDate>"))
            .collect();
        assert_eq!(dates.len(), 4);
        for d in dates {
            assert!(DateTime::parse_from_rfc2822(d).is_ok(), "not RFC 2822: {d}");
        }
        let last = between(&xml, "<lastBuildDate>", "</lastBuildDate>")[0];
        assert_eq!(DateTime::parse_from_rfc2822(last).unwrap(), t(12, 0));
        for item in between(&xml, "<item>", "</item>") {
            for el in ["<title>", "<link>", "<guid isPermaLink=\"false\">", "<pubDate>", "<description>"] {
                assert_eq!(item.matches(el).count(), 1, "item lacks {el}");
            }
        }
        assert!(xml.contains(
            "<guid isPermaLink=\"false\">tag:status.example.com,2026:incident:k3m9x2pq7d4v</guid>"
        ));
        assert!(!xml.contains("<svg") && !xml.contains("<script") && !xml.contains("</script"));
        let desc = xml_unescape(between(&xml, "<description>", "</description>")[1]);
        assert!(desc.starts_with("<p><strong>Resolved</strong> — 2026-03-05 10:30 UTC</p><p>Fixed"));
    }

    #[test]
    fn feed_updated_uses_newest_entry() {
        let mut m = meta();
        m.updated = t(1, 0);
        let xml = atom(&m, &entries());
        assert!(xml.contains("  <updated>2026-03-05T11:00:00Z</updated>"));
    }

    #[test]
    fn empty_feeds_are_well_formed() {
        check_xml(&atom(&meta(), &[]));
        check_xml(&rss(&meta(), &[]));
        let cal = ical(&meta(), &[]);
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\n") && cal.ends_with("END:VCALENDAR\r\n"));
        assert!(!cal.contains("VEVENT"));
    }

    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "")
    }

    #[test]
    fn ical_lines_crlf_and_folded() {
        let cal = ical(&meta(), &entries());
        assert!(cal.ends_with("\r\n"));
        // CRLF everywhere: no bare LF or CR
        let bytes = cal.as_bytes();
        for (i, &c) in bytes.iter().enumerate() {
            if c == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
            }
            if c == b'\r' {
                assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
            }
        }
        let lines: Vec<&str> = cal.strip_suffix("\r\n").unwrap().split("\r\n").collect();
        for l in &lines {
            assert!(l.len() <= 75, "line too long ({}): {l}", l.len());
        }
        assert!(lines.iter().any(|l| l.starts_with(' ')), "something was folded");
        // round trip: unfolding gives the unfolded content lines
        let un = unfold(&cal);
        let summary = un.split("\r\n").find(|l| l.starts_with("SUMMARY:")).unwrap();
        assert_eq!(
            summary,
            "SUMMARY:Database upgrade\\; primary\\, replicas \\\\ storage — ünïcödé 日本語 window"
        );
        let desc = un.split("\r\n").find(|l| l.starts_with("DESCRIPTION:")).unwrap();
        assert!(desc.starts_with(
            "DESCRIPTION:We will upgrade the database\\, briefly\\; expect \\\\ read-only mode.\\nSecond line"
        ));
        assert!(desc.ends_with("日本語日本語日本語日本語"));
    }

    #[test]
    fn fold_round_trips_and_respects_utf8() {
        let samples = [
            String::new(),
            "A".repeat(75),
            "A".repeat(76),
            "B".repeat(300),
            format!("X:{}", "é".repeat(100)),
            format!("X:{}", "日".repeat(80)),
            format!("X:{}", "😀a".repeat(50)),
        ];
        for s in &samples {
            let mut out = String::new();
            fold_line(s, &mut out);
            let body = out.strip_suffix("\r\n").unwrap();
            for l in body.split("\r\n") {
                assert!(l.len() <= 75, "{} octets", l.len());
            }
            for l in body.split("\r\n").skip(1) {
                assert!(l.starts_with(' ') && l.len() > 1);
            }
            assert_eq!(unfold(body), *s);
        }
        let mut out = String::new();
        fold_line(&"A".repeat(75), &mut out);
        assert_eq!(out, format!("{}\r\n", "A".repeat(75)), "75 octets fit on one line");
    }

    #[test]
    fn ical_escapes_text() {
        assert_eq!(ical_text("a,b;c\\d\ne\r\nf\rg\u{7}h"), "a\\,b\\;c\\\\d\\ne\\nf\\ngh");
        let mut m = meta();
        m.title = "Acme, Inc; status".into();
        let cal = unfold(&ical(&m, &[]));
        assert!(cal.contains("X-WR-CALNAME:Acme\\, Inc\\; status\r\n"));
    }

    #[test]
    fn ical_events_only_for_scheduled_maintenance() {
        let mut unscheduled = maintenance("mnt0003", false);
        unscheduled.scheduled_until = None;
        let list = vec![incident(), maintenance("mnt0001", false), unscheduled, maintenance("mnt0002", true)];
        let cal = unfold(&ical(&meta(), &list));
        assert_eq!(cal.matches("BEGIN:VEVENT\r\n").count(), 2);
        assert_eq!(cal.matches("END:VEVENT\r\n").count(), 2);
        assert!(!cal.contains("k3m9x2pq7d4v"));
        assert!(!cal.contains("mnt0003"));
        for l in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Keel//Status//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Acme & Co status",
            "UID:maintenance-mnt0001@status.example.com",
            "UID:maintenance-mnt0002@status.example.com",
            "DTSTAMP:20260305T110000Z",
            "DTSTART:20260305T220000Z",
            "DTEND:20260305T233000Z",
            "URL:https://status.example.com/status/incidents/mnt0001",
            "SEQUENCE:3",
        ] {
            assert!(cal.contains(&format!("{l}\r\n")), "missing {l}");
        }
        let events = between(&cal, "BEGIN:VEVENT\r\n", "END:VEVENT\r\n");
        assert!(events[0].contains("STATUS:CONFIRMED\r\n") && !events[0].contains("CANCELLED"));
        assert!(events[1].contains("STATUS:CANCELLED\r\n") && !events[1].contains("CONFIRMED"));
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\n") && cal.ends_with("END:VCALENDAR\r\n"));
    }

    #[test]
    fn ical_uid_is_stable() {
        let a = ical(&meta(), &[maintenance("mnt0001", false)]);
        let mut changed = maintenance("mnt0001", true);
        changed.title = "Renamed".into();
        changed.sequence = 9;
        changed.updated_at = t(11, 45);
        let b = ical(&meta(), &[changed]);
        let uid = |s: &str| unfold(s).split("\r\n").find(|l| l.starts_with("UID:")).map(str::to_string);
        assert_eq!(uid(&a), uid(&b));
        assert_eq!(uid(&a).as_deref(), Some("UID:maintenance-mnt0001@status.example.com"));
        assert_eq!(a, ical(&meta(), &[maintenance("mnt0001", false)]));
    }

    #[test]
    fn tag_uri_is_clean() {
        let mut e = incident();
        e.id = "a b/c".into();
        assert_eq!(
            entry_tag("Status.Example.com:8443", &e),
            "tag:status.example.com,2026:incident:a%20b%2Fc"
        );
    }

    #[test]
    fn badge_is_well_formed_escaped_and_coloured() {
        let svg = badge_svg("status", "operational", "operational");
        check_xml(&svg);
        assert!(svg.contains("fill=\"#1f883d\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"status: operational\""));
        assert!(svg.contains("<title>status: operational</title>"));
        for (class, color) in [
            ("degraded", "#bf8700"),
            ("partial", "#d1570b"),
            ("major", "#cf222e"),
            ("maintenance", "#0969da"),
            ("unknown", "#8c959f"),
            ("bogus\"", "#8c959f"),
        ] {
            assert!(badge_svg("status", "x", class).contains(&format!("fill=\"{color}\"")), "{class}");
        }
        let evil = badge_svg(EVIL, SCRIPT, "major");
        check_xml(&evil);
        assert!(!evil.contains("<svg onload") && !evil.contains("<script") && !evil.contains("</script"));
        assert!(evil.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"));
        let width = |s: &str| {
            between(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", "\"")[0].parse::<u32>().unwrap()
        };
        assert!(
            width(&badge_svg("status", "major outage", "major"))
                > width(&badge_svg("status", "ok", "operational"))
        );
        let solo = badge_svg("", "maintenance", "maintenance");
        check_xml(&solo);
        assert!(solo.contains("aria-label=\"maintenance\"") && !solo.contains("#555"));
    }
}
