//! Arweave's chunk Merkle tree: building data roots and proofs, and verifying a chunk against
//! a data root with its `data_path`.
//!
//! Node ids (all sha256, notes are 32-byte big-endian offsets):
//! leaf   = H(H(data_hash) || H(note))            note = the chunk's end offset
//! branch = H(H(left) || H(right) || H(note))     note = the end offset of the left subtree
//! A `data_path` lists, root to leaf, each branch as `left | right | note` (96 bytes) and
//! then the leaf as `data_hash | note` (64 bytes).

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::chunking::{MAX_CHUNK_SIZE, merkle_leaf_ranges};

pub type Hash = [u8; 32];

const HASH_SIZE: usize = 32;
const NOTE_SIZE: usize = 32;
const BRANCH_SIZE: usize = HASH_SIZE * 2 + NOTE_SIZE;
const LEAF_SIZE: usize = HASH_SIZE + NOTE_SIZE;
/// Depth bound: a 256-level path already addresses more bytes than exist; this stops a hostile
/// multi-megabyte path from costing more than a few thousand hashes.
const MAX_PATH_DEPTH: usize = 256;

fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

fn note(offset: u64) -> [u8; NOTE_SIZE] {
    let mut buf = [0u8; NOTE_SIZE];
    buf[NOTE_SIZE - 8..].copy_from_slice(&offset.to_be_bytes());
    buf
}

/// Notes are 256-bit; anything past u64 cannot be a real offset.
fn parse_note(buf: &[u8]) -> Option<u64> {
    let (high, low) = buf.split_at(NOTE_SIZE - 8);
    high.iter()
        .all(|&b| b == 0)
        .then(|| u64::from_be_bytes(low.try_into().unwrap()))
}

fn leaf_id(data_hash: &Hash, end: u64) -> Hash {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&sha256(data_hash));
    buf[32..].copy_from_slice(&sha256(&note(end)));
    sha256(&buf)
}

fn branch_id(left: &Hash, right: &Hash, note_offset: u64) -> Hash {
    let mut buf = [0u8; 96];
    buf[..32].copy_from_slice(&sha256(left));
    buf[32..64].copy_from_slice(&sha256(right));
    buf[64..].copy_from_slice(&sha256(&note(note_offset)));
    sha256(&buf)
}

/// One chunk as the tree sees it: where it lies in the transaction and the hash of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    pub data_hash: Hash,
    pub start: u64,
    pub end: u64,
}

impl Leaf {
    pub fn range(&self) -> Range<u64> {
        self.start..self.end
    }
}

/// The standard leaves of `data` (see [`merkle_leaf_ranges`]).
pub fn leaves_for_data(data: &[u8]) -> Vec<Leaf> {
    merkle_leaf_ranges(data.len() as u64)
        .into_iter()
        .map(|r| Leaf {
            data_hash: sha256(&data[r.start as usize..r.end as usize]),
            start: r.start,
            end: r.end,
        })
        .collect()
}

enum Node {
    Leaf,
    Branch {
        left: usize,
        right: usize,
        note: u64,
    },
}

/// A built tree: its root, and a `data_path` for any leaf on demand (kept as nodes, not as
/// paths: a path per leaf would cost about 2 KiB per 256 KiB chunk, 800 MB for 100 GiB).
pub struct MerkleTree {
    pub root: Hash,
    pub leaves: Vec<Leaf>,
    /// (id, max offset, last leaf under it, node).
    arena: Vec<(Hash, u64, usize, Node)>,
    root_index: usize,
}

