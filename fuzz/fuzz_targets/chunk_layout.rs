//! The computed chunk layout (what the cache addresses chunks by, for any size a signed header
//! may claim): equal to the listed one for sizes small enough to list, and for any size
//! contiguous, covering the data, each chunk at most 256 KiB, and every byte found in the chunk
//! that holds it. Never panics, never allocates by the size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::chunking::{ChunkLayout, MAX_CHUNK_SIZE, data_chunk_ranges};

fuzz_target!(|input: (u64, u64, u64)| {
    let (size, pick, byte) = input;
    let layout = ChunkLayout::new(size);
    let count = layout.count();
    if size < 64 << 20 {
        let listed = data_chunk_ranges(size);
        assert_eq!(count, listed.len() as u64);
        for (i, range) in listed.iter().enumerate() {
            assert_eq!(layout.range(i as u64), *range);
        }
    }
    if count == 0 {
        assert_eq!(size, 0);
        return;
    }
    let index = pick % count;
    let range = layout.range(index);
    assert!(!range.is_empty() && range.end - range.start <= MAX_CHUNK_SIZE);
    assert!(range.end <= size);
    if index + 1 < count {
        assert_eq!(layout.range(index + 1).start, range.end, "contiguous");
    } else {
        assert_eq!(range.end, size, "the last chunk ends the data");
    }
    if index == 0 {
        assert_eq!(range.start, 0);
    }
    let at = range.start + byte % (range.end - range.start);
    assert_eq!(layout.index_of(at), index, "byte {at} of {size}");
});
