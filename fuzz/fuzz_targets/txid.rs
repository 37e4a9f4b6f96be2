//! Ids as users and gateways write them: only canonical 43-character base64url parses, and
//! then prints back exactly as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::TxId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = text.parse::<TxId>() {
        assert_eq!(
            id.to_string(),
            text,
            "a non-canonical spelling was accepted"
        );
    }
});
