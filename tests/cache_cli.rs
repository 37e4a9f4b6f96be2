//! `weavedrive preload|stat|cache|get` against the local test gateway, as separate processes
//! on a real cache directory: what `preload` (or `get`) stores reads back byte-identical with
//! no network (`get` serves it with the gateway down), a preload killed with SIGKILL at any
//! moment leaves a cache that is consistent and resumable, two processes can fill one cache
//! dir at once, and `cache gc|clear` respect pins.
//! Gateway request counts are the ground truth for "no network".

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha256};
use weavedrive_cache::store::ExtentCheck;
use weavedrive_cache::store::block_file::{self, BlockKey};
use weavedrive_cache::store::extents::ExtentStore;
use weavedrive_cache::{Drive, DriveConfig, GatewayConfig, TxId};
use weavedrive_testgw::{
    BackgroundGateway, Fault, GatewayData, GatewayOptions, Target, TestGateway, TestWallet,
    pseudo_random_data,
};

const K: usize = 1024;
const M: usize = 1024 * 1024;
const CHUNK: usize = 256 * K;
/// Longest any one command may take before the test gives up on it (and kills it).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// A `weavedrive` child process, killed and reaped however the test ends (even on panic).
/// Its output is drained by threads from the start, so it can never block on a full pipe.
struct Proc {
    child: Child,
    what: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    })
}

impl Proc {
    fn spawn(mut cmd: Command, what: &str) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start weavedrive: {e}"));
        Proc {
            stdout: drain(child.stdout.take()),
            stderr: drain(child.stderr.take()),
            child,
            what: what.to_owned(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if it has exited (reaped), without waiting.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits (at most [`COMMAND_TIMEOUT`]) for it to exit and returns what it printed.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {COMMAND_TIMEOUT:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let collect = |h: Option<JoinHandle<Vec<u8>>>| h.map(|h| h.join().unwrap()).unwrap();
        Output {
            status,
            stdout: collect(self.stdout.take()),
            stderr: collect(self.stderr.take()),
        }
    }

    /// SIGKILL (std's `kill` on Unix), then reap it so its pid is really gone. Returns the
    /// status: it must have died of the signal, not finished on its own first.
    fn sigkill(mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Once reaped, `kill` is a no-op (std remembers the status): no stray pid is signalled.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Fixture {
    gateway: BackgroundGateway,
    txs: Vec<(TxId, Bytes)>,
    scratch: tempfile::TempDir,
}

fn tags(i: usize) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/octet-stream".into()),
        ("Index".into(), i.to_string()),
    ]
}

fn fixture(sizes: &[usize], options: GatewayOptions) -> Fixture {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 7);
    let txs = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let bytes = pseudo_random_data(100 + i as u64, size);
            (data.add_tx(bytes.clone(), tags(i)), bytes)
        })
        .collect();
    Fixture {
        gateway: TestGateway::spawn_background(data, options).unwrap(),
        txs,
        scratch: tempfile::tempdir().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Every file under `<cache>/blocks`, sorted.
fn block_files(cache: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(shards) = std::fs::read_dir(cache.join("blocks")) else {
        return files;
    };
    for shard in shards.flatten() {
        if let Ok(entries) = std::fs::read_dir(shard.path()) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files.sort();
    files
}

/// Every block file and every committed extent is whole (see [`assert_block_files_whole`] and
/// [`assert_extents_whole`]). Returns how many chunks the cache holds: blocks, and whole
/// chunks in extents.
fn assert_chunks_whole(cache: &Path, what: &str) -> usize {
    assert_block_files_whole(cache, what) + assert_extents_whole(cache, what)
}

/// Every committed extent (one with a piece list) loads, is of its length and holds, piece
/// by piece, what its list says (the store's own scrub). A crash must never leave a
/// committed extent that is not whole. Returns how many whole chunks they hold.
fn assert_extents_whole(cache: &Path, what: &str) -> usize {
    let committed = std::fs::read_dir(cache.join("extents"))
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_name().to_str().unwrap().ends_with(".pieces"))
                .count()
        })
        .unwrap_or(0);
    let store = ExtentStore::open(cache).unwrap();
    assert_eq!(
        store.count() as usize,
        committed,
        "{what}: a committed extent did not load"
    );
    let mut chunks = 0;
    for extent in store.list() {
        let found = store.scrub(&extent).unwrap();
        assert_eq!(found, ExtentCheck::Sound, "{what}: extent of {}", extent.id);
        chunks += extent.pieces().iter().filter(|p| p.whole_chunk).count();
    }
    chunks
}

/// Every block file is whole and under its real name: `blocks/<2 hex>/<64 hex>`, decoding
/// cleanly (the store's own checks), and holding data whose sha256 is its name. A crash must
/// never leave anything else there. Returns how many blocks there are.
fn assert_block_files_whole(cache: &Path, what: &str) -> usize {
    let files = block_files(cache);
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let shard = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let mut key: BlockKey = [0; 32];
        assert!(
            hex::decode_to_slice(name, &mut key).is_ok() && name.starts_with(shard),
            "{what}: stray file {}",
            path.display()
        );
        let raw = std::fs::read(path).unwrap();
        let data = block_file::decode(&key, &raw).unwrap_or_else(|e| {
            panic!(
                "{what}: torn block {} ({} bytes): {e}",
                path.display(),
                raw.len()
            )
        });
        assert!(
            !data.is_empty() && data.len() <= CHUNK,
            "{what}: {}",
            path.display()
        );
        assert_eq!(
            hex::encode(Sha256::digest(data)),
            name,
            "{what}: block {} does not hold its content",
            path.display()
        );
    }
    files.len()
}

fn tmp_files(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache.join("tmp")) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

impl Fixture {
    fn url(&self) -> String {
        self.gateway.url()
    }

