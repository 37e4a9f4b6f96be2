//! `/block/height/{h}` JSON (served by the mount, shape-checked only): never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::gateway::BlockHeader;

fuzz_target!(|data: &[u8]| {
    let height = data.first().copied().unwrap_or(0) as u64;
    let _ = BlockHeader::from_json(data.get(1..).unwrap_or_default(), height);
});
