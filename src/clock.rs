//! The clock every time-dependent rule reads, so tests can move time.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Something that tells the current UTC time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that tests set and advance by hand.
#[derive(Debug, Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    /// A clock stopped at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += d;
        }
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = to;
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}