    fn id(&self, n: usize) -> String {
        self.txs[n].0.to_string()
    }

    fn cache_dir(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }

    /// The binary with a clean environment: no gateway or cache dir from the caller's shell,
    /// and a default cache location inside the scratch dir (never the real home).
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weavedrive"));
        cmd.env_remove("WEAVEDRIVE_GATEWAY")
            .env_remove("WEAVEDRIVE_CACHE_DIR")
            .env_remove("WEAVEDRIVE_LOG")
            .env("XDG_CACHE_HOME", self.scratch.path().join("xdg"));
        cmd
    }

    /// `weavedrive ARGS... --gateway URL --cache-dir CACHE` (preload, stat).
    fn spawn(&self, cache: &Path, args: &[&str], what: &str) -> Proc {
        let mut cmd = self.command();
        cmd.args(args)
            .args(["--gateway", &self.url()])
            .arg("--cache-dir")
            .arg(cache);
        Proc::spawn(cmd, what)
    }

    fn run(&self, cache: &Path, args: &[&str]) -> Output {
        self.spawn(cache, args, &args.join(" ")).finish()
    }

    /// `weavedrive cache --gateway URL SUBCOMMAND...` with the cache dir from
    /// WEAVEDRIVE_CACHE_DIR (the options of `cache` go before its subcommand).
    fn cache_cmd(&self, cache: &Path, args: &[&str]) -> String {
        let mut cmd = self.command();
        cmd.env("WEAVEDRIVE_CACHE_DIR", cache)
            .args(["cache", "--gateway", &self.url()])
            .args(args);
        let what = format!("cache {}", args.join(" "));
        ok(&Proc::spawn(cmd, &what).finish(), &what)
    }

    fn preload(&self, cache: &Path, ids: &[String], extra: &[&str]) {
        let mut args = vec!["preload", "-q"];
        args.extend(ids.iter().map(String::as_str));
        args.extend(extra);
        let output = self.run(cache, &args);
        let what = args.join(" ");
        ok(&output, &what);
        assert!(
            output.stderr.is_empty() && output.stdout.is_empty(),
            "preload -q printed: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
    }

    /// `stat ID --json`, parsed.
    fn stat(&self, cache: &Path, n: usize) -> Value {
        let what = format!("stat {n} --json");
        let stdout = ok(&self.run(cache, &["stat", &self.id(n), "--json"]), &what);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{what}: {e}: {stdout}"))
    }

    /// Waits until the gateway has had no new request for 100 ms.
    fn wait_for_quiet_gateway(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let before = self.gateway.stats().requests();
            std::thread::sleep(Duration::from_millis(100));
            if self.gateway.stats().requests() == before {
                return;
            }
            assert!(Instant::now() < deadline, "the gateway never went quiet");
        }
    }

    /// A fresh preload of tx 0 fetches exactly the chunks the cache does not have, leaves no
    /// temp file, and everything then reads back offline.
    fn assert_resumes(&self, cache: &Path, cached: u64, what: &str) {
        let (id, size) = (self.id(0), self.txs[0].1.len());
        let total = chunks(size);
        self.gateway.reset_stats();
        self.preload(cache, std::slice::from_ref(&id), &[]);
        assert_eq!(
            self.gateway.stats().chunk,
            total - cached,
            "{what}: resumed preload fetched the wrong number of chunks"
        );
        assert!(
            tmp_files(cache).is_empty(),
            "{what}: leftovers in tmp/: {:?}",
            tmp_files(cache)
        );
        assert_eq!(
            assert_chunks_whole(cache, &format!("{what}: after resuming")) as u64,
            total
        );
        let info = self.stat(cache, 0);
        assert_eq!(num(&info, "chunks_cached"), total, "{what}: {info}");
        assert_eq!(num(&info, "bytes_cached"), size as u64, "{what}: {info}");
        self.assert_reads_back_offline(cache, &[0], what);
    }

    /// Reads transactions back through a `Drive` on `cache` (small memory tier, so the bytes
    /// come from disk) and asserts they equal the source with not one gateway request.
    fn assert_reads_back_offline(&self, cache: &Path, which: &[usize], what: &str) {
        self.gateway.reset_stats();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let chunks_fetched = runtime.block_on(async {
            let drive = Drive::new(DriveConfig {
                gateway: GatewayConfig {
                    gateways: vec![self.url()],
                    retries: 0,
                    ..GatewayConfig::default()
                },
                cache_dir: Some(cache.to_path_buf()),
                disk_budget: 1 << 30,
                memory_budget: 256 * K as u64,
                ..DriveConfig::default()
            })
            .unwrap();
            for &n in which {
                let (id, bytes) = &self.txs[n];
                let step = M as u64 + 7;
                let mut offset = 0u64;
                while offset < bytes.len() as u64 {
                    let piece = drive
                        .read_at(id, offset, step)
                        .await
                        .unwrap_or_else(|e| panic!("{what}: tx {n}: read at {offset} failed: {e}"));
                    let end = offset as usize + piece.len();
                    assert!(
                        !piece.is_empty() && piece[..] == bytes[offset as usize..end],
                        "{what}: tx {n}: wrong bytes at {offset} (+{})",
                        piece.len()
                    );
                    offset = end as u64;
                }
            }
            drive.stats().chunks_fetched
        });
        assert_eq!(chunks_fetched, 0, "{what}: chunks came from the network");
        assert_eq!(
            self.gateway.stats().requests(),
            0,
            "{what}: reading the cache went to the gateway: {:?}",
            self.gateway.stats()
        );
    }
}

fn chunks(size: usize) -> u64 {
    size.div_ceil(CHUNK) as u64
}

fn num(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing: {v}"))
}

fn flag(v: &Value, field: &str) -> bool {
    v[field]
        .as_bool()
        .unwrap_or_else(|| panic!("{field} missing: {v}"))
}

