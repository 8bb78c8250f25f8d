//! Every fuzz target, bounded, in the normal test run: on each of its seeds (the fuzzer's
//! findings among them), then on mutations of the seeds drawn from a fixed seed (set
//! `FUZZ_SMOKE_SEED` to draw others, `FUZZ_SMOKE_RUNS` for more per target).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests: a failed step fails the run"
)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = seeds_dir(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (every target has seeds)", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

/// Bytes that parsers treat specially, for the mutations to splice in.
const TOKENS: &[&[u8]] = &[
    b"/",
    b"..",
    b".",
    b"%2F",
    b"%",
    b"\0",
    b"\xff",
    b",",
    b"=",
    b"!=",
    b"==",
    b"!",
    b"(",
    b")",
    b" in ",
    b" notin ",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"\n",
    b"- ",
    b"&",
    b"*",
    b"-1",
    b"9999999999999999999999",
    b"1e309",
    b"\\u0000",
    b"Bearer ",
    b"$patch",
    b"op",
    b"null",
];

fn mutate(rng: &mut StdRng, seed: &[u8], all: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = if v.is_empty() {
            0
        } else {
            rng.random_range(0..=v.len())
        };
        match rng.random_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let end = rng.random_range(at..=v.len());
                v.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 => {
                // A piece of another seed.
                let other = &all[rng.random_range(0..all.len())];
                if !other.is_empty() {
                    let a = rng.random_range(0..other.len());
                    let b = rng.random_range(a..=other.len());
                    v.splice(at..at, other[a..b].iter().copied());
                }
            }
            4 if !v.is_empty() => {
                // Repeat a span: deep nesting and long runs.
                let a = rng.random_range(0..v.len());
                let b = rng.random_range(a..=v.len().min(a + 16));
                let span = v[a..b].to_vec();
                for _ in 0..rng.random_range(1..64) {
                    v.splice(a..a, span.iter().copied());
                }
            }
            _ => v.insert(at, rng.random()),
        }
    }
    v
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_target_holds_on_its_seeds_and_their_mutations() {
    let seed = env_u64("FUZZ_SMOKE_SEED", 20261204);
    let runs = env_u64("FUZZ_SMOKE_RUNS", 300);
    for (name, target) in fuzzing::TARGETS {
        let all = seeds(name);
        assert!(
            all.len() >= 3,
            "{name} has {} seeds; give it at least three",
            all.len()
        );
        for s in &all {
            target(s);
        }
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..runs {
            let base = &all[rng.random_range(0..all.len())];
            let input = mutate(&mut rng, base, &all);
            let caught = std::panic::catch_unwind(|| target(&input));
            assert!(
                caught.is_ok(),
                "fuzz target {name} failed on {:?} (FUZZ_SMOKE_SEED={seed}); add it to {} once fixed",
                String::from_utf8_lossy(&input),
                seeds_dir(name).display()
            );
        }
    }
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/Cargo.toml"),
    )
    .unwrap();
    for (name, _) in fuzzing::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let body = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../fuzz/fuzz_targets/{name}.rs"));
        let text = std::fs::read_to_string(&body).unwrap();
        assert!(
            text.contains(&format!("fuzzing::{name}")),
            "{} calls fuzzing::{name}",
            body.display()
        );
    }
}
