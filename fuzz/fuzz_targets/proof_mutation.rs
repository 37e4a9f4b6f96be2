//! Honest proofs, then tampered with: a real tree over data of a fuzzed size, the real proof
//! for a fuzzed offset, and fuzzed byte flips in the proof and the chunk. Anything the
//! verifier accepts must be the untouched original: no flip of proof or chunk bytes slips
//! through (that would take a sha256 collision).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weavedrive_cache::arweave::merkle::{MerkleTree, verify_chunk};

fuzz_target!(|input: &[u8]| {
    if input.len() < 8 {
        return;
    }
    let size = u32::from_le_bytes(input[..4].try_into().unwrap()) as usize % (1 << 20) + 1;
    let offset = u32::from_le_bytes(input[4..8].try_into().unwrap()) as u64 % size as u64;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 + i / 4096) as u8).collect();
    let tree = MerkleTree::from_data(&data);
    let index = tree
        .leaves
        .iter()
        .position(|leaf| leaf.start <= offset && offset < leaf.end)
        .expect("some leaf holds every offset");
    let leaf = tree.leaves[index];
    let mut proof = tree.proof(index).to_vec();
    let mut chunk = data[leaf.start as usize..leaf.end as usize].to_vec();
    // Flips: (where, xor) pairs; `where` past the proof lands in the chunk.
    for flip in input[8..].chunks_exact(3) {
        let at = u16::from_le_bytes([flip[0], flip[1]]) as usize;
        if at < proof.len() {
            proof[at] ^= flip[2];
        } else if !chunk.is_empty() {
            let at = (at - proof.len()) % chunk.len();
            chunk[at] ^= flip[2];
        }
    }
    let accepted = verify_chunk(&tree.root, size as u64, offset, &proof, &chunk);
    if accepted.is_ok() {
        assert!(proof == tree.proof(index), "a tampered proof verified");
        assert!(
            chunk == data[leaf.start as usize..leaf.end as usize],
            "tampered chunk bytes verified"
        );
        assert_eq!(accepted.unwrap(), leaf);
    }
});
