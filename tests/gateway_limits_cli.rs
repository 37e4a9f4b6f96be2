//! `weavedrive get` through a gateway that pads every chunk answer to over 1 GiB (a valid
//! chunk, then spaces): the answers are refused as lies, with or without `Content-Length`,
//! in bounded time and memory, and the error names the id, the gateway and the cap: binary
//! chunks (ar.io's `/chunk/{offset}/data`) and, from a gateway without them, JSON chunks.

// The shared helper trips clippy::zombie_processes (its panic paths do not reap the child).
#[path = "common/rss.rs"]
#[allow(clippy::zombie_processes)]
mod rss;

use std::process::Command;
use std::time::Duration;

use weavedrive_cache::gateway::limits::{CHUNK_DATA_MAX, CHUNK_JSON_MAX};
use weavedrive_testgw::{
    Fault, GatewayData, GatewayOptions, Target, TestGateway, TestWallet, pseudo_random_data,
};

const M: u64 = 1 << 20;
/// What the sockets of both ends may hold of an answer the client stopped reading.
const READ_AHEAD: u64 = 16 * M;

#[test]
fn one_gib_chunk_answers_are_refused_in_bounded_memory_and_time() {
    for (binary_chunks, cap) in [(true, CHUNK_DATA_MAX), (false, CHUNK_JSON_MAX)] {
        padded_chunk_answers_are_refused(binary_chunks, cap);
    }
}

fn padded_chunk_answers_are_refused(binary_chunks: bool, cap: u64) {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 21);
    let id = data.add_tx(pseudo_random_data(21, 20 * M as usize), vec![]);
    let options = GatewayOptions {
        binary_chunks,
        ..GatewayOptions::default()
    };
    let gateway = TestGateway::spawn_background(data, options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for content_length in [true, false] {
        gateway.faults().clear();
        gateway.faults().always(
            Target::Chunk,
            Fault::Oversized {
                extra: 1 << 30,
                content_length,
            },
        );
        gateway.reset_stats();
        let out = dir.path().join("out.bin");
        let run = rss::run_measured(
            Command::new(env!("CARGO_BIN_EXE_weavedrive"))
                .args(["get", "--no-cache", &id.to_string(), "--quiet", "-o"])
                .arg(&out)
                .args(["--gateway", &gateway.url()])
                .env_remove("WEAVEDRIVE_GATEWAY"),
            Duration::from_secs(120),
        );
        let what = format!("binary chunks {binary_chunks}, Content-Length {content_length}");
        assert!(!run.status.success(), "{what}: get accepted padded chunks");
        assert!(!out.exists(), "{what}: output written");
        let cause = format!("body over {cap} bytes");
        for needle in [&cause, &id.to_string(), &gateway.url()] {
            assert!(
                run.stderr.contains(needle.as_str()),
                "{what}: error lacks {needle:?}: {}",
                run.stderr
            );
        }
        eprintln!(
            "{what}: failed in {:.2} s, peak RSS {} MiB",
            run.elapsed.as_secs_f64(),
            run.peak_rss_mib()
        );
        assert!(
            run.peak_rss_mib() < 300,
            "{what}: peak RSS {} MiB",
            run.peak_rss_mib()
        );
        // Within the default retry rounds (a few seconds of backoff), far from any timeout.
        assert!(
            run.elapsed < Duration::from_secs(20),
            "{what}: {:?}",
            run.elapsed
        );
        let stats = gateway.stats();
        let limit = stats.chunk * (cap + READ_AHEAD);
        assert!(
            stats.body_bytes <= limit,
            "{what}: {} MiB sent for {} chunk answers",
            stats.body_bytes >> 20,
            stats.chunk
        );
    }
}