/// The `cache ls` row of `id`; asserts there is exactly one.
fn ls_row<'a>(ls: &'a str, id: &str) -> &'a str {
    let rows: Vec<&str> = ls.lines().filter(|l| l.starts_with(id)).collect();
    assert_eq!(rows.len(), 1, "{id} not listed exactly once:\n{ls}");
    rows[0]
}

#[test]
fn preload_fills_the_cache_and_stat_reports_it() {
    let sizes = [3 * M + 5, 1000];
    let fx = fixture(&sizes, GatewayOptions::default());
    let cache = fx.cache_dir("cache");
    fx.preload(&cache, &[fx.id(0)], &["--pin"]);
    fx.preload(&cache, &[fx.id(1)], &[]);

    let owner = TestWallet::fixed().address();
    for (n, &size) in sizes.iter().enumerate() {
        let info = fx.stat(&cache, n);
        assert_eq!(info["id"], fx.id(n), "{info}");
        assert_eq!(num(&info, "size"), size as u64, "{info}");
        assert_eq!(num(&info, "format"), 2, "{info}");
        assert_eq!(info["owner"], owner, "{info}");
        let want_tags: Vec<Value> = tags(n)
            .into_iter()
            .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
            .collect();
        assert_eq!(info["tags"], Value::Array(want_tags), "{info}");
        assert_eq!(num(&info, "chunks"), chunks(size), "{info}");
        assert_eq!(num(&info, "chunks_cached"), chunks(size), "{info}");
        assert_eq!(num(&info, "bytes_cached"), size as u64, "{info}");
        assert_eq!(flag(&info, "pinned"), n == 0, "{info}");
    }
    assert!(fx.cache_dir("cache").join("pins").join(fx.id(0)).is_file());

    let ls = fx.cache_cmd(&cache, &["ls"]);
    let pinned = ls_row(&ls, &fx.id(0));
    assert!(
        pinned.contains("100.0%") && pinned.trim_end().ends_with("yes"),
        "{ls}"
    );
    let unpinned = ls_row(&ls, &fx.id(1));
    assert!(
        unpinned.contains("100.0%") && !unpinned.trim_end().ends_with("yes"),
        "{ls}"
    );
    assert!(ls.contains("2 transaction(s)"), "{ls}");
    // 13 + 1 blocks, each whole and named by its hash; nothing left in tmp/.
    assert_eq!(assert_chunks_whole(&cache, "after preload"), 14);
    assert!(tmp_files(&cache).is_empty(), "{:?}", tmp_files(&cache));

    // A second preload of cached data needs the network not at all (header from the cache).
    fx.gateway.reset_stats();
    fx.preload(&cache, &[fx.id(0), fx.id(1)], &[]);
    assert_eq!(fx.gateway.stats().requests(), 0, "{:?}", fx.gateway.stats());

    fx.assert_reads_back_offline(&cache, &[0, 1], "warm read");
}

/// 5 ms per request and 8 MiB/s per connection: slow enough for kills to land mid-preload.
fn slow_gateway() -> GatewayOptions {
    GatewayOptions {
        latency: Duration::from_millis(5),
        bandwidth_per_connection: Some(8 << 20),
        ..GatewayOptions::default()
    }
}

