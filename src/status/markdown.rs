//! Markdown bodies (incident updates, postmortems) rendered to sanitized HTML: pulldown-cmark
//! renders, ammonia keeps only safe tags and attributes (no raw HTML, no `javascript:` links).

/// Renders Markdown to HTML that is safe to embed.
pub fn to_safe_html(markdown: &str) -> String {
    let mut opts = pulldown_cmark::Options::empty();
    opts.insert(pulldown_cmark::Options::ENABLE_TABLES);
    opts.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let parser = pulldown_cmark::Parser::new_ext(markdown, opts);
    let mut html = String::with_capacity(markdown.len() * 2);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default().link_rel(Some("noopener noreferrer nofollow")).clean(&html).to_string()
}

/// Plain text of a Markdown body (for emails and feeds' summaries).
pub fn to_text(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new(markdown);
    let mut out = String::new();
    for ev in parser {
        match ev {
            pulldown_cmark::Event::Text(t) | pulldown_cmark::Event::Code(t) => out.push_str(&t),
            pulldown_cmark::Event::SoftBreak | pulldown_cmark::Event::HardBreak => out.push(' '),
            pulldown_cmark::Event::End(_) => out.push(' '),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_strips_danger() {
        let h = to_safe_html("**Fixed.** See [notes](https://example.com)\n\n<script>alert(1)</script>");
        assert!(h.contains("<strong>Fixed.</strong>"));
        assert!(h.contains("rel=\"noopener noreferrer nofollow\""));
        assert!(!h.contains("<script"));
        let h = to_safe_html("[x](javascript:alert(1)) \"><svg onload=alert(1)>");
        assert!(!h.contains("javascript:") && !h.contains("onload"), "{h}");
    }

    #[test]
    fn plain_text() {
        assert_eq!(
            to_text("We are **investigating** slow uploads.\n\n- one"),
            "We are investigating slow uploads. one"
        );
    }
}
