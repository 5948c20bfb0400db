//! The 10,000 most common passwords (`common-passwords.txt`, the first 10,000 lines of the
//! list Django ships, BSD-3-Clause; see docs/THIRD_PARTY.md), compiled into the binary.

use std::collections::HashSet;
use std::sync::OnceLock;

static LIST: &str = include_str!("common-passwords.txt");

/// True when `lowercased` is on the list.
pub fn is_common(lowercased: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| LIST.lines().map(str::trim).filter(|l| !l.is_empty()).collect()).contains(lowercased)
}

#[cfg(test)]
mod tests {
    #[test]
    fn list_is_loaded() {
        assert_eq!(super::LIST.lines().count(), 10_000);
        assert!(super::is_common("password"));
        assert!(!super::is_common("tidal-copper-lantern-92"));
    }
}
