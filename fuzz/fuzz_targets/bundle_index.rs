//! ANS-104 bundle indexes from untrusted bundle bytes: parsing never panics; an accepted index
//! places its items back to back after it, inside the bundle; `containing` finds each non-empty
//! item at its start and end; item headers inside parse or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::ans104::DataItem;
use weavedrive_cache::arweave::bundle::Index;

fuzz_target!(|bytes: &[u8]| {
    let Some(head) = bytes.get(..32) else {
        return;
    };
    let Ok(count) = Index::count(head.try_into().unwrap()) else {
        return;
    };
    let Some(entries) = bytes.get(32..Index::len_for(count) as usize) else {
        return;
    };
    let Ok(index) = Index::parse(entries, count, bytes.len() as u64) else {
        return;
    };
    assert_eq!(index.entries.len() as u64, count);
    let mut at = Index::len_for(count);
    for entry in &index.entries {
        assert_eq!(entry.start, at, "items are back to back");
        at += entry.size;
        if entry.size > 0 {
            assert_eq!(index.containing(entry.start), Some(*entry));
            assert_eq!(index.containing(at - 1), Some(*entry));
        }
        assert_eq!(index.find(&entry.id).map(|e| e.id), Some(entry.id));
    }
    assert!(at <= bytes.len() as u64, "items inside the bundle");
    assert_eq!(index.containing(at), None);
    for entry in index.entries.iter().take(8) {
        let item = &bytes[entry.start as usize..(entry.start + entry.size) as usize];
        if let Ok(header) = DataItem::parse_header(item) {
            assert!(header.data_offset <= item.len());
        }
    }
});
