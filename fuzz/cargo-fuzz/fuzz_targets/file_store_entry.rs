#![no_main]
//! libFuzzer entry for `mcp_auth_fuzz::file_store_entry`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_auth_fuzz::file_store_entry(data));
