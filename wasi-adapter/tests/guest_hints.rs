//! Issue 15.9 from inside a guest: `fd_advise(WILLNEED)` over a 100 GiB id returns at once
//! and starts a bounded window of fetches, not one task per chunk (409 600 of them).

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, fixture_from, probe};
use weavedrive_cache::AccessPolicy;
use weavedrive_testgw::{GatewayData, TestWallet};
use weavedrive_wasi::HostOptions;

#[test]
fn a_guest_advising_100_gib_starts_a_bounded_window() {
    const G: u64 = 1 << 30;
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 3);
    let id = data.add_zeros_tx(100 * G, vec![]);
    let fx: Fixture = fixture_from(data, vec![(id, bytes::Bytes::new())]);
    let vfs = fx.vfs(AccessPolicy::AllowAll);
    let path = format!("/data/{id}");
    let before = fx.gateway.stats().chunk;
    let started = Instant::now();
    for _ in 0..20 {
        let (code, out) = probe(
            &vfs,
            &["advise", &path, &(100 * G).to_string()],
            HostOptions::default(),
        );
        assert_eq!((code, out.as_str()), (0, "advised"));
    }
    // (Each run compiles nothing: the module is cached; 20 runs and their hints are quick.)
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(500));
    let tasks = fx.runtime.metrics().num_alive_tasks();
    assert!(tasks <= 600, "{tasks} tasks alive after the hints");
    std::thread::sleep(Duration::from_secs(2));
    let fetched = fx.gateway.stats().chunk - before;
    assert!(
        fetched <= 257,
        "{fetched} chunks fetched for hints over the same range"
    );
}
