//! A real compiled memory64 program (wasi-adapter/guests/wasm64-sha256, Rust nightly for
//! wasm64-unknown-unknown over WeaveDrive's 64-bit WASI) run by `weavedrive run`: it reads a
//! file larger than 4 GiB from `/data` into one buffer that ends above 4 GiB of linear memory,
//! and its sha256 equals the source's. Under a 1 GiB `--max-memory` its allocation fails and
//! it says so; a chunk no gateway serves verified is EIO in the guest.

#[path = "common/wasm64_guest.rs"]
mod wasm64_guest;

use std::process::{Command, Output};
use std::time::Instant;

use sha2::{Digest, Sha256};
use weavedrive_testgw::{
    BackgroundGateway, Fault, GatewayData, GatewayOptions, Target, TestGateway, TestWallet,
    pseudo_random_data,
};

const CHUNK: u64 = 256 << 10;

struct Served {
    gateway: BackgroundGateway,
    id: String,
    tx_start: u64,
    sha256: String,
}

fn serve(seed: u64, size: usize) -> Served {
    let bytes = pseudo_random_data(seed, size);
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let mut data = GatewayData::new(TestWallet::fixed());
    let id = data.add_tx(bytes, vec![]);
    let tx_start = data.tx(&id).unwrap().start_offset();
    let gateway = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
    Served {
        gateway,
        id: id.to_string(),
        tx_start,
        sha256,
    }
}

/// `weavedrive run --max-memory MAX GUEST -- /data/<id>` with a fresh cache.
fn run_guest(served: &Served, max_memory: &str) -> Output {
    let guest = wasm64_guest::wasm64_guest().expect("checked by the caller");
    let cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_weavedrive"))
        .arg("run")
        .arg(guest)
        .args(["--gateway", &served.gateway.url()])
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["--max-memory", max_memory, "--"])
        .arg(format!("/data/{}", served.id))
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The guest's `buffer: N bytes at 0xSTART..0xEND of linear memory`.
fn buffer_range(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("buffer: "))
        .unwrap_or_else(|| panic!("no buffer line in: {stderr}"));
    let range = line
        .split(" at ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let (start, end) = range.split_once("..").unwrap();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    (hex(start), hex(end))
}

#[test]
fn a_memory64_guest_hashes_a_file_over_4_gib_read_into_memory_above_4_gib() {
    if wasm64_guest::wasm64_guest().is_none() {
        return;
    }
    // Odd on purpose: not a whole number of chunks, pages or reads.
    let size = (4usize << 30) + (3 << 20) + 5;
    let started = Instant::now();
    let served = serve(64, size);
    eprintln!("gateway ready in {:?}", started.elapsed());

    // Too little memory for the buffer: the guest's allocator is told so (a failed
    // memory.grow), and the guest says it ran out of memory; the host is fine.
    let out = run_guest(&served, "1GiB");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "out of memory is exit 3: {err}");
    assert!(err.contains("out of memory"), "{err}");
    assert!(
        err.contains(&size.to_string()),
        "names the size asked for: {err}"
    );
    assert!(out.stdout.is_empty());

    let started = Instant::now();
    let out = run_guest(&served, "16GiB");
    let elapsed = started.elapsed();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        served.sha256,
        "sha256 of the bytes the guest read"
    );
    let (start, end) = buffer_range(&err);
    assert_eq!(end - start, size as u64, "{err}");
    assert!(end > 1 << 32, "the buffer ends above 4 GiB: {err}");
    eprintln!("weavedrive run (cold cache) took {elapsed:?}; guest said:\n{err}");
}

#[test]
fn a_chunk_no_gateway_serves_verified_is_eio_in_the_memory64_guest() {
    if wasm64_guest::wasm64_guest().is_none() {
        return;
    }
    let served = serve(65, (5 << 20) + 17);
    let start = served.tx_start + 9 * CHUNK;
    let rule = served.gateway.faults().always(
        Target::ChunkIn {
            start,
            end: start + CHUNK,
        },
        Fault::CorruptChunk,
    );
    let started = Instant::now();
    let out = run_guest(&served, "16GiB");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "a failed call is exit 1: {err}");
    assert!(err.contains("fd_pread failed: errno 29 (EIO)"), "{err}");
    assert!(out.stdout.is_empty(), "no hash of unverified bytes");
    assert!(
        served.gateway.faults().fired(rule) > 0,
        "the chunk was asked for"
    );
    eprintln!("failed in {:?}: {err}", started.elapsed());
}
