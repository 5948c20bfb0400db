//! CSV exports: every field quoted, and a leading `= + - @` (or tab / carriage return)
//! neutralised with an apostrophe so a spreadsheet never runs a cell as a formula (plain
//! numbers such as `-5.00` stay numbers).

/// One quoted, formula-safe field.
pub fn field(s: &str) -> String {
    // A plain number (a negative amount, say) stays a number; anything else that a spreadsheet
    // would evaluate is made text.
    let number = s.parse::<f64>().is_ok_and(f64::is_finite) && !s.starts_with(['+', '\t', '\r']);
    let s = if !number && s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One line of quoted fields, ending in a newline.
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = fields.iter().map(|f| field(f.as_ref())).collect::<Vec<_>>().join(",");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_neutralises_formulas() {
        assert_eq!(field("a\"b"), "\"a\"\"b\"");
        assert_eq!(field("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(line(&["x", "-1.50"]), "\"x\",\"-1.50\"\n", "negative amounts stay numbers");
        assert_eq!(field("-1+2"), "\"'-1+2\"");
        assert_eq!(field("+1"), "\"'+1\"");
    }
}
