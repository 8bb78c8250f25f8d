//! Strategic merge patch on arbitrary input: a JSON object and a patch, newline-separated.
//! The invariants live in `registry::smp::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| registry::smp::fuzz(data));
