//! In-memory state that lets an entitlement check answer without touching the database: ingest
//! keys, the catalog (tenants and metrics), every cap, and the current usage each cap measures.
//!
//! The database stays the source of truth: entries expire (usage after [`VALUE_TTL`], the rest
//! after [`META_TTL`]), this instance drops the entries an ingest or a cap change touches at
//! once, and anything missing is read again. So a restart loses nothing, and another instance
//! on the same PostgreSQL sees this one's events within [`VALUE_TTL`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use super::ingest::Catalog;
use super::model::Cap;

/// How long a cached usage figure is trusted.
pub const VALUE_TTL: Duration = Duration::from_secs(5);
/// How long cached keys, catalog and caps are trusted.
pub const META_TTL: Duration = Duration::from_secs(30);

type ValueKey = (i64, i64);

/// The cache (one per process, in `AppState`).
#[derive(Default)]
pub struct Cache {
    keys: RwLock<HashMap<String, (i64, Instant)>>,
    catalog: RwLock<Option<(Instant, Arc<Catalog>)>>,
    caps: RwLock<Option<(Instant, Arc<Vec<Cap>>)>>,
    values: RwLock<HashMap<ValueKey, (f64, NaiveDate, Instant)>>,
    enforced: RwLock<HashSet<(i64, String)>>,
    /// Held while something missing or stale is read from the database, so that many requests
    /// finding the same entry expired read it once instead of each queueing for a connection.
    loading: tokio::sync::Mutex<()>,
}

fn fresh(at: Instant, ttl: Duration) -> bool {
    at.elapsed() < ttl
}

impl Cache {
    /// Serialises loads from the database: take it, look again, load only if still missing.
    pub async fn loading(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.loading.lock().await
    }

    /// The key id for a key hash, if cached and fresh.
    pub fn key(&self, hash: &str) -> Option<i64> {
        let keys = self.keys.read().ok()?;
        keys.get(hash).filter(|(_, at)| fresh(*at, META_TTL)).map(|(id, _)| *id)
    }

    /// Remembers a valid key.
    pub fn put_key(&self, hash: &str, id: i64) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(hash.to_string(), (id, Instant::now()));
        }
    }

    /// Forgets every key (after a revocation).
    pub fn clear_keys(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
    }

    /// The catalog, if read less than `max_age` ago.
    pub fn catalog(&self, max_age: Duration) -> Option<Arc<Catalog>> {
        let c = self.catalog.read().ok()?;
        c.as_ref().filter(|(at, _)| fresh(*at, max_age)).map(|(_, cat)| cat.clone())
    }

    /// Stores a freshly read catalog.
    pub fn put_catalog(&self, cat: Arc<Catalog>) {
        if let Ok(mut c) = self.catalog.write() {
            *c = Some((Instant::now(), cat));
        }
    }

    /// Forgets the catalog (a metric was added).
    pub fn clear_catalog(&self) {
        if let Ok(mut c) = self.catalog.write() {
            *c = None;
        }
    }

    /// Every cap, if fresh.
    pub fn caps(&self) -> Option<Arc<Vec<Cap>>> {
        let c = self.caps.read().ok()?;
        c.as_ref().filter(|(at, _)| fresh(*at, META_TTL)).map(|(_, caps)| caps.clone())
    }

    /// Stores freshly read caps.
    pub fn put_caps(&self, caps: Arc<Vec<Cap>>) {
        if let Ok(mut c) = self.caps.write() {
            *c = Some((Instant::now(), caps));
        }
    }

    /// Forgets caps and usage figures (after a cap changes).
    pub fn clear_caps(&self) {
        if let Ok(mut c) = self.caps.write() {
            *c = None;
        }
        if let Ok(mut v) = self.values.write() {
            v.clear();
        }
    }

    /// The usage a cap on `tenant` measures for `metric` today, if cached and fresh.
    pub fn value(&self, tenant: i64, metric: i64, today: NaiveDate) -> Option<f64> {
        let v = self.values.read().ok()?;
        v.get(&(tenant, metric))
            .filter(|(_, day, at)| *day == today && fresh(*at, VALUE_TTL))
            .map(|(x, _, _)| *x)
    }

    /// Stores a usage figure read from the database.
    pub fn put_value(&self, tenant: i64, metric: i64, today: NaiveDate, value: f64) {
        if let Ok(mut v) = self.values.write() {
            v.insert((tenant, metric), (value, today, Instant::now()));
        }
    }

    /// Drops the usage figures of these tenants (events arrived for them or their schools).
    pub fn invalidate(&self, tenants: &[i64]) {
        if let Ok(mut v) = self.values.write() {
            v.retain(|(t, _), _| !tenants.contains(t));
        }
    }

    /// True the first time a cap's refusal is seen this period in this process.
    pub fn first_enforcement(&self, cap: i64, period: &str) -> bool {
        self.enforced.write().map(|mut s| s.insert((cap, period.to_string()))).unwrap_or(false)
    }
}
