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

/// True for `local@domain.tld` without spaces, control or bidi characters, at most 254 chars.
pub fn is_email(v: &str) -> bool {
    if v.len() > 254
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c) || c == '<' || c == '>')
    {
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

/// True for the explicit bidi formatting characters: embeddings, overrides and isolates
/// (U+202A to U+202E, U+2066 to U+2069). In a name they reorder what is shown around them
/// ("invoice\u{202E}fdp.exe" reads "invoiceexe.pdf"); right-to-left scripts display correctly
/// without them. Typed text is stored without them: the form extractors (`CsrfForm`, uploads,
/// the public forms) and the usage API remove them as they decode.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `raw` without bidi formatting characters.
pub fn strip_bidi(raw: &str) -> String {
    raw.chars().filter(|c| !is_bidi_control(*c)).collect()
}

/// Fields whose bytes are compared, not shown: they are decoded as sent.
const SECRET_FIELDS: &[&str] = &["password", "current", "new_password", "confirm", "csrf_token"];

/// A urlencoded form body without bidi formatting characters in its names and values (secrets
/// excepted). The body is returned as it is when it has none or cannot be read (the decoder then
/// answers for it).
pub fn strip_bidi_urlencoded(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return std::borrow::Cow::Borrowed(body);
    };
    let has = |s: &str| s.chars().any(is_bidi_control);
    if !pairs.iter().any(|(k, v)| has(k) || has(v)) {
        return std::borrow::Cow::Borrowed(body);
    }
    let cleaned: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| {
            let v = if SECRET_FIELDS.contains(&k.as_str()) { v } else { strip_bidi(&v) };
            (strip_bidi(&k), v)
        })
        .collect();
    match serde_urlencoded::to_string(&cleaned) {
        Ok(s) => std::borrow::Cow::Owned(s.into_bytes()),
        Err(_) => std::borrow::Cow::Borrowed(body),
    }
}

/// Removes bidi formatting characters from every string (and key) of a JSON document.
pub fn strip_bidi_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.chars().any(is_bidi_control) => *s = strip_bidi(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_bidi_json),
        serde_json::Value::Object(map) => {
            if map.keys().any(|k| k.chars().any(is_bidi_control)) {
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    strip_bidi_json(&mut val);
                    map.insert(strip_bidi(&k), val);
                }
            } else {
                map.values_mut().for_each(strip_bidi_json);
            }
        }
        _ => {}
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
    fn bidi_controls_are_removed_except_from_secrets() {
        assert_eq!(strip_bidi("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(strip_bidi("\u{2067}שלום\u{2069} مرحبا"), "שלום مرحبا", "scripts stay, isolates go");
        assert!(!is_email("a\u{202E}b@school.org"));
        let body = b"name=a%E2%80%AEb&password=p%E2%80%AEw&csrf_token=t";
        let cleaned: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&strip_bidi_urlencoded(body)).unwrap();
        assert_eq!(cleaned[0], ("name".to_string(), "ab".to_string()));
        assert_eq!(cleaned[1].1, "p\u{202E}w", "passwords are compared as typed");
        assert!(matches!(strip_bidi_urlencoded(b"name=plain"), std::borrow::Cow::Borrowed(_)));
        let mut v =
            serde_json::json!({"tenant": "x\u{202E}y", "properties": {"r\u{2066}ole": ["\u{202D}t"]}});
        strip_bidi_json(&mut v);
        assert_eq!(v, serde_json::json!({"tenant": "xy", "properties": {"role": ["t"]}}));
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
