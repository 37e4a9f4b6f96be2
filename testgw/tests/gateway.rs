//! The gateway speaks Arweave correctly: verifiable headers, chunk proofs at every offset,
//! ranges, stats, and the background and binary launchers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use common::*;
use sha2::{Digest, Sha256};
use weavedrive_cache::arweave::chunking::data_chunk_ranges;
use weavedrive_cache::arweave::merkle::verify_chunk;
use weavedrive_cache::arweave::{TxHeader, TxId};
use weavedrive_testgw::*;

const SIZES: [usize; 6] = [0, 1, 256 * K, 256 * K + 1, 256 * K + 20_000, 3 * K * K + 5];

#[tokio::test]
async fn headers_offsets_and_chunks_verify() {
    let (data, txs) = weave(&SIZES);
    let gw = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let url = gw.url();
    let client = reqwest::Client::new();
    for (id, bytes) in &txs {
        let size = bytes.len() as u64;
        let resp = client.get(format!("{url}/tx/{id}")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let header = TxHeader::from_json_verified(&resp.bytes().await.unwrap(), id).unwrap();
        assert_eq!(header.data_size, size);
        assert_eq!(header.owner, TestWallet::fixed().owner());

        let offset: serde_json::Value = json(
            client
                .get(format!("{url}/tx/{id}/offset"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(offset["size"], size.to_string());
        let end: u64 = offset["offset"].as_str().unwrap().parse().unwrap();
        let data_size = client
            .get(format!("{url}/tx/{id}/data_size"))
            .send()
            .await
            .unwrap();
        assert_eq!(data_size.text().await.unwrap(), size.to_string());

        let start = end + 1 - size;
        assert!(start >= WEAVE_START);
        let mut assembled = Vec::new();
        for range in data_chunk_ranges(size) {
            let mut first = None;
            for r in [range.start, (range.start + range.end) / 2, range.end - 1] {
                let c = get_chunk(&client, &url, start + r).await;
                assert_eq!((c.tx_path.as_str(), c.packing.as_str()), ("", "unpacked"));
                let root = header.data_root.unwrap();
                let leaf = verify_chunk(&root, size, r, &c.path(), &c.chunk())
                    .unwrap_or_else(|e| panic!("size {size} offset {r}: {e}"));
                assert_eq!(leaf.range(), range);
                first.get_or_insert(c.chunk());
            }
            assembled.extend(first.unwrap());
        }
        assert_eq!(assembled, &bytes[..], "size {size}");
        // Just past the data is a gap, never a chunk.
        let after = client
            .get(format!("{url}/chunk/{}", end + 1))
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), 404);
    }
    let before = client
        .get(format!("{url}/chunk/{}", WEAVE_START - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 404);
    let unknown = TxId([9; 32]);
    for path in [
        format!("/tx/{unknown}"),
        format!("/tx/{unknown}/offset"),
        format!("/{unknown}"),
    ] {
        assert_eq!(
            client
                .get(format!("{url}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    }
    for path in ["/tx/not-an-id", "/tx/abc/offset", "/chunk/x", "/raw/short"] {
        assert_eq!(
            client
                .get(format!("{url}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
    }
    let info: serde_json::Value =
        json(client.get(format!("{url}/info")).send().await.unwrap()).await;
    assert_eq!(info["height"], SIZES.len());
    gw.shutdown().await;
}

#[tokio::test]
async fn data_and_ranges() {
    let (data, txs) = weave(&[0, 1000, 600 * K]);
    let gw = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let url = gw.url();
    let client = reqwest::Client::new();
    let (id, bytes) = &txs[2];
    for prefix in ["", "raw/"] {
        let resp = client
            .get(format!("{url}/{prefix}{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        assert_eq!(resp.headers()["accept-ranges"], "bytes");
        assert_eq!(resp.bytes().await.unwrap(), bytes);
    }
    let get_range = |range: &'static str| {
        let client = client.clone();
        let url = format!("{url}/raw/{id}");
        async move { client.get(url).header("Range", range).send().await.unwrap() }
    };
    let size = bytes.len();
    for (range, want) in [
        ("bytes=0-0", 0..1),
        ("bytes=1000-299999", 1000..300_000),
        ("bytes=600000-", 600_000..size),
        ("bytes=-100", size - 100..size),
        ("bytes=5-99999999", 5..size),
    ] {
        let resp = get_range(range).await;
        assert_eq!(resp.status(), 206, "{range}");
        let content_range = format!("bytes {}-{}/{size}", want.start, want.end - 1);
        assert_eq!(resp.headers()["content-range"], content_range.as_str());
        assert_eq!(resp.bytes().await.unwrap(), &bytes[want]);
    }
    let resp = get_range("bytes=614400-").await;
    assert_eq!(resp.status(), 416);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );

    let head = client.head(format!("{url}/{id}")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], size.to_string().as_str());
    let empty = client
        .get(format!("{url}/{}", txs[0].0))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (empty.status().as_u16(), empty.bytes().await.unwrap().len()),
        (200, 0)
    );
    let stats = gw.stats();
    assert_eq!(stats.data, 10);
    assert_eq!(stats.requests(), 10);
    gw.reset_stats();
    assert_eq!(gw.stats(), Stats::default());
    gw.shutdown().await;

    // Like plain nodes: Range ignored.
    let (data, txs) = weave(&[1000]);
    let opts = GatewayOptions {
        range_support: false,
        ..Default::default()
    };
    let gw = TestGateway::start(data, opts).await.unwrap();
    let resp = client
        .get(format!("{}/{}", gw.url(), txs[0].0))
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("accept-ranges").is_none());
    assert_eq!(resp.bytes().await.unwrap().len(), 1000);
}

#[tokio::test]
async fn stats_count_endpoints_and_bytes() {
    let (data, txs) = weave(&[100 * K]);
    let gw = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let id = txs[0].0;
    for path in [
        format!("/tx/{id}"),
        format!("/tx/{id}/offset"),
        format!("/{id}"),
        "/info".into(),
    ] {
        client
            .get(format!("{}{path}", gw.url()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    get_chunk(&client, &gw.url(), WEAVE_START).await;
    let stats = gw.stats();
    assert_eq!(
        (stats.tx, stats.offset, stats.chunk, stats.data, stats.other),
        (1, 1, 1, 1, 1)
    );
    assert!(stats.body_bytes > 100 * K as u64 * 7 / 3, "{stats:?}");
    assert_eq!(stats.connections, 1, "the client reuses its connection");
}

/// Sync callers: the gateway runs on its own thread until the guard drops.
#[test]
fn background_gateway_serves_sync_callers() {
    let (data, txs) = weave(&[5000]);
    let gw = TestGateway::spawn_background(data, GatewayOptions::default()).unwrap();
    let addr = gw.addr();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        txs[0].0
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200"));
    assert!(reply.ends_with(&txs[0].1));
    assert_eq!(gw.stats().data, 1);
    drop(gw);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped on drop"
    );
}

#[test]
fn binary_prints_txs_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weavedrive-testgw"))
        .args([
            "--random",
            "1000,300KiB",
            "--seed",
            "5",
            "--latency-ms",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut txs = Vec::new();
    let url = loop {
        let line = lines.next().expect("READY line").unwrap();
        if let Some(url) = line.strip_prefix("READY ") {
            break url.to_string();
        }
        txs.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    };
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1]["size"], 300 * 1024);
    let addr = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let id = txs[1]["id"].as_str().unwrap();
    write!(
        stream,
        "GET /raw/{id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let body = &reply[reply.len() - 300 * 1024..];
    assert_eq!(hex_sha256(body), txs[1]["sha256"].as_str().unwrap());
    // SIGTERM stops it cleanly.
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
