//! On-disk format of one block: a 64-byte header, a table of page checksums, then the data.
//!
//! | offset | len        | field                                                  |
//! |--------|------------|--------------------------------------------------------|
//! | 0      | 8          | magic `WDBLK002`                                       |
//! | 8      | 8          | data_len, u64 LE                                       |
//! | 16     | 8          | xxh3-64 of (data_len, key, page table), u64 LE         |
//! | 24     | 32         | key (sha256 of the data)                               |
//! | 56     | 8          | reserved, zero                                         |
//! | 64     | 8 x pages  | xxh3-64 of each 4 KiB page of the data, u64 LE         |
//! | ...    | data_len   | data                                                   |
//!
//! The data was checked against a Merkle proof before it was stored, so reads need not
//! re-hash with sha256: xxh3 (~10+ GB/s) is enough to catch torn, truncated or bit-rotted files
//! after a crash or power loss. It is not meant to resist a malicious local user. Checksums per
//! page let a 4 KiB read check 4 KiB instead of the whole 256 KiB block.

use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64;

/// A block's content address: sha256 of its bytes (the Merkle leaf's data_hash).
pub type BlockKey = [u8; 32];

pub const MAGIC: [u8; 8] = *b"WDBLK002";
pub const HEADER_LEN: usize = 64;
pub const PAGE: usize = 4096;
/// Arweave chunks are at most 256 KiB.
pub const MAX_DATA_LEN: usize = 256 * 1024;
/// Header plus the largest page table: enough to read before knowing the data length.
pub const MAX_PREFIX_LEN: usize = HEADER_LEN + 8 * MAX_DATA_LEN / PAGE;
/// Largest valid block file; readers never read more than this (plus one byte to notice excess).
pub const MAX_FILE_LEN: u64 = (MAX_PREFIX_LEN + MAX_DATA_LEN) as u64;

const LEN_AT: usize = 8;
const SUM_AT: usize = 16;
const KEY_AT: usize = 24;
const RESERVED_AT: usize = 56;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockCorrupt {
    #[error("block file is {0} bytes, shorter than its header and page table")]
    TooShort(usize),
    #[error("block file has a bad magic number")]
    BadMagic,
    #[error("block file holds another key")]
    KeyMismatch,
    #[error("block file's reserved header bytes are not zero")]
    ReservedNotZero,
    #[error("block file is {file_len} bytes but its header says {data_len} data bytes")]
    BadLength { data_len: u64, file_len: usize },
    #[error("block data does not match its checksum")]
    Checksum,
}

fn pages(data_len: usize) -> usize {
    data_len.div_ceil(PAGE)
}

/// Bytes before the data: header and page table.
pub fn prefix_len(data_len: usize) -> usize {
    HEADER_LEN + 8 * pages(data_len)
}

/// Size on disk of a block holding `data_len` bytes.
pub fn file_len(data_len: usize) -> u64 {
    (prefix_len(data_len) + data_len) as u64
}

fn table_checksum(data_len: usize, key: &BlockKey, table: &[u8]) -> u64 {
    let mut buf = Vec::with_capacity(40 + table.len());
    buf.extend_from_slice(&(data_len as u64).to_le_bytes());
    buf.extend_from_slice(key);
    buf.extend_from_slice(table);
    xxh3_64(&buf)
}

/// Header and page table for `data`.
pub fn encode_prefix(key: &BlockKey, data: &[u8]) -> Vec<u8> {
    debug_assert!(data.len() <= MAX_DATA_LEN);
    let mut prefix = vec![0u8; HEADER_LEN];
    for page in data.chunks(PAGE) {
        prefix.extend_from_slice(&xxh3_64(page).to_le_bytes());
    }
    prefix[..LEN_AT].copy_from_slice(&MAGIC);
    prefix[LEN_AT..SUM_AT].copy_from_slice(&(data.len() as u64).to_le_bytes());
    let sum = table_checksum(data.len(), key, &prefix[HEADER_LEN..]);
    prefix[SUM_AT..KEY_AT].copy_from_slice(&sum.to_le_bytes());
    prefix[KEY_AT..RESERVED_AT].copy_from_slice(key);
    prefix
}

