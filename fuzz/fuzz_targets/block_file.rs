//! Block files from the disk cache (another process, a bad disk or a meddler may have written
//! them): decoding never panics and accepts only data that matches its checksums, no longer
//! than a chunk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::store::block_file;

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let key: [u8; 32] = data[..32].try_into().unwrap();
    if let Ok(block) = block_file::decode(&key, &data[32..]) {
        assert!(block.len() <= 256 * 1024);
    }
});
