//! The shared tier against a real S3-protocol server (moto's server mode, installed by the
//! test command, run here as its own process on 127.0.0.1): hosts are `weavedrive` processes
//! with separate local caches sharing one bucket. A cold host reads what another verified
//! with no gateway request; tampered blocks, proofs and headers are caught (right bytes from
//! the gateway, or an error with none) and replaced; the metrics endpoint counts the reads.

#[path = "common/fuse.rs"]
mod fuse;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fuse::{Mounted, fuse_available};
use weavedrive_cache::TxId;
use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_testgw::items::{BundleItem, nested_bundle_item, signed_item, tags};
use weavedrive_testgw::{
    BackgroundGateway, GatewayData, GatewayOptions, TestGateway, TestWallet, pseudo_random_data,
};

const BUCKET: &str = "fleet";

/// A moto S3 server process, killed on drop.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> S3Server {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto[server] (scripts/test.sh installs it)");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server.python(&format!("s3.create_bucket(Bucket='{BUCKET}')"));
        server
    }

    /// Runs `code` with `s3`, a boto3 client on this server; returns its stdout.
    fn python(&self, code: &str) -> String {
        String::from_utf8(self.python_bytes(code)).unwrap()
    }

    fn python_bytes(&self, code: &str) -> Vec<u8> {
        let script = format!(
            "import boto3, json, sys\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='test', \
             aws_secret_access_key='test', region_name='us-east-1')\n{code}\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        let code = format!(
            "p = s3.get_paginator('list_objects_v2')\n\
             for page in p.paginate(Bucket='{BUCKET}', Prefix='{prefix}'):\n    \
             for o in page.get('Contents', []): print(o['Key'])"
        );
        self.python(&code).lines().map(str::to_string).collect()
    }

    fn object(&self, key: &str) -> Vec<u8> {
        self.python_bytes(&format!(
            "sys.stdout.buffer.write(s3.get_object(Bucket='{BUCKET}', Key='{key}')['Body'].read())"
        ))
    }

    /// Replaces object `key` with what `transform` (Python, on `b`, a bytearray) makes of it.
    fn tamper(&self, key: &str, transform: &str) {
        self.python(&format!(
            "b = bytearray(s3.get_object(Bucket='{BUCKET}', Key='{key}')['Body'].read())\n\
             {transform}\n\
             s3.put_object(Bucket='{BUCKET}', Key='{key}', Body=bytes(b))"
        ));
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a host reads the bucket at `endpoint` with (object_store's usual S3
/// variables).
fn s3_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("WEAVEDRIVE_SHARED_CACHE");
}

const TIER: &str = "s3://fleet/weave";

/// A host: a local cache directory of its own, and the S3 endpoint it reads the tier at.
struct Host {
    dir: PathBuf,
    endpoint: String,
}

impl Host {
    fn new(root: &Path, name: &str, s3: &S3Server) -> Host {
        Host::at(root, name, &s3.endpoint)
    }

    fn at(root: &Path, name: &str, endpoint: &str) -> Host {
        Host {
            dir: root.join(name),
            endpoint: endpoint.to_string(),
        }
    }

    fn weavedrive(&self, args: &[&str], gateway: &str, tier: bool) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weavedrive"));
        cmd.args(args)
            .args(["--gateway", gateway, "--timeout", "3", "--retries", "1"])
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .stdin(Stdio::null());
        if tier {
            cmd.args(["--shared-cache", TIER]);
        }
        s3_env(&mut cmd, &self.endpoint);
        cmd.output().unwrap()
    }

    /// `get ID -o FILE` through the tier: the bytes, or the error text.
    fn get(&self, id: &TxId, gateway: &str) -> Result<(Vec<u8>, String), String> {
        let out_file = self.dir.join(format!("{id}.out"));
        let _ = std::fs::remove_file(&out_file);
        std::fs::create_dir_all(&self.dir).unwrap();
        let out = self.weavedrive(
            &[
                "get",
                &id.to_string(),
                "-o",
                out_file.to_str().unwrap(),
                "--quiet",
            ],
            gateway,
            true,
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            assert!(
                !out_file.exists(),
                "a failed get left {}",
                out_file.display()
            );
            return Err(stderr);
        }
        Ok((std::fs::read(&out_file).unwrap(), stderr))
    }
}

