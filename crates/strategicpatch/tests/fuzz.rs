//! Runs the strategic merge patch fuzz target's body (`strategicpatch::fuzz`) on generated
//! documents and patches, so its invariants hold in every test run, not only under cargo-fuzz.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &[
    "spec",
    "containers",
    "env",
    "name",
    "value",
    "image",
    "metadata",
    "finalizers",
    "labels",
    "a",
    "b",
    "rules",
    "verbs",
    "volumes",
    "secrets",
];
const DIRECTIVES: &[&str] = &[
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/env",
    "$deleteFromPrimitiveList/finalizers",
    "$setElementOrder/finalizers",
];

fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..5) {
        0 => Value::Null,
        1 => json!(rng.random_range(0..3)),
        2 => json!(["x", "y", "delete", "replace", "merge"][rng.random_range(0..5)]),
        3 => json!(rng.random_bool(0.5)),
        _ => json!(KEYS[rng.random_range(0..KEYS.len())]),
    }
}

fn value(rng: &mut StdRng, depth: u32, directives: bool) -> Value {
    if depth == 0 {
        return scalar(rng);
    }
    match rng.random_range(0..4) {
        0 => scalar(rng),
        1 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| value(rng, depth - 1, directives))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.random_range(0..4) {
                let k = if directives && rng.random_ratio(1, 6) {
                    DIRECTIVES[rng.random_range(0..DIRECTIVES.len())]
                } else {
                    KEYS[rng.random_range(0..KEYS.len())]
                };
                m.insert(k.to_string(), value(rng, depth - 1, directives));
            }
            Value::Object(m)
        }
    }
}

#[test]
fn generated_patches_keep_the_invariants() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let doc = Value::Object(
            value(&mut rng, 4, false)
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let patch = value(&mut rng, 4, true);
        strategicpatch::fuzz(format!("{doc}\n{patch}").as_bytes());
    }
}

#[test]
fn the_target_ignores_what_is_not_two_json_texts() {
    strategicpatch::fuzz(b"\xff\xfe");
    strategicpatch::fuzz(b"{}");
    strategicpatch::fuzz(b"{\n[");
    // And checks what is: this pair applies and stays applied.
    strategicpatch::fuzz(b"{\"a\":[1]}\n{\"a\":[2]}");
}

/// The fuzz target's seeds, among them what the fuzzer found (each fixed since):
/// - `regression-unknown-directive-in-new-item`: an unknown `$` key inside a new list item was
///   dropped, so the item never matched itself again and a second application added it twice;
/// - `regression-directive-in-merge-key`: a merge key holding a list with a directive in it lost
///   the directive when stored and never matched again (merge keys must be scalars);
/// - `regression-retainkeys-drops-merge-key`: `$retainKeys` dropped the item's own merge key
///   (a patch may set only fields its `$retainKeys` keeps, as upstream checks).
#[test]
fn seeds_and_what_the_fuzzer_found() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/strategic_merge_patch");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the seeds directory") {
        let path = entry.expect("an entry").path();
        strategicpatch::fuzz(&std::fs::read(&path).expect("a seed"));
        n += 1;
    }
    assert!(n >= 5, "{} holds {n} seeds", dir.display());
}
