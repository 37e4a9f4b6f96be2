//! Every fault fires exactly as often as asked and then stops; pacing and latency hold.

mod common;

use std::time::{Duration, Instant};

use common::*;
use weavedrive_cache::arweave::merkle::{verify_chunk, verify_path};
use weavedrive_cache::arweave::{ProofError, TxError, TxHeader};
use weavedrive_testgw::*;

struct Fixture {
    gw: TestGateway,
    client: reqwest::Client,
    txs: Vec<(weavedrive_cache::arweave::TxId, bytes::Bytes)>,
}

impl Fixture {
    async fn new(opts: GatewayOptions) -> Fixture {
        let (data, txs) = weave(&[600 * K, 0, 1000]);
        Fixture {
            gw: TestGateway::start(data, opts).await.unwrap(),
            client: reqwest::Client::new(),
            txs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gw.url())
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client.get(self.url(path)).send().await
    }

    /// A whole, unfaulted body (checks that a fault has stopped firing).
    async fn body(&self, path: &str) -> bytes::Bytes {
        self.get(path).await.unwrap().bytes().await.unwrap()
    }

    /// Fetches and verifies the chunk holding byte `r` of the big tx.
    async fn chunk(&self, r: u64) -> Result<(), ProofError> {
        let tx = self.gw.data().tx(&self.txs[0].0).unwrap();
        let c = get_chunk(&self.client, &self.gw.url(), tx.start_offset() + r).await;
        let root = tx.header.data_root.unwrap();
        verify_chunk(&root, tx.size(), r, &c.path(), &c.chunk()).map(drop)
    }

