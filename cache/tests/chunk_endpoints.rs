//! Chunks from ar.io's binary endpoint (`/chunk/{offset}/data`, the proof in headers) where a
//! gateway serves it, from the JSON endpoint where it does not (Arweave nodes, arlocal), and
//! proven the same way from either: a forged binary chunk is refused like a forged JSON one.

use std::sync::Arc;
use std::time::Duration;

use weavedrive_cache::{GatewayClient, GatewayConfig, GatewayError, TxId, VerifiedTx};
use weavedrive_testgw::{
    Fault, GatewayData, GatewayOptions, Target, TestGateway, TestWallet, pseudo_random_data,
};

const SIZE: usize = 3 * 1024 * 1024 + 12_345;
const CHUNKS: usize = SIZE.div_ceil(256 * 1024);

async fn gateway(binary_chunks: bool) -> (TestGateway, TxId) {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 7);
    let tx = data.add_tx(pseudo_random_data(3, SIZE), vec![]);
    let options = GatewayOptions {
        binary_chunks,
        ..GatewayOptions::default()
    };
    let gateway = TestGateway::start(data, options).await.unwrap();
    gateway.log_requests();
    (gateway, tx)
}

fn client(gateways: Vec<String>) -> Arc<GatewayClient> {
    Arc::new(
        GatewayClient::new(GatewayConfig {
            gateways,
            retries: 1,
            backoff: Duration::from_millis(10),
            ..GatewayConfig::default()
        })
        .unwrap(),
    )
}

/// Reads the whole transaction through `client`, `window` chunks at a time.
async fn read_all(
    client: &Arc<GatewayClient>,
    id: &TxId,
    window: usize,
) -> Result<Vec<u8>, GatewayError> {
    let tx = VerifiedTx::open(client, id).await?;
    let mut stream = tx.stream(client.clone(), window);
    let mut data = Vec::new();
    while let Some(piece) = stream.next().await {
        data.extend_from_slice(&piece?);
    }
    Ok(data)
}

/// The chunk requests in `gateway`'s log: (binary, JSON), each as (answered 200, other).
fn chunk_requests(gateway: &TestGateway) -> ((usize, usize), (usize, usize)) {
    let (mut binary, mut json) = ((0, 0), (0, 0));
    for record in gateway.request_log() {
        if !record.path.starts_with("/chunk/") {
            continue;
        }
        let count = if record.path.ends_with("/data") {
            &mut binary
        } else {
            &mut json
        };
        if record.status == 200 {
            count.0 += 1;
        } else {
            count.1 += 1;
        }
    }
    (binary, json)
}

#[tokio::test]
async fn an_ar_io_gateway_serves_every_chunk_binary_in_three_quarters_of_the_bytes() {
    let (binary_gateway, tx) = gateway(true).await;
    let data = read_all(&client(vec![binary_gateway.url()]), &tx, 4)
        .await
        .unwrap();
    assert!(data == pseudo_random_data(3, SIZE));
    assert_eq!(chunk_requests(&binary_gateway), ((CHUNKS, 0), (0, 0)));

    // The same read from a gateway with JSON only: the bytes on the wire, compared.
    let (json_gateway, json_tx) = gateway(false).await;
    assert_eq!(json_tx, tx);
    let data = read_all(&client(vec![json_gateway.url()]), &tx, 4)
        .await
        .unwrap();
    assert!(data == pseudo_random_data(3, SIZE));
    let (binary_bytes, json_bytes) = (
        binary_gateway.stats().body_bytes,
        json_gateway.stats().body_bytes,
    );
    assert!(
        (binary_bytes as f64) < 0.8 * json_bytes as f64,
        "binary {binary_bytes} B against JSON {json_bytes} B"
    );
}

#[tokio::test]
async fn a_gateway_without_binary_chunks_is_asked_for_json_after_its_first_miss() {
    let (gateway, tx) = gateway(false).await;
    let window = 4;
    let data = read_all(&client(vec![gateway.url()]), &tx, window)
        .await
        .unwrap();
    assert!(data == pseudo_random_data(3, SIZE));
    let ((binary_ok, binary_missed), (json_ok, json_other)) = chunk_requests(&gateway);
    assert_eq!((binary_ok, json_ok, json_other), (0, CHUNKS, 0));
    // Only the requests already under way when the first miss came back asked for binary.
    assert!(
        (1..=window).contains(&binary_missed),
        "{binary_missed} binary misses"
    );
}

#[tokio::test]
async fn a_chunk_missing_everywhere_is_not_found_after_asking_each_endpoint_once() {
    let (gateway, tx) = gateway(true).await;
    gateway.faults().always(Target::Chunk, Fault::Status(404));
    let error = read_all(&client(vec![gateway.url()]), &tx, 1)
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
    // Not yet known to serve binary: its binary miss may mean "no such endpoint", so the
    // JSON endpoint was asked too, and then no more.
    assert_eq!(chunk_requests(&gateway), ((0, 1), (0, 1)));
}

#[tokio::test]
async fn a_forged_binary_chunk_is_refused_and_the_next_gateway_asked() {
    for fault in [Fault::CorruptChunk, Fault::ForgeProof, Fault::ShortChunk] {
        let (liar, tx) = gateway(true).await;
        let (honest, _) = gateway(true).await;
        let rule = liar.faults().always(Target::Chunk, fault);

        let alone = read_all(&client(vec![liar.url()]), &tx, 4).await;
        let error = alone.expect_err("a forged chunk was accepted");
        assert!(
            error.to_string().contains(&liar.url()),
            "{fault:?}: {error}"
        );

        let data = read_all(&client(vec![liar.url(), honest.url()]), &tx, 4)
            .await
            .unwrap();
        assert!(data == pseudo_random_data(3, SIZE), "{fault:?}");
        assert!(liar.faults().fired(rule) > 0, "{fault:?} never fired");
        // The liar served binary (its lies were binary), and the honest gateway too.
        let ((liar_binary, _), _) = chunk_requests(&liar);
        let ((honest_binary, _), (honest_json, _)) = chunk_requests(&honest);
        assert!(
            liar_binary > 0 && honest_binary > 0 && honest_json == 0,
            "{fault:?}"
        );
    }
}
