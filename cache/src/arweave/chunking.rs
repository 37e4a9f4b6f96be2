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

/// The standard layout of `size` bytes computed rather than listed: the ranges of
/// [`data_chunk_ranges`] without a vector, so a signed header claiming 2^62 bytes costs nothing
/// to describe and any chunk is found in constant time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLayout {
    size: u64,
}

impl ChunkLayout {
    pub fn new(size: u64) -> Self {
        ChunkLayout { size }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Chunks that carry data (no zero-length leaf).
    pub fn count(&self) -> u64 {
        self.size.div_ceil(MAX_CHUNK_SIZE)
    }

    /// Where the last full piece and the remainder were split evenly instead (a remainder
    /// under 32 KiB): the first chunk of the split pair, and where the second starts.
    fn split(&self) -> Option<(u64, u64)> {
        let (full, rest) = (self.size / MAX_CHUNK_SIZE, self.size % MAX_CHUNK_SIZE);
        if full == 0 || rest == 0 || rest >= MIN_CHUNK_SIZE {
            return None;
        }
        let first = full - 1;
        let boundary = first * MAX_CHUNK_SIZE + (MAX_CHUNK_SIZE + rest).div_ceil(2);
        Some((first, boundary))
    }

    /// The byte range of chunk `index` (which must be below [`Self::count`]).
    pub fn range(&self, index: u64) -> Range<u64> {
        debug_assert!(index < self.count(), "chunk {index} of {}", self.count());
        let start = index * MAX_CHUNK_SIZE;
        match self.split() {
            Some((first, boundary)) if index == first => start..boundary,
            Some((first, boundary)) if index == first + 1 => boundary..self.size,
            // (Saturating: found by fuzzing, a size within 256 KiB of 2^64 wrapped.)
            _ => start..start.saturating_add(MAX_CHUNK_SIZE).min(self.size),
        }
    }

    /// The chunk holding byte `offset` (which must be below the size).
    pub fn index_of(&self, offset: u64) -> u64 {
        debug_assert!(offset < self.size, "byte {offset} of {}", self.size);
        match self.split() {
            Some((first, boundary)) if offset >= first * MAX_CHUNK_SIZE => {
                if offset < boundary {
                    first
                } else {
                    first + 1
                }
            }
            _ => offset / MAX_CHUNK_SIZE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_computed_layout_equals_the_listed_one() {
        const K: u64 = 1024;
        let sizes = (0..3_000_000u64)
            .step_by(7919)
            .chain([
                1,
                32 * K - 1,
                256 * K,
                256 * K + 1,
                288 * K - 1,
                288 * K,
                512 * K + 100,
            ])
            .chain((1..6).flat_map(|n| [n * 256 * K - 1, n * 256 * K, n * 256 * K + 1]));
        for size in sizes {
            let layout = ChunkLayout::new(size);
            let listed = data_chunk_ranges(size);
            assert_eq!(layout.count(), listed.len() as u64, "size {size}");
            for (i, r) in listed.iter().enumerate() {
                assert_eq!(layout.range(i as u64), *r, "size {size} chunk {i}");
                for at in [r.start, r.end - 1, (r.start + r.end) / 2] {
                    assert_eq!(layout.index_of(at), i as u64, "size {size} byte {at}");
                }
            }
        }
        // Huge sizes cost nothing and stay exact at the end.
        let huge = ChunkLayout::new(1 << 62);
        assert_eq!(huge.count(), 1 << 44);
        assert_eq!(huge.range((1 << 44) - 1), (1 << 62) - 256 * K..1 << 62);
        assert_eq!(huge.index_of((1 << 62) - 1), (1 << 44) - 1);
        let top = ChunkLayout::new(u64::MAX - 65_535);
        let last = top.count() - 1;
        assert_eq!(top.range(last).end, u64::MAX - 65_535);
        assert_eq!(top.index_of(u64::MAX - 65_536), last);
        let odd = ChunkLayout::new((1 << 40) + 5);
        assert_eq!(odd.count(), (1 << 22) + 1);
        assert_eq!(odd.index_of((1 << 40) + 4), 1 << 22);
        assert_eq!(odd.range(1 << 22).end, (1 << 40) + 5);
    }

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