struct Fixture {
    gateway: BackgroundGateway,
    tx: (TxId, Bytes),
    item: (TxId, Bytes),
    nested: (TxId, Bytes),
    other_tx: (TxId, Bytes),
    /// A nested item in a bundle of its own, for `preload --shared` to seed.
    other_nested: (TxId, Bytes),
}

fn item(seed: u64, size: usize) -> ((TxId, Bytes), BundleItem) {
    let data = pseudo_random_data(seed, size);
    let tags = tags(&[("App-Name", "shared-cache-test")]);
    let bundled = BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &tags,
        &data,
    ));
    ((bundled.id, data), bundled)
}

fn fixture() -> Fixture {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 19);
    let tx_data = pseudo_random_data(1, 3 * 256 * 1024 + 1000);
    let tx = data.add_tx(tx_data.clone(), vec![]);
    let other_data = pseudo_random_data(2, 2 * 256 * 1024 + 77);
    let other_tx = data.add_tx(other_data.clone(), vec![]);
    let (padding, padding_b) = item(3, 600_000);
    let (plain, plain_b) = item(4, 700_000);
    let (nested, nested_b) = item(5, 300_000);
    let _ = padding;
    data.add_bundle(
        &[padding_b, plain_b, nested_bundle_item(&[nested_b])],
        vec![],
    );
    let (other_nested, other_nested_b) = item(6, 500_000);
    let (other_padding, other_padding_b) = item(7, 400_000);
    let _ = other_padding;
    data.add_bundle(
        &[nested_bundle_item(&[other_padding_b, other_nested_b])],
        vec![],
    );
    Fixture {
        gateway: TestGateway::spawn_background(data, GatewayOptions::default()).unwrap(),
        tx: (tx, tx_data),
        item: plain,
        nested,
        other_tx: (other_tx, other_data),
        other_nested,
    }
}