impl MerkleTree {
    /// Builds the tree the way arweave-js does: pair nodes left to right, level by level,
    /// promoting an odd last node unchanged. `leaves` must be non-empty and contiguous.
    pub fn build(leaves: Vec<Leaf>) -> Self {
        assert!(!leaves.is_empty(), "a Merkle tree needs at least one leaf");
        let mut arena: Vec<(Hash, u64, usize, Node)> = leaves
            .iter()
            .enumerate()
            .map(|(index, l)| {
                let id = leaf_id(&l.data_hash, l.end);
                (id, l.end, index, Node::Leaf)
            })
            .collect();
        let mut level: Vec<usize> = (0..arena.len()).collect();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                match *pair {
                    [left, right] => {
                        let note = arena[left].1;
                        let id = branch_id(&arena[left].0, &arena[right].0, note);
                        let (max, last) = (arena[right].1, arena[right].2);
                        arena.push((id, max, last, Node::Branch { left, right, note }));
                        next.push(arena.len() - 1);
                    }
                    [single] => next.push(single),
                    _ => unreachable!(),
                }
            }
            level = next;
        }
        let root_index = level[0];
        MerkleTree {
            root: arena[root_index].0,
            leaves,
            arena,
            root_index,
        }
    }

    pub fn from_data(data: &[u8]) -> Self {
        Self::build(leaves_for_data(data))
    }

    /// The `data_path` of leaf `index`, root to leaf (by leaf number: a trailing zero-length
    /// leaf ends where the last data leaf does).
    pub fn proof(&self, index: usize) -> Vec<u8> {
        let leaf = &self.leaves[index];
        let mut path = Vec::new();
        let mut node = self.root_index;
        loop {
            match self.arena[node].3 {
                Node::Leaf => {
                    path.extend_from_slice(&leaf.data_hash);
                    path.extend_from_slice(&note(leaf.end));
                    return path;
                }
                Node::Branch {
                    left,
                    right,
                    note: n,
                } => {
                    path.extend_from_slice(&self.arena[left].0);
                    path.extend_from_slice(&self.arena[right].0);
                    path.extend_from_slice(&note(n));
                    node = if index <= self.arena[left].2 {
                        left
                    } else {
                        right
                    };
                }
            }
        }
    }
}

/// Why a chunk or proof was rejected. Every variant means "do not serve these bytes".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("offset {offset} is outside the data (size {size})")]
    OffsetOutOfRange { offset: u64, size: u64 },
    #[error("data_path has invalid length {0}")]
    MalformedPath(usize),
    #[error("data_path hash mismatch at depth {0}")]
    HashMismatch(usize),
    #[error("data_path note at depth {0} is outside its parent's bounds")]
    NoteOutOfBounds(usize),
    #[error("leaf range {start}..{end} does not match the bounds the path implies")]
    LeafBounds { start: u64, end: u64 },
    #[error("chunk of {0} bytes exceeds the 256 KiB maximum")]
    ChunkTooLarge(u64),
    #[error("chunk has {got} bytes, its proof says {expected}")]
    ChunkLength { expected: u64, got: u64 },
    #[error("chunk bytes do not hash to the proven data_hash")]
    DataHash,
}

