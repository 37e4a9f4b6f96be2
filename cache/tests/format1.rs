//! Format-1 transactions from hostile gateways: headers re-split under a valid signature are
//! refused where the node's field rules forbid them, and must agree across gateways where
//! they do not; one gateway lying about format-1 data does not make it unreadable; and
//! headers that would be costly to take (a 256 KiB RSA "key", a signed data_size of 2^62)
//! are refused at once, naming the id, the gateway and the cause.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weavedrive_cache::arweave::{Tag, TxHeader, TxId};
use weavedrive_cache::drive::header_json;
use weavedrive_cache::{Drive, DriveConfig, GatewayClient, GatewayConfig, GatewayError};
use weavedrive_testgw::format1::resplit;
use weavedrive_testgw::{
    Format1, Format1Serving, GatewayData, GatewayOptions, Resplit, TestGateway, TestWallet,
};

const SEED: u64 = 5;

/// A gateway serving what `build` adds to its data.
async fn gateway(build: impl FnOnce(&mut GatewayData)) -> TestGateway {
    let mut data = GatewayData::with_seed(TestWallet::fixed(), SEED);
    build(&mut data);
    TestGateway::start(data, GatewayOptions::default())
        .await
        .unwrap()
}

/// Each gateway serving `header` as its `serving` says.
async fn gateways(header: &TxHeader, servings: &[Format1Serving]) -> Vec<TestGateway> {
    let mut out = Vec::new();
    for &serving in servings {
        out.push(gateway(|data| assert_eq!(data.add_format1(header, serving), header.id)).await);
    }
    out
}

fn config(gateways: &[TestGateway]) -> GatewayConfig {
    GatewayConfig {
        gateways: gateways.iter().map(|g| g.url()).collect(),
        retries: 1,
        backoff: Duration::from_millis(10),
        request_timeout: Duration::from_secs(10),
        ..GatewayConfig::default()
    }
}

fn client(gateways: &[TestGateway]) -> GatewayClient {
    GatewayClient::new(config(gateways)).unwrap()
}

async fn header_from(gateways: &[TestGateway], id: &TxId) -> Result<TxHeader, GatewayError> {
    client(gateways).tx_header(id).await
}

/// The error of a header fetch that must fail; if it did not, a short panic (a header can
/// hold megabytes of data).
fn refused(result: Result<TxHeader, GatewayError>, what: &str) -> String {
    match result {
        Ok(header) => panic!("{what}: accepted ({} bytes of data)", header.data_size),
        Err(error) => error.to_string(),
    }
}

