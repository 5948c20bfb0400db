//! The last few requests of each signed-in user, kept in memory so that a support request can
//! carry the request ids of what the user just did (the ids are in the access log too).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Requests kept per user.
const PER_USER: usize = 8;
/// Users kept before the table starts over (bounds memory at a few MB).
const MAX_USERS: usize = 20_000;

/// One request a user made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Seen {
    /// The request id (also in the access log and the page footer).
    pub id: String,
    pub method: String,
    /// The path only (query strings may hold tokens).
    pub path: String,
    pub status: u16,
    /// UTC, RFC 3339.
    pub at: String,
}

/// Recent requests per user id.
#[derive(Debug, Default)]
pub struct RecentRequests {
    inner: Mutex<HashMap<i64, VecDeque<Seen>>>,
}

impl RecentRequests {
    /// Notes a request of `user`.
    pub fn record(&self, user: i64, seen: Seen) {
        if seen.path.starts_with("/static/") || seen.path == "/favicon.ico" {
            return;
        }
        let mut m = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if m.len() >= MAX_USERS && !m.contains_key(&user) {
            m.clear();
        }
        let q = m.entry(user).or_default();
        if q.len() == PER_USER {
            q.pop_front();
        }
        q.push_back(seen);
    }

    /// The user's recent requests, newest first.
    pub fn of(&self, user: i64) -> Vec<Seen> {
        let m = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        m.get(&user).map(|q| q.iter().rev().cloned().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(i: usize) -> Seen {
        Seen {
            id: format!("r{i}"),
            method: "GET".into(),
            path: format!("/p{i}"),
            status: 200,
            at: String::new(),
        }
    }

    #[test]
    fn keeps_the_last_few_per_user() {
        let r = RecentRequests::default();
        for i in 0..20 {
            r.record(1, seen(i));
        }
        r.record(2, seen(99));
        r.record(1, Seen { path: "/static/css/keel.css".into(), ..seen(50) });
        let mine = r.of(1);
        assert_eq!(mine.len(), PER_USER);
        assert_eq!(mine[0].id, "r19");
        assert_eq!(r.of(2).len(), 1);
        assert!(r.of(3).is_empty());
    }
}