/// A checked header and page table: what a partial read verifies its pages against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    pub data_len: usize,
    page_sums: Vec<u64>,
}

impl Prefix {
    pub fn len(&self) -> usize {
        prefix_len(self.data_len)
    }

    pub fn is_empty(&self) -> bool {
        self.data_len == 0
    }

    /// The whole pages covering `range` of the data (the last one may be short).
    pub fn page_span(&self, range: &Range<usize>) -> Range<usize> {
        let start = range.start / PAGE * PAGE;
        let end = (range.end.div_ceil(PAGE) * PAGE).min(self.data_len);
        start..end
    }

    /// Checks `bytes`, the data from page-aligned `start` on, against the page table.
    pub fn check_pages(&self, start: usize, bytes: &[u8]) -> Result<(), BlockCorrupt> {
        debug_assert_eq!(start % PAGE, 0);
        let first = start / PAGE;
        let whole = bytes
            .chunks(PAGE)
            .zip(&self.page_sums[first.min(self.page_sums.len())..]);
        if start + bytes.len() > self.data_len || bytes.len().div_ceil(PAGE) > whole.len() {
            return Err(BlockCorrupt::BadLength {
                data_len: self.data_len as u64,
                file_len: self.len() + start + bytes.len(),
            });
        }
        for (page, &sum) in bytes.chunks(PAGE).zip(&self.page_sums[first..]) {
            if xxh3_64(page) != sum {
                return Err(BlockCorrupt::Checksum);
            }
        }
        Ok(())
    }
}

/// Checks the header and page table at the start of `bytes` (which may run on into the data).
pub fn decode_prefix(key: &BlockKey, bytes: &[u8]) -> Result<Prefix, BlockCorrupt> {
    let header = bytes
        .first_chunk::<HEADER_LEN>()
        .ok_or(BlockCorrupt::TooShort(bytes.len()))?;
    if header[..LEN_AT] != MAGIC {
        return Err(BlockCorrupt::BadMagic);
    }
    if header[KEY_AT..RESERVED_AT] != key[..] {
        return Err(BlockCorrupt::KeyMismatch);
    }
    if header[RESERVED_AT..].iter().any(|&b| b != 0) {
        return Err(BlockCorrupt::ReservedNotZero);
    }
    let data_len = read_u64(header, LEN_AT);
    if data_len > MAX_DATA_LEN as u64 {
        return Err(BlockCorrupt::BadLength {
            data_len,
            file_len: bytes.len(),
        });
    }
    let data_len = data_len as usize;
    let table = bytes
        .get(HEADER_LEN..prefix_len(data_len))
        .ok_or(BlockCorrupt::TooShort(bytes.len()))?;
    if read_u64(header, SUM_AT) != table_checksum(data_len, key, table) {
        return Err(BlockCorrupt::Checksum);
    }
    let page_sums = table
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
        .collect();
    Ok(Prefix {
        data_len,
        page_sums,
    })
}

/// Checks a whole block file read from disk and returns its data. Total on any input.
pub fn decode<'a>(key: &BlockKey, file: &'a [u8]) -> Result<&'a [u8], BlockCorrupt> {
    let prefix = decode_prefix(key, file)?;
    let data = &file[prefix.len()..];
    if data.len() != prefix.data_len {
        return Err(BlockCorrupt::BadLength {
            data_len: prefix.data_len as u64,
            file_len: file.len(),
        });
    }
    prefix.check_pages(0, data)?;
    Ok(data)
}

