//! Strategic merge patch on arbitrary input: a JSON object and a patch, newline-separated.
//! The invariants live in `strategicpatch::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strategicpatch::fuzz(data));
