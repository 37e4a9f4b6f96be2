//! On-disk format of one block: a 64-byte header, then the data.
//!
//! | offset | len | field                          |
//! |--------|-----|--------------------------------|
//! | 0      | 8   | magic `WDBLK001`               |
//! | 8      | 8   | data_len, u64 LE               |
//! | 16     | 8   | xxh3-64 of the data, u64 LE    |
//! | 24     | 32  | key (sha256 of the data)       |
//! | 56     | 8   | reserved, zero                 |
//!
//! The data was checked against a Merkle proof before it was stored, so reads need not
//! re-hash with sha256: xxh3 (~10+ GB/s) is enough to catch torn, truncated or bit-rotted files
//! after a crash or power loss. It is not meant to resist a malicious local user.

use xxhash_rust::xxh3::xxh3_64;

/// A block's content address: sha256 of its bytes (the Merkle leaf's data_hash).
pub type BlockKey = [u8; 32];

pub const MAGIC: [u8; 8] = *b"WDBLK001";
pub const HEADER_LEN: usize = 64;
/// Arweave chunks are at most 256 KiB.
pub const MAX_DATA_LEN: usize = 256 * 1024;
/// Largest valid block file; readers never read more than this (plus one byte to notice excess).
pub const MAX_FILE_LEN: u64 = (HEADER_LEN + MAX_DATA_LEN) as u64;

const LEN_AT: usize = 8;
const SUM_AT: usize = 16;
const KEY_AT: usize = 24;
const RESERVED_AT: usize = 56;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockCorrupt {
    #[error("block file is {0} bytes, shorter than its header")]
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

/// Size on disk of a block holding `data_len` bytes.
pub fn file_len(data_len: usize) -> u64 {
    (HEADER_LEN + data_len) as u64
}

pub fn encode_header(key: &BlockKey, data: &[u8]) -> [u8; HEADER_LEN] {
    debug_assert!(data.len() <= MAX_DATA_LEN);
    let mut header = [0u8; HEADER_LEN];
    header[..LEN_AT].copy_from_slice(&MAGIC);
    header[LEN_AT..SUM_AT].copy_from_slice(&(data.len() as u64).to_le_bytes());
    header[SUM_AT..KEY_AT].copy_from_slice(&xxh3_64(data).to_le_bytes());
    header[KEY_AT..RESERVED_AT].copy_from_slice(key);
    header
}

/// Checks a whole block file read from disk and returns its data. Total on any input.
pub fn decode<'a>(key: &BlockKey, file: &'a [u8]) -> Result<&'a [u8], BlockCorrupt> {
    let (header, data) = file
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(BlockCorrupt::TooShort(file.len()))?;
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
    if data_len > MAX_DATA_LEN as u64 || data_len != data.len() as u64 {
        return Err(BlockCorrupt::BadLength {
            data_len,
            file_len: file.len(),
        });
    }
    if read_u64(header, SUM_AT) != xxh3_64(data) {
        return Err(BlockCorrupt::Checksum);
    }
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
        let mut file = encode_header(key, data).to_vec();
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
        let header = encode_header(&[9u8; 32], b"abc");
        assert_eq!(&header[..8], b"WDBLK001");
        assert_eq!(&header[8..16], &3u64.to_le_bytes());
        assert_eq!(&header[16..24], &xxh3_64(b"abc").to_le_bytes());
        assert_eq!(&header[24..56], &[9u8; 32]);
        assert_eq!(&header[56..], &[0u8; 8]);
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
        assert_eq!(decode(&key, &flipped(3)), Err(BlockCorrupt::BadMagic));
        assert!(matches!(
            decode(&key, &flipped(8)),
            Err(BlockCorrupt::BadLength { .. })
        ));
        assert_eq!(decode(&key, &flipped(16)), Err(BlockCorrupt::Checksum));
        assert_eq!(decode(&key, &flipped(30)), Err(BlockCorrupt::KeyMismatch));
        assert_eq!(
            decode(&key, &flipped(60)),
            Err(BlockCorrupt::ReservedNotZero)
        );
        assert_eq!(decode(&key, &flipped(64)), Err(BlockCorrupt::Checksum));
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