fn read_u64(header: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&header[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(key: &BlockKey, data: &[u8]) -> Vec<u8> {
        let mut file = encode_prefix(key, data);
        file.extend_from_slice(data);
        file
    }

    #[test]
    fn round_trip_including_empty_and_max() {
        let key = [7u8; 32];
        for data in [vec![], vec![1, 2, 3], vec![0xAB; MAX_DATA_LEN]] {
            let file = block(&key, &data);
            assert_eq!(file.len() as u64, file_len(data.len()));
            assert_eq!(decode(&key, &file), Ok(&data[..]));
        }
    }

    #[test]
    fn header_layout_is_stable() {
        let header = encode_prefix(&[9u8; 32], b"abc");
        assert_eq!(header.len(), 72);
        assert_eq!(&header[..8], b"WDBLK002");
        assert_eq!(&header[8..16], &3u64.to_le_bytes());
        assert_eq!(&header[24..56], &[9u8; 32]);
        assert_eq!(&header[56..64], &[0u8; 8]);
        assert_eq!(&header[64..], &xxh3_64(b"abc").to_le_bytes());
    }

    #[test]
    fn partial_reads_check_only_their_pages() {
        let key = [4u8; 32];
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = block(&key, &data);
        let prefix = decode_prefix(&key, &file).unwrap();
        assert_eq!(prefix.page_span(&(5000..5100)), 4096..8192);
        assert_eq!(prefix.page_span(&(9000..10_000)), 8192..10_000);
        assert_eq!(prefix.check_pages(4096, &data[4096..8192]), Ok(()));
        assert_eq!(prefix.check_pages(8192, &data[8192..]), Ok(()));
        // Damage in page 0 is invisible to a read of page 1 and caught by a read of page 0.
        let data_at = prefix.len();
        file[data_at + 10] ^= 1;
        let damaged = &file[data_at..];
        assert_eq!(prefix.check_pages(4096, &damaged[4096..8192]), Ok(()));
        assert_eq!(
            prefix.check_pages(0, &damaged[..4096]),
            Err(BlockCorrupt::Checksum)
        );
        // Short or overlong reads are length errors, not panics.
        assert!(prefix.check_pages(8192, &data[8192..9000]).is_err());
        assert!(prefix.check_pages(8192, &[0u8; 4096]).is_err());
        assert!(prefix.check_pages(16384, &[]).is_err());
    }

    #[test]
    fn each_kind_of_damage_is_detected() {
        let key = [1u8; 32];
        let good = block(&key, b"hello world");
        let flipped = |at: usize| {
            let mut f = good.clone();
            f[at] ^= 0x40;
            f
        };
        assert_eq!(decode(&key, &good[..10]), Err(BlockCorrupt::TooShort(10)));
        assert_eq!(decode(&key, &good[..70]), Err(BlockCorrupt::TooShort(70)));
        assert_eq!(decode(&key, &flipped(3)), Err(BlockCorrupt::BadMagic));
        assert!(matches!(
            decode(&key, &flipped(8)),
            Err(BlockCorrupt::BadLength { .. }
                | BlockCorrupt::TooShort(_)
                | BlockCorrupt::Checksum)
        ));
        assert_eq!(decode(&key, &flipped(16)), Err(BlockCorrupt::Checksum));
        assert_eq!(decode(&key, &flipped(30)), Err(BlockCorrupt::KeyMismatch));
        assert_eq!(
            decode(&key, &flipped(60)),
            Err(BlockCorrupt::ReservedNotZero)
        );
        assert_eq!(decode(&key, &flipped(64)), Err(BlockCorrupt::Checksum));
        assert_eq!(decode(&key, &flipped(72)), Err(BlockCorrupt::Checksum));
        assert!(matches!(
            decode(&key, &good[..good.len() - 1]),
            Err(BlockCorrupt::BadLength { .. })
        ));
        assert_eq!(decode(&[2u8; 32], &good), Err(BlockCorrupt::KeyMismatch));
    }

    #[test]
    fn oversized_length_field_is_rejected() {
        let key = [3u8; 32];
        let mut file = block(&key, b"x");
        file[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&key, &file),
            Err(BlockCorrupt::BadLength { .. })
        ));
    }

    proptest! {
        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&[5u8; 32], &bytes);
        }

        #[test]
        fn any_bit_flip_is_detected(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let key = [5u8; 32];
            let mut file = block(&key, &data);
            let at = at.index(file.len());
            file[at] ^= 1 << bit;
            prop_assert!(decode(&key, &file).is_err());
        }
    }
}
