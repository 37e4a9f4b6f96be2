//! Proof verification throughput against raw sha256 over the same bytes, same run.
//! `cargo bench -p weavedrive-cache --bench verify`
//!
//! Verifying a chunk costs one sha256 over its bytes plus a few dozen small hashes along its
//! path, so the ratio to raw sha256 shows what the proof walk adds.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use weavedrive_cache::arweave::merkle::{MerkleTree, verify_chunk};

fn bench(c: &mut Criterion) {
    // 64 MiB of random data: 256 full chunks, a tree of depth 8.
    let size = 64 << 20;
    let mut data = vec![0u8; size];
    StdRng::seed_from_u64(7).fill(&mut data[..]);
    let tree = MerkleTree::from_data(&data);
    let leaves: Vec<_> = tree
        .leaves
        .iter()
        .enumerate()
        .filter(|(_, l)| l.start < l.end)
        .collect();

    let mut group = c.benchmark_group("chunks");
    group.throughput(Throughput::Bytes(size as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("sha256_raw", "64MiB"), |b| {
        b.iter(|| {
            for (_, leaf) in &leaves {
                black_box(Sha256::digest(
                    &data[leaf.start as usize..leaf.end as usize],
                ));
            }
        })
    });
    group.bench_function(BenchmarkId::new("verify_chunk", "64MiB"), |b| {
        b.iter(|| {
            for (i, leaf) in &leaves {
                let chunk = &data[leaf.start as usize..leaf.end as usize];
                verify_chunk(&tree.root, size as u64, leaf.start, &tree.proof(*i), chunk).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