/// A port nothing listens on now (a server about to be started takes it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A gateway address nothing listens on: every gateway down.
fn dead_gateway() -> String {
    let port = free_port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn a_cold_host_reads_what_another_verified_with_no_gateway_request() {
    let s3 = S3Server::start();
    let fx = fixture();
    let root = tempfile::tempdir().unwrap();
    let url = fx.gateway.url();
    let a = Host::new(root.path(), "a", &s3);
    for (id, data) in [&fx.tx, &fx.item, &fx.nested] {
        let (got, _) = a.get(id, &url).unwrap();
        assert!(got == *data, "host A read {id}");
    }
    assert!(
        !s3.keys("weave/blocks/").is_empty(),
        "write-back uploaded blocks"
    );
    assert!(
        !s3.keys("weave/proofs/").is_empty(),
        "write-back uploaded proofs"
    );
    assert_eq!(s3.keys("weave/items/").len(), 2, "both item records");

    // Host B, cold, with the gateway up but counting: not one request reaches it.
    fx.gateway.reset_stats();
    let b = Host::new(root.path(), "b", &s3);
    for (id, data) in [&fx.tx, &fx.item, &fx.nested] {
        let (got, _) = b.get(id, &url).unwrap();
        assert!(got == *data, "host B read {id} from the shared cache");
    }
    assert_eq!(fx.gateway.stats().requests(), 0, "host B asked the gateway");

    // Host C, cold, with every gateway down.
    let dead = dead_gateway();
    let c = Host::new(root.path(), "c", &s3);
    for (id, data) in [&fx.tx, &fx.item, &fx.nested] {
        let (got, _) = c.get(id, &dead).unwrap();
        assert!(got == *data, "host C read {id} with no gateway");
    }

    // `preload --shared` seeds what a host had cached before it knew the tier: host D
    // preloads without it, then seeds; host E reads with no gateway.
    let d = Host::new(root.path(), "d", &s3);
    let seeded = [&fx.other_tx, &fx.other_nested];
    let ids: Vec<String> = seeded.iter().map(|(id, _)| id.to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let out = d.weavedrive(&[&["preload", "--quiet"], &ids[..]].concat(), &url, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        s3.keys(&format!("weave/tx/{}/", ids[0])).is_empty(),
        "no tier yet"
    );
    let out = d.weavedrive(&[&["preload", "--shared"], &ids[..]].concat(), &url, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("in the shared cache").count(), 2, "{stderr}");
    let e = Host::new(root.path(), "e", &s3);
    for (id, data) in seeded {
        let (got, _) = e.get(id, &dead).unwrap();
        assert!(got == *data, "host E read the seeded {id} with no gateway");
    }
}

#[test]
fn a_tier_that_is_down_or_silent_costs_time_never_a_read() {
    let fx = fixture();
    let root = tempfile::tempdir().unwrap();
    let url = fx.gateway.url();
    // Silent: accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    for (name, endpoint) in [("down", dead_gateway()), ("silent", silent_url)] {
        let host = Host::at(root.path(), name, &endpoint);
        let started = Instant::now();
        let (got, stderr) = host.get(&fx.tx.0, &url).unwrap();
        let took = started.elapsed();
        assert!(got == fx.tx.1, "{name}: wrong bytes");
        assert_eq!(
            stderr.matches("shared cache not answering").count(),
            1,
            "{name}: said once: {stderr}"
        );
        // Three small requests of 3 s at most before the tier counts as down; the gateway's
        // reads are not held up after that.
        assert!(took < Duration::from_secs(40), "{name}: took {took:?}");
    }
}

/// The proof object of the chunk at `start` of `id`'s data (its data_root from the header
/// in the tier).
fn proof_key(s3: &S3Server, id: &TxId, start: u64) -> String {
    let header: serde_json::Value =
        serde_json::from_slice(&s3.object(&format!("weave/tx/{id}/header.json"))).unwrap();
    let root = header["data_root"].as_str().unwrap();
    format!("weave/proofs/{root}/{start}")
}

#[test]
fn tampered_blocks_proofs_and_headers_are_caught_and_replaced() {
    let s3 = S3Server::start();
    let fx = fixture();
    let root = tempfile::tempdir().unwrap();
    let (url, dead) = (fx.gateway.url(), dead_gateway());
    let a = Host::new(root.path(), "a", &s3);
    let id = &fx.tx.0;
    assert!(a.get(id, &url).unwrap().0 == fx.tx.1);

    // The second chunk's proof names its block.
    let proof = proof_key(&s3, id, 256 * 1024);
    let path = s3.object(&proof);
    let block = format!(
        "weave/blocks/{}",
        hex::encode(&path[path.len() - 64..path.len() - 32])
    );
    let header = format!("weave/tx/{id}/header.json");
    // Host A read the item too, so the tier holds its record.
    assert!(a.get(&fx.item.0, &url).unwrap().0 == fx.item.1);
    let item = format!("weave/items/{}.json", fx.item.0);
    let cases = [
        ("shared_block", block.as_str(), "b[100] ^= 1", &fx.tx),
        (
            "shared_proof",
            proof.as_str(),
            "b[len(b) - 70] ^= 1",
            &fx.tx,
        ),
        (
            "shared_header",
            header.as_str(),
            "h = json.loads(bytes(b)); h['reward'] = '1'; b = bytearray(json.dumps(h).encode())",
            &fx.tx,
        ),
        // An item record placing the item where its bundle has none (its index).
        (
            "shared_item",
            item.as_str(),
            "h = json.loads(bytes(b)); h['item_offset'] = 0; b = bytearray(json.dumps(h).encode())",
            &fx.item,
        ),
    ];
    for (n, (kind, key, transform, (id, data))) in cases.into_iter().enumerate() {
        let original = s3.object(key);
        s3.tamper(key, transform);
        assert_ne!(s3.object(key), original, "{kind}: tampering took");

        // No gateway: an error, never the tampered bytes (and no output file).
        let offline = Host::new(root.path(), &format!("offline-{n}"), &s3);
        let error = offline.get(id, &dead).unwrap_err();
        assert!(
            error.contains("shared cache served data that failed verification"),
            "{kind}: {error}"
        );
        assert!(error.contains(kind), "{kind} was not the failure: {error}");

        // A gateway: the right bytes, the tampering said once, and the object replaced by
        // the verified copy.
        let online = Host::new(root.path(), &format!("online-{n}"), &s3);
        let (got, stderr) = online.get(id, &url).unwrap();
        assert!(got == *data, "{kind}: wrong bytes");
        assert!(stderr.contains(kind), "{kind} not reported: {stderr}");
        assert_eq!(
            stderr
                .matches("shared cache served data that failed")
                .count(),
            1,
            "{kind}: said once: {stderr}"
        );
        assert_eq!(
            s3.object(key),
            original,
            "{kind}: the tier was not repaired"
        );
    }
}

/// `GET /metrics` on `addr`, as Prometheus would scrape it.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        })
        .map_or(0, |v| v as u64)
}