#[test]
fn killed_preload_leaves_a_usable_cache() {
    // 257 chunks (the last two split the tail, per the standard layout). Each connection is capped at 8 MiB/s and the
    // killed preload keeps 16 requests in flight (~128 MiB/s at most): polling every
    // millisecond or so sees the block count climb a few blocks at a time.
    let size = 64 * M + 1234;
    let total = chunks(size);
    let fx = fixture(&[size], slow_gateway());
    let id = fx.id(0);
    for (round, kill_after) in [3usize, 40, 150].into_iter().enumerate() {
        let what = format!("round {round} (kill after {kill_after} blocks)");
        let cache = fx.cache_dir(&format!("cache-{round}"));
        let mut preload = fx.spawn(
            &cache,
            &["preload", &id, "-q", "--concurrency", "16"],
            &format!("{what}: preload"),
        );
        let started = Instant::now();
        loop {
            if let Some(status) = preload.exited() {
                panic!(
                    "{what}: preload exited ({status}) before it could be killed: {}",
                    text(&preload.finish().stderr)
                );
            }
            if block_files(&cache).len() >= kill_after {
                break;
            }
            assert!(
                started.elapsed() < COMMAND_TIMEOUT,
                "{what}: no progress: {} blocks",
                block_files(&cache).len()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let pid = preload.pid();
        let status = preload.sigkill();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "{what}: preload was not killed but exited: {status}"
        );
        let on_disk = assert_chunks_whole(&cache, &format!("{what}: after the kill"));
        assert!(on_disk >= kill_after, "{what}");
        let left_in_tmp = tmp_files(&cache).len();
        // What a writer killed mid-put leaves: a temp file named after its (dead) pid. The
        // next process to open the store must remove it.
        let planted = cache
            .join("tmp")
            .join(format!("{pid}-999999-00000000deadbeef"));
        std::fs::write(&planted, vec![7u8; 100_000]).unwrap();

        // stat works on the partial cache, offline, and reports it partial. (Requests the
        // dead process sent may still be reaching the gateway: let them land first.)
        fx.wait_for_quiet_gateway();
        fx.gateway.reset_stats();
        let info = fx.stat(&cache, 0);
        assert_eq!(
            fx.gateway.stats().requests(),
            0,
            "{what}: stat went online: {:?}: {info}",
            fx.gateway.stats()
        );
        let (cached, bytes_cached) = (num(&info, "chunks_cached"), num(&info, "bytes_cached"));
        assert_eq!(num(&info, "size"), size as u64, "{what}: {info}");
        assert_eq!(num(&info, "chunks"), total, "{what}: {info}");
        assert!(
            0 < bytes_cached && bytes_cached < size as u64,
            "{what}: not partial: {info}"
        );
        // A block is stored, then its hash recorded: only blocks whose writer died in between
        // (at most one per request in flight) are on disk but unknown, so fetched again.
        assert!(
            cached <= on_disk as u64 && cached + 16 >= on_disk as u64,
            "{what}: {on_disk} blocks on disk: {info}"
        );
        assert!(!flag(&info, "pinned"), "{what}: {info}");
        assert!(
            !planted.exists(),
            "{what}: a dead writer's temp file survived"
        );
        eprintln!(
            "{what}: killed at {:.2} s with {on_disk} blocks on disk, {cached} of {total} \
             chunks recorded, {left_in_tmp} temp file(s) left",
            started.elapsed().as_secs_f64()
        );

        fx.assert_resumes(&cache, cached, &what);
    }
}

/// preload SIGKILLed at a random moment of its run (before the header, mid-body, near the
/// end), 12 rounds, each on a fresh cache dir: every block left is whole, and a new preload
/// fetches exactly what is missing, after which every byte reads back offline.
#[test]
fn preload_killed_at_random_moments_resumes_every_time() {
    let size = 12 * M + 99;
    let fx = fixture(&[size], slow_gateway());
    let id = fx.id(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Kill moments span one whole run as measured here and now (start-up, header, 49 chunks;
    // 0.3 s to 0.6 s seen, slower on a busy machine), plus a little past its end.
    let whole = {
        let started = Instant::now();
        let out = fx
            .spawn(
                &fx.cache_dir("timing"),
                &["preload", &id, "-q", "--concurrency", "16"],
                "a whole preload",
            )
            .finish();
        assert!(out.status.success(), "a whole preload failed: {out:?}");
        started.elapsed()
    };
    fx.wait_for_quiet_gateway();
    eprintln!("a whole preload takes {whole:?}");
    let mut killed = 0;
    for round in 0..12 {
        let kill_at = whole.mul_f64(rng.gen_range(0.0..1.15));
        let what = format!("round {round} (seed {seed}, kill at {kill_at:?})");
        let cache = fx.cache_dir(&format!("random-{round}"));
        let preload = fx.spawn(
            &cache,
            &["preload", &id, "-q", "--concurrency", "16"],
            &format!("{what}: preload"),
        );
        std::thread::sleep(kill_at);
        let status = preload.sigkill();
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL) {
            killed += 1;
        } else {
            assert!(status.success(), "{what}: preload failed: {status}");
        }
        assert_chunks_whole(&cache, &format!("{what}: after the kill"));
        fx.wait_for_quiet_gateway();
        // (stat may fetch the header when the kill came before it was stored.)
        let cached = num(&fx.stat(&cache, 0), "chunks_cached");
        eprintln!("{what}: {cached} of {} chunks kept", chunks(size));
        fx.assert_resumes(&cache, cached, &what);
    }
    assert!(killed >= 6, "only {killed} of 12 kills landed mid-run");
}

#[test]
fn two_processes_share_a_cache_dir() {
    let sizes = [2 * M + 3, M + 7, 700 * K];
    let fx = fixture(
        &sizes,
        GatewayOptions {
            latency: Duration::from_millis(2),
            ..GatewayOptions::default()
        },
    );
    let cache = fx.cache_dir("shared");
    let ids: Vec<String> = (0..3).map(|n| fx.id(n)).collect();
    let forward: Vec<&str> = ids.iter().map(String::as_str).collect();
    let backward: Vec<&str> = forward.iter().rev().copied().collect();
    let mut args_a = vec!["preload", "-q"];
    args_a.extend(&forward);
    let mut args_b = vec!["preload", "-q"];
    args_b.extend(&backward);
    let a = fx.spawn(&cache, &args_a, "preload forward");
    let b = fx.spawn(&cache, &args_b, "preload backward");
    let (a, b) = (a.finish(), b.finish());
    ok(&a, "preload forward");
    ok(&b, "preload backward");
    let total: u64 = sizes.iter().map(|&s| chunks(s)).sum();
    let fetched = fx.gateway.stats().chunk;
    assert!(
        (total..=2 * total).contains(&fetched),
        "{fetched} chunk requests for {total} chunks"
    );

    // Each block once (content-addressed), all whole; no temp files.
    assert_eq!(assert_chunks_whole(&cache, "shared") as u64, total);
    assert!(tmp_files(&cache).is_empty(), "{:?}", tmp_files(&cache));
    fx.assert_reads_back_offline(&cache, &[0, 1, 2], "shared cache");

    let ls = fx.cache_cmd(&cache, &["ls"]);
    for id in &ids {
        assert!(ls_row(&ls, id).contains("100.0%"), "{ls}");
    }
    assert!(ls.contains("3 transaction(s)"), "{ls}");
}

#[test]
fn gc_and_clear_respect_pins() {
    let sizes = [M + 1, M + 2];
    let fx = fixture(&sizes, GatewayOptions::default());
    let cache = fx.cache_dir("cache");
    let (a, b) = (fx.id(0), fx.id(1));
    fx.preload(&cache, std::slice::from_ref(&a), &["--pin"]);
    fx.preload(&cache, std::slice::from_ref(&b), &[]);
    let cached = |n: usize| {
        let info = fx.stat(&cache, n);
        (num(&info, "chunks_cached"), flag(&info, "pinned"))
    };
    assert_eq!(cached(0), (5, true));
    assert_eq!(cached(1), (5, false));

    let gc = fx.cache_cmd(&cache, &["gc", "--to", "0"]);
    // B's 5 blocks: 1 MiB + 2 bytes of data plus 5 headers.
    assert!(gc.starts_with("freed 1.0 MiB"), "{gc}");
    assert_eq!(cached(0), (5, true), "gc evicted a pinned tx");
    // (Its record went too: stat fetches it again, with the one chunk that proves its place.)
    assert_eq!(cached(1), (1, false), "gc --to 0 kept unpinned blocks");
    assert_eq!(assert_chunks_whole(&cache, "after gc"), 6);
    // B's blocks come back on demand.
    fx.preload(&cache, std::slice::from_ref(&b), &[]);
    assert_eq!(cached(1), (5, false));

    fx.cache_cmd(&cache, &["clear"]);
    assert_eq!(cached(0), (5, true), "clear removed a pinned tx");
    let ls = fx.cache_cmd(&cache, &["ls"]);
    assert!(!ls.contains(&b), "clear kept B's map: {ls}");
    assert!(ls_row(&ls, &a).contains("100.0%"), "{ls}");
    assert_eq!(assert_chunks_whole(&cache, "after clear"), 5);

    fx.cache_cmd(&cache, &["unpin", &a]);
    assert!(!cache.join("pins").join(&a).exists(), "unpin left the pin");
    fx.cache_cmd(&cache, &["clear"]);
    assert_eq!(assert_chunks_whole(&cache, "after unpin and clear"), 0);
    let ls = fx.cache_cmd(&cache, &["ls"]);
    assert!(
        ls.contains("0 transaction(s)") && !ls.contains(&a) && !ls.contains(&b),
        "{ls}"
    );
    // Now A is known again only from the network, and nothing of it is cached but the
    // chunk that proved where its data is.
    assert_eq!(cached(0), (1, false));
}

#[test]
fn human_sizes_and_bad_input() {
    let fx = fixture(&[1000], GatewayOptions::default());
    let cache = fx.cache_dir("cache");
    let id = fx.id(0);

    let output = fx.run(
        &cache,
        &[
            "stat",
            &id,
            "--json",
            "--disk-cache",
            "20GiB",
            "--memory-cache",
            "1.5M",
        ],
    );
    ok(&output, "--disk-cache 20GiB");
    let output = fx.run(&cache, &["preload", &id, "-q", "--disk-cache", "512 MB"]);
    ok(&output, "--disk-cache '512 MB'");

    for (flag, value) in [
        ("--disk-cache", "12parsecs"),
        ("--memory-cache", "lots"),
        ("--disk-cache", ""),
    ] {
        fx.gateway.reset_stats();
        let output = fx.run(&cache, &["stat", &id, flag, value]);
        let err = text(&output.stderr);
        assert!(!output.status.success(), "{flag} {value:?} accepted");
        assert!(
            err.contains(flag) && err.contains(&format!("'{value}'")) && err.contains("size"),
            "{flag} {value:?}: unclear error: {err}"
        );
        assert_eq!(fx.gateway.stats().requests(), 0);
    }

    for bad in ["not-an-id", "AAAA", "../../etc/passwd"] {
        let output = fx.run(&cache, &["preload", bad]);
        let err = text(&output.stderr);
        assert!(!output.status.success(), "preload {bad} succeeded");
        assert!(err.contains("invalid Arweave id"), "{bad}: {err}");
        assert!(err.contains(bad), "{bad}: error does not name it: {err}");
    }
    assert_eq!(
        fx.gateway.stats().requests(),
        0,
        "a bad id reached the network"
    );

    let missing = TxId([3; 32]).to_string();
    for args in [
        vec!["preload", &missing, "-q"],
        vec!["stat", &missing, "--json"],
    ] {
        let output = fx.run(&cache, &args);
        let err = text(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("not found") && err.contains(&missing),
            "{args:?}: {err}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: printed to stdout");
    }
    assert!(
        !cache.join("tx").join(&missing).exists(),
        "an unknown id left an entry in the cache"
    );
    // The default cache location (here, under XDG_CACHE_HOME) was never touched.
    assert!(!fx.scratch.path().join("xdg").exists());
}

/// The README and `--help` present the cache options as options of every cache command;
/// people put them after the verb (`weavedrive cache ls --cache-dir DIR`) as with `stat`.
#[test]
fn cache_subcommands_take_options_after_the_verb() {
    let fx = fixture(&[1000], GatewayOptions::default());
    let cache = fx.cache_dir("cache");
    fx.preload(&cache, &[fx.id(0)], &[]);
    for args in [
        &["cache", "ls"][..],
        &["cache", "gc", "--to", "1GiB"],
        &["cache", "unpin", &fx.id(0)],
    ] {
        let output = fx.run(&cache, args);
        ok(&output, &args.join(" "));
    }
    let ls = text(&fx.run(&cache, &["cache", "ls"]).stdout);
    assert!(ls_row(&ls, &fx.id(0)).contains("100.0%"), "{ls}");
}

/// A tmpfs mounted for the test's lifetime (unmounted on drop, even when the test fails).
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// `None` without root (mounting needs it).
    fn mount(at: PathBuf, size: &str) -> Option<SmallDisk> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: a small tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(&at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs at {}", at.display());
        Some(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A disk that fills up mid-preload: the preload fails saying so (not "done"), every block it
/// did keep is whole, and the next preload onto a disk with room completes.
#[test]
fn a_full_disk_fails_the_preload_clearly_and_keeps_nothing_torn() {
    let fx = fixture(&[4 * M], GatewayOptions::default());
    let Some(disk) = SmallDisk::mount(fx.cache_dir("small"), "1m") else {
        return;
    };
    let cache = disk.0.join("cache");
    let out = fx.run(&cache, &["preload", "-q", &fx.id(0)]);
    assert!(
        !out.status.success(),
        "a preload that kept nothing said done"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("could not be kept in the disk cache"),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(
        stderr.matches("could not store").count(),
        1,
        "one warning, not one per block: {stderr}"
    );
    let kept = assert_chunks_whole(&cache, "full disk");
    assert!(kept < 16, "{kept} blocks cannot fit in 1 MiB");
    assert!(
        tmp_files(&cache).is_empty(),
        "temp files left: {:?}",
        tmp_files(&cache)
    );

    drop(disk);
    let roomy = fx.cache_dir("roomy");
    fx.preload(&roomy, &[fx.id(0)], &[]);
    fx.assert_reads_back_offline(&roomy, &[0], "after a full disk");
}

/// A gateway that is down: a local port nothing listens on.
fn dead_gateway() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

impl Fixture {
    /// `weavedrive get ID --quiet --gateway GATEWAY --cache-dir CACHE EXTRA...` (data on
    /// stdout unless EXTRA says `-o`).
    fn get(&self, cache: &Path, n: usize, gateway: &str, extra: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.args(["get", &self.id(n), "--quiet", "--gateway", gateway])
            .args(["--retries", "0", "--cache-dir"])
            .arg(cache)
            .args(extra);
        Proc::spawn(cmd, &format!("get {n} {}", extra.join(" "))).finish()
    }

    /// Asserts `output` is a successful get of tx `n` on stdout.
    fn assert_got(&self, output: &Output, n: usize, what: &str) {
        assert!(
            output.status.success(),
            "{what}: get failed: {}",
            text(&output.stderr)
        );
        assert!(output.stdout == self.txs[n].1[..], "{what}: wrong bytes");
    }
}

/// `get` reads through the Drive, as the mount does: what `preload` cached is served with
/// every gateway down, to stdout, to a file, and with `--via ranges`.
#[test]
fn get_after_preload_is_served_from_the_cache_with_the_gateway_down() {
    let fx = fixture(&[3 * M + 5, 1000], GatewayOptions::default());
    let cache = fx.cache_dir("cache");
    fx.preload(&cache, &[fx.id(0), fx.id(1)], &[]);
    let dead = dead_gateway();
    for n in 0..2 {
        fx.assert_got(&fx.get(&cache, n, &dead, &[]), n, "stdout");
        let file = fx.scratch.path().join(format!("got-{n}"));
        let output = fx.get(&cache, n, &dead, &["-o", file.to_str().unwrap()]);
        ok(&output, "get -o");
        assert!(std::fs::read(&file).unwrap() == fx.txs[n].1[..], "file {n}");
        fx.assert_got(&fx.get(&cache, n, &dead, &["--via", "ranges"]), n, "ranges");
    }
    // The same without the cache has nowhere to read from.
    let output = fx.get(&cache, 0, &dead, &["--no-cache"]);
    assert!(!output.status.success(), "get --no-cache with no gateway");
    assert!(output.stdout.is_empty());
}

/// A `get` of data not cached leaves it in the cache, whole (the next needs no gateway
/// request, and is served with the gateway down); `--no-cache` leaves nothing.
#[test]
fn get_leaves_what_it_fetched_cached_unless_no_cache() {
    let size = 3 * M + 5;
    let fx = fixture(&[size], GatewayOptions::default());
    let (cached, uncached) = (fx.cache_dir("cached"), fx.cache_dir("uncached"));
    let (live, dead) = (fx.url(), dead_gateway());

    fx.assert_got(&fx.get(&cached, 0, &live, &[]), 0, "cold get");
    assert_eq!(
        assert_chunks_whole(&cached, "after get") as u64,
        chunks(size)
    );
    fx.gateway.reset_stats();
    fx.assert_got(&fx.get(&cached, 0, &live, &[]), 0, "warm get");
    assert_eq!(
        fx.gateway.stats().requests(),
        0,
        "a warm get went to the gateway: {:?}",
        fx.gateway.stats()
    );
    fx.assert_got(&fx.get(&cached, 0, &dead, &[]), 0, "gateway down");
    fx.assert_reads_back_offline(&cached, &[0], "after get");

    fx.assert_got(
        &fx.get(&uncached, 0, &live, &["--no-cache"]),
        0,
        "get --no-cache",
    );
    assert!(
        block_files(&uncached).is_empty(),
        "--no-cache cached blocks"
    );
    let output = fx.get(&uncached, 0, &dead, &[]);
    assert!(
        !output.status.success() && output.stdout.is_empty(),
        "served from a cache --no-cache should not have filled"
    );
}

/// `cache verify` checks every block whole against its name: bit rot (a flipped data byte,
/// which the page checksums also catch) and a block rewritten with consistent page checksums
/// over other bytes (which only the SHA-256 catches) are both found and removed, the run exits
/// 1, and `--repair` fetches exactly those chunks again, proven: then everything reads back
/// with the gateway down.
#[test]
fn cache_verify_finds_rot_and_forged_blocks_and_repair_fetches_them_again() {
    let fx = fixture(&[3 * M + 5, 1000], GatewayOptions::default());
    let cache = fx.cache_dir("cache");
    // Blocks only: extents have their own test.
    fx.preload(&cache, &[fx.id(0), fx.id(1)], &["--no-extents"]);
    let blocks = assert_chunks_whole(&cache, "after preload");
    assert_eq!(blocks, 13 + 1);
    let clean = fx.cache_cmd(&cache, &["verify"]);
    assert!(
        clean.starts_with(&format!(
            "{blocks} blocks sound (3.0 MiB), 0 extents sound, 2 records loaded"
        )),
        "{clean}"
    );

    let files = block_files(&cache);
    // Bit rot: one data byte flipped.
    let rotten = &files[3];
    let mut raw = std::fs::read(rotten).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x10;
    std::fs::write(rotten, &raw).unwrap();
    // A forgery with every checksum right: other bytes, encoded under this block's name.
    let forged = &files[7];
    let mut key: BlockKey = [0; 32];
    hex::decode_to_slice(forged.file_name().unwrap().to_str().unwrap(), &mut key).unwrap();
    let other = vec![0x5a; CHUNK];
    let mut raw = block_file::encode_prefix(&key, &other);
    raw.extend_from_slice(&other);
    block_file::decode(&key, &raw).expect("the forgery passes the page checksums");
    std::fs::write(forged, &raw).unwrap();

    let output = fx.run(&cache, &["cache", "verify"]);
    assert!(!output.status.success(), "verify passed a corrupt cache");
    let report = text(&output.stdout);
    for (path, why) in [
        (rotten, "block data does not match its checksum"),
        (forged, "its SHA-256 is not its name"),
    ] {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            report.contains(&format!("corrupt, removed: block {name}: {why}")),
            "{report}"
        );
        assert!(!path.exists(), "{name} was not removed");
    }
    assert!(
        report.starts_with(&format!("{} blocks sound", blocks - 2)),
        "{report}"
    );
    assert!(
        text(&output.stderr).contains("--repair"),
        "{}",
        text(&output.stderr)
    );

    // Read back (the two chunks fetched again), then damaged again for the repair: a torn
    // file this time, and the same forgery.
    fx.preload(&cache, &[fx.id(0)], &["--no-extents"]);
    assert_eq!(assert_chunks_whole(&cache, "after re-preload"), blocks);
    std::fs::write(rotten, b"torn").unwrap();
    std::fs::write(forged, &raw).unwrap();
    let chunks_before = fx.gateway.stats().chunk;
    let repaired = fx.cache_cmd(&cache, &["verify", "--repair"]);
    assert!(
        repaired.contains("fetched again and proven: 2 chunk(s)"),
        "{repaired}"
    );
    assert_eq!(fx.gateway.stats().chunk - chunks_before, 2, "{repaired}");
    assert_eq!(assert_chunks_whole(&cache, "after repair"), blocks);
    assert!(rotten.exists() && forged.exists());
    let dead = dead_gateway();
    for n in 0..2 {
        // (Blocks stay blocks: a `get` would otherwise move them into an extent.)
        let got = fx.get(&cache, n, &dead, &["--no-extents"]);
        fx.assert_got(&got, n, "after repair");
    }
    let clean = fx.cache_cmd(&cache, &["verify"]);
    assert!(
        clean.starts_with(&format!("{blocks} blocks sound")),
        "{clean}"
    );
}

/// Flips one byte of a cache file in place (extents are read-only files; root writes anyway).
fn flip_byte(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x08], at).unwrap();
}

/// A preload leaves one extent file per large transaction (its blocks gone); bit rot in it
/// is found by `cache verify` (the piece named, the extent removed, exit 1), and
/// `--repair` fetches the transaction again, proven, and assembles a sound extent: then it
/// reads back with the gateway down.
#[test]
fn a_corrupt_extent_is_found_by_the_scrub_and_repair_assembles_it_again() {
    let fx = fixture(&[3 * M + 5], GatewayOptions::default());
    let (cache, id) = (fx.cache_dir("cache"), fx.id(0));
    fx.preload(&cache, std::slice::from_ref(&id), &[]);
    assert_eq!(assert_extents_whole(&cache, "after preload"), 13);
    assert!(block_files(&cache).is_empty(), "{:?}", block_files(&cache));
    let extent = cache.join("extents").join(&id);
    let clean = fx.cache_cmd(&cache, &["verify"]);
    assert!(clean.contains(", 1 extents sound,"), "{clean}");

    flip_byte(&extent, 2 * M as u64 + 17);
    let output = fx.run(&cache, &["cache", "verify"]);
    assert!(!output.status.success(), "verify passed a corrupt extent");
    let report = text(&output.stdout);
    assert!(
        report.contains(&format!(
            "corrupt, removed: extent of {id}: bytes 2097152..2359296 do not match their SHA-256"
        )),
        "{report}"
    );
    assert!(!extent.exists(), "the corrupt extent was not removed");
    assert!(text(&output.stderr).contains("1 corrupt extent(s)"));

    // Assembled again from a new preload, then damaged again for the repair.
    fx.preload(&cache, std::slice::from_ref(&id), &[]);
    assert_eq!(assert_extents_whole(&cache, "after re-preload"), 13);
    flip_byte(&extent, 5);
    let chunks_before = fx.gateway.stats().chunk;
    let repaired = fx.cache_cmd(&cache, &["verify", "--repair"]);
    assert!(
        repaired.contains("fetched again, proven and assembled: 1 extent(s)"),
        "{repaired}"
    );
    assert_eq!(fx.gateway.stats().chunk - chunks_before, 13, "{repaired}");
    assert_eq!(assert_extents_whole(&cache, "after repair"), 13);
    fx.assert_got(&fx.get(&cache, 0, &dead_gateway(), &[]), 0, "after repair");
}

/// SIGKILL while a preload assembles its extent (a temp extent file exists): nothing
/// committed is torn, every chunk is still cached (blocks go only after the commit), the
/// transaction reads back right with the gateway down, and the next preload sweeps the
/// dead writer's temp file and assembles the extent.
#[test]
fn a_preload_killed_while_assembling_its_extent_leaves_only_verified_data() {
    let size = 48 * M + 5;
    let fx = fixture(&[size], GatewayOptions::default());
    let id = fx.id(0);
    let mut landed = 0;
    for round in 0..3 {
        let what = format!("round {round}");
        let cache = fx.cache_dir(&format!("cache-{round}"));
        let mut preload = fx.spawn(&cache, &["preload", &id, "-q"], &what);
        let started = Instant::now();
        let assembling = |cache: &Path| {
            tmp_files(cache).iter().any(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .contains("-extent-")
            })
        };
        let killed = loop {
            if assembling(&cache) {
                break true;
            }
            if preload.exited().is_some() {
                break false;
            }
            assert!(started.elapsed() < COMMAND_TIMEOUT, "{what}: no progress");
            std::thread::sleep(Duration::from_micros(200));
        };
        let status = preload.sigkill();
        if killed {
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(libc::SIGKILL),
                "{what}: {status}"
            );
            landed += 1;
        }
        assert_chunks_whole(&cache, &format!("{what}: after the kill"));
        let info = fx.stat(&cache, 0);
        assert_eq!(num(&info, "bytes_cached"), size as u64, "{what}: {info}");
        fx.assert_got(&fx.get(&cache, 0, &dead_gateway(), &[]), 0, &what);

        fx.preload(&cache, std::slice::from_ref(&id), &[]);
        assert!(
            tmp_files(&cache).is_empty(),
            "{what}: {:?}",
            tmp_files(&cache)
        );
        assert_eq!(
            assert_extents_whole(&cache, &format!("{what}: after the next preload")),
            chunks(size) as usize
        );
        assert!(block_files(&cache).is_empty(), "{what}");
    }
    assert!(
        landed >= 2,
        "only {landed} of 3 kills landed during assembly"
    );
}

