//! Merkle proofs from untrusted gateways: whatever the bytes, verification never panics, and
//! a proof it accepts proves a leaf that holds the offset, lies inside the data, and is at
//! most 256 KiB.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::merkle::verify_path;

fuzz_target!(|data: &[u8]| {
    if data.len() < 48 {
        return;
    }
    let root: [u8; 32] = data[..32].try_into().unwrap();
    let size = u64::from_le_bytes(data[32..40].try_into().unwrap());
    let offset = u64::from_le_bytes(data[40..48].try_into().unwrap());
    if let Ok(leaf) = verify_path(&root, size, offset, &data[48..]) {
        assert!(
            leaf.start <= offset && offset < leaf.end,
            "leaf misses the offset"
        );
        assert!(leaf.end <= size, "leaf beyond the data");
        assert!(
            leaf.end - leaf.start <= 256 * 1024,
            "leaf larger than a chunk"
        );
    }
});
