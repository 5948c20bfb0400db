//! Form handling: decode every field as text (decoding never fails), then parse into domain
//! values collecting one message per bad field. A form with errors re-renders with the
//! user's input kept and the messages beside the fields (status 422).

/// Messages per field, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    items: Vec<(String, String)>,
}

impl FormErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a message for `field` (the first message per field wins).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if !self.items.iter().any(|(f, _)| f == field) {
            self.items.push((field.to_string(), message.into()));
        }
    }

    /// The message for `field`, or "" when it is fine (templates test `.is_empty()`).
    pub fn get(&self, field: &str) -> &str {
        self.items.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str()).unwrap_or("")
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All (field, message) pairs, for the summary at the top of the form.
    pub fn list(&self) -> &[(String, String)] {
        &self.items
    }

    /// Ok(value) when there are no errors, else Err(self).
    pub fn finish<T>(self, value: T) -> Result<T, FormErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

/// A trimmed required text of at most `max` characters.
pub fn required_text(errs: &mut FormErrors, field: &str, label: &str, raw: &str, max: usize) -> String {
    let v = raw.trim();
    if v.is_empty() {
        errs.add(field, format!("Enter {label}."));
    } else if v.chars().count() > max {
        errs.add(field, format!("{} must be at most {max} characters.", capitalize(label)));
    }
    v.to_string()
}

/// A trimmed optional text of at most `max` characters (None when blank).
pub fn optional_text(
    errs: &mut FormErrors,
    field: &str,
    label: &str,
    raw: &str,
    max: usize,
) -> Option<String> {
    let v = raw.trim();
    if v.is_empty() {
        return None;
    }
    if v.chars().count() > max {
        errs.add(field, format!("{} must be at most {max} characters.", capitalize(label)));
    }
    Some(v.to_string())
}

/// A form whose only field is its CSRF token (a button that does one thing).
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

/// An optional `YYYY-MM-DD` date (what `<input type=date>` sends).
pub fn optional_date(errs: &mut FormErrors, field: &str, raw: &str) -> Option<chrono::NaiveDate> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if (2000..=2200).contains(&chrono::Datelike::year(&d)) => Some(d),
        Ok(_) => {
            errs.add(field, "Enter a date between the years 2000 and 2200.");
            None
        }
        Err(_) => {
            errs.add(field, "Enter a date like 2026-06-30.");
            None
        }
    }
}

/// A syntactically plausible email address, lower-cased.
pub fn email(errs: &mut FormErrors, field: &str, raw: &str) -> String {
    let v = raw.trim().to_ascii_lowercase();
    if v.is_empty() {
        errs.add(field, "Enter an email address.");
    } else if !is_email(&v) {
        errs.add(field, "Enter an email address like name@district.org.");
    }
    v
}

/// True for `local@domain.tld` without spaces or control characters, at most 254 chars.
pub fn is_email(v: &str) -> bool {
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
        return false;
    }
    match v.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !domain.contains("..")
                && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    }
}

/// A whole number within `min..=max`.
pub fn integer(
    errs: &mut FormErrors,
    field: &str,
    label: &str,
    raw: &str,
    min: i64,
    max: i64,
) -> Option<i64> {
    let v = raw.trim().replace(',', "");
    if v.is_empty() {
        errs.add(field, format!("Enter {label}."));
        return None;
    }
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        Ok(_) => {
            errs.add(field, format!("{} must be between {min} and {max}.", capitalize(label)));
            None
        }
        Err(_) => {
            errs.add(field, format!("{} must be a whole number.", capitalize(label)));
            None
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_first_error_per_field() {
        let mut e = FormErrors::new();
        e.add("name", "Enter a name.");
        e.add("name", "Second message is ignored.");
        assert_eq!(e.get("name"), "Enter a name.");
        assert_eq!(e.get("other"), "");
        assert_eq!(e.list().len(), 1);
        assert!(e.finish(()).is_err());
    }

    #[test]
    fn emails() {
        assert!(is_email("ap@lincoln.k12.ne.us"));
        assert!(!is_email("no-at-sign"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.org"));
        assert!(!is_email("a@-.."));
        let mut e = FormErrors::new();
        assert_eq!(email(&mut e, "email", "  Pat@School.ORG "), "pat@school.org");
        assert!(e.is_empty());
    }

    #[test]
    fn integers_and_text() {
        let mut e = FormErrors::new();
        assert_eq!(integer(&mut e, "n", "net days", "30", 0, 365), Some(30));
        assert_eq!(integer(&mut e, "m", "net days", "abc", 0, 365), None);
        assert_eq!(e.get("m"), "Net days must be a whole number.");
        assert_eq!(integer(&mut e, "k", "a cap", "-1", 0, 10), None);
        assert_eq!(e.get("k"), "A cap must be between 0 and 10.");
        required_text(&mut e, "t", "a title", "   ", 10);
        assert_eq!(e.get("t"), "Enter a title.");
        required_text(&mut e, "u", "a title", "abcdefghijkl", 10);
        assert_eq!(e.get("u"), "A title must be at most 10 characters.");
        assert_eq!(optional_text(&mut e, "o", "note", "  ", 5), None);
    }
}
