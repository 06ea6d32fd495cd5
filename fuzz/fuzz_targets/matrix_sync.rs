#![no_main]
// The entry point and what it covers: rosey_fuzzing::matrix_sync (crates/fuzzing).
libfuzzer_sys::fuzz_target!(|data: &[u8]| rosey_fuzzing::matrix_sync(data));