fn tag(name: &str, value: &str) -> Tag {
    Tag {
        name: name.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

/// Data of `len` bytes ending with `tail`.
fn data_ending(len: usize, tail: &str) -> Vec<u8> {
    let mut data: Vec<u8> = (0..len - tail.len()).map(|i| (i * 7 % 251) as u8).collect();
    data.extend_from_slice(tail.as_bytes());
    data
}

/// A re-split the node's rules forbid, served by one gateway: refused with the rule's
/// message, naming the id and the gateway. The re-split signs the same bytes, so before the
/// rules it verified.
#[tokio::test]
async fn each_field_rule_is_refused_with_its_message() {
    let wallet = TestWallet::fixed();
    let transfer = |data: Vec<u8>, quantity: &str| Format1::transfer(data, quantity);
    let resplits: Vec<(Format1, Resplit, &str)> = vec![
        (
            Format1::new(data_ending(100, "")),
            Resplit::DataIntoTarget(5),
            "target is 5 bytes",
        ),
        (
            transfer(data_ending(100, ""), "25"),
            Resplit::TargetIntoData,
            "quantity is 25 with no target",
        ),
        (
            // The data's trailing "0" read as the start of quantity: "025".
            transfer(data_ending(100, "x0"), "25"),
            Resplit::DataIntoQuantity(1),
            "quantity \"025\" is not a canonical decimal",
        ),
        (
            // Quantity "20" read as "2" and reward "0" + "7654321".
            transfer(data_ending(100, ""), "20"),
            Resplit::QuantityIntoReward(1),
            "reward \"07654321\" is not a canonical decimal",
        ),
        (
            Format1::new(data_ending(100, "")),
            Resplit::LastTxIntoTags(16),
            "last_tx is 16 bytes",
        ),
        (
            Format1::new(data_ending(100, "")),
            Resplit::OwnerIntoTarget(32),
            "owner is 480 bytes",
        ),
    ];
    for (n, (fields, how, message)) in resplits.into_iter().enumerate() {
        let header = fields.sign(&wallet, n as u64);
        header.verify().unwrap();
        let split = resplit(&header, how);
        assert_eq!(split.signature_message(), header.signature_message());
        let gateways = gateways(&header, &[Format1Serving::Resplit(how)]).await;
        let error = refused(
            header_from(&gateways, &header.id).await,
            &format!("{how:?}"),
        );
        assert!(error.contains(message), "{how:?}: {error}");
        assert!(error.contains(&header.id.to_string()), "{error}");
        assert!(error.contains(&gateways[0].url()), "{error}");
    }

    // Headers signed for real that break a rule; and an unsigned data_size that disagrees
    // with the inline data.
    let big_tags = Format1 {
        tags: vec![tag("Note", &"n".repeat(3000))],
        ..Format1::new(data_ending(10, ""))
    };
    let leading_zero = Format1 {
        reward: "0123".into(),
        ..Format1::new(data_ending(10, ""))
    };
    let mut wrong_size = Format1::new(data_ending(100, "")).sign(&wallet, 20);
    wrong_size.data_size += 1;
    let signed_lies = [
        (big_tags.sign(&wallet, 21), "tags are 3004 bytes"),
        (
            leading_zero.sign(&wallet, 22),
            "reward \"0123\" is not a canonical decimal",
        ),
        (
            wrong_size,
            "data_size says 101, the inline data is 100 bytes",
        ),
    ];
    for (lie, message) in signed_lies {
        let id = lie.id;
        let gateway = gateway(|data| {
            data.add_signed_tx(lie.clone(), lie.data.clone().into());
        })
        .await;
        let error = refused(
            header_from(std::slice::from_ref(&gateway), &id).await,
            message,
        );
        assert!(error.contains(message), "{error}");
        assert!(error.contains(&id.to_string()), "{error}");
    }
}

/// Format-1 data above the network's 10 MiB limit is refused from the header alone: the
/// gateway is never asked for the data, so neither its size nor its time budget grows with
/// whatever data_size a gateway claims.
#[tokio::test]
async fn format1_data_above_the_network_limit_is_refused_without_fetching_it() {
    let wallet = TestWallet::fixed();
    let too_big = Format1::new(vec![b'a'; 10 * 1024 * 1024 + 1]).sign(&wallet, 1);
    let gateways = gateways(&too_big, &[Format1Serving::DataAtId]).await;
    let error = refused(header_from(&gateways, &too_big.id).await, "10 MiB + 1");
    assert!(
        error.contains("data_size 10485761 is above the 10 MiB"),
        "{error}"
    );
    assert_eq!(gateways[0].stats().data, 0, "the data was asked for");

    // A claim of 1 TiB: refused just as fast, nothing sized by it.
    let mut claim = Format1::new(Vec::new()).sign(&wallet, 2);
    claim.data_size = 1 << 40;
    let id = claim.id;
    let gateway = gateway(|data| {
        data.add_signed_tx(claim, bytes::Bytes::new());
    })
    .await;
    let started = Instant::now();
    let error = refused(
        header_from(std::slice::from_ref(&gateway), &id).await,
        "1 TiB",
    );
    assert!(
        error.contains("data_size 1099511627776 is above"),
        "{error}"
    );
    assert_eq!(gateway.stats().data, 0);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// The re-splits the rules leave open. One gateway alone is taken at its word (stat and
/// `/tx` say the boundaries are not authenticated); two gateways that disagree are refused;
/// a third that agrees with one of them settles it.
#[tokio::test]
async fn remaining_resplits_need_two_gateways_to_agree() {
    let wallet = TestWallet::fixed();
    let two_tags = |fields: Format1| Format1 {
        tags: vec![tag("Content-Type", "text/plain"), tag("App-Name", "demo")],
        ..fields
    };
    let cases: Vec<(Format1, Resplit)> = vec![
        (
            Format1::new(data_ending(100, "")),
            Resplit::DataIntoTarget(32),
        ),
        (
            Format1::transfer(data_ending(100, ""), "0"),
            Resplit::TargetIntoData,
        ),
        (
            Format1::transfer(data_ending(100, "year 2024"), "25"),
            Resplit::DataIntoQuantity(1),
        ),
        (
            Format1::transfer(data_ending(100, ""), "25"),
            Resplit::QuantityIntoReward(1),
        ),
        (
            Format1::new(data_ending(100, "")),
            Resplit::LastTxIntoTags(32),
        ),
        (
            two_tags(Format1::new(data_ending(100, ""))),
            Resplit::TagBoundary(5),
        ),
    ];
    use Format1Serving::{DataAtId, Inline};
    for (n, (fields, how)) in cases.into_iter().enumerate() {
        let header = fields.sign(&wallet, 100 + n as u64);
        let split = resplit(&header, how);
        let id = header.id;
        let lie = Format1Serving::Resplit(how);

        let alone = gateways(&header, &[lie]).await;
        let served = header_from(&alone, &id).await.unwrap();
        assert_eq!(served, split, "{how:?}: one gateway is taken at its word");
        let json = String::from_utf8(header_json(&served)).unwrap();
        assert!(
            json.contains("\"weavedrive_format1_fields_authenticated\": false"),
            "{json}"
        );

        for order in [[lie, Inline], [DataAtId, lie]] {
            let pair = gateways(&header, &order).await;
            let error = refused(header_from(&pair, &id).await, &format!("{how:?} {order:?}"));
            assert!(
                error.contains("gateways serve different format-1 fields"),
                "{error}"
            );
            assert!(error.contains(&id.to_string()), "{error}");
            for gateway in &pair {
                assert!(error.contains(&gateway.url()), "{error}");
            }
        }

        let three = gateways(&header, &[lie, DataAtId, Inline]).await;
        assert_eq!(header_from(&three, &id).await.unwrap(), header, "{how:?}");
    }
}

/// Two honest gateways agree, however each serves the data; a lying first gateway (wrong
/// data, inline or at `/{id}`) passes the turn to an honest second one.
#[tokio::test]
async fn a_lying_first_gateway_does_not_make_format1_unreadable() {
    use Format1Serving::{DataAtId, Inline, WrongData};
    let header = Format1::new(data_ending(5000, "end")).sign(&TestWallet::fixed(), 9);
    for servings in [
        [WrongData { inline: false }, DataAtId],
        [WrongData { inline: false }, Inline],
        [WrongData { inline: true }, DataAtId],
        [Inline, DataAtId],
    ] {
        let pair = gateways(&header, &servings).await;
        let served = header_from(&pair, &header.id)
            .await
            .unwrap_or_else(|e| panic!("{servings:?}: {e}"));
        assert_eq!(served, header, "{servings:?}");
        assert!(
            pair[1].stats().tx > 0,
            "{servings:?}: second gateway unused"
        );
    }
    // Alone, the liar is refused, naming the gateway and the cause.
    let liar = gateways(&header, &[WrongData { inline: false }]).await;
    let error = header_from(&liar, &header.id)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("its format-1 data does not match the signed header"),
        "{error}"
    );
    assert!(error.contains(&liar[0].url()), "{error}");
}

/// A format-1 transaction reads through the Drive (data inline or at `/{id}`), from the
/// network and then from the disk cache; stat says format 1, and `/tx` says its field
/// boundaries are not authenticated.
#[tokio::test]
async fn format1_reads_through_the_drive_and_tx_json_carries_the_note() {
    let wallet = TestWallet::fixed();
    let inline = Format1::new(data_ending(70_000, "!")).sign(&wallet, 1);
    let at_id = Format1::new(data_ending(3, "")).sign(&wallet, 2);
    let gateway = gateway(|data| {
        data.add_format1(&inline, Format1Serving::Inline);
        data.add_format1(&at_id, Format1Serving::DataAtId);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let drive_config = || DriveConfig {
        gateway: config(std::slice::from_ref(&gateway)),
        cache_dir: Some(dir.path().to_path_buf()),
        ..DriveConfig::default()
    };
    for round in ["network", "disk cache"] {
        let drive = Drive::new(drive_config()).unwrap();
        for header in [&inline, &at_id] {
            let bytes = drive.read_at(&header.id, 0, 1 << 20).await.unwrap();
            assert!(bytes[..] == header.data[..], "{round}");
            let info = drive.stat(&header.id).await.unwrap();
            assert_eq!((info.format, info.size), (1, header.data_size), "{round}");
            let json: serde_json::Value =
                serde_json::from_slice(&drive.metadata(&header.id).await.unwrap().json()).unwrap();
            assert_eq!(json["weavedrive_format1_fields_authenticated"], false);
            assert_eq!(json["id"], header.id.to_string());
        }
        if round == "network" {
            gateway.reset_stats();
        } else {
            assert_eq!(gateway.stats().requests(), 0, "the disk cache asked again");
        }
    }
}

/// A transaction whose owner is a 256 KiB "key" (its id checks out) is refused before any
/// signature arithmetic, naming the id, the gateway and the cause. Without the key-size rule
/// the check runs for minutes; the client is driven on its own thread so that shows as a
/// timeout rather than a hung test.
#[test]
fn a_huge_rsa_key_is_refused_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut id = None;
    let gateway = runtime.block_on(gateway(|data| {
        id = Some(data.add_huge_key_header(256 << 10))
    }));
    let id = id.unwrap();
    let client = Arc::new(client(std::slice::from_ref(&gateway)));
    let (sender, answer) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = sender.send(runtime.block_on(client.tx_header(&id)));
    });
    let result = answer
        .recv_timeout(Duration::from_secs(2))
        .expect("a 256 KiB key was not refused within 2 s");
    let error = refused(result, "a 256 KiB key");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(error.contains("owner is 262144 bytes"), "{error}");
    assert!(error.contains("4096-bit RSA"), "{error}");
    assert!(error.contains(&id.to_string()), "{error}");
    assert!(error.contains(&gateway.url()), "{error}");
}

/// A header signed for real that claims 2^62 bytes is refused before anything is sized by
/// it, naming the id, the gateway, the cause and how to raise the limit; a raised limit lets
/// it through.
#[tokio::test]
async fn a_signed_data_size_above_the_limit_is_refused() {
    let mut id = None;
    let gateway = gateway(|data| id = Some(data.add_claimed_size_header(1 << 62, 3))).await;
    let id = id.unwrap();
    let gateways = std::slice::from_ref(&gateway);
    let error = refused(header_from(gateways, &id).await, "data_size 2^62");
    for part in [
        &id.to_string(),
        &gateway.url(),
        "data_size 4611686018427387904",
        "1.0 TiB",
        "--max-data-size",
    ] {
        assert!(error.contains(part), "{part:?} missing: {error}");
    }
    let raised = GatewayClient::new(GatewayConfig {
        max_data_size: u64::MAX,
        ..config(gateways)
    })
    .unwrap();
    assert_eq!(raised.tx_header(&id).await.unwrap().data_size, 1 << 62);
}
