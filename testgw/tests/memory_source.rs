//! `MemorySource` answers the Drive's `Source` calls with what the HTTP gateway serves for
//! the same weave (headers, offsets, chunk proofs, item places, blocks), and a Drive over it
//! reads transactions and bundled items alike.

use std::sync::Arc;

use bytes::Bytes;
use weavedrive_cache::arweave::ans104::SignatureType;
use weavedrive_cache::arweave::{TxId, chunking::data_chunk_ranges};
use weavedrive_cache::gateway::{GatewayClient, GatewayConfig, Source, TxLocation};
use weavedrive_cache::{Drive, DriveConfig};
use weavedrive_testgw::items::{BundleItem, signed_item, tags};
use weavedrive_testgw::*;

const K: usize = 1024;

struct Weave {
    data: GatewayData,
    txs: Vec<(TxId, Bytes)>,
    item: (TxId, Bytes),
}

/// The same weave each time: two transactions and a bundle of one item.
fn weave() -> Weave {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), 11);
    let mut txs = Vec::new();
    for (seed, size) in [(1, 700 * K + 3), (2, 1)] {
        let bytes = pseudo_random_data(seed, size);
        txs.push((data.add_tx(bytes.clone(), vec![]), bytes));
    }
    let content = pseudo_random_data(3, 2 * K);
    let item = BundleItem::new(signed_item(
        SignatureType::Ed25519,
        None,
        None,
        &tags(&[("Content-Type", "application/octet-stream")]),
        &content,
    ));
    let bundle = data.add_bundle(std::slice::from_ref(&item), vec![]);
    txs.push((bundle, data.tx(&bundle).unwrap().data.clone()));
    Weave {
        data,
        txs,
        item: (item.id, content),
    }
}

#[tokio::test]
async fn memory_answers_as_the_http_gateway_does() {
    let memory = MemorySource::new(weave().data);
    let Weave { data, txs, item } = weave();
    let gw = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let http = GatewayClient::new(GatewayConfig {
        gateways: vec![gw.url()],
        ..GatewayConfig::default()
    })
    .unwrap();
    let http: &dyn Source = &http;
    assert_eq!(memory.labels(), [MEMORY_LABEL]);
    for (id, bytes) in &txs {
        let header = http.tx_header(id).await.unwrap();
        assert_eq!(memory.tx_header(id).await.unwrap(), header);
        let end_offset = http.tx_offset(&header, None).await.unwrap();
        assert_eq!(memory.tx_offset(&header, None).await.unwrap(), end_offset);
        let location = TxLocation {
            id: *id,
            data_root: header.data_root.unwrap(),
            data_size: header.data_size,
            end_offset,
        };
        for range in data_chunk_ranges(bytes.len() as u64) {
            let offset = range.start + (range.end - range.start) / 2;
            let chunk = http.chunk(&location, offset).await.unwrap();
            assert_eq!(memory.chunk(&location, offset).await.unwrap(), chunk);
        }
    }
    let hint = http.item_hint_on(&item.0, 0).await.unwrap();
    assert_eq!(memory.item_hint_on(&item.0, 0).await.unwrap(), hint);
    for height in [0, 1, 3] {
        let block = http.block(height).await.unwrap();
        assert_eq!(memory.block(height).await.unwrap().json, block.json);
    }
    assert!(memory.block(99).await.unwrap_err().is_not_found());
    let unknown = TxId([9; 32]);
    assert!(memory.tx_header(&unknown).await.unwrap_err().is_not_found());
    assert!(
        memory
            .item_hint_on(&unknown, 0)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn a_drive_over_memory_reads_transactions_and_items() {
    let Weave { data, txs, item } = weave();
    let drive =
        Drive::with_source(DriveConfig::default(), Arc::new(MemorySource::new(data))).unwrap();
    for (id, bytes) in &txs {
        let got = drive.read_at(id, 0, bytes.len() as u64).await.unwrap();
        assert_eq!(&got, bytes);
    }
    let got = drive
        .read_at(&item.0, 0, item.1.len() as u64)
        .await
        .unwrap();
    assert_eq!(got, item.1);
    let block = drive.block(1).await.unwrap();
    assert_eq!(block.txs, [txs[0].0]);
}

#[tokio::test]
async fn a_faulty_source_fails_and_recovers_at_run_time() {
    let Weave { data, txs, .. } = weave();
    let faulty = Arc::new(FaultySource::new(Arc::new(MemorySource::new(data))));
    let drive = Drive::with_source(DriveConfig::default(), faulty.clone()).unwrap();
    let (id, bytes) = &txs[0];
    faulty.set_faults(&[SourceFault::Unavailable]);
    let down = drive.read_at(id, 0, 10).await.unwrap_err();
    assert!(down.to_string().contains("unavailable"), "{down}");
    faulty.set_faults(&[SourceFault::NotFound]);
    assert!(drive.read_at(id, 0, 10).await.unwrap_err().is_not_found());
    assert!(drive.block(1).await.is_err());
    faulty.honest();
    assert_eq!(drive.read_at(id, 0, 10).await.unwrap(), bytes.slice(..10));
}
