//! Time-based one-time passwords (TOTP, RFC 6238) for two-factor sign-in, plus recovery codes.
//!
//! Codes follow RFC 6238 on top of HOTP (RFC 4226): HMAC-SHA-1 over the big-endian 8-byte
//! counter `floor(unix_seconds / 30)`, dynamic truncation, and 6 decimal digits. These are the
//! defaults every authenticator app supports, and [`otpauth_uri`] states them explicitly.
//!
//! [`verify`] tolerates clock drift of one step either way (steps `t-1`, `t` and `t+1`, i.e.
//! roughly ±30 s) and compares codes in constant time. Replay protection is left to the caller:
//! `verify` returns the step that matched, the caller stores it with the user, and passes it
//! back as `last_used_step` next time, so that step and every earlier one are refused and a
//! code (or an older one still inside the window) cannot be used twice.
//!
//! Secrets are 20 random bytes (160 bits, the HMAC-SHA-1 block output size recommended by
//! RFC 4226), shown to users in unpadded base32 (RFC 4648).
//!
//! Recovery codes are single-use fallbacks such as `k7mp-2xqz-94vd`: 12 characters from a
//! 31-letter lowercase alphabet without look-alikes (no `0`, `o`, `1`, `l`, `i`), about 59.5
//! bits each. Only their SHA-256 ([`hash_recovery_code`]) is stored; the input is normalised
//! first, so case, spaces and dashes do not matter when they are typed back.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// Number of digits in a code.
pub const DIGITS: usize = 6;
/// Length of a time step, in seconds.
pub const STEP_SECONDS: i64 = 30;
/// Length of a generated secret, in bytes.
pub const SECRET_LEN: usize = 20;

/// RFC 4648 base32 alphabet.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Recovery-code alphabet: lowercase letters and digits without `0`, `o`, `1`, `l` and `i`.
const RECOVERY_ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Characters per recovery-code group.
const RECOVERY_GROUP_LEN: usize = 4;
/// Groups per recovery code.
const RECOVERY_GROUPS: usize = 3;

/// A new random TOTP secret: 20 bytes from the operating system's CSPRNG (through rand's thread RNG).
pub fn generate_secret() -> Vec<u8> {
    let mut buf = vec![0u8; SECRET_LEN];
    rand::fill(&mut buf[..]);
    buf
}

/// Encodes `bytes` as base32 (RFC 4648 alphabet, upper case) without `=` padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32_ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32_ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// Decodes base32 (RFC 4648 alphabet), case-insensitively, ignoring whitespace and `=` padding.
///
/// Returns `None` for any other character, and for lengths no encoder can produce (1, 3 or 6
/// characters left over after whole groups of 8). Leftover bits after the last whole byte are dropped.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    let mut count: usize = 0;
    for c in s.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            b'=' => continue,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        count += 1;
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if matches!(count % 8, 1 | 3 | 6) {
        return None;
    }
    Some(out)
}