#[test]
fn the_metrics_endpoint_counts_reads_by_source() {
    if !fuse_available() {
        return;
    }
    let s3 = S3Server::start();
    let fx = fixture();
    let root = tempfile::tempdir().unwrap();
    let url = fx.gateway.url();
    // Host A puts the first transaction in the tier.
    let a = Host::new(root.path(), "a", &s3);
    assert!(a.get(&fx.tx.0, &url).unwrap().0 == fx.tx.1);

    fx.gateway.reset_stats();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = root.path().join("mount");
    std::fs::create_dir_all(&dir).unwrap();
    let mount = with_s3_env(&s3, || {
        Mounted::start(&url, &dir, &["--shared-cache", TIER, "--metrics", &addr])
    });
    let before = scrape(&addr);
    assert_eq!(sample(&before, "weavedrive_open_handles"), 0, "{before}");

    // From the tier: every byte of the first transaction, no gateway request.
    let got = std::fs::read(mount.data(&fx.tx.0)).unwrap();
    assert!(got == fx.tx.1);
    let text = scrape(&addr);
    let shared = sample(&text, "weavedrive_bytes_total{source=\"shared\"}");
    assert_eq!(shared, fx.tx.1.len() as u64, "{text}");
    assert_eq!(
        sample(&text, "weavedrive_bytes_total{source=\"gateway\"}"),
        0
    );
    assert_eq!(fx.gateway.stats().requests(), 0);
    // The file was closed (FUSE's release comes just after the read returns).
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&scrape(&addr), "weavedrive_open_handles") != 0 {
        assert!(Instant::now() < deadline, "a handle stayed open");
        std::thread::sleep(Duration::from_millis(50));
    }

    // From the gateway: the second one, counted per gateway and written back.
    let got = std::fs::read(mount.data(&fx.other_tx.0)).unwrap();
    assert!(got == fx.other_tx.1);
    let text = scrape(&addr);
    let gateway_bytes = sample(&text, "weavedrive_bytes_total{source=\"gateway\"}");
    assert_eq!(gateway_bytes, fx.other_tx.1.len() as u64, "{text}");
    let chunks = fx.other_tx.1.len().div_ceil(256 * 1024) as u64;
    let ok_requests =
        format!("weavedrive_gateway_requests_total{{gateway=\"{url}\",outcome=\"ok\"}}");
    assert!(sample(&text, &ok_requests) > chunks, "{text}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(&addr);
        // Blocks and proofs of every chunk, its header and offset.
        if sample(
            &text,
            "weavedrive_shared_uploads_total{result=\"uploaded\"}",
        ) >= 2 * chunks + 2
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "write-back did not happen: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        sample(
            &text,
            "weavedrive_verification_failures_total{kind=\"shared_block\"}"
        ),
        0
    );
    mount.stop();
}

/// Runs `f` with the S3 variables set in this process (for children it starts).
fn with_s3_env<T>(s3: &S3Server, f: impl FnOnce() -> T) -> T {
    let vars = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    for (name, value) in vars {
        // SAFETY: each test binary's tests run in their own process under nextest.
        unsafe { std::env::set_var(name, value) };
    }
    f()
}
