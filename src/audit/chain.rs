//! The hash chain, without the database: canonical JSON of an event, its hash, and the
//! check of a run of events against the chain. `hash = SHA-256(prev_hash || canonical JSON)`.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::web::token::{hmac_hex, sha256_hex};

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an event that the hash covers (everything but the hashes themselves).
#[derive(Debug, Clone, PartialEq)]
pub struct EventBody {
    /// Position in the chain (1, 2, 3, ...).
    pub seq: i64,
    /// When (UTC, microseconds).
    pub at: NaiveDateTime,
    /// Who (None for the system).
    pub actor_user_id: Option<i64>,
    /// Who, in words (an email, or "system").
    pub actor_label: String,
    /// Which tenant the change concerns.
    pub tenant_id: Option<i64>,
    /// What, e.g. `auth.sign_in`, `tenant.link`.
    pub action: String,
    /// The kind of record changed.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// The request that caused it.
    pub request_id: String,
    /// The client address.
    pub ip: String,
    /// Details as canonical JSON text (keys sorted).
    pub details: String,
}

/// Formats an instant the one way the chain uses.
pub fn format_at(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Re-serializes JSON with sorted keys (serde_json's map is ordered by key).
pub fn canonical_details(v: &Value) -> String {
    v.to_string()
}

/// The canonical JSON of an event: fixed keys, sorted, no whitespace.
pub fn canonical_json(e: &EventBody) -> String {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::String(e.details.clone()));
    json!({
        "seq": e.seq,
        "at": format_at(e.at),
        "actor_user_id": e.actor_user_id,
        "actor_label": e.actor_label,
        "tenant_id": e.tenant_id,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "request_id": e.request_id,
        "ip": e.ip,
        "details": details,
    })
    .to_string()
}

/// The hash of an event given the previous hash.
pub fn hash(prev_hash: &str, e: &EventBody) -> String {
    let mut buf = Vec::with_capacity(prev_hash.len() + 256);
    buf.extend_from_slice(prev_hash.as_bytes());
    buf.extend_from_slice(canonical_json(e).as_bytes());
    sha256_hex(&buf)
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first sequence number that does not check out.
    pub seq: i64,
    /// What is wrong, in words.
    pub reason: String,
}

/// A running check over events in order of `seq`.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Last sequence number seen.
    pub last_seq: i64,
    /// Hash of the last event seen.
    pub last_hash: String,
    /// Events checked.
    pub count: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self { last_seq: 0, last_hash: GENESIS.to_string(), count: 0 }
    }
}

impl Verifier {
    /// Checks the next stored event (its body, stored prev_hash and stored hash).
    pub fn check(&mut self, body: &EventBody, stored_prev: &str, stored_hash: &str) -> Result<(), Broken> {
        let fail = |reason: String| Err(Broken { seq: body.seq, reason });
        if body.seq != self.last_seq + 1 {
            return fail(format!(
                "expected event #{} but found #{}: events are missing before it",
                self.last_seq + 1,
                body.seq
            ));
        }
        if stored_prev != self.last_hash {
            return fail("its previous-hash does not match the event before it".into());
        }
        let computed = hash(stored_prev, body);
        if computed != stored_hash {
            return fail("its content does not match its hash (the event was changed)".into());
        }
        self.last_seq = body.seq;
        self.last_hash = computed;
        self.count += 1;
        Ok(())
    }
}

/// A signed statement of the chain's head at one moment, for keeping off-site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Last sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When the checkpoint was taken (RFC 3339).
    pub taken_at: String,
    /// HMAC-SHA-256 over the three fields under the secret key.
    pub mac: String,
}

fn mac_input(seq: i64, hash: &str, taken_at: &str) -> String {
    format!("keel-audit-checkpoint\n{seq}\n{hash}\n{taken_at}")
}

impl Checkpoint {
    /// Signs a checkpoint.
    pub fn sign(key: &[u8], seq: i64, hash: &str, taken_at: &str) -> Self {
        Self {
            seq,
            hash: hash.to_string(),
            taken_at: taken_at.to_string(),
            mac: hmac_hex(key, mac_input(seq, hash, taken_at).as_bytes()),
        }
    }

    /// True when the signature is valid under `key`.
    pub fn is_authentic(&self, key: &[u8]) -> bool {
        let want = hmac_hex(key, mac_input(self.seq, &self.hash, &self.taken_at).as_bytes());
        crate::web::token::constant_time_eq(want.as_bytes(), self.mac.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn ev(seq: i64, action: &str) -> EventBody {
        EventBody {
            seq,
            at: DateTime::from_timestamp(1_700_000_000 + seq, 123_456_000)
                .map(|d| d.naive_utc())
                .unwrap_or_default(),
            actor_user_id: Some(7),
            actor_label: "maria.lopez@lincoln.k12.example".into(),
            tenant_id: Some(3),
            action: action.into(),
            target_type: "tenant".into(),
            target_id: "3".into(),
            request_id: "r1".into(),
            ip: "10.0.0.1".into(),
            details: r#"{"b":2,"a":1}"#.into(),
        }
    }

    fn chain(n: i64) -> Vec<(EventBody, String, String)> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|i| {
                let e = ev(i, "tenant.link");
                let h = hash(&prev, &e);
                let row = (e, prev.clone(), h.clone());
                prev = h;
                row
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_and_is_stable() {
        let j = canonical_json(&ev(1, "x"));
        assert!(j.starts_with(r#"{"action":"x","actor_label":"#), "{j}");
        assert!(j.contains(r#""details":{"a":1,"b":2}"#), "{j}");
        assert!(j.contains(r#""at":"2023-11-14T22:13:21.123456Z""#), "{j}");
        assert_eq!(j, canonical_json(&ev(1, "x")));
    }

    #[test]
    fn a_clean_chain_verifies() {
        let mut v = Verifier::default();
        for (e, p, h) in chain(5) {
            assert_eq!(v.check(&e, &p, &h), Ok(()));
        }
        assert_eq!((v.count, v.last_seq), (5, 5));
    }

    #[test]
    fn an_edited_byte_is_found() {
        let mut rows = chain(5);
        rows[2].0.details = r#"{"a":1,"b":3}"#.into();
        let mut v = Verifier::default();
        let err = rows.iter().map(|(e, p, h)| v.check(e, p, h)).find(|r| r.is_err());
        assert_eq!(err.and_then(|r| r.err()).map(|b| b.seq), Some(3));
    }

    #[test]
    fn a_deleted_middle_row_is_found() {
        let mut rows = chain(5);
        rows.remove(1);
        let mut v = Verifier::default();
        let err = rows.iter().map(|(e, p, h)| v.check(e, p, h)).find(|r| r.is_err());
        assert_eq!(err.and_then(|r| r.err()).map(|b| b.seq), Some(3));
    }

    #[test]
    fn checkpoints_are_signed() {
        let c = Checkpoint::sign(b"k", 5, "abc", "2026-11-23T00:00:00Z");
        assert!(c.is_authentic(b"k"));
        assert!(!c.is_authentic(b"other"));
        let forged = Checkpoint { seq: 4, ..c };
        assert!(!forged.is_authentic(b"k"));
    }
}
