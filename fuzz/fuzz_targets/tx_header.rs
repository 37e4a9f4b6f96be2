//! `/tx/{id}` JSON from an untrusted gateway: parsing and signature verification never panic;
//! whatever parses keeps the field rules nodes enforce (4096-bit owner and signature, target
//! and last_tx sizes, canonical decimals, tags within 2048 bytes, format-1 data within 10 MiB
//! and matching data_size, quantity 0 without a target), and holds no field its format does
//! not sign; our own JSON gives back the same header (what the disk cache stores), and a
//! header that verifies keeps verifying after that round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::tx::{FORMAT1_MAX_DATA, TxHeader};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = TxHeader::from_json(data) else {
        return;
    };
    assert_eq!(header.check_rules(), Ok(()));
    assert_eq!(header.owner.len(), 512);
    assert_eq!(header.signature.len(), 512);
    assert!(matches!(header.last_tx.len(), 0 | 32 | 48));
    assert!(header.target.len() <= 32);
    let tag_bytes: usize = header
        .tags
        .iter()
        .map(|t| t.name.len() + t.value.len())
        .sum();
    assert!(tag_bytes <= 2048);
    for number in [&header.quantity, &header.reward] {
        assert!(number == "0" || !number.starts_with('0'), "{number:?}");
        assert!(number.bytes().all(|b| b.is_ascii_digit()) && !number.is_empty());
    }
    match header.format {
        1 => {
            assert!(header.data_size <= FORMAT1_MAX_DATA);
            assert!(header.data.is_empty() || header.data.len() as u64 == header.data_size);
            assert!(matches!(header.target.len(), 0 | 32));
            assert!(!header.target.is_empty() || header.quantity == "0");
            assert!(
                header.data_root.is_none(),
                "format 1 does not sign a data_root"
            );
        }
        _ => assert!(header.data.is_empty(), "format 2 does not sign inline data"),
    }

    let stored = header.to_json().to_string().into_bytes();
    let again = TxHeader::from_json(&stored).expect("our own JSON parses");
    assert_eq!(again, header, "our own JSON changed the header");
    if header.verify().is_ok() {
        assert!(again.verify().is_ok(), "verified header stopped verifying");
    }
});