/// A cold `get` writes what it fetches straight into the extent (no block files, no
/// assembly after): the extent is whole, and serves the next `get` with the gateway down.
/// A `get` that fails half way (one chunk no gateway proves) keeps what it did fetch, as
/// blocks: the next `get` asks only for the rest.
#[test]
fn a_cold_get_fills_the_extent_and_a_failed_one_keeps_its_chunks() {
    let size = 6 * M + 77;
    let fx = fixture(&[size], GatewayOptions::default());
    let total = chunks(size);

    let cache = fx.cache_dir("filled");
    fx.assert_got(&fx.get(&cache, 0, &fx.url(), &[]), 0, "cold get");
    assert!(block_files(&cache).is_empty(), "{:?}", block_files(&cache));
    assert!(tmp_files(&cache).is_empty(), "{:?}", tmp_files(&cache));
    assert_eq!(assert_extents_whole(&cache, "after get") as u64, total);
    let info = fx.stat(&cache, 0);
    assert_eq!(num(&info, "bytes_cached"), size as u64, "{info}");
    fx.assert_got(&fx.get(&cache, 0, &dead_gateway(), &[]), 0, "warm get");
    let clean = fx.cache_cmd(&cache, &["verify"]);
    assert!(clean.contains(" 1 extents sound"), "{clean}");

    // Chunk 13 of 25, wrong at every request.
    let start = fx.gateway.data().tx(&fx.txs[0].0).unwrap().start_offset() + 13 * 256 * K as u64;
    let bad = Target::ChunkIn {
        start,
        end: start + 256 * K as u64,
    };
    let rule = fx.gateway.faults().always(bad, Fault::CorruptChunk);
    let cache = fx.cache_dir("failed");
    let out = fx.cache_dir("out.bin");
    let failed = fx.get(&cache, 0, &fx.url(), &["-o", out.to_str().unwrap()]);
    assert!(
        !failed.status.success(),
        "a get with a forged chunk succeeded"
    );
    assert!(fx.gateway.faults().fired(rule) > 0);
    fx.gateway.faults().clear();
    assert_eq!(assert_extents_whole(&cache, "after the failed get"), 0);
    assert!(tmp_files(&cache).is_empty(), "{:?}", tmp_files(&cache));
    // (Blocks reach the reader in order: the 13 before the forged one were all fetched.)
    let kept = assert_block_files_whole(&cache, "after the failed get") as u64;
    assert!(kept >= 13, "only {kept} chunks kept");
    assert!(!out.exists(), "a failed get left its output");
    fx.wait_for_quiet_gateway();
    fx.gateway.reset_stats();
    fx.assert_got(&fx.get(&cache, 0, &fx.url(), &[]), 0, "get again");
    assert_eq!(
        fx.gateway.stats().chunk,
        total - kept,
        "the retry fetched kept chunks"
    );
    assert_eq!(
        assert_extents_whole(&cache, "after the retry") as u64,
        total
    );
    assert!(block_files(&cache).is_empty(), "{:?}", block_files(&cache));
}