    async fn header(&self, i: usize) -> Result<TxHeader, TxError> {
        let id = self.txs[i].0;
        let body = self
            .get(&format!("/tx/{id}"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        TxHeader::from_json_verified(&body, &id)
    }
}

#[tokio::test]
async fn status_faults_count_down() {
    let f = Fixture::new(GatewayOptions::default()).await;
    let rule = f.gw.faults().inject(Target::Chunk, Fault::Status(503), 2);
    let path = format!("/chunk/{WEAVE_START}");
    // Other endpoints do not use up a chunk rule.
    assert_eq!(f.get("/info").await.unwrap().status(), 200);
    assert_eq!(f.get(&path).await.unwrap().status(), 503);
    assert_eq!(f.get(&path).await.unwrap().status(), 503);
    assert_eq!(f.get(&path).await.unwrap().status(), 200);
    assert_eq!(f.gw.faults().fired(rule), 2);
    assert_eq!(f.gw.faults().status(rule).remaining, 0);

    let always = f.gw.faults().always(Target::Any, Fault::Status(429));
    for _ in 0..3 {
        assert_eq!(f.get("/info").await.unwrap().status(), 429);
    }
    f.gw.faults().clear();
    assert_eq!(f.get("/info").await.unwrap().status(), 200);
    assert_eq!(f.gw.faults().fired(always), 3);
    assert_eq!(f.gw.faults().total_fired(), 5);
}

#[tokio::test]
async fn content_faults_are_caught_by_verification() {
    let f = Fixture::new(GatewayOptions::default()).await;
    let faults = f.gw.faults();

    let rule = faults.inject(Target::Chunk, Fault::CorruptChunk, 2);
    assert_eq!(f.chunk(0).await, Err(ProofError::DataHash));
    assert_eq!(f.chunk(400_000).await, Err(ProofError::DataHash));
    assert_eq!(f.chunk(0).await, Ok(()));
    assert_eq!(faults.fired(rule), 2);

    let rule = faults.inject(Target::Chunk, Fault::ShortChunk, 1);
    assert!(matches!(
        f.chunk(5).await,
        Err(ProofError::ChunkLength { .. })
    ));
    assert_eq!(f.chunk(5).await, Ok(()));
    assert_eq!(faults.fired(rule), 1);

    let rule = faults.inject(Target::Chunk, Fault::ForgeProof, 2);
    for r in [0, 599_999] {
        let err = f.chunk(r).await.unwrap_err();
        assert!(matches!(
            err,
            ProofError::HashMismatch(_) | ProofError::LeafBounds { .. }
        ));
    }
    assert_eq!(f.chunk(599_999).await, Ok(()));
    assert_eq!(faults.fired(rule), 2);

    // A single-chunk tx gets a flipped byte instead of another chunk's proof.
    faults.inject(Target::Chunk, Fault::ForgeProof, 1);
    let small = f.gw.data().tx(&f.txs[2].0).unwrap();
    let c = get_chunk(&f.client, &f.gw.url(), small.start_offset()).await;
    let root = small.header.data_root.unwrap();
    assert!(verify_path(&root, 1000, 0, &c.path()).is_err());
    assert_eq!(c.chunk(), &f.txs[2].1[..]);

    let rule = faults.inject(Target::TxHeader, Fault::WrongHeader, 2);
    assert_eq!(f.header(0).await.unwrap_err(), TxError::BadSignature);
    assert_eq!(
        f.header(1).await.unwrap_err(),
        TxError::BadSignature,
        "empty tx: tags altered"
    );
    assert!(f.header(0).await.is_ok());
    assert_eq!(faults.fired(rule), 2);

    // CorruptChunk on data bodies flips exactly one byte; ranges too.
    let rule = faults.inject(Target::Data, Fault::CorruptChunk, 2);
    let id = f.txs[0].0;
    let body = f
        .get(&format!("/{id}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let diff = body
        .iter()
        .zip(&f.txs[0].1[..])
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!((body.len(), diff), (600 * K, 1));
    let ranged = f
        .client
        .get(f.url(&format!("/raw/{id}")))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_ne!(ranged.bytes().await.unwrap(), f.txs[0].1.slice(10..20));
    let body = f
        .get(&format!("/{id}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, f.txs[0].1);
    assert_eq!(faults.fired(rule), 2);
}

#[tokio::test]
async fn connection_faults() {
    let f = Fixture::new(GatewayOptions::default()).await;
    let faults = f.gw.faults();
    let addr = f.gw.addr();
    let id = f.txs[0].0;
    let size = f.txs[0].1.len();

    let rule = faults.inject(Target::TxHeader, Fault::ResetBeforeResponse, 1);
    let raw = raw_get(addr, &format!("/tx/{id}")).await;
    assert!(
        raw.head.is_empty() && raw.body.is_empty(),
        "nothing answered"
    );
    assert!(f.header(0).await.is_ok());
    assert_eq!(faults.fired(rule), 1);

    let rule = faults.inject(Target::Data, Fault::Truncate, 1);
    let raw = raw_get(addr, &format!("/{id}")).await;
    assert!(raw.head.starts_with("HTTP/1.1 200"), "{}", raw.head);
    assert_eq!(raw.content_length(), size);
    // Half is sent; on a very loaded box less may have been flushed before the close.
    assert!(
        !raw.body.is_empty() && raw.body.len() <= size / 2,
        "{}",
        raw.body.len()
    );
    assert_eq!(raw.body, f.txs[0].1[..raw.body.len()]);
    assert!(raw.ended.is_ok(), "closed, not reset: {:?}", raw.ended);
    // reqwest sees the short body as an error.
    faults.inject(Target::Data, Fault::Truncate, 1);
    let resp = f.get(&format!("/{id}")).await.unwrap();
    assert!(resp.bytes().await.is_err());
    assert_eq!(f.body(&format!("/{id}")).await, f.txs[0].1);
    assert_eq!(faults.fired(rule), 1);

    let rule = faults.inject(Target::Data, Fault::ResetMidBody, 1);
    let raw = raw_get(addr, &format!("/{id}")).await;
    assert!(raw.head.starts_with("HTTP/1.1 200"), "{}", raw.head);
    assert!(raw.body.len() < size);
    let reset = raw.ended.expect_err("connection reset");
    assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(f.body(&format!("/{id}")).await, f.txs[0].1);
    assert_eq!(faults.fired(rule), 1);

    // Truncation needs a body: HEAD requests do not use the rule up.
    faults.inject(Target::Data, Fault::Truncate, 1);
    let head = f
        .client
        .head(f.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(
        f.get(&format!("/{id}"))
            .await
            .unwrap()
            .bytes()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn hang_and_latency() {
    let opts = GatewayOptions {
        latency: Duration::from_millis(50),
        ..Default::default()
    };
    let f = Fixture::new(opts).await;
    let faults = f.gw.faults();

    let started = Instant::now();
    assert_eq!(f.get("/info").await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(50));

    let slow = faults.inject(
        Target::Offset,
        Fault::Latency(Duration::from_millis(200)),
        1,
    );
    let status = faults.inject(Target::Offset, Fault::Status(500), 1);
    let started = Instant::now();
    let path = format!("/tx/{}/offset", f.txs[0].0);
    assert_eq!(
        f.get(&path).await.unwrap().status(),
        500,
        "latency stacks with a status"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!((faults.fired(slow), faults.fired(status)), (1, 1));

    let hang = faults.inject(Target::Any, Fault::Hang, 1);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let err = client.get(f.url("/info")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(
        client.get(f.url("/info")).send().await.unwrap().status(),
        200
    );
    assert_eq!(faults.fired(hang), 1);

    // A hung request does not hold up shutdown.
    faults.inject(Target::Any, Fault::Hang, 1);
    let pending = tokio::spawn(f.client.get(f.url("/info")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), f.gw.shutdown())
        .await
        .unwrap();
    assert!(pending.await.unwrap().is_err());
}

/// Sanity, not a benchmark: bounds are loose for a loaded 2-core box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_is_capped_per_connection() {
    const RATE: u64 = 25 << 20;
    let (data, txs) = weave(&[8 << 20]);
    let opts = GatewayOptions {
        bandwidth_per_connection: Some(RATE),
        ..Default::default()
    };
    let gw = TestGateway::start(data, opts).await.unwrap();
    let url = format!("{}/{}", gw.url(), txs[0].0);
    let client = reqwest::Client::new();

    let started = Instant::now();
    let body = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let single = started.elapsed();
    assert_eq!(body, txs[0].1);
    assert!(
        single >= Duration::from_millis(300),
        "8 MiB at 25 MiB/s took {single:?}"
    );
    assert!(
        single < Duration::from_millis(1500),
        "8 MiB at 25 MiB/s took {single:?}"
    );

    // Two connections at once: each gets the full rate, so together not much slower.
    gw.reset_stats();
    let started = Instant::now();
    let fetch = || {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await.unwrap().bytes().await.unwrap() })
    };
    let (a, b) = (fetch(), fetch());
    assert_eq!(a.await.unwrap().len() + b.await.unwrap().len(), 16 << 20);
    let double = started.elapsed();
    assert_eq!(
        gw.stats().connections,
        1,
        "one new connection beside the pooled one"
    );
    assert!(
        double < single.mul_f64(1.6),
        "two connections took {double:?}, one took {single:?}"
    );
}
