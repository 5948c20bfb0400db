//! Paging for lists: page numbers from the query string, offsets for queries.

/// A page request and the total it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based page number.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
    /// Total rows matching the filters.
    pub total: i64,
}

impl Paging {
    /// Reads `page` (1-based; anything invalid becomes 1) for lists of `per_page` rows.
    pub fn new(page: Option<i64>, per_page: i64) -> Self {
        Self { page: page.filter(|p| *p >= 1 && *p <= 1_000_000).unwrap_or(1), per_page, total: 0 }
    }

    /// Row offset for the query.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// Number of pages (at least 1).
    pub fn total_pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }

    /// With the total filled in.
    pub fn with_total(mut self, total: i64) -> Self {
        self.total = total;
        self
    }
}

/// Status tabs above a list: ("", "All", total) followed by (key, label, count) per status,
/// from per-status counts as the database returns them.
pub fn status_tabs(statuses: &[(&str, &str)], counts: &[(String, i64)]) -> Vec<(String, String, i64)> {
    let count = |k: &str| counts.iter().find(|(s, _)| s == k).map(|(_, n)| *n).unwrap_or(0);
    let mut tabs = vec![(String::new(), "All".to_string(), counts.iter().map(|(_, n)| n).sum())];
    tabs.extend(statuses.iter().map(|(k, l)| (k.to_string(), l.to_string(), count(k))));
    tabs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let p = Paging::new(Some(3), 50).with_total(101);
        assert_eq!(p.offset(), 100);
        assert_eq!(p.total_pages(), 3);
        assert_eq!(Paging::new(Some(0), 50).page, 1);
        assert_eq!(Paging::new(None, 50).with_total(0).total_pages(), 1);
        let tabs =
            status_tabs(&[("dead", "Dead"), ("queued", "Queued")], &[("dead".into(), 2), ("sent".into(), 3)]);
        assert_eq!(tabs[0], (String::new(), "All".into(), 5));
        assert_eq!(tabs[1].2, 2);
        assert_eq!(tabs[2].2, 0);
    }
}