/// SIGKILL while a cold `get` fills its extent: nothing half-written is ever served (the
/// extent was a temp file, swept by the next process), and the next `get` reads it right.
#[test]
fn a_get_killed_while_filling_its_extent_leaves_only_verified_data() {
    let size = 32 * M + 5;
    let fx = fixture(&[size], slow_gateway());
    let cache = fx.cache_dir("killed");
    let out = fx.cache_dir("out.bin");
    let args = [
        "get",
        &fx.id(0),
        "-q",
        "--concurrency",
        "4",
        "-o",
        out.to_str().unwrap(),
    ];
    let mut get = fx.spawn(&cache, &args, "get");
    let started = Instant::now();
    let filling = |cache: &Path| {
        tmp_files(cache).iter().any(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.contains("-extent-") && p.metadata().is_ok_and(|m| m.len() > 4 * M as u64)
        })
    };
    while !filling(&cache) {
        assert!(
            get.exited().is_none(),
            "get ended before it could be killed"
        );
        assert!(started.elapsed() < COMMAND_TIMEOUT, "no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = get.sigkill();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "{status}"
    );
    assert!(!out.exists(), "a killed get left its output");
    assert_eq!(assert_extents_whole(&cache, "after the kill"), 0);
    assert_chunks_whole(&cache, "after the kill");
    fx.wait_for_quiet_gateway();
    fx.assert_got(&fx.get(&cache, 0, &fx.url(), &[]), 0, "get again");
    assert!(tmp_files(&cache).is_empty(), "{:?}", tmp_files(&cache));
    assert_eq!(
        assert_extents_whole(&cache, "after the next get") as u64,
        chunks(size)
    );
}