/// The time step containing `unix_seconds` (floor division, so times before 1970 stay monotonic).
fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The HOTP value (RFC 4226) for counter `step`, as `DIGITS` zero-padded digits.
fn code_for_step(secret: &[u8], step: i64) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty string never verifies.
    let Ok(mut mac) = HmacSha1::new_from_slice(secret) else {
        return String::new();
    };
    // The counter is an unsigned 64-bit integer; a negative step (before 1970) reuses its bits.
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte selects 4 bytes, top bit cleared.
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([hash[offset], hash[offset + 1], hash[offset + 2], hash[offset + 3]])
        & 0x7fff_ffff;
    format!("{:0width$}", binary % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// The 6-digit code (zero-padded) for `secret` at time `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    code_for_step(secret, step_at(unix_seconds))
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a code typed by the user against `secret` at time `unix_seconds`.
///
/// Whitespace is stripped; what remains must be exactly 6 ASCII digits. The code is compared
/// in constant time with the codes of steps `t-1`, `t` and `t+1`, where `t` is the current step.
/// Steps at or below `last_used_step` are refused, so a code cannot be replayed.
///
/// Returns the step that matched; the caller must store it and pass it as `last_used_step`
/// on the next verification.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64, last_used_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut matched = None;
    // Every candidate is computed and compared, so timing does not reveal which step matched.
    for step in [now - 1, now, now + 1] {
        let ok = constant_time_eq(code_for_step(secret, step).as_bytes(), code.as_bytes());
        let fresh = last_used_step.is_none_or(|last| step > last);
        if ok && fresh && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// Percent-encodes everything except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// The `otpauth://` URI for enrolling `secret` in an authenticator app (usually shown as a QR code).
///
/// Form: `otpauth://totp/{issuer}:{account}?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`,
/// with issuer and account percent-encoded and the secret in unpadded base32.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    let secret = base32_encode(secret);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

/// Splits a base32 secret into space-separated groups of 4 characters for manual entry
/// (existing whitespace is removed first), e.g. `JBSW Y3DP EHPK 3PXP`.
pub fn format_secret_for_humans(b32: &str) -> String {
    let chars: Vec<char> = b32.chars().filter(|c| !c.is_whitespace()).collect();
    chars.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// One random character from the recovery-code alphabet, without modulo bias.
fn random_recovery_char() -> char {
    // 248 = 8 * 31: bytes at or above it are rejected so every character is equally likely.
    let limit = (256 / RECOVERY_ALPHABET.len() * RECOVERY_ALPHABET.len()) as u8;
    loop {
        let mut b = [0u8; 1];
        rand::fill(&mut b[..]);
        if b[0] < limit {
            return char::from(RECOVERY_ALPHABET[usize::from(b[0]) % RECOVERY_ALPHABET.len()]);
        }
    }
}

/// `n` new random recovery codes such as `k7mp-2xqz-94vd`: three groups of four characters from
/// a lowercase alphabet without `0`, `o`, `1`, `l` and `i` (about 59.5 bits each).
///
/// Show them to the user once and store only [`hash_recovery_code`] of each.
pub fn generate_recovery_codes(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            (0..RECOVERY_GROUPS)
                .map(|_| (0..RECOVERY_GROUP_LEN).map(|_| random_recovery_char()).collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Normalises a typed recovery code: lower case, with whitespace and dashes removed.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// SHA-256 (hex) of the normalised recovery code: the value to store and to look up.
pub fn hash_recovery_code(code: &str) -> String {
    hex::encode(Sha256::digest(normalize_recovery_code(code).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        let cases = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, eight) in cases {
            assert_eq!(code_at(RFC_SECRET, t), &eight[2..], "t = {t}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
            "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(code_for_step(RFC_SECRET, counter as i64), *code);
        }
    }

    #[test]
    fn codes_are_zero_padded() {
        // RFC 6238 vector 07081804 -> "081804".
        let code = code_at(RFC_SECRET, 1_111_111_109);
        assert_eq!(code, "081804");
        assert_eq!(code.len(), 6);
    }

    #[test]
    fn base32_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        // Padded forms, lower case and spaces are accepted too.
        assert_eq!(base32_decode("MY======").as_deref(), Some(&b"f"[..]));
        assert_eq!(base32_decode("mzxw6ytboi======").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base32_decode("MZXW 6YTB OI").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base32_encode(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn base32_round_trips() {
        for len in 0..=40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode(&base32_encode(&bytes)), Some(bytes));
        }
        let secret = generate_secret();
        assert_eq!(secret.len(), 20);
        assert_eq!(base32_encode(&secret).len(), 32);
        assert_eq!(base32_decode(&base32_encode(&secret).to_lowercase()), Some(secret));
    }

    #[test]
    fn base32_rejects_bad_input() {
        assert_eq!(base32_decode("MZXW1"), None);
        assert_eq!(base32_decode("MZXW8"), None);
        assert_eq!(base32_decode("MZ-XW"), None);
        assert_eq!(base32_decode("MZXW6é"), None);
        // 1, 3 or 6 trailing characters cannot come from any encoder.
        assert_eq!(base32_decode("M"), None);
        assert_eq!(base32_decode("MZX"), None);
        assert_eq!(base32_decode("MZXW6Y"), None);
    }

    #[test]
    fn secrets_are_random() {
        assert_ne!(generate_secret(), generate_secret());
    }

    #[test]
    fn verify_accepts_current_and_adjacent_steps() {
        let t = 1_234_567_890;
        let now = t / 30;
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t), t, None), Some(now));
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t - 30), t, None), Some(now - 1));
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t + 30), t, None), Some(now + 1));
        // Whitespace inside the code is ignored.
        let code = code_at(RFC_SECRET, t);
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(verify(RFC_SECRET, &spaced, t, None), Some(now));
    }

    #[test]
    fn verify_refuses_outside_window() {
        let t = 1_234_567_890;
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t + 60), t, None), None);
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t - 60), t, None), None);
        assert_eq!(verify(b"another secret", &code_at(RFC_SECRET, t), t, None), None);
    }

    #[test]
    fn verify_refuses_replay() {
        let t = 1_234_567_890;
        let code = code_at(RFC_SECRET, t);
        let step = verify(RFC_SECRET, &code, t, None);
        assert_eq!(step, Some(t / 30));
        // Same code again, even a few seconds later, is refused.
        assert_eq!(verify(RFC_SECRET, &code, t + 5, step), None);
        // So is an older code still inside the window.
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t - 30), t, step), None);
        // The next step's code is still accepted.
        assert_eq!(verify(RFC_SECRET, &code_at(RFC_SECRET, t + 30), t, step), Some(t / 30 + 1));
    }

    #[test]
    fn verify_refuses_malformed_codes() {
        let t = 1_234_567_890;
        for bad in ["", "12345", "1234567", "abcdef", "12345a", "１２３４５６", "-12345", "+12345"] {
            assert_eq!(verify(RFC_SECRET, bad, t, None), None, "{bad:?}");
        }
    }

    #[test]
    fn otpauth_uri_encodes_issuer_and_account() {
        let uri = otpauth_uri("Keel Dev", "a.b+c@example.com", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/Keel%20Dev:a.b%2Bc%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Keel%20Dev&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(percent_encode("a:b/c?d&e=f é~_.-"), "a%3Ab%2Fc%3Fd%26e%3Df%20%C3%A9~_.-");
    }

    #[test]
    fn human_format_groups_by_four() {
        assert_eq!(
            format_secret_for_humans("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        assert_eq!(format_secret_for_humans("MZXW6YTBOI"), "MZXW 6YTB OI");
        assert_eq!(format_secret_for_humans(""), "");
    }

    #[test]
    fn recovery_codes_have_expected_format() {
        let codes = generate_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 14, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            for group in groups {
                assert_eq!(group.len(), 4, "{code}");
                assert!(group.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)), "{code}");
            }
            assert!(!code.contains(['0', 'o', '1', 'l', 'i']), "{code}");
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn recovery_codes_normalise_before_hashing() {
        assert_eq!(normalize_recovery_code(" K7MP-2xqz - 94VD "), "k7mp2xqz94vd");
        let h = hash_recovery_code("k7mp-2xqz-94vd");
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash_recovery_code("K7MP 2XQZ 94VD"));
        assert_eq!(h, hash_recovery_code("k7mp2xqz94vd"));
        assert_eq!(h, hex::encode(Sha256::digest(b"k7mp2xqz94vd")));
        assert_ne!(h, hash_recovery_code("k7mp-2xqz-94ve"));
    }
}
