//! The fuzz properties in the default suite: every target of `keel::fuzzing` runs over its
//! committed corpus (`fuzz/corpus/<target>/`) and a few thousand deterministic variations of it
//! (bit flips, cut and spliced bytes, interesting tokens; a small xorshift, so every run tries the
//! same inputs). The fuzzers themselves run as `fuzz/README.md` says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Variations tried per target.
const VARIATIONS: usize = 2000;

/// Bytes and words worth splicing into inputs.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"-",
    b".",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3\xa9",
    b"\xef\xbb\xbf",
    b"%",
    b"&",
    b"=",
    b"<",
    b">",
    b"\t",
    b" ",
    b"0",
    b"e308",
    b"9999999999999999999",
    b"javascript:",
    b"null",
    b"\"value\":",
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A few random edits of `seed` (sometimes with a piece of another corpus file).
fn mutate(rng: &mut XorShift, seed: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + 1 + rng.below(16)).min(v.len());
                v.drain(a..b);
            }
            4 => v.truncate(at),
            5 => {
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(48)).min(other.len());
                    v.splice(at..at, other[a..b].iter().copied());
                }
            }
            _ if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + 1 + rng.below(24)).min(v.len());
                let piece = v[a..b].to_vec();
                v.splice(at..at, piece);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn check(target: &str, f: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        panic!("{target} failed on {} bytes: {:?}", input.len(), String::from_utf8_lossy(input));
    }
}

fn run(target: &str, f: fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
    for file in &files {
        check(target, f, file);
    }
    let mut rng =
        XorShift(target.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| (h ^ u64::from(b)).rotate_left(9)));
    for i in 0..VARIATIONS {
        let input = if i % 16 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            let seed = &files[rng.below(files.len())];
            mutate(&mut rng, seed, &files)
        };
        check(target, f, &input);
    }
}

#[test]
fn usage_events() {
    run("usage_events", keel::fuzzing::usage_events);
}

#[test]
fn usage_backfill() {
    run("usage_backfill", keel::fuzzing::usage_backfill);
}

#[test]
fn holidays_csv() {
    run("holidays_csv", keel::fuzzing::holidays_csv);
}

#[test]
fn money_amounts() {
    run("money_amounts", keel::fuzzing::money_amounts);
}

#[test]
fn form_fields() {
    run("form_fields", keel::fuzzing::form_fields);
}

#[test]
fn markdown() {
    run("markdown", keel::fuzzing::markdown);
}

#[test]
fn upload_sniff() {
    run("upload_sniff", keel::fuzzing::upload_sniff);
}

#[test]
fn signed_tokens() {
    run("signed_tokens", keel::fuzzing::signed_tokens);
}
