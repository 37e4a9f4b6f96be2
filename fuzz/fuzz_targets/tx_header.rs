//! `/tx/{id}` JSON from an untrusted gateway: parsing and signature verification never panic,
//! and a header that verifies keeps verifying after a round trip through our own JSON (what
//! the disk cache stores and re-verifies on load).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::tx::TxHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = TxHeader::from_json(data) else {
        return;
    };
    if header.verify().is_ok() {
        let stored = serde_json_bytes(&header);
        let again = TxHeader::from_json(&stored).expect("our own JSON parses");
        assert!(again.verify().is_ok(), "verified header stopped verifying");
    }
});

fn serde_json_bytes(header: &TxHeader) -> Vec<u8> {
    header.to_json().to_string().into_bytes()
}
