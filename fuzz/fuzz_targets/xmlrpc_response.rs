#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fedora_ci_fuzz::xmlrpc_response(data));
