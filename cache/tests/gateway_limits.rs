//! Answers larger than the protocol allows, from a gateway that pads true answers (so they
//! still parse) with up to hundreds of MiB: every endpoint refuses them as a lie naming what
//! was asked, the gateway and "body over N bytes"; with a `Content-Length` the body is not
//! read at all, without one reading stops at the cap; and an honest second gateway is asked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_cache::gateway::limits::{
    BLOCK_JSON_MAX, CHUNK_DATA_MAX, CHUNK_JSON_MAX, ITEM_HINT_MAX, OFFSET_JSON_MAX, TX_HEADER_MAX,
};
use weavedrive_cache::range_fetch::{RangeFetchError, fetch_ranges_to_file};
use weavedrive_cache::{GatewayClient, GatewayConfig, GatewayError, TxId, VerifiedTx};
use weavedrive_testgw::items::{BundleItem, signed_item, tags};
use weavedrive_testgw::{
    Fault, GatewayData, GatewayOptions, Target, TestGateway, TestWallet, pseudo_random_data,
};

const M: u64 = 1 << 20;
/// Padding on every oversized answer: far past every cap, cheap for the gateway to send.
const PADDING: u64 = 256 * M;
/// What a client that stops reading at once may still receive: the socket buffers of both
/// ends, filled before the client closes the connection.
const READ_AHEAD: u64 = 16 * M;

struct Env {
    gateway: TestGateway,
    twin: TestGateway,
    tx: TxId,
    tx_size: u64,
    item: TxId,
}

/// Two gateways serving the same transaction (2 MiB) and one bundled item.
async fn env(options: GatewayOptions) -> Env {
    let build = || {
        let mut data = GatewayData::with_seed(TestWallet::fixed(), 5);
        let tx = data.add_tx(pseudo_random_data(1, 2 * M as usize), vec![]);
        let bytes = signed_item(
            SignatureType::Ed25519,
            None,
            None,
            &tags(&[("Content-Type", "text/plain")]),
            b"an item",
        );
        let item = BundleItem::new(bytes);
        let item_id = item.id;
        data.add_bundle(&[item], vec![]);
        (data, tx, item_id)
    };
    let (data, tx, item) = build();
    let (twin_data, ..) = build();
    Env {
        gateway: TestGateway::start(data, options.clone()).await.unwrap(),
        twin: TestGateway::start(twin_data, options).await.unwrap(),
        tx,
        tx_size: 2 * M,
        item,
    }
}

fn client(gateways: Vec<String>) -> Arc<GatewayClient> {
    Arc::new(
        GatewayClient::new(GatewayConfig {
            gateways,
            retries: 1,
            backoff: Duration::from_millis(10),
            request_timeout: Duration::from_secs(10),
            ..GatewayConfig::default()
        })
        .unwrap(),
    )
}

/// One endpoint's request, made through the public API.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ask {
    Header,
    Offset,
    Chunk,
    Block,
    ItemHint,
    Ranges,
}

impl Ask {
    const ALL: [Ask; 6] = [
        Ask::Header,
        Ask::Offset,
        Ask::Chunk,
        Ask::Block,
        Ask::ItemHint,
        Ask::Ranges,
    ];

    fn target(self) -> Target {
        match self {
            Ask::Header => Target::TxHeader,
            Ask::Offset => Target::Offset,
            Ask::Chunk => Target::Chunk,
            Ask::Block => Target::Block,
            Ask::ItemHint | Ask::Ranges => Target::Data,
        }
    }

    /// The cap this request must enforce, from a gateway with or without binary chunks.
    fn cap(self, binary_chunks: bool) -> u64 {
        match self {
            Ask::Header => TX_HEADER_MAX,
            Ask::Offset => OFFSET_JSON_MAX,
            Ask::Chunk if binary_chunks => CHUNK_DATA_MAX,
            Ask::Chunk => CHUNK_JSON_MAX,
            Ask::Block => BLOCK_JSON_MAX,
            Ask::ItemHint => ITEM_HINT_MAX,
            // One span of range_fetch: the whole 2 MiB transaction.
            Ask::Ranges => 2 * M,
        }
    }

