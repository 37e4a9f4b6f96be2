//! The Drive's verification sits behind the `Source` seam: whatever a source lies with (a
//! corrupt chunk, a forged proof, a header that does not match its signature, a wrong place)
//! is an integrity error from the Drive, never bytes. The same source told to be honest
//! serves the data.

use std::sync::Arc;

use bytes::Bytes;
use weavedrive_cache::gateway::GatewayError;
use weavedrive_cache::{Drive, DriveConfig, DriveError, TxId};
use weavedrive_testgw::{
    FaultySource, GatewayData, MemorySource, SourceFault, TestWallet, pseudo_random_data,
};

const K: u64 = 1024;

fn setup() -> (Arc<FaultySource>, Drive, TxId, Bytes) {
    let mut data = GatewayData::new(TestWallet::fixed());
    let bytes = pseudo_random_data(7, 700 * K as usize);
    let id = data.add_tx(bytes.clone(), vec![]);
    let source = Arc::new(FaultySource::new(Arc::new(MemorySource::new(data))));
    let drive = Drive::with_source(DriveConfig::default(), source.clone()).unwrap();
    (source, drive, id, bytes)
}

fn assert_integrity(result: Result<Bytes, DriveError>, lie: SourceFault) {
    match result {
        // Pointed past the weave's end, the data is not there at all: an error of another
        // kind (the id is then tried as a data item), still no bytes.
        Err(_) if lie == SourceFault::WrongOffset => {}
        Err(DriveError::Gateway(GatewayError::Integrity { .. })) => {}
        Err(other) => panic!("{lie:?}: not an integrity error: {other}"),
        Ok(bytes) => panic!("{lie:?}: the Drive returned {} bytes", bytes.len()),
    }
}

#[tokio::test]
async fn an_honest_source_serves_the_data() {
    let (_, drive, id, bytes) = setup();
    let got = drive.read_at(&id, 0, bytes.len() as u64).await.unwrap();
    assert_eq!(got, bytes);
    assert_eq!(drive.source_labels(), ["memory"]);
    assert!(drive.client().is_none());
}

#[tokio::test]
async fn a_lie_from_a_fresh_source_is_an_error_never_bytes() {
    let lies = [
        SourceFault::CorruptChunk,
        SourceFault::ShortChunk,
        SourceFault::ForgeProof,
        SourceFault::WrongHeader,
        SourceFault::WrongOffset,
    ];
    for lie in lies {
        let (source, drive, id, _) = setup();
        source.set_faults(&[lie]);
        assert_integrity(drive.read_at(&id, 0, 10).await, lie);
        // Told the truth again, the same Drive reads (a lie is not remembered as the data).
        source.honest();
        assert!(drive.read_at(&id, 0, 10).await.is_ok(), "{lie:?}");
    }
}

#[tokio::test]
async fn a_chunk_lie_after_the_header_is_verified_is_an_error_never_bytes() {
    for lie in [
        SourceFault::CorruptChunk,
        SourceFault::ShortChunk,
        SourceFault::ForgeProof,
    ] {
        let (source, drive, id, bytes) = setup();
        // The header and the first chunk (proven where the data sits), honestly; opening
        // reads nothing ahead.
        drive.open(&id).await.unwrap();
        source.set_faults(&[lie]);
        // Chunks not yet fetched (the second and third).
        assert_integrity(drive.read_at(&id, 300 * K, 10).await, lie);
        assert_integrity(drive.read_at(&id, 600 * K, 10).await, lie);
        source.honest();
        let got = drive.read_at(&id, 300 * K, 10).await.unwrap();
        assert_eq!(got, bytes.slice(300 * K as usize..300 * K as usize + 10));
    }
}

/// The HTTP client hands the Drive what its own check of a chunk established, so the chunk is
/// not hashed twice; a source wrapping the client that swaps the bytes (or the proof) after
/// that check is checked afresh, and its lie is an error, never bytes.
#[tokio::test(flavor = "multi_thread")]
async fn bytes_swapped_after_the_clients_check_are_checked_again() {
    use weavedrive_cache::{GatewayClient, GatewayConfig};
    use weavedrive_testgw::{GatewayOptions, TestGateway};
    let mut data = GatewayData::new(TestWallet::fixed());
    let bytes = pseudo_random_data(8, 700 * K as usize);
    let id = data.add_tx(bytes.clone(), vec![]);
    let gateway = TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap();
    let client = GatewayClient::new(GatewayConfig {
        gateways: vec![gateway.url()],
        ..GatewayConfig::default()
    })
    .unwrap();
    let source = Arc::new(FaultySource::new(Arc::new(client)));
    let drive = Drive::with_source(DriveConfig::default(), source.clone()).unwrap();
    drive.open(&id).await.unwrap();
    let want = bytes.slice(300 * K as usize..300 * K as usize + 10);
    for lie in [SourceFault::CorruptChunk, SourceFault::ShortChunk] {
        source.set_faults(&[lie]);
        assert_integrity(drive.read_at(&id, 300 * K, 10).await, lie);
    }
    // A forged data_path beside the very bytes the client proved changes nothing: those bytes
    // are proven for this place, and they are what is served.
    source.set_faults(&[SourceFault::ForgeProof]);
    assert_eq!(drive.read_at(&id, 300 * K, 10).await.unwrap(), want);
    source.honest();
    assert_eq!(drive.read_at(&id, 600 * K, 10).await.unwrap().len(), 10);
    assert_eq!(drive.read_at(&id, 300 * K, 10).await.unwrap(), want);
}
