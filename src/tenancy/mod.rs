//! Tenants: districts that link schools (a tree of depth two), and their memberships.

pub mod admin;
pub mod district;
pub mod model;
pub mod scope;
pub mod store;

pub use scope::Scope;

/// Turns a name into a slug: upper-case letters and digits joined by `-`, at most 24 chars.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for w in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&w.to_ascii_uppercase());
    }
    out.chars().take(24).collect::<String>().trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slugify("Lincoln Public Schools"), "LINCOLN-PUBLIC-SCHOOLS");
        assert_eq!(super::slugify("  St. Mary's #2 "), "ST-MARY-S-2");
    }
}
