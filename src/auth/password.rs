//! Passwords: argon2id with the crate defaults (m=19456 KiB, t=2, p=1), a length policy
//! and a check against common passwords. Hashing runs on the blocking pool (callers use
//! `AppState::blocking`), never on an async worker thread.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted (bounds the hashing cost).
pub const MAX_LEN: usize = 128;

/// Checks the policy; returns the message to show beside the field.
pub fn check_policy(password: &str, email: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!("Use at least {MIN_LEN} characters."));
    }
    if n > MAX_LEN {
        return Err(format!("Use at most {MAX_LEN} characters."));
    }
    let lower = password.to_lowercase();
    if super::common_passwords::is_common(&lower) {
        return Err("That password is too common. Choose one that others are unlikely to use.".into());
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Err("Don't use your email address in your password.".into());
    }
    Ok(())
}

/// Hashes a password (PHC string). CPU-heavy: call from the blocking pool.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Verifies `password` against a stored PHC hash. CPU-heavy: call from the blocking pool.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// True when the stored hash uses other parameters than today's defaults (rehash at sign-in).
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return true };
    let current = argon2::Params::default();
    let get = |k: &str| parsed.params.get_decimal(k);
    parsed.algorithm.as_str() != "argon2id"
        || get("m") != Some(current.m_cost())
        || get("t") != Some(current.t_cost())
        || get("p") != Some(current.p_cost())
}

/// A hash of a random password, verified against when the email is unknown so that timing
/// does not reveal which accounts exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::web::token::random_token()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery staple").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("wrong horse battery staple", &h));
        assert!(!needs_rehash(&h));
        assert!(needs_rehash("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short", "a@b.org").is_err());
        assert!(check_policy(&"x".repeat(129), "a@b.org").is_err());
        assert!(check_policy("password1234", "a@b.org").is_err());
        assert!(check_policy("jordan.smith-2026!", "jordan.smith@lincoln.org").is_err());
        assert!(check_policy("tidal-copper-lantern-92", "a@b.org").is_ok());
    }
}
