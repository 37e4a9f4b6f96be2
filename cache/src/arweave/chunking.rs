//! Standard Arweave chunking: how a transaction's data is cut into (at most 256 KiB) chunks.

use std::ops::Range;

pub const MAX_CHUNK_SIZE: u64 = 256 * 1024;
pub const MIN_CHUNK_SIZE: u64 = 32 * 1024;

/// The chunk ranges arweave-js's `chunkData` produces for `size` bytes, i.e. the leaves of the
/// Merkle tree: 256 KiB pieces, the last two split evenly (ceil, floor) when the remainder
/// would be under 32 KiB, and a trailing zero-length leaf when `size` is a multiple of
/// 256 KiB (including `size == 0`). The zero-length leaf is part of the data root but holds no
/// data and is never fetched.
pub fn merkle_leaf_ranges(size: u64) -> Vec<Range<u64>> {
    let mut ranges = Vec::with_capacity((size / MAX_CHUNK_SIZE + 1) as usize);
    let mut cursor = 0;
    let mut rest = size;
    while rest >= MAX_CHUNK_SIZE {
        let mut chunk = MAX_CHUNK_SIZE;
        let next = rest - MAX_CHUNK_SIZE;
        if next > 0 && next < MIN_CHUNK_SIZE {
            chunk = rest.div_ceil(2);
        }
        ranges.push(cursor..cursor + chunk);
        cursor += chunk;
        rest -= chunk;
    }
    ranges.push(cursor..cursor + rest);
    ranges
}

/// The chunks that carry data: the leaves minus any zero-length one.
pub fn data_chunk_ranges(size: u64) -> Vec<Range<u64>> {
    let mut ranges = merkle_leaf_ranges(size);
    ranges.retain(|r| !r.is_empty());
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_cover_the_data_exactly() {
        const K: u64 = 1024;
        assert_eq!(merkle_leaf_ranges(0), vec![0..0]);
        assert_eq!(merkle_leaf_ranges(1), vec![0..1]);
        assert_eq!(
            merkle_leaf_ranges(256 * K),
            vec![0..256 * K, 256 * K..256 * K]
        );
        assert_eq!(
            merkle_leaf_ranges(256 * K + 1),
            vec![0..128 * K + 1, 128 * K + 1..256 * K + 1]
        );
        assert_eq!(
            merkle_leaf_ranges(256 * K + 32 * K),
            vec![0..256 * K, 256 * K..288 * K]
        );
        assert_eq!(
            merkle_leaf_ranges(512 * K + 100),
            vec![
                0..256 * K,
                256 * K..384 * K + 50,
                384 * K + 50..512 * K + 100
            ]
        );
        for size in (0..3_000_000u64).step_by(7919) {
            let ranges = data_chunk_ranges(size);
            let mut cursor = 0;
            for r in &ranges {
                assert_eq!(r.start, cursor);
                assert!(!r.is_empty() && r.end - r.start <= MAX_CHUNK_SIZE);
                cursor = r.end;
            }
            assert_eq!(cursor, size);
        }
    }
}
