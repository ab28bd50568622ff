#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fedora_ci_fuzz::message(data));
