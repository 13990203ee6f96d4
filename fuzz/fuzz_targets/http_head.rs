//! Fuzz target `http_head`: the invariants are in `../checks*.rs` (shared with `tests/fuzz_regressions.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::http::http_head(data));
