//! The CLI with format-1 transactions and with headers that are costly to take: `get` and
//! `stat` read format 1 (stat saying what its signature does not prove), and a signed
//! data_size of 2^62 or a 256 KiB RSA "key" are refused quickly, in little memory, with the
//! id, the gateway and the cause.

// The helper reaps its child with wait4 (for the rusage), which clippy does not see.
#[path = "common/rss.rs"]
#[allow(clippy::zombie_processes)]
mod rss;

use std::process::Command;
use std::time::Duration;

use weavedrive_cache::TxId;
use weavedrive_testgw::{
    BackgroundGateway, Format1, Format1Serving, GatewayData, GatewayOptions, TestGateway,
    TestWallet,
};

struct Fixture {
    gateway: BackgroundGateway,
    inline: (TxId, Vec<u8>),
    at_id: (TxId, Vec<u8>),
    huge_size: TxId,
    huge_key: TxId,
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let wallet = TestWallet::fixed();
    let mut data = GatewayData::with_seed(wallet.clone(), 8);
    let inline = Format1::new(b"format one, inline".to_vec()).sign(&wallet, 1);
    let at_id = Format1::new(vec![42u8; 300_000]).sign(&wallet, 2);
    data.add_format1(&inline, Format1Serving::Inline);
    data.add_format1(&at_id, Format1Serving::DataAtId);
    let huge_size = data.add_claimed_size_header(1 << 62, 3);
    let huge_key = data.add_huge_key_header(256 << 10);
    Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        inline: (inline.id, inline.data),
        at_id: (at_id.id, at_id.data),
        huge_size,
        huge_key,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    /// `weavedrive ARGS --gateway URL` (and a fresh cache dir for `stat`), ready to run.
    fn weavedrive(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weavedrive"));
        command
            .args(args)
            .args(["--gateway", &self.gateway.url(), "--retries", "1"])
            .env_remove("WEAVEDRIVE_GATEWAY")
            .env_remove("WEAVEDRIVE_CACHE_DIR");
        if args[0] == "get" {
            command.arg("--no-cache");
        }
        if args[0] == "stat" {
            command
                .arg("--cache-dir")
                .arg(self.dir.path().join("cache"));
        }
        command
    }
}

#[test]
fn format1_reads_through_get_and_stat_says_what_is_not_authenticated() {
    let fx = fixture();
    for (id, bytes) in [&fx.inline, &fx.at_id] {
        let out = fx.dir.path().join(format!("{id}.bin"));
        let get = fx
            .weavedrive(&["get", &id.to_string(), "-o", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            get.status.success(),
            "{}",
            String::from_utf8_lossy(&get.stderr)
        );
        assert!(std::fs::read(&out).unwrap() == *bytes);

        let stat = fx.weavedrive(&["stat", &id.to_string()]).output().unwrap();
        let text = String::from_utf8_lossy(&stat.stdout);
        eprintln!("{text}");
        assert!(stat.status.success(), "{text}");
        assert!(text.contains("format:  1"), "{text}");
        assert!(
            text.contains("not where one field ends and the next begins"),
            "{text}"
        );

        let json = fx
            .weavedrive(&["stat", &id.to_string(), "--json"])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(json["format"], 1);
        assert_eq!(json["format1_fields_authenticated"], false, "{json}");
    }
}

/// Before the cap, `get` aborted trying to allocate per-chunk state for 2^62 bytes.
#[test]
fn a_signed_data_size_of_2_pow_62_is_refused_in_bounded_memory_and_time() {
    let fx = fixture();
    let id = fx.huge_size.to_string();
    let out = fx.dir.path().join("huge.bin");
    let get = fx.weavedrive(&["get", &id, "-o", out.to_str().unwrap()]);
    let stat = fx.weavedrive(&["stat", &id]);
    let explicit = fx.weavedrive(&["stat", &id, "--max-data-size", "1TiB"]);
    for (what, mut command) in [("get", get), ("stat", stat), ("stat with limit", explicit)] {
        let run = rss::run_measured(&mut command, Duration::from_secs(60));
        assert!(!run.status.success(), "{what} accepted data_size 2^62");
        let text = &run.stderr;
        eprintln!(
            "{what}: {:?}, peak RSS {} MiB: {}",
            run.elapsed,
            run.peak_rss_mib(),
            text.trim()
        );
        for part in [
            id.as_str(),
            &fx.gateway.url(),
            "data_size 4611686018427387904",
            "--max-data-size",
        ] {
            assert!(text.contains(part), "{what}: {part:?} missing: {text}");
        }
        assert!(
            run.peak_rss_mib() < 200,
            "{what}: peak RSS {} MiB",
            run.peak_rss_mib()
        );
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{what}: {:?}",
            run.elapsed
        );
    }
    assert!(!out.exists());
}

/// Before the key-size rule, one check of this header took minutes.
#[test]
fn a_256_kib_rsa_key_is_refused_quickly() {
    let fx = fixture();
    let id = fx.huge_key.to_string();
    let run = rss::run_measured(&mut fx.weavedrive(&["stat", &id]), Duration::from_secs(60));
    assert!(!run.status.success());
    let text = &run.stderr;
    eprintln!("{:?}: {}", run.elapsed, text.trim());
    for part in [id.as_str(), &fx.gateway.url(), "owner is 262144 bytes"] {
        assert!(text.contains(part), "{part:?} missing: {text}");
    }
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}
