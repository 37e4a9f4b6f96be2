//! Flow control against gateways that refuse requests to slow us down: the requests in
//! flight to a gateway drop when it answers 503/429 and grow back as it serves, `Retry-After`
//! (seconds or HTTP-date) keeps every new request away for the pause, another gateway serves
//! meanwhile, and retries go on while a gateway makes progress but end when it makes none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weavedrive_cache::{GatewayClient, GatewayConfig, TxId, VerifiedTx};
use weavedrive_testgw::{
    Fault, GatewayData, GatewayOptions, RequestRecord, Target, TestGateway, TestWallet,
    pseudo_random_data,
};

const M: usize = 1 << 20;

struct Env {
    gateway: TestGateway,
    txs: Vec<(TxId, bytes::Bytes)>,
}

/// A gateway serving one transaction per size.
async fn env(sizes: &[usize], options: GatewayOptions) -> Env {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 9);
    let txs = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let bytes = pseudo_random_data(i as u64 + 40, size);
            (data.add_tx(bytes.clone(), vec![]), bytes)
        })
        .collect();
    Env {
        gateway: TestGateway::start(data, options).await.unwrap(),
        txs,
    }
}

fn client(gateways: Vec<String>, max_concurrency: usize) -> Arc<GatewayClient> {
    Arc::new(
        GatewayClient::new(GatewayConfig {
            gateways,
            retries: 4,
            backoff: Duration::from_millis(20),
            request_timeout: Duration::from_secs(10),
            max_concurrency,
            ..GatewayConfig::default()
        })
        .unwrap(),
    )
}

/// Reads a whole transaction through `client`, `window` chunk requests at a time.
async fn read(client: &Arc<GatewayClient>, id: &TxId, window: usize) -> Vec<u8> {
    let tx = VerifiedTx::open(client, id).await.unwrap();
    let mut stream = tx.stream(client.clone(), window);
    let mut data = Vec::new();
    while let Some(piece) = stream.next().await {
        data.extend_from_slice(&piece.unwrap());
    }
    data
}

fn chunk_requests(log: &[RequestRecord]) -> Vec<&RequestRecord> {
    log.iter()
        .filter(|r| r.path.starts_with("/chunk/"))
        .collect()
}

/// 32 refusals in a row make the client halve its requests in flight once per round trip,
/// down to a few; successes then bring them back to the full window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_drop_under_503_and_grow_back() {
    let env = env(
        &[24 * M],
        GatewayOptions {
            latency: Duration::from_millis(40),
            ..GatewayOptions::default()
        },
    )
    .await;
    let client = client(vec![env.gateway.url()], 16);
    let (id, bytes) = &env.txs[0];
    env.gateway.log_requests();
    let refusals = env
        .gateway
        .faults()
        .inject(Target::Chunk, Fault::Status(503), 32);
    assert!(read(&client, id, 16).await == bytes[..]);
    assert_eq!(env.gateway.faults().fired(refusals), 32);

    let log = env.gateway.request_log();
    let chunks = chunk_requests(&log);
    let last_refusal = chunks.iter().rposition(|r| r.status == 503).unwrap();
    // In flight when the last refusals arrived: the limit had been cut several times.
    let late_refusals = &chunks[last_refusal - 4..=last_refusal];
    let crowd = late_refusals.iter().map(|r| r.in_flight).max().unwrap();
    assert!(
        crowd <= 4,
        "{crowd} requests in flight after 28 refusals (window 16)"
    );
    // And back to (near) the full window once the gateway served again: how many arrive at
    // once depends on the machine's load, the limit itself (below) does not.
    let recovered = chunks[last_refusal..].iter().map(|r| r.in_flight).max();
    assert!(
        recovered >= Some(10),
        "in flight after the refusals stopped: at most {recovered:?} (window 16)"
    );
    assert_eq!(client.gateway_limit(0), 16);
}

