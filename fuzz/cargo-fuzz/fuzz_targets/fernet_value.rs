#![no_main]
//! libFuzzer entry for `mcp_auth_fuzz::fernet_value`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_auth_fuzz::fernet_value(data));