    /// Makes the request (the steps before it are asked of the honest twin) and returns the
    /// error text, or `None` if it succeeded.
    async fn run(self, env: &Env, lying: &Arc<GatewayClient>) -> Option<String> {
        let honest = client(vec![env.twin.url()]);
        let tx = VerifiedTx::open(&honest, &env.tx).await.unwrap();
        let location = tx.location.unwrap();
        let error: Option<GatewayError> = match self {
            Ask::Header => lying.tx_header(&env.tx).await.err(),
            Ask::Offset => lying.tx_location(&tx.header, None).await.err(),
            Ask::Chunk => lying.chunk(&location, 0).await.err(),
            Ask::Block => lying.block(1).await.err(),
            Ask::ItemHint => lying.item_hint_on(&env.item, 0).await.err(),
            Ask::Ranges => {
                let file = Arc::new(tempfile::tempfile().unwrap());
                match fetch_ranges_to_file(lying.clone(), &location, file, 4).await {
                    Ok(()) => None,
                    Err(RangeFetchError::Gateway(e)) => Some(e),
                    Err(other) => return Some(other.to_string()),
                }
            }
        };
        error.map(|e| e.to_string())
    }

    /// What the error must name: the id (or height) asked for.
    fn names(self, env: &Env) -> String {
        match self {
            Ask::Block => "block 1".into(),
            Ask::ItemHint => env.item.to_string(),
            _ => env.tx.to_string(),
        }
    }
}

async fn oversized_answers_are_refused(content_length: bool) {
    // Every endpoint from an ar.io-like gateway, then chunks from one that serves them only
    // as JSON (as Arweave nodes do).
    oversized_answers_are_refused_by(content_length, true, &Ask::ALL).await;
    oversized_answers_are_refused_by(content_length, false, &[Ask::Chunk]).await;
}

async fn oversized_answers_are_refused_by(content_length: bool, binary_chunks: bool, asks: &[Ask]) {
    // HEAD refused (as some CDNs do), so the item hint is asked with `Range: bytes=0-0`.
    let env = env(GatewayOptions {
        head_support: false,
        binary_chunks,
        ..GatewayOptions::default()
    })
    .await;
    for &ask in asks {
        let lying = client(vec![env.gateway.url()]);
        let fault = Fault::Oversized {
            extra: PADDING,
            content_length,
        };
        env.gateway.faults().clear();
        let rule = env.gateway.faults().always(ask.target(), fault);
        env.gateway.reset_stats();
        let started = Instant::now();
        let text = ask
            .run(&env, &lying)
            .await
            .unwrap_or_else(|| panic!("{ask:?}: an oversized answer was accepted"));
        let cap = ask.cap(binary_chunks);
        let cause = format!("body over {cap} bytes");
        for needle in [&cause, &ask.names(&env), &env.gateway.url()] {
            assert!(
                text.contains(needle),
                "{ask:?}: error lacks {needle:?}: {text}"
            );
        }
        let fired = env.gateway.faults().fired(rule);
        assert!(fired > 0, "{ask:?}: the lie never fired");
        // Never more than the cap plus what the sockets hold, per answer: next to nothing of
        // the padding.
        let sent = env.gateway.stats().body_bytes;
        let allowed = fired * (cap + READ_AHEAD);
        assert!(
            sent <= allowed,
            "{ask:?}: the gateway sent {} MiB for {fired} answers",
            sent >> 20
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{ask:?}: took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn oversized_answers_with_content_length_are_refused_unread() {
    oversized_answers_are_refused(true).await;
}

#[tokio::test]
async fn oversized_chunked_answers_are_cut_at_the_cap() {
    oversized_answers_are_refused(false).await;
}

/// An oversized answer is that gateway's lie: the next gateway is asked, and its answer used.
#[tokio::test]
async fn an_honest_second_gateway_answers_after_an_oversized_first() {
    let env = env(GatewayOptions::default()).await;
    let both = client(vec![env.gateway.url(), env.twin.url()]);
    for content_length in [true, false] {
        env.gateway.faults().clear();
        // Small enough that a client without caps would take the padded answers at once.
        env.gateway.faults().always(
            Target::Any,
            Fault::Oversized {
                extra: 32 * M,
                content_length,
            },
        );
        let tx = VerifiedTx::open(&both, &env.tx).await.unwrap();
        let mut stream = tx.stream(both.clone(), 4);
        let mut data = Vec::new();
        while let Some(piece) = stream.next().await {
            data.extend_from_slice(&piece.unwrap());
        }
        assert!(data == pseudo_random_data(1, env.tx_size as usize)[..]);
        assert!(
            env.twin.stats().chunk > 0,
            "the second gateway was not asked"
        );
    }
}