/// After a 429 with `Retry-After`, no request reaches the gateway until the pause is over,
/// in either form of the header; the data still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_keeps_every_request_away_for_the_pause() {
    for date in [false, true] {
        let env = env(&[8 * M], GatewayOptions::default()).await;
        // Few requests at once, so the gateway's arrival times lag little behind the sends.
        let client = client(vec![env.gateway.url()], 4);
        let (id, bytes) = &env.txs[0];
        // As an HTTP-date, 2 s from now in whole seconds: a pause of 1 to 2 s.
        let secs = if date { 2 } else { 1 };
        env.gateway.log_requests();
        env.gateway.faults().inject(
            Target::Chunk,
            Fault::Throttle {
                status: 429,
                secs,
                date,
            },
            1,
        );
        assert!(read(&client, id, 4).await == bytes[..]);

        let log = env.gateway.request_log();
        let refused = log.iter().find(|r| r.status == 429).unwrap();
        let asked_again = log.iter().rfind(|r| r.path == refused.path).unwrap();
        let waited = asked_again.at - refused.at;
        assert!(
            waited >= Duration::from_millis(990),
            "date form {date}: asked again after {waited:?}"
        );
        // Requests sent before the client read the 429 may still arrive just after it.
        let pause =
            refused.at + Duration::from_millis(300)..refused.at + Duration::from_millis(900);
        let during: Vec<_> = log.iter().filter(|r| pause.contains(&r.at)).collect();
        assert!(
            during.is_empty(),
            "date form {date}: {} requests during the pause: {during:?}",
            during.len()
        );
    }
}

/// A gateway in its `Retry-After` pause gets no new request while another one can serve: the
/// second gateway serves at once, and the first is asked again only after the pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_gateway_serves_during_a_pause() {
    let sizes = [M; 8];
    let first = env(&sizes, GatewayOptions::default()).await;
    let second = env(&sizes, GatewayOptions::default()).await;
    let client = client(vec![first.gateway.url(), second.gateway.url()], 8);
    first.gateway.log_requests();
    first.gateway.faults().inject(
        Target::Chunk,
        Fault::Throttle {
            status: 503,
            secs: 3,
            date: false,
        },
        1,
    );
    let started = Instant::now();
    for (id, bytes) in &first.txs {
        let began = Instant::now();
        assert!(read(&client, id, 4).await == bytes[..]);
        // The pause is 3 s; under a loaded test run a read's own time can near 1 s.
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "a read waited for the paused gateway"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(3));
    let log = first.gateway.request_log();
    let throttled = log.iter().find(|r| r.status == 503).unwrap().at;
    // Requests sent before the client read the 503 may still arrive just after it.
    let pause = throttled + Duration::from_millis(300)..throttled + Duration::from_millis(2900);
    let during: Vec<_> = log.iter().filter(|r| pause.contains(&r.at)).collect();
    assert!(during.is_empty(), "asked during its pause: {during:?}");
    assert!(
        log.iter()
            .any(|r| r.at > throttled + Duration::from_secs(3)),
        "the first gateway was never asked again after its pause"
    );
    assert!(second.gateway.stats().chunk > 0);
}

/// A gateway that refuses one kind of request forever while it serves others: the request
/// still ends, within its bounds (rounds and time), with the gateway's answer in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_forever_still_ends() {
    let env = env(&[M], GatewayOptions::default()).await;
    let client = Arc::new(
        GatewayClient::new(GatewayConfig {
            gateways: vec![env.gateway.url()],
            retries: 2,
            backoff: Duration::from_millis(10),
            request_timeout: Duration::from_secs(2),
            ..GatewayConfig::default()
        })
        .unwrap(),
    );
    let (id, _) = &env.txs[0];
    let tx = VerifiedTx::open(&client, id).await.unwrap();
    env.gateway
        .faults()
        .always(Target::Chunk, Fault::Status(503));
    // Meanwhile the gateway keeps serving headers: it is making progress.
    let busy = tokio::spawn({
        let (client, id) = (client.clone(), *id);
        async move {
            loop {
                client.tx_header(&id).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let started = Instant::now();
    let err = client
        .chunk(&tx.location.unwrap(), 0)
        .await
        .unwrap_err()
        .to_string();
    busy.abort();
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(err.contains(&id.to_string()), "{err}");
    // At most (retries + 1) x 8 rounds and (retries + 1) request timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(env.gateway.stats().chunk <= 24, "{:?}", env.gateway.stats());
}

/// A gateway that serves nothing fails as fast as before: `retries` rounds of growing backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_serves_nothing_fails_fast() {
    let env = env(&[M], GatewayOptions::default()).await;
    env.gateway.faults().always(Target::Any, Fault::Status(503));
    let client = client(vec![env.gateway.url()], 8);
    let started = Instant::now();
    let err = VerifiedTx::open(&client, &env.txs[0].0).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 503 (x5)"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
