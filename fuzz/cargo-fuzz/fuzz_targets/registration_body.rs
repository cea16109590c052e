#![no_main]
//! libFuzzer entry for `mcp_auth_fuzz::registration_body`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_auth_fuzz::registration_body(data));
