//! `fuzzing::go_json` under libFuzzer; its invariants are documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::go_json(data));
