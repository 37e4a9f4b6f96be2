//! Property tests of chunk proofs: every honest proof verifies, and any single flipped byte in a
//! chunk, proof or note, or a wrong offset or size, makes verification fail without panicking.

use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use weavedrive_cache::arweave::merkle::{MerkleTree, verify_chunk, verify_path};

const K: usize = 1024;

fn data(size: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    StdRng::seed_from_u64(seed).fill(&mut bytes[..]);
    bytes
}

/// Sizes that hit every layout rule: tiny, around one chunk, the small-remainder split,
/// exact multiples (trailing zero-length leaf), and odd leaf counts.
fn interesting_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..4 * K,
        (256 * K - 2)..(256 * K + 3),
        (288 * K - 2)..(288 * K + 3),
        (1..9usize).prop_map(|n| n * 256 * K),
        1usize..(2300 * K),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn honest_proofs_verify_and_any_flip_fails(size in interesting_size(), seed: u64, pick: u64, flip: u64) {
        let bytes = data(size, seed);
        let tree = MerkleTree::from_data(&bytes);
        let served: Vec<usize> = (0..tree.leaves.len()).filter(|&i| tree.leaves[i].start < tree.leaves[i].end).collect();
        let total: u64 = served.iter().map(|&i| tree.leaves[i].end - tree.leaves[i].start).sum();
        prop_assert_eq!(total, size as u64);
        let index = served[(pick % served.len() as u64) as usize];
        let leaf = tree.leaves[index];
        let chunk = &bytes[leaf.start as usize..leaf.end as usize];
        let proof = tree.proof(index);
        let proof = &proof[..];
        let size = size as u64;
        let offset = leaf.start + flip % (leaf.end - leaf.start);
        prop_assert_eq!(verify_chunk(&tree.root, size, offset, proof, chunk), Ok(leaf));

        // One flipped bit anywhere in the chunk.
        let mut bad_chunk = chunk.to_vec();
        let at = (flip as usize) % bad_chunk.len();
        bad_chunk[at] ^= 1 << (flip % 8);
        prop_assert!(verify_chunk(&tree.root, size, offset, proof, &bad_chunk).is_err());

        // One flipped bit anywhere in the proof (hashes and notes alike).
        let mut bad_proof = proof.to_vec();
        let at = (flip.rotate_left(17) as usize) % bad_proof.len();
        bad_proof[at] ^= 1 << (flip % 8);
        prop_assert!(verify_chunk(&tree.root, size, offset, &bad_proof, chunk).is_err());

        // Truncated or extended chunk and proof.
        prop_assert!(verify_chunk(&tree.root, size, offset, proof, &chunk[..chunk.len() - 1]).is_err());
        let mut longer = chunk.to_vec();
        longer.push(0);
        prop_assert!(verify_chunk(&tree.root, size, offset, proof, &longer).is_err());
        prop_assert!(verify_chunk(&tree.root, size, offset, &proof[..proof.len() - 1], chunk).is_err());

        // A different root, or an offset the chunk does not hold.
        let mut other_root = tree.root;
        other_root[(flip % 32) as usize] ^= 0x80;
        prop_assert!(verify_chunk(&other_root, size, offset, proof, chunk).is_err());
        if leaf.end < size {
            prop_assert!(verify_chunk(&tree.root, size, leaf.end, proof, chunk).is_err());
        }
        if leaf.start > 0 {
            prop_assert!(verify_chunk(&tree.root, size, leaf.start - 1, proof, chunk).is_err());
        }
        prop_assert!(verify_chunk(&tree.root, size, size, proof, chunk).is_err());
    }

    #[test]
    fn proofs_of_other_chunks_never_vouch(size in (600 * K)..(1600 * K), seed: u64, a: u64, b: u64) {
        let bytes = data(size, seed);
        let tree = MerkleTree::from_data(&bytes);
        let n = tree.leaves.iter().filter(|l| l.start < l.end).count();
        let (i, j) = ((a % n as u64) as usize, (b % n as u64) as usize);
        prop_assume!(i != j);
        let leaf = tree.leaves[i];
        let chunk = &bytes[leaf.start as usize..leaf.end as usize];
        prop_assert!(verify_chunk(&tree.root, size as u64, leaf.start, &tree.proof(j), chunk).is_err());
    }

    #[test]
    fn garbage_paths_never_panic(path in proptest::collection::vec(any::<u8>(), 0..2000), offset: u64, size: u64, root: [u8; 32]) {
        let _ = verify_path(&root, size, offset, &path);
    }

    #[test]
    fn structured_garbage_paths_never_panic(branches in 0usize..6, fill: u8, offset in 0u64..1 << 20, size in 0u64..1 << 21) {
        let mut path = vec![fill; branches * 96 + 64];
        // Plausible notes so the walk goes deep before failing.
        for b in 0..branches {
            path[b * 96 + 88..b * 96 + 96].copy_from_slice(&(offset + 1).to_be_bytes());
        }
        let _ = verify_path(&[fill; 32], size, offset, &path);
    }
}

/// A malicious uploader controls the tree: its notes and leaf ends must still describe
/// disjoint, in-bounds ranges or the strict checks reject the proof.
#[test]
fn trees_with_inconsistent_ranges_are_rejected() {
    use weavedrive_cache::arweave::{Leaf, ProofError};
    let hash = |b: u8| [b; 32];
    // Right leaf ends before its own start: bounds say 100..200, leaf says it ends at 50.
    let tree = MerkleTree::build(vec![
        Leaf {
            data_hash: hash(1),
            start: 0,
            end: 100,
        },
        Leaf {
            data_hash: hash(2),
            start: 100,
            end: 50,
        },
    ]);
    assert!(matches!(
        verify_path(&tree.root, 200, 150, &tree.proof(1)),
        Err(ProofError::LeafBounds { .. })
    ));
    // A branch note beyond the data size.
    let tree = MerkleTree::build(vec![
        Leaf {
            data_hash: hash(1),
            start: 0,
            end: 300,
        },
        Leaf {
            data_hash: hash(2),
            start: 300,
            end: 400,
        },
    ]);
    assert!(matches!(
        verify_path(&tree.root, 200, 10, &tree.proof(0)),
        Err(ProofError::NoteOutOfBounds(0))
    ));
    // A single leaf claiming more bytes than the data has.
    let tree = MerkleTree::build(vec![Leaf {
        data_hash: hash(1),
        start: 0,
        end: 300,
    }]);
    assert!(matches!(
        verify_path(&tree.root, 200, 10, &tree.proof(0)),
        Err(ProofError::LeafBounds { .. })
    ));
    // A chunk over 256 KiB, even when every note is consistent.
    let big = 256 * K as u64 + 1;
    let tree = MerkleTree::build(vec![Leaf {
        data_hash: hash(1),
        start: 0,
        end: big,
    }]);
    assert_eq!(
        verify_path(&tree.root, big, 0, &tree.proof(0)),
        Err(ProofError::ChunkTooLarge(big))
    );
}