/// Checks that `data_path` proves a leaf of the tree rooted at `data_root` covering `offset`
/// (relative to the transaction's data). Strict: the path must have an exact shape, every
/// note must lie inside the bounds set by the branches above it, and the leaf must end exactly
/// at the right bound, so no two proofs can claim overlapping byte ranges.
pub fn verify_path(
    data_root: &Hash,
    data_size: u64,
    offset: u64,
    data_path: &[u8],
) -> Result<Leaf, ProofError> {
    if offset >= data_size {
        return Err(ProofError::OffsetOutOfRange {
            offset,
            size: data_size,
        });
    }
    let len = data_path.len();
    if len < LEAF_SIZE
        || !(len - LEAF_SIZE).is_multiple_of(BRANCH_SIZE)
        || (len - LEAF_SIZE) / BRANCH_SIZE > MAX_PATH_DEPTH
    {
        return Err(ProofError::MalformedPath(len));
    }
    let (mut left_bound, mut right_bound) = (0u64, data_size);
    let mut expected = *data_root;
    let mut rest = data_path;
    let mut depth = 0;
    while rest.len() > LEAF_SIZE {
        let (branch, tail) = rest.split_at(BRANCH_SIZE);
        let left: Hash = branch[..32].try_into().unwrap();
        let right: Hash = branch[32..64].try_into().unwrap();
        let note = parse_note(&branch[64..]).ok_or(ProofError::NoteOutOfBounds(depth))?;
        if branch_id(&left, &right, note) != expected {
            return Err(ProofError::HashMismatch(depth));
        }
        // The right subtree may be empty only through a trailing zero-length leaf, so
        // note == right_bound is legal; a note at or before the left bound never is.
        if note <= left_bound || note > right_bound {
            return Err(ProofError::NoteOutOfBounds(depth));
        }
        if offset < note {
            expected = left;
            right_bound = note;
        } else {
            expected = right;
            left_bound = note;
        }
        rest = tail;
        depth += 1;
    }
    let data_hash: Hash = rest[..32].try_into().unwrap();
    let end = parse_note(&rest[32..]).ok_or(ProofError::NoteOutOfBounds(depth))?;
    if leaf_id(&data_hash, end) != expected {
        return Err(ProofError::HashMismatch(depth));
    }
    if end != right_bound {
        return Err(ProofError::LeafBounds {
            start: left_bound,
            end,
        });
    }
    if end - left_bound > MAX_CHUNK_SIZE {
        return Err(ProofError::ChunkTooLarge(end - left_bound));
    }
    Ok(Leaf {
        data_hash,
        start: left_bound,
        end,
    })
}

/// [`verify_path`], then checks that `chunk` is exactly the proven leaf's bytes.
pub fn verify_chunk(
    data_root: &Hash,
    data_size: u64,
    offset: u64,
    data_path: &[u8],
    chunk: &[u8],
) -> Result<Leaf, ProofError> {
    let leaf = verify_path(data_root, data_size, offset, data_path)?;
    verify_leaf_bytes(&leaf, chunk)?;
    Ok(leaf)
}

/// Checks `chunk` against a leaf already known to belong to a verified tree.
pub fn verify_leaf_bytes(leaf: &Leaf, chunk: &[u8]) -> Result<(), ProofError> {
    let expected = leaf.end - leaf.start;
    if chunk.len() as u64 != expected {
        return Err(ProofError::ChunkLength {
            expected,
            got: chunk.len() as u64,
        });
    }
    if sha256(chunk) != leaf.data_hash {
        return Err(ProofError::DataHash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn pattern(size: usize) -> Vec<u8> {
        (0..size)
            .map(|i| ((i * 31 + i / 4096) % 251) as u8)
            .collect()
    }

    #[test]
    fn every_chunk_of_many_sizes_verifies() {
        const K: usize = 1024;
        for size in [
            1,
            1000,
            256 * K - 1,
            256 * K,
            256 * K + 1,
            288 * K - 1,
            288 * K,
            1300 * K + 7,
            2048 * K,
        ] {
            let data = pattern(size);
            let tree = MerkleTree::from_data(&data);
            for (i, leaf) in tree
                .leaves
                .iter()
                .enumerate()
                .filter(|(_, l)| l.start < l.end)
            {
                let chunk = &data[leaf.start as usize..leaf.end as usize];
                for offset in [leaf.start, (leaf.start + leaf.end) / 2, leaf.end - 1] {
                    let got = verify_chunk(&tree.root, size as u64, offset, &tree.proof(i), chunk)
                        .unwrap_or_else(|e| panic!("size {size} leaf {i} offset {offset}: {e}"));
                    assert_eq!(got, *leaf);
                }
                // The same proof must not vouch for offsets outside its chunk.
                if leaf.end < size as u64 {
                    assert!(
                        verify_chunk(&tree.root, size as u64, leaf.end, &tree.proof(i), chunk)
                            .is_err()
                    );
                }
            }
        }
    }
}
